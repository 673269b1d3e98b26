//! Citations in a generated answer: `[n]`, `[n, m]`, `[n][m]`, `[Source n]` / `[Fonte n]`,
//! mapped to the numbered sources the model was shown.
//!
//! An answer that cites nothing, or cites a number the model was not shown, is flagged: the
//! flags go to `guardrails_triggered` so a client can tell a grounded answer from a guess.

use std::sync::LazyLock;

use regex::Regex;

/// The answer cites no source.
pub const MISSING: &str = "citation.missing";
/// The answer cites a source number that does not exist.
pub const INVALID: &str = "citation.invalid";

static CITATION: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"(?i)\[\s*(?:(?:source|sources|fonte|fontes|doc|document|documento)\s*)?(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]")
        .expect("the citation pattern compiles")
});

/// The citations found in an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Citations {
    /// The 1-based source numbers cited that exist, ascending, each once.
    pub cited: Vec<usize>,
    /// Cited numbers that do not exist (0, or over the number of sources shown), each once.
    pub invalid: Vec<usize>,
}

impl Citations {
    /// The flags for `guardrails_triggered`: [`MISSING`] when nothing valid is cited,
    /// [`INVALID`] when any number does not exist.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut flags = Vec::new();
        if self.cited.is_empty() {
            flags.push(MISSING);
        }
        if !self.invalid.is_empty() {
            flags.push(INVALID);
        }
        flags
    }
}

/// Finds the citations in `answer`, given that the model was shown sources `1..=shown`.
pub fn parse(answer: &str, shown: usize) -> Citations {
    let mut found = Citations::default();
    for caps in CITATION.captures_iter(answer) {
        let Some(list) = caps.get(1) else { continue };
        // `scores[0]`, `vec![1, 2]`: an index or a literal in code, not a citation.
        let start = caps.get(0).map_or(0, |m| m.start());
        if answer[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '!'))
        {
            continue;
        }
        for number in list.as_str().split([',', ';']) {
            let Ok(n) = number.trim().parse::<usize>() else {
                continue;
            };
            let bucket = if (1..=shown).contains(&n) {
                &mut found.cited
            } else {
                &mut found.invalid
            };
            if !bucket.contains(&n) {
                bucket.push(n);
            }
        }
    }
    found.cited.sort_unstable();
    found.invalid.sort_unstable();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_usual_forms() {
        let c = parse(
            "Use venv [1]. It ships with Python [2, 3][3]; see also [Source 4] and [fonte 1].",
            4,
        );
        assert_eq!(c.cited, vec![1, 2, 3, 4]);
        assert!(c.invalid.is_empty());
        assert!(c.flags().is_empty());
    }

    #[test]
    fn flags_missing_and_invalid_numbers() {
        assert_eq!(parse("No citation here.", 3).flags(), vec![MISSING]);
        let c = parse("Cites [0] and [7] and [2].", 3);
        assert_eq!(c.cited, vec![2]);
        assert_eq!(c.invalid, vec![0, 7]);
        assert_eq!(c.flags(), vec![INVALID]);
        assert_eq!(parse("Only [9].", 3).flags(), vec![MISSING, INVALID]);
    }

    #[test]
    fn ignores_brackets_that_are_not_citations() {
        let c = parse(
            "Lists look like [a, b] and arrays like x[i]; [1234] is too long.",
            5,
        );
        assert_eq!(c, Citations::default());
    }
}
