//! Retrieval metrics over ranked chunks: hit@k, MRR@10, nDCG@10 and recall@k.
//!
//! A retrieved chunk is relevant when it comes from one of the question's documents and, at
//! passage level, when its text also holds the answer's passage (or the first or second half
//! of it, for a passage a chunk boundary cut). Recall and nDCG count each relevant unit (a
//! document, or the one passage) once, so several chunks of one document do not inflate them.

/// Whether relevance is judged by document or by passage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Level {
    /// A chunk of a relevant document is relevant.
    Document,
    /// A chunk must also contain the answer's passage (questions without one: by document).
    Passage,
}

/// One retrieved chunk as the metrics see it.
#[derive(Debug, Clone)]
pub(crate) struct Retrieved {
    /// Its document's source name.
    pub(crate) source: String,
    /// Its text.
    pub(crate) text: String,
}

/// Lower-case, whitespace collapsed.
pub(crate) fn normalise(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a stored source name is the set's document id: equal, or a path ending in it (ragd
/// names a file ingested from a directory by the path given, e.g. `corpus/pg-en/x.html`).
pub(crate) fn same_document(source: &str, document: &str) -> bool {
    source == document
        || source
            .strip_suffix(document)
            .is_some_and(|head| head.ends_with('/'))
}

/// Which relevant unit (index into the question's documents, or 0 for the passage) a chunk is,
/// if any.
fn unit(
    chunk: &Retrieved,
    documents: &[String],
    passage: Option<&(String, String, String)>,
    level: Level,
) -> Option<usize> {
    let doc = documents
        .iter()
        .position(|d| same_document(&chunk.source, d))?;
    match (level, passage) {
        (Level::Passage, Some((whole, head, tail))) => {
            let text = normalise(&chunk.text);
            (text.contains(whole.as_str())
                || (!head.is_empty() && text.contains(head.as_str()))
                || (!tail.is_empty() && text.contains(tail.as_str())))
            .then_some(0)
        }
        (Level::Document, _) | (Level::Passage, None) => Some(doc),
    }
}

/// The metrics of one question.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Scores {
    pub(crate) hit1: f64,
    pub(crate) hit5: f64,
    pub(crate) hit10: f64,
    pub(crate) mrr10: f64,
    pub(crate) ndcg10: f64,
    pub(crate) recall5: f64,
    pub(crate) recall10: f64,
}

/// Scores one ranking (best first) against a question's judgements.
pub(crate) fn score(
    ranked: &[Retrieved],
    documents: &[String],
    passage: Option<&str>,
    level: Level,
) -> Scores {
    let passage = passage.map(|p| {
        let words: Vec<&str> = p.split_whitespace().collect();
        let half = words.len() / 2;
        let part = |w: &[&str]| {
            if words.len() >= 6 {
                normalise(&w.join(" "))
            } else {
                String::new()
            }
        };
        (normalise(p), part(&words[..half]), part(&words[half..]))
    });
    let units = if level == Level::Passage && passage.is_some() {
        1
    } else {
        documents.len().max(1)
    };
    let mut first: Option<usize> = None;
    let mut seen: Vec<usize> = Vec::new();
    let (mut dcg, mut found5, mut found10) = (0.0, 0usize, 0usize);
    for (rank, chunk) in ranked.iter().take(10).enumerate() {
        let Some(u) = unit(chunk, documents, passage.as_ref(), level) else {
            continue;
        };
        first.get_or_insert(rank);
        if seen.contains(&u) {
            continue;
        }
        seen.push(u);
        dcg += 1.0 / ((rank + 2) as f64).log2();
        if rank < 5 {
            found5 += 1;
        }
        found10 += 1;
    }
    let ideal: f64 = (0..units.min(10))
        .map(|r| 1.0 / ((r + 2) as f64).log2())
        .sum();
    let within = |k: usize| f64::from(u8::from(first.is_some_and(|r| r < k)));
    Scores {
        hit1: within(1),
        hit5: within(5),
        hit10: within(10),
        mrr10: first.map_or(0.0, |r| 1.0 / (r + 1) as f64),
        ndcg10: dcg / ideal,
        recall5: found5 as f64 / units as f64,
        recall10: found10 as f64 / units as f64,
    }
}

/// The mean of several questions' scores.
pub(crate) fn mean(all: &[Scores]) -> Scores {
    let n = all.len().max(1) as f64;
    let sum = |f: fn(&Scores) -> f64| all.iter().map(f).sum::<f64>() / n;
    Scores {
        hit1: sum(|s| s.hit1),
        hit5: sum(|s| s.hit5),
        hit10: sum(|s| s.hit10),
        mrr10: sum(|s| s.mrr10),
        ndcg10: sum(|s| s.ndcg10),
        recall5: sum(|s| s.recall5),
        recall10: sum(|s| s.recall10),
    }
}

/// The `q`-quantile (0..=1) of `values`, in their unit; 0 when empty.
pub(crate) fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(source: &str, text: &str) -> Retrieved {
        Retrieved {
            source: source.into(),
            text: text.into(),
        }
    }

    #[test]
    fn the_first_relevant_rank_decides_hit_and_mrr() {
        let ranked = vec![r("a", "x"), r("b", "y"), r("c", "z")];
        let s = score(&ranked, &["b".into()], None, Level::Document);
        assert_eq!((s.hit1, s.hit5, s.mrr10), (0.0, 1.0, 0.5));
        assert!((s.ndcg10 - 1.0 / 3f64.log2()).abs() < 1e-9);
        assert_eq!(s.recall10, 1.0);
        let none = score(&ranked, &["q".into()], None, Level::Document);
        assert_eq!(none, Scores::default());
    }

    #[test]
    fn passage_level_needs_the_passage_or_half_of_it() {
        let passage = "the quick brown fox jumps over the lazy dog today";
        let cut = r("a", "... over the LAZY dog\ntoday. And more.");
        let other = r("a", "nothing of it");
        let docs = ["a".to_owned()];
        let s = score(&[other.clone(), cut], &docs, Some(passage), Level::Passage);
        assert_eq!(s.mrr10, 0.5);
        let only_doc = score(&[other], &docs, Some(passage), Level::Passage);
        assert_eq!(only_doc.hit10, 0.0);
    }

    #[test]
    fn a_document_counts_once_in_recall_and_ndcg() {
        let ranked = vec![r("a", "1"), r("a", "2"), r("b", "3")];
        let s = score(&ranked, &["a".into(), "b".into()], None, Level::Document);
        assert_eq!(s.recall5, 1.0);
        let ideal = 1.0 + 1.0 / 3f64.log2();
        let dcg = 1.0 + 1.0 / 4f64.log2();
        assert!((s.ndcg10 - dcg / ideal).abs() < 1e-9);
    }

    #[test]
    fn quantiles() {
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
