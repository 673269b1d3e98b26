//! Optional OpenTelemetry trace export, and the W3C trace context (`traceparent`, `tracestate`)
//! that ties ragd's spans to its callers and to the services it calls.
//!
//! Export is off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` is appended) or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) is set; it speaks OTLP/HTTP protobuf only.
//! The SDK reads the rest of the standard settings itself: `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`; `OTEL_SERVICE_NAME` defaults to `ragd`. Spans are
//! batched on the SDK's own thread and sent through ragd's outbound client (its TLS roots and
//! `RAGD_OUTBOUND_CA_FILE`) on the async runtime; [`Exporter::shutdown`] flushes them.
//!
//! With export off no OpenTelemetry layer is installed: spans cost what they did before, an
//! incoming `traceparent` is ignored and none is sent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::http::HeaderMap;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use ragd_backends::outbound::OutboundConfig;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The service name when `OTEL_SERVICE_NAME` (or `service.name` in `OTEL_RESOURCE_ATTRIBUTES`)
/// does not give one.
const DEFAULT_SERVICE_NAME: &str = "ragd";
/// Export timeout when `OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT` sets none (the specification's).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// A collector's answer is a few bytes (a partial-success message at most); more is refused.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// A set, non-empty environment variable.
fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Whether the environment asks for trace export.
fn export_wanted() -> anyhow::Result<bool> {
    if setting("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(false);
    }
    if let Some(exporter) = setting("OTEL_TRACES_EXPORTER") {
        match exporter.trim() {
            "none" => return Ok(false),
            "otlp" => {}
            other => bail!("OTEL_TRACES_EXPORTER={other}: ragd exports traces with `otlp` only"),
        }
    }
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Some(protocol) = setting(name)
            && protocol.trim() != "http/protobuf"
        {
            bail!("{name}={protocol}: ragd exports OTLP over http/protobuf only");
        }
    }
    Ok(setting("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        || setting("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some())
}

/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` or `OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds.
fn export_timeout() -> anyhow::Result<Duration> {
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ] {
        if let Some(ms) = setting(name) {
            let ms: u64 = ms
                .trim()
                .parse()
                .with_context(|| format!("{name}={ms}: expected milliseconds"))?;
            return Ok(Duration::from_millis(ms.max(1)));
        }
    }
    Ok(DEFAULT_TIMEOUT)
}

/// The resource: the SDK's detectors (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), with
/// `ragd` as the service name unless one of them names it, and ragd's version.
fn resource() -> Resource {
    let named = setting("OTEL_SERVICE_NAME").is_some()
        || setting("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| {
            a.split(',')
                .any(|kv| kv.trim_start().starts_with("service.name="))
        });
    let mut builder = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if !named {
        builder = builder.with_service_name(DEFAULT_SERVICE_NAME);
    }
    builder.build()
}

/// Sends the exporter's requests with ragd's outbound client. The SDK calls it from its batch
/// thread, outside any async runtime, so each request runs as a task on ragd's runtime.
#[derive(Debug)]
struct ExportClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let mut answer = client.execute(request).await?;
            let mut response = Response::builder().status(answer.status());
            if let Some(headers) = response.headers_mut() {
                *headers = std::mem::take(answer.headers_mut());
            }
            let mut body = Vec::new();
            while let Some(chunk) = answer.chunk().await? {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(
                        Box::new(opentelemetry_http::ResponseBodyTooLarge::new()) as HttpError
                    );
                }
                body.extend_from_slice(&chunk);
            }
            Ok(response.body(Bytes::from(body))?)
        });
        sent.await?
    }
}

/// The running trace export; [`Self::shutdown`] sends what is still buffered.
pub(crate) struct Exporter {
    provider: SdkTracerProvider,
}

impl Exporter {
    /// Starts the export when the environment asks for it (see the module docs); `runtime`
    /// carries its requests, which trust `ca_file` (`RAGD_OUTBOUND_CA_FILE`) besides the usual
    /// roots. Fails, naming the setting, on a setting ragd cannot honour.
    pub(crate) fn from_env(
        runtime: &tokio::runtime::Handle,
        ca_file: Option<PathBuf>,
    ) -> anyhow::Result<Option<Self>> {
        if !export_wanted()? {
            return Ok(None);
        }
        let timeout = export_timeout()?;
        let client = ragd_backends::outbound::client(&OutboundConfig {
            ca_file,
            connect_timeout: timeout.min(Duration::from_secs(5)),
            timeout,
            read_timeout: None,
        })?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_timeout(timeout)
            .with_http_client(ExportClient {
                client,
                runtime: runtime.clone(),
            })
            .build()
            .context("OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")?;
        let provider = SdkTracerProvider::builder()
            .with_resource(resource())
            .with_batch_exporter(exporter)
            .build();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        Ok(Some(Self { provider }))
    }

    /// The tracer that the `tracing` layer turns spans into OpenTelemetry spans with.
    pub(crate) fn tracer(&self) -> SdkTracer {
        self.provider.tracer("ragd")
    }

    /// Exports the spans still buffered and stops. Call it while the runtime given to
    /// [`Self::from_env`] still runs: the last requests go through it.
    pub(crate) fn shutdown(self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("warning: OpenTelemetry: the last spans may be lost: {err}");
        }
    }
}

/// The W3C trace context of `carrier`, when it holds a valid one.
fn remote_context(
    carrier: &dyn opentelemetry::propagation::Extractor,
) -> Option<opentelemetry::Context> {
    let context = opentelemetry::global::get_text_map_propagator(|p| p.extract(carrier));
    context.span().span_context().is_valid().then_some(context)
}

/// Makes `span` (not yet entered) continue the caller's trace when `headers` carry a valid
/// `traceparent` (with its `tracestate`); a no-op when export is off.
pub(crate) fn continue_remote_trace(span: &tracing::Span, headers: &HeaderMap) {
    if let Some(parent) = remote_context(&opentelemetry_http::HeaderExtractor(headers)) {
        let _ = span.set_parent(parent);
    }
}

/// Renames the OpenTelemetry span of `span`, already started (an `otel.name` recorded after
/// the start would be ignored): a request span gets its route once routing has run.
pub(crate) fn rename(span: &tracing::Span, name: String) {
    span.context().span().update_name(name);
}

/// The current span's context as a W3C `traceparent` value, to store with work done later (a
/// webhook delivery) and continue with [`span_from_traceparent`]; `None` when there is no valid
/// context (export off, or outside any span).
pub(crate) fn current_traceparent() -> Option<String> {
    ragd_backends::outbound::trace_context_headers()
        .get("traceparent")?
        .to_str()
        .ok()
        .map(str::to_owned)
}

/// A span named `name` (its OpenTelemetry name; the `tracing` name is `task`) for work done
/// outside a request, whose parent is the span `traceparent` names (from
/// [`current_traceparent`]) — or a new trace when it is `None` or invalid. Run the work with
/// `.instrument(span)`.
pub(crate) fn span_from_traceparent(name: &str, traceparent: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(parent: None, "task", task = name, otel.name = name);
    if let Some(traceparent) = traceparent {
        let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
        if let Some(parent) = remote_context(&carrier) {
            let _ = span.set_parent(parent);
        }
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_context_needs_a_valid_traceparent() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let carrier = HashMap::from([("traceparent".to_owned(), valid.to_owned())]);
        let context = remote_context(&carrier).expect("valid");
        assert_eq!(
            context.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        ] {
            let carrier = HashMap::from([("traceparent".to_owned(), bad.to_owned())]);
            assert!(remote_context(&carrier).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn work_continues_a_stored_traceparent_and_hands_its_own_on() {
        use tracing_subscriber::layer::SubscriberExt;

        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let stored = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
            let span = span_from_traceparent("delivery", Some(stored));
            let _entered = span.enter();
            let own = current_traceparent().expect("a traceparent inside the span");
            let parts: Vec<&str> = own.split('-').collect();
            assert_eq!(parts.len(), 4, "{own}");
            assert_eq!(
                parts[1], "4bf92f3577b34da6a3ce929d0e0e4736",
                "the same trace"
            );
            assert_ne!(parts[2], "00f067aa0ba902b7", "its own span: {own}");
            assert_eq!(parts[3], "01", "sampled, as the parent");

            let fresh = span_from_traceparent("delivery", None);
            let _fresh = fresh.enter();
            let fresh = current_traceparent().expect("a new trace");
            assert!(
                !fresh.contains("4bf92f3577b34da6a3ce929d0e0e4736"),
                "{fresh}"
            );
        });
    }

    #[test]
    fn without_export_there_is_no_traceparent() {
        let span = span_from_traceparent(
            "delivery",
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let _entered = span.enter();
        assert_eq!(current_traceparent(), None);
    }
}
