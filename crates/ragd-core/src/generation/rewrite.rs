//! Follow-up questions made standalone before retrieval: "and how long does it take?" means
//! nothing to a vector search without the turn before it.
//!
//! With a model, the model rewrites the question from the recent turns ([`messages`], then
//! [`clean`]); without one (or when the rewrite fails), the previous question is put in front of
//! the new one ([`concatenated`]), which keeps its topic words in the search. The history shown
//! is bounded by tokens, newest turns first.

use super::language::Language;
use super::{ChatMessage, Role};
use crate::ports::TokenCounter;

/// One earlier question and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// What was asked.
    pub question: String,
    /// What was answered.
    pub answer: String,
}

/// Characters of an earlier answer shown to the rewriter, at most.
const ANSWER_CHARS: usize = 400;
/// Characters of a standalone question, at most (the API's bound on questions).
const MAX_QUESTION_CHARS: usize = 1000;

fn cut(text: &str, chars: usize) -> &str {
    text.char_indices()
        .nth(chars)
        .map_or(text, |(i, _)| &text[..i])
}

/// The newest exchanges whose text fits in `tokens`, oldest first.
pub fn recent<'h>(
    history: &'h [Exchange],
    tokens: usize,
    counter: &dyn TokenCounter,
) -> &'h [Exchange] {
    let mut used = 0;
    let mut start = history.len();
    for (i, exchange) in history.iter().enumerate().rev() {
        let cost = counter.count_tokens(&exchange.question)
            + counter.count_tokens(cut(&exchange.answer, ANSWER_CHARS));
        if used + cost > tokens {
            break;
        }
        used += cost;
        start = i;
    }
    &history[start..]
}

/// The previous question, then this one: the fallback "rewrite" without a model.
pub fn concatenated(history: &[Exchange], question: &str) -> String {
    match history.last() {
        Some(previous) => {
            let joined = format!("{} {question}", previous.question.trim());
            // Keep the new question whole; cut the previous one if the two are too long.
            if joined.chars().count() <= MAX_QUESTION_CHARS {
                joined
            } else {
                question.to_owned()
            }
        }
        None => question.to_owned(),
    }
}

/// The chat asking a model to rewrite `question` as a standalone question.
pub fn messages(history: &[Exchange], question: &str) -> Vec<ChatMessage> {
    let language = Language::detect(question)
        .name()
        .map_or_else(|| "the question's language".to_owned(), str::to_owned);
    let system = format!(
        "Rewrite the user's follow-up question as one standalone question that can be \
         understood without the conversation: replace pronouns and references with what they \
         refer to. Write it in {language}. Reply with the rewritten question only, no answer \
         and no explanation."
    );
    let mut conversation = String::new();
    for exchange in history {
        conversation.push_str(&format!(
            "User: {}\nAssistant: {}\n",
            exchange.question.trim(),
            cut(exchange.answer.trim(), ANSWER_CHARS)
        ));
    }
    let user = format!(
        "Conversation:\n{conversation}\nFollow-up question: {question}\nStandalone question:"
    );
    vec![
        ChatMessage::new(Role::System, system),
        ChatMessage::new(Role::User, user),
    ]
}

/// The standalone question in a model's reply, if it gave one.
pub fn clean(reply: &str) -> Option<String> {
    let line = reply.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line
        .strip_prefix("Standalone question:")
        .unwrap_or(line)
        .trim()
        .trim_matches(|c| matches!(c, '"' | '\'' | '“' | '”' | '«' | '»'))
        .trim();
    let chars = line.chars().count();
    ((3..=MAX_QUESTION_CHARS).contains(&chars)).then(|| line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Words;
    impl TokenCounter for Words {
        fn count_tokens(&self, text: &str) -> usize {
            text.split_whitespace().count()
        }
    }

    fn exchange(q: &str, a: &str) -> Exchange {
        Exchange {
            question: q.into(),
            answer: a.into(),
        }
    }

    #[test]
    fn keeps_the_newest_turns_that_fit() {
        let history = vec![
            exchange("one two three", "four five"),
            exchange("six seven", "eight"),
            exchange("nine", "ten"),
        ];
        assert_eq!(recent(&history, 100, &Words).len(), 3);
        assert_eq!(recent(&history, 5, &Words), &history[1..]);
        assert_eq!(recent(&history, 1, &Words).len(), 0);
    }

    #[test]
    fn concatenates_with_the_previous_question() {
        let history = vec![exchange("How do I bake sourdough?", "…")];
        assert_eq!(
            concatenated(&history, "How long does it proof?"),
            "How do I bake sourdough? How long does it proof?"
        );
        assert_eq!(concatenated(&[], "Alone?"), "Alone?");
        let long = "x".repeat(990);
        assert_eq!(concatenated(&history, &long), long);
    }

    #[test]
    fn the_rewrite_prompt_names_the_language_and_shows_the_turns() {
        let m = messages(
            &[exchange("O que é fermentação?", "É a primeira etapa.")],
            "E quanto tempo ela leva?",
        );
        assert!(m[0].content.contains("Portuguese"));
        assert!(
            m[1].content
                .contains("User: O que é fermentação?\nAssistant: É a primeira etapa.")
        );
        assert!(
            m[1].content
                .ends_with("Follow-up question: E quanto tempo ela leva?\nStandalone question:")
        );
    }

    #[test]
    fn cleans_model_replies() {
        assert_eq!(
            clean("\n Standalone question: \"How long does sourdough proof?\"\nExtra"),
            Some("How long does sourdough proof?".into())
        );
        assert_eq!(clean("  "), None);
        assert_eq!(clean("ok"), None);
    }
}
