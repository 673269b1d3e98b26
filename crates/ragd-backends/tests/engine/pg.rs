//! A real PostgreSQL + pgvector for the tests: `RAGD_TEST_DATABASE_URL` when set (`make test`
//! starts one with `scripts/postgres.sh` and stops it after), else this binary starts one in
//! `RAGD_TEST_PG_DIR` (default `/var/tmp/ragd-test-postgres`; the script reuses a running one).
//! Every test gets a database of its own.

use std::sync::OnceLock;

use sqlx::Connection;

static ADMIN_URL: OnceLock<String> = OnceLock::new();

pub(crate) fn admin_url() -> &'static str {
    ADMIN_URL.get_or_init(|| {
        if let Ok(url) = std::env::var("RAGD_TEST_DATABASE_URL") {
            return url;
        }
        let dir = std::env::var("RAGD_TEST_PG_DIR")
            .unwrap_or_else(|_| "/var/tmp/ragd-test-postgres".to_owned());
        let script = crate::helpers::root().join("scripts/postgres.sh");
        let out = std::process::Command::new(&script)
            .args(["start", &dir])
            .output()
            .expect("scripts/postgres.sh runs");
        assert!(
            out.status.success(),
            "could not start PostgreSQL ({}): {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8 URL")
            .trim()
            .to_owned()
    })
}

/// The URL of a new, empty database on the test server.
pub(crate) async fn fresh_database() -> String {
    let admin = admin_url();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("the test PostgreSQL accepts connections");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    conn.close().await.expect("close");
    let (base, _) = admin.rsplit_once('/').expect("URL with a database");
    format!("{base}/{name}")
}
