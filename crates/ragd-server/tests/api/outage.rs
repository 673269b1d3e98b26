//! PostgreSQL going down under load (an immediate stop: what a crash or a failover looks like to
//! ragd) and coming back on the same address: the requests meanwhile get 503 with Retry-After,
//! never a 500 or a dropped connection, and once the database is back ragd answers again by
//! itself — no restart of ragd, no request failing for longer than the outage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;

use crate::helpers::TestApp;

/// When a request ended, and its status or why it got none.
type Seen = (Duration, Result<u16, String>);

/// A PostgreSQL of this test's own (the shared test server must not go down under the others).
struct OwnPostgres {
    dir: tempfile::TempDir,
    url: String,
}

impl OwnPostgres {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = std::process::Command::new(crate::common::root().join("scripts/postgres.sh"))
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("scripts/postgres.sh runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Self { dir, url }
    }

    fn script(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(crate::common::root().join("scripts/postgres.sh"))
            .args(args)
            .arg(self.dir.path())
            .output()
            .expect("scripts/postgres.sh runs")
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.script(&["stop"]);
    }
}

#[tokio::test]
async fn a_postgres_restart_under_load_costs_seconds_of_503_not_the_server() {
    if !crate::common::on_postgres() {
        return; // runs in the PostgreSQL pass of `make test`
    }
    let pg = OwnPostgres::start();
    let app = Arc::new(
        TestApp::spawn_with(&[
            ("DATABASE_URL", pg.url.as_str()),
            ("RAGD_DATABASE_ACQUIRE_TIMEOUT_SECS", "2"),
            ("RAGD_AUTH_CACHE_SECS", "0"),
        ])
        .await,
    );
    let token = app.token().await;
    app.upload(&token, &["tides-and-moon.txt", "sourdough-bread.md"])
        .await;

    let started = Instant::now();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let mut load = Vec::new();
    for _ in 0..4 {
        let (app, token, seen) = (Arc::clone(&app), token.clone(), Arc::clone(&seen));
        load.push(tokio::spawn(async move {
            while started.elapsed() < Duration::from_secs(12) {
                let r = app
                    .client
                    .post(app.url("/query"))
                    .bearer_auth(&token)
                    .json(&json!({"query": "What causes spring tides?", "threshold": 0.3}))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                let outcome = match r {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        if status == 503 {
                            assert!(
                                r.headers().contains_key("retry-after"),
                                "503 without Retry-After"
                            );
                        }
                        Ok(status)
                    }
                    Err(e) => Err(e.to_string()),
                };
                seen.lock().await.push((started.elapsed(), outcome));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let down_at = started.elapsed();
    let restarted = {
        let dir = pg.dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(crate::common::root().join("scripts/postgres.sh"))
                .args(["restart"])
                .arg(dir)
                .arg("3")
                .output()
                .expect("restart runs")
        })
        .await
        .expect("join")
    };
    assert!(
        restarted.status.success(),
        "{}",
        String::from_utf8_lossy(&restarted.stderr)
    );
    let up_at = started.elapsed();
    for task in load {
        task.await.expect("load task");
    }

    let seen = seen.lock().await;
    let errors: Vec<_> = seen.iter().filter(|(_, o)| o.is_err()).collect();
    assert!(
        errors.is_empty(),
        "requests failed without an answer: {errors:?}"
    );
    let bad: Vec<_> = seen
        .iter()
        .filter(|(_, o)| !matches!(o, Ok(200 | 503)))
        .collect();
    assert!(
        bad.is_empty(),
        "only 200 or 503 while the database restarts: {bad:?}"
    );
    let refused: Vec<Duration> = seen
        .iter()
        .filter(|(_, o)| matches!(o, Ok(503)))
        .map(|(at, _)| *at)
        .collect();
    assert!(
        !refused.is_empty(),
        "the outage was not noticed: the test proves nothing"
    );
    assert!(
        seen.iter()
            .any(|(at, o)| *at < down_at && matches!(o, Ok(200))),
        "answered before the outage"
    );
    // Recovered by itself within a few seconds of the database coming back.
    let last_refused = refused.iter().max().copied().unwrap_or_default();
    assert!(
        last_refused < up_at + Duration::from_secs(3),
        "still refusing {:?} after the database was back",
        last_refused.saturating_sub(up_at)
    );
    let after: Vec<_> = seen
        .iter()
        .filter(|(at, _)| *at > up_at + Duration::from_secs(3))
        .collect();
    assert!(
        !after.is_empty() && after.iter().all(|(_, o)| matches!(o, Ok(200))),
        "{after:?}"
    );
    eprintln!(
        "outage: database down at {down_at:?}, up at {up_at:?}; {} of {} requests got 503, the last at {last_refused:?}",
        refused.len(),
        seen.len()
    );
    let r = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .expect("alive");
    assert_eq!(r.status(), 200);
}
