//! `GET /jobs/{id}`: status, progress and per-file results of an ingestion job.

use axum::Json;
use axum::extract::{Path, State};
use ragd_api::JobInfo;

use crate::auth::Principal;
use crate::convert;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// One ingestion job of the caller's tenant.
#[utoipa::path(
    get, path = "/jobs/{id}", tag = "documents",
    params(("id" = String, Path, description = "job id")),
    responses((status = 200, body = JobInfo), (status = 404, body = ragd_api::ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<JobInfo>> {
    principal.require(ragd_core::accounts::AccessScope::Query)?;
    let not_found = || ApiError::new(ErrorCode::NotFound, "job not found");
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(not_found());
    }
    // Another tenant's job is "job not found", like a missing one.
    let job = state.job_store.tenant_job(principal.tenant(), &id).await?;
    Ok(Json(convert::job(&job)))
}
