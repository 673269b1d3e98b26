//! Question sets: the simple JSONL (`{question, document, passage?, lang?, split?}` per line) or
//! BEIR's `queries.jsonl` + `qrels.tsv`. A directory holding either is a set.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

/// One question with what answers it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Question {
    /// Its id.
    pub(crate) id: String,
    /// The question.
    pub(crate) text: String,
    /// Language tag (`en`, `pt`, or `-` when the set does not say).
    pub(crate) lang: String,
    /// `tune`, `heldout`, or `-`.
    pub(crate) split: String,
    /// Source names of the documents that answer it.
    pub(crate) documents: Vec<String>,
    /// A verbatim excerpt of the answer, when the set gives one.
    pub(crate) passage: Option<String>,
}

/// Most questions a set may hold, and the longest line read.
const MAX_QUESTIONS: usize = 100_000;
const MAX_LINE: usize = 64 * 1024;

#[derive(Deserialize)]
struct SimpleLine {
    id: Option<String>,
    question: String,
    #[serde(default)]
    document: Option<String>,
    #[serde(default)]
    documents: Vec<String>,
    passage: Option<String>,
    lang: Option<String>,
    split: Option<String>,
}

#[derive(Deserialize)]
struct BeirQuery {
    #[serde(rename = "_id")]
    id: String,
    text: String,
    #[serde(default)]
    metadata: BTreeMap<String, serde_json::Value>,
}

/// Loads a set from a directory (`questions.jsonl`, else `queries.jsonl` + `qrels.tsv`) or from
/// a simple JSONL file.
pub(crate) fn load(path: &Path) -> anyhow::Result<Vec<Question>> {
    let questions = if path.is_dir() {
        let simple = path.join("questions.jsonl");
        if simple.is_file() {
            load_simple(&simple)?
        } else if path.join("queries.jsonl").is_file() {
            load_beir(&path.join("queries.jsonl"), &path.join("qrels.tsv"))?
        } else {
            bail!(
                "{}: no questions.jsonl, nor queries.jsonl + qrels.tsv",
                path.display()
            );
        }
    } else {
        load_simple(path)?
    };
    if questions.is_empty() {
        bail!("{}: no questions", path.display());
    }
    Ok(questions)
}

fn lines(path: &Path) -> anyhow::Result<Vec<(usize, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.len() > MAX_LINE {
            bail!(
                "{}:{}: line longer than {MAX_LINE} bytes",
                path.display(),
                i + 1
            );
        }
        if out.len() == MAX_QUESTIONS {
            bail!("{}: more than {MAX_QUESTIONS} questions", path.display());
        }
        out.push((i + 1, line.to_owned()));
    }
    Ok(out)
}

fn tag(value: Option<String>) -> String {
    value
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "-".into())
}

/// The simple JSONL form.
pub(crate) fn load_simple(path: &Path) -> anyhow::Result<Vec<Question>> {
    lines(path)?
        .into_iter()
        .map(|(n, line)| {
            let q: SimpleLine = serde_json::from_str(&line)
                .with_context(|| format!("{}:{n}: not a question object", path.display()))?;
            let mut documents = q.documents;
            documents.extend(q.document);
            if documents.is_empty() {
                bail!("{}:{n}: no document (or documents) given", path.display());
            }
            Ok(Question {
                id: q.id.unwrap_or_else(|| format!("q{n}")),
                text: q.question,
                lang: tag(q.lang),
                split: tag(q.split),
                documents,
                passage: q.passage.filter(|p| !p.trim().is_empty()),
            })
        })
        .collect()
}

/// BEIR's queries and qrels (relevance > 0 counts; the header line is optional).
pub(crate) fn load_beir(queries: &Path, qrels: &Path) -> anyhow::Result<Vec<Question>> {
    let text =
        std::fs::read_to_string(qrels).with_context(|| format!("reading {}", qrels.display()))?;
    let mut relevant: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if line.trim().is_empty() || (i == 0 && cols.first() == Some(&"query-id")) {
            continue;
        }
        let [query, doc, score] = cols[..] else {
            bail!(
                "{}:{}: expected query-id, corpus-id, score",
                qrels.display(),
                i + 1
            );
        };
        let score: f64 = score
            .trim()
            .parse()
            .with_context(|| format!("{}:{}: score", qrels.display(), i + 1))?;
        if score > 0.0 {
            relevant
                .entry(query.to_owned())
                .or_default()
                .push(doc.to_owned());
        }
    }
    let meta = |q: &BeirQuery, key: &str| {
        q.metadata
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    lines(queries)?
        .into_iter()
        .filter_map(|(n, line)| {
            let q: BeirQuery = match serde_json::from_str(&line) {
                Ok(q) => q,
                Err(e) => return Some(Err(anyhow::anyhow!("{}:{n}: {e}", queries.display()))),
            };
            // Queries without judgements are not scored (BEIR's convention).
            let documents = relevant.get(&q.id)?.clone();
            Some(Ok(Question {
                lang: tag(meta(&q, "lang")),
                split: tag(meta(&q, "split")),
                passage: meta(&q, "passage"),
                id: q.id,
                text: q.text,
                documents,
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_and_beir_forms_load_the_same_question() {
        let dir = tempfile::tempdir().expect("tempdir");
        let simple = dir.path().join("q.jsonl");
        std::fs::write(
            &simple,
            r#"{"id":"a","question":"How?","document":"x.html","passage":"Like this.","lang":"en","split":"tune"}"#,
        )
        .expect("write");
        let beir = dir.path().join("beir");
        std::fs::create_dir(&beir).expect("mkdir");
        std::fs::write(
            beir.join("queries.jsonl"),
            "{\"_id\":\"a\",\"text\":\"How?\",\"metadata\":{\"lang\":\"en\",\"split\":\"tune\",\"passage\":\"Like this.\"}}\n{\"_id\":\"unjudged\",\"text\":\"?\"}\n",
        )
        .expect("write");
        std::fs::write(
            beir.join("qrels.tsv"),
            "query-id\tcorpus-id\tscore\na\tx.html\t1\n",
        )
        .expect("write");
        let a = load(&simple).expect("simple");
        let b = load(&beir).expect("beir");
        assert_eq!(a, b);
        assert_eq!(a[0].documents, vec!["x.html".to_owned()]);
    }

    #[test]
    fn malformed_sets_are_refused_with_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("q.jsonl");
        std::fs::write(&bad, "{\"question\":\"no document\"}\n").expect("write");
        let err = load(&bad).expect_err("no document").to_string();
        assert!(err.contains(":1"), "{err}");
        std::fs::write(&bad, "not json\n").expect("write");
        assert!(load(&bad).is_err());
    }
}
