//! The service's Prometheus series, emitted through the `metrics` facade: a no-op until a
//! recorder is installed (`ragd serve` installs one and describes every series; the CLI does
//! not). Every label value is bounded by code or by configuration, never by a request:
//!
//! * `rag_ingest_documents_total{outcome}`: `stored`, `unchanged` or `failed`, per file;
//! * `rag_ingest_chunks_total`: chunks written by stored files;
//! * `rag_ingest_failures_total{reason}`: the stage that failed, an [`IngestFailure`];
//! * `rag_retrieval_duration_seconds`: the vector search of one question;
//! * `rag_retrieval_results`: sources it returned above the threshold;
//! * `rag_guardrail_triggers_total{stage,rule}`: `input` with the policy's rule names (blocking
//!   or flagging), `output` with the built-in redaction and notice rules, each at most once per
//!   request;
//! * `rag_generation_first_token_seconds{model}` and `rag_generation_duration_seconds{model}`:
//!   the configured generator's model id.

use std::time::Duration;

use crate::guardrails::InputVerdict;
use crate::{Error, IngestOutcome};

/// The stage an ingestion failed in: the `reason` of `rag_ingest_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IngestFailure {
    /// Over a limit: bytes or chunks per document.
    TooLarge,
    /// No text could be had: an unsupported or malformed file, or one without text.
    Extraction,
    /// The embedding model failed or could not take the work.
    Embedding,
    /// The database or the vector index failed.
    Storage,
}

impl IngestFailure {
    fn label(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Extraction => "extraction",
            Self::Embedding => "embedding",
            Self::Storage => "storage",
        }
    }

    /// Tags an error with this stage, for `map_err`.
    pub(super) fn at(self) -> impl FnOnce(Error) -> (Self, Error) {
        move |err| (self, err)
    }
}

/// Counts one ingested file.
pub(super) fn ingested(result: &Result<IngestOutcome, (IngestFailure, Error)>) {
    let outcome = match result {
        Ok(IngestOutcome::Ingested { document, .. }) => {
            metrics::counter!("rag_ingest_chunks_total").increment(u64::from(document.chunk_count));
            "stored"
        }
        Ok(IngestOutcome::Unchanged { .. }) => "unchanged",
        Err((reason, _)) => {
            metrics::counter!("rag_ingest_failures_total", "reason" => reason.label()).increment(1);
            "failed"
        }
    };
    metrics::counter!("rag_ingest_documents_total", "outcome" => outcome).increment(1);
}

/// Records one vector search and the sources it returned.
pub(super) fn retrieved(search: Duration, results: usize) {
    metrics::histogram!("rag_retrieval_duration_seconds").record(search.as_secs_f64());
    #[allow(clippy::cast_precision_loss)] // at most TopK::MAX
    metrics::histogram!("rag_retrieval_results").record(results as f64);
}

/// Counts the input rules that fired on a question (rule names come from the policy file).
pub(super) fn input_rules(verdict: &InputVerdict) {
    for rule in verdict.blocked.iter().chain(&verdict.flagged) {
        metrics::counter!("rag_guardrail_triggers_total", "stage" => "input", "rule" => rule.clone())
            .increment(1);
    }
}

/// Counts an output rule (redaction, notice) that fired; callers count each once per request.
pub(super) fn output_rule(rule: &'static str) {
    metrics::counter!("rag_guardrail_triggers_total", "stage" => "output", "rule" => rule)
        .increment(1);
}

/// Times one generation: the first piece of text and the whole of it.
pub(super) struct GenerationTimer {
    model: String,
    started: std::time::Instant,
    first: bool,
}

impl GenerationTimer {
    /// Starts timing a generation by `model` (the configured generator's id).
    pub(super) fn start(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            started: std::time::Instant::now(),
            first: true,
        }
    }

    /// A piece of text arrived: the first one is the time to first token.
    pub(super) fn piece(&mut self) {
        if std::mem::take(&mut self.first) {
            metrics::histogram!("rag_generation_first_token_seconds", "model" => self.model.clone())
                .record(self.started.elapsed().as_secs_f64());
        }
    }

    /// The generation ended (whatever its outcome).
    pub(super) fn finish(self) {
        metrics::histogram!("rag_generation_duration_seconds", "model" => self.model)
            .record(self.started.elapsed().as_secs_f64());
    }
}
