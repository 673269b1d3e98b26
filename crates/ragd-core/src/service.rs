//! [`RagService`]: the one façade over the pipelines. The CLI, the HTTP server and background
//! workers all call it; none of them talks to a port directly.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tracing::instrument;

use crate::answer::{self, Answer, ComposerConfig};

mod guarded;

use crate::chunking::Chunker;
use crate::guardrails::Policy;
use crate::ports::{
    DocumentFilter, DocumentStore, Embedder, Extractor, IndexChanges, NewDocument, VectorIndex,
};
use crate::relevance::Calibration;
use crate::types::{
    ChunkDraft, Document, DocumentId, Hit, Scope, SourceInfo, StoredChunk, TenantId, Threshold,
    TopK,
};
use crate::{Error, Result};
pub use guarded::{GuardedHits, GuardedOutcome};

/// Explicit limits of the pipelines; every one is configurable.
#[derive(Debug, Clone, Copy)]
pub struct ServiceLimits {
    /// Largest source accepted, in bytes.
    pub max_document_bytes: u64,
    /// Most chunks one document may produce.
    pub max_chunks_per_document: usize,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        Self {
            max_document_bytes: 64 * 1024 * 1024,
            max_chunks_per_document: 50_000,
        }
    }
}

/// The backends and settings a [`RagService`] is built from.
pub struct ServiceParts {
    /// Embeds chunks and queries.
    pub embedder: Arc<dyn Embedder>,
    /// Nearest-neighbour search.
    pub index: Arc<dyn VectorIndex>,
    /// Documents and chunks.
    pub store: Arc<dyn DocumentStore>,
    /// Text extraction.
    pub extractor: Arc<dyn Extractor>,
    /// Chunking.
    pub chunker: Chunker,
    /// Cosine → relevance map.
    pub calibration: Calibration,
    /// Extractive answer settings.
    pub composer: ComposerConfig,
    /// Limits.
    pub limits: ServiceLimits,
    /// The guardrails policy applied to questions and answers.
    pub guardrails: Arc<Policy>,
}

/// A source to ingest.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// Where the document goes.
    pub scope: Scope,
    /// Its stable name in the collection (relative path or upload name).
    pub source: String,
    /// Raw bytes.
    pub bytes: Vec<u8>,
    /// Free-form metadata stored with the document.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// What an ingestion did.
#[derive(Debug, Clone)]
pub enum IngestOutcome {
    /// New or changed content was stored.
    Ingested {
        /// The stored document.
        document: Document,
        /// Whether it replaced an earlier version of the same source.
        replaced: bool,
    },
    /// The same content was already stored: nothing was done.
    Unchanged {
        /// The stored document.
        document: Document,
    },
}

/// A retrieval request.
#[derive(Debug, Clone)]
pub struct RetrieveRequest {
    /// The tenant searched.
    pub tenant: TenantId,
    /// One collection of the tenant, or all of them.
    pub collection: Option<String>,
    /// The question.
    pub query: String,
    /// How many results at most.
    pub k: TopK,
    /// Minimum calibrated similarity.
    pub threshold: Threshold,
}

/// Retrieval results with the composed answer.
#[derive(Debug, Clone)]
pub struct QueryOutcome {
    /// Sources that passed the threshold, best first.
    pub hits: Vec<Hit>,
    /// The answer composed from them.
    pub answer: Answer,
}

/// The RAG engine: ingestion, retrieval and answers over the configured backends.
pub struct RagService {
    parts: ServiceParts,
    // Serialises "commit to the store, then apply to the index" so the index sees changes in
    // commit order (a replaced document's old vectors are never re-added after their removal).
    // It guards the committed changes the index has not taken yet (its update failed): they are
    // applied, in order, before any later change, so a stored document never stays unsearchable.
    write_lock: Mutex<Vec<IndexChanges>>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn file_stem(source: &str) -> String {
    let name = source.rsplit(['/', '\\']).next().unwrap_or(source);
    name.rsplit_once('.')
        .map_or(name, |(stem, _)| stem)
        .to_owned()
}

impl RagService {
    /// Builds the service from its parts.
    pub fn new(parts: ServiceParts) -> Self {
        Self {
            parts,
            write_lock: Mutex::new(Vec::new()),
        }
    }

    /// The embedder (model id and dimensions are reported by `/stats` and `/health`).
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.parts.embedder
    }

    /// The document store.
    pub fn store(&self) -> &Arc<dyn DocumentStore> {
        &self.parts.store
    }

    /// The vector index.
    pub fn index(&self) -> &Arc<dyn VectorIndex> {
        &self.parts.index
    }

    /// The limits in force.
    pub fn limits(&self) -> ServiceLimits {
        self.parts.limits
    }

    /// Ingests one source: a no-op when the same bytes are already stored under this source
    /// name, a replacement of its chunks when they changed.
    #[instrument(skip_all, fields(source = %req.source, bytes = req.bytes.len()), err(level = "debug"))]
    pub async fn ingest(&self, req: IngestRequest) -> Result<IngestOutcome> {
        let size = req.bytes.len() as u64;
        if size > self.parts.limits.max_document_bytes {
            return Err(Error::invalid(format!(
                "{}: {size} bytes is over the limit of {} bytes per document",
                req.source, self.parts.limits.max_document_bytes
            )));
        }
        let content_hash = sha256_hex(&req.bytes);
        let existing = self
            .parts
            .store
            .find_by_source(&req.scope, &req.source)
            .await?;
        if let Some(document) = existing
            .as_ref()
            .filter(|d| d.source.content_hash == content_hash)
        {
            // "Unchanged" promises the stored version is searchable.
            self.apply_pending(&mut *self.write_lock.lock().await)
                .await?;
            return Ok(IngestOutcome::Unchanged {
                document: document.clone(),
            });
        }
        let (extracted, chunks) = self
            .extract_and_chunk(req.source.clone(), req.bytes)
            .await?;
        let texts: Vec<String> = chunks.iter().map(|c| c.text.clone()).collect();
        let vectors = self.parts.embedder.embed(texts).await?;
        let new = NewDocument {
            title: extracted
                .title
                .clone()
                .unwrap_or_else(|| file_stem(&req.source)),
            mime: extracted.mime.to_owned(),
            pages: u32::try_from(extracted.page_starts.len())
                .ok()
                .filter(|&p| p > 0),
            source: SourceInfo {
                source: req.source,
                size_bytes: size,
                content_hash,
            },
            scope: req.scope,
            metadata: req.metadata,
            chunks: chunks.into_iter().zip(vectors).collect(),
        };
        let mut pending = self.write_lock.lock().await;
        self.apply_pending(&mut pending).await?;
        let (document, changes) = self.parts.store.put_document(new).await?;
        self.apply_committed(&mut pending, changes).await?;
        Ok(IngestOutcome::Ingested {
            document,
            replaced: existing.is_some(),
        })
    }

    /// Applies the changes an earlier index update failed to take, in commit order.
    async fn apply_pending(&self, pending: &mut Vec<IndexChanges>) -> Result<()> {
        while let Some(changes) = pending.first() {
            self.parts.index.apply(changes.clone()).await.map_err(|err| {
                tracing::error!(error = %err, "the vector index still refuses committed changes");
                Error::Unavailable("the vector index is not accepting changes; retry later".into())
            })?;
            pending.remove(0);
        }
        Ok(())
    }

    /// Applies just-committed changes; when the index refuses them they are kept for the next
    /// write (the store is the source of truth: the document exists, it is not yet searchable).
    async fn apply_committed(
        &self,
        pending: &mut Vec<IndexChanges>,
        changes: IndexChanges,
    ) -> Result<()> {
        if let Err(err) = self.parts.index.apply(changes.clone()).await {
            tracing::error!(error = %err, "the vector index refused committed changes; kept to retry");
            pending.push(changes);
            return Err(Error::Unavailable(
                "stored, but the vector index did not take it yet; retried with the next change"
                    .into(),
            ));
        }
        Ok(())
    }

    async fn extract_and_chunk(
        &self,
        source: String,
        bytes: Vec<u8>,
    ) -> Result<(crate::types::Extracted, Vec<ChunkDraft>)> {
        let extracted = self.parts.extractor.extract(&source, bytes).await?;
        let chunker = self.parts.chunker.clone();
        let max_chunks = self.parts.limits.max_chunks_per_document;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let chunks = chunker.chunk(&extracted);
            if chunks.is_empty() {
                return Err(Error::invalid(format!(
                    "{source}: no text could be extracted"
                )));
            }
            if chunks.len() > max_chunks {
                return Err(Error::invalid(format!(
                    "{source}: {} chunks is over the limit of {max_chunks} per document",
                    chunks.len()
                )));
            }
            Ok((extracted, chunks))
        })
        .await
        .map_err(Error::internal)?
    }

    /// Deletes a document, its chunks and their vectors.
    #[instrument(skip_all, fields(document = %id), err(level = "debug"))]
    pub async fn delete_document(&self, id: DocumentId) -> Result<Document> {
        let mut pending = self.write_lock.lock().await;
        self.apply_pending(&mut pending).await?;
        let (document, changes) = self.parts.store.delete_document(id).await?;
        self.apply_committed(&mut pending, changes).await?;
        Ok(document)
    }

    /// One document.
    pub async fn document(&self, id: DocumentId) -> Result<Document> {
        self.parts.store.get_document(id).await
    }

    /// A page of documents and the total count.
    pub async fn documents(&self, filter: &DocumentFilter) -> Result<(Vec<Document>, u64)> {
        self.parts.store.list_documents(filter).await
    }

    /// The chunks of a document, in order.
    pub async fn chunks(&self, id: DocumentId) -> Result<Vec<StoredChunk>> {
        self.parts.store.document_chunks(id).await
    }

    /// The best chunks for a question within the tenant (and collection), above the threshold.
    #[instrument(skip_all, fields(tenant = req.tenant.as_str(), k = req.k.get()), err(level = "debug"))]
    pub async fn retrieve(&self, req: &RetrieveRequest) -> Result<Vec<Hit>> {
        let collections = self
            .parts
            .store
            .collection_ids(req.tenant.as_str(), req.collection.as_deref())
            .await?;
        if collections.is_empty() {
            return Ok(Vec::new());
        }
        let query = self
            .parts
            .embedder
            .embed_query(req.tenant.as_str(), req.query.clone())
            .await?;
        let min_cosine = self.parts.calibration.cosine_for(req.threshold.get());
        let found: Vec<(u64, f32)> = self
            .parts
            .index
            .search(&query, &collections, req.k.get())
            .await?
            .into_iter()
            .filter(|&(_, cosine)| cosine >= min_cosine)
            .collect();
        let keys: Vec<u64> = found.iter().map(|&(k, _)| k).collect();
        let chunks = self.parts.store.chunks_by_keys(&collections, &keys).await?;
        let hits = chunks
            .into_iter()
            .filter_map(|chunk| {
                let cosine = found.iter().find(|(k, _)| *k == chunk.key)?.1;
                let similarity = self.parts.calibration.relevance(cosine);
                (similarity >= req.threshold.get()).then_some(Hit {
                    chunk,
                    cosine,
                    similarity,
                })
            })
            .collect();
        Ok(hits)
    }

    /// Retrieves and composes an extractive answer with `[n]` citations.
    pub async fn query(&self, req: &RetrieveRequest) -> Result<QueryOutcome> {
        let hits = self.retrieve(req).await?;
        let answer = answer::compose(&req.query, &hits, &self.parts.composer);
        Ok(QueryOutcome { hits, answer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_and_hashes() {
        assert_eq!(file_stem("docs/guide.v2.md"), "guide.v2");
        assert_eq!(file_stem("README"), "README");
        assert_eq!(sha256_hex(b"abc").len(), 64);
    }
}
