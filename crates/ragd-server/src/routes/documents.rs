//! Document management: upload (multipart files or a JSON text), list, show, delete. Every
//! operation is confined to the caller's tenant: another tenant's document is "not found".

use axum::Json;
use axum::extract::{Multipart, Path, Query, Request, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ragd_api::{DocumentInfo, DocumentList, IngestSummary, JobInfo};
use ragd_core::accounts::AccessScope;
use ragd_core::ports::DocumentFilter;
use ragd_core::types::{CollectionName, DocumentId, Scope};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::upload_form::{field_error, receive, sanitize_name, summary};
use crate::auth::Principal;
use crate::convert;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{Fields, content_type, is_json, parse_object};
use crate::jobs::{Staging, ingest_file};
use crate::state::AppState;

/// Query string of `GET /documents`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Only this collection.
    collection: Option<String>,
    /// Page size, 1..=500 (default 50).
    limit: Option<u32>,
    /// Documents to skip.
    offset: Option<u32>,
}

/// Query string of `POST /documents`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadParams {
    /// `true`: always run as a job (202); `false`: ingest before answering, whatever the size
    /// (up to the upload limits). Default: a job when the upload is large.
    #[serde(rename = "async")]
    run_async: Option<bool>,
}

fn parse_id(raw: &str) -> ApiResult<DocumentId> {
    DocumentId::parse(raw).map_err(|_| ApiError::new(ErrorCode::NotFound, "document not found"))
}

fn scope(principal: &Principal, collection: Option<&str>) -> ApiResult<Scope> {
    let collection = match collection {
        Some(c) => CollectionName::parse(c).map_err(|e| {
            ApiError::validation(vec![ragd_api::FieldError {
                field: "collection".into(),
                message: e.to_string(),
                kind: "invalid".into(),
            }])
        })?,
        None => CollectionName::default(),
    };
    Ok(Scope {
        tenant: principal.tenant().clone(),
        collection,
    })
}

/// Upload documents: `multipart/form-data` with one or more files (optional fields `collection`
/// and `metadata`, a JSON object), or JSON `{content, metadata?, collection?}`.
#[utoipa::path(
    post, path = "/documents", tag = "documents", params(UploadParams),
    request_body(description = "JSON `{content, metadata?, collection?}`, or multipart files (`file` fields) plus optional `collection` and `metadata` (a JSON object) fields",
        content(
            (ragd_api::NewTextDocument = "application/json"),
            (ragd_api::UploadForm = "multipart/form-data"),
        )),
    responses(
        (status = 200, body = IngestSummary, description = "ingested before answering"),
        (status = 202, body = JobInfo, description = "a job; poll `GET /jobs/{id}`"),
        (status = 413, body = ragd_api::ErrorBody),
        (status = 415, body = ragd_api::ErrorBody),
        (status = 422, body = ragd_api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<UploadParams>,
    request: Request,
) -> ApiResult<Response> {
    principal.require(AccessScope::Ingest)?;
    let content_type = content_type(request.headers());
    if is_json(&content_type) {
        let limit = state.config.limits.max_json_bytes;
        let bytes = axum::body::to_bytes(request.into_body(), limit).await.map_err(|_| {
            ApiError::new(ErrorCode::PayloadTooLarge, format!("the JSON body is larger than {limit} bytes (or was cut off); upload large documents as files"))
        })?;
        return create_text(&state, &principal, parse_object(&bytes)?).await;
    }
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send files as multipart/form-data or a text as application/json",
        ));
    }
    let multipart =
        <Multipart as axum::extract::FromRequest<AppState>>::from_request(request, &state)
            .await
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let services = state.services()?;
    let mut staging = Staging::create(&services.jobs.uploads).await?;
    // On any early return (or a dropped connection) `staging` removes its files.
    let collection = receive(&state, &mut staging, multipart).await?;
    let scope = scope(&principal, collection.as_deref())?;
    let limits = state.config.limits;
    let small = staging.total_bytes <= limits.sync_upload_bytes as u64
        && staging.manifest.files.len() <= limits.sync_upload_files;
    if params.run_async.unwrap_or(!small) {
        let job = services
            .jobs
            .submit(state.job_store.as_ref(), staging, &scope)
            .await?;
        let location =
            HeaderValue::from_str(&format!("/jobs/{}", job.id)).map_err(ApiError::internal)?;
        return Ok((
            StatusCode::ACCEPTED,
            [(LOCATION, location)],
            Json(convert::job(&job)),
        )
            .into_response());
    }
    let started = std::time::Instant::now();
    let mut files = Vec::with_capacity(staging.manifest.files.len());
    for file in &staging.manifest.files {
        files.push(
            ingest_file(
                &services.service,
                &scope,
                &staging.dir,
                file,
                &staging.manifest.metadata,
            )
            .await,
        );
    }
    drop(staging);
    state.webhooks.files_failed(&scope, &files).await;
    Ok(Json(summary(&files, started.elapsed().as_secs_f64())).into_response())
}

async fn create_text(
    state: &AppState,
    principal: &Principal,
    body: Map<String, Value>,
) -> ApiResult<Response> {
    let started = std::time::Instant::now();
    let mut fields = Fields::new(body);
    let content = fields.required_string("content");
    let metadata = fields.object("metadata").unwrap_or_default();
    let collection = fields.string("collection", 128);
    if content.as_deref().is_some_and(|c| c.trim().is_empty()) {
        fields.error("content", "blank", "content must not be empty");
    }
    fields.finish()?;
    let content = content.unwrap_or_default();
    let scope = scope(principal, collection.as_deref())?;
    let source = match metadata.get("source").and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => sanitize_name(s),
        _ => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(content.as_bytes());
            format!("text-{}.md", &hex::encode(digest)[..16])
        }
    };
    let outcome = state
        .services()?
        .service
        .ingest(ragd_core::service::IngestRequest {
            scope,
            source: source.clone(),
            bytes: content.into_bytes(),
            metadata,
        })
        .await?;
    let file = ragd_core::FileOutcome::of(&source, Ok(outcome));
    Ok((
        StatusCode::CREATED,
        Json(summary(&[file], started.elapsed().as_secs_f64())),
    )
        .into_response())
}

/// List the caller's documents, newest first.
#[utoipa::path(
    get, path = "/documents", tag = "documents", params(ListParams),
    responses((status = 200, body = DocumentList), (status = 401, body = ragd_api::ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<DocumentList>> {
    principal.require(AccessScope::Query)?;
    let Query(params) = params.map_err(|e| field_error("query", "invalid", e.body_text()))?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(field_error(
            "limit",
            "out_of_range",
            "limit must be between 1 and 500".into(),
        ));
    }
    let filter = DocumentFilter {
        collection: params.collection,
        limit,
        offset: params.offset.unwrap_or(0),
    };
    let (docs, total) = state
        .services()?
        .service
        .documents(principal.tenant(), &filter)
        .await?;
    Ok(Json(DocumentList {
        documents: docs.iter().map(convert::document).collect(),
        total,
        limit: filter.limit,
        offset: filter.offset,
    }))
}

/// One document.
#[utoipa::path(
    get, path = "/documents/{id}", tag = "documents",
    params(("id" = String, Path, description = "document id")),
    responses((status = 200, body = DocumentInfo), (status = 404, body = ragd_api::ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<DocumentInfo>> {
    principal.require(AccessScope::Query)?;
    let id = parse_id(&id)?;
    let doc = state
        .services()?
        .service
        .document(principal.tenant(), id)
        .await?;
    Ok(Json(convert::document(&doc)))
}

/// Delete a document, its chunks and their vectors.
#[utoipa::path(
    delete, path = "/documents/{id}", tag = "documents",
    params(("id" = String, Path, description = "document id")),
    responses((status = 204, description = "deleted"), (status = 404, body = ragd_api::ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(AccessScope::Ingest)?;
    let id = parse_id(&id)?;
    state
        .services()?
        .service
        .delete_document(principal.tenant(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
