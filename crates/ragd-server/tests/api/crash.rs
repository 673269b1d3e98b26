//! Crash safety: `kill -9` a server in the middle of ingestion, 50 times at random points, on
//! one data dir. Every document that was acknowledged (201, or a finished job) must be there
//! after the restart, readable and complete; none may be half-present; `ragd check` is clean.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, ragd};

const ROUNDS: u64 = 50;

/// A small deterministic generator (the seed is printed, so a failure can be replayed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn text(round: u64, i: u64) -> String {
    format!(
        "# Field note {round}-{i}\n\nObservation {round}-{i}: the tide gauge at pier {i} read \
         {} centimetres while the lighthouse keeper logged wind from the {} quarter.\n\n\
         A second paragraph repeats that note {round}-{i} was written during round {round}.",
        100 + i * 7,
        ["north", "south", "east", "west"][(i % 4) as usize]
    )
}

#[tokio::test]
async fn acknowledged_documents_survive_kill_9_at_random_points() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        });
    eprintln!("CRASH_SEED={seed}");
    let mut rng = Lcg(seed);
    let mut data = tempfile::tempdir().expect("tempdir");
    // Acknowledged documents: id -> expected chunk count.
    let mut acknowledged: HashMap<String, u64> = HashMap::new();
    for round in 0..ROUNDS {
        let app = TestApp::spawn_in(data, &[]).await;
        let token = app.token().await;
        check_all(&app, &token, &acknowledged).await;
        let acked = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let (client, url, token, acked) = (
                app.client.clone(),
                app.url("/documents"),
                token.clone(),
                Arc::clone(&acked),
            );
            tokio::spawn(async move {
                for i in 0.. {
                    let body = json!({"content": text(round, i), "metadata": {"source": format!("note-{round}-{i}.md")}});
                    let Ok(r) = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                    else {
                        return;
                    };
                    if r.status() != 201 {
                        return;
                    }
                    let Ok(summary) = r.json::<Value>().await else {
                        return;
                    };
                    let file = &summary["files"][0];
                    let id = file["document_id"].as_str().unwrap_or_default().to_owned();
                    let chunks = file["chunks"].as_u64().unwrap_or_default();
                    acked.lock().expect("lock").push((id, chunks));
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(20 + rng.next(400))).await;
        let (_, _, dir) = app.kill_9();
        writer.abort();
        let _ = writer.await;
        for (id, chunks) in acked.lock().expect("lock").drain(..) {
            acknowledged.insert(id, chunks);
        }
        data = dir;
        eprintln!("round {round}: {} acknowledged so far", acknowledged.len());
    }
    assert!(
        acknowledged.len() as u64 >= ROUNDS,
        "the writer got too little done"
    );
    let check = ragd(data.path())
        .args(["check", "--json"])
        .output()
        .expect("check");
    let report: Value = serde_json::from_slice(&check.stdout).expect("report");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["inconsistent_documents"], json!([]), "{report}");
    let app = TestApp::spawn_in(data, &[]).await;
    let token = app.token().await;
    check_all(&app, &token, &acknowledged).await;
}

/// Every acknowledged document is there, with all its chunks.
async fn check_all(app: &TestApp, token: &str, acknowledged: &HashMap<String, u64>) {
    for (id, chunks) in acknowledged {
        let doc = app.get_json(token, &format!("/documents/{id}")).await;
        assert_eq!(doc["chunk_count"].as_u64(), Some(*chunks), "{doc}");
    }
}
