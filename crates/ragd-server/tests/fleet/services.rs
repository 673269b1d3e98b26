//! The real services around a fleet: nginx in front (the shipped `deploy/nginx/` config, rendered
//! per fleet into a temp dir that also holds its certificate, logs, pid and temp files) and Redis
//! behind (`RAGD_TEST_REDIS_URL`, or a server of the test's own from `scripts/redis.sh` that it
//! can pause and resume).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::root;

/// nginx from Debian, when installed.
pub(crate) fn nginx_binary() -> Option<PathBuf> {
    let system = PathBuf::from("/usr/sbin/nginx");
    if system.is_file() {
        return Some(system);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
}

/// Whether `redis-server` is on the PATH (for `scripts/redis.sh`).
pub(crate) fn redis_server_installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// nginx with the shipped config (`deploy/nginx/`), rendered for this fleet by
/// `scripts/check-nginx.sh render`: its instances as upstreams, HTTPS and plain HTTP on free
/// loopback ports, a throwaway CA and certificate, everything it writes in a temp dir.
pub(crate) struct Nginx {
    /// `https://127.0.0.1:PORT`: the API.
    pub(crate) base: String,
    /// `http://127.0.0.1:PORT`: the plain-HTTP server (redirects, probes).
    pub(crate) plain: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx in front of `upstreams` (`127.0.0.1:PORT` each) and waits until it answers
    /// over HTTPS.
    pub(crate) async fn start(binary: &Path, upstreams: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (http, https) = two_free_ports();
        render(dir.path(), upstreams, http, https);
        let prefix = format!("{}/", dir.path().display());
        let errors = format!("{prefix}error.log");
        let conf = format!("{prefix}nginx.conf");
        let child = Command::new(binary)
            .args(["-p", &prefix, "-e", &errors, "-c", &conf])
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Self {
            base: format!("https://127.0.0.1:{https}"),
            plain: format!("http://127.0.0.1:{http}"),
            child,
            dir,
        };
        nginx.wait_ready().await;
        nginx
    }

    async fn wait_ready(&mut self) {
        let client = self.client(Duration::from_secs(5));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = client
                .get(format!("{}/health/live", self.base))
                .send()
                .await
                && r.status() == 200
            {
                return;
            }
            let exited = self.child.try_wait().expect("try_wait");
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "nginx did not come up ({exited:?}):\n{}",
                self.errors()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The test CA that signed nginx's certificate.
    pub(crate) fn ca(&self) -> reqwest::Certificate {
        let pem = std::fs::read(self.dir.path().join("tls/ca.pem")).expect("tls/ca.pem");
        reqwest::Certificate::from_pem(&pem).expect("a PEM certificate")
    }

    /// A client builder that trusts [`Nginx::ca`] (and still speaks plain HTTP to instances).
    pub(crate) fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder().add_root_certificate(self.ca())
    }

    /// A client that trusts [`Nginx::ca`], with `timeout` per request.
    pub(crate) fn client(&self, timeout: Duration) -> reqwest::Client {
        self.client_builder()
            .timeout(timeout)
            .build()
            .expect("client")
    }

    /// Its error log.
    pub(crate) fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Its access log (ragd/ragd.conf's `ragd` format: one JSON object a line).
    pub(crate) fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM so that the master takes its workers down; a SIGKILLed master leaves them
        // listening.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Renders `deploy/nginx/` into `dir` with `scripts/check-nginx.sh render`, the same rendering
/// `make test` checks with `nginx -t`. 127.0.0.1 is exempt from the per-address API flood limit
/// (`ragd_api`): every client of the suite comes from there, and the load tests send hundreds
/// of requests a second, as an internal batch client would. The login limit still applies, and
/// `deploy_nginx.rs` hammers the API limit from other loopback addresses.
fn render(dir: &Path, upstreams: &[&str], http: u16, https: u16) {
    let mut cmd = Command::new(root().join("scripts/check-nginx.sh"));
    cmd.arg("render").arg(dir);
    for upstream in upstreams {
        cmd.args(["--upstream", upstream]);
    }
    cmd.args(["--http", &http.to_string(), "--https", &https.to_string()])
        .args(["--unlimited", "127.0.0.1/32"]);
    let out = cmd.output().expect("scripts/check-nginx.sh runs");
    assert!(
        out.status.success(),
        "scripts/check-nginx.sh render: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two distinct ports that were free a moment ago.
fn two_free_ports() -> (u16, u16) {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (a, b) = (bind(), bind());
    let port = |l: &std::net::TcpListener| l.local_addr().expect("local_addr").port();
    (port(&a), port(&b))
}

/// The fleet's Redis.
pub(crate) enum Redis {
    /// `RAGD_TEST_REDIS_URL`: someone else's, never paused.
    External(String),
    /// Started by this test with `scripts/redis.sh` in `dir`; stopped on drop.
    Own { dir: tempfile::TempDir, url: String },
}

impl Redis {
    /// `RAGD_TEST_REDIS_URL`, else a server of our own.
    pub(crate) fn shared() -> Self {
        match std::env::var("RAGD_TEST_REDIS_URL") {
            Ok(url) if !url.is_empty() => Self::External(url),
            _ => Self::own(),
        }
    }

    /// A server of this test's own.
    pub(crate) fn own() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = redis_script("start", dir.path());
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Self::Own { dir, url }
    }

    /// `redis://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> &str {
        match self {
            Self::External(url) | Self::Own { url, .. } => url,
        }
    }

    /// Stops the server, keeping its port for [`Redis::resume`]. It comes back empty
    /// (persistence is off).
    pub(crate) fn pause(&self) {
        redis_script("pause", self.own_dir());
    }

    /// Starts it again on the same port.
    pub(crate) fn resume(&self) {
        redis_script("resume", self.own_dir());
    }

    fn own_dir(&self) -> &Path {
        match self {
            Self::Own { dir, .. } => dir.path(),
            Self::External(_) => panic!("RAGD_TEST_REDIS_URL is not ours to stop"),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Self::Own { dir, .. } = self {
            let _ = Command::new(root().join("scripts/redis.sh"))
                .arg("stop")
                .arg(dir.path())
                .output();
        }
    }
}

fn redis_script(command: &str, dir: &Path) -> std::process::Output {
    let out = Command::new(root().join("scripts/redis.sh"))
        .arg(command)
        .arg(dir)
        .output()
        .expect("scripts/redis.sh runs");
    assert!(
        out.status.success(),
        "scripts/redis.sh {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
