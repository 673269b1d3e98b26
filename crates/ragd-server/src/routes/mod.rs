//! The HTTP routes: one module per resource, each handler an adapter (extract, one service call,
//! map the result). [`router`] assembles them with the cross-cutting layers.

mod auth;
mod conversations;
pub(crate) mod docs;
mod documents;
pub(crate) mod health;
mod jobs;
mod keys;
mod openai;
mod query;
mod tenants;
mod upload_form;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::middleware;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::telemetry::{RequestPolicy, expose_route, request_middleware};

pub(crate) use docs::openapi_document;

/// Maps a multipart read error to our error body (413 when over a limit).
#[allow(clippy::needless_pass_by_value)] // used as `map_err(multipart_error)`
pub(crate) fn multipart_error(err: axum::extract::multipart::MultipartError) -> ApiError {
    if err.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(ErrorCode::PayloadTooLarge, "the upload is too large")
    } else {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("malformed multipart body: {}", err.body_text()),
        )
    }
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this endpoint",
    )
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            axum::http::HeaderName::from_static("x-api-key"),
            header::CONTENT_TYPE,
            header::ACCEPT,
            crate::telemetry::REQUEST_ID.clone(),
        ])
        .expose_headers([crate::telemetry::REQUEST_ID.clone(), header::RETRY_AFTER]);
    if origins.iter().any(|o| o == "*") {
        // A wildcard origin cannot be combined with credentials; browsers send the token in a
        // header anyway.
        layer.allow_origin(Any)
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        layer
            .allow_origin(AllowOrigin::list(list))
            .allow_credentials(true)
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    axum::response::IntoResponse::into_response(ApiError::internal("a handler panicked"))
}

/// The whole application.
pub(crate) fn router(state: &AppState) -> Router {
    let limits = state.config.limits;
    let policy = RequestPolicy {
        timeout: state.config.request_timeout,
        metrics: state.config.enable_metrics,
        server_timing: state.config.server_timing,
    };
    let uploads = Router::new()
        .route("/documents", post(documents::create).get(documents::list))
        .layer(DefaultBodyLimit::max(
            limits.max_upload_bytes.max(limits.max_json_bytes),
        ));
    let mut api = Router::new()
        .route(
            "/auth/login",
            post(auth::login).layer(DefaultBodyLimit::max(auth::MAX_LOGIN_BYTES)),
        )
        .route("/query", post(query::query))
        .route("/query/stream", post(query::query_stream))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::models))
        .route("/conversations", get(conversations::list))
        .route(
            "/conversations/{id}",
            get(conversations::get).delete(conversations::delete),
        )
        .route("/search", post(query::search))
        .route(
            "/documents/{id}",
            get(documents::get).delete(documents::delete),
        )
        .route("/jobs/{id}", get(jobs::get))
        .route("/keys", post(keys::create).get(keys::list))
        .route("/tenants", post(tenants::create).get(tenants::list))
        .route("/users", post(tenants::create_user).get(tenants::users))
        .route("/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/webhooks/register", post(webhooks::register))
        .route("/webhooks", get(webhooks::list))
        .route(
            "/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/health", get(health::health))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/stats", get(health::stats))
        .route("/openapi.json", get(docs::openapi_json))
        .route("/redoc", get(docs::redoc))
        .route("/redoc/redoc.standalone.js", get(docs::redoc_js))
        .layer(DefaultBodyLimit::max(limits.max_json_bytes))
        .merge(uploads)
        .merge(docs::swagger());
    // With RAGD_METRICS_ADDR, /metrics is served on that listener only (crate::metrics).
    if state.config.enable_metrics && state.config.metrics_addr.is_none() {
        api = api.route("/metrics", get(health::metrics));
    }
    api.method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .route_layer(middleware::from_fn(expose_route))
        .with_state(state.clone())
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(
            state.limits.clone(),
            crate::rate_limit::limit,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.auth),
            crate::auth::authenticate,
        ))
        .layer(cors(&state.config.allowed_origins))
        .layer(middleware::from_fn(crate::headers::security_headers))
        .layer(middleware::from_fn_with_state(policy, request_middleware))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.draining),
            close_while_draining,
        ))
}

/// While the server drains before stopping, every response closes its connection: a proxy
/// then opens a new one for its next request, which the stopped listener refuses, so the proxy
/// retries it on another instance instead of sending it down a connection about to close.
async fn close_while_draining(
    axum::extract::State(draining): axum::extract::State<Arc<std::sync::atomic::AtomicBool>>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    if draining.load(std::sync::atomic::Ordering::Relaxed) {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    //! In-process checks of what the end-to-end tests cannot reach deterministically: the
    //! answers while the engine is still loading.

    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, OnceLock};

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use ragd_backends::{Access, Backends, StoreConfig};
    use tower::ServiceExt;

    use super::router;
    use crate::auth::Authenticator;
    use crate::serve_config::ServerConfig;
    use crate::state::AppState;

    async fn loading_state(dir: &std::path::Path) -> AppState {
        let store = StoreConfig::Sqlite {
            data_dir: dir.to_path_buf(),
            durability: Default::default(),
        };
        let backends = Backends::open(&store, Access::Shared).await.unwrap();
        let config = ServerConfig::for_tests();
        let auth = Authenticator::new(
            Arc::clone(&backends.users),
            Arc::clone(&backends.keys),
            config.jwt.clone(),
            Arc::new(ragd_core::invalidation::LocalBus::default()),
        )
        .unwrap();
        AppState {
            services: Arc::new(OnceLock::new()),
            accounts: Arc::new(ragd_core::account_service::AccountService::new(
                Arc::clone(&backends.users),
                Arc::clone(&backends.keys),
                Arc::clone(&backends.tenants),
                auth.policy().clone(),
            )),
            status: Arc::clone(&backends.status),
            job_store: Arc::clone(&backends.jobs),
            config: Arc::new(config),
            metrics: None,
            started: std::time::Instant::now(),
            draining: Arc::new(AtomicBool::new(false)),
            model_id: "test-model".into(),
            load_failed: Arc::new(AtomicBool::new(false)),
            limits: crate::rate_limit::Limits {
                limiter: ragd_backends::compose::Fleet::local().limiter,
                config: Arc::new(ServerConfig::for_tests().rate_limits),
            },
            redoc_js: None,
            webhooks: Arc::new(crate::webhooks::Webhooks::new(
                Arc::clone(&backends.webhooks),
                auth.policy().clone(),
                crate::webhooks::config::WebhookSettings::for_tests(),
            )),
            auth: Arc::new(auth),
            document_count: Arc::new(crate::recent::Recent::new(crate::routes::health::COUNT_TTL)),
        }
    }

    #[tokio::test]
    async fn while_loading_ready_is_503_and_live_is_200() {
        let dir = tempfile::tempdir().unwrap();
        let app = router(&loading_state(dir.path()).await);
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();

        let live = app.clone().oneshot(get("/health/live")).await.unwrap();
        assert_eq!(live.status(), StatusCode::OK);

        let ready = app.clone().oneshot(get("/health/ready")).await.unwrap();
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ready.headers()["retry-after"], "1");
        assert!(ready.headers().contains_key("x-request-id"));
        let body = axum::body::to_bytes(ready.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "service_unavailable");

        let health = app.clone().oneshot(get("/health")).await.unwrap();
        let body = axum::body::to_bytes(health.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["model_status"], "loading");
        assert_eq!(body["database_status"], "empty");
        assert_eq!(body["status"], "degraded");

        let redoc = app.oneshot(get("/redoc")).await.unwrap();
        let body = axum::body::to_bytes(redoc.into_body(), 1 << 20)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("make assets"));
    }

    #[tokio::test]
    async fn internal_errors_reveal_nothing() {
        use axum::response::IntoResponse;
        let response =
            crate::error::ApiError::internal("disk /secret/path exploded").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains("internal_error") && !text.contains("secret"),
            "{text}"
        );
    }
}
