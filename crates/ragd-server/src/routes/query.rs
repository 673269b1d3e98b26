//! `POST /query` (the chapter's question → answer with sources) and `POST /search` (retrieval
//! only).

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use ragd_api::{QueryResponse, SearchResponse};
use ragd_core::accounts::AccessScope;
use ragd_core::service::RetrieveRequest;
use ragd_core::types::{Threshold, TopK};

use crate::auth::Principal;
use crate::convert;
use crate::error::ApiResult;
use crate::extract::{Fields, JsonObject, question};
use crate::state::AppState;
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
    })
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
    let mut fields = Fields::new(body);
    let asked = asked(&mut fields, &principal);
    // Accepted for the chapter's contract; conversation memory comes with a later issue.
    let _conversation = fields.string("conversation_id", 128);
    fields.finish()?;
    let (request, use_guardrails) = permitted(asked, &principal)?;
    let guarded = state
        .services()?
        .service
        .guarded_query(&request, use_guardrails, None)
        .await?;
    crate::telemetry::record_timing("guardrails", guarded.guardrails_time);
    let outcome = guarded.outcome;
    if state.config.enable_metrics {
        metrics::histogram!("rag_query_confidence").record(f64::from(outcome.answer.confidence));
    }
    Ok(Json(convert::query_response(
        current_request_id(),
        request.query,
        &outcome,
        started,
        guarded.triggered,
    )))
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
    let guarded = state
        .services()?
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
    }))
}
