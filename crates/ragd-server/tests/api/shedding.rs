//! Load shedding (`RAGD_QUEUE_BUDGET_MS`): under more distinct questions than the model can
//! answer within the budget, the excess is refused at once with 503 + `Retry-After` and a JSON
//! error, the rest are answered, and `rag_requests_shed_total` counts the refused ones (not
//! logged as failed queries).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestApp, error_body};

/// `rag_requests_shed_total` as `/metrics` shows it (0 before the first refusal).
async fn shed_total(app: &TestApp) -> f64 {
    app.metric_sum("rag_requests_shed_total{").await
}

/// Sends `n` distinct questions at once; returns each response's status, `Retry-After` and
/// time, and the refused responses' bodies checked as error envelopes.
async fn flood(app: &TestApp, token: &str, n: usize) -> (usize, usize, Vec<Duration>) {
    let requests = (0..n).map(|i| {
        let request = app
            .client
            .post(app.url("/query"))
            .bearer_auth(token)
            // Distinct questions: the question cache is off anyway, and none repeats.
            .json(&json!({"query": format!("how long does dough number {i} rise at {} degrees?", 20 + i), "threshold": 0.3}));
        async move {
            let started = Instant::now();
            let r = request.send().await.expect("query");
            let took = started.elapsed();
            match r.status().as_u16() {
                200 => (true, took),
                503 => {
                    let after: u64 = r
                        .headers()
                        .get("retry-after")
                        .expect("a shed request has Retry-After")
                        .to_str()
                        .expect("ascii")
                        .parse()
                        .expect("Retry-After in seconds");
                    assert!(after >= 1, "Retry-After {after}");
                    let body = error_body(r, 503, "service_unavailable").await;
                    assert!(
                        body["message"].as_str().is_some_and(|m| m.contains("busy")),
                        "{body}"
                    );
                    (false, took)
                }
                other => panic!("unexpected status {other}: {}", r.text().await.unwrap_or_default()),
            }
        }
    });
    let outcomes = futures_util::future::join_all(requests).await;
    let answered = outcomes.iter().filter(|(ok, _)| *ok).count();
    let shed_times = outcomes
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, t)| *t)
        .collect();
    (answered, n - answered, shed_times)
}

#[tokio::test]
async fn questions_over_the_budget_are_shed_at_once_and_counted() {
    // A 1 ms budget: past the few questions always admitted, every one is over it.
    let app = TestApp::spawn_with(&[
        ("RAGD_QUEUE_BUDGET_MS", "1"),
        ("RAGD_QUERY_CACHE", "0"),
        ("RAGD_EMBED_THREADS", "1"),
    ])
    .await;
    let token = app.token().await;
    app.upload(&token, &["sourdough-bread.md"]).await;
    // One question alone measures how fast questions are answered; it is never shed.
    let r = app
        .post_json(
            &token,
            "/query",
            &json!({"query": "How long should sourdough ferment?"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(shed_total(&app).await, 0.0);

    let (answered, shed, shed_times) = flood(&app, &token, 64).await;
    assert!(answered >= 1, "some questions are answered");
    assert!(
        shed >= 1,
        "64 questions at once over a 1 ms budget: none was shed"
    );
    assert_eq!(
        shed_total(&app).await,
        shed as f64,
        "the metric counts every shed request"
    );
    // Shed at once: before any work, so far faster than the answered ones' wait.
    let slowest = shed_times.iter().max().expect("one shed");
    assert!(
        *slowest < Duration::from_secs(2),
        "a shed request took {slowest:?}"
    );

    // A shed question is not a failed one: no `query_failed` error line (nor webhook event)
    // per refusal, so an overload does not flood the log.
    assert!(
        !app.logs().contains("query_failed"),
        "shed questions logged as failed"
    );

    // Once the queue drained, a question is answered again.
    let r = app
        .post_json(
            &token,
            "/query",
            &json!({"query": "What flour does sourdough need?"}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn without_a_budget_every_question_is_answered() {
    let app = TestApp::spawn_with(&[
        ("RAGD_QUEUE_BUDGET_MS", "0"),
        ("RAGD_QUERY_CACHE", "0"),
        ("RAGD_EMBED_THREADS", "1"),
    ])
    .await;
    let token = app.token().await;
    app.upload(&token, &["sourdough-bread.md"]).await;
    let (answered, shed, _) = flood(&app, &token, 64).await;
    assert_eq!((answered, shed), (64, 0));
    assert_eq!(shed_total(&app).await, 0.0);
}
