//! What a model sees and gives back, whatever runtime executes it: a batch of texts as token ids
//! and an attention mask padded to one width, and the hidden states mean-pooled into unit
//! vectors. The pipeline is sentence-transformers': truncate at 256 tokens, mean pooling over
//! the attention mask, L2 normalisation.

use ragd_core::types::Embedding;
use ragd_core::{Error, Result};

use crate::embed::tokenizer::ModelTokenizer;

/// A batch of texts as the model's inputs: token ids and attention mask, `rows × width`, padded
/// with zeros to the longest text of the batch, rounded up to a multiple of `width_step`.
pub struct TokenBatch {
    /// Texts in the batch.
    pub rows: usize,
    /// Tokens of the longest text.
    pub width: usize,
    /// Token ids, row-major.
    pub ids: Vec<i64>,
    /// 1 for a token, 0 for padding, row-major.
    pub mask: Vec<i64>,
}

impl TokenBatch {
    /// Tokenizes `texts` (special tokens, truncation as the tokenizer is configured). Padding
    /// is masked out, so `width_step` changes the work, not the vectors.
    pub fn encode(tokenizer: &ModelTokenizer, texts: &[&str], width_step: usize) -> Result<Self> {
        let encodings = texts
            .iter()
            .map(|t| tokenizer.encode(t))
            .collect::<Result<Vec<_>>>()?;
        let rows = encodings.len();
        let width = encodings
            .iter()
            .map(|e| e.len())
            .max()
            .unwrap_or(0)
            .max(1)
            .next_multiple_of(width_step.max(1));
        let mut ids = vec![0i64; rows * width];
        let mut mask = vec![0i64; rows * width];
        for (r, enc) in encodings.iter().enumerate() {
            for (c, (&id, &m)) in enc
                .get_ids()
                .iter()
                .zip(enc.get_attention_mask())
                .enumerate()
            {
                ids[r * width + c] = i64::from(id);
                mask[r * width + c] = i64::from(m);
            }
        }
        Ok(Self {
            rows,
            width,
            ids,
            mask,
        })
    }

    /// Mean-pools the model's hidden states (`rows × width × dims`) into unit vectors.
    pub fn pool(&self, hidden: &[f32], dims: usize) -> Result<Vec<Embedding>> {
        if hidden.len() != self.rows * self.width * dims {
            return Err(Error::internal(format!(
                "model output has {} values, expected {} × {} × {dims}",
                hidden.len(),
                self.rows,
                self.width
            )));
        }
        let (w, d) = (self.width, dims);
        Ok((0..self.rows)
            .map(|r| {
                mean_pool(
                    &hidden[r * w * d..(r + 1) * w * d],
                    &self.mask[r * w..(r + 1) * w],
                    d,
                )
            })
            .collect())
    }
}

/// Mean of the token vectors where `mask` is 1, scaled to unit length.
fn mean_pool(hidden: &[f32], mask: &[i64], dims: usize) -> Embedding {
    let mut sum = vec![0.0f32; dims];
    let mut count = 0.0f32;
    for (token, &m) in hidden.chunks_exact(dims).zip(mask) {
        if m != 0 {
            sum.iter_mut().zip(token).for_each(|(s, t)| *s += t);
            count += 1.0;
        }
    }
    let count = count.max(1e-9);
    sum.iter_mut().for_each(|s| *s /= count);
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    sum.iter_mut().for_each(|s| *s /= norm);
    Embedding(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_ignores_padding_and_normalises() {
        let hidden = [1.0, 0.0, 3.0, 0.0, 100.0, 100.0];
        let v = mean_pool(&hidden, &[1, 1, 0], 2);
        assert!((v.0[0] - 1.0).abs() < 1e-6 && v.0[1].abs() < 1e-6, "{v:?}");
    }
}
