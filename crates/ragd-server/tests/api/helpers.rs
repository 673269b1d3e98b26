//! `TestApp::spawn()`: the real `ragd serve` binary on an ephemeral port, a temporary data dir,
//! the real model, and an admin to log in as. Readiness is polled, never slept for.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const ADMIN: &str = "admin";
pub(crate) const PASSWORD: &str = "correct-horse-battery-staple";
pub(crate) const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

pub(crate) use crate::common::root;

/// Runs a command that must succeed (its stderr is the failure message) and returns its output.
pub(crate) fn succeed(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A `ragd` command with the model from `make model`, a data dir and a bootstrap admin.
pub(crate) fn ragd(data_dir: &Path) -> Command {
    let mut cmd = crate::common::ragd_command(data_dir);
    cmd.env(
        "RAGD_REDOC_JS",
        root().join("vendor/redoc/redoc.standalone.js"),
    )
    .env("RAGD_HOST", "127.0.0.1")
    .env("RAGD_PORT", "0")
    .env("JWT_SECRET_KEY", SECRET)
    .env("RAGD_ADMIN_USERNAME", ADMIN)
    .env("RAGD_ADMIN_PASSWORD", PASSWORD)
    .env("LOG_LEVEL", "info")
    // Tests send many requests; the rate-limit tests set their own quotas.
    .env("RATE_LIMIT_REQUESTS", "1000000")
    .env("RAGD_LOGIN_RATE_LIMIT", "100000/60")
    .env("RAGD_LOGIN_ACCOUNT_RATE_LIMIT", "100000/60")
    .env_remove("DEBUG");
    cmd
}

/// A running server.
pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) data: tempfile::TempDir,
    pub(crate) client: reqwest::Client,
    child: Child,
    log: PathBuf,
}

impl TestApp {
    /// Starts `ragd serve` with the defaults.
    pub(crate) async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts `ragd serve` with extra environment variables.
    pub(crate) async fn spawn_with(env: &[(&str, &str)]) -> Self {
        let data = tempfile::tempdir().expect("tempdir");
        Self::spawn_in(data, env).await
    }

    /// Starts `ragd serve` on an existing data dir.
    pub(crate) async fn spawn_in(data: tempfile::TempDir, env: &[(&str, &str)]) -> Self {
        let log = data.path().join("server.log");
        let mut cmd = ragd(data.path());
        cmd.arg("serve")
            .envs(env.iter().copied())
            .stdout(Stdio::piped());
        crate::common::pgvector_when_asked(&mut cmd, env);
        cmd.stderr(std::fs::File::create(&log).expect("log file"));
        let mut child = cmd.spawn().expect("ragd serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        })
        .await
        .expect("join")
        .expect("read the listening line");
        let base = line
            .trim()
            .strip_prefix("ragd listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_owned();
        let app = Self {
            base,
            data,
            client: reqwest::Client::new(),
            child,
            log,
        };
        app.wait_ready().await;
        app
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.client.get(self.url("/health/ready")).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not ready in 60 s: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Logs in and returns a bearer token.
    pub(crate) async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/auth/login"))
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .expect("login request")
    }

    pub(crate) async fn token(&self) -> String {
        let r = self.login(ADMIN, PASSWORD).await;
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// Creates a user with `admin`'s token (`user` is the `POST /users` body, with `username`
    /// and `password`) and returns the new user's bearer token.
    pub(crate) async fn user_token(&self, admin: &str, user: &serde_json::Value) -> String {
        let r = self.post_json(admin, "/users", user).await;
        assert_eq!(r.status(), 201, "POST /users {user}");
        let field = |name: &str| user[name].as_str().expect(name).to_owned();
        let r = self.login(&field("username"), &field("password")).await;
        assert_eq!(r.status(), 200, "login");
        let body: serde_json::Value = r.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// `GET path` with a bearer token.
    pub(crate) async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
    }

    /// `GET /metrics` (unauthenticated) as text.
    pub(crate) async fn metrics_text(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// The sum of the samples on the `/metrics` lines starting with `prefix` (a series name, or
    /// a name with some of its labels); 0 when there is none.
    pub(crate) async fn metric_sum(&self, prefix: &str) -> f64 {
        self.metrics_text()
            .await
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// `GET path`, asserting 200, as JSON.
    pub(crate) async fn get_json(&self, token: &str, path: &str) -> serde_json::Value {
        let r = self.get(token, path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("JSON")
    }

    /// `POST path` with a JSON body and a bearer token.
    pub(crate) async fn post_json(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// `DELETE path` with a bearer token.
    pub(crate) async fn delete(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("DELETE")
    }

    /// `POST /documents` with a multipart form.
    pub(crate) async fn upload_form(
        &self,
        token: &str,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload")
    }

    /// Uploads files from the test corpus (synchronously ingested).
    pub(crate) async fn upload(&self, token: &str, names: &[&str]) -> serde_json::Value {
        let mut form = reqwest::multipart::Form::new();
        for name in names {
            let bytes =
                std::fs::read(root().join("tests/corpus/docs").join(name)).expect("corpus file");
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
            );
        }
        let r = self
            .client
            .post(self.url("/documents"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), 200, "upload failed");
        r.json().await.expect("json")
    }

    /// Waits (at most 10 s) until `DATA_DIR/uploads` holds no staging folder: a folder is
    /// removed when its request or job ends, which may trail the response by a moment.
    pub(crate) async fn no_staged_uploads(&self, what: &str) {
        let uploads = self.data.path().join("uploads");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_dir(&uploads).map_or(0, Iterator::count) > 0 {
            assert!(
                Instant::now() < deadline,
                "{what}: a staging folder was left behind"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and hands back its data dir.
    pub(crate) fn kill_9(mut self) -> (std::process::ExitStatus, String, tempfile::TempDir) {
        let _ = self.child.kill();
        self.terminate_after_signal()
    }

    /// Waits for the exit of a server that was sent a signal.
    pub(crate) fn terminate_after_signal(
        mut self,
    ) -> (std::process::ExitStatus, String, tempfile::TempDir) {
        let exit = self.child.wait().expect("wait");
        let logs = self.logs();
        let data = std::mem::replace(&mut self.data, tempfile::tempdir().expect("tempdir"));
        (exit, logs, data)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `request` every 100 ms until it is refused with 401 (checked as the error envelope),
/// failing with `what` after 3 s: for a change the server applies within a bounded time (a user
/// or key changed by another process, seen within `RAGD_AUTH_CACHE_SECS`).
pub(crate) async fn eventually_unauthorized<F, Fut>(what: &str, mut request: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let started = std::time::Instant::now();
    loop {
        let r = request().await;
        if r.status() == 401 {
            error_body(r, 401, "unauthorized").await;
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Asserts the error envelope and returns it.
pub(crate) async fn error_body(r: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(r.status().as_u16(), status, "status");
    let request_id = r
        .headers()
        .get("x-request-id")
        .expect("x-request-id")
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: serde_json::Value = r.json().await.expect("a JSON error body");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["request_id"], request_id.as_str(), "{body}");
    assert!(
        body["timestamp"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
        "{body}"
    );
    body
}
