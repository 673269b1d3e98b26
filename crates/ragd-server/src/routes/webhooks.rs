//! Webhooks of the caller's tenant: the chapter's `POST /webhooks/register`, and list, get,
//! change, delete, a test delivery and the delivery log. Needs the `admin` scope.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ragd_api::{DeliveryInfo, WebhookInfo, WebhookRegistered, WebhookTestQueued};
use ragd_core::webhooks::{Delivery, DeliveryStatus, EventType, Webhook};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Fields, JsonObject};
use crate::state::AppState;
use crate::telemetry::current_request_id;
use crate::webhooks::WebhookRequest;

/// Most deliveries one `GET /webhooks/{id}/deliveries` returns.
const MAX_DELIVERIES: u64 = 500;

fn info(w: &Webhook) -> WebhookInfo {
    WebhookInfo {
        webhook_id: w.id.clone(),
        url: w.url.clone(),
        events: w.events.iter().map(|e| e.as_str().to_owned()).collect(),
        has_secret: w.has_secret,
        active: w.active,
        owner: w.owner.clone(),
        created_at: w.created_at,
        updated_at: w.updated_at,
    }
}

fn delivery(d: &Delivery) -> DeliveryInfo {
    DeliveryInfo {
        delivery_id: d.id.clone(),
        event_type: d.event_type.clone(),
        status: d.status.as_str().to_owned(),
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at,
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        created_at: d.created_at,
        finished_at: d.finished_at,
    }
}

/// Reads `url`, `events`, `secret` (and `active` when changing); `registering` makes `url` and
/// `events` required.
fn read(
    body: serde_json::Map<String, serde_json::Value>,
    registering: bool,
) -> ApiResult<WebhookRequest> {
    let mut fields = Fields::new(body);
    let url = if registering {
        fields.required_string("url")
    } else {
        fields.string("url", 2048)
    };
    let names = fields.string_list("events");
    if registering && names.is_none() {
        fields.error("events", "missing", "events is required");
    }
    let secret = fields.string("secret", 512);
    let active = if registering {
        None
    } else {
        fields.boolean("active")
    };
    let mut events = None;
    if let Some(names) = names {
        let mut parsed = Vec::new();
        for name in &names {
            match EventType::parse(name) {
                Ok(e) if !parsed.contains(&e) => parsed.push(e),
                Ok(_) => {}
                Err(err) => fields.error("events", "invalid", err.to_string()),
            }
        }
        if names.is_empty() {
            fields.error("events", "invalid", "subscribe to at least one event");
        }
        events = Some(parsed);
    }
    fields.finish()?;
    // On a change, an empty secret removes it; at registration it is refused (below).
    let secret = match secret {
        Some(s) if s.is_empty() && !registering => Some(None),
        Some(s) => Some(Some(s)),
        None => None,
    };
    Ok(WebhookRequest {
        url,
        events,
        secret,
        active,
    })
}

/// Register a webhook (the chapter's endpoint).
#[utoipa::path(post, path = "/webhooks/register", tag = "webhooks",
    request_body = ragd_api::WebhookConfig,
    responses((status = 200, body = WebhookRegistered),
        (status = 403, body = ragd_api::ErrorBody),
        (status = 409, body = ragd_api::ErrorBody, description = "the tenant has RAGD_WEBHOOK_MAX_PER_TENANT webhooks"),
        (status = 422, body = ragd_api::ErrorBody, description = "bad or refused URL, unknown event")),
    security(("bearer" = [])))]
pub(crate) async fn register(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<WebhookRegistered>> {
    let request = read(body, true)?;
    let webhook = state
        .webhooks
        .register(&principal.actor, &principal.username, request)
        .await?;
    Ok(Json(WebhookRegistered {
        webhook_id: webhook.id,
        status: "registered".into(),
    }))
}

/// The tenant's webhooks.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = Vec<WebhookInfo>), (status = 403, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<WebhookInfo>>> {
    let hooks = state.webhooks.list(&principal.actor).await?;
    Ok(Json(hooks.iter().map(info).collect()))
}

/// One webhook.
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 200, body = WebhookInfo), (status = 404, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookInfo>> {
    Ok(Json(info(
        &state.webhooks.get(&principal.actor, &id).await?,
    )))
}

/// Change a webhook's URL, events, secret (`""` removes it) or `active`.
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id")),
    request_body = ragd_api::WebhookUpdate,
    responses((status = 200, body = WebhookInfo), (status = 404, body = ragd_api::ErrorBody),
        (status = 422, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<WebhookInfo>> {
    let request = read(body, false)?;
    let webhook = state
        .webhooks
        .update(&principal.actor, &id, request)
        .await?;
    Ok(Json(info(&webhook)))
}

/// Delete a webhook and its deliveries.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 204), (status = 404, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.webhooks.delete(&principal.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queue a `webhook_test` event to this webhook (whatever it subscribes to).
#[utoipa::path(post, path = "/webhooks/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 202, body = WebhookTestQueued), (status = 404, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn test(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<WebhookTestQueued>)> {
    let delivery_id = state
        .webhooks
        .test(&principal.actor, &id, &current_request_id())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(WebhookTestQueued {
            delivery_id,
            status: "queued".into(),
        }),
    ))
}

/// `GET /webhooks/{id}/deliveries` filters.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub(crate) struct DeliveryFilter {
    /// `pending`, `delivered` or `dead`.
    status: Option<String>,
    /// Most recent first, at most this many (1..=500, default 100).
    limit: Option<u64>,
}

/// The webhook's latest deliveries, newest first: pending ones with their next attempt,
/// delivered ones, and dead letters with the last error.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id"), DeliveryFilter),
    responses((status = 200, body = Vec<DeliveryInfo>), (status = 404, body = ragd_api::ErrorBody),
        (status = 422, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    filter: Result<Query<DeliveryFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<DeliveryInfo>>> {
    let invalid = |field: &str, message: String| {
        ApiError::validation(vec![ragd_api::FieldError {
            field: field.into(),
            message,
            kind: "invalid".into(),
        }])
    };
    let Query(filter) = filter.map_err(|e| invalid("query", e.body_text()))?;
    let status = filter
        .status
        .as_deref()
        .map(DeliveryStatus::parse)
        .transpose()
        .map_err(|e| invalid("status", e.to_string()))?;
    let limit = filter.limit.unwrap_or(100);
    if !(1..=MAX_DELIVERIES).contains(&limit) {
        return Err(invalid(
            "limit",
            format!("limit must be 1..={MAX_DELIVERIES}"),
        ));
    }
    let found = state
        .webhooks
        .deliveries(
            &principal.actor,
            &id,
            status,
            u32::try_from(limit).unwrap_or(100),
        )
        .await?;
    Ok(Json(found.iter().map(delivery).collect()))
}
