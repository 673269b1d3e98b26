//! Answer generation: the messages a [`crate::ports::Generator`] completes, what it returns, and
//! the domain rules around it — grounded prompts packed under the model's context budget
//! ([`prompt`]), citations parsed from the answer and checked against the sources
//! ([`citations`]), and the question's language ([`language`]).

pub mod citations;
pub mod language;
pub mod prompt;
pub mod rewrite;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The instructions.
    System,
    /// The person asking.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The role's name in chat templates and the OpenAI protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

impl ChatMessage {
    /// A message of `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// A completion to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRequest {
    /// The chat so far; the model writes the next assistant message.
    pub messages: Vec<ChatMessage>,
    /// At most this many new tokens.
    pub max_tokens: u32,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f32,
}

/// Tokens counted by the generator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt (the rendered chat).
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model ended its message.
    Stop,
    /// `max_tokens` (or the context) ran out.
    Length,
    /// The caller went away; the text is what was generated until then.
    Cancelled,
}

impl FinishReason {
    /// The OpenAI protocol's name (`stop`, `length`); a cancelled generation reports `stop`.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop | FinishReason::Cancelled => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The whole text generated.
    pub text: String,
    /// Tokens in and out.
    pub usage: Usage,
    /// Why it stopped.
    pub finish: FinishReason,
    /// Time from the request to the first generated token.
    pub first_token: Option<Duration>,
}

/// Where a streaming generation sends its text deltas, in order. When the receiver is dropped
/// the generator stops at its next token and returns [`FinishReason::Cancelled`].
pub type TokenSink = tokio::sync::mpsc::Sender<String>;
