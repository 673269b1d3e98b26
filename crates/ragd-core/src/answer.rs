//! The extractive answer composer: when no generator is configured, ragd answers with the
//! sentences of the best sources that share the most words with the question, each followed by
//! its `[n]` citation, where `n` is the source's position in the response.
//!
//! **Confidence** (documented contract): `confidence = s₁ · (0.8 + 0.2 · coverage)`, where `s₁`
//! is the calibrated similarity of the best source and `coverage` the fraction of the question's
//! content words found in the cited sentences. It is 0 when no source passed the threshold.

use std::collections::HashSet;

use crate::types::Hit;

/// The answer given when no source passes the threshold.
pub const NO_ANSWER: &str =
    "No relevant information was found in the indexed documents for this question.";

/// A composed answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The answer text with `[n]` citations.
    pub text: String,
    /// Confidence in [0, 1] (see the module docs for the formula).
    pub confidence: f32,
    /// 1-based numbers of the sources cited in `text`.
    pub cited: Vec<usize>,
}

/// Limits of the extractive composer.
#[derive(Debug, Clone, Copy)]
pub struct ComposerConfig {
    /// At most this many sources are quoted.
    pub max_sources: usize,
    /// At most this many sentences are taken from each source.
    pub sentences_per_source: usize,
    /// The answer is cut (at a sentence) before this many characters.
    pub max_chars: usize,
}

impl Default for ComposerConfig {
    fn default() -> Self {
        Self {
            max_sources: 3,
            sentences_per_source: 2,
            max_chars: 1200,
        }
    }
}

const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
    "i", "in", "is", "it", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when",
    "where", "which", "who", "why", "with", "you", "your", "o", "os", "as", "um", "uma", "de",
    "do", "da", "dos", "das", "e", "é", "em", "no", "na", "nos", "nas", "que", "qual", "quais",
    "como", "para", "por", "com", "se", "ao", "à", "quando", "onde", "quem",
];

fn content_words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// Splits text into sentences at `.`, `!`, `?` followed by whitespace, and at blank lines.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next_is_space = chars.peek().is_none_or(|(_, n)| n.is_whitespace());
        let blank_line = c == '\n' && chars.peek().is_some_and(|(_, n)| *n == '\n');
        if (matches!(c, '.' | '!' | '?') && next_is_space) || blank_line {
            let end = i + c.len_utf8();
            let s = text[start..end].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = end;
        }
    }
    let s = text[start..].trim();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

/// Cleans a sentence for quoting: markdown heading marks and runs of whitespace go.
fn clean(sentence: &str) -> String {
    let words: Vec<&str> = sentence
        .split_whitespace()
        .filter(|w| !w.chars().all(|c| c == '#'))
        .collect();
    words.join(" ")
}

/// Composes an extractive answer to `question` from `hits` (best first, already thresholded).
pub fn compose(question: &str, hits: &[Hit], config: &ComposerConfig) -> Answer {
    let Some(best) = hits.first() else {
        return Answer {
            text: NO_ANSWER.to_owned(),
            confidence: 0.0,
            cited: Vec::new(),
        };
    };
    let q_words = content_words(question);
    let mut parts: Vec<String> = Vec::new();
    let mut cited = Vec::new();
    let mut found: HashSet<String> = HashSet::new();
    let mut length = 0;
    for (n, hit) in hits.iter().take(config.max_sources).enumerate() {
        let mut scored: Vec<(usize, usize, &str)> = sentences(&hit.chunk.chunk.text)
            .into_iter()
            .enumerate()
            .map(|(pos, s)| (content_words(s).intersection(&q_words).count(), pos, s))
            .filter(|(score, _, s)| *score > 0 && s.len() > 20 && !s.starts_with('#'))
            .collect();
        // Best overlap first; among equals, earlier sentences first.
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.truncate(config.sentences_per_source);
        scored.sort_by_key(|s| s.1);
        // The best source is always quoted, even if no sentence shares a word with the question.
        if scored.is_empty()
            && n == 0
            && let Some(first) = sentences(&hit.chunk.chunk.text)
                .into_iter()
                .find(|s| s.len() > 20 && !s.starts_with('#'))
        {
            scored.push((0, 0, first));
        }
        let mut quoted = false;
        for (_, _, sentence) in scored {
            let sentence = clean(sentence);
            if length + sentence.len() > config.max_chars && !parts.is_empty() {
                break;
            }
            length += sentence.len();
            found.extend(content_words(&sentence));
            parts.push(format!("{sentence} [{}]", n + 1));
            quoted = true;
        }
        if quoted {
            cited.push(n + 1);
        }
    }
    if parts.is_empty() {
        parts.push(format!("{} [1]", clean(&best.chunk.chunk.text)));
        cited.push(1);
    }
    let coverage = if q_words.is_empty() {
        1.0
    } else {
        q_words.intersection(&found).count() as f32 / q_words.len() as f32
    };
    let confidence = (best.similarity * (0.8 + 0.2 * coverage)).clamp(0.0, 1.0);
    Answer {
        text: parts.join(" "),
        confidence,
        cited,
    }
}

/// Confidence of a generated answer (documented contract): the calibrated similarity of the
/// best source it cites, times 0.8 when it also cites a number that does not exist; half the
/// best source's similarity when it cites nothing (it may not be grounded at all).
pub fn generated_confidence(
    hits: &[Hit],
    citations: &crate::generation::citations::Citations,
) -> f32 {
    let best_cited = citations
        .cited
        .iter()
        .filter_map(|&n| hits.get(n - 1))
        .map(|h| h.similarity)
        .fold(None, |best: Option<f32>, s| {
            Some(best.map_or(s, |b| b.max(s)))
        });
    let confidence = match best_cited {
        Some(s) if citations.invalid.is_empty() => s,
        Some(s) => 0.8 * s,
        None => 0.5 * hits.first().map_or(0.0, |h| h.similarity),
    };
    confidence.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::hit;

    #[test]
    fn no_hits_gives_the_no_answer_text_and_zero_confidence() {
        let a = compose("anything at all?", &[], &ComposerConfig::default());
        assert_eq!(a.text, NO_ANSWER);
        assert_eq!(a.confidence, 0.0);
        assert!(a.cited.is_empty());
    }

    #[test]
    fn quotes_matching_sentences_with_citations() {
        let hits = vec![
            hit(
                "Honeybees live in colonies. A colony has one queen that lays up to 2000 eggs a day.",
                0.9,
            ),
            hit(
                "Bread needs flour. Sourdough uses a starter culture of wild yeast.",
                0.75,
            ),
        ];
        let a = compose(
            "How many eggs does the queen lay?",
            &hits,
            &ComposerConfig::default(),
        );
        assert!(a.text.contains("2000 eggs a day. [1]"), "{}", a.text);
        assert!(!a.text.contains("[2]"), "{}", a.text);
        assert_eq!(a.cited, vec![1]);
        assert!(
            a.confidence > 0.8 && a.confidence <= 0.9,
            "{}",
            a.confidence
        );
    }

    #[test]
    fn headings_are_not_quoted() {
        let hits = vec![hit(
            "# The Amazon rainforest basics\n\nThe Amazon rainforest holds 390 billion trees.",
            0.9,
        )];
        let a = compose(
            "How many trees are in the Amazon rainforest?",
            &hits,
            &ComposerConfig::default(),
        );
        assert_eq!(a.text, "The Amazon rainforest holds 390 billion trees. [1]");
    }

    #[test]
    fn sentences_split_on_punctuation_and_blank_lines() {
        let s = sentences("One. Two!\n\nThree v1.2 is here? Four");
        assert_eq!(s, vec!["One.", "Two!", "Three v1.2 is here?", "Four"]);
    }

    #[test]
    fn generated_answers_are_as_confident_as_the_best_source_they_cite() {
        use crate::generation::citations::parse;
        let hits = vec![hit("a", 0.9), hit("b", 0.6)];
        assert_eq!(generated_confidence(&hits, &parse("x [2]", 2)), 0.6);
        assert_eq!(generated_confidence(&hits, &parse("x [2][1]", 2)), 0.9);
        assert!((generated_confidence(&hits, &parse("x [1][5]", 2)) - 0.72).abs() < 1e-6);
        assert_eq!(generated_confidence(&hits, &parse("no citation", 2)), 0.45);
        assert_eq!(generated_confidence(&[], &parse("no citation", 0)), 0.0);
    }
}
