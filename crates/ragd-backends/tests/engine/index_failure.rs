//! A document committed to the store whose vector-index update failed must not stay
//! stored-but-unsearchable: the change is kept and applied before the next one, and a re-upload
//! of the same bytes retries it instead of answering "unchanged" for an unsearchable document.
//! An index lagging a delete never brings the deleted chunk back, nor costs a source.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use ragd_backends::sqlite::SqliteStore;
use ragd_backends::sqlite::indexed::IndexedStore;
use ragd_core::ports::{IndexChanges, IndexEntry, VectorIndex};
use ragd_core::types::{ChunkKey, CollectionId, Embedding};
use ragd_core::{Error, IngestOutcome, RagService, Result};

use crate::helpers::{config, embedder, retrieve, scope};

/// A fresh store in `dir` and the real vector index over it.
async fn real_index(dir: &Path) -> (SqliteStore, Arc<dyn VectorIndex>) {
    let store = SqliteStore::open(&dir.join("ragd.db"))
        .await
        .expect("store");
    let index = ragd_backends::embedded_index::EmbeddedIndex::open(
        ragd_backends::embedded_index::EmbeddedIndexConfig::new(dir.join("index"), 384),
        &store,
    )
    .await
    .expect("index");
    (store, Arc::new(index))
}

/// The service over `store`, searched through `index`.
fn service_over(dir: &Path, store: SqliteStore, index: Arc<dyn VectorIndex>) -> RagService {
    let conversations = Arc::new(store.clone());
    ragd_backends::rag_service(
        &config(dir),
        embedder(),
        None,
        Arc::new(IndexedStore::new(store, index)),
        conversations,
        None,
    )
    .expect("service")
}

/// The real index, refusing changes while `failing` is set.
struct Flaky {
    inner: Arc<dyn VectorIndex>,
    failing: AtomicBool,
}

#[async_trait]
impl VectorIndex for Flaky {
    async fn apply(&self, changes: IndexChanges) -> Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::internal("disk full (simulated)"));
        }
        self.inner.apply(changes).await
    }
    async fn search(
        &self,
        query: &Embedding,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        self.inner.search(query, collections, k).await
    }
    async fn len(&self) -> Result<u64> {
        self.inner.len().await
    }
    async fn keys(&self) -> Result<Vec<(ChunkKey, CollectionId)>> {
        self.inner.keys().await
    }
    async fn replace_all(&self, entries: Vec<IndexEntry>) -> Result<()> {
        self.inner.replace_all(entries).await
    }
    async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }
}

#[tokio::test]
async fn a_failed_index_update_is_retried_not_forgotten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, index) = real_index(dir.path()).await;
    let flaky = Arc::new(Flaky {
        inner: index,
        failing: AtomicBool::new(true),
    });
    let service = service_over(dir.path(), store, Arc::clone(&flaky) as _);
    let request = |bytes: &[u8]| ragd_core::service::IngestRequest {
        scope: scope("default", "documents"),
        source: "lighthouse.md".into(),
        bytes: bytes.to_vec(),
        metadata: serde_json::Map::new(),
    };
    let text = b"# Lighthouses\n\nThe Fresnel lens made lighthouse beams visible for twenty miles.";
    let err = service
        .ingest(request(text))
        .await
        .expect_err("the index refuses");
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    let ask = retrieve(
        "default",
        None,
        "Who made lighthouse beams visible far away?",
        3,
        0.0,
    );
    assert!(service.retrieve(&ask).await.expect("search").is_empty());

    // Still failing: a re-upload does not claim "unchanged" for an unsearchable document.
    let err = service
        .ingest(request(text))
        .await
        .expect_err("still refused");
    assert!(matches!(err, Error::Unavailable(_)), "{err}");

    flaky.failing.store(false, Ordering::SeqCst);
    let again = service.ingest(request(text)).await.expect("retried");
    assert!(matches!(again, IngestOutcome::Unchanged { .. }));
    let hits = service.retrieve(&ask).await.expect("search");
    assert!(
        hits.iter().any(|h| h.chunk.chunk.text.contains("Fresnel")),
        "{hits:?}"
    );
}

/// The real index, never removing anything: an index lagging the store's deletes.
struct Lagging(Arc<dyn VectorIndex>);

#[async_trait]
impl VectorIndex for Lagging {
    async fn apply(&self, mut changes: IndexChanges) -> Result<()> {
        changes.removed.clear();
        self.0.apply(changes).await
    }
    async fn search(
        &self,
        query: &Embedding,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        self.0.search(query, collections, k).await
    }
    async fn len(&self) -> Result<u64> {
        self.0.len().await
    }
    async fn keys(&self) -> Result<Vec<(ChunkKey, CollectionId)>> {
        self.0.keys().await
    }
    async fn replace_all(&self, entries: Vec<IndexEntry>) -> Result<()> {
        self.0.replace_all(entries).await
    }
    async fn flush(&self) -> Result<()> {
        self.0.flush().await
    }
}

/// Retrieval ranks keys and reads the rows of the ones it keeps only: a key the index still
/// has but the store no longer does is skipped, and the next candidate takes its place, so the
/// answer still has `k` sources and none of the deleted document.
#[tokio::test]
async fn a_key_the_store_no_longer_has_is_skipped_and_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, index) = real_index(dir.path()).await;
    let service = service_over(dir.path(), store, Arc::new(Lagging(index)));
    let mut ids = Vec::new();
    for (source, text) in [
        (
            "fresnel.md",
            "The Fresnel lens made lighthouse beams visible for twenty miles.",
        ),
        (
            "keepers.md",
            "Lighthouse keepers trimmed the wicks of the lamps every night.",
        ),
        (
            "bread.md",
            "Sourdough bread rises slowly with wild yeast and lactic bacteria.",
        ),
    ] {
        let outcome = service
            .ingest(ragd_core::service::IngestRequest {
                scope: scope("default", "documents"),
                source: source.into(),
                bytes: text.as_bytes().to_vec(),
                metadata: serde_json::Map::new(),
            })
            .await
            .expect("ingest");
        let IngestOutcome::Ingested { document, .. } = outcome else {
            panic!("{source}: {outcome:?}");
        };
        ids.push(document.id);
    }
    let ask = retrieve(
        "default",
        None,
        "Who made lighthouse beams visible?",
        2,
        0.0,
    );
    let before = service.retrieve(&ask).await.expect("search");
    assert_eq!(before[0].chunk.document.id, ids[0], "{before:?}");

    let tenant = scope("default", "documents").tenant;
    service
        .delete_document(&tenant, ids[0])
        .await
        .expect("delete");
    let after = service.retrieve(&ask).await.expect("search");
    assert_eq!(
        after.len(),
        2,
        "the next candidate fills the place: {after:?}"
    );
    assert!(
        after.iter().all(|h| h.chunk.document.id != ids[0]),
        "a deleted document's chunk came back: {after:?}"
    );
    assert_eq!(after[0].chunk.document.id, ids[1], "{after:?}");
}
