//! Webhooks against real receivers on loopback (`webhook_receiver.py`, which checks signatures
//! with the README's recipe): signed events of the tenant only, retries until a failing receiver
//! recovers, dead letters for one that never answers, no event lost over kill -9, the SSRF guard,
//! and the API's rules. Runs on SQLite, and on PostgreSQL under `RAGD_TEST_STORE=postgres`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body};
use crate::receiver::{Receiver, body, of_type};

const SECRET: &str = "chapter-webhook-secret";

/// Fast retries, and loopback allowed (the receivers run there).
pub(crate) const FAST: [(&str, &str); 4] = [
    ("RAGD_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8"),
    ("RAGD_WEBHOOK_BACKOFF_MS", "100"),
    ("RAGD_WEBHOOK_MAX_BACKOFF_SECS", "1"),
    ("RAGD_WEBHOOK_TIMEOUT_SECS", "2"),
];

async fn register(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post_json(token, "/webhooks/register", &body).await;
    assert_eq!(r.status(), 200, "register {body}: {}", app.logs());
    let got: Value = r.json().await.expect("json");
    assert_eq!(got["status"], "registered", "{got}");
    got["webhook_id"].as_str().expect("webhook_id").to_owned()
}

async fn ask(app: &TestApp, token: &str, query: &str) -> String {
    let r = app
        .post_json(token, "/query", &json!({"query": query, "threshold": 0.3}))
        .await;
    assert_eq!(r.status(), 200, "query");
    r.headers()["x-request-id"]
        .to_str()
        .expect("request id")
        .to_owned()
}

async fn deliveries(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let got = app
        .get_json(token, &format!("/webhooks/{id}/deliveries"))
        .await;
    got.as_array().expect("list").clone()
}

#[tokio::test]
async fn signed_events_of_the_tenant_reach_its_webhook_and_verify() {
    let receiver = Receiver::start(&["--secret", SECRET]);
    let app = TestApp::spawn_with(&FAST).await;
    let admin = app.token().await;
    let id = register(
        &app,
        &admin,
        json!({"url": receiver.url(), "secret": SECRET, "events": [
            "query_completed", "query_failed", "document_ingested", "document_deleted",
            "ingestion_failed"]}),
    )
    .await;

    // Secrets are never shown again.
    for path in ["/webhooks".to_owned(), format!("/webhooks/{id}")] {
        let text = app.get(&admin, &path).await.text().await.expect("text");
        assert!(!text.contains(SECRET), "{path} shows the secret: {text}");
        assert!(text.contains("\"has_secret\":true"), "{text}");
    }

    let uploaded = app.upload(&admin, &["tides-and-moon.txt"]).await;
    let document_id = uploaded["files"][0]["document_id"]
        .as_str()
        .or_else(|| uploaded["document_ids"][0].as_str())
        .map(str::to_owned);
    let request_id = ask(&app, &admin, "What causes spring tides?").await;
    let got = receiver
        .wait_for(Duration::from_secs(20), "ingested + completed", |got| {
            !of_type(got, "document_ingested").is_empty()
                && !of_type(got, "query_completed").is_empty()
        })
        .await;
    for delivery in &got {
        assert_eq!(delivery["chapter_signature_ok"], true, "{delivery}");
        assert_eq!(delivery["standard_signature_ok"], true, "{delivery}");
        let headers = &delivery["headers"];
        assert!(
            headers["x-webhook-signature"]
                .as_str()
                .is_some_and(|s| s.starts_with("sha256=")),
            "{headers}"
        );
        assert!(
            headers["webhook-id"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        assert!(headers["webhook-timestamp"].as_str().is_some());
        assert_eq!(headers["content-type"], "application/json");
    }
    let completed = body(of_type(&got, "query_completed")[0]);
    assert_eq!(completed["request_id"], request_id.as_str(), "{completed}");
    assert_eq!(completed["data"]["query"], "What causes spring tides?");
    assert!(completed["data"]["confidence"].is_number(), "{completed}");
    assert!(completed["timestamp"].as_str().is_some(), "{completed}");
    let ingested = body(of_type(&got, "document_ingested")[0]);
    assert_eq!(
        ingested["data"]["source"], "tides-and-moon.txt",
        "{ingested}"
    );
    assert!(
        ingested["data"]["chunks"].as_u64().unwrap_or(0) > 0,
        "{ingested}"
    );

    // A question through the OpenAI-compatible API is a query_completed too.
    let chat = json!({"model": "ragd", "messages": [{"role": "user", "content": "What causes neap tides?"}]});
    let r = app.post_json(&admin, "/v1/chat/completions", &chat).await;
    assert_eq!(r.status(), 200);
    let chat_request = r.headers()["x-request-id"].to_str().expect("id").to_owned();
    let streamed = json!({"model": "ragd", "stream": true,
        "messages": [{"role": "user", "content": "What is a king tide?"}]});
    let r = app
        .post_json(&admin, "/v1/chat/completions", &streamed)
        .await;
    assert_eq!(r.status(), 200);
    let streamed_request = r.headers()["x-request-id"].to_str().expect("id").to_owned();
    let text = r.text().await.expect("the stream");
    assert!(text.contains("[DONE]"), "{text}");
    receiver
        .wait_for(Duration::from_secs(20), "the chats' events", |got| {
            let completed = of_type(got, "query_completed");
            [&chat_request, &streamed_request].iter().all(|id| {
                completed
                    .iter()
                    .any(|d| body(d)["request_id"] == id.as_str())
            })
        })
        .await;

    // Deleting the document sends document_deleted.
    let doc = document_id.unwrap_or_else(|| {
        ingested["data"]["document_id"]
            .as_str()
            .expect("id")
            .to_owned()
    });
    assert_eq!(
        app.delete(&admin, &format!("/documents/{doc}"))
            .await
            .status(),
        204
    );
    receiver
        .wait_for(Duration::from_secs(20), "deleted", |got| {
            !of_type(got, "document_deleted").is_empty()
        })
        .await;

    // A file that cannot be ingested: ingestion_failed, from an upload and from a job.
    for (path, name) in [
        ("/documents", "broken.pdf"),
        ("/documents?async=true", "broken-job.pdf"),
    ] {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"%PDF-1.7 not really".to_vec()).file_name(name),
        );
        let status = app.upload_form(&admin, path, form).await.status();
        assert!([200, 202].contains(&status.as_u16()), "{path}: {status}");
    }
    let got = receiver
        .wait_for(Duration::from_secs(30), "ingestion_failed", |got| {
            of_type(got, "ingestion_failed").len() >= 2
        })
        .await;
    let failed: Vec<Value> = of_type(&got, "ingestion_failed")
        .into_iter()
        .map(body)
        .collect();
    let sync = failed
        .iter()
        .find(|b| b["data"]["source"] == "broken.pdf")
        .expect("sync");
    assert!(sync["data"]["job_id"].is_null(), "{sync}");
    assert!(
        sync["data"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{sync}"
    );
    let job = failed
        .iter()
        .find(|b| b["data"]["source"] == "broken-job.pdf")
        .expect("job");
    assert!(
        job["data"]["job_id"]
            .as_str()
            .is_some_and(|j| !j.is_empty()),
        "{job}"
    );
    assert_eq!(job["request_id"], job["data"]["job_id"], "{job}");

    // Another tenant's questions never reach this tenant's webhook.
    let platform = admin.clone();
    assert_eq!(
        app.post_json(&platform, "/tenants", &json!({"name": "acme"}))
            .await
            .status(),
        201
    );
    let ana = json!({"username": "ana", "password": "ana-long-password", "role": "admin", "tenant": "acme"});
    let ana = app.user_token(&platform, &ana).await;
    let before = of_type(&receiver.received(), "query_completed").len();
    ask(&app, &ana, "What causes spring tides?").await;
    // acme's own webhook gets acme's events, and is the only one that does.
    let acme_receiver = Receiver::start(&[]);
    register(
        &app,
        &ana,
        json!({"url": acme_receiver.url(), "events": ["query_completed"]}),
    )
    .await;
    error_body(
        app.get(&ana, &format!("/webhooks/{id}")).await,
        404,
        "not_found",
    )
    .await;
    let acme_request = ask(&app, &ana, "What causes neap tides?").await;
    let acme_got = acme_receiver
        .wait_for(Duration::from_secs(20), "acme's event", |got| {
            !got.is_empty()
        })
        .await;
    assert_eq!(body(&acme_got[0])["request_id"], acme_request.as_str());
    assert_eq!(acme_got[0]["chapter_signature_ok"], Value::Null, "unsigned");
    assert!(acme_got[0]["headers"]["x-webhook-signature"].is_null());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        of_type(&receiver.received(), "query_completed").len(),
        before,
        "the default tenant's webhook received acme's questions"
    );

    // The deliveries endpoint shows what was delivered.
    let log = deliveries(&app, &admin, &id).await;
    assert!(
        log.iter()
            .any(|d| d["event_type"] == "query_completed" && d["status"] == "delivered"),
        "{log:#?}"
    );
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_gets_the_event_once_it_recovers() {
    let receiver = Receiver::start(&["--fail-first", "3"]);
    let app = TestApp::spawn_with(&FAST).await;
    let admin = app.token().await;
    let id = register(
        &app,
        &admin,
        json!({"url": receiver.url(), "events": ["query_completed"]}),
    )
    .await;
    let request_id = ask(&app, &admin, "What causes spring tides?").await;
    let got = receiver
        .wait_for(Duration::from_secs(30), "4 attempts", |got| got.len() >= 4)
        .await;
    let statuses: Vec<i64> = got.iter().filter_map(|d| d["status"].as_i64()).collect();
    assert_eq!(statuses, [500, 500, 500, 200], "{got:#?}");
    let ids: Vec<&str> = got
        .iter()
        .filter_map(|d| d["headers"]["webhook-id"].as_str())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "one event, one id: {ids:?}"
    );
    assert_eq!(body(&got[3])["request_id"], request_id.as_str());
    // Backoff: the attempts were spread out, not sent in one burst.
    let times: Vec<i64> = got
        .iter()
        .filter_map(|d| d["received_ms"].as_i64())
        .collect();
    assert!(times[3] - times[0] >= 150, "no backoff: {times:?}");
    // Recorded as delivered after 4 attempts.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = deliveries(&app, &admin, &id).await;
        if log[0]["status"] == "delivered" {
            assert_eq!(log[0]["attempts"], 4, "{log:#?}");
            assert_eq!(log[0]["last_status"], 200, "{log:#?}");
            break;
        }
        assert!(Instant::now() < deadline, "{log:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received().len(),
        4,
        "delivered again after success"
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_ends_in_the_dead_letters() {
    let receiver = Receiver::start(&["--hang"]);
    let mut env = FAST.to_vec();
    env.extend([
        ("RAGD_WEBHOOK_TIMEOUT_SECS", "1"),
        ("RAGD_WEBHOOK_MAX_ATTEMPTS", "3"),
        ("ENABLE_METRICS", "true"),
    ]);
    let app = TestApp::spawn_with(&env).await;
    let admin = app.token().await;
    let id = register(
        &app,
        &admin,
        json!({"url": receiver.url(), "events": ["query_completed", "query_failed"]}),
    )
    .await;
    ask(&app, &admin, "What causes spring tides?").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let log = deliveries(&app, &admin, &id).await;
        if log.first().is_some_and(|d| d["status"] == "dead") {
            break log[0].clone();
        }
        assert!(Instant::now() < deadline, "no dead letter: {log:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(dead["attempts"], 3, "{dead}");
    assert!(
        dead["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("RAGD_WEBHOOK_TIMEOUT_SECS")),
        "{dead}"
    );
    assert!(dead["finished_at"].is_string(), "{dead}");
    assert_eq!(
        receiver.received().len(),
        3,
        "3 attempts reached the receiver"
    );
    let dead_only = app
        .get_json(&admin, &format!("/webhooks/{id}/deliveries?status=dead"))
        .await;
    assert_eq!(dead_only.as_array().map(Vec::len), Some(1), "{dead_only}");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rag_webhook_deliveries_total{outcome=\"dead\"} 1")),
        "{metrics}"
    );
}

#[tokio::test]
async fn no_event_is_lost_when_the_server_is_killed_between_enqueue_and_delivery() {
    // The first receiver always fails, so the events stay queued while the server is killed.
    let failing = Receiver::start(&["--status", "503"]);
    let mut env = FAST.to_vec();
    env.extend([
        ("RAGD_WEBHOOK_MAX_ATTEMPTS", "100"),
        ("RAGD_WEBHOOK_TIMEOUT_SECS", "1"),
    ]);
    let mut app = TestApp::spawn_with(&env).await;
    let admin = app.token().await;
    let id = register(
        &app,
        &admin,
        json!({"url": failing.url(), "events": ["query_completed"]}),
    )
    .await;
    let mut request_ids = Vec::new();
    for n in 0..20 {
        let token = app.token().await;
        request_ids.push(ask(&app, &token, &format!("What causes spring tides? ({n})")).await);
        let (_, _, data) = app.kill_9();
        app = TestApp::spawn_in(data, &env).await;
    }
    let working = Receiver::start(&[]);
    let admin = app.token().await;
    let r = app
        .client
        .patch(app.url(&format!("/webhooks/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"url": working.url()}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(r.status(), 200);
    let got = working
        .wait_for(Duration::from_secs(60), "all 20 events", |got| {
            request_ids
                .iter()
                .all(|id| got.iter().any(|d| body(d)["request_id"] == id.as_str()))
        })
        .await;
    let mut ids: Vec<&str> = got
        .iter()
        .filter_map(|d| d["headers"]["webhook-id"].as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20, "each event once: {got:#?}");
}

#[tokio::test]
async fn urls_into_internal_networks_are_refused() {
    let receiver = Receiver::start(&[]);
    let app = TestApp::spawn().await;
    let admin = app.token().await;
    for url in [
        receiver.url(),
        "http://localhost:9/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.1.2.3/hook".to_owned(),
        "http://[::1]:9/hook".to_owned(),
        "http://[::ffff:127.0.0.1]:9/hook".to_owned(),
        "http://2130706433/hook".to_owned(),
        "ftp://example.com/hook".to_owned(),
        "http://user:pass@example.com/hook".to_owned(),
        "not a url".to_owned(),
    ] {
        let r = app
            .post_json(
                &admin,
                "/webhooks/register",
                &json!({"url": url, "events": ["query_completed"]}),
            )
            .await;
        let body = error_body(r, 422, "validation_error").await;
        assert_eq!(body["details"][0]["field"], "url", "{url}: {body}");
    }
    assert_eq!(app.get_json(&admin, "/webhooks").await, json!([]));
}

#[tokio::test]
async fn webhooks_are_managed_by_tenant_admins_with_clear_errors() {
    let receiver = Receiver::start(&[]);
    let mut env = FAST.to_vec();
    env.push(("RAGD_WEBHOOK_MAX_PER_TENANT", "2"));
    let app = TestApp::spawn_with(&env).await;
    let admin = app.token().await;
    let bad = [
        (json!({"events": ["query_completed"]}), "url"),
        (json!({"url": receiver.url()}), "events"),
        (json!({"url": receiver.url(), "events": []}), "events"),
        (
            json!({"url": receiver.url(), "events": ["query_done"]}),
            "events",
        ),
        (
            json!({"url": receiver.url(), "events": "query_completed"}),
            "events",
        ),
        (
            json!({"url": receiver.url(), "events": ["query_completed"], "secret": ""}),
            "secret",
        ),
        (
            json!({"url": receiver.url(), "events": ["query_completed"], "secret": "whsec_***"}),
            "secret",
        ),
        (
            json!({"url": receiver.url(), "events": ["query_completed"], "extra": 1}),
            "extra",
        ),
    ];
    for (body, field) in bad {
        let r = app.post_json(&admin, "/webhooks/register", &body).await;
        let err = error_body(r, 422, "validation_error").await;
        assert_eq!(err["details"][0]["field"], field, "{body}: {err}");
    }
    let id = register(
        &app,
        &admin,
        json!({"url": receiver.url(), "events": ["query_completed", "query_completed"], "secret": SECRET}),
    )
    .await;
    let got = app.get_json(&admin, &format!("/webhooks/{id}")).await;
    assert_eq!(got["events"], json!(["query_completed"]), "{got}");
    assert_eq!(got["active"], true);
    assert_eq!(got["owner"], "admin");

    // Change: events, secret removed, turned off and on.
    let patch = |body: Value| {
        app.client
            .patch(app.url(&format!("/webhooks/{id}")))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let changed: Value = patch(json!({"events": ["document_ingested"], "secret": ""}))
        .await
        .expect("PATCH")
        .json()
        .await
        .expect("json");
    assert_eq!(changed["events"], json!(["document_ingested"]), "{changed}");
    assert_eq!(changed["has_secret"], false, "{changed}");
    let off: Value = patch(json!({"active": false}))
        .await
        .expect("PATCH")
        .json()
        .await
        .expect("json");
    assert_eq!(off["active"], false);

    // A test delivery goes out even to an inactive webhook? No: turned off means nothing is
    // sent; it is queued and sent once the webhook is on again.
    let r = app
        .post_json(&admin, &format!("/webhooks/{id}/test"), &json!({}))
        .await;
    assert_eq!(r.status(), 202);
    let queued: Value = r.json().await.expect("json");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(receiver.received().is_empty(), "sent while off");
    patch(json!({"active": true})).await.expect("PATCH");
    let got = receiver
        .wait_for(Duration::from_secs(20), "test event", |got| !got.is_empty())
        .await;
    assert_eq!(body(&got[0])["event_type"], "webhook_test");
    assert_eq!(got[0]["headers"]["webhook-id"], queued["delivery_id"]);

    // Bounds and errors.
    register(
        &app,
        &admin,
        json!({"url": receiver.url(), "events": ["query_failed"]}),
    )
    .await;
    let r = app
        .post_json(
            &admin,
            "/webhooks/register",
            &json!({"url": receiver.url(), "events": ["query_failed"]}),
        )
        .await;
    error_body(r, 409, "conflict").await;
    error_body(app.get(&admin, "/webhooks/wh_nope").await, 404, "not_found").await;
    let r = app
        .get(&admin, &format!("/webhooks/{id}/deliveries?status=lost"))
        .await;
    error_body(r, 422, "validation_error").await;
    let r = app
        .get(&admin, &format!("/webhooks/{id}/deliveries?limit=0"))
        .await;
    error_body(r, 422, "validation_error").await;

    // Members of the tenant may not manage its webhooks.
    let joe = json!({"username": "joe", "password": "joe-long-password", "role": "member"});
    let joe = app.user_token(&admin, &joe).await;
    error_body(app.get(&joe, "/webhooks").await, 403, "forbidden").await;

    assert_eq!(
        app.delete(&admin, &format!("/webhooks/{id}"))
            .await
            .status(),
        204
    );
    error_body(
        app.get(&admin, &format!("/webhooks/{id}/deliveries")).await,
        404,
        "not_found",
    )
    .await;
}
