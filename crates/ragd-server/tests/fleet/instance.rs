//! One `ragd serve` of a fleet: its own data dir and log, the fleet's database and Redis, port 0
//! (the address is read from the `ragd listening on` line), ready once `/health/ready` says so.
//! Signals are sent with `kill(1)`; dropping an instance kills it.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::{ragd_command, root};

pub(crate) const ADMIN: &str = "admin";
pub(crate) const PASSWORD: &str = "correct-horse-battery-staple";
const SECRET: &str = "0123456789abcdef0123456789abcdef-fleet-secret";

/// How long an instance may take to load its model and answer `/health/ready`, with two more
/// starting beside it on two cores.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running `ragd serve`.
pub(crate) struct Instance {
    /// `ragd-1`, `ragd-2`, …: how messages name it.
    pub(crate) name: String,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    child: Child,
    log: PathBuf,
    _data: tempfile::TempDir,
}

/// What every instance of one fleet shares.
pub(crate) struct Shared<'a> {
    pub(crate) database_url: &'a str,
    pub(crate) redis_url: &'a str,
    pub(crate) env: &'a [(&'a str, &'a str)],
}

impl Instance {
    /// Starts `ragd serve` and waits until it is ready.
    pub(crate) async fn start(name: String, shared: &Shared<'_>) -> Self {
        let data = tempfile::tempdir().expect("tempdir");
        let log = data.path().join("server.log");
        let mut cmd = ragd_command(data.path());
        cmd.arg("serve")
            .env(
                "RAGD_REDOC_JS",
                root().join("vendor/redoc/redoc.standalone.js"),
            )
            .env("RAGD_HOST", "127.0.0.1")
            .env("RAGD_PORT", "0")
            .env("DATABASE_URL", shared.database_url)
            .env("REDIS_URL", shared.redis_url)
            .env("RAGD_TRUSTED_PROXIES", "127.0.0.1")
            .env("JWT_SECRET_KEY", SECRET)
            .env("RAGD_ADMIN_USERNAME", ADMIN)
            .env("RAGD_ADMIN_PASSWORD", PASSWORD)
            .env("RAGD_GENERATOR", "extractive")
            .env("LOG_LEVEL", "info")
            .env("NO_COLOR", "1")
            .env("RATE_LIMIT_REQUESTS", "1000000")
            .env("RAGD_LOGIN_RATE_LIMIT", "100000/60")
            .env("RAGD_LOGIN_ACCOUNT_RATE_LIMIT", "100000/60")
            .env_remove("DEBUG")
            // Vectors in pgvector beside the documents, whatever store RAGD_TEST_STORE picks.
            .env_remove("CHROMA_HOST")
            .env_remove("CHROMA_PORT")
            .env_remove("RAGD_CHROMA_COLLECTION")
            .envs(shared.env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(append_to(&log));
        let mut child = cmd.spawn().expect("ragd serve starts");
        let first_line = listening_line(&mut child, log.clone());
        let line = tokio::time::timeout(START_TIMEOUT, first_line)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let Some(base) = line.trim().strip_prefix("ragd listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            let logs = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("{name} did not start (first line {line:?}):\n{logs}");
        };
        let instance = Self {
            name,
            base: base.to_owned(),
            child,
            log,
            _data: data,
        };
        instance.wait_ready().await;
        instance
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(r) = client.get(self.url("/health/ready")).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready in {START_TIMEOUT:?}:\n{}",
                self.name,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `base` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `127.0.0.1:PORT`, for nginx's `upstream`.
    pub(crate) fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Everything it logged so far.
    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (`TERM`, `STOP`, `CONT`, …) with `kill(1)`.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {}", self.name);
    }

    /// `kill -9`: no shutdown of any kind.
    pub(crate) fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }

    /// Waits at most `timeout` for the process to exit.
    pub(crate) async fn exit_within(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still running {timeout:?} after the signal:\n{}",
                self.name,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `path`, opened for appending: stderr and the rest of stdout share it.
fn append_to(path: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("log file")
}

/// The first line `child` prints. The rest of its stdout goes to the log: a closed pipe would
/// make a later `println!` of the server fail.
async fn listening_line(child: &mut Child, log: PathBuf) -> std::io::Result<String> {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let read = reader.read_line(&mut line).map(|_| line);
        if tx.send(read).is_err() {
            return;
        }
        let mut out = append_to(&log);
        for line in reader.lines().map_while(Result::ok) {
            let _ = writeln!(out, "[stdout] {line}");
        }
    });
    rx.await.unwrap_or_else(|_| Ok(String::new()))
}
