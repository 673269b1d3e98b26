//! The model's WordPiece tokenizer, loaded from `tokenizer.json`, in the two forms ragd needs:
//! for embedding (special tokens, truncation at the model's 256, no fixed padding — the shipped
//! file pads to 128, which sentence-transformers does not do) and for counting chunk tokens
//! (no truncation, no special tokens).

use std::path::Path;

use ragd_core::ports::TokenCounter;
use ragd_core::{Error, Result};
use tokenizers::{Encoding, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// Sequence length all-MiniLM-L6-v2 was trained with (`sentence_bert_config.json`).
pub const MAX_SEQ_LEN: usize = 256;

/// The tokenizer prepared for embedding.
#[derive(Clone)]
pub struct ModelTokenizer {
    tokenizer: Tokenizer,
}

/// The tokenizer prepared for counting chunk tokens.
#[derive(Clone)]
pub struct TokenCount {
    tokenizer: Tokenizer,
}

fn load(path: &Path) -> Result<Tokenizer> {
    Tokenizer::from_file(path)
        .map_err(|e| Error::Unavailable(format!("cannot load tokenizer {}: {e}", path.display())))
}

impl ModelTokenizer {
    /// Loads `tokenizer.json`, truncating at `max_len` tokens and without fixed padding.
    pub fn load(path: &Path, max_len: usize) -> Result<Self> {
        let mut tokenizer = load(path)?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::internal(e.to_string()))?;
        Ok(Self { tokenizer })
    }

    /// Encodes one text with special tokens.
    pub fn encode(&self, text: &str) -> Result<Encoding> {
        self.tokenizer
            .encode(text, true)
            .map_err(|e| Error::internal(e.to_string()))
    }
}

impl TokenCount {
    /// Loads `tokenizer.json` without truncation or padding.
    pub fn load(path: &Path) -> Result<Self> {
        let mut tokenizer = load(path)?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::internal(e.to_string()))?;
        Ok(Self { tokenizer })
    }
}

impl TokenCounter for TokenCount {
    fn count_tokens(&self, text: &str) -> usize {
        // A text the tokenizer cannot encode is counted by characters: over-estimating keeps
        // chunks within the model's limit.
        self.tokenizer
            .encode(text, false)
            .map_or_else(|_| text.chars().count(), |e| e.len())
    }
}
