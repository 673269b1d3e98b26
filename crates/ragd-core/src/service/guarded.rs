//! [`RagService`]'s read paths inside the guardrails: the input rules on the question, PII
//! redaction of the sources (and the answer), the low-confidence notice. `/query` and `/search`
//! go through the same checks here, so no read path can skip them.

use super::{QueryOutcome, RagService, RetrieveRequest};
use crate::types::Hit;
use crate::{Error, Result};

/// An answer after the guardrails: redacted, with any notice appended.
#[derive(Debug, Clone)]
pub struct GuardedOutcome {
    /// Sources (their text redacted) and the answer (redacted, with the notice).
    pub outcome: QueryOutcome,
    /// Names of the rules that fired (flagged input rules, redactions, notices), each once.
    pub triggered: Vec<String>,
    /// Time spent in the guardrails (input check, redaction, notice).
    pub guardrails_time: std::time::Duration,
}

/// Sources after the guardrails: their text redacted.
#[derive(Debug, Clone)]
pub struct GuardedHits {
    /// Sources, best first, their text redacted.
    pub hits: Vec<Hit>,
    /// Names of the rules that fired (flagged input rules, redactions), each once.
    pub triggered: Vec<String>,
    /// Time spent in the guardrails.
    pub guardrails_time: std::time::Duration,
}

/// Names of the guardrail rules that fired, each once, in the order they fired.
#[derive(Debug, Default)]
struct Triggered {
    names: Vec<String>,
}

impl Triggered {
    fn note(&mut self, names: &[&'static str]) {
        for name in names {
            if !self.names.iter().any(|t| t == name) {
                self.names.push((*name).to_owned());
            }
        }
    }
}

impl RagService {
    /// The input rules: a question a blocking rule matches fails with [`Error::Blocked`]; the
    /// names of flagging rules that matched start the `triggered` list.
    fn check_input(&self, query: &str, triggered: &mut Triggered) -> Result<()> {
        let verdict = self.parts.guardrails.check_input(query);
        if verdict.is_blocked() {
            return Err(Error::Blocked {
                rules: verdict.blocked,
            });
        }
        triggered.names = verdict.flagged;
        Ok(())
    }

    /// PII redaction of the sources' text.
    fn redact_hits(&self, hits: &mut [Hit], triggered: &mut Triggered) {
        for hit in hits {
            let redacted = self.parts.guardrails.redact_output(&hit.chunk.chunk.text);
            triggered.note(&redacted.triggered);
            hit.chunk.chunk.text = redacted.text;
        }
    }

    /// [`Self::retrieve`] inside the same guardrails as [`Self::guarded_query`]: the input rules
    /// on the question, PII redaction of the sources. With `guardrails` false the chunks are
    /// returned as stored (callers decide who may skip them).
    pub async fn guarded_retrieve(
        &self,
        req: &RetrieveRequest,
        guardrails: bool,
    ) -> Result<GuardedHits> {
        let mut triggered = Triggered::default();
        if !guardrails {
            let hits = self.retrieve(req).await?;
            return Ok(GuardedHits {
                hits,
                triggered: triggered.names,
                guardrails_time: std::time::Duration::ZERO,
            });
        }
        let started = std::time::Instant::now();
        self.check_input(&req.query, &mut triggered)?;
        let mut guardrails_time = started.elapsed();
        let mut hits = self.retrieve(req).await?;
        let started = std::time::Instant::now();
        self.redact_hits(&mut hits, &mut triggered);
        guardrails_time += started.elapsed();
        Ok(GuardedHits {
            hits,
            triggered: triggered.names,
            guardrails_time,
        })
    }

    /// [`Self::query`] inside the guardrails: a question a blocking input rule matches fails
    /// with [`Error::Blocked`]; the answer and its sources get PII redacted; a low-confidence
    /// answer gets the policy's notice. With `guardrails` false the question is answered as is
    /// (callers decide who may skip them).
    pub async fn guarded_query(
        &self,
        req: &RetrieveRequest,
        guardrails: bool,
    ) -> Result<GuardedOutcome> {
        if !guardrails {
            let outcome = self.query(req).await?;
            return Ok(GuardedOutcome {
                outcome,
                triggered: Vec::new(),
                guardrails_time: std::time::Duration::ZERO,
            });
        }
        let policy = &self.parts.guardrails;
        let mut triggered = Triggered::default();
        let started = std::time::Instant::now();
        self.check_input(&req.query, &mut triggered)?;
        let mut guardrails_time = started.elapsed();
        let mut outcome = self.query(req).await?;
        let started = std::time::Instant::now();
        let redacted = policy.redact_output(&outcome.answer.text);
        triggered.note(&redacted.triggered);
        outcome.answer.text = redacted.text;
        self.redact_hits(&mut outcome.hits, &mut triggered);
        let notice = policy.low_confidence_notice(outcome.answer.confidence, outcome.hits.len());
        if let Some(notice) = notice {
            triggered.note(&[notice.rule]);
            // Without sources the answer already says that nothing relevant was found.
            if !outcome.hits.is_empty() {
                outcome.answer.text = format!("{}\n\n{}", outcome.answer.text, notice.text);
            }
        }
        guardrails_time += started.elapsed();
        Ok(GuardedOutcome {
            outcome,
            triggered: triggered.names,
            guardrails_time,
        })
    }
}
