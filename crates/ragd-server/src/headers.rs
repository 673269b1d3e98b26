//! Security headers on every response: no MIME sniffing, no framing, no referrer, and a
//! Content-Security-Policy: strict for JSON, and for the HTML pages (`/docs`, `/redoc`) one that
//! allows only ragd's own scripts (both pages load their bundles from ragd, none inline).

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;

/// CSP of ragd's HTML pages: own scripts and styles (Swagger UI and Redoc set inline styles),
/// images as data URLs, Redoc's search worker from a blob.
const HTML_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";
/// CSP of everything else: nothing may load or frame it.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Adds the security headers.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let csp = if html { HTML_CSP } else { API_CSP };
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    response
}
