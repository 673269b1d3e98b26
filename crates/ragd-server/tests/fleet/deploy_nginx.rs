//! The shipped nginx config (`deploy/nginx/`, issue 15) from a client's side: a fleet behind it
//! (every fleet runs it, see `services.rs`), reached over real TLS with the test CA. Plain HTTP
//! redirects to HTTPS except the probes; login, `/query` and both event streams work through it,
//! the streams event by event; nginx's own refusals (413, 429, 404) are ragd's JSON error body;
//! and ragd counts each client by the address nginx forwards, not by nginx's.
//!
//! The answers are written by the local model (`make llm`): its tokens take seconds, which is
//! what tells an unbuffered stream from one held back until it ends.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ragd_api::ErrorBody;
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::common::root;
use crate::fleet::{Fleet, question_body};

/// The fleet's settings: answers by the local model, kept short; anonymous `GET /stats` counted
/// per client address, 2 an hour, so that the third from one address is refused by ragd (the
/// forwarded-address check).
const ENV: [(&str, &str); 6] = [
    ("RAGD_GENERATOR", "local"),
    ("LLM_MODEL", "qwen2.5-coder-0.5b-instruct"),
    ("LLM_MAX_TOKENS", "64"),
    ("LLM_TEMPERATURE", "0"),
    ("LLM_CONTEXT_TOKENS", "4096"),
    ("RAGD_RATE_LIMITS", "/stats=2/3600"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_nginx_config_fronts_the_fleet_over_https() {
    let model = root().join("models/llm/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
    assert!(
        model.is_file(),
        "the local model is missing: run `make llm`"
    );
    // Address-keyed counters would outlive this fleet in a shared Redis: keys of its own.
    let prefix = format!("ragd-deploy-nginx-{}:", std::process::id());
    let mut env = ENV.to_vec();
    env.push(("RAGD_REDIS_PREFIX", &prefix));
    let Some(fleet) = Fleet::start(&env).await else {
        return;
    };
    plain_http_redirects_reads_and_refuses_writes(&fleet).await;
    let admin = fleet.token().await;
    fleet.upload_corpus(&admin, &["tides-and-moon.txt"]).await;
    a_query_is_answered_over_https(&fleet, &admin).await;

    both_streams_arrive_event_by_event(&fleet, &admin).await;
    metrics_are_not_public(&fleet).await;
    bodies_are_limited_per_route(&fleet, &admin).await;
    ragd_counts_clients_by_the_forwarded_address(&fleet).await;
    floods_get_ragds_429(&fleet).await;
    login_floods_are_cut_shorter(&fleet).await;
}

/// A client that trusts the test CA, follows no redirect, and connects from `127.0.0.N`.
fn client_from(fleet: &Fleet, n: u8) -> reqwest::Client {
    fleet
        .nginx
        .client_builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// An error nginx wrote itself: ragd's error body (`ErrorBody` parses it, timestamp included)
/// with `code`, its request id also in `X-Request-ID`, the security headers, and none of ragd's
/// quota headers (ragd never saw the request).
async fn nginx_error(r: Response, status: u16, code: &str) -> ErrorBody {
    assert_eq!(r.status(), status, "{:?}", r.headers());
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        header(&r, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(header(&r, "x-ratelimit-limit"), None, "ragd answered");
    if r.url().scheme() == "https" {
        assert!(header(&r, "strict-transport-security").is_some());
    }
    let id = header(&r, "x-request-id").expect("X-Request-ID");
    let body: ErrorBody = r.json().await.expect("ragd's error body");
    assert_eq!(body.error, code, "{body:?}");
    assert_eq!(body.request_id, id);
    body
}

async fn plain_http_redirects_reads_and_refuses_writes(fleet: &Fleet) {
    let client = client_from(fleet, 1);
    let r = client
        .get(format!("{}/documents?limit=1", fleet.nginx.plain))
        .send()
        .await
        .expect("GET over HTTP");
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    let expected = format!("{}/documents?limit=1", fleet.nginx.base);
    assert_eq!(header(&r, "location"), Some(expected));
    assert_eq!(
        header(&r, "strict-transport-security"),
        None,
        "HSTS over HTTP"
    );
    let r = client
        .post(format!("{}/query", fleet.nginx.plain))
        .json(&question_body("tides"))
        .send()
        .await
        .expect("POST over HTTP");
    nginx_error(r, 403, "forbidden").await;
    for probe in ["/health/live", "/health/ready"] {
        let r = client
            .get(format!("{}{probe}", fleet.nginx.plain))
            .send()
            .await
            .expect("probe over HTTP");
        assert_eq!(r.status(), 200, "{probe} over plain HTTP");
    }
}

async fn a_query_is_answered_over_https(fleet: &Fleet, admin: &str) {
    let r = fleet
        .client
        .post(fleet.url("/query"))
        .bearer_auth(admin)
        .header("x-request-id", "deploy-nginx-query-1")
        .json(&question_body("What causes spring tides?"))
        .send()
        .await
        .expect("POST /query");
    assert_eq!(r.status(), 200);
    assert_eq!(r.url().scheme(), "https");
    assert_eq!(header(&r, "server").as_deref(), Some("nginx"), "no version");
    assert_eq!(
        header(&r, "strict-transport-security").as_deref(),
        Some("max-age=31536000")
    );
    // The id reached ragd, which kept it: one id in the client's, nginx's and ragd's records.
    assert_eq!(
        header(&r, "x-request-id").as_deref(),
        Some("deploy-nginx-query-1")
    );
    let answer: Value = r.json().await.expect("json");
    assert_eq!(
        answer["sources"][0]["metadata"]["source"], "tides-and-moon.txt",
        "{answer}"
    );
    assert!(answer["answer"].as_str().is_some_and(|a| !a.is_empty()));
    let entry = logged_request(fleet, "deploy-nginx-query-1").await;
    assert_eq!(entry["upstream_status"], "200", "{entry}");
}

/// The line of nginx's access log for the request with id `id`, as JSON. nginx writes it once
/// the response is out, so it may come a moment after the client has the answer.
async fn logged_request(fleet: &Fleet, id: &str) -> Value {
    let needle = format!("\"request_id\":\"{id}\"");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let logged = fleet.nginx.access_log();
        if let Some(line) = logged.lines().find(|l| l.contains(&needle)) {
            return serde_json::from_str(line).expect("a JSON log line");
        }
        assert!(
            Instant::now() < deadline,
            "{id} not in nginx's access log:\n{logged}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `/query/stream` (sources, tokens, done) and the streamed `/v1/chat/completions`.
async fn both_streams_arrive_event_by_event(fleet: &Fleet, admin: &str) {
    let question =
        json!({"query": "What causes spring tides?", "threshold": 0.3, "max_results": 3});
    let events = arrives_event_by_event(fleet, admin, "/query/stream", &question).await;
    assert_eq!(
        events.first().map(String::as_str),
        Some("sources"),
        "{events:?}"
    );
    assert_eq!(
        events.last().map(String::as_str),
        Some("done"),
        "{events:?}"
    );
    // The model itself (no retrieval, so no long prompt to read first), on a question whose
    // answer outlasts the token budget: ragd holds back the last 64 bytes of a chat reply (PII
    // redaction as it streams), so the reply needs a few hundred bytes to come in pieces.
    let prompt = "List twenty countries of Europe, one per line.";
    let chat = json!({"model": "qwen2.5-coder-0.5b-instruct", "stream": true, "max_tokens": 64,
        "messages": [{"role": "user", "content": prompt}]});
    let chunks = arrives_event_by_event(fleet, admin, "/v1/chat/completions", &chat).await;
    assert_eq!(
        chunks.last().map(String::as_str),
        Some("[DONE]"),
        "{chunks:?}"
    );
}

/// Posts `body` to `path` and reads the event stream as it arrives: the names of its events
/// (the `data` of unnamed ones). The first event must arrive well before the stream ends,
/// while the model is still writing, and the tokens in several reads: a buffering proxy
/// delivers it all at the end.
async fn arrives_event_by_event(
    fleet: &Fleet,
    token: &str,
    path: &str,
    body: &Value,
) -> Vec<String> {
    let sent = Instant::now();
    let mut r = fleet
        .client
        .post(fleet.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200, "{path}");
    let kind = header(&r, "content-type").unwrap_or_default();
    assert!(kind.starts_with("text/event-stream"), "{path}: {kind}");
    let (mut text, mut first, mut reads_with_events) = (String::new(), None, 0);
    while let Some(chunk) = r.chunk().await.expect("stream") {
        let before = text.matches("\n\n").count();
        text.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        if text.matches("\n\n").count() > before {
            reads_with_events += 1;
            first.get_or_insert(sent.elapsed());
        }
    }
    let ended = sent.elapsed();
    let first = first.expect("an event");
    eprintln!(
        "{path}: first event after {first:?}, end after {ended:?}, {reads_with_events} reads"
    );
    assert!(
        ended.saturating_sub(first) >= Duration::from_millis(500),
        "{path}: the first event came {first:?} after the request, the end {ended:?}: held back"
    );
    assert!(reads_with_events >= 3, "{path}: {reads_with_events} reads");
    event_names(&text)
}

/// The name of each event of `text`, or its data when it has none (`[DONE]`); keep-alive
/// comments, which carry no data, are left out.
fn event_names(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|block| {
            let field = |prefix: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(prefix))
                    .map(|v| v.trim().to_owned())
            };
            let data = field("data:")?;
            Some(field("event:").unwrap_or(data))
        })
        .collect()
}

async fn metrics_are_not_public(fleet: &Fleet) {
    let r = fleet
        .client
        .get(fleet.url("/metrics"))
        .send()
        .await
        .expect("GET");
    nginx_error(r, 404, "not_found").await;
    // The instances still serve them, for a scraper on the inside.
    let r = fleet
        .client
        .get(fleet.nodes[0].url("/metrics"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
}

/// 1 MiB for JSON (RAGD_MAX_JSON_BYTES), refused by nginx before ragd reads a byte; 256 MiB on
/// the upload route (RAGD_MAX_UPLOAD_BYTES), where 1.5 MB reaches ragd.
async fn bodies_are_limited_per_route(fleet: &Fleet, admin: &str) {
    let big = "tides ".repeat(250_000);
    let r = fleet
        .client
        .post(fleet.url("/query"))
        .bearer_auth(admin)
        .header("x-request-id", "deploy-nginx-413")
        .json(&question_body(&big))
        .send()
        .await
        .expect("POST /query");
    nginx_error(r, 413, "payload_too_large").await;
    let entry = logged_request(fleet, "deploy-nginx-413").await;
    assert_eq!(entry["upstream"], "", "sent to ragd: {entry}");

    // ragd reads the whole file, then refuses the form for its unknown field, so the 1.5 MB
    // are not ingested.
    let form = Form::new()
        .part("file", Part::bytes(big.into_bytes()).file_name("big.txt"))
        .text("bogus", "x");
    let r = fleet
        .client
        .post(fleet.url("/documents"))
        .bearer_auth(admin)
        .multipart(form)
        .send()
        .await
        .expect("POST /documents");
    assert_eq!(r.status(), 422, "the upload did not reach ragd");
    let body: ErrorBody = r.json().await.expect("json");
    assert!(
        body.details
            .is_some_and(|d| d.to_string().contains("bogus")),
        "ragd's answer on the form"
    );
}

/// `GET /stats` without credentials from `client`: its status and `X-RateLimit-Remaining`.
async fn anonymous_stats(fleet: &Fleet, client: &reqwest::Client, spoof: Option<&str>) -> String {
    let mut request = client.get(fleet.url("/stats"));
    if let Some(address) = spoof {
        request = request.header("x-forwarded-for", address);
    }
    let r = request.send().await.expect("GET /stats");
    let remaining = header(&r, "x-ratelimit-remaining").unwrap_or_default();
    format!("{} {remaining}", r.status().as_u16())
}

/// nginx reaches every instance from 127.0.0.1 (RAGD_TRUSTED_PROXIES), whoever the client is:
/// only X-Forwarded-For tells ragd the clients apart. Quota: 2 anonymous `/stats` an hour.
async fn ragd_counts_clients_by_the_forwarded_address(fleet: &Fleet) {
    let (first, second, third) = (
        client_from(fleet, 2),
        client_from(fleet, 3),
        client_from(fleet, 4),
    );
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(anonymous_stats(fleet, &first, None).await);
    }
    assert_eq!(seen, ["401 1", "401 0", "429 0"], "127.0.0.2");
    assert_eq!(
        anonymous_stats(fleet, &second, None).await,
        "401 1",
        "127.0.0.3"
    );
    // A client naming another address is still counted as itself: nginx appends the address it
    // saw, and ragd believes the right-most entry that is not a trusted proxy.
    let spoofed = anonymous_stats(fleet, &third, Some("127.0.0.2")).await;
    assert_eq!(spoofed, "401 1", "127.0.0.4 claiming to be 127.0.0.2");
}

/// `ragd_api`: 20 requests a second per address, bursts of 40. 150 at once from one address:
/// the burst passes, the excess gets nginx's 429 in ragd's body; another address is untouched.
async fn floods_get_ragds_429(fleet: &Fleet) {
    let client = client_from(fleet, 5);
    let url = fleet.url("/health/live");
    let answers: Vec<Response> = futures_util::stream::iter(0..150)
        .map(|_| client.get(&url).send())
        .buffer_unordered(30)
        .map(|r| r.expect("GET /health/live"))
        .collect()
        .await;
    let (mut passed, mut refused) = (0, Vec::new());
    for r in answers {
        match r.status().as_u16() {
            200 => passed += 1,
            429 => refused.push(r),
            other => panic!("{other} in a flood"),
        }
    }
    eprintln!("flood: {passed} passed, {} refused", refused.len());
    assert!(passed >= 40, "{passed} of 150 passed: the burst is 40");
    let r = refused.pop().expect("a 429");
    assert_eq!(header(&r, "retry-after").as_deref(), Some("1"));
    nginx_error(r, 429, "rate_limit_exceeded").await;
    let other = client_from(fleet, 6).get(&url).send().await.expect("GET");
    assert_eq!(other.status(), 200, "another address");
}

/// `ragd_login`: 20 a minute per address, bursts of 10, on top of `ragd_api`. 30 logins at once
/// (without a password: ragd refuses them without hashing) pass 11 or so; the API zone alone
/// would pass them all.
async fn login_floods_are_cut_shorter(fleet: &Fleet) {
    let client = client_from(fleet, 7);
    let url = fleet.url("/auth/login");
    let answers: Vec<Response> = futures_util::stream::iter(0..30)
        .map(|_| client.post(&url).form(&[("username", "nobody")]).send())
        .buffer_unordered(30)
        .map(|r| r.expect("POST /auth/login"))
        .collect()
        .await;
    let (mut refused, mut passed) = (Vec::new(), 0);
    for r in answers {
        if r.status() == 429 {
            refused.push(r);
        } else {
            assert!(r.status().is_client_error(), "{}", r.status());
            passed += 1;
        }
    }
    eprintln!("login flood: {passed} passed, {} refused", refused.len());
    assert!((1..=15).contains(&passed), "{passed} of 30 logins passed");
    let r = refused.pop().expect("a 429");
    assert_eq!(header(&r, "retry-after").as_deref(), Some("3"));
    nginx_error(r, 429, "rate_limit_exceeded").await;
}
