//! Tracing and structured logs: spans exported over OTLP/HTTP to a real receiver (Python's
//! `opentelemetry-proto` decoding the protobuf, `otlp_receiver.py`), continuing the caller's W3C
//! trace, and carried on to the next service — a second ragd receiving the first one's
//! OpenAI-compatible call and exporting to the same receiver, and to the webhook deliveries and
//! JWKS fetches a request causes; and `LOG_FORMAT=json` lines.
//!
//! The receiver's Python is `RAGD_TEST_OTLP_PYTHON` (`make test` sets it), else the venv of
//! `scripts/otlp-receiver.sh`, made from PyPI on first use.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::helpers::{TestApp, root};
use crate::receiver::Receiver as HttpReceiver;

/// The caller's trace: its trace id, the id of its span that calls ragd, and its vendor state.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const TRACE_STATE: &str = "congo=t61rcWkgMzE";

/// The receiver's Python.
fn receiver_python() -> String {
    if let Ok(python) = std::env::var("RAGD_TEST_OTLP_PYTHON")
        && !python.trim().is_empty()
    {
        return python.trim().to_owned();
    }
    let out = Command::new(root().join("scripts/otlp-receiver.sh"))
        .arg("python")
        .output()
        .expect("scripts/otlp-receiver.sh runs");
    assert!(
        out.status.success(),
        "no Python for the OTLP receiver: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A running `otlp_receiver.py`; killed on drop.
struct Receiver {
    child: Child,
    endpoint: String,
    spans: PathBuf,
    _dir: tempfile::TempDir,
}

impl Receiver {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let spans = dir.path().join("spans.jsonl");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/otlp_receiver.py");
        let mut child = Command::new(receiver_python())
            .arg(script)
            .arg(&spans)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the receiver starts");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("port line");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            panic!("the receiver printed {line:?}, not its port");
        });
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            spans,
            _dir: dir,
        }
    }

    fn spans(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.spans)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON span"))
            .collect()
    }

    /// The spans received once `done` holds of them (polled; at most 30 s).
    async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not received in 30 s; received {spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A ragd exporting its spans to `receiver` as `service`, quickly (the batch is sent every
/// 100 ms rather than every 5 s).
async fn traced_app(receiver: &Receiver, service: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
        ("OTEL_SERVICE_NAME", service),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    env.extend_from_slice(extra);
    TestApp::spawn_with(&env).await
}

fn named<'a>(spans: &'a [Value], service: &str, name: &str) -> Vec<&'a Value> {
    spans
        .iter()
        .filter(|s| s["service"] == service && s["name"] == name && s["trace_id"] == TRACE_ID)
        .collect()
}

/// The one span of `service` named `name` in the caller's trace.
fn the<'a>(spans: &'a [Value], service: &str, name: &str) -> &'a Value {
    let found = named(spans, service, name);
    assert_eq!(
        found.len(),
        1,
        "one {name} span of {service} in the trace: {spans:#?}"
    );
    found[0]
}

/// Whether `span` descends from the span `ancestor` (by id) through parents in `spans`.
fn descends_from(spans: &[Value], span: &Value, ancestor: &str) -> bool {
    let parents: HashMap<&str, &str> = spans
        .iter()
        .filter_map(|s| Some((s["span_id"].as_str()?, s["parent_span_id"].as_str()?)))
        .collect();
    let mut at = span["parent_span_id"].as_str().unwrap_or_default();
    for _ in 0..64 {
        if at == ancestor {
            return true;
        }
        match parents.get(at) {
            Some(parent) => at = parent,
            None => return false,
        }
    }
    false
}

#[tokio::test]
async fn spans_continue_the_callers_trace_and_the_next_service_continues_ragds() {
    let receiver = Receiver::start();
    // The model server: another ragd (extractive), answering on /v1/chat/completions.
    let upstream = traced_app(
        &receiver,
        "ragd-upstream",
        &[("RAGD_GENERATOR", "extractive")],
    )
    .await;
    let upstream_token = upstream.token().await;
    let key: Value = upstream
        .post_json(
            &upstream_token,
            "/keys",
            &json!({"name": "downstream", "scopes": ["query"]}),
        )
        .await
        .json()
        .await
        .expect("key");
    let key = key["key"].as_str().expect("key").to_owned();
    let base_url = format!("{}/v1", upstream.base);
    let app = traced_app(
        &receiver,
        "ragd",
        &[
            ("RAGD_GENERATOR", "openai"),
            ("OPENAI_BASE_URL", base_url.as_str()),
            ("OPENAI_API_KEY", key.as_str()),
            ("LLM_MODEL", "ragd"),
            ("RAGD_LLM_RETRIES", "0"),
        ],
    )
    .await;
    let token = app.token().await;
    app.upload(&token, &["honeybee-colonies.txt"]).await;

    let question = "How many eggs can a honeybee queen lay in one day?";
    let response = app
        .client
        .post(app.url("/query"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .header("tracestate", TRACE_STATE)
        .json(&json!({"query": question, "threshold": 0.3, "max_results": 2}))
        .send()
        .await
        .expect("query");
    assert_eq!(response.status(), 200, "{}", app.logs());
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    // The upstream, a RAG server itself, refuses the grounded prompt as a question (longer
    // than the 1000 characters it takes): the call reached it, which is what is tested here.
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["model"], "extractive", "{answer}");
    assert_eq!(
        answer["guardrails_triggered"],
        json!(["generator.unavailable"])
    );

    let spans = receiver
        .wait_for("both servers' request spans", |spans| {
            named(spans, "ragd", "POST /query").len() == 1
                && named(spans, "ragd-upstream", "POST /v1/chat/completions").len() == 1
        })
        .await;
    // The request span is the caller's span's child, in the caller's trace and trace state.
    let request = the(&spans, "ragd", "POST /query");
    assert_eq!(request["parent_span_id"], CALLER_SPAN, "{request}");
    assert_eq!(request["trace_state"], TRACE_STATE, "{request}");
    assert_eq!(request["kind"], 2, "a server span: {request}");
    let fields = &request["attributes"];
    assert_eq!(fields["request_id"], request_id.as_str(), "{request}");
    assert_eq!(fields["http.method"], "POST", "{request}");
    assert_eq!(fields["http.route"], "/query", "{request}");
    assert_eq!(fields["http.status"], 200, "{request}");
    assert_eq!(fields["principal"], "admin", "{request}");
    assert!(fields["tenant"].is_string(), "{request}");
    assert!(fields["latency_ms"].as_f64() > Some(0.0), "{request}");
    let request_span = request["span_id"].as_str().expect("span id");

    // Auth, the query's embedding, the search, the database and generation: inside it.
    for name in [
        "auth",
        "retrieve",
        "db.collection_ids",
        "embed_query",
        "search",
        "generate",
        "llm.request",
    ] {
        let span = the(&spans, "ragd", name);
        assert!(
            descends_from(&spans, span, request_span),
            "{name} is inside the request: {spans:#?}"
        );
    }
    assert_eq!(the(&spans, "ragd", "search")["attributes"]["k"], 2);

    // The upstream's request continues the trace from the call that reached it.
    let call = the(&spans, "ragd", "llm.request");
    let upstream_request = the(&spans, "ragd-upstream", "POST /v1/chat/completions");
    assert_eq!(
        upstream_request["parent_span_id"], call["span_id"],
        "the traceparent sent to the upstream names the call's span: {upstream_request}"
    );
    assert_eq!(upstream_request["trace_state"], TRACE_STATE);
    assert_eq!(upstream_request["attributes"]["http.status"], 422);
    assert_eq!(the(&spans, "ragd-upstream", "auth")["trace_id"], TRACE_ID);

    // The generator's failure, a warning, is an event of the request span.
    assert!(
        request["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["name"]
                .as_str()
                .is_some_and(|n| n.contains("generator failed"))),
        "{request}"
    );
    // Neither the question nor the key is ever in a span, its attributes or its events (the
    // `query_received` log line, which has the question, stays out of the traces).
    for span in &spans {
        let text = span.to_string();
        assert!(
            !text.contains("queen lay") && !text.contains(&key) && !text.contains(&token),
            "a span holds the question or a credential: {span}"
        );
    }
}

#[tokio::test]
async fn a_request_without_traceparent_starts_its_own_trace() {
    let receiver = Receiver::start();
    let app = traced_app(&receiver, "ragd", &[]).await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("traceparent", "00-not-a-valid-traceparent-01")
        .send()
        .await
        .expect("health");
    assert_eq!(response.status(), 200);
    let spans = receiver
        .wait_for("the request span", |spans| {
            spans.iter().any(|s| s["name"] == "GET /health")
        })
        .await;
    let request = spans
        .iter()
        .find(|s| s["name"] == "GET /health")
        .expect("span");
    assert_eq!(request["parent_span_id"], "", "a root span: {request}");
    assert_eq!(request["trace_id"].as_str().map(str::len), Some(32));
    assert_ne!(request["trace_id"], "0".repeat(32));
}

#[tokio::test]
async fn spans_still_buffered_are_sent_when_the_server_stops() {
    let receiver = Receiver::start();
    // A batch every 10 minutes: only the shutdown can send this one.
    let app = TestApp::spawn_with(&[
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            &format!("{}/v1/traces", receiver.endpoint),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
    ])
    .await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .send()
        .await
        .expect("health");
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        named(&receiver.spans(), "ragd", "GET /health").is_empty(),
        "sent before the shutdown: the batch delay was not honoured"
    );
    crate::helpers::succeed(Command::new("kill").arg(app.pid().to_string()));
    let (status, logs, _data) = app.terminate_after_signal();
    assert!(status.success(), "{logs}");
    let spans = receiver.spans();
    let request = the(&spans, "ragd", "GET /health");
    assert_eq!(request["parent_span_id"], CALLER_SPAN);
}

/// The span id of a `traceparent` sent in the caller's trace (`00-{TRACE_ID}-{span}-01`).
fn span_in_callers_trace(traceparent: &str) -> String {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00", "{traceparent}");
    assert_eq!(parts[1], TRACE_ID, "the caller's trace id: {traceparent}");
    assert_eq!(parts[3], "01", "sampled, as the caller's: {traceparent}");
    assert!(
        parts[2].len() == 16 && parts[2] != CALLER_SPAN && parts[2] != "0".repeat(16),
        "a span of ragd's: {traceparent}"
    );
    parts[2].to_owned()
}

/// The request span of ragd's that continues the caller's span.
fn request_span(spans: &[Value]) -> &Value {
    let found: Vec<&Value> = spans
        .iter()
        .filter(|s| s["trace_id"] == TRACE_ID && s["parent_span_id"] == CALLER_SPAN)
        .collect();
    assert_eq!(found.len(), 1, "one request span: {spans:#?}");
    found[0]
}

#[tokio::test]
async fn a_webhook_delivery_carries_the_trace_of_the_question_that_caused_it() {
    let receiver = Receiver::start();
    let hook = HttpReceiver::start(&[]);
    let app = traced_app(&receiver, "ragd", &crate::webhooks::FAST).await;
    let token = app.token().await;
    let r = app
        .post_json(
            &token,
            "/webhooks/register",
            &json!({"url": hook.url(), "events": ["query_completed"]}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", app.logs());
    let response = app
        .client
        .post(app.url("/query"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&json!({"query": "What causes spring tides?", "threshold": 0.3}))
        .send()
        .await
        .expect("query");
    assert_eq!(response.status(), 200);
    let got = hook
        .wait_for(Duration::from_secs(20), "the question's event", |got| {
            !got.is_empty()
        })
        .await;
    let sent = got[0]["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("no traceparent on the delivery: {:#?}", got[0]));
    let span_id = span_in_callers_trace(sent);

    // The span it names is the delivery's, which continues the request's trace.
    let spans = receiver
        .wait_for("the request and delivery spans", |spans| {
            spans.iter().any(|s| s["span_id"] == span_id.as_str())
                && spans.iter().any(|s| s["parent_span_id"] == CALLER_SPAN)
        })
        .await;
    let delivery = spans
        .iter()
        .find(|s| s["span_id"] == span_id.as_str())
        .expect("the delivery span");
    assert_eq!(delivery["name"], "webhook.deliver", "{delivery}");
    assert_eq!(delivery["trace_id"], TRACE_ID, "{delivery}");
    let request = request_span(&spans);
    assert!(
        descends_from(&spans, delivery, request["span_id"].as_str().expect("id")),
        "the delivery is part of the request's trace: {spans:#?}"
    );
}

#[tokio::test]
async fn a_jwks_fetched_for_a_request_carries_its_trace() {
    const ISSUER: &str = "https://idp.example";
    const AUDIENCE: &str = "ragd-api";
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = EncodingKey::from_ec_pem(&crate::oidc::openssl_key(
        dir.path(),
        "k.pem",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    ))
    .expect("ec key");
    let jwks = dir.path().join("jwks.json");
    let set = JwkSet {
        keys: vec![crate::oidc::jwk(&key, Algorithm::ES256, "k1")],
    };
    std::fs::write(&jwks, serde_json::to_vec(&set).expect("json")).expect("write");
    // The identity provider: plain http is allowed on loopback.
    let provider = HttpReceiver::start(&["--get-body", jwks.to_str().expect("utf-8")]);
    let url = format!("http://127.0.0.1:{}/jwks.json", provider.port);
    let app = traced_app(
        &receiver,
        "ragd",
        &[
            ("JWT_JWKS", url.as_str()),
            ("JWT_JWKS_ISSUER", ISSUER),
            ("JWT_JWKS_AUDIENCE", AUDIENCE),
            ("JWT_JWKS_MIN_REFRESH_SECS", "1"),
        ],
    )
    .await;
    let claims = crate::oidc::claims(ISSUER, AUDIENCE, Some("acme"), 600);
    let good = crate::oidc::token(&key, Algorithm::ES256, "k1", &claims);
    assert_eq!(
        app.get(&good, "/stats").await.status(),
        200,
        "{}",
        app.logs()
    );
    let fetched_at_start = provider.received().len();
    assert!(fetched_at_start >= 1, "the keys were fetched at start");

    // Past the minimum interval, an unknown key id makes ragd fetch the keys for the request.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let unknown = crate::oidc::token(&key, Algorithm::ES256, "k-unknown", &claims);
    let r = app
        .client
        .get(app.url("/stats"))
        .bearer_auth(&unknown)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .send()
        .await
        .expect("stats");
    assert_eq!(r.status(), 401);
    let got = provider.received();
    assert_eq!(
        got.len(),
        fetched_at_start + 1,
        "one fetch for the request: {got:#?}"
    );
    let fetch = got.last().expect("the fetch");
    assert_eq!(fetch["method"], "GET", "{fetch}");
    let sent = fetch["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("no traceparent on the JWKS fetch: {fetch:#?}"));
    let span_id = span_in_callers_trace(sent);
    let spans = receiver
        .wait_for("the request and fetch spans", |spans| {
            spans.iter().any(|s| s["span_id"] == span_id.as_str())
                && spans.iter().any(|s| s["parent_span_id"] == CALLER_SPAN)
        })
        .await;
    let fetching = spans
        .iter()
        .find(|s| s["span_id"] == span_id.as_str())
        .expect("the fetch span");
    assert_eq!(fetching["name"], "jwks.fetch", "{fetching}");
    let request = request_span(&spans);
    assert!(
        descends_from(&spans, fetching, request["span_id"].as_str().expect("id")),
        "the fetch is part of the request's trace: {spans:#?}"
    );
}

/// The log lines of `app` as JSON objects (every line must be one).
fn json_lines(app: &TestApp) -> Vec<Value> {
    app.logs()
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
            assert!(value.is_object(), "{line}");
            for key in ["timestamp", "level", "event", "logger"] {
                assert!(value.get(key).is_some(), "no {key}: {line}");
            }
            value
        })
        .collect()
}

#[tokio::test]
async fn json_logs_carry_the_request_id_on_every_line_of_a_request() {
    // A model server that refuses connections: the query logs a warning inside the request.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let nowhere = format!("http://{}/v1", closed.local_addr().expect("addr"));
    drop(closed);
    let app = TestApp::spawn_with(&[
        ("LOG_FORMAT", "json"),
        ("LOG_LEVEL", "info,ragd::telemetry=debug"),
        ("RAGD_GENERATOR", "openai"),
        ("OPENAI_BASE_URL", nowhere.as_str()),
        ("OPENAI_API_KEY", "sk-test"),
        ("RAGD_LLM_RETRIES", "0"),
    ])
    .await;
    let token = app.token().await;
    app.upload(&token, &["honeybee-colonies.txt"]).await;
    let response = app
        .post_json(
            &token,
            "/query",
            &json!({"query": "How many eggs can a honeybee queen lay in one day?", "threshold": 0.3}),
        )
        .await;
    assert_eq!(response.status(), 200, "{}", app.logs());
    let id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["model"], "extractive", "{answer}");

    let lines = json_lines(&app);
    let position = |event: &str| {
        lines
            .iter()
            .position(|l| l["event"] == event && l["request_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no {event} line for {id}: {lines:#?}"))
    };
    let (started, completed) = (position("request_started"), position("request_completed"));
    assert!(started < completed);
    let during = &lines[started..=completed];
    for line in during {
        assert_eq!(
            line["request_id"],
            id.as_str(),
            "a line of the request: {line}"
        );
    }
    let warning = during
        .iter()
        .find(|l| l["level"] == "warn")
        .unwrap_or_else(|| panic!("the generator's failure is logged: {during:#?}"));
    assert!(
        warning["event"]
            .as_str()
            .is_some_and(|e| e.contains("generator failed")),
        "{warning}"
    );
    assert_eq!(warning["principal"], "admin", "{warning}");

    let done = &lines[completed];
    assert_eq!(done["level"], "info", "{done}");
    assert_eq!(done["status_code"], 200, "{done}");
    assert!(
        done["processing_time"]
            .as_f64()
            .is_some_and(|t| t > 0.0 && t < 60.0),
        "seconds: {done}"
    );
    assert_eq!(done["http.route"], "/query", "{done}");
    assert_eq!(done["http.method"], "POST", "{done}");
    assert!(!app.logs().contains(&token), "a token in the logs");
}
