//! The Chroma index when things go wrong (a real server, as in `chroma.rs`): records lost,
//! stale or foreign in ragd's collection are put right at open and by a repair; a collection
//! ragd did not create is refused and left untouched; an unreachable Chroma is a 503-class error
//! (`Unavailable`), and the store catches up by itself once Chroma is back.

use std::sync::Arc;

use ragd_backends::chroma::ChromaIndex;
use ragd_backends::sqlite::indexed::IndexedStore;
use ragd_core::Error;
use ragd_core::ports::{DocumentStore, Maintenance, VectorIndex};
use ragd_core::testing::contract_documents::{new_document, scope, unique_tenant, vector};
use ragd_core::types::{DocumentId, Embedding};
use serde_json::json;

use crate::chroma::{Raw, config, server, store};

#[tokio::test]
async fn opening_reconciles_chroma_with_the_store_in_batches() {
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let mut config = config(url.clone());
    config.batch_size = 2; // every list below spans several calls
    let name = config.collection.clone();
    let tenant = unique_tenant("r");
    {
        let index = ChromaIndex::open(config.clone(), &store)
            .await
            .expect("opens");
        let documents = IndexedStore::new(store.clone(), Arc::new(index));
        let vectors: Vec<Embedding> = (0..5).map(|i| vector(i, i + 1, 0.1)).collect();
        let texts = ["one", "two", "three", "four", "five"];
        documents
            .put_document(
                new_document(
                    DocumentId::new(),
                    &scope(&tenant, "docs"),
                    "r.md",
                    &texts,
                    &vectors,
                ),
                &[],
            )
            .await
            .expect("stored");
        assert!(documents.check().await.expect("check").ok);
    }
    // Behind ragd's back: one vector lost, a stale ragd-looking record and a foreign one added.
    let wanted = store.chunk_keys().await.expect("keys");
    let raw = Raw::new(&url);
    raw.delete(&name, &[wanted[0].0.to_string()]).await;
    raw.upsert(
        &name,
        &["999999", "note-1"],
        json!([{"collection_id": 1}, {"x": 1}]),
    )
    .await;

    let index = ChromaIndex::open(config, &store).await.expect("reopens");
    assert_eq!(index.keys().await.expect("keys"), wanted);
    assert_eq!(index.len().await.expect("len"), 5);
    let documents = IndexedStore::new(store.clone(), Arc::new(index));
    let report = documents.check().await.expect("check");
    assert!(report.ok && report.vectors == 5, "{report:?}");

    // A rebuild leaves exactly the store's vectors, even after more tampering.
    raw.upsert(&name, &["stray"], json!([{"collection_id": 1}]))
        .await;
    assert!(!documents.check().await.expect("check").ok);
    let report = documents.repair().await.expect("repair");
    assert!(report.ok && report.vectors == 5, "{report:?}");
}

#[tokio::test]
async fn a_collection_ragd_did_not_create_is_refused_untouched() {
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(url.clone());
    let raw = Raw::new(&url);
    // The chapter's app made this collection: its records are not ragd's to delete.
    raw.call(
        reqwest::Method::POST,
        "",
        Some(json!({"name": config.collection, "configuration": {"hnsw": {"space": "cosine"}}})),
    )
    .await;
    raw.upsert(&config.collection, &["doc-1"], json!([{"source": "x"}]))
        .await;
    let err = ChromaIndex::open(config.clone(), &store(dir.path()).await)
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("RAGD_CHROMA_COLLECTION")),
        "{err}"
    );
    let left = raw
        .records(&config.collection, json!({"include": []}))
        .await;
    assert_eq!(left["ids"], json!(["doc-1"]));
}

#[tokio::test]
async fn an_unreachable_chroma_is_unavailable_and_the_store_catches_up() {
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;

    // Nothing listens on a port just released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let mut nowhere = config(format!("http://127.0.0.1:{port}/").parse().expect("url"));
    nowhere.connect_timeout = std::time::Duration::from_secs(2);
    let err = ChromaIndex::open(nowhere, &store)
        .await
        .err()
        .expect("fails");
    assert!(matches!(err, Error::Unavailable(_)), "{err}");

    // Through a proxy that goes down and comes back on the same port.
    let proxy = Proxy::start(&url, None).await;
    let mut config = config(proxy.url());
    config.timeout = std::time::Duration::from_secs(5);
    let index = ChromaIndex::open(config, &store).await.expect("opens");
    let documents = IndexedStore::new(store.clone(), Arc::new(index));
    let tenant = unique_tenant("o");
    let addr = proxy.addr;
    proxy.stop().await;

    let err = documents
        .search(&vector(0, 1, 0.1), &[1], 5)
        .await
        .expect_err("Chroma is down");
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    let put = documents
        .put_document(
            new_document(
                DocumentId::new(),
                &scope(&tenant, "docs"),
                "o.md",
                &["x"],
                &[vector(3, 4, 0.1)],
            ),
            &[],
        )
        .await;
    assert!(matches!(put, Err(Error::Unavailable(_))), "{put:?}");

    let proxy = Proxy::start(&url, Some(addr)).await;
    documents
        .settle()
        .await
        .expect("the kept change is applied");
    let ids = documents.collection_ids(&tenant, None).await.expect("ids");
    let found = documents
        .search(&vector(3, 4, 0.1), &ids, 5)
        .await
        .expect("search");
    assert_eq!(found.len(), 1, "searchable once Chroma is back");
    assert!(documents.check().await.expect("check").ok);
    proxy.stop().await;
}

/// A TCP proxy in front of the Chroma server, to take it away and bring it back.
struct Proxy {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: &reqwest::Url, at: Option<std::net::SocketAddr>) -> Self {
        let target = format!(
            "{}:{}",
            target.host_str().expect("host"),
            target.port_or_known_default().expect("port")
        );
        let listener = tokio::net::TcpListener::bind(at.unwrap_or(([127, 0, 0, 1], 0).into()))
            .await
            .expect("proxy binds");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { addr, task }
    }

    fn url(&self) -> reqwest::Url {
        format!("http://{}/", self.addr).parse().expect("url")
    }

    /// Closes the port and every connection through it.
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}
