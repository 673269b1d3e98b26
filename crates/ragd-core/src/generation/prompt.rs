//! The grounded prompt: an instruction to answer only from the numbered sources and to cite
//! them as `[n]`, then the sources — best first, as many as fit the model's context budget,
//! counted with the model's own tokenizer — then the question.
//!
//! Source `n` in the prompt is `sources[n-1]` of the response, so a citation maps to a source by
//! its number alone.

use super::language::Language;
use super::{ChatMessage, Role};
use crate::ports::TokenCounter;
use crate::types::Hit;

/// The token budget of one prompt.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// The model's context window, prompt and answer together.
    pub context_tokens: usize,
    /// Tokens kept free for the answer.
    pub answer_tokens: usize,
    /// Tokens kept free for the chat template's own markup and rounding.
    pub template_tokens: usize,
}

impl Budget {
    /// Tokens the messages' text may use.
    pub fn for_text(&self) -> usize {
        self.context_tokens
            .saturating_sub(self.answer_tokens)
            .saturating_sub(self.template_tokens)
    }
}

/// A prompt ready for a generator.
#[derive(Debug, Clone)]
pub struct GroundedPrompt {
    /// System instruction and the user message with the sources and the question.
    pub messages: Vec<ChatMessage>,
    /// How many sources (the first ones) the prompt shows; citations above are invalid.
    pub shown: usize,
    /// Tokens of the messages' text, counted with the model's tokenizer.
    pub tokens: usize,
}

/// The instruction, in English (small models follow English instructions best), with the
/// answer language named when the question's is known.
pub fn instruction(language: Language) -> String {
    let answer_in = language.name().map_or_else(
        || "Answer in the same language as the question.".to_owned(),
        |name| format!("Answer in {name}, the language of the question."),
    );
    format!(
        "You are a helpful assistant. Answer the user's question in one or two full sentences, \
         using only the information in the numbered sources the user gives you.\n\
         - State the exact facts (names, numbers, dates) as the sources give them; do not add \
         outside knowledge.\n\
         - After each fact, cite its source number in square brackets, like [1] or [2].\n\
         - If the sources do not contain the answer, say that the documents do not contain it \
         and cite nothing.\n\
         - {answer_in}"
    )
}

fn source_block(n: usize, hit: &Hit, text: &str) -> String {
    let document = &hit.chunk.document;
    let page = hit
        .chunk
        .chunk
        .page
        .map(|p| format!(", page {p}"))
        .unwrap_or_default();
    format!(
        "Source [{n}] (from \"{}\"{page}):\n{}\n\n",
        document.title,
        text.trim()
    )
}

/// The question, then the citation rule again: small models follow the instruction nearest to
/// where they start writing, in the language they are to write in.
fn question_block(question: &str, language: Language) -> String {
    match language {
        Language::Portuguese => format!(
            "Pergunta: {question}\n\nResponda usando apenas as fontes acima e cite cada fonte \
             usada pelo número, como [1] ou [2]."
        ),
        Language::English | Language::Other => format!(
            "Question: {question}\n\nAnswer using only the sources above, and cite each source \
             you use by its number, like [1] or [2]."
        ),
    }
}

/// Cuts `text` to at most `tokens` tokens (measured), at a char boundary.
fn cut_to(text: &str, tokens: usize, counter: &dyn TokenCounter) -> String {
    let mut end = text.len();
    let mut cut = text.to_owned();
    // Shrink proportionally until it fits; a few rounds at most.
    for _ in 0..8 {
        let have = counter.count_tokens(&cut);
        if have <= tokens {
            return cut;
        }
        end = end * tokens / have.max(1) * 9 / 10;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        cut = text[..end].to_owned();
    }
    String::new()
}

/// Builds the grounded prompt for `question` over `hits` (best first) within `budget`.
/// Sources that do not fit are left out (whole); the best one is cut to fit rather than left
/// out, so a prompt always shows at least one source when there is any.
pub fn grounded(
    question: &str,
    hits: &[Hit],
    budget: &Budget,
    counter: &dyn TokenCounter,
) -> GroundedPrompt {
    let language = Language::detect(question);
    let system = instruction(language);
    let asked = question_block(question, language);
    let fixed = counter.count_tokens(&system) + counter.count_tokens(&asked) + 16;
    let mut left = budget.for_text().saturating_sub(fixed);
    let mut sources = String::from("Sources:\n\n");
    let mut shown = 0;
    for (i, hit) in hits.iter().enumerate() {
        let block = source_block(i + 1, hit, &hit.chunk.chunk.text);
        let cost = counter.count_tokens(&block);
        if cost <= left {
            sources.push_str(&block);
            left -= cost;
            shown += 1;
            continue;
        }
        if shown == 0 {
            let header = counter.count_tokens(&source_block(i + 1, hit, ""));
            let text = cut_to(&hit.chunk.chunk.text, left.saturating_sub(header), counter);
            if !text.is_empty() {
                let block = source_block(i + 1, hit, &text);
                left = left.saturating_sub(counter.count_tokens(&block));
                sources.push_str(&block);
                shown = 1;
            }
        }
        break;
    }
    let user = format!("{sources}{asked}");
    let tokens = budget.for_text().saturating_sub(left);
    GroundedPrompt {
        messages: vec![
            ChatMessage::new(Role::System, system),
            ChatMessage::new(Role::User, user),
        ],
        shown,
        tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::hit;

    /// One token per whitespace-separated word: enough to test the packing.
    struct Words;
    impl TokenCounter for Words {
        fn count_tokens(&self, text: &str) -> usize {
            text.split_whitespace().count()
        }
    }

    fn budget(context_tokens: usize) -> Budget {
        Budget {
            context_tokens,
            answer_tokens: 50,
            template_tokens: 10,
        }
    }

    #[test]
    fn numbers_the_sources_best_first_and_asks_the_question_last() {
        let hits = vec![
            hit("Honeybees live in colonies.", 0.9),
            hit("A queen lays eggs.", 0.8),
        ];
        let p = grounded("How many eggs?", &hits, &budget(2000), &Words);
        assert_eq!(p.shown, 2);
        assert_eq!(p.messages[0].role, Role::System);
        assert!(p.messages[0].content.contains("[1]"));
        assert!(p.messages[0].content.contains("Answer in English"));
        let user = &p.messages[1].content;
        let first = user
            .find("Source [1] (from \"test\"):\nHoneybees")
            .expect("source 1");
        let second = user
            .find("Source [2] (from \"test\"):\nA queen")
            .expect("source 2");
        assert!(first < second && user.contains("Question: How many eggs?\n\nAnswer using"));
        assert!(user.ends_with("like [1] or [2]."));
    }

    #[test]
    fn leaves_out_what_does_not_fit_and_cuts_the_best_source_if_it_alone_is_too_long() {
        let long = "word ".repeat(400);
        let hits = vec![hit("short source one", 0.9), hit(&long, 0.8)];
        let p = grounded("Which word?", &hits, &budget(300), &Words);
        assert_eq!(p.shown, 1, "the long second source does not fit");
        assert!(p.tokens <= budget(300).for_text());

        let hits = vec![hit(&long, 0.9)];
        let p = grounded("Which word?", &hits, &budget(300), &Words);
        assert_eq!(p.shown, 1, "the best source is cut, not dropped");
        assert!(p.tokens <= budget(300).for_text(), "{}", p.tokens);
        assert!(Words.count_tokens(&p.messages[1].content) < 300);
    }

    #[test]
    fn portuguese_questions_get_a_portuguese_answer_instruction() {
        let p = grounded(
            "Como faço para criar um ambiente virtual?",
            &[hit("Use python -m venv.", 0.9)],
            &budget(2000),
            &Words,
        );
        assert!(p.messages[0].content.contains("Answer in Portuguese"));
        assert!(p.messages[1].content.contains("Pergunta: Como faço"));
    }
}
