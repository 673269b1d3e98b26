//! The Prometheus exporter: the one recorder of the process (the `metrics` facade is global),
//! the buckets of every histogram, the description of every series ragd exposes, and the
//! optional listener that serves `/metrics` on an internal address (`RAGD_METRICS_ADDR`)
//! instead of the main port.
//!
//! The series are emitted where the work happens: the HTTP middleware (`rag_requests_*`,
//! `rag_active_requests`), the query handlers (`rag_query_confidence`, `rag_answers_total`,
//! `rag_generation_*_total`), the embedding queue (`rag_embed_*`), the service (`rag_ingest_*`,
//! `rag_retrieval_*`, `rag_guardrail_triggers_total`, `rag_generation_*_seconds`), the rate
//! limiter, the webhook dispatcher, and `/metrics` itself (`rag_documents_total`, `rag_ready`).
//! `deploy/prometheus` and `deploy/grafana` use these names; the observability tests check
//! that every name they use is exposed.
//!
//! Every label value is bounded by the code or the configuration (a route template, a quota
//! group, a policy rule name, a model id), never by a request.

use std::sync::OnceLock;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Request durations: 1 ms (a probe) to 30 s (a long generated answer).
const REQUEST_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// The chapter's buckets for answer confidence.
const CONFIDENCE_BUCKETS: [f64; 8] = [0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0];
/// One forward pass of the embedding model: about 1 ms for a question, up to a second or more
/// for a full batch of long chunks on a busy machine.
const EMBED_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];
/// Texts per forward pass: powers of two up to well past `RAGD_EMBED_BATCH_SIZE`'s default.
const BATCH_SIZE_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// One vector search: sub-millisecond in process, tens of milliseconds over the network.
const SEARCH_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Sources per question, up to `TopK::MAX` (100).
const RESULTS_BUCKETS: [f64; 10] = [0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 20.0, 50.0, 100.0];
/// Time to the first answer token: a local model's prompt evaluation or a provider's queue.
const FIRST_TOKEN_BUCKETS: [f64; 12] = [
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0,
];
/// A whole generated answer, up to `RAGD_LLM_TIMEOUT_SECS`' default (300 s).
const GENERATION_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];
/// One webhook delivery attempt, up to the outbound timeout.
const DELIVERY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// An event's creation to its delivery: immediate, or after retries with backoff for hours.
const LAG_BUCKETS: [f64; 12] = [
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 10800.0, 43200.0, 86400.0,
];

/// Every histogram and its buckets (a histogram without an entry would be a summary).
const HISTOGRAMS: [(&str, &[f64]); 12] = [
    ("rag_request_duration_seconds", &REQUEST_BUCKETS),
    ("rag_query_confidence", &CONFIDENCE_BUCKETS),
    ("rag_embed_duration_seconds", &EMBED_BUCKETS),
    ("rag_embed_batch_size", &BATCH_SIZE_BUCKETS),
    ("rag_embed_question_wait_seconds", &EMBED_BUCKETS),
    ("rag_retrieval_duration_seconds", &SEARCH_BUCKETS),
    ("rag_retrieval_results", &RESULTS_BUCKETS),
    ("rag_generation_first_token_seconds", &FIRST_TOKEN_BUCKETS),
    ("rag_generation_duration_seconds", &GENERATION_BUCKETS),
    ("rag_webhook_delivery_duration_seconds", &DELIVERY_BUCKETS),
    ("rag_webhook_lag_seconds", &LAG_BUCKETS),
    // Any later `*_duration_seconds` without its own entry still gets request-like buckets.
    ("duration_seconds", &REQUEST_BUCKETS),
];

/// The package version, for `rag_build_info`.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The cargo features compiled in, for `rag_build_info`.
const FEATURES: &str = if cfg!(feature = "llm-local") {
    "llm-local"
} else {
    "none"
};

/// The outcomes of `rag_webhook_deliveries_total`: delivered, failed (an attempt that will be
/// retried), dead (given up: a dead letter).
const WEBHOOK_OUTCOMES: [&str; 3] = ["delivered", "failed", "dead"];

/// The outcomes of `rag_ingest_documents_total`.
const INGEST_OUTCOMES: [&str; 3] = ["stored", "unchanged", "failed"];

/// Installs the process-wide Prometheus recorder once and returns its handle.
pub(crate) fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let mut builder = PrometheusBuilder::new();
    for (name, buckets) in HISTOGRAMS {
        let matcher = if name.starts_with("rag_") {
            Matcher::Full(name.into())
        } else {
            Matcher::Suffix(name.into())
        };
        builder = builder.set_buckets_for_metric(matcher, buckets)?;
    }
    let handle = builder.install_recorder()?;
    describe_metrics();
    initial_values();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Whether `/health/ready` would answer 200, as `rag_ready`.
pub(crate) fn set_ready(ready: bool) {
    metrics::gauge!("rag_ready").set(if ready { 1.0 } else { 0.0 });
}

/// Series that must exist before their first event: a counter that appears at 1 shows no
/// `increase()`, so an alert on the first dead letter would never fire.
fn initial_values() {
    metrics::gauge!("rag_build_info", "version" => VERSION, "features" => FEATURES).set(1.0);
    set_ready(false);
    for outcome in WEBHOOK_OUTCOMES {
        metrics::counter!("rag_webhook_deliveries_total", "outcome" => outcome).absolute(0);
    }
    metrics::gauge!("rag_webhook_pending").set(0.0);
    // Registered histograms are exposed with zero counts until their first observation.
    let _ = metrics::histogram!("rag_webhook_delivery_duration_seconds");
    let _ = metrics::histogram!("rag_webhook_lag_seconds");
    for outcome in INGEST_OUTCOMES {
        metrics::counter!("rag_ingest_documents_total", "outcome" => outcome).absolute(0);
    }
    metrics::counter!("rag_ingest_chunks_total").absolute(0);
}

fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!("rag_requests_total", "Total requests to the RAG API");
    describe_histogram!(
        "rag_request_duration_seconds",
        Unit::Seconds,
        "Request duration in seconds"
    );
    describe_histogram!("rag_query_confidence", "Confidence score of RAG responses");
    describe_gauge!("rag_active_requests", "Number of active requests");
    describe_gauge!(
        "rag_documents_total",
        "Total number of documents in database"
    );
    describe_counter!(
        "rag_answers_total",
        "Answers given, by the model that wrote them"
    );
    describe_counter!(
        "rag_generation_requests_total",
        "Answers generated by a language model"
    );
    describe_counter!(
        "rag_generation_tokens_total",
        "Language model tokens, by kind (prompt or completion)"
    );
    describe_histogram!(
        "rag_generation_first_token_seconds",
        Unit::Seconds,
        "Time from the start of a generation to its first piece of text"
    );
    describe_histogram!(
        "rag_generation_duration_seconds",
        Unit::Seconds,
        "Duration of a whole generation"
    );
    describe_histogram!(
        "rag_embed_batch_size",
        "Texts per forward pass of the embedding model"
    );
    describe_histogram!(
        "rag_embed_duration_seconds",
        Unit::Seconds,
        "Duration of one forward pass of the embedding model"
    );
    describe_gauge!(
        "rag_embed_queue_depth",
        "Embedding requests queued, running or waiting for a slot"
    );
    describe_gauge!(
        "rag_embed_queue_capacity",
        "Embedding requests that may be queued or running before callers wait"
    );
    describe_histogram!(
        "rag_embed_question_wait_seconds",
        Unit::Seconds,
        "Time from a question's arrival at the embedding queue to its forward pass"
    );
    describe_counter!(
        "rag_requests_shed_total",
        "Questions refused at once with 503 because their expected wait exceeded the budget (RAGD_QUEUE_BUDGET_MS)"
    );
    describe_gauge!(
        "rag_questions_in_flight",
        "Questions being retrieved now (what load shedding counts)"
    );
    describe_histogram!(
        "rag_retrieval_duration_seconds",
        Unit::Seconds,
        "Duration of the vector search of one question"
    );
    describe_histogram!(
        "rag_retrieval_results",
        "Sources a vector search returned above the threshold"
    );
    describe_counter!(
        "rag_ingest_documents_total",
        "Files ingested, by outcome (stored, unchanged, failed)"
    );
    describe_counter!("rag_ingest_chunks_total", "Chunks written by ingestion");
    describe_counter!(
        "rag_ingest_failures_total",
        "Failed ingestions, by the stage that failed"
    );
    describe_counter!(
        "rag_rate_limit_rejections_total",
        "Requests refused with 429, by quota group"
    );
    describe_counter!(
        "rag_guardrail_triggers_total",
        "Guardrail rules that fired, by stage (input, output) and rule"
    );
    describe_gauge!("rag_build_info", "Version and cargo features of this ragd");
    describe_gauge!("rag_ready", "1 when /health/ready answers 200, else 0");
    describe_counter!(
        "rag_redis_errors_total",
        "Failed Redis operations, by what they were for"
    );
    describe_counter!(
        "rag_webhook_deliveries_total",
        "Webhook delivery attempts: delivered, failed (retried later) or dead (given up)"
    );
    describe_histogram!(
        "rag_webhook_delivery_duration_seconds",
        Unit::Seconds,
        "Duration of one webhook delivery attempt"
    );
    describe_histogram!(
        "rag_webhook_lag_seconds",
        Unit::Seconds,
        "Time from an event's creation to its delivery"
    );
    describe_gauge!(
        "rag_webhook_pending",
        "Webhook deliveries waiting to be sent"
    );
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "this listener serves /metrics only")
}

/// Binds `RAGD_METRICS_ADDR`, failing at start-up with the setting's name.
pub(crate) async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (RAGD_METRICS_ADDR)"))
}

/// Serves `/metrics` alone on `listener` until `stop` is cancelled. Scrapes here are not
/// counted in `rag_requests_total`: they are the monitoring, not the service.
pub(crate) async fn serve(
    listener: TcpListener,
    state: AppState,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(crate::routes::health::metrics))
        .fallback(not_found)
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_increase() {
        for (name, buckets) in HISTOGRAMS {
            assert!(
                buckets.windows(2).all(|w| w[0] < w[1]),
                "{name}: {buckets:?}"
            );
        }
    }
}
