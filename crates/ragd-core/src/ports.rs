//! The ports: what the domain needs from the outside world. Implementations live in
//! `ragd-backends` and are chosen once at start-up; the domain only sees `Arc<dyn Port>`.
//!
//! Every read and write of documents names the tenant: a store answers "not found" for another
//! tenant's document, so no caller can reach across tenants by forgetting a check.

use async_trait::async_trait;

use crate::Result;
use crate::events::Event;
use crate::types::{
    ChunkDraft, ChunkKey, CollectionId, Document, DocumentId, Embedding, Extracted, Scope,
    SourceInfo, StoredChunk, TenantId,
};

/// Turns texts into unit-length embeddings. Implementations batch and run the model off the
/// async runtime, and apply backpressure when their queue is full.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The model id reported to users (e.g. `sentence-transformers/all-MiniLM-L6-v2`).
    fn model_id(&self) -> &str;
    /// Vector length.
    fn dimensions(&self) -> usize;
    /// Embeds `texts` as passages (what is stored and searched), returning one vector per text
    /// in the same order.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Embedding>>;
    /// Embeds a question asked in `tenant`. The same as [`Embedder::embed`] of one text, except
    /// for models that mark questions apart from passages (e5's `"query: "` and `"passage: "`
    /// prefixes), and for caches: they must keep tenants apart, so that how fast a question is
    /// answered never tells one tenant what another asked.
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

/// Writes answers: a language model in process, a server speaking the OpenAI chat protocol, or
/// none (the extractive answer). Implementations run the model off the async runtime, bound
/// their queue (a full queue is [`crate::Error::Unavailable`]) and stop generating when the
/// caller goes away: when the returned future is dropped or the sink's receiver is.
#[async_trait]
pub trait Generator: TokenCounter {
    /// The model id reported to users (`llm_model`, `/v1/models`).
    fn model_id(&self) -> &str;
    /// The context window, prompt and answer together, in the model's tokens.
    fn context_tokens(&self) -> usize;
    /// Completes the chat; with a sink, sends each text delta as it is generated.
    async fn generate(
        &self,
        request: crate::generation::GenerationRequest,
        sink: Option<crate::generation::TokenSink>,
    ) -> Result<crate::generation::Generated>;
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

/// A vector added to a derived index: its key, the collection it belongs to and the vector.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// The chunk key.
    pub key: ChunkKey,
    /// The collection, for filtering inside the index.
    pub collection: CollectionId,
    /// The embedding.
    pub vector: Embedding,
}

/// A chunk's text added to a derived lexical index: its key, its collection and its text.
#[derive(Debug, Clone)]
pub struct TextEntry {
    /// The chunk key.
    pub key: ChunkKey,
    /// The collection, for filtering inside the index.
    pub collection: CollectionId,
    /// The chunk's text.
    pub text: String,
}

/// What a committed store transaction changed, for a derived index to apply.
#[derive(Debug, Clone, Default)]
pub struct IndexChanges {
    /// Keys whose vectors (and texts) must go.
    pub removed: Vec<ChunkKey>,
    /// Vectors to add.
    pub added: Vec<IndexEntry>,
    /// The texts of the chunks added, for a lexical index (same keys as `added`).
    pub texts: Vec<TextEntry>,
}

/// A full-text (BM25) index *derived* from a store that keeps every chunk's text, like
/// [`VectorIndex`]: the store adapter applies committed changes in commit order and can always
/// rebuild it. Scores are BM25 (unbounded, larger is better); the domain calibrates them.
#[async_trait]
pub trait LexicalIndex: Send + Sync {
    /// Applies committed changes (`removed` keys, then `texts`); only [`IndexChanges::removed`]
    /// and [`IndexChanges::texts`] are read. Idempotent: replaying changes after a crash is safe.
    async fn apply(&self, changes: &IndexChanges) -> Result<()>;
    /// The `k` best-matching keys for the words of `query` among `collections`, with their BM25
    /// score, best first. The filter is part of the search, not applied to a global top-k.
    async fn search(
        &self,
        query: &str,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>>;
    /// Number of chunks indexed.
    async fn len(&self) -> Result<u64>;
    /// Whether the index is empty.
    async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }
    /// Every key indexed with the collection it is filed under, in key order.
    async fn keys(&self) -> Result<Vec<(ChunkKey, CollectionId)>>;
    /// Replaces the whole content with `entries` (a rebuild from the store).
    async fn replace_all(&self, entries: Vec<TextEntry>) -> Result<()>;
    /// Persists what is not yet durable.
    async fn flush(&self) -> Result<()>;
}

/// Reorders candidate passages by their relevance to a question (a cross-encoder).
#[async_trait]
pub trait Reranker: Send + Sync {
    /// The model's id, for logs and metrics.
    fn model_id(&self) -> &str;
    /// One relevance logit per passage, in the order given (larger is more relevant).
    async fn score(&self, query: &str, passages: Vec<String>) -> Result<Vec<f32>>;
}

/// A nearest-neighbour index *derived* from a store that keeps every vector (the embedded HNSW
/// index beside SQLite; a vector server later). The store adapter that owns it applies committed
/// changes in commit order and can always rebuild it; the domain never sees it, only
/// [`DocumentStore::search`]. A database that searches its own rows (pgvector) needs none.
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
    async fn len(&self) -> Result<u64>;
    /// Whether the index is empty.
    async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }
    /// Every key indexed with the collection it is filed under, in key order.
    async fn keys(&self) -> Result<Vec<(ChunkKey, CollectionId)>>;
    /// Replaces the whole content with `entries` (a rebuild from the store).
    async fn replace_all(&self, entries: Vec<IndexEntry>) -> Result<()>;
    /// Persists the index so that the next start does not replay or rebuild.
    async fn flush(&self) -> Result<()>;
    /// The cosine of `query` to each of `keys`' vectors held here (keys it does not hold are
    /// left out), or `None` when the index cannot read its vectors back (the store's copies are
    /// used instead). Vectors are unit length, so the cosine is their dot product.
    async fn cosines(
        &self,
        query: &Embedding,
        keys: &[ChunkKey],
    ) -> Result<Option<Vec<(ChunkKey, f32)>>> {
        let _ = (query, keys);
        Ok(None)
    }
}

/// A document to write, with its chunks and their embeddings.
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// Its id: kept when this version replaces the stored one with the same id; a stored
    /// version of the same source under another id (a concurrent first upload) is replaced by
    /// this one, under this id.
    pub id: DocumentId,
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

/// What [`DocumentStore::put_document`] did.
#[derive(Debug, Clone)]
pub struct StoredDocument {
    /// The document as stored.
    pub document: Document,
    /// Whether it replaced an earlier version of the same source.
    pub replaced: bool,
}

/// A page of a tenant's documents.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    /// Restrict to a collection.
    pub collection: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u32,
}

/// Durable documents and chunks with their embeddings, searchable by vector. The source of
/// truth: whatever index an implementation keeps is derived from it and consistent with it after
/// every acknowledged write.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// The collection ids of a tenant (all collections) or of one of its collections.
    async fn collection_ids(
        &self,
        tenant: &TenantId,
        collection: Option<&str>,
    ) -> Result<Vec<CollectionId>>;
    /// The names of a tenant's collections, sorted.
    async fn collection_names(&self, tenant: &TenantId) -> Result<Vec<String>>;
    /// The document with this source name in this scope, if any.
    async fn find_by_source(&self, scope: &Scope, source: &str) -> Result<Option<Document>>;
    /// Atomically writes a document, its chunks and `events`, replacing any document with the
    /// same source in the same scope (creating the tenant and collection if needed). Either all
    /// of it is visible and searchable afterwards or none of it.
    async fn put_document(&self, doc: NewDocument, events: &[Event]) -> Result<StoredDocument>;
    /// Atomically deletes a tenant's document, its chunks and their vectors, recording
    /// `events`. Another tenant's document is [`crate::Error::NotFound`].
    async fn delete_document(
        &self,
        tenant: &TenantId,
        id: DocumentId,
        events: &[Event],
    ) -> Result<Document>;
    /// One of the tenant's documents.
    async fn get_document(&self, tenant: &TenantId, id: DocumentId) -> Result<Document>;
    /// A page of the tenant's documents, newest first, and the total matching the filter.
    async fn list_documents(
        &self,
        tenant: &TenantId,
        filter: &DocumentFilter,
    ) -> Result<(Vec<Document>, u64)>;
    /// The chunks of one of the tenant's documents, in order.
    async fn document_chunks(&self, tenant: &TenantId, id: DocumentId) -> Result<Vec<StoredChunk>>;
    /// The `k` chunks nearest to `query` among `collections`, with their cosine similarity, best
    /// first. The collection filter is part of the search (never a filter over a global top-k),
    /// and only chunks of documents in `collections` come back.
    async fn search(
        &self,
        query: &Embedding,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(StoredChunk, f32)>>;
    /// The `k` chunks whose words best match `query` (BM25) among `collections`, with their
    /// score, best first; the filter is part of the search. A store without a lexical index
    /// answers [`crate::Error::Invalid`] (the request asked for a mode this server lacks).
    async fn search_lexical(
        &self,
        query: &str,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(StoredChunk, f32)>> {
        let _ = (query, collections, k);
        Err(crate::Error::invalid(
            "lexical and hybrid search need a lexical index, which this store does not have",
        ))
    }
    /// Whether [`DocumentStore::search_lexical`] is available.
    fn has_lexical(&self) -> bool {
        false
    }
    /// Whether the store ranks keys without reading rows ([`DocumentStore::search_keys`],
    /// [`DocumentStore::search_lexical_keys`]) and reads the rows of the keys kept afterwards
    /// ([`DocumentStore::chunks_by_keys`]): retrieval then reads the few chunks it returns
    /// instead of every candidate of both rankings. Stores whose search returns the rows in the
    /// same round trip (SQL with pgvector) keep `false`.
    fn ranks_keys(&self) -> bool {
        false
    }
    /// [`DocumentStore::search`] without the rows: keys and cosines, best first. Only called
    /// when [`DocumentStore::ranks_keys`].
    async fn search_keys(
        &self,
        query: &Embedding,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        let _ = (query, collections, k);
        Err(crate::Error::internal("this store does not rank keys"))
    }
    /// [`DocumentStore::search_lexical`] without the rows: keys and BM25 scores, best first.
    /// Only called when [`DocumentStore::ranks_keys`].
    async fn search_lexical_keys(
        &self,
        query: &str,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        let _ = (query, collections, k);
        Err(crate::Error::internal("this store does not rank keys"))
    }
    /// The chunks of `keys` that belong to documents in `collections`, in any order; a key the
    /// store does not have there (an index lagging a delete) is left out. Only called when
    /// [`DocumentStore::ranks_keys`].
    async fn chunks_by_keys(
        &self,
        collections: &[CollectionId],
        keys: &[ChunkKey],
    ) -> Result<Vec<StoredChunk>> {
        let _ = (collections, keys);
        Err(crate::Error::internal("this store does not rank keys"))
    }
    /// The cosine of `query` to each of `keys`' stored embeddings (keys the store does not have
    /// are left out). Stores that cannot say answer an empty list.
    async fn cosines(&self, query: &Embedding, keys: &[ChunkKey]) -> Result<Vec<(ChunkKey, f32)>> {
        let _ = (query, keys);
        Ok(Vec::new())
    }
    /// Makes every acknowledged write searchable (a derived index catches up on a change it
    /// could not take before); `Ok` at once where search reads the store itself.
    async fn settle(&self) -> Result<()> {
        Ok(())
    }
    /// Number of the tenant's documents.
    async fn count_documents(&self, tenant: &TenantId) -> Result<u64>;
    /// Number of chunks (each one vector) of the tenant's documents.
    async fn count_chunks(&self, tenant: &TenantId) -> Result<u64>;
}

/// What `/health` asks of the store: available as soon as the database is open, before any
/// index has loaded.
#[async_trait]
pub trait StoreStatus: Send + Sync {
    /// A cheap liveness check.
    async fn ping(&self) -> Result<()>;
    /// Number of documents of all tenants.
    async fn count_all_documents(&self) -> Result<u64>;
}

/// The result of [`Maintenance::check`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// Documents in the store.
    pub documents: u64,
    /// Chunks in the store.
    pub chunks: u64,
    /// Vectors searchable.
    pub vectors: u64,
    /// Documents whose recorded chunk count differs from their stored chunks.
    pub inconsistent_documents: Vec<String>,
    /// Chunks of the store missing from the index, or filed there under another collection.
    pub missing_vectors: u64,
    /// Vectors of the index whose chunk the store does not have.
    pub extra_vectors: u64,
    /// Chunks of the store missing from the lexical index (or filed under another collection),
    /// plus entries of the lexical index the store does not have; 0 without a lexical index.
    pub lexical_mismatches: u64,
    /// Whether everything agrees.
    pub ok: bool,
}

/// Operator tasks on the document store (`ragd check`, shutdown).
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Verifies that documents, chunks and vectors agree.
    async fn check(&self) -> Result<CheckReport>;
    /// Rebuilds what is derived (the vector index) from the source of truth, then checks.
    async fn repair(&self) -> Result<CheckReport>;
    /// Persists what lives in memory, so the next start neither replays nor rebuilds.
    async fn flush(&self) -> Result<()>;
}
