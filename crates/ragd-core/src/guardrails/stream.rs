//! PII redaction of text that arrives in pieces (a streamed answer): a piece is released only
//! once no item the redactor knows can still span it, so a phone number split across two
//! tokens is replaced before any of it is sent.
//!
//! The redactor holds back the last [`WINDOW`] bytes, and more when the cut would fall inside
//! a word, a run of digit groups or a detected item. Items longer than the window without
//! whitespace (an e-mail address over [`MAX_WORD`] bytes) are the documented limit: such a run
//! is released in pieces.

use super::Policy;
use super::pii::PiiKind;

/// Bytes always held back: longer than any phone, card, CPF or CNPJ as written.
pub(super) const WINDOW: usize = 64;
/// A run without whitespace longer than this is released even if it is not finished.
pub(super) const MAX_WORD: usize = 512;

/// Redacts a stream of text deltas; see the module docs.
#[derive(Debug)]
pub struct StreamRedactor<'p> {
    policy: &'p Policy,
    pending: String,
    kinds: Vec<PiiKind>,
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The start of the whitespace-separated word containing byte `at` (or `at` itself when it
/// starts one).
fn word_start(text: &str, at: usize) -> usize {
    text[..at]
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8())
}

/// Whether a cut at `at` would split a run of digit groups ("4111 1111 1111 1111").
fn splits_digit_run(text: &str, at: usize) -> bool {
    let next_is_digit = text[at..]
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit());
    let mut before = text[..at].chars().rev().skip_while(|c| c.is_whitespace());
    let prev = before.next();
    next_is_digit
        && (prev.is_some_and(|c| c.is_ascii_digit())
            || (matches!(prev, Some('-' | '.' | '/'))
                && before.next().is_some_and(|c| c.is_ascii_digit())))
}

impl<'p> StreamRedactor<'p> {
    /// A redactor applying `policy`'s PII rules.
    pub fn new(policy: &'p Policy) -> Self {
        Self {
            policy,
            pending: String::new(),
            kinds: Vec::new(),
        }
    }

    /// Takes the next piece; returns the redacted text that can be sent now (maybe empty).
    pub fn push(&mut self, delta: &str) -> String {
        self.pending.push_str(delta);
        if self.pending.len() <= WINDOW {
            return String::new();
        }
        let text = &self.pending;
        let forced = floor_boundary(text, text.len() - WINDOW);
        let mut cut = word_start(text, forced);
        while cut > 0 && splits_digit_run(text, cut) {
            cut = word_start(text, cut.saturating_sub(1));
        }
        for &(start, end, _) in &self.policy.pii.spans(text) {
            if start < cut && cut < end {
                cut = start;
            }
        }
        if cut == 0 && forced > MAX_WORD {
            cut = forced;
        }
        self.release(cut)
    }

    /// Ends the stream: the rest of the text, redacted.
    pub fn finish(&mut self) -> String {
        self.release(self.pending.len())
    }

    /// Names of the PII rules that replaced something so far, each once, in detector order.
    pub fn triggered(&self) -> Vec<&'static str> {
        PiiKind::ALL
            .into_iter()
            .filter(|k| self.kinds.contains(k))
            .map(PiiKind::rule_name)
            .collect()
    }

    fn release(&mut self, cut: usize) -> String {
        if cut == 0 {
            return String::new();
        }
        let rest = self.pending.split_off(cut);
        let head = std::mem::replace(&mut self.pending, rest);
        let (out, kinds) = self.policy.pii.redact(&head);
        for kind in kinds {
            if !self.kinds.contains(&kind) {
                self.kinds.push(kind);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn streamed(policy: &Policy, pieces: &[&str]) -> (String, Vec<&'static str>) {
        let mut redactor = StreamRedactor::new(policy);
        let mut out = String::new();
        for piece in pieces {
            out.push_str(&redactor.push(piece));
        }
        out.push_str(&redactor.finish());
        (out, redactor.triggered())
    }

    const TEXT: &str = "Call the office on (11) 98765-4321 or write to ana.souza@example.com; \
                        the card 4111 1111 1111 1111 was cancelled. CPF 529.982.247-25 too.";

    #[test]
    fn a_phone_number_split_across_tokens_is_still_replaced() {
        let policy = Policy::default();
        let (out, triggered) = streamed(
            &policy,
            &[
                "Call the office on (11) 987",
                "65-43",
                "21 or write to ana.",
                "souza@exam",
                "ple.com; the card 4111 1111 ",
                "1111 1111 was cancelled. CPF 529.982.",
                "247-25 too.",
            ],
        );
        assert_eq!(out, policy.redact_output(TEXT).text);
        assert!(
            !out.contains("4321") && !out.contains("souza") && !out.contains("1111"),
            "{out}"
        );
        assert_eq!(triggered, policy.redact_output(TEXT).triggered);
    }

    #[test]
    fn text_is_released_while_the_stream_goes_on() {
        let policy = Policy::default();
        let mut redactor = StreamRedactor::new(&policy);
        let mut released = String::new();
        for word in "a quiet sentence without any personal data in it at all "
            .repeat(10)
            .split_inclusive(' ')
        {
            released.push_str(&redactor.push(word));
        }
        assert!(
            released.len() > 400,
            "held back too much: {}",
            released.len()
        );
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_text_as_redacting_the_whole(cuts in proptest::collection::vec(0..TEXT.len(), 0..12)) {
            let policy = Policy::default();
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| TEXT.is_char_boundary(c)).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut pieces = Vec::new();
            let mut last = 0;
            for c in cuts {
                pieces.push(&TEXT[last..c]);
                last = c;
            }
            pieces.push(&TEXT[last..]);
            let (out, _) = streamed(&policy, &pieces);
            prop_assert_eq!(out, policy.redact_output(TEXT).text);
        }
    }
}
