//! `Fleet::start()`: a fresh PostgreSQL database, a Redis, three instances and nginx in front,
//! or `None` (after saying why) when a service the suite needs is missing here. One fleet runs
//! at a time; dropping it stops everything, and when a test failed it prints every log first.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::common::root;
use crate::instance::{ADMIN, Instance, PASSWORD, Shared};
use crate::services::{Nginx, Redis, nginx_binary, redis_server_installed};

/// Fleets take turns: three models loading at once are already a lot for two cores.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Three instances, nginx and the Redis they share.
pub(crate) struct Fleet {
    /// The instances, `ragd-1` first.
    pub(crate) nodes: Vec<Instance>,
    /// nginx in front of them.
    pub(crate) nginx: Nginx,
    /// Their Redis.
    pub(crate) redis: Redis,
    /// Their database's URL.
    pub(crate) database: String,
    /// A client for the test's requests (HTTPS to nginx, trusting its test CA; HTTP to the
    /// instances).
    pub(crate) client: reqwest::Client,
    // Declared last: the next fleet starts once this one is gone.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Fleet {
    /// A fleet on `RAGD_TEST_REDIS_URL` (or a Redis of its own), with extra environment.
    pub(crate) async fn start(env: &[(&str, &str)]) -> Option<Self> {
        Self::launch(env, false).await
    }

    /// A fleet on a Redis of its own, which the test may pause.
    pub(crate) async fn start_with_own_redis(env: &[(&str, &str)]) -> Option<Self> {
        Self::launch(env, true).await
    }

    async fn launch(env: &[(&str, &str)], own_redis: bool) -> Option<Self> {
        let turn = TURN.lock().await;
        let skip = |why: &str| eprintln!("fleet test skipped: {why}");
        if std::env::var("RAGD_TEST_DATABASE_URL").is_err() {
            skip("no RAGD_TEST_DATABASE_URL (run it under scripts/with-postgres.sh)");
            return None;
        }
        let Some(nginx) = nginx_binary() else {
            skip("nginx is not installed (apt-get install nginx)");
            return None;
        };
        let external_redis = std::env::var("RAGD_TEST_REDIS_URL").is_ok_and(|u| !u.is_empty());
        if (own_redis || !external_redis) && !redis_server_installed() {
            skip("no RAGD_TEST_REDIS_URL and no redis-server (scripts/redis.sh fetch)");
            return None;
        }
        let redis = if own_redis {
            Redis::own()
        } else {
            Redis::shared()
        };
        let database = crate::common::fresh_database();
        let shared = Shared {
            database_url: &database,
            redis_url: redis.url(),
            env,
        };
        // The first instance migrates the fresh database and creates the admin on its own; the
        // other two then start side by side.
        let first = Instance::start("ragd-1".into(), &shared).await;
        let (second, third) = tokio::join!(
            Instance::start("ragd-2".into(), &shared),
            Instance::start("ragd-3".into(), &shared),
        );
        let nodes = vec![first, second, third];
        let upstreams: Vec<&str> = nodes.iter().map(Instance::addr).collect();
        let nginx = Nginx::start(&nginx, &upstreams).await;
        let client = nginx.client(Duration::from_secs(60));
        Some(Self {
            nodes,
            nginx,
            redis,
            database,
            client,
            _turn: turn,
        })
    }

    /// `path` through nginx.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.nginx.base)
    }

    /// Every way in: the three instances directly, then nginx.
    pub(crate) fn bases(&self) -> Vec<String> {
        let mut bases: Vec<String> = self.nodes.iter().map(|n| n.base.clone()).collect();
        bases.push(self.nginx.base.clone());
        bases
    }

    /// The admin's bearer token, from a login through nginx.
    pub(crate) async fn token(&self) -> String {
        let r = self
            .client
            .post(self.url("/auth/login"))
            .form(&[("username", ADMIN), ("password", PASSWORD)])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 200, "login through nginx");
        let body: Value = r.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// A new API key with `scopes`, made through nginx: its id and its secret.
    pub(crate) async fn create_key(&self, admin: &str, scopes: &[&str]) -> (String, String) {
        let r = self
            .client
            .post(self.url("/keys"))
            .bearer_auth(admin)
            .json(&json!({"name": "fleet", "scopes": scopes}))
            .send()
            .await
            .expect("POST /keys");
        assert_eq!(r.status(), 201, "POST /keys");
        let key: Value = r.json().await.expect("json");
        let field = |name: &str| key[name].as_str().expect(name).to_owned();
        (field("id"), field("key"))
    }

    /// Uploads files of the test corpus through nginx (ingested before the answer).
    pub(crate) async fn upload_corpus(&self, admin: &str, names: &[&str]) -> Value {
        let form = names
            .iter()
            .fold(Form::new(), |form, name| form.part("file", corpus(name)));
        let r = self
            .client
            .post(self.url("/documents"))
            .bearer_auth(admin)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), 200, "upload through nginx");
        let summary: Value = r.json().await.expect("json");
        assert_eq!(summary["ingested"], names.len(), "{summary}");
        summary
    }

    /// `GET base + path` with `token`, asserting 200, as JSON.
    pub(crate) async fn get_json(&self, base: &str, token: &str, path: &str) -> Value {
        let r = self
            .client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), 200, "GET {base}{path}");
        r.json().await.expect("json")
    }

    /// `POST base/query` with `token`.
    pub(crate) async fn query(&self, base: &str, token: &str, question: &str) -> reqwest::Response {
        self.client
            .post(format!("{base}/query"))
            .bearer_auth(token)
            .json(&question_body(question))
            .send()
            .await
            .expect("POST /query")
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for node in &self.nodes {
            eprintln!("===== {} ({}): log tail", node.name, node.base);
            eprintln!("{}", tail(&node.logs(), 150));
        }
        eprintln!("===== nginx ({}): error log tail", self.nginx.base);
        eprintln!("{}", tail(&self.nginx.errors(), 50));
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A file of `tests/corpus/docs` as a multipart part.
pub(crate) fn corpus(name: &str) -> Part {
    let bytes = std::fs::read(root().join("tests/corpus/docs").join(name)).expect("corpus file");
    Part::bytes(bytes).file_name(name.to_owned())
}

/// The body of `/query` and `/search` for `question`.
pub(crate) fn question_body(question: &str) -> Value {
    json!({"query": question, "threshold": 0.3, "max_results": 3})
}
