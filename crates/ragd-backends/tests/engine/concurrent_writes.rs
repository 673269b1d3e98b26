//! Writers that meet in SQLite: a document deletion (which reads before it writes) while the
//! webhook outbox commits in a loop. A deferred transaction failed here with `SQLITE_BUSY` (a
//! 500 to the user) whenever the other writer committed between its read and its write.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use chrono::Utc;
use ragd_core::service::IngestOutcome;
use ragd_core::webhooks::{EventType, NewWebhook, Notice, body};

use crate::helpers::{engine, ingest, scope};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_succeed_while_the_outbox_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = engine(dir.path()).await;
    let scope = scope("acme", "default");
    let webhooks = Arc::clone(&node.backends.webhooks);
    webhooks
        .create_webhook(
            NewWebhook {
                id: "wh-1".into(),
                tenant: scope.tenant.clone(),
                owner: "admin".into(),
                url: "https://hooks.example.com/ragd".into(),
                events: vec![EventType::QueryCompleted, EventType::DocumentDeleted],
                secret: None,
            },
            10,
        )
        .await
        .expect("webhook");
    let mut ids = Vec::new();
    for i in 0..40 {
        let text = format!("Note {i}: the tide tables of harbour {i} are printed every spring.");
        match ingest(&node, &scope, &format!("note-{i}.txt"), text.as_bytes())
            .await
            .expect("ingests")
        {
            IngestOutcome::Ingested { document, .. } => ids.push(document.id),
            other => panic!("not ingested: {other:?}"),
        }
    }

    let done = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU32::new(0));
    let outbox = {
        let (done, commits, webhooks, tenant) = (
            Arc::clone(&done),
            Arc::clone(&commits),
            webhooks,
            scope.tenant.clone(),
        );
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let notice = Notice {
                    tenant: tenant.clone(),
                    event_type: EventType::QueryCompleted,
                    body: body(
                        EventType::QueryCompleted,
                        serde_json::json!({}),
                        "r",
                        Utc::now(),
                    ),
                    traceparent: None,
                };
                webhooks.enqueue(&[notice]).await.expect("enqueue");
                commits.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Each deletion starts only after the outbox has committed again since the previous one,
    // so the writers interleave however slow the machine is (a loaded CI runner once let the
    // outbox commit only 13 times during 40 deletions).
    let mut seen = 0;
    for id in ids {
        while commits.load(Ordering::Relaxed) == seen {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        seen = commits.load(Ordering::Relaxed);
        node.service
            .delete_document(&scope.tenant, id)
            .await
            .expect("a deletion never fails because another writer committed");
    }
    done.store(true, Ordering::Relaxed);
    outbox.await.expect("outbox task");
    let commits = commits.load(Ordering::Relaxed);
    assert!(commits >= 40, "the outbox committed only {commits} times");
}
