//! Hostile documents (`scripts/make_hostile_corpus.py`): self-drawing PDF forms, FlateDecode and
//! DOCX bombs, 10,000-deep HTML, invalid UTF-8, empty files. Uploaded sync and async, each must
//! end as a per-file result while the server keeps serving, and a restart must be clean. Before
//! parser isolation the first PDF aborted the server (stack overflow) at every start.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::helpers::{TestApp, root, succeed};

/// The corpus, written once per test into its own folder.
fn corpus(dir: &Path) -> Vec<(String, PathBuf)> {
    let out = succeed(
        std::process::Command::new("python3")
            .arg(root().join("scripts/make_hostile_corpus.py"))
            .arg(dir),
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(name, _)| (name.to_owned(), dir.join(name)))
        .collect()
}

fn part(name: &str, path: &Path) -> Part {
    Part::bytes(std::fs::read(path).expect("corpus file")).file_name(name.to_owned())
}

/// Uploads one file synchronously and returns its per-file result.
async fn upload_one(app: &TestApp, token: &str, name: &str, path: &Path) -> Value {
    let form = Form::new().part("file", part(name, path));
    let r = app.upload_form(token, "/documents", form).await;
    assert_eq!(r.status(), 200, "{name}: {}", app.logs());
    let body: Value = r.json().await.expect("json");
    body["files"][0].clone()
}

async fn still_serving(app: &TestApp, after: &str) {
    let r = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("the server died after {after}: {e}\n{}", app.logs()));
    assert_eq!(r.status(), 200, "after {after}");
}

/// Files that are legitimately readable (deep HTML has text) may be ingested; everything else
/// must fail with a reason naming the file.
fn check_outcome(name: &str, file: &Value) {
    let status = file["status"].as_str().unwrap_or_default();
    if name == "deep.html" && matches!(status, "ingested" | "unchanged") {
        return;
    }
    assert_eq!(status, "failed", "{name}: {file}");
    let error = file["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(name),
        "{name}: the error names the file: {file}"
    );
}

const LIMITS: [(&str, &str); 3] = [
    ("RAGD_PARSER_MEMORY_MB", "256"),
    ("RAGD_PARSER_TIMEOUT_SECS", "20"),
    ("RAGD_SYNC_UPLOAD_BYTES", "100000000"),
];

#[tokio::test]
async fn hostile_documents_cost_one_file_each_never_the_server() {
    let folder = tempfile::tempdir().expect("tempdir");
    let files = corpus(folder.path());
    assert!(files.len() >= 9, "{files:?}");
    let app = TestApp::spawn_with(&LIMITS).await;
    let token = app.token().await;

    for (name, path) in &files {
        let file = upload_one(&app, &token, name, path).await;
        check_outcome(name, &file);
        if name == "self-drawing-form.pdf" {
            let error = file["error"].as_str().unwrap_or_default();
            assert!(
                error.contains("nests too deeply"),
                "the reason is the parser's, in words: {file}"
            );
        }
        still_serving(&app, name).await;
    }

    // All of them as one job, then a restart: nothing is retried, nothing is left behind.
    let mut form = Form::new();
    for (name, path) in &files {
        form = form.part("file", part(name, path));
    }
    let r = app.upload_form(&token, "/documents?async=true", form).await;
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().expect("ascii").to_owned();
    let deadline = Instant::now() + Duration::from_secs(300);
    let job = loop {
        let job = app.get_json(&token, &location).await;
        if job["status"] == "succeeded" || job["status"] == "failed" {
            break job;
        }
        assert!(Instant::now() < deadline, "job stuck: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job["status"], "failed", "{job}");
    for ((name, _), file) in files.iter().zip(job["files"].as_array().expect("files")) {
        check_outcome(name, file);
    }
    still_serving(&app, "the job").await;
    app.no_staged_uploads("the hostile job ended").await;

    succeed(std::process::Command::new("kill").arg(app.pid().to_string()));
    let (exit, logs, data) = app.terminate_after_signal();
    assert!(exit.success(), "{logs}");
    let app = TestApp::spawn_in(data, &LIMITS).await;
    let token = app.token().await;
    let again = app.get_json(&token, &location).await;
    assert_eq!(again["status"], "failed", "not resumed: {again}");
    let docs = app.get_json(&token, "/documents").await;
    let ingested = docs["total"].as_u64().expect("total");
    assert!(
        ingested <= 1,
        "only deep.html may have been readable: {docs}"
    );
}

#[tokio::test]
async fn a_parser_past_its_memory_or_time_is_stopped() {
    let folder = tempfile::tempdir().expect("tempdir");
    let files = corpus(folder.path());
    let bomb = files
        .iter()
        .find(|(n, _)| n == "flate-bomb.pdf")
        .expect("bomb");
    // 64 MiB cannot hold the inflated stream: the worker dies, the file fails, the server lives.
    let app = TestApp::spawn_with(&[
        ("RAGD_PARSER_MEMORY_MB", "64"),
        ("RAGD_PARSER_TIMEOUT_SECS", "1"),
        ("RAGD_SYNC_UPLOAD_BYTES", "100000000"),
    ])
    .await;
    let token = app.token().await;
    let started = Instant::now();
    let file = upload_one(&app, &token, &bomb.0, &bomb.1).await;
    assert_eq!(file["status"], "failed", "{file}");
    let error = file["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("memory") || error.contains(" s") || error.contains("parser"),
        "{file}"
    );
    assert!(started.elapsed() < Duration::from_secs(30), "{file}");
    still_serving(&app, "the bomb").await;
}

#[tokio::test]
async fn a_one_gigabyte_upload_is_refused_early_and_leaves_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let token = app.token().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let gib: u64 = 1 << 30;
    let head = format!(
        "POST /documents HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: {}\r\n\r\n\
         --XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"huge-sparse.txt\"\r\n\r\n",
        gib + 200
    );
    socket.write_all(head.as_bytes()).await.expect("write");
    let zeros = vec![0u8; 1 << 20];
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < gib && socket.write_all(&zeros).await.is_ok() {
        sent += zeros.len() as u64;
    }
    let mut answer = vec![0u8; 4096];
    let n = socket.read(&mut answer).await.unwrap_or(0);
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(
        n == 0 || answer.starts_with("HTTP/1.1 413"),
        "refused with 413 (or the connection closed): {answer}"
    );
    assert!(
        sent < gib / 2,
        "refused early, after {sent} bytes in {:?}",
        started.elapsed()
    );
    still_serving(&app, "a 1 GiB upload").await;
    app.no_staged_uploads("a refused 1 GiB upload").await;
}
