//! API keys of the caller's tenant: create (the secret is in this one response only), list,
//! revoke. Needs the `admin` scope; a key can never grant scopes its creator lacks.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ragd_api::{ApiKeyInfo, NewApiKey};
use ragd_core::accounts::{AccessScope, ApiKey};
use ragd_core::authz::{Action, ActorKind};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Fields, JsonObject};
use crate::state::AppState;

/// Longest accepted key lifetime: ten years.
const MAX_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;

fn info(key: &ApiKey, secret: Option<String>) -> ApiKeyInfo {
    ApiKeyInfo {
        id: key.id.clone(),
        key: secret,
        prefix: key.prefix.clone(),
        name: key.name.clone(),
        scopes: key.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        created_at: key.created_at,
        expires_at: key.expires_at,
        revoked_at: key.revoked_at,
        owner: key.owner.clone(),
    }
}

/// Create an API key.
#[utoipa::path(post, path = "/keys", tag = "auth", request_body = NewApiKey,
    responses((status = 201, body = ApiKeyInfo, description = "`key` is shown only here"),
        (status = 403, body = ragd_api::ErrorBody), (status = 422, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<ApiKeyInfo>)> {
    // Refused before the body is read when the principal may create no key at all.
    (state.accounts.policy()).authorize(&principal.actor, &Action::CreateKey { scopes: &[] })?;
    let mut fields = Fields::new(body);
    let name = fields.required_string("name");
    let lifetime = fields.integer("expires_in_seconds", 1, MAX_LIFETIME_SECS);
    let scopes = fields.string_list("scopes");
    let parsed: Vec<AccessScope> = scopes
        .unwrap_or_default()
        .iter()
        .filter_map(|s| match AccessScope::parse(s) {
            Ok(scope) => Some(scope),
            Err(e) => {
                fields.error("scopes", "invalid", e.to_string());
                None
            }
        })
        .collect();
    if name
        .as_deref()
        .is_some_and(|n| n.trim().is_empty() || n.chars().count() > 128)
    {
        fields.error("name", "invalid", "name must have 1..=128 characters");
    }
    fields.finish()?;
    if parsed.is_empty() {
        return Err(ApiError::validation(vec![ragd_api::FieldError {
            field: "scopes".into(),
            message: "give at least one scope: query, ingest, admin, guardrails:bypass".into(),
            kind: "missing".into(),
        }]));
    }
    let expires_at = lifetime
        .and_then(|secs| i64::try_from(secs).ok())
        .map(|secs| chrono::Utc::now() + chrono::Duration::seconds(secs));
    let owner = (principal.actor.kind == ActorKind::User).then(|| principal.username.clone());
    let issued = crate::api_keys::issue(crate::api_keys::KeySpec {
        tenant: principal.tenant().clone(),
        name: name.unwrap_or_default(),
        scopes: parsed,
        expires_at,
        owner,
    });
    let key = state
        .accounts
        .create_key(&principal.actor, issued.key)
        .await?;
    Ok((StatusCode::CREATED, Json(info(&key, Some(issued.secret)))))
}

/// The tenant's API keys (never their secrets).
#[utoipa::path(get, path = "/keys", tag = "auth",
    responses((status = 200, body = Vec<ApiKeyInfo>), (status = 403, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<ApiKeyInfo>>> {
    let keys = state.accounts.keys(&principal.actor).await?;
    Ok(Json(keys.iter().map(|k| info(k, None)).collect()))
}

/// Revoke an API key: it stops working at once.
#[utoipa::path(delete, path = "/keys/{id}", tag = "auth",
    params(("id" = String, Path, description = "key id")),
    responses((status = 204), (status = 404, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.accounts.revoke_key(&principal.actor, &id).await?;
    state
        .auth
        .announce(ragd_core::invalidation::Invalidation::ApiKeys)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
