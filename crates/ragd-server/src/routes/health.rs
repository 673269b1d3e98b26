//! Probes and numbers: `/health` (the chapter's, cheap: no embedding per probe), `/health/live`,
//! `/health/ready`, `/stats` and `/metrics`.
//!
//! Unauthenticated probes and scrapes reveal nothing of any tenant and cost at most one count
//! query a second however often they are called (the count is reused for [`COUNT_TTL`]);
//! `/stats` counts the caller's tenant only.
//!
//! `rag_ready` follows readiness: set on every readiness probe and every scrape, so it reads 0
//! while the engine loads, when the database does not answer and while a SIGTERM drains.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use ragd_api::{HealthResponse, ProbeResponse, StatsResponse};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long the document count of `/health` and `/metrics` is reused.
pub(crate) const COUNT_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// All documents, counted at most once per [`COUNT_TTL`].
async fn document_count(state: &AppState) -> ragd_core::Result<u64> {
    if let Some(n) = state.document_count.get("all") {
        return Ok(n);
    }
    let n = state.status.count_all_documents().await?;
    state.document_count.put("all", &n);
    Ok(n)
}

/// Service health: database and model status.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = HealthResponse)))]
pub(crate) async fn health(State(state): State<AppState>) -> Json<HealthResponse> {
    let database_status = match state.status.ping().await {
        Err(_) => "unhealthy",
        Ok(()) => match document_count(&state).await {
            Ok(0) => "empty",
            Ok(_) => "healthy",
            Err(_) => "unhealthy",
        },
    };
    let model_status = if state.load_failed.load(Ordering::Relaxed) {
        "unhealthy"
    } else if state.services.get().is_some() {
        "healthy"
    } else {
        "loading"
    };
    let status = if database_status == "healthy" && model_status == "healthy" {
        "healthy"
    } else {
        "degraded"
    };
    Json(HealthResponse {
        status: status.into(),
        version: VERSION.into(),
        timestamp: chrono::Utc::now(),
        database_status: database_status.into(),
        model_status: model_status.into(),
    })
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, body = ProbeResponse)))]
pub(crate) async fn live() -> Json<ProbeResponse> {
    Json(ProbeResponse {
        status: "alive".into(),
    })
}

/// Readiness: the model and index are loaded, the database answers and the server is not
/// shutting down.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = ProbeResponse), (status = 503, body = ragd_api::ErrorBody)))]
pub(crate) async fn ready(State(state): State<AppState>) -> ApiResult<Json<ProbeResponse>> {
    readiness(&state).await?;
    Ok(Json(ProbeResponse {
        status: "ready".into(),
    }))
}

/// Whether the server is ready (see [`ready`]), noted in `rag_ready`.
async fn readiness(state: &AppState) -> ApiResult<()> {
    let checked = async {
        if state.is_draining() {
            return Err(ApiError::unavailable(
                "the server is shutting down",
                std::time::Duration::from_secs(5),
            ));
        }
        state.services()?;
        state.status.ping().await?;
        Ok(())
    }
    .await;
    if state.metrics.is_some() {
        crate::metrics::set_ready(checked.is_ok());
    }
    checked
}

/// Counts and models.
#[utoipa::path(get, path = "/stats", tag = "health",
    responses((status = 200, body = StatsResponse), (status = 401, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn stats(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<StatsResponse>> {
    principal.require(ragd_core::accounts::AccessScope::Query)?;
    let service = &state.services()?.service;
    let (documents_count, vectors_count) = service.stats(principal.tenant()).await?;
    Ok(Json(StatsResponse {
        documents_count,
        vectors_count,
        embeddings_model: state.model_id.to_string(),
        llm_model: service.answer_model().to_owned(),
        uptime: state.started.elapsed().as_secs_f64(),
        version: VERSION.into(),
    }))
}

/// Prometheus metrics (text format).
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let handle = state
        .metrics
        .as_ref()
        .ok_or_else(|| ApiError::internal("metrics are disabled"))?;
    if let Ok(count) = document_count(&state).await {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("rag_documents_total").set(count as f64);
    }
    let _ = readiness(&state).await;
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    ))
}
