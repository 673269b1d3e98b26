//! [`RagService`]'s read paths inside the guardrails: the input rules on the question, PII
//! redaction of the sources (and the answer), the low-confidence notice. `/query` and `/search`
//! go through the same checks here, so no read path can skip them.

use super::answering::Emitter;
use super::conversation::{Dialogue, FOLLOW_UP_REWRITTEN};
use super::{Progress, ProgressSink, QueryOutcome, RagService, RetrieveRequest};
use crate::conversations::NewTurn;
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

    /// Notes output rules (redactions, notices), counting each in the metrics the first time
    /// it fires in this request.
    fn note_output(&mut self, names: &[&'static str]) {
        for name in names {
            if !self.names.iter().any(|t| t == name) {
                super::meters::output_rule(name);
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
        super::meters::input_rules(&verdict);
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
            triggered.note_output(&redacted.triggered);
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

    /// Retrieves and answers inside the guardrails: a question a blocking input rule matches
    /// fails with [`Error::Blocked`]; the sources and the answer (as it streams) get PII
    /// redacted; citations are checked; a low-confidence answer gets the policy's notice. With
    /// `guardrails` false the question is answered as is (callers decide who may skip them).
    /// With a `progress` sink, the sources and then the answer's pieces are sent as they come;
    /// their concatenation is the final answer's text.
    ///
    /// In a `conversation` (stored or given), a follow-up question is made standalone from the earlier turns
    /// before retrieval (see [`Self::standalone`]), and the new turn is stored.
    pub async fn guarded_query(
        &self,
        req: &RetrieveRequest,
        guardrails: bool,
        conversation: Option<&Dialogue>,
        progress: Option<ProgressSink>,
    ) -> Result<GuardedOutcome> {
        let policy = &self.parts.guardrails;
        let mut triggered = Triggered::default();
        let mut guardrails_time = std::time::Duration::ZERO;
        if guardrails {
            let started = std::time::Instant::now();
            self.check_input(&req.query, &mut triggered)?;
            guardrails_time += started.elapsed();
        }
        let standalone = self
            .standalone(&req.tenant, conversation, &req.query)
            .await?;
        let rewritten;
        let asked = match &standalone {
            Some(question) => {
                triggered.note(&[FOLLOW_UP_REWRITTEN]);
                rewritten = RetrieveRequest {
                    query: question.clone(),
                    ..req.clone()
                };
                &rewritten
            }
            None => req,
        };
        let mut hits = self.retrieve(asked).await?;
        if guardrails {
            let started = std::time::Instant::now();
            self.redact_hits(&mut hits, &mut triggered);
            guardrails_time += started.elapsed();
        }
        if let Some(sink) = &progress {
            // A client that is gone already is noticed at the first piece of the answer.
            let _ = sink.send(Progress::Sources(hits.clone())).await;
        }
        let mut emitter = Emitter::new(guardrails.then(|| policy.stream_redactor()), progress);
        let drafted = self.draft(&asked.query, &hits, &mut emitter).await?;
        triggered.note_output(&emitter.triggered());
        triggered.note(&drafted.flags);
        let mut answer = drafted.answer;
        if guardrails {
            let notice = policy.low_confidence_notice(answer.confidence, hits.len());
            if let Some(notice) = notice {
                triggered.note_output(&[notice.rule]);
                // Without sources the answer already says that nothing relevant was found.
                if !hits.is_empty() {
                    let appended = format!("\n\n{}", notice.text);
                    emitter.push_verbatim(&appended).await;
                    answer.text.push_str(&appended);
                }
            }
        }
        if let Some(Dialogue::Stored(key)) = conversation {
            let turn = NewTurn {
                question: req.query.clone(),
                standalone_question: standalone.clone(),
                answer: answer.text.clone(),
                model: drafted.model.clone(),
            };
            if let Err(err) = self.remember(&req.tenant, key, turn).await {
                // The answer stands; the conversation misses one turn, and the caller is told.
                tracing::error!(error = %err, conversation = %key.id, "the turn could not be stored");
                triggered.note(&[CONVERSATION_NOT_SAVED]);
            }
        }
        Ok(GuardedOutcome {
            outcome: QueryOutcome {
                hits,
                answer,
                model: drafted.model,
                usage: drafted.usage,
                standalone_query: standalone,
            },
            triggered: triggered.names,
            guardrails_time,
        })
    }
}

/// The turn could not be stored in its conversation.
pub const CONVERSATION_NOT_SAVED: &str = "conversation.not_saved";
