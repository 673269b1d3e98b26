//! Process-wide logging, as the chapter's structlog set-up has it: `LOG_FORMAT=json` writes one
//! JSON object per line to stderr, anything else human-readable lines; `LOG_LEVEL` sets the
//! level (`RUST_LOG`, when set, wins and takes any `tracing` directive).
//!
//! A JSON line names its event the way structlog does — the message is the `event` — and puts
//! the event's fields and those of the spans it happened in at the top level, so a request's
//! lines all carry its `request_id` and are easy to grep:
//!
//! ```text
//! {"timestamp":"…","level":"info","event":"request_completed","logger":"ragd::telemetry","request_id":"…","status_code":200,"processing_time":0.012,…}
//! ```
//!
//! When trace export is configured ([`crate::otel`]), spans also go to the OpenTelemetry layer,
//! at `info` whatever `LOG_LEVEL` says, with the warnings and errors logged in them as span
//! events. Call [`Logging::shutdown`] before the runtime stops.

use std::io::IsTerminal;

use anyhow::Context as _;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber, span};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, filter_fn};
use tracing_subscriber::fmt::format::{DefaultVisitor, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::otel::Exporter;

/// Keys every JSON line has; fields of the same name are dropped rather than overwrite them.
const FIXED_KEYS: [&str; 4] = ["timestamp", "level", "event", "logger"];

/// The installed logging; hold it until the command is done, then [`Self::shutdown`].
pub(crate) struct Logging {
    exporter: Option<Exporter>,
}

impl Logging {
    /// Installs the global subscriber: logs at `level` (`LOG_LEVEL`) unless `RUST_LOG` is set,
    /// in the `LOG_FORMAT`, plus trace export when the environment asks for it (its requests
    /// run on `runtime` and trust `ca_file`).
    pub(crate) fn init(
        level: &str,
        runtime: &tokio::runtime::Handle,
        ca_file: Option<std::path::PathBuf>,
    ) -> anyhow::Result<Self> {
        let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
        let logs = if json {
            tracing_subscriber::fmt::layer()
                .fmt_fields(JsonFields::new())
                .event_format(FlatJson)
                .with_writer(std::io::stderr)
                .boxed()
        } else {
            tracing_subscriber::fmt::layer()
                .fmt_fields(HumanFields)
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr)
                .boxed()
        };
        let exporter = Exporter::from_env(runtime, ca_file)?;
        let mut layers: Vec<BoxedLayer> = vec![logs];
        if let Some(exporter) = &exporter {
            layers.push(
                tracing_opentelemetry::layer()
                    .with_tracer(exporter.tracer())
                    .with_filter(filter_fn(exported))
                    .boxed(),
            );
        }
        subscriber(log_filter(level)?, layers)
            .try_init()
            .context("cannot install the logger")?;
        Ok(Self { exporter })
    }

    /// Sends the spans not yet exported; logging itself stays on.
    pub(crate) fn shutdown(self) {
        if let Some(exporter) = self.exporter {
            exporter.shutdown();
        }
    }
}

/// The layers under the level filter.
type Filtered = tracing_subscriber::layer::Layered<GlobalFilter, Registry>;
type BoxedLayer = Box<dyn Layer<Filtered> + Send + Sync>;

/// The level filter over the registry, then `layers`. The filter is its own layer, not one of
/// `layers`: a `Vec` of layers enables a callsite when *any* of them does, so a filter among
/// them was overruled by the log layer and every `info` event was written at `LOG_LEVEL=warn`.
/// Nor is it a per-layer filter: a library's `enabled!` check that no event follows (sqlx asks
/// before every query whether to log it) left a per-layer filter's state set on that thread,
/// and the next event there was dropped — request logs lost on PostgreSQL, whose queries run
/// on the request threads.
fn subscriber(filter: GlobalFilter, layers: Vec<BoxedLayer>) -> impl Subscriber + Send + Sync {
    tracing_subscriber::registry().with(filter).with(layers)
}

/// What is logged: `RUST_LOG` when it is set and valid, else `LOG_LEVEL`. Spans at `info` are
/// always kept (not printed: entering one writes nothing) so that a warning inside a request
/// still carries the request's fields at the default `warn` level.
fn log_filter(level: &str) -> anyhow::Result<GlobalFilter> {
    let events = match EnvFilter::try_from_env("RUST_LOG") {
        Ok(filter) => filter,
        Err(_) => EnvFilter::try_new(level)
            .with_context(|| format!("LOG_LEVEL={level}: not a level or filter directive"))?,
    };
    Ok(GlobalFilter(events))
}

/// The events of an [`EnvFilter`], and every span at `info` or above.
struct GlobalFilter(EnvFilter);

fn kept_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && *meta.level() <= Level::INFO
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for GlobalFilter {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if kept_span(meta) {
            Interest::always()
        } else {
            Layer::<S>::register_callsite(&self.0, meta)
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        kept_span(meta) || Layer::<S>::enabled(&self.0, meta, ctx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Layer::<S>::max_level_hint(&self.0).map(|hint| hint.max(LevelFilter::INFO))
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.0.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.0.on_record(id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.0.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.0.on_exit(id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.0.on_close(id, ctx);
    }
}

/// What the trace exporter sees: spans at `info` and above, and as their events only warnings
/// and errors — an `info` event may hold what no span may (the chapter's `query_received` logs
/// the question) — never the OpenTelemetry SDK's own diagnostics (exporting them would feed the
/// exporter itself).
fn exported(meta: &Metadata<'_>) -> bool {
    let level = if meta.is_span() {
        LevelFilter::INFO
    } else {
        LevelFilter::WARN
    };
    *meta.level() <= level && !meta.target().starts_with("opentelemetry")
}

/// The JSON line format (see the module docs).
struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let message = fields.remove("message").unwrap_or(Value::from(""));
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        line.insert(
            "level".into(),
            meta.level().as_str().to_ascii_lowercase().into(),
        );
        line.insert("event".into(), message);
        line.insert("logger".into(), meta.target().into());
        let mut merge = |from: Map<String, Value>| {
            for (key, value) in from {
                let internal = key.starts_with("otel.") || key.starts_with("log.");
                if !internal && !FIXED_KEYS.contains(&key.as_str()) {
                    line.entry(key).or_insert(value);
                }
            }
        };
        merge(fields);
        // Innermost span first: a field of the event or of a nearer span wins.
        for span in ctx.event_scope().into_iter().flatten() {
            let extensions = span.extensions();
            if let Some(stored) = extensions.get::<FormattedFields<N>>()
                && let Ok(Value::Object(span_fields)) = serde_json::from_str(stored.as_str())
            {
                merge(span_fields);
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// The human-readable fields: `tracing_subscriber`'s own format, without the `otel.*` fields
/// that only steer the OpenTelemetry layer.
struct HumanFields;

impl<'w> FormatFields<'w> for HumanFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> std::fmt::Result {
        let mut visitor = SkipOtel(DefaultVisitor::new(writer, true));
        fields.record(&mut visitor);
        visitor.0.finish()
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> std::fmt::Result {
        let is_empty = current.fields.is_empty();
        let mut visitor = SkipOtel(DefaultVisitor::new(current.as_writer(), is_empty));
        fields.record(&mut visitor);
        visitor.0.finish()
    }
}

/// Passes every field but the `otel.*` ones on.
struct SkipOtel<V>(V);

impl<V: Visit> Visit for SkipOtel<V> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !field.name().starts_with("otel.") {
            self.0.record_str(field, value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !field.name().starts_with("otel.") {
            self.0.record_error(field, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !field.name().starts_with("otel.") {
            self.0.record_debug(field, value);
        }
    }
}

/// Collects an event's fields as JSON values.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Captures what a subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(level: &str, log: impl FnOnce()) -> Vec<Value> {
        let captured = Captured::default();
        let writer = captured.clone();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .with_writer(move || writer.clone());
        let subscriber = subscriber(GlobalFilter(EnvFilter::new(level)), vec![layer.boxed()]);
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    #[test]
    fn a_line_is_the_event_its_fields_and_its_spans_fields() {
        let lines = lines("info", || {
            let request = tracing::info_span!(
                "request",
                request_id = "r-1",
                otel.kind = "server",
                tenant = tracing::field::Empty
            );
            let _in_request = request.enter();
            request.record("tenant", "acme");
            let inner = tracing::info_span!("retrieve", request_id = "shadowed", k = 5);
            let _in_inner = inner.enter();
            tracing::info!(
                status_code = 200,
                processing_time = 0.5,
                "request_completed"
            );
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["event"], "request_completed");
        assert_eq!(line["level"], "info");
        assert_eq!(line["status_code"], 200);
        assert_eq!(line["processing_time"], 0.5);
        assert_eq!(line["tenant"], "acme");
        assert_eq!(line["k"], 5);
        assert_eq!(line["request_id"], "shadowed", "the nearer span wins");
        assert!(line.get("otel.kind").is_none(), "{line}");
        assert!(line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn human_lines_leave_the_otel_fields_out() {
        let captured = Captured::default();
        let writer = captured.clone();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(HumanFields)
            .with_ansi(false)
            .with_writer(move || writer.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let request = tracing::info_span!(
                "request",
                otel.kind = "server",
                request_id = "r-3",
                otel.name = tracing::field::Empty,
                http.status = tracing::field::Empty
            );
            let _in_request = request.enter();
            request.record("otel.name", "GET /health");
            request.record("http.status", 200);
            tracing::info!(
                otel.status_code = "error",
                status_code = 200,
                "request_completed"
            );
        });
        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
        assert!(
            text.contains(r#"request{request_id="r-3" http.status=200}"#),
            "{text}"
        );
        assert!(text.contains("request_completed status_code=200"), "{text}");
        assert!(!text.contains("otel"), "{text}");
    }

    #[test]
    fn a_warning_in_a_request_carries_its_id_at_the_warn_level() {
        let lines = lines("warn", || {
            let request = tracing::info_span!("request", request_id = "r-2");
            let _in_request = request.enter();
            tracing::info!("not shown");
            tracing::warn!(level = "spoofed", "slow");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["request_id"], "r-2");
        assert_eq!(
            lines[0]["level"], "warn",
            "a field cannot replace a fixed key"
        );
    }
}
