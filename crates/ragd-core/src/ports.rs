//! The ports: what the domain needs from the outside world. Implementations live in
//! `ragd-backends` and are chosen once at start-up; the domain only sees `Arc<dyn Port>`.

use async_trait::async_trait;

use crate::Result;
use crate::types::{
    ChunkDraft, ChunkKey, CollectionId, Document, DocumentId, Embedding, Extracted, Scope,
    SourceInfo, StoredChunk,
};

/// Turns texts into unit-length embeddings. Implementations batch and run the model off the
/// async runtime, and apply backpressure when their queue is full.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The model id reported to users (e.g. `sentence-transformers/all-MiniLM-L6-v2`).
    fn model_id(&self) -> &str;
    /// Vector length.
    fn dimensions(&self) -> usize;
    /// Embeds `texts`, returning one vector per text in the same order.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Embedding>>;
    /// Embeds a question asked in `tenant`. The same as [`Embedder::embed`] of one text, except
    /// for caches: they must keep tenants apart, so that how fast a question is answered never
    /// tells one tenant what another asked.
    async fn embed_query(&self, tenant: &str, text: String) -> Result<Embedding> {
        let _ = tenant;
        self.embed(vec![text])
            .await?
            .pop()
            .ok_or_else(|| crate::Error::internal("the embedder returned no vector"))
    }
}

/// Counts model tokens in a text; the chunker sizes chunks with it.
pub trait TokenCounter: Send + Sync {
    /// Number of model tokens in `text`, without special tokens.
    fn count_tokens(&self, text: &str) -> usize;
}

/// Extracts text from a source's raw bytes. Every source is untrusted: implementations keep
/// the parser's failures (loops, runaway recursion, decompression bombs) from reaching the
/// caller's process, and run off the async runtime.
#[async_trait]
pub trait Extractor: Send + Sync {
    /// Extracts `bytes`, whose name (for type detection and messages) is `name`. A source that
    /// cannot be read is [`crate::Error::Invalid`] naming it and the reason.
    async fn extract(&self, name: &str, bytes: Vec<u8>) -> Result<Extracted>;
}

/// A vector added to the index: its key, the collection it belongs to and the vector.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// The chunk key.
    pub key: ChunkKey,
    /// The collection, for filtering inside the index.
    pub collection: CollectionId,
    /// The embedding.
    pub vector: Embedding,
}

/// What a committed store transaction changed, for the vector index to apply.
#[derive(Debug, Clone, Default)]
pub struct IndexChanges {
    /// Keys whose vectors must go.
    pub removed: Vec<ChunkKey>,
    /// Vectors to add.
    pub added: Vec<IndexEntry>,
}

/// Nearest-neighbour search over chunk embeddings, restricted to a set of collections.
#[async_trait]
pub trait VectorIndex: Send + Sync {
    /// Applies committed changes. Must be idempotent: replaying changes after a crash is safe.
    async fn apply(&self, changes: IndexChanges) -> Result<()>;
    /// The `k` nearest keys to `query` among `collections`, with their cosine similarity,
    /// best first. The filter is part of the search, not applied to a global top-k.
    async fn search(
        &self,
        query: &Embedding,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>>;
    /// Number of vectors indexed.
    fn len(&self) -> usize;
    /// Whether the index is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Persists the index so that the next start does not replay or rebuild.
    async fn flush(&self) -> Result<()>;
}

/// A document to write, with its chunks and their embeddings.
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// Where it goes.
    pub scope: Scope,
    /// Source name, size and hash.
    pub source: SourceInfo,
    /// Title.
    pub title: String,
    /// MIME type.
    pub mime: String,
    /// Page count, for paged formats.
    pub pages: Option<u32>,
    /// Free-form metadata.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Chunks with one embedding each.
    pub chunks: Vec<(ChunkDraft, Embedding)>,
}

/// Filters for listing documents.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    /// Restrict to a tenant (always set by transports that have a principal).
    pub tenant: Option<String>,
    /// Restrict to a collection.
    pub collection: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u32,
}

/// Durable metadata: documents and chunks (with their embeddings), the source of truth from which
/// the vector index can always be rebuilt.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// The collection id for a scope, creating the tenant and collection if needed.
    async fn collection_id(&self, scope: &Scope) -> Result<CollectionId>;
    /// The collection ids of a tenant (all collections) or of one of its collections.
    async fn collection_ids(
        &self,
        tenant: &str,
        collection: Option<&str>,
    ) -> Result<Vec<CollectionId>>;
    /// The document with this source name in this scope, if any.
    async fn find_by_source(&self, scope: &Scope, source: &str) -> Result<Option<Document>>;
    /// Atomically writes a document and its chunks, replacing any document with the same source
    /// in the same scope. Either all of it is visible afterwards or none of it.
    async fn put_document(&self, doc: NewDocument) -> Result<(Document, IndexChanges)>;
    /// Atomically deletes a document and its chunks.
    async fn delete_document(&self, id: DocumentId) -> Result<(Document, IndexChanges)>;
    /// One document.
    async fn get_document(&self, id: DocumentId) -> Result<Document>;
    /// A page of documents, newest first, and the total matching the filter.
    async fn list_documents(&self, filter: &DocumentFilter) -> Result<(Vec<Document>, u64)>;
    /// The chunks of one document, in order.
    async fn document_chunks(&self, id: DocumentId) -> Result<Vec<StoredChunk>>;
    /// Chunks by key, in the order of `keys`, of documents in `collections` only: keys that are
    /// unknown or belong elsewhere are skipped, so an index out of step with the store (a
    /// database restored beside a newer index) can never return another tenant's chunks.
    async fn chunks_by_keys(
        &self,
        collections: &[CollectionId],
        keys: &[ChunkKey],
    ) -> Result<Vec<StoredChunk>>;
    /// Number of documents (all tenants, or one).
    async fn count_documents(&self, tenant: Option<&str>) -> Result<u64>;
    /// Number of chunks (each one vector in the index) of one tenant's documents.
    async fn count_chunks(&self, tenant: &str) -> Result<u64>;
    /// A cheap liveness check of the store.
    async fn ping(&self) -> Result<()>;
}
