//! Observability: the Prometheus series a real `ragd serve` exposes after real work (a generated
//! answer, uploads, a failed file, a refused question, a rate-limited request), `/metrics` on
//! `RAGD_METRICS_ADDR`, and `deploy/prometheus` + `deploy/grafana` checked by a real promtool and
//! loaded by a real Prometheus scraping a real ragd every second.
//!
//! promtool and prometheus are `RAGD_TEST_PROMTOOL` and `RAGD_TEST_PROMETHEUS` (`make test`
//! exports them through `scripts/with-services.sh`), else what `scripts/prometheus.sh path`
//! finds; without them the tests fail and say to run `make services`.

mod deploy;
mod exposition;
mod live;
mod series;

use std::path::PathBuf;
use std::process::Command;

use crate::helpers::{root, succeed};

/// A binary of Debian's prometheus package: `env` when set, else `scripts/prometheus.sh path`.
pub(super) fn tool(env: &str, name: &str) -> PathBuf {
    if let Ok(path) = std::env::var(env)
        && !path.is_empty()
    {
        return PathBuf::from(path);
    }
    let out = Command::new(root().join("scripts/prometheus.sh"))
        .args(["path", name])
        .output()
        .expect("scripts/prometheus.sh runs");
    assert!(
        out.status.success(),
        "no {name}: set {env} or run `scripts/prometheus.sh fetch` (`make services` does)"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

pub(super) fn promtool(args: &[&std::ffi::OsStr]) -> String {
    let out = succeed(Command::new(tool("RAGD_TEST_PROMTOOL", "promtool")).args(args));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A port that was free a moment ago.
pub(super) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local_addr").port()
}
