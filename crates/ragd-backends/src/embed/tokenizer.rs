//! The model's tokenizer (WordPiece for all-MiniLM-L6-v2, SentencePiece for multilingual-e5-small),
//! loaded from `tokenizer.json`, in the two forms ragd needs: for embedding (special tokens,
//! truncation at the model's limit, no fixed padding — MiniLM's shipped file pads to 128, which
//! sentence-transformers does not do) and for counting chunk tokens (no truncation, no special
//! tokens).
//!
//! Both forms share one loaded tokenizer per file, kept while anything uses it: multilingual-e5-
//! small's (a 250,002-piece SentencePiece vocabulary) takes 235–285 MiB of memory per copy in the
//! `tokenizers` crate (measured), and a server would otherwise hold one per OpenVINO stream plus
//! the chunker's. So truncation is applied here, not configured into the shared tokenizer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use ragd_core::ports::TokenCounter;
use ragd_core::{Error, Result};
use tokenizers::{Encoding, PostProcessor, Tokenizer, TruncationDirection};

/// Sequence length all-MiniLM-L6-v2 was trained with (`sentence_bert_config.json`).
pub const MAX_SEQ_LEN: usize = 256;

/// The tokenizer prepared for embedding.
#[derive(Clone)]
pub struct ModelTokenizer {
    tokenizer: Arc<Tokenizer>,
    /// Tokens of a text before the special tokens are added, at most.
    max_content: usize,
}

/// The tokenizer prepared for counting chunk tokens.
#[derive(Clone)]
pub struct TokenCount {
    tokenizer: Arc<Tokenizer>,
}

/// Tokenizers loaded by this process, by file; an entry lives while something holds it.
static LOADED: Mutex<Vec<(PathBuf, Weak<Tokenizer>)>> = Mutex::new(Vec::new());

/// `path`'s tokenizer without truncation or padding, loaded once however many hold it.
fn load(path: &Path) -> Result<Arc<Tokenizer>> {
    let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
    loaded.retain(|(_, t)| t.strong_count() > 0);
    if let Some(shared) = loaded
        .iter()
        .find(|(p, _)| p == path)
        .and_then(|(_, t)| t.upgrade())
    {
        return Ok(shared);
    }
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| {
        Error::Unavailable(format!("cannot load tokenizer {}: {e}", path.display()))
    })?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| Error::internal(e.to_string()))?;
    let shared = Arc::new(tokenizer);
    loaded.push((path.to_path_buf(), Arc::downgrade(&shared)));
    Ok(shared)
}

impl ModelTokenizer {
    /// Loads `tokenizer.json`, truncating at `max_len` tokens (special tokens included) and
    /// without fixed padding.
    pub fn load(path: &Path, max_len: usize) -> Result<Self> {
        let tokenizer = load(path)?;
        let specials = tokenizer
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        Ok(Self {
            tokenizer,
            max_content: max_len.saturating_sub(specials).max(1),
        })
    }

    /// Encodes one text with special tokens, cut at the end to the model's length (what the
    /// `tokenizers` crate does for a configured "longest first" truncation of one sequence).
    pub fn encode(&self, text: &str) -> Result<Encoding> {
        let internal = |e: tokenizers::Error| Error::internal(e.to_string());
        let mut encoding = self.tokenizer.encode(text, false).map_err(internal)?;
        if encoding.len() > self.max_content {
            encoding.truncate(self.max_content, 0, TruncationDirection::Right);
        }
        self.tokenizer
            .post_process(encoding, None, true)
            .map_err(internal)
    }
}

impl TokenCount {
    /// Loads `tokenizer.json` (or shares the copy already loaded).
    pub fn load(path: &Path) -> Result<Self> {
        Ok(Self {
            tokenizer: load(path)?,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_copy_shared_and_truncated_before_the_special_tokens() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models/all-MiniLM-L6-v2/tokenizer.json");
        let short = ModelTokenizer::load(&path, 8).expect("`make model`");
        let long = ModelTokenizer::load(&path, 256).expect("load");
        let count = TokenCount::load(&path).expect("load");
        assert!(Arc::ptr_eq(&short.tokenizer, &long.tokenizer));
        assert!(Arc::ptr_eq(&short.tokenizer, &count.tokenizer));
        let text = "one two three four five six seven eight nine ten";
        let cut = short.encode(text).expect("encode");
        assert_eq!(cut.get_tokens().len(), 8);
        assert_eq!(
            (cut.get_tokens()[0].as_str(), cut.get_tokens()[7].as_str()),
            ("[CLS]", "[SEP]")
        );
        assert_eq!(cut.get_tokens()[6], "six");
        assert_eq!(long.encode(text).expect("encode").len(), 12);
        assert_eq!(count.count_tokens(text), 10);
    }
}
