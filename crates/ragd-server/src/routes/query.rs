//! `POST /query` (the chapter's question → answer with sources), `POST /query/stream` (the same
//! as Server-Sent Events) and `POST /search` (retrieval only).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use ragd_api::{QueryResponse, SearchResponse};
use ragd_core::accounts::AccessScope;
use ragd_core::service::RetrieveRequest;
use ragd_core::service::{ConversationKey, Dialogue, Progress};
use ragd_core::types::{SearchMode, Threshold, TopK};
use ragd_core::webhooks::EventType;

use crate::auth::Principal;
use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Fields, JsonObject, question};
use crate::state::AppState;
use crate::streaming::json_event;
use crate::telemetry::current_request_id;

/// Default and bounds of `max_results` (the chapter's).
const MAX_RESULTS: (u64, u64, u64) = (5, 1, 20);
/// Default `threshold` (the chapter's).
const DEFAULT_THRESHOLD: f64 = 0.7;

/// The fields shared by `/query` and `/search`: the retrieval request and `use_guardrails`.
struct Asked {
    request: Option<RetrieveRequest>,
    use_guardrails: bool,
}

/// Reads the fields shared by `/query` and `/search`.
fn asked(fields: &mut Fields, principal: &Principal) -> Asked {
    let request = retrieval(fields, principal);
    let use_guardrails = fields.boolean("use_guardrails").unwrap_or(true);
    Asked {
        request,
        use_guardrails,
    }
}

/// The validated request, once the principal may ask it: the `query` scope, and the bypass
/// scope to skip the guardrails (the same rule on both read paths).
fn permitted(asked: Asked, principal: &Principal) -> ApiResult<(RetrieveRequest, bool)> {
    let request = asked
        .request
        .ok_or_else(|| crate::error::ApiError::internal("validated request missing"))?;
    principal.require(AccessScope::Query)?;
    if !asked.use_guardrails {
        principal.require(AccessScope::GuardrailsBypass)?;
    }
    Ok((request, asked.use_guardrails))
}

/// Reads the retrieval fields.
fn retrieval(fields: &mut Fields, principal: &Principal) -> Option<RetrieveRequest> {
    let query = question(fields, "query");
    let k = fields.integer("max_results", MAX_RESULTS.1, MAX_RESULTS.2);
    let threshold = fields.number("threshold", 0.0, 1.0);
    let collection = fields.string("collection", 128);
    let mode = match fields.string("mode", 16).map(|m| m.parse::<SearchMode>()) {
        Some(Ok(mode)) => Some(mode),
        Some(Err(err)) => {
            fields.error("mode", "invalid", err.to_string());
            None
        }
        None => None,
    };
    let rerank = fields.boolean("rerank");
    let (k, threshold) = (
        k.unwrap_or(MAX_RESULTS.0),
        threshold.unwrap_or(DEFAULT_THRESHOLD),
    );
    Some(RetrieveRequest {
        tenant: principal.tenant().clone(),
        collection,
        query: query?,
        k: TopK::new(usize::try_from(k).ok()?).ok()?,
        #[allow(clippy::cast_possible_truncation)]
        threshold: Threshold::new(threshold as f32).ok()?,
        mode,
        rerank,
    })
}

/// A validated `/query` or `/query/stream` request.
struct Question {
    request: RetrieveRequest,
    use_guardrails: bool,
    dialogue: Option<Dialogue>,
}

impl Question {
    fn conversation_id(&self) -> Option<String> {
        match &self.dialogue {
            Some(Dialogue::Stored(key)) => Some(key.id.clone()),
            Some(Dialogue::Given(_)) | None => None,
        }
    }
}

/// Reads and checks a `/query` body (the same for the streamed form).
fn read_question(
    body: serde_json::Map<String, serde_json::Value>,
    principal: &Principal,
) -> ApiResult<Question> {
    let mut fields = Fields::new(body);
    let asked = asked(&mut fields, principal);
    let conversation = fields.string("conversation_id", 128);
    fields.finish()?;
    let (request, use_guardrails) = permitted(asked, principal)?;
    let dialogue = conversation
        .map(|id| {
            Ok::<_, ApiError>(Dialogue::Stored(ConversationKey {
                owner: principal.username.clone(),
                id: ragd_core::conversations::conversation_id(&id).map_err(|e| {
                    ApiError::validation(vec![ragd_api::FieldError {
                        field: "conversation_id".into(),
                        message: e.to_string(),
                        kind: "invalid".into(),
                    }])
                })?,
            }))
        })
        .transpose()?;
    Ok(Question {
        request,
        use_guardrails,
        dialogue,
    })
}

/// The `sources` event: serialised as `/query` serialises its sources.
#[derive(serde::Serialize)]
struct SourcesEvent {
    sources: Vec<ragd_api::Source>,
}

/// The answer's metrics: the chapter's confidence histogram, and who answered with how many
/// tokens (`model` is the one configured generator, `extractive` or `none`: bounded).
pub(crate) fn record_answer(state: &AppState, outcome: &ragd_core::service::QueryOutcome) {
    if !state.config.enable_metrics {
        return;
    }
    metrics::histogram!("rag_query_confidence").record(f64::from(outcome.answer.confidence));
    metrics::counter!("rag_answers_total", "model" => outcome.model.clone()).increment(1);
    if let Some(usage) = outcome.usage {
        record_usage(state, &outcome.model, usage);
    }
}

/// Tokens a generation used (`rag_generation_tokens_total{model,kind}`).
pub(crate) fn record_usage(state: &AppState, model: &str, usage: ragd_core::generation::Usage) {
    if !state.config.enable_metrics {
        return;
    }
    metrics::counter!("rag_generation_requests_total", "model" => model.to_owned()).increment(1);
    metrics::counter!("rag_generation_tokens_total", "model" => model.to_owned(), "kind" => "prompt")
        .increment(u64::from(usage.prompt_tokens));
    metrics::counter!("rag_generation_tokens_total", "model" => model.to_owned(), "kind" => "completion")
        .increment(u64::from(usage.completion_tokens));
}

/// Answer a question from the caller's documents.
#[utoipa::path(
    post, path = "/query", tag = "query",
    request_body = ragd_api::QueryRequest,
    responses(
        (status = 200, body = QueryResponse),
        (status = 401, body = ragd_api::ErrorBody),
        (status = 415, body = ragd_api::ErrorBody),
        (status = 422, body = ragd_api::ErrorBody, description = "per-field details"),
        (status = 503, body = ragd_api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn query(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<QueryResponse>> {
    let started = Instant::now();
    let asked = read_question(body, &principal)?;
    received(&principal, &asked.request.query);
    let answered = async {
        let guarded = state
            .services()?
            .service
            .guarded_query(
                &asked.request,
                asked.use_guardrails,
                asked.dialogue.as_ref(),
                None,
            )
            .await?;
        crate::telemetry::record_timing("guardrails", guarded.guardrails_time);
        Ok::<_, ApiError>(guarded)
    }
    .await;
    let guarded = match answered {
        Ok(guarded) => guarded,
        Err(err) => {
            failed(&state, &principal, &asked.request.query, &err).await;
            return Err(err);
        }
    };
    record_answer(&state, &guarded.outcome);
    let conversation_id = asked.conversation_id();
    let mut response = convert::query_response(
        current_request_id(),
        asked.request.query,
        &guarded.outcome,
        started,
        guarded.triggered,
    );
    response.conversation_id = conversation_id;
    completed(&state, &principal, &response).await;
    Ok(Json(response))
}

/// The chapter's query text in logs: its first 100 characters.
fn logged_query(query: &str) -> &str {
    query
        .char_indices()
        .nth(100)
        .map_or(query, |(cut, _)| &query[..cut])
}

/// The chapter's `query_received` log event.
pub(super) fn received(principal: &Principal, query: &str) {
    tracing::info!(request_id = %current_request_id(), user_id = %principal.username,
        tenant = %principal.tenant().as_str(), query = logged_query(query), "query_received");
}

/// The chapter's `query_completed` log event, and the webhook event.
pub(super) async fn completed(state: &AppState, principal: &Principal, response: &QueryResponse) {
    tracing::info!(request_id = %response.request_id, user_id = %principal.username,
        processing_time = response.processing_time, confidence = response.confidence,
        num_sources = response.sources.len(), "query_completed");
    state
        .webhooks
        .query_event(
            principal.tenant(),
            EventType::QueryCompleted,
            &response.request_id,
            || {
                serde_json::json!({
                    "query": response.query,
                    "answer": response.answer,
                    "confidence": response.confidence,
                    "processing_time": response.processing_time,
                    "num_sources": response.sources.len(),
                    "sources": response.sources.iter().map(|s| serde_json::json!({
                        "similarity": s.similarity,
                        "metadata": s.metadata,
                    })).collect::<Vec<_>>(),
                    "model": response.model,
                    "conversation_id": response.conversation_id,
                    "user_id": principal.username,
                })
            },
        )
        .await;
}

/// The chapter's `query_failed` log event, and the webhook event. A question refused by load
/// shedding is neither: it is counted in `rag_requests_shed_total`, and an overload must not
/// turn into a flood of error lines and webhook deliveries.
pub(super) async fn failed(state: &AppState, principal: &Principal, query: &str, err: &ApiError) {
    if err.is_shed() {
        return;
    }
    let request_id = current_request_id();
    let (status, code) = err.code_name();
    tracing::error!(request_id = %request_id, user_id = %principal.username, error = err.message(),
        code, status_code = status, "query_failed");
    state
        .webhooks
        .query_event(
            principal.tenant(),
            EventType::QueryFailed,
            &request_id,
            || {
                serde_json::json!({
                    "query": query,
                    "error": err.message(),
                    "code": code,
                    "status_code": status,
                    "user_id": principal.username,
                })
            },
        )
        .await;
}

/// Answer a question as Server-Sent Events: `sources` (the sources, first), `token` (pieces
/// of the answer, `{"text": …}`), then `done` (the whole `QueryResponse`, as `/query` returns
/// it) or `error` (an error body). The concatenated `token` texts are the final answer. When
/// the client goes away, generation stops.
#[utoipa::path(
    post, path = "/query/stream", tag = "query",
    request_body = ragd_api::QueryRequest,
    responses(
        (status = 200, content_type = "text/event-stream", description = "events `sources`, `token`, `done`, `error`"),
        (status = 401, body = ragd_api::ErrorBody),
        (status = 422, body = ragd_api::ErrorBody, description = "per-field details"),
        (status = 503, body = ragd_api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn query_stream(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject,
) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>> + use<>>> {
    let started = Instant::now();
    let asked = read_question(body, &principal)?;
    let service = Arc::clone(&state.services()?.service);
    let query = asked.request.query.clone();
    let conversation_id = asked.conversation_id();
    let on_progress = |piece: Progress| {
        vec![match piece {
            Progress::Sources(hits) => {
                let sources = SourcesEvent {
                    sources: hits.iter().map(convert::source).collect(),
                };
                json_event(Some("sources"), &sources)
            }
            Progress::Token(text) => {
                json_event(Some("token"), &serde_json::json!({ "text": text }))
            }
        }]
    };
    received(&principal, &query);
    // The answer's webhook event is written before its last frame is sent, as for `/query`.
    let on_end = move |answered: ragd_core::Result<ragd_core::service::GuardedOutcome>| async move {
        vec![match answered {
            Ok(guarded) => {
                record_answer(&state, &guarded.outcome);
                let mut response = convert::query_response(
                    current_request_id(),
                    query,
                    &guarded.outcome,
                    started,
                    guarded.triggered,
                );
                response.conversation_id = conversation_id;
                let event = json_event(Some("done"), &response);
                completed(&state, &principal, &response).await;
                event
            }
            Err(err) => {
                let err = ApiError::from(err);
                let event = json_event(Some("error"), &err.clone().into_body().1);
                failed(&state, &principal, &query, &err).await;
                event
            }
        }]
    };
    Ok(crate::streaming::answer_events(
        service,
        asked.request,
        asked.use_guardrails,
        asked.dialogue,
        on_progress,
        on_end,
    ))
}

/// Retrieve the best matching chunks, without composing an answer.
#[utoipa::path(
    post, path = "/search", tag = "query",
    request_body = ragd_api::SearchRequest,
    responses(
        (status = 200, body = SearchResponse),
        (status = 401, body = ragd_api::ErrorBody),
        (status = 422, body = ragd_api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn search(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<SearchResponse>> {
    let started = Instant::now();
    let mut fields = Fields::new(body);
    let asked = asked(&mut fields, &principal);
    fields.finish()?;
    let (request, use_guardrails) = permitted(asked, &principal)?;
    let services = state.services()?;
    let mode = services.service.search_mode(request.mode)?;
    let guarded = services
        .service
        .guarded_retrieve(&request, use_guardrails)
        .await?;
    crate::telemetry::record_timing("guardrails", guarded.guardrails_time);
    Ok(Json(SearchResponse {
        request_id: current_request_id(),
        query: request.query,
        sources: guarded.hits.iter().map(convert::source).collect(),
        processing_time: started.elapsed().as_secs_f64(),
        guardrails_triggered: guarded.triggered,
        mode: match mode {
            SearchMode::Dense => ragd_api::SearchMode::Dense,
            SearchMode::Lexical => ragd_api::SearchMode::Lexical,
            SearchMode::Hybrid => ragd_api::SearchMode::Hybrid,
        },
    }))
}
