//! Per-request plumbing: the request id (honoured from `X-Request-ID` when sane, else a new
//! UUID), one span per request, the chapter's request metrics (the exporter is in
//! [`crate::metrics`]), and the request timeout.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::{ApiError, ErrorCode};

/// The request id header.
pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

// The request id lives in the core, so the events a request's writes record carry it.
use ragd_core::events::REQUEST_ID as CURRENT_REQUEST_ID;

tokio::task_local! {
    static TIMINGS: std::cell::RefCell<Vec<(&'static str, Duration)>>;
}

/// Notes how long a stage of the current request took, for its `Server-Timing` header (a no-op
/// unless `RAGD_SERVER_TIMING` is on).
pub(crate) fn record_timing(stage: &'static str, took: Duration) {
    let _ = TIMINGS.try_with(|t| t.borrow_mut().push((stage, took)));
}

fn server_timing(stages: &[(&'static str, Duration)]) -> Option<HeaderValue> {
    let text: Vec<String> = stages
        .iter()
        .map(|(name, d)| format!("{name};dur={:.3}", d.as_secs_f64() * 1e3))
        .collect();
    HeaderValue::from_str(&text.join(", ")).ok()
}

/// The id of the request being served (empty outside a request).
pub(crate) fn current_request_id() -> String {
    CURRENT_REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_default()
}

/// `work` inside the current request's id and span, for a task that outlives the handler (a
/// streamed response).
pub(crate) fn in_request<F: std::future::Future>(
    work: F,
) -> impl std::future::Future<Output = F::Output> {
    CURRENT_REQUEST_ID.scope(
        current_request_id(),
        work.instrument(tracing::Span::current()),
    )
}

/// An incoming id is kept when it is 1..=128 characters of `[A-Za-z0-9._:-]`.
fn sane_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| s.to_owned())
}

/// The method as a metric label: the standard ones by name, any other as `other`, so a client
/// cannot create series by inventing methods.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    static KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|m| *m == method)
        .map_or("other", Method::as_str)
}

/// Settings the per-request middleware needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestPolicy {
    /// Longest a request may take before it is answered with 503 `request_timeout`.
    pub(crate) timeout: Duration,
    /// Whether to record metrics.
    pub(crate) metrics: bool,
    /// Whether to send `Server-Timing` headers.
    pub(crate) server_timing: bool,
}

/// Assigns the request id, opens the request span, applies the timeout and records metrics.
pub(crate) async fn request_middleware(
    State(policy): State<RequestPolicy>,
    request: Request,
    next: Next,
) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = method_label(request.method()).to_owned();
    let span = request_span(&request, &id, &method);
    let started = Instant::now();
    if policy.metrics {
        metrics::gauge!("rag_active_requests").increment(1.0);
    }
    let run = async {
        match tokio::time::timeout(policy.timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::new(
                ErrorCode::Timeout,
                format!("the request took longer than {:?}", policy.timeout),
            )
            .with_retry_after(Duration::from_secs(1))
            .into_response(),
        }
    };
    let run = CURRENT_REQUEST_ID.scope(id.clone(), run.instrument(span.clone()));
    let (mut response, stages) = if policy.server_timing {
        let (response, stages) = TIMINGS
            .scope(std::cell::RefCell::new(Vec::new()), async {
                let response = run.await;
                (response, TIMINGS.with(|t| t.take()))
            })
            .await;
        (response, stages)
    } else {
        (run.await, Vec::new())
    };
    if policy.server_timing {
        let mut stages = stages;
        stages.push(("total", started.elapsed()));
        if let Some(value) = server_timing(&stages) {
            response
                .headers_mut()
                .insert(HeaderName::from_static("server-timing"), value);
        }
    }
    let status = response.status().as_u16();
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    close_request_span(&span, &method, &route, status, started.elapsed());
    if policy.metrics {
        metrics::gauge!("rag_active_requests").decrement(1.0);
        metrics::counter!("rag_requests_total", "method" => method.clone(), "endpoint" => route.clone(), "status" => status.to_string()).increment(1);
        metrics::histogram!("rag_request_duration_seconds", "method" => method, "endpoint" => route)
            .record(started.elapsed().as_secs_f64());
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}

/// The span of a request: `request_id`, `http.method`, and once known `tenant` and `principal`
/// (recorded by [`crate::auth::authenticate`]), `http.route`, `http.status` and `latency_ms`.
/// With trace export on it continues the caller's trace (W3C `traceparent`).
fn request_span(request: &Request, id: &str, method: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        otel.name = method,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.method = method,
        http.route = tracing::field::Empty,
        http.status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
        request_id = id,
        tenant = tracing::field::Empty,
        principal = tracing::field::Empty,
    );
    crate::otel::continue_remote_trace(&span, request.headers());
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let client = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    tracing::debug!(
        parent: &span,
        path = request.uri().path(),
        user_agent = header(axum::http::header::USER_AGENT),
        client_ip = client,
        "request_started"
    );
    span
}

/// Records how the request ended on its span and logs the chapter's `request_completed` event
/// (`processing_time` in seconds).
fn close_request_span(
    span: &tracing::Span,
    method: &str,
    route: &str,
    status: u16,
    took: Duration,
) {
    // Integers as i64: the OpenTelemetry layer would turn a u64 into a string.
    span.record("http.status", i64::from(status));
    span.record("http.route", route);
    span.record("latency_ms", took.as_secs_f64() * 1e3);
    if route != "unmatched" {
        crate::otel::rename(span, format!("{method} {route}"));
    }
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
    tracing::info!(
        parent: span,
        status_code = status,
        processing_time = took.as_secs_f64(),
        "request_completed"
    );
}

/// Route layer: copies the matched route template into the response, so the outer
/// [`request_middleware`] (which runs before routing) can label metrics with it.
pub(crate) async fn expose_route(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(path) = matched {
        response.extensions_mut().insert(path);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_are_one_label() {
        let zzq = axum::http::Method::from_bytes(b"ZZQ1").unwrap();
        assert_eq!(method_label(&zzq), "other");
        assert_eq!(method_label(&axum::http::Method::DELETE), "DELETE");
    }

    #[test]
    fn request_ids_are_kept_only_when_sane() {
        let keep = HeaderValue::from_static("abc-123_x.y:z");
        assert_eq!(sane_request_id(&keep).as_deref(), Some("abc-123_x.y:z"));
        for bad in ["", "has space", "semi;colon", &"x".repeat(129)] {
            assert_eq!(
                sane_request_id(&HeaderValue::from_str(bad).unwrap()),
                None,
                "{bad:?}"
            );
        }
    }
}
