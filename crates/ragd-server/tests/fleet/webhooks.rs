//! Webhooks in a fleet: three instances claim deliveries from one PostgreSQL outbox (`FOR UPDATE
//! SKIP LOCKED`), so questions asked of every instance reach the receiver once each.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fleet::Fleet;
use crate::receiver::{Receiver, body, of_type};

#[tokio::test]
async fn each_event_is_delivered_once_whichever_instance_claims_it() {
    let receiver = Receiver::start(&[]);
    let Some(fleet) = Fleet::start(&[
        ("RAGD_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8"),
        ("RAGD_WEBHOOK_BACKOFF_MS", "100"),
    ])
    .await
    else {
        return;
    };
    let admin = fleet.token().await;
    let r = fleet
        .client
        .post(fleet.url("/webhooks/register"))
        .bearer_auth(&admin)
        .json(&json!({"url": receiver.url(), "events": ["query_completed", "document_ingested"]}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 200, "register through nginx");
    fleet.upload_corpus(&admin, &["tides-and-moon.txt"]).await;
    let mut asked = Vec::new();
    for round in 0..10 {
        for node in &fleet.nodes {
            let r = fleet
                .query(
                    &node.base,
                    &admin,
                    &format!("What causes spring tides? {round}"),
                )
                .await;
            assert_eq!(r.status(), 200);
            asked.push(r.headers()["x-request-id"].to_str().expect("id").to_owned());
        }
    }
    receiver
        .wait_for(Duration::from_secs(30), "30 questions", |got| {
            of_type(got, "query_completed").len() >= asked.len()
        })
        .await;
    // Let any duplicate arrive before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = receiver.received();
    let completed = of_type(&got, "query_completed");
    assert_eq!(completed.len(), asked.len(), "each once: {got:#?}");
    for id in &asked {
        assert!(
            completed
                .iter()
                .any(|d| body(d)["request_id"] == id.as_str()),
            "{id} not delivered"
        );
    }
    assert_eq!(of_type(&got, "document_ingested").len(), 1, "{got:#?}");
    let deliverers: Vec<Value> = got
        .iter()
        .map(|d| d["headers"]["user-agent"].clone())
        .collect();
    assert!(
        deliverers
            .iter()
            .all(|a| a.as_str().is_some_and(|a| a.starts_with("ragd-webhooks/")))
    );
}
