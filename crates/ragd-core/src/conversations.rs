//! Conversation memory: the questions and answers of a conversation, kept so that a follow-up
//! question can be rewritten from its history and a client can list and reopen what it asked.
//!
//! A conversation's id is chosen by the client (`conversation_id` in a query) and validated by
//! [`conversation_id`]. Conversations are keyed by `(tenant, owner, id)`: the same id used by
//! another tenant or another owner (a username, or `key:<prefix>` for an API key) is another
//! conversation, and a store answers "not found" for one that is not the caller's, so no caller
//! can read or delete across tenants or principals by forgetting a check.
//!
//! Only the newest turns are kept ([`ConversationStore::append_turn`]'s `max_turns`): memory is
//! for context, not an archive.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::types::TenantId;
use crate::{Error, Result};

/// Longest accepted conversation id, in characters.
pub const ID_MAX_LEN: usize = 128;

/// Longest conversation title, in characters (the first question, cut).
pub const TITLE_MAX_CHARS: usize = 80;

/// Validates a client-chosen conversation id: 1..=128 characters of `[A-Za-z0-9._:-]`.
pub fn conversation_id(raw: &str) -> Result<String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    if raw.is_empty() || raw.len() > ID_MAX_LEN || !raw.chars().all(ok_char) {
        return Err(Error::invalid(format!(
            "conversation_id must be 1..={ID_MAX_LEN} characters of A-Z, a-z, 0-9 and ._:-"
        )));
    }
    Ok(raw.to_owned())
}

/// A conversation's title: its first question, cut to [`TITLE_MAX_CHARS`] characters (never
/// inside a character). Every store titles conversations with it.
pub fn title_of(question: &str) -> String {
    match question.char_indices().nth(TITLE_MAX_CHARS) {
        Some((end, _)) => question[..end].to_owned(),
        None => question.to_owned(),
    }
}

/// One question and its answer, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// The question as the user asked it.
    pub question: String,
    /// The question rewritten from the history to stand on its own, when it was.
    pub standalone_question: Option<String>,
    /// The answer given.
    pub answer: String,
    /// The model that answered.
    pub model: String,
    /// When the turn was stored.
    pub created_at: DateTime<Utc>,
}

/// A turn to append to a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTurn {
    /// The question as the user asked it.
    pub question: String,
    /// The question rewritten from the history to stand on its own, when it was.
    pub standalone_question: Option<String>,
    /// The answer given.
    pub answer: String,
    /// The model that answered.
    pub model: String,
}

/// A stored conversation (without its turns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The client-chosen id (see [`conversation_id`]).
    pub id: String,
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// The principal who holds it: a username, or `key:<prefix>` for an API key.
    pub owner: String,
    /// The first question, cut by [`title_of`].
    pub title: String,
    /// Turns kept (at most the `max_turns` of the last append).
    pub turns: u32,
    /// When its first turn was stored.
    pub created_at: DateTime<Utc>,
    /// When its last turn was stored.
    pub updated_at: DateTime<Utc>,
}

/// Where conversations live. Every method names the tenant and the owner: another's
/// conversation is answered as absent ([`Error::NotFound`], or empty).
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Appends a turn, creating the conversation on its first turn, and keeps only the newest
    /// `max_turns` turns (older ones are deleted in the same transaction). [`Error::Invalid`]
    /// for an id that [`conversation_id`] refuses or a `max_turns` of zero.
    async fn append_turn(
        &self,
        tenant: &TenantId,
        owner: &str,
        id: &str,
        turn: NewTurn,
        max_turns: usize,
    ) -> Result<Conversation>;

    /// The newest `limit` turns, oldest first; empty for an unknown conversation.
    async fn recent_turns(
        &self,
        tenant: &TenantId,
        owner: &str,
        id: &str,
        limit: usize,
    ) -> Result<Vec<Turn>>;

    /// A conversation and all its kept turns, oldest first; [`Error::NotFound`] when it is
    /// absent or not the caller's.
    async fn get(
        &self,
        tenant: &TenantId,
        owner: &str,
        id: &str,
    ) -> Result<(Conversation, Vec<Turn>)>;

    /// A page of the owner's conversations, the most recently updated first, and how many
    /// they have in all.
    async fn list(
        &self,
        tenant: &TenantId,
        owner: &str,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Conversation>, u64)>;

    /// Deletes a conversation and its turns; [`Error::NotFound`] when it is absent or not the
    /// caller's.
    async fn delete(&self, tenant: &TenantId, owner: &str, id: &str) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        for ok in ["a", "conv-1", "user:42.thread_7", &"x".repeat(ID_MAX_LEN)] {
            assert_eq!(conversation_id(ok).expect(ok), ok);
        }
        let too_long = "x".repeat(ID_MAX_LEN + 1);
        for bad in ["", "a b", "a/b", "é", "x\n", too_long.as_str()] {
            assert!(
                matches!(conversation_id(bad), Err(Error::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn titles_are_cut_at_a_character_boundary() {
        assert_eq!(title_of("short"), "short");
        assert_eq!(title_of(""), "");
        let exact = "a".repeat(TITLE_MAX_CHARS);
        assert_eq!(title_of(&exact), exact);
        let long = "日本語".repeat(40);
        let title = title_of(&long);
        assert_eq!(title.chars().count(), TITLE_MAX_CHARS);
        assert!(long.starts_with(&title));
        let emoji = format!("{}🦀🦀", "b".repeat(TITLE_MAX_CHARS - 1));
        assert_eq!(
            title_of(&emoji),
            format!("{}🦀", "b".repeat(TITLE_MAX_CHARS - 1))
        );
    }
}
