//! Input rules: what each kind of rule checks, on which form of the query.
//!
//! Text rules (`kind = "match"`) see the normalized query (see [`super::normalize`]); length and
//! character rules see the query exactly as received, because normalization would hide what they
//! look for.

use regex::Regex;
use serde::Deserialize;

/// What happens when a rule triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Action {
    /// The query is rejected (HTTP 400 naming the rule).
    Block,
    /// The query is answered; the rule's name is reported in `guardrails_triggered`.
    Flag,
}

/// One compiled input rule.
#[derive(Debug, Clone)]
pub(crate) struct InputRule {
    pub(crate) name: String,
    pub(crate) action: Action,
    pub(crate) check: Check,
}

/// The test an input rule applies.
#[derive(Debug, Clone)]
pub(crate) enum Check {
    /// Any of the regexes matches the normalized query. Keywords are compiled to regexes too.
    Match(Vec<Regex>),
    /// More than this many characters (Unicode scalar values).
    MaxLength(usize),
    /// Fewer than this many characters once leading and trailing whitespace is removed.
    MinLength(usize),
    /// Any control character other than tab, line feed and carriage return, or any
    /// bidirectional embedding/override/isolate control (used to disguise text).
    ControlCharacters,
    /// The same non-whitespace character more than this many times in a row.
    RepeatedCharacters(usize),
}

impl InputRule {
    /// Whether the rule limits the shape of a question (its length, repeated characters) rather
    /// than what it asks: such rules do not fit a chat whose messages carry whole documents.
    pub(crate) fn is_question_shape(&self) -> bool {
        matches!(
            self.check,
            Check::MaxLength(_) | Check::MinLength(_) | Check::RepeatedCharacters(_)
        )
    }

    /// Whether the rule triggers on `raw` (as received), whose normalized form is `normalized`.
    pub(crate) fn triggers(&self, raw: &str, normalized: &str) -> bool {
        match &self.check {
            Check::Match(regexes) => regexes.iter().any(|re| re.is_match(normalized)),
            Check::MaxLength(max) => raw.chars().count() > *max,
            Check::MinLength(min) => raw.trim().chars().count() < *min,
            Check::ControlCharacters => raw.chars().any(is_forbidden_control),
            Check::RepeatedCharacters(max_run) => longest_run(raw) > *max_run,
        }
    }
}

/// Builds the regex of a keyword list: each keyword (normalized, so accents and case do not
/// matter) must appear as a whole word or phrase, i.e. not preceded or followed by a letter,
/// digit or underscore. `kill` matches "I will kill you" but not "skill"; the policy decides
/// whether "kill" alone is a keyword at all (the default does not list it).
pub(crate) fn keyword_pattern(keywords: &[String]) -> String {
    let alternatives: Vec<String> = keywords
        .iter()
        .map(|k| {
            super::normalize::normalize(k)
                .split(' ')
                .map(regex::escape)
                .collect::<Vec<_>>()
                .join(r"\s+")
        })
        .collect();
    format!(r"(?:^|[^\w])(?:{})(?:$|[^\w])", alternatives.join("|"))
}

fn is_forbidden_control(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn longest_run(text: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    let mut previous = None;
    for c in text.chars() {
        if c.is_whitespace() {
            previous = None;
            run = 0;
            continue;
        }
        run = if previous == Some(c) { run + 1 } else { 1 };
        previous = Some(c);
        longest = longest.max(run);
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::normalize::normalize;

    fn rule(check: Check) -> InputRule {
        InputRule {
            name: "test".to_owned(),
            action: Action::Block,
            check,
        }
    }

    fn fires(rule: &InputRule, query: &str) -> bool {
        rule.triggers(query, &normalize(query))
    }

    #[test]
    fn keywords_match_whole_words_case_and_accent_insensitively() {
        let re = Regex::new(&keyword_pattern(&[
            "vou te matar".to_owned(),
            "ódio".to_owned(),
        ]))
        .expect("valid");
        let r = rule(Check::Match(vec![re]));
        assert!(fires(&r, "Eu VOU  te matar!"));
        assert!(fires(&r, "discurso de ODIO"));
        assert!(fires(&r, "ódio"));
        assert!(!fires(&r, "periodiocidade"));
        assert!(!fires(&r, "vou te matarolar"));
    }

    #[test]
    fn keywords_with_symbols_are_escaped() {
        let re = Regex::new(&keyword_pattern(&["f*ck you".to_owned()])).expect("valid");
        let r = rule(Check::Match(vec![re]));
        assert!(fires(&r, "well f*ck you"));
        assert!(!fires(&r, "fck you"));
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let max = rule(Check::MaxLength(5));
        assert!(!fires(&max, "ççççç"));
        assert!(fires(&max, "çççççç"));
        let min = rule(Check::MinLength(3));
        assert!(fires(&min, "  ab  "));
        assert!(!fires(&min, "abc"));
    }

    #[test]
    fn control_characters_allow_ordinary_whitespace() {
        let r = rule(Check::ControlCharacters);
        assert!(!fires(&r, "line one\nline two\twith tab\r\n"));
        assert!(!fires(&r, "emoji family 👨\u{200D}👩\u{200D}👧 é ok"));
        assert!(fires(&r, "null\u{0}byte"));
        assert!(fires(&r, "escape \u{1b}[31m red"));
        assert!(fires(&r, "trojan \u{202E}source"));
        assert!(fires(&r, "isolate \u{2066}x\u{2069}"));
    }

    #[test]
    fn repeated_characters_ignore_whitespace_runs() {
        let r = rule(Check::RepeatedCharacters(4));
        assert!(!fires(&r, "aaaa bbbb"));
        assert!(!fires(&r, "a          b"));
        assert!(fires(&r, "aaaaa"));
        assert!(fires(&r, "what?????"));
        assert_eq!(longest_run("ab  bb"), 2);
    }
}
