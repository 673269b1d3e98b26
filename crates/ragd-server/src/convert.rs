//! Domain values → wire types (`ragd-api`), in one place.

use ragd_api::{DocumentInfo, Source};
use ragd_core::FileOutcome;
use ragd_core::types::{Document, Hit};
use serde_json::{Value, json};

/// A stored document as the API shows it.
pub(crate) fn document(d: &Document) -> DocumentInfo {
    DocumentInfo {
        id: d.id.to_string(),
        tenant: d.scope.tenant.as_str().to_owned(),
        collection: d.scope.collection.as_str().to_owned(),
        source: d.source.source.clone(),
        title: d.title.clone(),
        mime: d.mime.clone(),
        size_bytes: d.source.size_bytes,
        content_hash: d.source.content_hash.clone(),
        pages: d.pages,
        chunk_count: d.chunk_count,
        metadata: d.metadata.clone(),
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

/// A retrieval hit as the chapter's `sources[]` entry.
pub(crate) fn source(hit: &Hit) -> Source {
    let c = &hit.chunk;
    let mut metadata = c.document.metadata.clone();
    let fields: [(&str, Value); 12] = [
        ("document_id", json!(c.document.id.to_string())),
        ("source", json!(c.document.source.source)),
        ("title", json!(c.document.title)),
        ("collection", json!(c.document.scope.collection.as_str())),
        ("chunk_index", json!(c.chunk.index)),
        ("char_start", json!(c.chunk.char_start)),
        ("char_end", json!(c.chunk.char_end)),
        ("page", json!(c.chunk.page)),
        ("heading", json!(c.chunk.heading)),
        ("cosine", json!(hit.cosine)),
        ("bm25", json!(hit.lexical)),
        ("rerank_score", json!(hit.rerank)),
    ];
    for (k, v) in fields {
        if !v.is_null() {
            metadata.insert(k.to_owned(), v);
        }
    }
    Source {
        content: c.chunk.text.clone(),
        similarity: hit.similarity,
        metadata,
    }
}

/// The chapter's `QueryResponse` for an answered question.
pub(crate) fn query_response(
    request_id: String,
    query: String,
    outcome: &ragd_core::service::QueryOutcome,
    started: std::time::Instant,
    guardrails_triggered: Vec<String>,
) -> ragd_api::QueryResponse {
    ragd_api::QueryResponse {
        request_id,
        query,
        answer: outcome.answer.text.clone(),
        sources: outcome.hits.iter().map(source).collect(),
        confidence: outcome.answer.confidence,
        processing_time: started.elapsed().as_secs_f64(),
        timestamp: chrono::Utc::now(),
        guardrails_triggered,
        model: outcome.model.clone(),
        usage: outcome.usage.map(usage),
        conversation_id: None,
        standalone_query: outcome.standalone_query.clone(),
    }
}

/// A conversation as the API shows it.
pub(crate) fn conversation(
    c: &ragd_core::conversations::Conversation,
) -> ragd_api::ConversationInfo {
    ragd_api::ConversationInfo {
        id: c.id.clone(),
        title: c.title.clone(),
        turns: c.turns,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// A turn as the API shows it.
pub(crate) fn turn(t: &ragd_core::conversations::Turn) -> ragd_api::TurnInfo {
    ragd_api::TurnInfo {
        question: t.question.clone(),
        standalone_question: t.standalone_question.clone(),
        answer: t.answer.clone(),
        model: t.model.clone(),
        created_at: t.created_at,
    }
}

/// Token counts as the API shows them.
pub(crate) fn usage(u: ragd_core::generation::Usage) -> ragd_api::TokenUsage {
    ragd_api::TokenUsage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.prompt_tokens.saturating_add(u.completion_tokens),
    }
}

/// A job as the API shows it.
pub(crate) fn job(j: &ragd_core::jobs::Job) -> ragd_api::JobInfo {
    let processed = u32::try_from(j.files.len()).unwrap_or(u32::MAX);
    ragd_api::JobInfo {
        job_id: j.id.clone(),
        status: j.status.as_str().to_owned(),
        collection: j.scope.collection.as_str().to_owned(),
        total_files: j.total_files,
        processed_files: processed,
        progress: if j.total_files == 0 {
            1.0
        } else {
            f64::from(processed) / f64::from(j.total_files)
        },
        files: j.files.iter().map(job_file).collect(),
        created_at: j.created_at,
        updated_at: j.updated_at,
    }
}

/// One file of a job.
pub(crate) fn job_file(f: &FileOutcome) -> ragd_api::JobFileResult {
    ragd_api::JobFileResult {
        source: f.source().to_owned(),
        status: f.status().to_owned(),
        document_id: f.document_id().map(|id| id.to_string()),
        chunks: f.chunks(),
        error: f.error().map(str::to_owned),
    }
}

/// One file of an upload answered at once.
pub(crate) fn file_result(f: &FileOutcome) -> ragd_api::FileResult {
    match f {
        FileOutcome::Ingested {
            source,
            document_id,
            chunks,
            replaced,
        } => ragd_api::FileResult::Ingested {
            source: source.clone(),
            document_id: document_id.to_string(),
            chunks: *chunks,
            replaced: *replaced,
        },
        FileOutcome::Unchanged {
            source,
            document_id,
        } => ragd_api::FileResult::Unchanged {
            source: source.clone(),
            document_id: document_id.to_string(),
        },
        FileOutcome::Failed { source, error } => ragd_api::FileResult::Failed {
            source: source.clone(),
            error: error.clone(),
        },
    }
}
