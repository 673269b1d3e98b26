//! Request and response bodies of the HTTP API beyond the query answer itself.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{DocumentInfo, Source};

/// A question (the chapter's `QueryRequest`). Unknown fields are rejected with 422.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// The question: 3..=1000 characters after trimming, not blank.
    #[schema(
        min_length = 3,
        max_length = 1000,
        example = "How do I create a virtual environment?"
    )]
    pub query: String,
    /// Sources to return, 1..=20.
    #[schema(minimum = 1, maximum = 20, default = 5)]
    pub max_results: Option<u32>,
    /// Minimum similarity of a source, 0.0..=1.0 (calibrated relevance, see the README).
    #[schema(minimum = 0.0, maximum = 1.0, default = 0.7)]
    pub threshold: Option<f32>,
    /// Apply guardrails to the question and the answer; `false` is allowed for admins only (403
    /// otherwise).
    #[schema(default = true)]
    pub use_guardrails: Option<bool>,
    /// Conversation this question belongs to.
    pub conversation_id: Option<String>,
    /// Restrict retrieval to one collection (ragd extension; default: all of the tenant's).
    pub collection: Option<String>,
    /// How passages are found (ragd extension): `dense` (embeddings), `lexical` (BM25 words)
    /// or `hybrid` (both, fused). Default: the server's `RAGD_SEARCH_MODE` (hybrid when it has
    /// a lexical index).
    pub mode: Option<SearchMode>,
    /// Rerank the candidates with the cross-encoder (ragd extension; needs
    /// `RAGD_RERANK_MODEL`). Default: the server's `RAGD_RERANK`.
    pub rerank: Option<bool>,
}

/// Retrieval without an answer (`POST /search`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The text to search for: 3..=1000 characters after trimming.
    #[schema(min_length = 3, max_length = 1000)]
    pub query: String,
    /// Sources to return, 1..=20.
    #[schema(minimum = 1, maximum = 20, default = 5)]
    pub max_results: Option<u32>,
    /// Minimum similarity, 0.0..=1.0.
    #[schema(minimum = 0.0, maximum = 1.0, default = 0.7)]
    pub threshold: Option<f32>,
    /// Restrict to one collection.
    pub collection: Option<String>,
    /// Apply the guardrails (input rules, PII redaction of the sources); `false` needs the
    /// `guardrails:bypass` scope.
    #[schema(default = true)]
    pub use_guardrails: Option<bool>,
    /// How passages are found (ragd extension): `dense` (embeddings), `lexical` (BM25 words)
    /// or `hybrid` (both, fused). Default: the server's `RAGD_SEARCH_MODE` (hybrid when it has
    /// a lexical index).
    pub mode: Option<SearchMode>,
    /// Rerank the candidates with the cross-encoder (ragd extension; needs
    /// `RAGD_RERANK_MODEL`). Default: the server's `RAGD_RERANK`.
    pub rerank: Option<bool>,
}

/// How retrieval finds passages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Nearest embeddings (cosine).
    Dense,
    /// BM25 over the chunks' words (English and Portuguese analysis).
    Lexical,
    /// Both rankings fused.
    Hybrid,
}

/// The result of `POST /search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    /// The request id.
    pub request_id: String,
    /// The text searched for (trimmed).
    pub query: String,
    /// Matching chunks, best first.
    pub sources: Vec<Source>,
    /// Seconds spent.
    pub processing_time: f64,
    /// Guardrail rules that fired (flagged input rules, `pii.*` redactions), as in `/query`.
    pub guardrails_triggered: Vec<String>,
    /// The search mode used.
    pub mode: SearchMode,
}

/// Credentials sent as JSON to `POST /auth/login` (form fields with the same names work too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Username.
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    /// Password.
    #[schema(min_length = 1, max_length = 1024)]
    pub password: String,
    /// The user's tenant; needed only when several tenants have a user of this name.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub tenant: Option<String>,
}

/// A bearer token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `healthy` when the database and the model are, otherwise `degraded`.
    pub status: String,
    /// ragd's version.
    pub version: String,
    /// When the check ran.
    pub timestamp: DateTime<Utc>,
    /// `healthy`, `empty` (no documents yet) or `unhealthy`.
    pub database_status: String,
    /// `healthy`, `loading` or `unhealthy`.
    pub model_status: String,
}

/// `GET /health/live` and `GET /health/ready`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProbeResponse {
    /// `alive` or `ready`.
    pub status: String,
}

/// `GET /stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsResponse {
    /// Documents visible to the caller (their tenant).
    pub documents_count: u64,
    /// Vectors (chunks) of the caller's tenant in the index.
    pub vectors_count: u64,
    /// The embedding model.
    pub embeddings_model: String,
    /// The answer generator (`extractive` until an LLM is configured).
    pub llm_model: String,
    /// Seconds since the server started.
    pub uptime: f64,
    /// ragd's version.
    pub version: String,
}

/// The error body of every failed request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A stable snake_case code: `validation_error`, `bad_request`, `guardrail_violation`
    /// (`details.rules` names the rules), `unauthorized`,
    /// `forbidden`, `not_found`, `conflict`, `payload_too_large`, `unsupported_media_type`,
    /// `rate_limit_exceeded`, `service_unavailable`, `internal_error`.
    pub error: String,
    /// What went wrong, for humans.
    pub message: String,
    /// Per-field problems (validation errors) or other structured detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ErrorDetails>)]
    pub details: Option<serde_json::Value>,
    /// The request id (also in `X-Request-ID`).
    pub request_id: String,
    /// When the error happened.
    pub timestamp: DateTime<Utc>,
}

/// The shapes of an error's `details` (the schema of [`ErrorBody::details`]): one entry per bad
/// field in a 422, or an object such as a guardrail refusal's `{"rules": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ErrorDetails {
    /// The fields that failed validation.
    Fields(Vec<FieldError>),
    /// Other structured detail.
    #[schema(value_type = Object)]
    Other(serde_json::Map<String, serde_json::Value>),
}

/// One field that failed validation (an item of `details` in a 422).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field, e.g. `query`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
    /// A stable code, e.g. `too_short`, `too_long`, `out_of_range`, `wrong_type`, `unknown_field`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A text document sent as JSON to `POST /documents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTextDocument {
    /// The text (Markdown is chunked by its headings); not blank.
    #[schema(min_length = 1, pattern = "\\S")]
    pub content: String,
    /// Free-form metadata; `source` and `title` are used when present.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Collection (default `documents`).
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub collection: Option<String>,
}

/// The multipart form of `POST /documents` (for the OpenAPI document).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadForm {
    /// One or more files (repeat the field); txt, md, html, pdf or docx.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub file: Vec<String>,
    /// Collection (default `documents`).
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub collection: Option<String>,
    /// A JSON object of metadata stored with every file.
    pub metadata: Option<String>,
}

/// `POST /keys`: a new API key of the caller's tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// A label, 1..=128 characters, not blank.
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    pub name: String,
    /// What the key may do: `query`, `ingest`, `admin`, `guardrails:bypass`, `platform` (at
    /// most the creator's own scopes; API keys cannot create keys).
    #[schema(value_type = Vec<ScopeName>, min_items = 1)]
    pub scopes: Vec<String>,
    /// Lifetime in seconds (default: no expiry; at most ten years).
    #[schema(minimum = 1, maximum = 315_360_000)]
    pub expires_in_seconds: Option<u64>,
}

/// A scope name (the items of [`NewApiKey::scopes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ScopeName {
    /// Ask and search; read documents, jobs and stats.
    #[serde(rename = "query")]
    Query,
    /// Upload and delete documents.
    #[serde(rename = "ingest")]
    Ingest,
    /// Manage the tenant's keys and users.
    #[serde(rename = "admin")]
    Admin,
    /// `use_guardrails: false`.
    #[serde(rename = "guardrails:bypass")]
    GuardrailsBypass,
    /// Manage tenants (the platform tenant only).
    #[serde(rename = "platform")]
    Platform,
}

/// An API key as listed (and, once, as created: with `key`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyInfo {
    /// Key id (for revoking).
    pub id: String,
    /// The key itself: only in the response that creates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Its public prefix (`ragd_<prefix>_…`).
    pub prefix: String,
    /// Label.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The user who created the key (it works only while that user is enabled); absent for
    /// keys made by an operator (`ragd keys create`) or an identity-provider token.
    pub owner: Option<String>,
}

/// `POST /tenants`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Name: 1-64 letters, digits, `_`, `-`, `.`.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub name: String,
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TenantSummary {
    /// Name.
    pub name: String,
    /// Documents in all its collections.
    pub documents: u64,
    /// Users.
    pub users: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// `POST /users`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// Login name: 1-64 letters, digits or `._@-`, unique within its tenant.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    pub username: String,
    /// Password, 12+ characters (at most 1024 bytes).
    #[schema(min_length = 12, max_length = 256)]
    pub password: String,
    /// `member` (default) or `admin`.
    #[schema(value_type = Option<RoleName>)]
    pub role: Option<String>,
    /// Tenant (default: the caller's; another one needs the `platform` scope).
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub tenant: Option<String>,
}

/// A role name (of [`NewUserRequest::role`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    /// Queries and ingests.
    Member,
    /// Manages the tenant.
    Admin,
}

/// A user (never with the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserSummary {
    /// Login name.
    pub username: String,
    /// Tenant.
    pub tenant: String,
    /// `admin` or `member`.
    pub role: String,
    /// Whether the user is disabled.
    pub disabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A page of documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DocumentList {
    /// The documents, newest first.
    pub documents: Vec<DocumentInfo>,
    /// All documents matching the filter.
    pub total: u64,
    /// Page size.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u32,
}

/// One file of an ingestion job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobFileResult {
    /// The file name.
    pub source: String,
    /// `ingested`, `unchanged` or `failed`.
    pub status: String,
    /// The document, when stored.
    pub document_id: Option<String>,
    /// Chunks written.
    pub chunks: u32,
    /// Why it failed.
    pub error: Option<String>,
}

/// An ingestion job (`GET /jobs/{id}`, and the 202 answer of a large upload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobInfo {
    /// Job id.
    pub job_id: String,
    /// `queued`, `running`, `succeeded` or `failed` (some file failed; the rest are stored).
    pub status: String,
    /// Collection the files go to.
    pub collection: String,
    /// Files in the upload.
    pub total_files: u32,
    /// Files done so far.
    pub processed_files: u32,
    /// Fraction done, 0.0..=1.0.
    pub progress: f64,
    /// Per-file results so far.
    pub files: Vec<JobFileResult>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A conversation (`GET /conversations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConversationInfo {
    /// The id the client chose (`conversation_id` of `/query`).
    pub id: String,
    /// Its first question, cut to 80 characters.
    pub title: String,
    /// Turns kept.
    pub turns: u32,
    /// The first turn.
    pub created_at: DateTime<Utc>,
    /// The last turn.
    pub updated_at: DateTime<Utc>,
}

/// A page of the caller's conversations, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConversationList {
    /// The conversations.
    pub conversations: Vec<ConversationInfo>,
    /// All of the caller's conversations.
    pub total: u64,
    /// Page size.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u32,
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TurnInfo {
    /// The question as asked.
    pub question: String,
    /// The question retrieval used, when the follow-up was made standalone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standalone_question: Option<String>,
    /// The answer given.
    pub answer: String,
    /// Who wrote the answer (as `model` of `/query`).
    pub model: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A conversation with its turns, oldest first (`GET /conversations/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConversationDetail {
    /// The conversation.
    #[serde(flatten)]
    pub conversation: ConversationInfo,
    /// Its turns, oldest first.
    pub messages: Vec<TurnInfo>,
}

/// `POST /webhooks/register` (the chapter's `WebhookConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookConfig {
    /// Where events are POSTed: http or https, a public address unless its network is in
    /// `RAGD_WEBHOOK_ALLOWED_NETWORKS`.
    pub url: String,
    /// Events: `query_completed`, `query_failed`, `document_ingested`, `document_deleted`,
    /// `ingestion_failed`.
    pub events: Vec<String>,
    /// Signs every delivery (`X-Webhook-Signature` and `webhook-signature`); never returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The answer to `POST /webhooks/register`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookRegistered {
    /// The webhook's id.
    pub webhook_id: String,
    /// `registered`.
    pub status: String,
}

/// `PATCH /webhooks/{id}`: the fields to change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookUpdate {
    /// A new URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A new event list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// A new secret; `""` removes it (deliveries are then unsigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Turn deliveries on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// A webhook as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookInfo {
    /// Its id.
    pub webhook_id: String,
    /// Where events go.
    pub url: String,
    /// What it subscribes to.
    pub events: Vec<String>,
    /// Whether deliveries are signed.
    pub has_secret: bool,
    /// Whether it receives events (a receiver answering 410 Gone turns it off).
    pub active: bool,
    /// Who registered it.
    pub owner: String,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One event on its way to a webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryInfo {
    /// The delivery id: the `webhook-id` header, the same on every attempt.
    pub delivery_id: String,
    /// The event.
    pub event_type: String,
    /// `pending`, `delivered` or `dead` (a dead letter: attempts exhausted, or 410 Gone).
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's last HTTP status.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the event was recorded.
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The answer to `POST /webhooks/{id}/test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookTestQueued {
    /// The test delivery (see `GET /webhooks/{id}/deliveries`).
    pub delivery_id: String,
    /// `queued`.
    pub status: String,
}
