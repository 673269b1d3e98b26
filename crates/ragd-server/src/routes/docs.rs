//! API documentation, served offline: `/openapi.json` generated from the Rust types, Swagger UI
//! at `/docs` (bundled into the binary by `utoipa-swagger-ui`'s `vendored` feature) and Redoc at
//! `/redoc` (its standalone bundle comes from the npm package `redoc`, fetched and checked by
//! `make assets`, and is read from `RAGD_REDOC_JS` at start-up).

use axum::Router;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "ragd", description = "Retrieval-augmented generation server: answers grounded in cited sources."),
    paths(
        super::auth::login,
        super::query::query,
        super::query::query_stream,
        super::openai::chat_completions,
        super::openai::models,
        super::conversations::list,
        super::conversations::get,
        super::conversations::delete,
        super::query::search,
        super::documents::create,
        super::documents::list,
        super::documents::get,
        super::documents::delete,
        super::jobs::get,
        super::keys::create,
        super::keys::list,
        super::keys::revoke,
        super::webhooks::register,
        super::webhooks::list,
        super::webhooks::get,
        super::webhooks::update,
        super::webhooks::delete,
        super::webhooks::test,
        super::webhooks::deliveries,
        super::tenants::list,
        super::tenants::create,
        super::tenants::users,
        super::tenants::create_user,
        super::health::health,
        super::health::live,
        super::health::ready,
        super::health::stats,
        super::health::metrics,
    ),
    components(schemas(ragd_api::FieldError, ragd_api::FileResult, ragd_api::ErrorDetails, ragd_api::ScopeName, ragd_api::RoleName)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Log in"),
        (name = "query", description = "Questions and retrieval"),
        (name = "conversations", description = "The caller's conversations"),
        (name = "openai", description = "The OpenAI-compatible API: chat completions over the caller's documents"),
        (name = "documents", description = "Document management and ingestion jobs"),
        (name = "health", description = "Probes, statistics and metrics"),
        (name = "webhooks", description = "Signed, retried event deliveries to the tenant's receivers"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document (what `ragd openapi` prints and `/openapi.json` serves).
pub(crate) fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// `GET /openapi.json`.
pub(crate) async fn openapi_json() -> Response {
    axum::Json(openapi_document()).into_response()
}

/// Swagger UI at `/docs`, reading `/openapi.json`.
pub(crate) fn swagger() -> Router<AppState> {
    Router::new()
        .merge(SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::from("/openapi.json")))
}

const REDOC_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ragd API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/openapi.json"></redoc><script src="/redoc/redoc.standalone.js"></script></body></html>"#;

const REDOC_MISSING: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ragd API reference</title></head>
<body><p>The Redoc bundle is not installed on this server (run <code>make assets</code>, or set
<code>RAGD_REDOC_JS</code>). The same reference is at <a href="/docs">/docs</a>, and the raw
document at <a href="/openapi.json">/openapi.json</a>.</p></body></html>"#;

/// `GET /redoc`.
pub(crate) async fn redoc(State(state): State<AppState>) -> Html<&'static str> {
    Html(if state.redoc_js.is_some() {
        REDOC_PAGE
    } else {
        REDOC_MISSING
    })
}

/// `GET /redoc/redoc.standalone.js`.
pub(crate) async fn redoc_js(State(state): State<AppState>) -> ApiResult<Response> {
    let js = state
        .redoc_js
        .clone()
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "the Redoc bundle is not installed"))?;
    Ok((
        [
            (CONTENT_TYPE, "application/javascript"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        js,
    )
        .into_response())
}
