//! What the cross-encoder sees: (question, passage) pairs as one BERT input each
//! (`[CLS] question [SEP] passage [SEP]`, segment ids 0 then 1), truncated as
//! sentence-transformers' `CrossEncoder` truncates them, and grouped into batches of similar
//! length so that padding to each batch's longest pair wastes little work.

use std::path::Path;

use ragd_core::{Error, Result};
use tokenizers::{Encoding, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// The model's tokenizer, set up for pairs.
pub(super) struct PairTokenizer {
    tokenizer: Tokenizer,
}

impl PairTokenizer {
    /// Loads `tokenizer.json`, truncating pairs at `max_len` tokens and without padding (the
    /// shipped file pads every input to 512).
    pub(super) fn load(path: &Path, max_len: usize) -> Result<Self> {
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| {
            Error::Unavailable(format!("cannot load tokenizer {}: {e}", path.display()))
        })?;
        tokenizer.with_padding(None);
        tokenizer
            // Longest-first, as the model was trained and as sentence-transformers scores: a long
            // passage gives up its tail and the question stays whole; only a question longer
            // than half the budget is cut too. It never fails, where only-second fails on a
            // question that alone fills the budget.
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::internal(e.to_string()))?;
        Ok(Self { tokenizer })
    }

    /// Encodes `query` with each passage, in the order given.
    pub(super) fn encode(&self, query: &str, passages: &[String]) -> Result<Vec<Encoding>> {
        passages
            .iter()
            .map(|p| {
                self.tokenizer
                    .encode((query, p.as_str()), true)
                    .map_err(|e| Error::internal(format!("reranker tokenizer: {e}")))
            })
            .collect()
    }
}

/// The positions of `lengths` grouped into batches of at most `batch_size`, shortest first.
pub(super) fn plan(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// Pairs as the model's inputs, `rows × width` row-major, zero-padded to the longest pair.
pub(super) struct PairBatch {
    /// Pairs in the batch.
    pub(super) rows: usize,
    /// Tokens of the longest pair.
    pub(super) width: usize,
    /// Token ids.
    pub(super) ids: Vec<i64>,
    /// 1 for a token, 0 for padding.
    pub(super) mask: Vec<i64>,
    /// 0 for the question's segment, 1 for the passage's.
    pub(super) types: Vec<i64>,
}

impl PairBatch {
    /// The batch of `encodings[i]` for each `i` in `rows`, in that order.
    pub(super) fn new(encodings: &[Encoding], rows: &[usize]) -> Self {
        let width = rows
            .iter()
            .map(|&i| encodings[i].len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut batch = Self {
            rows: rows.len(),
            width,
            ids: vec![0; rows.len() * width],
            mask: vec![0; rows.len() * width],
            types: vec![0; rows.len() * width],
        };
        for (r, &i) in rows.iter().enumerate() {
            let enc = &encodings[i];
            let start = r * width;
            for (c, ((&id, &m), &t)) in enc
                .get_ids()
                .iter()
                .zip(enc.get_attention_mask())
                .zip(enc.get_type_ids())
                .enumerate()
            {
                batch.ids[start + c] = i64::from(id);
                batch.mask[start + c] = i64::from(m);
                batch.types[start + c] = i64::from(t);
            }
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn plan_covers_every_position_once_in_bounded_sorted_batches(
            lengths in proptest::collection::vec(0usize..600, 0..100),
            batch_size in 1usize..40,
        ) {
            let batches = plan(&lengths, batch_size);
            prop_assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= batch_size));
            let flat: Vec<usize> = batches.concat();
            prop_assert!(flat.windows(2).all(|w| lengths[w[0]] <= lengths[w[1]]));
            let mut seen = flat;
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        }
    }
}
