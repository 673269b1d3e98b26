//! Token-aware, structure-aware chunking.
//!
//! Chunks are measured in model tokens (through the [`TokenCounter`] port, so the limit matches
//! what the embedder truncates at), split at the highest semantic boundary that fits — markdown
//! headings and blocks first, then paragraphs, sentences and words — and never inside a word
//! unless a single word is longer than a whole chunk. Consecutive chunks share up to
//! `overlap_tokens` tokens. Each chunk records its character offsets, the page it starts on and
//! the nearest heading above it.

use std::sync::Arc;

use text_splitter::{ChunkConfig, ChunkSizer, MarkdownSplitter, TextSplitter};

use crate::ports::TokenCounter;
use crate::types::{ChunkDraft, Extracted, TextFormat};
use crate::{Error, Result};

/// Chunk size limits, in model tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkerConfig {
    /// Largest chunk, in tokens (special tokens excluded).
    pub max_tokens: usize,
    /// Tokens shared by consecutive chunks.
    pub overlap_tokens: usize,
}

impl ChunkerConfig {
    /// The most tokens a chunk may have: all-MiniLM-L6-v2 reads 256 including `[CLS]`/`[SEP]`.
    pub const MODEL_LIMIT: usize = 254;

    /// Validates the limits: 8..=254 tokens, overlap below half the size.
    pub fn new(max_tokens: usize, overlap_tokens: usize) -> Result<Self> {
        if !(8..=Self::MODEL_LIMIT).contains(&max_tokens) {
            return Err(Error::invalid(format!(
                "chunk size must be between 8 and {} tokens (the model reads no more), got {max_tokens}",
                Self::MODEL_LIMIT
            )));
        }
        if overlap_tokens * 2 >= max_tokens {
            return Err(Error::invalid(format!(
                "chunk overlap ({overlap_tokens}) must be less than half the chunk size ({max_tokens})"
            )));
        }
        Ok(Self {
            max_tokens,
            overlap_tokens,
        })
    }
}

impl Default for ChunkerConfig {
    fn default() -> Self {
        Self {
            max_tokens: 200,
            overlap_tokens: 32,
        }
    }
}

/// Splits extracted documents into [`ChunkDraft`]s.
#[derive(Clone)]
pub struct Chunker {
    config: ChunkerConfig,
    counter: Arc<dyn TokenCounter>,
}

struct Sizer<'a>(&'a dyn TokenCounter);

impl ChunkSizer for Sizer<'_> {
    fn size(&self, chunk: &str) -> usize {
        self.0.count_tokens(chunk)
    }
}

impl Chunker {
    /// A chunker with the given limits, measuring with `counter`.
    pub fn new(config: ChunkerConfig, counter: Arc<dyn TokenCounter>) -> Self {
        Self { config, counter }
    }

    /// The limits in force.
    pub fn config(&self) -> ChunkerConfig {
        self.config
    }

    /// Splits `doc` into chunks; whitespace-only pieces are dropped.
    pub fn chunk(&self, doc: &Extracted) -> Vec<ChunkDraft> {
        let sizer = Sizer(self.counter.as_ref());
        let config = match ChunkConfig::new(self.config.max_tokens)
            .with_overlap(self.config.overlap_tokens)
        {
            Ok(c) => c.with_sizer(sizer).with_trim(false),
            // ChunkerConfig::new already guarantees overlap < size.
            Err(_) => ChunkConfig::new(self.config.max_tokens)
                .with_sizer(sizer)
                .with_trim(false),
        };
        let pieces: Vec<(usize, &str)> = match doc.format {
            TextFormat::Markdown => MarkdownSplitter::new(config)
                .chunk_char_indices(&doc.text)
                .map(|c| (c.char_offset, c.chunk))
                .collect(),
            TextFormat::Plain => TextSplitter::new(config)
                .chunk_char_indices(&doc.text)
                .map(|c| (c.char_offset, c.chunk))
                .collect(),
        };
        let headings = match doc.format {
            TextFormat::Markdown => markdown_headings(&doc.text),
            TextFormat::Plain => Vec::new(),
        };
        pieces
            .into_iter()
            .filter(|(_, text)| !text.trim().is_empty())
            .enumerate()
            .map(|(index, (char_start, text))| ChunkDraft {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                text: text.to_owned(),
                char_start,
                char_end: char_start + text.chars().count(),
                page: page_at(&doc.page_starts, char_start),
                heading: heading_at(&headings, char_start),
            })
            .collect()
    }
}

/// The 1-based page containing character `offset`, if the document is paged.
fn page_at(page_starts: &[usize], offset: usize) -> Option<u32> {
    if page_starts.is_empty() {
        return None;
    }
    let idx = page_starts.partition_point(|&s| s <= offset).max(1);
    u32::try_from(idx).ok()
}

/// `(char offset, heading text)` of every ATX heading (`# …` to `###### …`) in `text`.
fn markdown_headings(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let hashes = trimmed.bytes().take_while(|&b| b == b'#').count();
        if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with([' ', '\t']) {
            let title = trimmed[hashes..].trim().trim_end_matches('#').trim();
            if !title.is_empty() {
                out.push((offset, title.to_owned()));
            }
        }
        offset += line.chars().count();
    }
    out
}

fn heading_at(headings: &[(usize, String)], offset: usize) -> Option<String> {
    let idx = headings.partition_point(|(s, _)| *s <= offset);
    idx.checked_sub(1).map(|i| headings[i].1.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::WordCounter;
    use proptest::prelude::*;

    fn doc(text: &str, format: TextFormat) -> Extracted {
        Extracted {
            text: text.to_owned(),
            title: None,
            mime: "text/plain",
            format,
            page_starts: Vec::new(),
        }
    }

    fn chunker(max: usize, overlap: usize) -> Chunker {
        let cfg = ChunkerConfig::new(max, overlap).expect("valid config");
        Chunker::new(cfg, Arc::new(WordCounter))
    }

    #[test]
    fn config_is_validated() {
        assert!(ChunkerConfig::new(4, 0).is_err());
        assert!(ChunkerConfig::new(300, 0).is_err());
        assert!(ChunkerConfig::new(100, 50).is_err());
        assert!(ChunkerConfig::new(100, 49).is_ok());
    }

    #[test]
    fn markdown_chunks_carry_their_heading_and_start_at_sections() {
        let text = "# Intro\n\nalpha beta gamma.\n\n## Details\n\ndelta epsilon zeta eta.\n";
        let chunks = chunker(8, 0).chunk(&doc(text, TextFormat::Markdown));
        assert!(chunks.len() >= 2, "{chunks:?}");
        let details = chunks
            .iter()
            .find(|c| c.text.contains("delta"))
            .expect("a chunk with the second section");
        assert_eq!(details.heading.as_deref(), Some("Details"));
        assert!(
            details.text.trim_start().starts_with("## Details"),
            "{details:?}"
        );
    }

    #[test]
    fn pages_are_attributed_by_offset() {
        assert_eq!(page_at(&[0, 10, 20], 0), Some(1));
        assert_eq!(page_at(&[0, 10, 20], 15), Some(2));
        assert_eq!(page_at(&[0, 10, 20], 25), Some(3));
        assert_eq!(page_at(&[], 5), None);
    }

    fn words() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            "[a-z]{1,12}",
            "[A-Z][a-z]{0,8}[.,;]?",
            Just("\n\n".to_owned()),
            Just("## Heading\n".to_owned()),
            "[àéîõüç]{1,5}",
        ];
        prop::collection::vec(word, 0..400).prop_map(|w| w.join(" "))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn chunks_cover_text_within_bounds(text in words(), max in 8usize..64, md in any::<bool>()) {
            let overlap = max / 4;
            let format = if md { TextFormat::Markdown } else { TextFormat::Plain };
            let chunks = chunker(max, overlap).chunk(&doc(&text, format));
            let chars: Vec<char> = text.chars().collect();
            let mut covered = vec![false; chars.len()];
            for c in &chunks {
                // offsets point at the chunk's own text
                let slice: String = chars[c.char_start..c.char_end].iter().collect();
                prop_assert_eq!(&slice, &c.text);
                // size within bounds (every generated word is shorter than a chunk)
                prop_assert!(WordCounter.count_tokens(&c.text) <= max);
                covered[c.char_start..c.char_end].iter_mut().for_each(|x| *x = true);
                // never cut inside a word
                if c.char_start > 0 {
                    prop_assert!(!(chars[c.char_start - 1].is_alphanumeric() && chars[c.char_start].is_alphanumeric()));
                }
                if c.char_end < chars.len() {
                    prop_assert!(!(chars[c.char_end - 1].is_alphanumeric() && chars[c.char_end].is_alphanumeric()));
                }
            }
            for (i, ch) in chars.iter().enumerate() {
                prop_assert!(covered[i] || ch.is_whitespace(), "char {} {:?} not in any chunk", i, ch);
            }
            for pair in chunks.windows(2) {
                prop_assert!(pair[0].char_start < pair[1].char_start);
                if pair[1].char_start < pair[0].char_end {
                    let shared: String = chars[pair[1].char_start..pair[0].char_end].iter().collect();
                    prop_assert!(WordCounter.count_tokens(&shared) <= overlap);
                }
            }
        }
    }
}
