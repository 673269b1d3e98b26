//! The chapter's own clients (section 7: Python `requests`, TypeScript `fetch`), unchanged,
//! against ragd: `tests/clients/` holds them and their tests; this runs them.

use std::process::Command;

use crate::helpers::{ADMIN, PASSWORD, TestApp, root};

pub(crate) fn python() -> String {
    // `make test` puts `requests` into this venv (scripts/test-deps.sh).
    let venv = root().join("tests/clients/.venv/bin/python");
    std::env::var("RAGD_TEST_PYTHON").unwrap_or_else(|_| {
        if venv.is_file() {
            venv.display().to_string()
        } else {
            "python3".into()
        }
    })
}

fn run_client(app: &TestApp, program: &str, args: &[&str]) {
    run_client_with(app, program, args, &[]);
}

pub(crate) fn run_client_with(app: &TestApp, program: &str, args: &[&str], env: &[(&str, &str)]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .env("RAGD_URL", &app.base)
        .env("RAGD_USERNAME", ADMIN)
        .env("RAGD_PASSWORD", PASSWORD)
        .env(
            "RAGD_QUESTION",
            "How should passwords be hashed with argon2?",
        )
        .env("RAGD_EXPECT_SOURCE", "argon2")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{text}\nserver log:\n{}",
        app.logs()
    );
}

#[tokio::test]
async fn the_chapters_python_and_typescript_clients_work_unchanged() {
    let app = TestApp::spawn().await;
    let token = app.token().await;
    app.upload(
        &token,
        &[
            "argon2-password-hashing.html",
            "black-holes.html",
            "sourdough-bread.md",
        ],
    )
    .await;
    run_client(&app, &python(), &["tests/clients/test_chapter_client.py"]);
    run_client(
        &app,
        "node",
        &["--test", "tests/clients/chapter_client.test.mjs"],
    );
}

#[tokio::test]
async fn the_official_openai_python_package_talks_to_ragd() {
    let app = TestApp::spawn().await;
    let token = app.token().await;
    app.upload(
        &token,
        &["argon2-password-hashing.html", "black-holes.html"],
    )
    .await;
    run_client(&app, &python(), &["tests/clients/test_openai_client.py"]);
}
