//! The port contract suites (`ragd_core::testing::contract_*`) on the embedded backends: SQLite
//! with its derived HNSW index, and the in-memory rate limiter. The PostgreSQL backend runs the
//! same suites (`postgres.rs`).

use std::sync::Arc;

use ragd_backends::embedded_index::{EmbeddedIndex, EmbeddedIndexConfig};
use ragd_backends::sqlite::SqliteStore;
use ragd_backends::sqlite::indexed::IndexedStore;
use ragd_core::testing::{
    contract_accounts, contract_conversations, contract_documents, contract_index,
};

async fn sqlite(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open(&dir.join("ragd.db"))
        .await
        .expect("sqlite opens")
}

#[tokio::test]
async fn sqlite_with_the_embedded_index_keeps_the_document_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite(dir.path()).await;
    let index = EmbeddedIndex::open(
        EmbeddedIndexConfig::new(dir.path().join("index"), 384),
        &store,
    )
    .await
    .expect("index");
    let documents = IndexedStore::new(store.clone(), Arc::new(index));
    contract_documents::documents(&documents, &store, &documents).await;
}

#[tokio::test]
async fn sqlite_keeps_the_account_and_job_contracts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite(dir.path()).await;
    contract_accounts::accounts(&store, &store, &store).await;
    contract_accounts::jobs(&store).await;
}

#[tokio::test]
async fn sqlite_keeps_the_conversation_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite(dir.path()).await;
    contract_conversations::conversations(&store).await;
}

#[tokio::test]
async fn the_embedded_index_keeps_the_index_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite(dir.path()).await;
    let index = EmbeddedIndex::open(
        EmbeddedIndexConfig::new(dir.path().join("index"), 384),
        &store,
    )
    .await
    .expect("index");
    contract_index::index(&index).await;
}

#[tokio::test]
async fn the_memory_limiter_keeps_the_limiter_contract() {
    ragd_core::testing::contract_limits::limiter(
        std::sync::Arc::new(ragd_backends::memory::limiter::MemoryRateLimiter::new()),
        "memory",
    )
    .await;
}
