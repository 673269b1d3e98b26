//! The Chroma index against a real Chroma server (`chroma run` of the `chromadb` PyPI package):
//! `RAGD_TEST_CHROMA_URL=$(scripts/chroma.sh start DIR)`; without it these tests print a notice
//! and pass without running. Every test uses a Chroma collection of its own, so they run side by
//! side on one server.
//!
//! Here: the `VectorIndex` and `DocumentStore` contracts, tenants that never see each other's
//! vectors in the one shared collection, and the engine answering from Chroma. Reconciliation,
//! a foreign collection and outages are in `chroma_failures.rs`.

use std::sync::Arc;

use ragd_backends::chroma::{ChromaConfig, ChromaIndex};
use ragd_backends::sqlite::SqliteStore;
use ragd_backends::sqlite::indexed::IndexedStore;
use ragd_core::ports::{DocumentStore, VectorIndex};
use ragd_core::testing::contract_documents::{new_document, scope, unique_tenant, vector};
use ragd_core::testing::{contract_documents, contract_index};
use ragd_core::types::{DocumentId, Embedding};
use serde_json::{Value, json};

use crate::helpers::embedder;

/// The test server's URL, or `None` (with a notice) when the tests should not run.
pub(crate) fn server() -> Option<reqwest::Url> {
    match std::env::var("RAGD_TEST_CHROMA_URL") {
        Ok(url) if !url.trim().is_empty() => {
            Some(reqwest::Url::parse(url.trim()).expect("RAGD_TEST_CHROMA_URL is a URL"))
        }
        _ => {
            eprintln!(
                "skipped: RAGD_TEST_CHROMA_URL is not set (RAGD_TEST_CHROMA_URL=$(scripts/chroma.sh \
                 start /var/tmp/ragd-test-chroma) runs the Chroma tests)"
            );
            None
        }
    }
}

/// Settings for a collection no other test uses.
pub(crate) fn config(url: reqwest::Url) -> ChromaConfig {
    let mut config = ChromaConfig::new(url);
    config.collection = format!("t_{}", uuid::Uuid::new_v4().simple());
    config
}

pub(crate) async fn store(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open(&dir.join("ragd.db"))
        .await
        .expect("sqlite opens")
}

/// Raw calls to the collection `name`, as an operator (or another program) would make them.
pub(crate) struct Raw {
    http: reqwest::Client,
    collections: String,
}

impl Raw {
    pub(crate) fn new(url: &reqwest::Url) -> Self {
        Self {
            http: reqwest::Client::new(),
            collections: format!(
                "{}api/v2/tenants/default_tenant/databases/default_database/collections",
                url.as_str()
            ),
        }
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.collections));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("chroma answers");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    pub(crate) async fn id(&self, name: &str) -> String {
        let info = self
            .call(reqwest::Method::GET, &format!("/{name}"), None)
            .await;
        info["id"].as_str().expect("collection id").to_owned()
    }

    pub(crate) async fn records(&self, name: &str, body: Value) -> Value {
        let id = self.id(name).await;
        self.call(reqwest::Method::POST, &format!("/{id}/get"), Some(body))
            .await
    }

    pub(crate) async fn upsert(&self, name: &str, ids: &[&str], metadatas: Value) {
        let id = self.id(name).await;
        let embeddings: Vec<Vec<f32>> = ids.iter().map(|_| vector(7, 8, 0.1).0).collect();
        let body = json!({"ids": ids, "embeddings": embeddings, "metadatas": metadatas});
        self.call(reqwest::Method::POST, &format!("/{id}/upsert"), Some(body))
            .await;
    }

    pub(crate) async fn delete(&self, name: &str, ids: &[String]) {
        let id = self.id(name).await;
        let body = json!({ "ids": ids });
        self.call(reqwest::Method::POST, &format!("/{id}/delete"), Some(body))
            .await;
    }
}

#[tokio::test]
async fn chroma_keeps_the_index_contract() {
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let index = ChromaIndex::open(config(url), &store(dir.path()).await)
        .await
        .expect("chroma index opens");
    contract_index::index(&index).await;
}

#[tokio::test]
async fn sqlite_with_chroma_keeps_the_document_contract() {
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let index = ChromaIndex::open(config(url), &store)
        .await
        .expect("chroma index opens");
    let documents = IndexedStore::new(store.clone(), Arc::new(index));
    contract_documents::documents(&documents, &store, &documents).await;
}

#[tokio::test]
async fn two_tenants_in_one_chroma_collection_never_cross() {
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let config = config(url.clone());
    let name = config.collection.clone();
    let index = Arc::new(ChromaIndex::open(config, &store).await.expect("opens"));
    let documents = IndexedStore::new(store.clone(), Arc::clone(&index) as _);
    let (a, b) = (unique_tenant("a"), unique_tenant("b"));

    // A: 3 chunks far from the question. B: 1,500 chunks right on it (past Chroma's HNSW sync
    // threshold of 1,000, so the graph is searched, not only the log).
    let far: Vec<Embedding> = (0..3).map(|i| vector(100 + i, 200, 0.2)).collect();
    let texts = ["alpha", "beta", "gamma"];
    documents
        .put_document(
            new_document(DocumentId::new(), &scope(&a, "docs"), "a.md", &texts, &far),
            &[],
        )
        .await
        .expect("A's document");
    let near: Vec<Embedding> = (0..1500).map(|i| vector(0, 1 + i % 300, 0.01)).collect();
    let near_texts: Vec<String> = (0..1500).map(|i| format!("b chunk {i}")).collect();
    let near_refs: Vec<&str> = near_texts.iter().map(String::as_str).collect();
    documents
        .put_document(
            new_document(
                DocumentId::new(),
                &scope(&b, "docs"),
                "b.md",
                &near_refs,
                &near,
            ),
            &[],
        )
        .await
        .expect("B's document");

    let query = vector(0, 1, 0.0);
    let a_ids = documents.collection_ids(&a, None).await.expect("A's ids");
    let b_ids = documents.collection_ids(&b, None).await.expect("B's ids");
    let a_keys: Vec<u64> = store
        .chunk_keys()
        .await
        .expect("keys")
        .into_iter()
        .filter(|(_, c)| a_ids.contains(c))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(a_keys.len(), 3);

    // The index itself: A's filter yields A's three keys, however near B's vectors are.
    let hits = index.search(&query, &a_ids, 10).await.expect("search");
    let mut keys: Vec<u64> = hits.iter().map(|&(k, _)| k).collect();
    keys.sort_unstable();
    assert_eq!(keys, a_keys, "all of A's chunks and nothing else: {hits:?}");
    assert!(hits.iter().all(|&(_, s)| s < 0.5), "A's are far: {hits:?}");
    // Through the store, as the service searches.
    let found = documents.search(&query, &a_ids, 10).await.expect("search");
    assert_eq!(found.len(), 3);
    assert!(
        found
            .iter()
            .all(|(c, _)| c.document.scope.tenant == a && c.document.source.source == "a.md")
    );
    let found = documents.search(&query, &b_ids, 10).await.expect("search");
    assert_eq!(found.len(), 10);
    assert!(
        found
            .iter()
            .all(|(c, s)| c.document.scope.tenant == b && *s > 0.99)
    );

    // Each record names its tenant, for whoever reads the collection.
    let page = Raw::new(&url)
        .records(
            &name,
            json!({"ids": a_keys.iter().map(u64::to_string).collect::<Vec<_>>(), "include": ["metadatas"]}),
        )
        .await;
    let metadatas = page["metadatas"].as_array().expect("metadatas");
    assert_eq!(metadatas.len(), 3);
    for m in metadatas {
        assert_eq!(m["tenant"], json!(a.as_str()), "{m}");
        assert!(a_ids.contains(&(m["collection_id"].as_u64().expect("id") as u32)));
    }
}

#[tokio::test]
async fn the_engine_answers_from_chroma() {
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut engine_config = crate::helpers::config(dir.path());
    engine_config.chroma = Some(config(url));
    let node = ragd_backends::Node::open(&engine_config, embedder())
        .await
        .expect("node on chroma");
    crate::helpers::answers_from_the_corpus(&node).await;
}
