//! The port contract suites on PostgreSQL + pgvector (a real server: see `pg.rs`), and the
//! engine end to end on it: the real model, ingestion and retrieval through `Node`.

use ragd_backends::postgres::{PgOptions, PgStore};
use ragd_core::testing::{contract_accounts, contract_conversations, contract_documents};

use crate::helpers::{config, corpus, embedder, retrieve, scope};
use crate::pg::fresh_database;

async fn store() -> PgStore {
    PgStore::connect(&fresh_database().await, PgOptions::default())
        .await
        .expect("PostgreSQL store connects and migrates")
}

#[tokio::test]
async fn postgres_keeps_the_document_contract() {
    let store = store().await;
    contract_documents::documents(&store, &store, &store).await;
}

#[tokio::test]
async fn postgres_keeps_the_account_and_job_contracts() {
    let store = store().await;
    contract_accounts::accounts(&store, &store, &store).await;
    contract_accounts::jobs(&store).await;
}

#[tokio::test]
async fn postgres_keeps_the_conversation_contract() {
    let store = store().await;
    contract_conversations::conversations(&store).await;
}

#[tokio::test]
async fn two_stores_on_one_database_migrate_once_and_see_each_others_writes() {
    let url = fresh_database().await;
    let (a, b) = tokio::join!(
        PgStore::connect(&url, PgOptions::default()),
        PgStore::connect(&url, PgOptions::default())
    );
    let (a, b) = (a.expect("first instance"), b.expect("second instance"));
    contract_accounts::jobs(&a).await;
    contract_documents::documents(&b, &a, &a).await;
}

#[tokio::test]
async fn the_engine_answers_from_postgres() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    config.postgres = Some(ragd_backends::PostgresConfig {
        url: ragd_backends::DatabaseUrl::new(fresh_database().await),
        options: PgOptions::default(),
    });
    let node = ragd_backends::Node::open(&config, embedder())
        .await
        .expect("node on postgres");
    let s = scope("default", "documents");
    for (name, bytes) in corpus() {
        crate::helpers::ingest(&node, &s, &name, &bytes)
            .await
            .expect("ingest");
    }
    let hits = node
        .service
        .retrieve(&retrieve(
            "default",
            None,
            "How do plants turn light into chemical energy?",
            3,
            0.3,
        ))
        .await
        .expect("search");
    assert_eq!(
        hits[0].chunk.document.source.source, "photosynthesis.pdf",
        "{hits:?}"
    );
    let report = node.maintenance.check().await.expect("check");
    assert!(report.ok && report.vectors > 0, "{report:?}");
}
