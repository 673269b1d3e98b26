//! `GET /conversations`, `GET /conversations/{id}`, `DELETE /conversations/{id}`: the caller's
//! own conversations (those its `/query` calls named with `conversation_id`). Another
//! principal's conversation, even in the same tenant, is "not found".

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ragd_api::{ConversationDetail, ConversationList};
use ragd_core::accounts::AccessScope;
use ragd_core::service::ConversationKey;
use serde::Deserialize;

use crate::auth::Principal;
use crate::convert;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// Query string of `GET /conversations`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Page size, 1..=500 (default 50).
    limit: Option<u32>,
    /// Conversations to skip.
    offset: Option<u32>,
}

fn key(principal: &Principal, id: &str) -> ApiResult<ConversationKey> {
    let id = ragd_core::conversations::conversation_id(id)
        .map_err(|_| ApiError::new(ErrorCode::NotFound, "conversation not found"))?;
    Ok(ConversationKey {
        owner: principal.username.clone(),
        id,
    })
}

/// The caller's conversations, the most recently continued first.
#[utoipa::path(
    get, path = "/conversations", tag = "conversations", params(ListParams),
    responses((status = 200, body = ConversationList), (status = 401, body = ragd_api::ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ConversationList>> {
    principal.require(AccessScope::Query)?;
    let Query(params) =
        params.map_err(|e| super::upload_form::field_error("query", "invalid", e.body_text()))?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(super::upload_form::field_error(
            "limit",
            "out_of_range",
            "limit must be between 1 and 500".into(),
        ));
    }
    let offset = params.offset.unwrap_or(0);
    let (conversations, total) = state
        .services()?
        .service
        .conversations(principal.tenant(), &principal.username, limit, offset)
        .await?;
    Ok(Json(ConversationList {
        conversations: conversations.iter().map(convert::conversation).collect(),
        total,
        limit,
        offset,
    }))
}

/// One of the caller's conversations with its turns, oldest first.
#[utoipa::path(
    get, path = "/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "the conversation_id")),
    responses((status = 200, body = ConversationDetail), (status = 404, body = ragd_api::ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationDetail>> {
    principal.require(AccessScope::Query)?;
    let key = key(&principal, &id)?;
    let (conversation, turns) = state
        .services()?
        .service
        .conversation(principal.tenant(), &key)
        .await?;
    Ok(Json(ConversationDetail {
        conversation: convert::conversation(&conversation),
        messages: turns.iter().map(convert::turn).collect(),
    }))
}

/// Delete one of the caller's conversations and its turns.
#[utoipa::path(
    delete, path = "/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "the conversation_id")),
    responses((status = 204), (status = 404, body = ragd_api::ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(AccessScope::Query)?;
    let key = key(&principal, &id)?;
    state
        .services()?
        .service
        .delete_conversation(principal.tenant(), &key)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
