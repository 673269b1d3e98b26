//! Moving a deployment's data: `ragd backup` of a data dir while its server runs, `ragd restore`
//! into a fresh one, and `ragd migrate` from a data dir into PostgreSQL (then run again to
//! resume). Each time, a server on the copy answers the same questions from the same sources,
//! and the same accounts log in.

use serde_json::{Value, json};

use crate::helpers::{ADMIN, PASSWORD, TestApp, ragd};

const QUESTIONS: [&str; 3] = [
    "How do plants turn light into chemical energy?",
    "What causes spring tides?",
    "How is sourdough bread leavened?",
];
const FILES: [&str; 4] = [
    "photosynthesis.pdf",
    "tides-and-moon.txt",
    "sourdough-bread.md",
    "volcano-types.html",
];

/// The sources (file, chunk text) each question is answered from.
async fn answers(app: &TestApp, token: &str) -> Vec<Vec<(String, String)>> {
    let mut all = Vec::new();
    for q in QUESTIONS {
        let r = app
            .post_json(
                token,
                "/query",
                // Dense: PostgreSQL keeps no lexical index, so the rankings to compare are the
                // embeddings' (the data dir's default would be hybrid).
                &json!({"query": q, "max_results": 3, "threshold": 0.3, "mode": "dense"}),
            )
            .await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.expect("json");
        let sources = body["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .map(|s| {
                (
                    s["metadata"]["source"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    s["content"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect::<Vec<_>>();
        assert!(!sources.is_empty(), "{q}: {body}");
        all.push(sources);
    }
    all
}

fn run(data: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = ragd(data);
    cmd.args(args).envs(env.iter().copied());
    crate::common::pgvector_when_asked(&mut cmd, env);
    cmd.output().expect("ragd runs")
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_to_the_same_answers() {
    if crate::common::on_postgres() {
        return pg_dump_and_pg_restore_give_the_same_answers().await;
    }
    let app = TestApp::spawn().await;
    let token = app.token().await;
    app.upload(&token, &FILES).await;
    let before = answers(&app, &token).await;

    // Taken while the server runs (and holds the data dir).
    let backup = tempfile::tempdir().expect("tempdir");
    let target = backup.path().join("b1");
    let out = run(
        app.data.path(),
        &["backup", target.to_str().expect("utf-8")],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("backed up 4 documents"));
    // Not over an earlier backup.
    let again = run(
        app.data.path(),
        &["backup", target.to_str().expect("utf-8")],
        &[],
    );
    assert!(!again.status.success());
    drop(app);

    let fresh = tempfile::tempdir().expect("tempdir");
    let out = run(
        fresh.path(),
        &["restore", target.to_str().expect("utf-8")],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("restored 4 documents"));
    // A data dir with a database is not overwritten unless asked.
    let refused = run(
        fresh.path(),
        &["restore", target.to_str().expect("utf-8")],
        &[],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--replace"));
    let replaced = run(
        fresh.path(),
        &["restore", "--replace", target.to_str().expect("utf-8")],
        &[],
    );
    assert!(
        replaced.status.success(),
        "{}",
        String::from_utf8_lossy(&replaced.stderr)
    );

    let restored = TestApp::spawn_in(fresh, &[]).await;
    let token = restored.token().await;
    assert_eq!(answers(&restored, &token).await, before);
}

#[tokio::test]
async fn a_data_dir_migrates_into_postgres_resumably_with_its_accounts() {
    if crate::common::on_postgres() {
        return; // the source is a SQLite data dir: this runs in the SQLite pass
    }
    let app = TestApp::spawn().await;
    let token = app.token().await;
    app.upload(&token, &FILES).await;
    let before = answers(&app, &token).await;
    let r = app
        .post_json(
            &token,
            "/keys",
            &json!({"name": "reader", "scopes": ["query"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let key: Value = r.json().await.expect("json");
    let secret = key["key"].as_str().expect("secret").to_owned();
    let (_, _, data) = app.kill_9();

    let url = crate::common::fresh_database();
    let migrate = |data: &std::path::Path| {
        let out = run(data, &["migrate", "--to", &url], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("a JSON report")
    };
    let first = migrate(data.path());
    assert_eq!(first["verified"], true, "{first}");
    assert_eq!(first["documents_copied"], 4, "{first}");
    assert_eq!(first["users_copied"], 1, "{first}");
    assert_eq!(first["keys_copied"], 1, "{first}");
    // Run again (a migration cut short is resumed so): nothing is copied twice.
    let second = migrate(data.path());
    assert_eq!(second["documents_copied"], 0, "{second}");
    assert_eq!(second["documents_skipped"], 4, "{second}");
    assert_eq!(second["verified"], true, "{second}");

    let on_pg = TestApp::spawn_with(&[("DATABASE_URL", url.as_str())]).await;
    let token = on_pg.token().await; // the admin's password hash came along
    assert_eq!(answers(&on_pg, &token).await, before);
    assert_eq!(
        on_pg
            .post_json(&secret, "/query", &json!({"query": QUESTIONS[1]}))
            .await
            .status(),
        200,
        "the API key came along"
    );
    assert_eq!(on_pg.login(ADMIN, PASSWORD).await.status(), 200);
}

/// The documented PostgreSQL path: `pg_dump -Fc` of a serving database, `pg_restore` into a new
/// one, a server on it answers the same. (`ragd backup` points there.)
async fn pg_dump_and_pg_restore_give_the_same_answers() {
    let url = crate::common::fresh_database();
    let app = TestApp::spawn_with(&[("DATABASE_URL", url.as_str())]).await;
    let out = run(
        app.data.path(),
        &["backup", "/nonexistent/backup"],
        &[("DATABASE_URL", &url)],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    let token = app.token().await;
    app.upload(&token, &FILES).await;
    let before = answers(&app, &token).await;

    let bin = crate::common::root().join("models/postgres/bin");
    let dumps = tempfile::tempdir().expect("tempdir");
    let dump = dumps.path().join("ragd.dump");
    let status = std::process::Command::new(bin.join("pg_dump"))
        .args(["-Fc", "-f", dump.to_str().expect("utf-8"), &url])
        .status()
        .expect("pg_dump runs");
    assert!(status.success(), "pg_dump taken while serving");
    drop(app);
    let copy = crate::common::fresh_database();
    let out = std::process::Command::new(bin.join("pg_restore"))
        .args([
            "--clean",
            "--if-exists",
            "--no-owner",
            "-d",
            &copy,
            dump.to_str().expect("utf-8"),
        ])
        .output()
        .expect("pg_restore runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let restored = TestApp::spawn_with(&[("DATABASE_URL", copy.as_str())]).await;
    let token = restored.token().await;
    assert_eq!(answers(&restored, &token).await, before);
}
