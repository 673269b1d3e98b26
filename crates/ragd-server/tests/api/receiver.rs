//! A real webhook receiver for the tests: `webhook_receiver.py` (Python's standard library),
//! which logs every delivery with its headers and whether its signatures verify with the
//! README's recipe. Shared by the API and fleet suites. With `--get-body FILE` it also answers
//! GETs with FILE (logged the same way), to stand in for other services ragd calls (a JWKS URL).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `webhook_receiver.py`.
pub(crate) struct Receiver {
    child: Child,
    pub(crate) port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Receiver {
    pub(crate) fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (port_file, log) = (dir.path().join("port"), dir.path().join("log.jsonl"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/webhook_receiver.py");
        let child = Command::new("python3")
            .arg(script)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(&log)
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 runs the receiver");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Ok(port) = text.trim().parse()
            {
                break port;
            }
            assert!(Instant::now() < deadline, "the receiver did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Everything received so far.
    pub(crate) fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (at most `within`) until `done` holds for what was received.
    pub(crate) async fn wait_for(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not received within {within:?}; got {got:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The parsed body of a received delivery.
pub(crate) fn body(delivery: &Value) -> Value {
    serde_json::from_str(delivery["body"].as_str().expect("body")).expect("JSON body")
}

pub(crate) fn of_type<'a>(got: &'a [Value], event: &str) -> Vec<&'a Value> {
    got.iter()
        .filter(|d| body(d)["event_type"] == event)
        .collect()
}
