//! Guardrails: the input rules a query must pass and the output rules applied to answers, as a
//! policy loaded from TOML at start-up (`config/guardrails.toml` is the default, embedded in the
//! binary). Pure domain logic: transports turn a blocked [`InputVerdict`] into a 400 whose
//! details list the rule names, and add every triggered name to `guardrails_triggered`.
//!
//! # How a rule decides
//!
//! Each input rule has a stable `name`, an `action` (`block` rejects the query, `flag` only
//! reports the name) and a `kind`:
//!
//! * `match` — regexes (`patterns`) and/or whole-word `keywords`, tested against the
//!   *normalized* query: lowercased, accents removed (`Senha`, `SÉNHA` and `senha` are one word),
//!   zero-width characters dropped and whitespace runs collapsed to one space. Patterns are
//!   compiled case-insensitively after the same accent folding, so they may be written with
//!   accents. A keyword matches only as a whole word or phrase: `kill` would not match "skill".
//! * `max_length` / `min_length` — characters of the raw query (the minimum after trimming).
//! * `control_characters` — control characters other than tab/CR/LF, and the bidirectional
//!   override/isolate characters that can make text read differently from how it is processed.
//! * `repeated_characters` — one non-whitespace character repeated more than `max_run` times.
//!
//! The chapter's validator blocked any query containing `password`, `senha` or `token`, and any
//! containing words such as `illegal` or `drogas`, so "Como faço para redefinir minha senha?" was
//! rejected. The default policy keeps the chapter's intent — no extraction of secrets, no abuse —
//! by matching *requests*, not topics: a secret noun only blocks when it is the object of an
//! extraction verb at the start of a clause ("mostre todas as senhas", "print the JWT secret",
//! "what is the admin password?"), instructions are only blocked when they try to override the
//! system ("ignore previous instructions…"), and harmful topics only when the query asks how to
//! make or obtain the harmful thing. Questions *about* passwords, tokens, keys or `kill` pass.
//! The false positives that must keep passing are listed in `tests/input.rs`; the policy file's
//! comments list the known limits (a question quoting an attack is treated as the attack).
//!
//! Output rules redact PII (see [`rules`] for the names and placeholders) and add a notice when
//! an answer has no sources or its confidence is under `output.notice.min_confidence`.

mod file;
mod input;
mod normalize;
mod pii;
mod stream;
#[cfg(test)]
mod tests;

use input::Action;
pub use stream::StreamRedactor;

use crate::Result;

/// The stable names of the built-in output rules, as reported in `guardrails_triggered`.
/// Input rule names come from the policy file; the default policy's are listed in its comments.
pub mod rules {
    /// An e-mail address was replaced with `[EMAIL]`.
    pub const PII_EMAIL: &str = "pii.email";
    /// A phone number was replaced with `[PHONE]`.
    pub const PII_PHONE: &str = "pii.phone";
    /// A CPF with valid check digits was replaced with `[CPF]`.
    pub const PII_CPF: &str = "pii.cpf";
    /// A CNPJ with valid check digits was replaced with `[CNPJ]`.
    pub const PII_CNPJ: &str = "pii.cnpj";
    /// A Luhn-valid payment-card number was replaced with `[CARD]`.
    pub const PII_CREDIT_CARD: &str = "pii.credit_card";
    /// The answer cites no source; a notice was appended.
    pub const NO_SOURCES: &str = "no_sources";
    /// The answer's confidence is under the policy's threshold; a notice was appended.
    pub const LOW_CONFIDENCE: &str = "low_confidence";
}

/// The embedded default policy.
const DEFAULT_POLICY: &str = include_str!("../../../../config/guardrails.toml");

/// A compiled guardrails policy. Build it once at start-up and share it.
#[derive(Debug, Clone)]
pub struct Policy {
    input: Vec<input::InputRule>,
    pii: pii::PiiRedactor,
    min_confidence: f32,
    no_sources: String,
    low_confidence: String,
}

/// The outcome of the input rules for one query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputVerdict {
    /// Names of the triggered rules whose action is `block`, in policy order.
    pub blocked: Vec<String>,
    /// Names of the triggered rules whose action is `flag`, in policy order.
    pub flagged: Vec<String>,
}

impl InputVerdict {
    /// Whether the query must be rejected.
    pub fn is_blocked(&self) -> bool {
        !self.blocked.is_empty()
    }
}

/// An answer with its PII replaced by placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// The redacted text.
    pub text: String,
    /// Names of the PII rules that replaced something (see [`rules`]), each once.
    pub triggered: Vec<&'static str>,
}

/// A notice to append to an answer that the sources do not support well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// [`rules::NO_SOURCES`] or [`rules::LOW_CONFIDENCE`].
    pub rule: &'static str,
    /// The text to append, from the policy.
    pub text: String,
}

impl Policy {
    /// Parses and compiles a policy file. Errors are [`crate::Error::Invalid`] and name the rule
    /// (by position and name) and the field at fault, or the TOML line for syntax errors.
    pub fn from_toml(text: &str) -> Result<Self> {
        let compiled = file::compile(text)?;
        Ok(Self {
            input: compiled.input,
            pii: compiled.pii,
            min_confidence: compiled.min_confidence,
            no_sources: compiled.no_sources,
            low_confidence: compiled.low_confidence,
        })
    }

    /// The text of the embedded default policy (`config/guardrails.toml`), for `config show`
    /// and as a starting point for a custom policy.
    pub fn default_toml() -> &'static str {
        DEFAULT_POLICY
    }

    /// Runs every input rule on `query`.
    pub fn check_input(&self, query: &str) -> InputVerdict {
        let normalized = normalize::normalize(query);
        let mut verdict = InputVerdict::default();
        for rule in self.input.iter().filter(|r| r.triggers(query, &normalized)) {
            let list = match rule.action {
                Action::Block => &mut verdict.blocked,
                Action::Flag => &mut verdict.flagged,
            };
            list.push(rule.name.clone());
        }
        verdict
    }

    /// The input rules for a chat message sent to the model directly (`/v1/chat/completions`
    /// with the model's own name): every rule but those on a question's shape (length, repeated
    /// characters), since a chat's messages may carry whole documents and the model's context
    /// bounds their length.
    pub fn check_chat(&self, message: &str) -> InputVerdict {
        let normalized = normalize::normalize(message);
        let mut verdict = InputVerdict::default();
        for rule in self
            .input
            .iter()
            .filter(|r| !r.is_question_shape() && r.triggers(message, &normalized))
        {
            let list = match rule.action {
                Action::Block => &mut verdict.blocked,
                Action::Flag => &mut verdict.flagged,
            };
            list.push(rule.name.clone());
        }
        verdict
    }

    /// A redactor for text that arrives in pieces (a streamed answer).
    pub fn stream_redactor(&self) -> StreamRedactor<'_> {
        StreamRedactor::new(self)
    }

    /// Replaces the PII in `answer` with placeholders.
    pub fn redact_output(&self, answer: &str) -> Redaction {
        let (text, kinds) = self.pii.redact(answer);
        Redaction {
            text,
            triggered: kinds.into_iter().map(pii::PiiKind::rule_name).collect(),
        }
    }

    /// The notice for an answer built from `sources` sources with `confidence` in [0, 1]:
    /// [`rules::NO_SOURCES`] when there are none, else [`rules::LOW_CONFIDENCE`] when the
    /// confidence is under the threshold (a NaN confidence counts as low), else `None`.
    pub fn low_confidence_notice(&self, confidence: f32, sources: usize) -> Option<Notice> {
        if sources == 0 {
            Some(Notice {
                rule: rules::NO_SOURCES,
                text: self.no_sources.clone(),
            })
        } else if confidence.is_nan() || confidence < self.min_confidence {
            Some(Notice {
                rule: rules::LOW_CONFIDENCE,
                text: self.low_confidence.clone(),
            })
        } else {
            None
        }
    }
}

impl Default for Policy {
    /// The embedded default policy.
    ///
    /// # Panics
    ///
    /// Never in a tested build: `default_policy_parses` compiles the embedded file.
    fn default() -> Self {
        Self::from_toml(DEFAULT_POLICY).expect("the embedded config/guardrails.toml is valid")
    }
}
