//! The policy file's schema and its compilation into rules.
//!
//! Unknown keys are errors (a misspelt `keywrods` must not silently disable a rule), and so are
//! keys that do not apply to a rule's `kind`. Every semantic error names the rule and the field.

use std::collections::HashSet;

use regex::{Regex, RegexBuilder};
use serde::Deserialize;

use super::input::{Action, Check, InputRule, keyword_pattern};
use super::normalize::{normalize, strip_diacritics};
use super::pii::{PiiKind, PiiRedactor};
use crate::{Error, Result};

/// The only policy file version this build understands.
const VERSION: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: u32,
    input: InputSection,
    output: OutputSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSection {
    rules: Vec<RuleEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    name: String,
    kind: Kind,
    action: Action,
    #[expect(
        dead_code,
        reason = "read by people, not by the code: it documents the rule"
    )]
    description: Option<String>,
    patterns: Option<Vec<String>>,
    keywords: Option<Vec<String>>,
    max_chars: Option<usize>,
    min_chars: Option<usize>,
    max_run: Option<usize>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Match,
    MaxLength,
    MinLength,
    ControlCharacters,
    RepeatedCharacters,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Match => "match",
            Kind::MaxLength => "max_length",
            Kind::MinLength => "min_length",
            Kind::ControlCharacters => "control_characters",
            Kind::RepeatedCharacters => "repeated_characters",
        }
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Match => &["patterns", "keywords"],
            Kind::MaxLength => &["max_chars"],
            Kind::MinLength => &["min_chars"],
            Kind::ControlCharacters => &[],
            Kind::RepeatedCharacters => &["max_run"],
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputSection {
    pii: PiiSection,
    notice: NoticeSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PiiSection {
    email: bool,
    phone: bool,
    cpf: bool,
    cnpj: bool,
    credit_card: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoticeSection {
    min_confidence: f32,
    no_sources: String,
    low_confidence: String,
}

/// A policy file, compiled.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) input: Vec<InputRule>,
    pub(crate) pii: PiiRedactor,
    pub(crate) min_confidence: f32,
    pub(crate) no_sources: String,
    pub(crate) low_confidence: String,
}

/// Parses and compiles a policy file.
pub(crate) fn compile(text: &str) -> Result<Compiled> {
    let file: PolicyFile =
        toml::from_str(text).map_err(|e| Error::invalid(format!("guardrails policy: {e}")))?;
    if file.version != VERSION {
        return Err(Error::invalid(format!(
            "guardrails policy: `version` is {}, this build reads version {VERSION}",
            file.version
        )));
    }
    let mut seen = HashSet::new();
    let mut input = Vec::with_capacity(file.input.rules.len());
    for (i, entry) in file.input.rules.into_iter().enumerate() {
        let rule = compile_rule(entry).map_err(|msg| {
            Error::invalid(format!("guardrails policy: input rule #{}: {msg}", i + 1))
        })?;
        if !seen.insert(rule.name.clone()) {
            return Err(Error::invalid(format!(
                "guardrails policy: input rule #{}: the name `{}` is used twice",
                i + 1,
                rule.name
            )));
        }
        input.push(rule);
    }
    let OutputSection { pii, notice } = file.output;
    let enabled: Vec<PiiKind> = [
        (pii.email, PiiKind::Email),
        (pii.cnpj, PiiKind::Cnpj),
        (pii.cpf, PiiKind::Cpf),
        (pii.credit_card, PiiKind::CreditCard),
        (pii.phone, PiiKind::Phone),
    ]
    .into_iter()
    .filter_map(|(on, kind)| on.then_some(kind))
    .collect();
    if !(0.0..=1.0).contains(&notice.min_confidence) {
        return Err(Error::invalid(format!(
            "guardrails policy: `output.notice.min_confidence` must be in [0, 1], got {}",
            notice.min_confidence
        )));
    }
    for (field, text) in [
        ("no_sources", &notice.no_sources),
        ("low_confidence", &notice.low_confidence),
    ] {
        if text.trim().is_empty() {
            return Err(Error::invalid(format!(
                "guardrails policy: `output.notice.{field}` must not be empty"
            )));
        }
    }
    Ok(Compiled {
        input,
        pii: PiiRedactor::new(&enabled)?,
        min_confidence: notice.min_confidence,
        no_sources: notice.no_sources,
        low_confidence: notice.low_confidence,
    })
}

/// Compiles one rule; the error message names the rule and the field at fault.
fn compile_rule(entry: RuleEntry) -> std::result::Result<InputRule, String> {
    let name = entry.name;
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
    if !valid_name {
        return Err(format!(
            "`name` {name:?} must be non-empty lowercase ASCII letters, digits, `_` or `.`"
        ));
    }
    let kind = entry.kind;
    let present = [
        ("patterns", entry.patterns.is_some()),
        ("keywords", entry.keywords.is_some()),
        ("max_chars", entry.max_chars.is_some()),
        ("min_chars", entry.min_chars.is_some()),
        ("max_run", entry.max_run.is_some()),
    ];
    if let Some((field, _)) = present
        .iter()
        .find(|(field, set)| *set && !kind.fields().contains(field))
    {
        return Err(format!(
            "`{name}`: `{field}` does not apply to kind `{}`",
            kind.as_str()
        ));
    }
    let positive = |field: &str, value: Option<usize>| match value {
        Some(n) if n > 0 => Ok(n),
        Some(_) => Err(format!("`{name}`: `{field}` must be at least 1")),
        None => Err(format!(
            "`{name}`: kind `{}` needs `{field}`",
            kind.as_str()
        )),
    };
    let check = match kind {
        Kind::Match => Check::Match(compile_match(&name, entry.patterns, entry.keywords)?),
        Kind::MaxLength => Check::MaxLength(positive("max_chars", entry.max_chars)?),
        Kind::MinLength => Check::MinLength(positive("min_chars", entry.min_chars)?),
        Kind::ControlCharacters => Check::ControlCharacters,
        Kind::RepeatedCharacters => Check::RepeatedCharacters(positive("max_run", entry.max_run)?),
    };
    Ok(InputRule {
        name,
        action: entry.action,
        check,
    })
}

fn compile_match(
    name: &str,
    patterns: Option<Vec<String>>,
    keywords: Option<Vec<String>>,
) -> std::result::Result<Vec<Regex>, String> {
    let patterns = patterns.unwrap_or_default();
    let keywords = keywords.unwrap_or_default();
    if patterns.is_empty() && keywords.is_empty() {
        return Err(format!(
            "`{name}`: kind `match` needs a non-empty `patterns` or `keywords` list"
        ));
    }
    if let Some(i) = keywords.iter().position(|k| normalize(k).is_empty()) {
        return Err(format!("`{name}`: `keywords[{i}]` is empty"));
    }
    let mut regexes = Vec::with_capacity(patterns.len() + 1);
    for (i, pattern) in patterns.iter().enumerate() {
        if pattern.trim().is_empty() {
            return Err(format!("`{name}`: `patterns[{i}]` is empty"));
        }
        let regex = build_regex(&strip_diacritics(pattern))
            .map_err(|e| format!("`{name}`: `patterns[{i}]` is not a valid regex: {e}"))?;
        regexes.push(regex);
    }
    if !keywords.is_empty() {
        let regex = build_regex(&keyword_pattern(&keywords))
            .map_err(|e| format!("`{name}`: `keywords` do not compile: {e}"))?;
        regexes.push(regex);
    }
    Ok(regexes)
}

fn build_regex(pattern: &str) -> std::result::Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).case_insensitive(true).build()
}
