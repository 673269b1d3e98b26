//! The answer step of a query: the generator when one is configured (a grounded prompt, the
//! text streamed through the PII redactor, citations checked), the extractive composer when
//! none is or it fails before anything was sent, and the fixed "not found" text, without
//! asking any model, when no source passed the threshold.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::RagService;
use crate::answer::{self, Answer};
use crate::generation::citations;
use crate::generation::language::Language;
use crate::generation::prompt::{self, Budget};
use crate::generation::{GenerationRequest, Usage};
use crate::guardrails::StreamRedactor;
use crate::ports::Generator;
use crate::types::Hit;
use crate::{Error, Result};

/// The generator failed and the extractive answer was given instead.
pub const GENERATOR_UNAVAILABLE: &str = "generator.unavailable";
/// Who wrote an answer when no source passed the threshold: nobody (the fixed text).
pub const NO_MODEL: &str = "none";
/// Who wrote an extractive answer.
pub const EXTRACTIVE: &str = "extractive";

/// Settings of generated answers and conversations.
#[derive(Debug, Clone, Copy)]
pub struct GenerationSettings {
    /// At most this many answer tokens (`LLM_MAX_TOKENS`).
    pub max_tokens: u32,
    /// Sampling temperature (`LLM_TEMPERATURE`).
    pub temperature: f32,
    /// Tokens of earlier turns shown when a follow-up question is made standalone.
    pub history_tokens: usize,
    /// Turns kept per conversation; older ones are deleted.
    pub max_turns: usize,
    /// Let the model rewrite follow-up questions; otherwise (the default, which retrieved better
    /// in `bench/generation.sh`) the previous question is put in front of the follow-up.
    pub rewrite_with_model: bool,
}

impl Default for GenerationSettings {
    fn default() -> Self {
        Self {
            max_tokens: 512,
            temperature: 0.1,
            history_tokens: 1024,
            max_turns: 100,
            rewrite_with_model: false,
        }
    }
}

/// What a streaming query reports as it goes: the sources first, then the answer's text in
/// pieces (already redacted). Their concatenation is the final answer's text.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The sources the answer is built from (their text redacted), best first.
    Sources(Vec<Hit>),
    /// The next piece of the answer.
    Token(String),
}

/// Where a streaming query reports its [`Progress`].
pub type ProgressSink = mpsc::Sender<Progress>;

/// The answer step's result before the guardrails' notice.
#[derive(Debug)]
pub(super) struct Drafted {
    pub(super) answer: Answer,
    pub(super) model: String,
    pub(super) usage: Option<Usage>,
    pub(super) flags: Vec<&'static str>,
}

/// Releases answer text: through the PII redactor when the guardrails apply, to the progress
/// sink when there is one. `text` is everything released, so a streamed answer and the final
/// one are the same text by construction.
pub(super) struct Emitter<'p> {
    redactor: Option<StreamRedactor<'p>>,
    sink: Option<ProgressSink>,
    pub(super) text: String,
    sent: bool,
    gone: bool,
}

impl<'p> Emitter<'p> {
    pub(super) fn new(redactor: Option<StreamRedactor<'p>>, sink: Option<ProgressSink>) -> Self {
        Self {
            redactor,
            sink,
            text: String::new(),
            sent: false,
            gone: false,
        }
    }

    /// Takes a piece of raw answer text; false once the client is gone.
    pub(super) async fn push(&mut self, delta: &str) -> bool {
        let released = match &mut self.redactor {
            Some(redactor) => redactor.push(delta),
            None => delta.to_owned(),
        };
        self.release(released).await
    }

    /// Releases whatever the redactor still holds.
    pub(super) async fn finish(&mut self) -> bool {
        let released = self
            .redactor
            .as_mut()
            .map(StreamRedactor::finish)
            .unwrap_or_default();
        self.release(released).await
    }

    /// Text that needs no redaction (a policy notice).
    pub(super) async fn push_verbatim(&mut self, text: &str) -> bool {
        self.release(text.to_owned()).await
    }

    /// PII rules the redactor applied.
    pub(super) fn triggered(&self) -> Vec<&'static str> {
        self.redactor
            .as_ref()
            .map(StreamRedactor::triggered)
            .unwrap_or_default()
    }

    /// Forgets an unsent draft (a failed generation, before the fallback).
    fn reset(&mut self) {
        self.text.clear();
    }

    async fn release(&mut self, piece: String) -> bool {
        if piece.is_empty() || self.gone {
            return !self.gone;
        }
        self.text.push_str(&piece);
        if let Some(sink) = &self.sink {
            self.sent = true;
            if sink.send(Progress::Token(piece)).await.is_err() {
                self.gone = true;
            }
        }
        !self.gone
    }
}

/// Runs the generator, passing its text through `emitter` as it comes; when the client is gone
/// the generator's sink is dropped, which stops it.
async fn relay(
    generator: &dyn Generator,
    request: GenerationRequest,
    emitter: &mut Emitter<'_>,
) -> Result<crate::generation::Generated> {
    let (tx, mut rx) = mpsc::channel::<String>(64);
    let mut timer = super::meters::GenerationTimer::start(generator.model_id());
    let relay = async {
        while let Some(delta) = rx.recv().await {
            timer.piece();
            if !emitter.push(&delta).await {
                break;
            }
        }
        drop(rx);
        emitter.finish().await;
    };
    let (generated, ()) = tokio::join!(generator.generate(request, Some(tx)), relay);
    timer.finish();
    generated
}

impl RagService {
    /// Writes the answer to `question` from `hits` (best first, redacted) into `emitter`.
    pub(super) async fn draft(
        &self,
        question: &str,
        hits: &[Hit],
        emitter: &mut Emitter<'_>,
    ) -> Result<Drafted> {
        if hits.is_empty() {
            let text = Language::detect(question).no_answer();
            emitter.push(text).await;
            emitter.finish().await;
            return Ok(Drafted {
                answer: Answer {
                    text: emitter.text.clone(),
                    confidence: 0.0,
                    cited: Vec::new(),
                },
                model: NO_MODEL.to_owned(),
                usage: None,
                flags: Vec::new(),
            });
        }
        let mut flags = Vec::new();
        if let Some(generator) = &self.parts.generator {
            match self.generate(generator, question, hits, emitter).await {
                Ok(drafted) => return Ok(drafted),
                Err(err) if !emitter.sent => {
                    tracing::warn!(error = %err, model = generator.model_id(), "the generator failed; answering extractively");
                    emitter.reset();
                    flags.push(GENERATOR_UNAVAILABLE);
                }
                Err(err) => return Err(err),
            }
        }
        let composed = answer::compose(question, hits, &self.parts.composer);
        emitter.push(&composed.text).await;
        emitter.finish().await;
        Ok(Drafted {
            answer: Answer {
                text: emitter.text.clone(),
                ..composed
            },
            model: EXTRACTIVE.to_owned(),
            usage: None,
            flags,
        })
    }

    #[tracing::instrument(skip_all, fields(model = generator.model_id(), sources = hits.len() as i64), err(level = "debug"))]
    async fn generate(
        &self,
        generator: &Arc<dyn Generator>,
        question: &str,
        hits: &[Hit],
        emitter: &mut Emitter<'_>,
    ) -> Result<Drafted> {
        let settings = self.parts.generation;
        let budget = Budget {
            context_tokens: generator.context_tokens(),
            answer_tokens: settings.max_tokens as usize,
            template_tokens: 48,
        };
        let prompt = prompt::grounded(question, hits, &budget, generator.as_ref());
        if prompt.shown == 0 {
            return Err(Error::Unavailable(format!(
                "the context of {} ({} tokens) leaves no room for a source",
                generator.model_id(),
                budget.context_tokens
            )));
        }
        let request = GenerationRequest {
            messages: prompt.messages,
            max_tokens: settings.max_tokens,
            temperature: settings.temperature,
        };
        let generated = relay(generator.as_ref(), request, emitter).await?;
        let found = citations::parse(&emitter.text, prompt.shown);
        let confidence = answer::generated_confidence(hits, &found);
        Ok(Drafted {
            answer: Answer {
                text: emitter.text.clone(),
                confidence,
                cited: found.cited.clone(),
            },
            model: generator.model_id().to_owned(),
            usage: Some(generated.usage),
            flags: found.flags(),
        })
    }
}

/// A chat completed by the generator directly (no retrieval): ragd's OpenAI-compatible
/// endpoint serving its own model.
#[derive(Debug, Clone)]
pub struct ChatOutcome {
    /// The reply (redacted when the guardrails apply).
    pub text: String,
    /// The model that wrote it.
    pub model: String,
    /// Tokens used.
    pub usage: Usage,
    /// Why generation stopped.
    pub finish: crate::generation::FinishReason,
    /// Guardrail rules that fired.
    pub triggered: Vec<String>,
}

/// A direct chat with the generator.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// The chat so far; the last message is the user's.
    pub messages: Vec<crate::generation::ChatMessage>,
    /// Answer tokens at most; capped at the server's `LLM_MAX_TOKENS`.
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0..=2; the server's by default.
    pub temperature: Option<f32>,
}

impl RagService {
    /// The generator's model id, when a model (not the extractive composer) answers.
    pub fn chat_model(&self) -> Option<&str> {
        self.parts.generator.as_ref().map(|g| g.model_id())
    }

    /// Completes a chat with the generator itself, inside the guardrails: the input rules on
    /// the last user message, PII redaction of the reply as it streams. A chat longer than the
    /// model's context is [`Error::Invalid`]; without a model it is [`Error::NotFound`].
    pub async fn chat(
        &self,
        req: ChatRequest,
        progress: Option<ProgressSink>,
    ) -> Result<ChatOutcome> {
        let generator = self.parts.generator.as_ref().ok_or_else(|| {
            Error::NotFound("a language model (ragd answers extractively)".into())
        })?;
        let policy = &self.parts.guardrails;
        let last = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == crate::generation::Role::User)
            .ok_or_else(|| Error::invalid("messages: there is no user message"))?;
        let verdict = policy.check_chat(&last.content);
        super::meters::input_rules(&verdict);
        if verdict.is_blocked() {
            return Err(Error::Blocked {
                rules: verdict.blocked,
            });
        }
        let settings = self.parts.generation;
        let max_tokens = req
            .max_tokens
            .unwrap_or(settings.max_tokens)
            .clamp(1, settings.max_tokens);
        let prompt_tokens: usize = req
            .messages
            .iter()
            .map(|m| generator.count_tokens(&m.content) + 8)
            .sum();
        let room = generator
            .context_tokens()
            .saturating_sub(max_tokens as usize);
        if prompt_tokens > room {
            return Err(Error::invalid(format!(
                "messages: about {prompt_tokens} tokens, over the {room} that {} leaves for a prompt with max_tokens {max_tokens}",
                generator.model_id()
            )));
        }
        let request = GenerationRequest {
            messages: req.messages,
            max_tokens,
            temperature: req
                .temperature
                .unwrap_or(settings.temperature)
                .clamp(0.0, 2.0),
        };
        let mut emitter = Emitter::new(Some(policy.stream_redactor()), progress);
        let generated = relay(generator.as_ref(), request, &mut emitter).await?;
        let mut triggered = verdict.flagged;
        for rule in emitter.triggered() {
            super::meters::output_rule(rule);
            triggered.push(rule.to_owned());
        }
        Ok(ChatOutcome {
            text: emitter.text.clone(),
            model: generator.model_id().to_owned(),
            usage: generated.usage,
            finish: generated.finish,
            triggered,
        })
    }
}
