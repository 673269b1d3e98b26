//! The real services around a fleet: nginx in front (a config generated per test, in a temp dir
//! that also holds its logs, pid and temp files) and Redis behind (`RAGD_TEST_REDIS_URL`, or a
//! server of the test's own from `scripts/redis.sh` that it can pause and resume).

use std::os::unix::fs::MetadataExt;
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

/// nginx, round robin over the fleet.
pub(crate) struct Nginx {
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx in front of `upstreams` (`127.0.0.1:PORT` each) and waits until it answers.
    pub(crate) async fn start(binary: &Path, upstreams: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        std::fs::write(
            dir.path().join("nginx.conf"),
            config(dir.path(), port, upstreams),
        )
        .expect("nginx.conf");
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
            base: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        };
        nginx.wait_ready().await;
        nginx
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
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

    /// Its error log.
    pub(crate) fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
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

/// The configuration of issue 13: round robin, retries on connection errors and 502/503,
/// HTTP/1.1 keepalive to the instances, the client's address in X-Forwarded-For.
fn config(dir: &Path, port: u16, upstreams: &[&str]) -> String {
    let d = dir.display();
    // As root, nginx's workers would run as `nobody`, who cannot write the temp dirs in here.
    let user = if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        "user root;"
    } else {
        ""
    };
    let servers: String = upstreams
        .iter()
        .map(|addr| format!("        server {addr} max_fails=1 fail_timeout=5s;\n"))
        .collect();
    format!(
        "{user}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 64m;
    upstream ragd {{
{servers}        keepalive 32;
        keepalive_timeout 1s;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://ragd;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
        }}
    }}
}}
"
    )
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local_addr").port()
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
