//! A real Prometheus, started by the test, scraping a real ragd every second with the deploy
//! alert rules loaded.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::deploy::alert_count;
use super::{free_port, tool};
use crate::helpers::{TestApp, root};

/// A Prometheus server of the test's own, on loopback, a free port and a temporary data dir;
/// killed on drop.
struct Prometheus {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (`host:port`) every second, with the deploy alerts.
    async fn start(target: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: ragd\n    static_configs:\n      - targets: [\"{target}\"]\n",
                root().join("deploy/prometheus/alerts.yml").display()
            ),
        )
        .expect("write the config");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = Command::new(tool("RAGD_TEST_PROMETHEUS", "prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let prometheus = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client
                .get(format!("{}/-/ready", prometheus.base))
                .send()
                .await
                && r.status() == 200
            {
                return prometheus;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus not ready in 30 s: {}",
                prometheus.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `/api/v1/query`'s result vector, polled until `ok` accepts it (at most 30 s).
    async fn query_until(&self, query: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let body: Value = client
                .get(format!("{}/api/v1/query", self.base))
                .query(&[("query", query)])
                .send()
                .await
                .expect("query")
                .json()
                .await
                .expect("json");
            assert_eq!(body["status"], "success", "{body}");
            let result = body["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if ok(&result) {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "{query}: {result:?} after 30 s; {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until every deploy alert rule has been evaluated: none may error, and against a
    /// healthy ragd none may be pending or firing.
    async fn rules_evaluate_quietly(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let rules: Value = client
                .get(format!("{}/api/v1/rules", self.base))
                .send()
                .await
                .expect("rules")
                .json()
                .await
                .expect("json");
            let all: Vec<&Value> = rules["data"]["groups"]
                .as_array()
                .expect("groups")
                .iter()
                .flat_map(|g| g["rules"].as_array().expect("rules"))
                .collect();
            assert_eq!(all.len(), alert_count(), "{rules}");
            for rule in &all {
                assert_ne!(rule["health"], "err", "{rule}");
            }
            if all.iter().all(|r| r["health"] == "ok") {
                let active: Vec<&&Value> =
                    all.iter().filter(|r| r["state"] != "inactive").collect();
                assert!(
                    active.is_empty(),
                    "a healthy ragd fires no alert: {active:?}"
                );
                return;
            }
            assert!(Instant::now() < deadline, "rules never evaluated: {rules}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sample_value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .expect("a value")
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn a_real_prometheus_scrapes_ragd_and_evaluates_the_alerts() {
    let app = TestApp::spawn().await;
    let token = app.token().await;
    app.upload(&token, &["composting.txt"]).await;
    let r = app
        .post_json(
            &token,
            "/query",
            &json!({"query": "How do I start composting?"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let target = app.base.trim_start_matches("http://").to_owned();
    let prometheus = Prometheus::start(&target).await;

    let up = prometheus
        .query_until(r#"up{job="ragd"}"#, |r| {
            r.iter().any(|s| sample_value(s) == 1.0)
        })
        .await;
    assert_eq!(up.len(), 1, "{up:?}");
    let queries = prometheus
        .query_until(
            r#"rag_requests_total{endpoint="/query",status="200"}"#,
            |r| !r.is_empty(),
        )
        .await;
    assert_eq!(sample_value(&queries[0]), 1.0, "{queries:?}");
    assert_eq!(queries[0]["metric"]["method"], "POST");
    assert_eq!(queries[0]["metric"]["instance"], target.as_str());
    let ready = prometheus.query_until("rag_ready", |r| !r.is_empty()).await;
    assert_eq!(sample_value(&ready[0]), 1.0);

    prometheus.rules_evaluate_quietly().await;
}
