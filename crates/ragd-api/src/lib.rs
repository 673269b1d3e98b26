//! ragd's wire types: the JSON shapes of the chapter's contract (field names are fixed by the
//! chapter's clients) and ragd's own additions. Shared by the server, the CLI's `--json` output
//! and the Rust client; no behaviour lives here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod http;
pub use http::*;

/// One source of an answer (`sources[]` of the chapter's `QueryResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Source {
    /// The chunk text.
    pub content: String,
    /// Calibrated relevance in [0, 1] (see the README's "Similarity scores").
    pub similarity: f32,
    /// Where the chunk comes from: `document_id`, `source`, `title`, `page`, `chunk_index`,
    /// `char_start`, `char_end`, `heading`, `collection`, `cosine`, and the document's metadata.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// The answer to a question (the chapter's `QueryResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueryResponse {
    /// The request id (also in `X-Request-ID`).
    pub request_id: String,
    /// The question as understood (trimmed).
    pub query: String,
    /// The answer with `[n]` citations into `sources`.
    pub answer: String,
    /// Sources, best first.
    pub sources: Vec<Source>,
    /// Confidence in [0, 1].
    pub confidence: f32,
    /// Seconds spent answering.
    pub processing_time: f64,
    /// When the answer was produced.
    pub timestamp: DateTime<Utc>,
    /// Names of the guardrail rules that fired, and the answer's flags: `citation.missing`,
    /// `citation.invalid`, `generator.unavailable` (the extractive answer was given instead).
    pub guardrails_triggered: Vec<String>,
    /// Who wrote the answer: the model id, `extractive`, or `none` when no source passed the
    /// threshold (the fixed "not found" answer; no model was asked). A ragd extension.
    #[serde(default)]
    pub model: String,
    /// Tokens the model used; absent when no model was asked. A ragd extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
    /// The conversation the question belongs to, as sent. A ragd extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// The question retrieval used when a follow-up was made standalone from the
    /// conversation. A ragd extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standalone_query: Option<String>,
}

/// Tokens a model used (the OpenAI protocol's `usage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenUsage {
    /// Tokens of the prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
    /// Both.
    pub total_tokens: u32,
}

/// A stored document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DocumentInfo {
    /// Document id (UUID).
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Collection.
    pub collection: String,
    /// Source name (path or upload name).
    pub source: String,
    /// Title.
    pub title: String,
    /// MIME type.
    pub mime: String,
    /// Raw size in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the raw bytes.
    pub content_hash: String,
    /// Page count (PDF).
    pub pages: Option<u32>,
    /// Number of chunks.
    pub chunk_count: u32,
    /// Free-form metadata.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// First ingestion.
    pub created_at: DateTime<Utc>,
    /// Last content change.
    pub updated_at: DateTime<Utc>,
}

/// Per-file result of an ingestion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FileResult {
    /// Stored (new or changed).
    Ingested {
        /// Source name.
        source: String,
        /// Document id.
        document_id: String,
        /// Chunks written.
        chunks: u32,
        /// Whether an older version was replaced.
        replaced: bool,
    },
    /// Already stored with the same content.
    Unchanged {
        /// Source name.
        source: String,
        /// Document id.
        document_id: String,
    },
    /// Could not be ingested.
    Failed {
        /// Source name.
        source: String,
        /// Why.
        error: String,
    },
}

/// Summary of an ingestion run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IngestSummary {
    /// Files stored.
    pub ingested: u32,
    /// Files already up to date.
    pub unchanged: u32,
    /// Files that failed.
    pub failed: u32,
    /// Chunks written.
    pub chunks: u64,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Per-file results.
    pub files: Vec<FileResult>,
}
