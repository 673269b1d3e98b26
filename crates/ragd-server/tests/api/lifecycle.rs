//! Start-up checks, users, graceful shutdown and the committed OpenAPI document.

use std::process::Stdio;

use serde_json::Value;

use crate::helpers::{
    ADMIN, PASSWORD, TestApp, error_body, eventually_unauthorized, ragd, root, succeed,
};

#[test]
fn refuses_to_start_without_a_proper_jwt_secret() {
    let data = tempfile::tempdir().unwrap();
    for (secret, expected) in [
        (None, "JWT_SECRET_KEY is not set"),
        (Some("short"), "at least 32 bytes"),
        (
            Some("your-very-secret-jwt-key-change-in-production"),
            "example value",
        ),
    ] {
        let mut cmd = ragd(data.path());
        cmd.arg("serve")
            .env_remove("JWT_SECRET_KEY")
            .stdout(Stdio::null());
        if let Some(s) = secret {
            cmd.env("JWT_SECRET_KEY", s);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(expected),
            "{secret:?}: {err}"
        );
        assert!(
            !err.contains("your-very-secret"),
            "the secret is echoed: {err}"
        );
    }
    let out = ragd(data.path())
        .args(["serve"])
        .env("ALLOWED_ORIGINS", "[oops")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("ALLOWED_ORIGINS"));
}

#[test]
fn reads_the_settings_file_ragd_env_file_names() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("settings.env");
    std::fs::write(&file, "JWT_SECRET_KEY=short\n").unwrap();
    let serve = |env_file: &std::path::Path| {
        let out = ragd(data.path())
            .arg("serve")
            .env_remove("JWT_SECRET_KEY")
            .env("RAGD_ENV_FILE", env_file)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // The file was read: its secret is the one refused.
    let err = serve(&file);
    assert!(err.contains("at least 32 bytes"), "{err}");
    // A file named explicitly must exist.
    let missing = data.path().join("missing.env");
    let err = serve(&missing);
    assert!(err.contains("RAGD_ENV_FILE"), "{err}");
}

#[tokio::test]
async fn users_cli_disable_and_passwd_end_tokens() {
    let app = TestApp::spawn().await;
    let cli = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = ragd(app.data.path());
        cmd.arg("users")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    };
    assert!(
        cli(
            &["create", "maria", "--password-stdin"],
            Some("a-long-password-1\n")
        )
        .status
        .success()
    );
    let dup = cli(
        &["create", "maria", "--password-stdin"],
        Some("a-long-password-1\n"),
    );
    assert!(!dup.status.success());
    let short = cli(&["create", "joao", "--password-stdin"], Some("short\n"));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12"));
    let list = cli(&["list", "--json"], None);
    let users: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2);
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains("argon2"),
        "hashes are not listed"
    );

    let r = app.login("maria", "a-long-password-1").await;
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let stats = || app.client.get(app.url("/stats")).bearer_auth(&token).send();
    assert_eq!(stats().await.unwrap().status(), 200);

    assert!(
        cli(
            &["passwd", "maria", "--password-stdin"],
            Some("another-long-pass-2\n")
        )
        .status
        .success()
    );
    // The server reuses a looked-up user for RAGD_AUTH_CACHE_SECS (1 s by default): a change
    // made by another process ends older tokens within that time.
    eventually_unauthorized(
        "the old token still works after the password change",
        || async { stats().await.unwrap() },
    )
    .await;
    error_body(
        app.login("maria", "a-long-password-1").await,
        401,
        "unauthorized",
    )
    .await;
    let r = app.login("maria", "another-long-pass-2").await;
    assert_eq!(r.status(), 200);
    let new_token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A token of the new epoch works at once (a cached user never refuses a token).
    let r = app
        .client
        .get(app.url("/stats"))
        .bearer_auth(&new_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    assert!(cli(&["disable", "maria"], None).status.success());
    error_body(
        app.login("maria", "another-long-pass-2").await,
        401,
        "unauthorized",
    )
    .await;
    assert!(cli(&["enable", "maria"], None).status.success());
    assert_eq!(
        app.login("maria", "another-long-pass-2").await.status(),
        200
    );
    // The bootstrap admin's password is never reset from the environment.
    assert_eq!(app.login(ADMIN, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn sigterm_drains_and_saves_then_restart_serves_the_same_data() {
    let app = TestApp::spawn().await;
    let token = app.token().await;
    app.upload(&token, &["rust-borrow-checker.md", "sqlite-wal-mode.md"])
        .await;
    // A request in flight when SIGTERM arrives still completes.
    let slow = app
        .client
        .post(app.url("/query"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"query": "What does the borrow checker enforce?", "threshold": 0.3}))
        .send();
    let pid = app.pid();
    let (answer, ()) = tokio::join!(slow, async {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
    });
    let answer = answer.expect("the in-flight request is answered");
    assert_eq!(answer.status(), 200);
    let (status, logs, data) = app.terminate_after_signal();
    assert!(status.success(), "exit {status}: {logs}");
    assert!(logs.contains("SIGTERM received"), "{logs}");

    let check = ragd(data.path())
        .args(["check", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["documents"], 2);

    let again = TestApp::spawn_in(data, &[]).await;
    let token = again.token().await;
    let found: Value = again
        .client
        .post(again.url("/search"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"query": "write-ahead logging in SQLite", "threshold": 0.3}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        found["sources"][0]["metadata"]["source"], "sqlite-wal-mode.md",
        "{found}"
    );
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let data = tempfile::tempdir().unwrap();
    let out = ragd(data.path()).arg("openapi").output().unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let committed = std::fs::read_to_string(root().join("openapi.json")).unwrap_or_default();
    assert!(
        generated.trim() == committed.trim(),
        "openapi.json is out of date: run `cargo run -q -- openapi > openapi.json`"
    );
    let doc: Value = serde_json::from_str(&generated).unwrap();
    for path in [
        "/auth/login",
        "/query",
        "/search",
        "/documents",
        "/documents/{id}",
        "/jobs/{id}",
        "/health",
        "/health/live",
        "/health/ready",
        "/stats",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
}

#[tokio::test]
async fn docs_pages_are_served_offline() {
    let app = TestApp::spawn().await;
    // Public pages: the token is ignored.
    let text = |path: &'static str| {
        let app = &app;
        async move {
            let r = app.get("", path).await;
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.unwrap()
        }
    };
    assert!(text("/docs/").await.contains("swagger"));
    let init = text("/docs/swagger-initializer.js").await;
    assert!(init.contains("/openapi.json"), "{init}");
    let spec: Value = serde_json::from_str(&text("/openapi.json").await).unwrap();
    assert_eq!(spec["info"]["title"], "ragd");
    let redoc = text("/redoc").await;
    assert!(
        redoc.contains("/redoc/redoc.standalone.js"),
        "run `make assets`: {redoc}"
    );
    assert!(text("/redoc/redoc.standalone.js").await.len() > 500_000);
}

#[tokio::test]
async fn a_second_process_cannot_take_the_data_dir_of_a_running_server() {
    let app = TestApp::spawn().await;
    let docs = tempfile::tempdir().expect("tempdir");
    std::fs::write(docs.path().join("a.md"), "# A\n\nSome text.").expect("write");
    let out = ragd(app.data.path())
        .arg("ingest")
        .arg(docs.path())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("in use by another ragd process")
            && stderr.contains(&format!("pid {}", app.pid())),
        "{stderr}"
    );
    // A second server is refused the same way; database-only commands still work.
    let out = ragd(app.data.path())
        .args(["serve", "--port", "0"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"));
    succeed(ragd(app.data.path()).args(["users", "list"]));
}

#[tokio::test]
async fn the_health_command_probes_a_running_server() {
    let app = TestApp::spawn().await;
    let probe = |url: String| {
        let data = tempfile::tempdir().unwrap();
        ragd(data.path())
            .args(["health", "--url", &url, "--timeout-secs", "2"])
            .output()
            .unwrap()
    };
    let live = probe(app.url("/health/live"));
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    let missing = probe(app.url("/health/nowhere"));
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("answered 404"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let url = app.url("/health/live");
    drop(app);
    let gone = probe(url);
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("unhealthy"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
}
