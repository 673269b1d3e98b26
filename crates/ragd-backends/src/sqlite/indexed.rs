//! [`IndexedStore`]: the embedded node's [`DocumentStore`] — SQLite holds documents, chunks and
//! every embedding; a derived [`VectorIndex`] (the in-process HNSW graph) answers searches.
//!
//! The index is applied *after* each commit, under one process-local write lock, so it sees the
//! changes in commit order (a replaced document's old vectors are never re-added after their
//! removal). A change the index refuses (disk full, say) is kept and applied, in order, before
//! any later change, so a stored document never stays unsearchable; the store being the source
//! of truth, [`Maintenance::repair`] can always rebuild the index from it. All of this belongs to
//! this adapter: a database that searches its own rows (pgvector) needs none of it.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use ragd_core::events::Event;
use ragd_core::ports::{
    CheckReport, DocumentFilter, DocumentStore, IndexChanges, LexicalIndex, Maintenance,
    NewDocument, StoredDocument, VectorIndex,
};
use ragd_core::types::{
    ChunkKey, CollectionId, Document, DocumentId, Embedding, Scope, StoredChunk, TenantId,
};
use ragd_core::{Error, Result};
use tokio::sync::Mutex;

use crate::sqlite::SqliteStore;

/// SQLite plus a vector index derived from it (see the module docs).
pub struct IndexedStore {
    store: SqliteStore,
    index: Arc<dyn VectorIndex>,
    /// The BM25 index, when lexical search is on; derived and kept in step like `index`.
    lexical: Option<Arc<dyn LexicalIndex>>,
    /// Serialises "commit, then apply to the index"; holds the committed changes the index has
    /// not taken yet.
    pending: Mutex<Vec<IndexChanges>>,
}

impl IndexedStore {
    /// Puts `index` (already reconciled with `store`) in front of `store`.
    pub fn new(store: SqliteStore, index: Arc<dyn VectorIndex>) -> Self {
        Self {
            store,
            index,
            lexical: None,
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Adds a lexical index (already reconciled with the store), kept in step with the vector
    /// index: every committed change goes to both, in commit order.
    #[must_use]
    pub fn with_lexical(mut self, lexical: Arc<dyn LexicalIndex>) -> Self {
        self.lexical = Some(lexical);
        self
    }

    /// Applies one committed change to every derived index. Both are idempotent, so a change
    /// retried after one of them refused it is safe for the other.
    async fn apply_indexes(&self, changes: &IndexChanges) -> Result<()> {
        self.index.apply(changes.clone()).await?;
        if let Some(lexical) = &self.lexical {
            lexical.apply(changes).await?;
        }
        Ok(())
    }

    /// The chunks of a ranking, in its order, with their scores; keys the store does not have
    /// in `collections` are left out (the store re-checks the collections: a key the index files
    /// elsewhere is dropped).
    async fn with_rows(
        &self,
        collections: &[CollectionId],
        found: Vec<(ChunkKey, f32)>,
    ) -> Result<Vec<(StoredChunk, f32)>> {
        let scores: HashMap<ChunkKey, f32> = found.iter().copied().collect();
        let keys: Vec<ChunkKey> = found.iter().map(|&(key, _)| key).collect();
        let chunks = self.store.chunks_by_keys(collections, &keys).await?;
        Ok(chunks
            .into_iter()
            .filter_map(|chunk| Some((scores.get(&chunk.key).copied()?, chunk)))
            .map(|(score, chunk)| (chunk, score))
            .collect())
    }

    /// Applies the changes an earlier index update failed to take, in commit order.
    async fn apply_pending(&self, pending: &mut Vec<IndexChanges>) -> Result<()> {
        while let Some(changes) = pending.first() {
            self.apply_indexes(changes).await.map_err(|err| {
                tracing::error!(error = %err, "the search indexes still refuse committed changes");
                Error::Unavailable("the search index is not accepting changes; retry later".into())
            })?;
            pending.remove(0);
        }
        Ok(())
    }

    /// Applies just-committed changes; when the index refuses them they are kept for the next
    /// write (the document exists; it is not searchable yet).
    async fn apply_committed(
        &self,
        pending: &mut Vec<IndexChanges>,
        changes: IndexChanges,
    ) -> Result<()> {
        if let Err(err) = self.apply_indexes(&changes).await {
            tracing::error!(error = %err, "a search index refused committed changes; kept to retry");
            pending.push(changes);
            return Err(Error::Unavailable(
                "stored, but the search index did not take it yet; retried with the next change"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl DocumentStore for IndexedStore {
    async fn collection_ids(
        &self,
        tenant: &TenantId,
        collection: Option<&str>,
    ) -> Result<Vec<CollectionId>> {
        self.store.collection_ids(tenant.as_str(), collection).await
    }

    async fn collection_names(&self, tenant: &TenantId) -> Result<Vec<String>> {
        self.store.collection_names(tenant.as_str()).await
    }

    async fn find_by_source(&self, scope: &Scope, source: &str) -> Result<Option<Document>> {
        self.store.find_by_source(scope, source).await
    }

    async fn put_document(&self, doc: NewDocument, events: &[Event]) -> Result<StoredDocument> {
        let mut pending = self.pending.lock().await;
        self.apply_pending(&mut pending).await?;
        let (stored, changes) = self.store.put_document(doc, events).await?;
        self.apply_committed(&mut pending, changes).await?;
        Ok(stored)
    }

    async fn delete_document(
        &self,
        tenant: &TenantId,
        id: DocumentId,
        events: &[Event],
    ) -> Result<Document> {
        let mut pending = self.pending.lock().await;
        self.apply_pending(&mut pending).await?;
        let (document, changes) = self.store.delete_document(tenant, id, events).await?;
        self.apply_committed(&mut pending, changes).await?;
        Ok(document)
    }

    async fn get_document(&self, tenant: &TenantId, id: DocumentId) -> Result<Document> {
        self.store.get_document(tenant, id).await
    }

    async fn list_documents(
        &self,
        tenant: &TenantId,
        filter: &DocumentFilter,
    ) -> Result<(Vec<Document>, u64)> {
        self.store.list_documents(tenant, filter).await
    }

    async fn document_chunks(&self, tenant: &TenantId, id: DocumentId) -> Result<Vec<StoredChunk>> {
        self.store.document_chunks(tenant, id).await
    }

    async fn search(
        &self,
        query: &Embedding,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(StoredChunk, f32)>> {
        let found = self.search_keys(query, collections, k).await?;
        self.with_rows(collections, found).await
    }

    fn has_lexical(&self) -> bool {
        self.lexical.is_some()
    }

    fn ranks_keys(&self) -> bool {
        true
    }

    async fn search_keys(
        &self,
        query: &Embedding,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        if collections.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        self.index.search(query, collections, k).await
    }

    async fn search_lexical_keys(
        &self,
        query: &str,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        let Some(lexical) = &self.lexical else {
            return Err(Error::invalid(
                "lexical and hybrid search are off on this server (RAGD_LEXICAL_INDEX=false)",
            ));
        };
        if collections.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        lexical.search(query, collections, k).await
    }

    async fn chunks_by_keys(
        &self,
        collections: &[CollectionId],
        keys: &[ChunkKey],
    ) -> Result<Vec<StoredChunk>> {
        if collections.is_empty() || keys.is_empty() {
            return Ok(Vec::new());
        }
        self.store.chunks_by_keys(collections, keys).await
    }

    async fn search_lexical(
        &self,
        query: &str,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(StoredChunk, f32)>> {
        let found = self.search_lexical_keys(query, collections, k).await?;
        self.with_rows(collections, found).await
    }

    async fn cosines(&self, query: &Embedding, keys: &[ChunkKey]) -> Result<Vec<(ChunkKey, f32)>> {
        // From the index's own vectors when it can read them back (no database round trip, and
        // the same precision as the dense ranking's cosines), else from the store's copies.
        if let Some(found) = self.index.cosines(query, keys).await? {
            return Ok(found);
        }
        let entries = self.store.index_entries(keys).await?;
        Ok(entries
            .into_iter()
            .map(|e| (e.key, query.cosine(&e.vector)))
            .collect())
    }

    async fn settle(&self) -> Result<()> {
        self.apply_pending(&mut *self.pending.lock().await).await
    }

    async fn count_documents(&self, tenant: &TenantId) -> Result<u64> {
        self.store.count_documents(Some(tenant.as_str())).await
    }

    async fn count_chunks(&self, tenant: &TenantId) -> Result<u64> {
        self.store.count_chunks(tenant.as_str()).await
    }
}

#[async_trait]
impl Maintenance for IndexedStore {
    async fn check(&self) -> Result<CheckReport> {
        let wanted = self.store.chunk_keys().await?;
        let indexed = self.index.keys().await?;
        let inconsistent = self.store.inconsistent_documents().await?;
        let documents = self.store.count_documents(None).await?;
        let filed: HashMap<ChunkKey, CollectionId> = indexed.iter().copied().collect();
        let stored: HashMap<ChunkKey, CollectionId> = wanted.iter().copied().collect();
        let missing = wanted
            .iter()
            .filter(|(k, c)| filed.get(k) != Some(c))
            .count() as u64;
        let extra = indexed
            .iter()
            .filter(|(k, _)| !stored.contains_key(k))
            .count() as u64;
        let vectors = self.index.len().await?;
        let lexical_mismatches = match &self.lexical {
            Some(lexical) => {
                let texts: HashMap<ChunkKey, CollectionId> =
                    lexical.keys().await?.into_iter().collect();
                let missing = wanted
                    .iter()
                    .filter(|(k, c)| texts.get(k) != Some(c))
                    .count();
                let extra = texts.keys().filter(|k| !stored.contains_key(k)).count();
                (missing + extra) as u64
            }
            None => 0,
        };
        let ok = inconsistent.is_empty()
            && missing == 0
            && extra == 0
            && lexical_mismatches == 0
            && vectors == wanted.len() as u64;
        Ok(CheckReport {
            documents,
            chunks: wanted.len() as u64,
            vectors,
            inconsistent_documents: inconsistent,
            missing_vectors: missing,
            lexical_mismatches,
            extra_vectors: extra,
            ok,
        })
    }

    async fn repair(&self) -> Result<CheckReport> {
        {
            // No write may commit between reading the store and replacing the index.
            let mut pending = self.pending.lock().await;
            let keys: Vec<ChunkKey> = self
                .store
                .chunk_keys()
                .await?
                .iter()
                .map(|&(k, _)| k)
                .collect();
            let entries = self.store.index_entries(&keys).await?;
            self.index.replace_all(entries).await?;
            if let Some(lexical) = &self.lexical {
                lexical
                    .replace_all(self.store.chunk_texts(&keys).await?)
                    .await?;
                lexical.flush().await?;
            }
            pending.clear();
            self.index.flush().await?;
        }
        self.check().await
    }

    async fn flush(&self) -> Result<()> {
        if let Some(lexical) = &self.lexical {
            lexical.flush().await?;
        }
        self.index.flush().await
    }
}
