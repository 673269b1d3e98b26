//! Validated domain types ("parse, don't validate"): once a value of these types exists it is
//! within bounds, so the pipelines never re-check.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result};

/// The tenant every document belongs to when none is given.
pub const DEFAULT_TENANT: &str = "default";
/// The collection name the chapter uses by default (`CHROMA_COLLECTION_NAME=documents`).
pub const DEFAULT_COLLECTION: &str = "documents";

fn parse_name(kind: &str, raw: &str) -> Result<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(Error::invalid(format!(
            "{kind} name {raw:?} must be 1-64 characters of A-Z, a-z, 0-9, '_', '-' or '.'"
        )))
    }
}

/// A tenant: the unit of isolation. Every document, chunk and principal belongs to one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TenantId(String);

impl TenantId {
    /// Parses a tenant name (1-64 of `[A-Za-z0-9_.-]`).
    pub fn parse(raw: &str) -> Result<Self> {
        parse_name("tenant", raw).map(Self)
    }
    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self(DEFAULT_TENANT.to_owned())
    }
}

/// A named collection of documents inside a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CollectionName(String);

impl CollectionName {
    /// Parses a collection name (1-64 of `[A-Za-z0-9_.-]`).
    pub fn parse(raw: &str) -> Result<Self> {
        parse_name("collection", raw).map(Self)
    }
    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for CollectionName {
    fn default() -> Self {
        Self(DEFAULT_COLLECTION.to_owned())
    }
}

/// Where a document lives: a collection of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Scope {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The collection inside the tenant.
    pub collection: CollectionName,
}

/// The numeric id of a collection in the store; the vector index filters on it, so that
/// tenant isolation happens inside the index query rather than after top-k.
pub type CollectionId = u32;

/// The key of a chunk in the vector index (assigned by the store, never reused).
pub type ChunkKey = u64;

/// A document's identifier (UUID v7: time-ordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DocumentId(pub Uuid);

impl DocumentId {
    /// A fresh, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
    /// Parses the canonical UUID text form.
    pub fn parse(raw: &str) -> Result<Self> {
        Uuid::parse_str(raw)
            .map(Self)
            .map_err(|_| Error::invalid(format!("{raw:?} is not a document id (UUID)")))
    }
}

impl Default for DocumentId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A unit-length embedding vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding(pub Vec<f32>);

impl Embedding {
    /// Cosine similarity with another unit vector (a dot product).
    pub fn cosine(&self, other: &Embedding) -> f32 {
        dot(&self.0, &other.0)
    }
}

/// Dot product written so the compiler vectorises it (8 independent accumulators).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// How many results a search returns: 1..=100 (the HTTP API narrows this to the chapter's 1..=20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopK(usize);

impl TopK {
    /// The largest k the engine accepts.
    pub const MAX: usize = 100;
    /// Parses k, rejecting 0 and values above [`TopK::MAX`].
    pub fn new(k: usize) -> Result<Self> {
        if (1..=Self::MAX).contains(&k) {
            Ok(Self(k))
        } else {
            Err(Error::invalid(format!(
                "k must be between 1 and {}, got {k}",
                Self::MAX
            )))
        }
    }
    /// The value.
    pub fn get(self) -> usize {
        self.0
    }
}

/// A minimum relevance score in [0, 1] (see [`crate::relevance`]).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Threshold(f32);

impl Threshold {
    /// Parses a threshold, rejecting values outside [0, 1] and NaN.
    pub fn new(t: f32) -> Result<Self> {
        if (0.0..=1.0).contains(&t) {
            Ok(Self(t))
        } else {
            Err(Error::invalid(format!(
                "threshold must be between 0.0 and 1.0, got {t}"
            )))
        }
    }
    /// The value.
    pub fn get(self) -> f32 {
        self.0
    }
}

/// How retrieval finds passages: by meaning (embeddings), by words (BM25), or both fused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Nearest embeddings (cosine).
    Dense,
    /// BM25 over the chunks' words, with language-aware analysis.
    Lexical,
    /// Both, fused; the default when the store has a lexical index.
    #[default]
    Hybrid,
}

impl SearchMode {
    /// The mode's name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dense => "dense",
            Self::Lexical => "lexical",
            Self::Hybrid => "hybrid",
        }
    }
}

impl std::str::FromStr for SearchMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "dense" => Ok(Self::Dense),
            "lexical" => Ok(Self::Lexical),
            "hybrid" => Ok(Self::Hybrid),
            other => Err(Error::invalid(format!(
                "mode must be dense, lexical or hybrid, got {other:?}"
            ))),
        }
    }
}

/// How the extracted text is structured, which decides how it is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextFormat {
    /// Plain prose: split on paragraphs, sentences, words.
    Plain,
    /// Markdown (also what HTML and DOCX are converted to): split on headings first.
    Markdown,
}

/// Text and metadata extracted from one source file or upload, before chunking.
#[derive(Debug, Clone)]
pub struct Extracted {
    /// The document text (UTF-8, NUL-free).
    pub text: String,
    /// A title found in the document itself (HTML `<title>`, first heading, PDF/DOCX metadata).
    pub title: Option<String>,
    /// The MIME type of the source.
    pub mime: &'static str,
    /// How `text` is structured.
    pub format: TextFormat,
    /// For paged sources (PDF): the character offset where each page starts, in order.
    pub page_starts: Vec<usize>,
}

/// What the caller knows about a source: its name (path or upload file name) and raw size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceInfo {
    /// A stable name of the source within its collection (relative path, URL or file name).
    pub source: String,
    /// Size of the raw bytes.
    pub size_bytes: u64,
    /// SHA-256 (hex) of the raw bytes.
    pub content_hash: String,
}

/// A document as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    /// Its id.
    pub id: DocumentId,
    /// Where it lives.
    pub scope: Scope,
    /// Source name, size and content hash.
    pub source: SourceInfo,
    /// The title (from the document, else the file name).
    pub title: String,
    /// The MIME type.
    pub mime: String,
    /// Number of pages (paged formats only).
    pub pages: Option<u32>,
    /// How many chunks it was split into.
    pub chunk_count: u32,
    /// Free-form metadata given at ingestion.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// First ingestion.
    pub created_at: DateTime<Utc>,
    /// Last content change.
    pub updated_at: DateTime<Utc>,
}

/// A chunk ready to be stored: text plus where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkDraft {
    /// Position of the chunk in its document (0-based).
    pub index: u32,
    /// The chunk text.
    pub text: String,
    /// Character (not byte) offset of the first character in the extracted text.
    pub char_start: usize,
    /// Character offset one past the last character.
    pub char_end: usize,
    /// The page the chunk starts on (1-based), for paged formats.
    pub page: Option<u32>,
    /// The nearest heading above the chunk, for structured formats.
    pub heading: Option<String>,
}

/// A chunk as stored, with the document it belongs to.
#[derive(Debug, Clone)]
pub struct StoredChunk {
    /// Its index key.
    pub key: ChunkKey,
    /// The chunk itself.
    pub chunk: ChunkDraft,
    /// The owning document.
    pub document: Document,
}

/// One retrieval result.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The matching chunk and its document.
    pub chunk: StoredChunk,
    /// Raw cosine similarity between query and chunk embeddings, in [-1, 1]; unknown in
    /// lexical mode (the question is not embedded there).
    pub cosine: Option<f32>,
    /// BM25 score of the chunk for the question's words, when the lexical ranking found it.
    pub lexical: Option<f32>,
    /// The reranker's relevance logit, when the hit was reranked.
    pub rerank: Option<f32>,
    /// Calibrated relevance in [0, 1] (see [`crate::relevance`] and [`crate::retrieval`]);
    /// what thresholds apply to.
    pub similarity: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(TenantId::parse("acme-01").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(CollectionName::parse("a b").is_err());
        assert!(CollectionName::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn bounds_are_enforced() {
        assert!(TopK::new(0).is_err());
        assert!(TopK::new(101).is_err());
        assert!(Threshold::new(f32::NAN).is_err());
        assert!(Threshold::new(1.01).is_err());
        assert_eq!(Threshold::new(0.7).map(Threshold::get).ok(), Some(0.7));
    }

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.01).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }
}
