//! The text exposition format, read as samples, and the `rag_*` names in a text.

use std::collections::{BTreeMap, BTreeSet};

use crate::helpers::TestApp;

/// One sample of the text exposition format.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub(super) name: String,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) value: f64,
}

/// Parses `name{label="value",…} value` lines (label values may hold `{`, `}`, `,` and escapes).
pub(super) fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).expect("a sample line has a value");
        let name = line[..name_end].to_owned();
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            let end = loop {
                let (start, c) = chars.next().expect("labels end with }");
                if c == '}' {
                    break start + 1;
                }
                if c == ',' {
                    continue;
                }
                let eq = body[start..].find('=').expect("label=") + start;
                let key = body[start..eq].to_owned();
                while chars.peek().is_some_and(|&(i, _)| i <= eq + 1) {
                    chars.next();
                }
                let mut value = String::new();
                loop {
                    let (_, c) = chars.next().expect("a closing quote");
                    match c {
                        '\\' => value.push(chars.next().expect("escaped").1),
                        '"' => break,
                        other => value.push(other),
                    }
                }
                labels.insert(key, value);
            };
            rest = &body[end..];
        }
        let value = rest.trim().split(' ').next().expect("value");
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value of {line:?}")),
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

/// The exposition of `url`.
pub(super) async fn scrape(app: &TestApp, url: &str) -> Vec<Sample> {
    let r = app.client.get(url).send().await.expect("GET /metrics");
    assert_eq!(r.status(), 200, "{url}");
    let content_type = r.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    parse_exposition(&r.text().await.expect("text"))
}

/// The one sample of `name` with (at least) these labels.
pub(super) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(found.len(), 1, "{name}{labels:?}: {found:?}");
    found[0].value
}

/// Every `rag_*` metric name in `text`.
pub(super) fn rag_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut from = 0;
    while let Some(at) = text[from..].find("rag_").map(|i| i + from) {
        let end = at
            + text[at..]
                .bytes()
                .take_while(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                .count();
        if at == 0 || !word(bytes[at - 1]) {
            names.insert(text[at..end].to_owned());
        }
        from = end;
    }
    names
}
