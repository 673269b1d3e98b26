//! [`RagService`]: the one façade over the pipelines. The CLI, the HTTP server and background
//! workers all call it; none of them talks to a port directly.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tracing::instrument;

use crate::answer::{Answer, ComposerConfig};

mod admission;
mod answering;
mod conversation;
mod guarded;
mod meters;
mod outcome;
mod retrieving;

use crate::chunking::Chunker;
use crate::conversations::ConversationStore;
use crate::events::Event;
use crate::generation::Usage;
use crate::guardrails::Policy;
use crate::ports::{DocumentFilter, DocumentStore, Embedder, Extractor, Generator, NewDocument};
use crate::relevance::Calibration;
use crate::retrieval::RetrievalSettings;
use crate::types::{
    ChunkDraft, Document, DocumentId, Hit, Scope, SearchMode, SourceInfo, StoredChunk, TenantId,
    Threshold, TopK,
};
use crate::{Error, Result};
use admission::Admission;
pub use answering::{
    ChatOutcome, ChatRequest, EXTRACTIVE, GENERATOR_UNAVAILABLE, GenerationSettings, NO_MODEL,
    Progress, ProgressSink,
};
pub use conversation::{ConversationKey, Dialogue, FOLLOW_UP_REWRITTEN};
pub use guarded::{CONVERSATION_NOT_SAVED, GuardedHits, GuardedOutcome};
use meters::IngestFailure;
pub use outcome::FileOutcome;

/// Explicit limits of the pipelines; every one is configurable.
#[derive(Debug, Clone, Copy)]
pub struct ServiceLimits {
    /// Largest source accepted, in bytes.
    pub max_document_bytes: u64,
    /// Most chunks one document may produce.
    pub max_chunks_per_document: usize,
    /// Load shedding: a question expected to wait longer than this is refused at once with
    /// [`Error::Overloaded`] (the questions in flight times the measured interval between
    /// answers, Little's law); `None` admits every question.
    pub question_budget: Option<std::time::Duration>,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        Self {
            max_document_bytes: 64 * 1024 * 1024,
            max_chunks_per_document: 50_000,
            question_budget: None,
        }
    }
}

/// The backends and settings a [`RagService`] is built from.
pub struct ServiceParts {
    /// Embeds chunks and queries.
    pub embedder: Arc<dyn Embedder>,
    /// Documents, chunks and their vectors, searchable.
    pub store: Arc<dyn DocumentStore>,
    /// Text extraction.
    pub extractor: Arc<dyn Extractor>,
    /// Chunking.
    pub chunker: Chunker,
    /// Cosine → relevance map.
    pub calibration: Calibration,
    /// Search modes, fusion and reranking.
    pub retrieval: RetrievalSettings,
    /// Extractive answer settings.
    pub composer: ComposerConfig,
    /// The answer generator; `None` answers extractively.
    pub generator: Option<Arc<dyn Generator>>,
    /// Settings of generated answers.
    pub generation: GenerationSettings,
    /// Limits.
    pub limits: ServiceLimits,
    /// The guardrails policy applied to questions and answers.
    pub guardrails: Arc<Policy>,
    /// Conversation memory.
    pub conversations: Arc<dyn ConversationStore>,
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
    /// Dense, lexical or hybrid; `None` is the server's default.
    pub mode: Option<SearchMode>,
    /// Rerank the candidates with the cross-encoder; `None` is the server's default.
    pub rerank: Option<bool>,
}

/// Retrieval results with the composed answer.
#[derive(Debug, Clone)]
pub struct QueryOutcome {
    /// Sources that passed the threshold, best first.
    pub hits: Vec<Hit>,
    /// The answer composed from them.
    pub answer: Answer,
    /// Who wrote the answer: the generator's model id, [`EXTRACTIVE`], or [`NO_MODEL`] when no
    /// source passed the threshold and no model was asked.
    pub model: String,
    /// Tokens the generator used, when one was asked.
    pub usage: Option<Usage>,
    /// The question retrieval used, when a follow-up was made standalone.
    pub standalone_query: Option<String>,
}

/// The RAG engine: ingestion, retrieval and answers over the configured backends.
pub struct RagService {
    parts: ServiceParts,
    admission: Admission,
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
            admission: Admission::new(parts.limits.question_budget),
            parts,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> ServiceLimits {
        self.parts.limits
    }

    /// Ingests one source: a no-op when the same bytes are already stored under this source
    /// name, a replacement of its chunks when they changed.
    #[instrument(skip_all, fields(source = %req.source, bytes = req.bytes.len()), err(level = "debug"))]
    pub async fn ingest(&self, req: IngestRequest) -> Result<IngestOutcome> {
        let result = self.ingest_stages(req).await;
        meters::ingested(&result);
        result.map_err(|(_, err)| err)
    }

    /// [`Self::ingest`], its error tagged with the stage that failed.
    async fn ingest_stages(
        &self,
        req: IngestRequest,
    ) -> std::result::Result<IngestOutcome, (IngestFailure, Error)> {
        let size = req.bytes.len() as u64;
        if size > self.parts.limits.max_document_bytes {
            return Err((
                IngestFailure::TooLarge,
                Error::invalid(format!(
                    "{}: {size} bytes is over the limit of {} bytes per document",
                    req.source, self.parts.limits.max_document_bytes
                )),
            ));
        }
        let content_hash = sha256_hex(&req.bytes);
        let existing = self
            .parts
            .store
            .find_by_source(&req.scope, &req.source)
            .await
            .map_err(IngestFailure::Storage.at())?;
        if let Some(document) = existing
            .as_ref()
            .filter(|d| d.source.content_hash == content_hash)
        {
            // "Unchanged" promises the stored version is searchable.
            self.parts
                .store
                .settle()
                .await
                .map_err(IngestFailure::Storage.at())?;
            return Ok(IngestOutcome::Unchanged {
                document: document.clone(),
            });
        }
        let (extracted, chunks) = self
            .extract_and_chunk(req.source.clone(), req.bytes)
            .await?;
        let texts: Vec<String> = chunks.iter().map(|c| c.text.clone()).collect();
        let vectors = self
            .parts
            .embedder
            .embed(texts)
            .await
            .map_err(IngestFailure::Embedding.at())?;
        let id = existing.map_or_else(DocumentId::new, |d| d.id);
        let event = Event::DocumentStored {
            document_id: id,
            scope: req.scope.clone(),
            source: req.source.clone(),
            chunks: u32::try_from(chunks.len())
                .map_err(|e| (IngestFailure::TooLarge, Error::internal(e)))?,
        };
        let new = NewDocument {
            id,
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
        let stored = self
            .parts
            .store
            .put_document(new, &[event])
            .await
            .map_err(IngestFailure::Storage.at())?;
        Ok(IngestOutcome::Ingested {
            document: stored.document,
            replaced: stored.replaced,
        })
    }

    /// Ingests one source and reports the outcome the way every transport does.
    pub async fn ingest_file(&self, req: IngestRequest) -> FileOutcome {
        let source = req.source.clone();
        FileOutcome::of(&source, self.ingest(req).await)
    }

    async fn extract_and_chunk(
        &self,
        source: String,
        bytes: Vec<u8>,
    ) -> std::result::Result<(crate::types::Extracted, Vec<ChunkDraft>), (IngestFailure, Error)>
    {
        let extracted = self
            .parts
            .extractor
            .extract(&source, bytes)
            .await
            .map_err(IngestFailure::Extraction.at())?;
        let chunker = self.parts.chunker.clone();
        let max_chunks = self.parts.limits.max_chunks_per_document;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let chunks = chunker.chunk(&extracted);
            if chunks.is_empty() {
                return Err((
                    IngestFailure::Extraction,
                    Error::invalid(format!("{source}: no text could be extracted")),
                ));
            }
            if chunks.len() > max_chunks {
                return Err((
                    IngestFailure::TooLarge,
                    Error::invalid(format!(
                        "{source}: {} chunks is over the limit of {max_chunks} per document",
                        chunks.len()
                    )),
                ));
            }
            Ok((extracted, chunks))
        })
        .await
        .map_err(|e| (IngestFailure::Extraction, Error::internal(e)))?
    }

    /// Deletes one of the tenant's documents, its chunks and their vectors.
    #[instrument(skip_all, fields(tenant = tenant.as_str(), document = %id), err(level = "debug"))]
    pub async fn delete_document(&self, tenant: &TenantId, id: DocumentId) -> Result<Document> {
        let document = self.parts.store.get_document(tenant, id).await?;
        let event = Event::DocumentDeleted {
            document_id: id,
            scope: document.scope.clone(),
            source: document.source.source.clone(),
        };
        self.parts.store.delete_document(tenant, id, &[event]).await
    }

    /// One of the tenant's documents.
    pub async fn document(&self, tenant: &TenantId, id: DocumentId) -> Result<Document> {
        self.parts.store.get_document(tenant, id).await
    }

    /// A page of the tenant's documents and the total count.
    pub async fn documents(
        &self,
        tenant: &TenantId,
        filter: &DocumentFilter,
    ) -> Result<(Vec<Document>, u64)> {
        self.parts.store.list_documents(tenant, filter).await
    }

    /// The chunks of one of the tenant's documents, in order.
    pub async fn chunks(&self, tenant: &TenantId, id: DocumentId) -> Result<Vec<StoredChunk>> {
        self.parts.store.document_chunks(tenant, id).await
    }

    /// The names of the tenant's collections, sorted.
    pub async fn collection_names(&self, tenant: &TenantId) -> Result<Vec<String>> {
        self.parts.store.collection_names(tenant).await
    }

    /// The tenant's document and chunk (vector) counts.
    pub async fn stats(&self, tenant: &TenantId) -> Result<(u64, u64)> {
        let documents = self.parts.store.count_documents(tenant).await?;
        let chunks = self.parts.store.count_chunks(tenant).await?;
        Ok((documents, chunks))
    }

    /// Retrieves and answers with `[n]` citations, without the guardrails (the CLI's own
    /// queries over the operator's data).
    pub async fn query(&self, req: &RetrieveRequest) -> Result<QueryOutcome> {
        Ok(self.guarded_query(req, false, None, None).await?.outcome)
    }

    /// The answer generator's model id, or [`EXTRACTIVE`].
    pub fn answer_model(&self) -> &str {
        self.parts
            .generator
            .as_ref()
            .map_or(EXTRACTIVE, |g| g.model_id())
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
