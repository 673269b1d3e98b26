//! Settings of the embedded lexical (BM25) index.

use std::path::PathBuf;

/// The smallest writer budget tantivy accepts (15 MB, its `MEMORY_BUDGET_NUM_BYTES_MIN`).
pub const MIN_WRITER_MEMORY_BYTES: usize = 15_000_000;
/// The largest writer budget allowed: tantivy's ceiling is just under 4 GiB, ours is a sane one.
pub const MAX_WRITER_MEMORY_BYTES: usize = 1 << 30;

/// Settings of the lexical index.
#[derive(Debug, Clone)]
pub struct LexicalConfig {
    /// Directory the index owns (created if missing; a damaged one is rebuilt from the store).
    pub dir: PathBuf,
    /// Memory the writer buffers before it writes a segment: bounds indexing memory, a rebuild
    /// of millions of chunks included. Between [`MIN_WRITER_MEMORY_BYTES`] and
    /// [`MAX_WRITER_MEMORY_BYTES`]; default 48 MiB.
    pub writer_memory_bytes: usize,
    /// The languages whose stemmer gets a field of its own; default English and Portuguese.
    /// Their stop words are dropped from questions. Changing the list rebuilds the index at the
    /// next open.
    pub languages: Vec<Language>,
}

impl LexicalConfig {
    /// Defaults for an index stored under `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            writer_memory_bytes: 48 << 20,
            languages: vec![Language::English, Language::Portuguese],
        }
    }
}

/// A language with a Snowball stemmer (and, for most, a stop-word list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    /// `en`.
    English,
    /// `pt`: accents restored on unaccented suffixes and `-ões`/`-ães` plurals folded before
    /// stemming, so `configuracao` finds `configurações`.
    Portuguese,
    /// `es`.
    Spanish,
    /// `fr`.
    French,
    /// `de`.
    German,
    /// `it`.
    Italian,
}

impl Language {
    /// The ISO 639-1 code, which also names the language's field.
    pub fn code(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::Portuguese => "pt",
            Self::Spanish => "es",
            Self::French => "fr",
            Self::German => "de",
            Self::Italian => "it",
        }
    }

    pub(crate) fn tantivy(self) -> tantivy::tokenizer::Language {
        use tantivy::tokenizer::Language as L;
        match self {
            Self::English => L::English,
            Self::Portuguese => L::Portuguese,
            Self::Spanish => L::Spanish,
            Self::French => L::French,
            Self::German => L::German,
            Self::Italian => L::Italian,
        }
    }
}

impl std::str::FromStr for Language {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" | "english" => Ok(Self::English),
            "pt" | "portuguese" => Ok(Self::Portuguese),
            "es" | "spanish" => Ok(Self::Spanish),
            "fr" | "french" => Ok(Self::French),
            "de" | "german" => Ok(Self::German),
            "it" | "italian" => Ok(Self::Italian),
            other => Err(format!(
                "unknown language {other:?} (en, pt, es, fr, de, it)"
            )),
        }
    }
}
