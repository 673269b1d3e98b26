//! ragd's one outbound HTTP client (every call ragd makes to another service goes through it):
//! TLS by rustls with the Mozilla roots plus an optional extra CA (`RAGD_OUTBOUND_CA_FILE`, for a
//! private PKI), explicit connect and total timeouts, a `ragd/<version>` user agent, redirects
//! only to https (at most 3), and bodies read with a size cap so a misbehaving server cannot
//! exhaust memory.
//!
//! Every call carries the W3C trace context of the span it is made in ([`with_trace_context`]):
//! the called service's spans join the caller's trace. Without trace export (the server installs
//! no OpenTelemetry layer nor propagator) nothing is added.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Settings of the outbound client.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// A PEM file of CA certificates trusted in addition to the Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time for a whole request, body included.
    pub timeout: Duration,
    /// Longest wait for the next bytes of a response (a stalled stream); none by default.
    pub read_timeout: Option<Duration>,
}

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 3;

/// Builds the client.
pub fn client(config: &OutboundConfig) -> anyhow::Result<reqwest::Client> {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if attempt.url().scheme() != "https" {
            attempt.error("refusing a redirect to a non-https URL")
        } else {
            attempt.follow()
        }
    });
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("ragd/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(config.connect_timeout)
        .timeout(config.timeout)
        .redirect(redirects);
    if let Some(read_timeout) = config.read_timeout {
        builder = builder.read_timeout(read_timeout);
    }
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("RAGD_OUTBOUND_CA_FILE: cannot read {}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
            format!(
                "RAGD_OUTBOUND_CA_FILE: {} holds no PEM certificate",
                path.display()
            )
        })?;
        anyhow::ensure!(
            !certs.is_empty(),
            "RAGD_OUTBOUND_CA_FILE: {} holds no PEM certificate",
            path.display()
        );
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .context("cannot build the outbound HTTP client")
}

/// Writes a propagator's fields into request headers (a field that is no valid header value
/// is left out).
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl opentelemetry::propagation::Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The trace context headers (`traceparent`, and `tracestate` when there is one) of the
/// current span; empty when it has no valid context.
pub fn trace_context_headers() -> HeaderMap {
    let context = tracing::Span::current().context();
    let mut headers = HeaderMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(&mut headers));
    });
    headers
}

/// `request` with the current span's trace context headers (see [`trace_context_headers`]).
pub fn with_trace_context(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let headers = trace_context_headers();
    if headers.is_empty() {
        request
    } else {
        request.headers(headers)
    }
}

/// GETs `url` and returns its body, refusing a non-2xx status or a body over `max_bytes`.
pub async fn get_bytes(
    client: &reqwest::Client,
    url: &reqwest::Url,
    max_bytes: usize,
) -> anyhow::Result<Vec<u8>> {
    let mut response = with_trace_context(client.get(url.clone()))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "GET {url}: HTTP {status}");
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        anyhow::bail!("GET {url}: the body is larger than {max_bytes} bytes");
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("GET {url}: reading the body"))?
    {
        anyhow::ensure!(
            body.len() + chunk.len() <= max_bytes,
            "GET {url}: the body is larger than {max_bytes} bytes"
        );
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
