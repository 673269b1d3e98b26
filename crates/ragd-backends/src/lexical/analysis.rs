//! How text becomes terms, for chunks and for questions alike.
//!
//! [`WordTokenizer`] keeps identifiers whole: `pg_stat_activity`, `work_mem`, `x86-64`, `utf-8`,
//! `v1.2.3` and the flags `--force` and `-v` are terms of their own, and their parts (`stat`,
//! `activity`, `force`) are terms too, so both the exact identifier and its words are found.
//! Every field folds case and accents; each language field stems with its Snowball stemmer, and
//! the `exact` field does not, so an exact rare word scores on top of its stem.
//!
//! Questions go through the same chain plus the configured languages' stop words (dropped: "o
//! que é" must not match every Portuguese chunk), and [`MAX_QUERY_TERMS`] bounds their terms.

use tantivy::tokenizer::{
    AsciiFoldingFilter, RemoveLongFilter, Stemmer, StopWordFilter, TextAnalyzer, Token,
    TokenStream, Tokenizer,
};

use crate::lexical::config::Language;

/// Terms longer than this (in bytes) are dropped: base64 blobs and hashes are not words.
pub(crate) const MAX_TERM_BYTES: usize = 64;
/// Distinct terms kept per field of one question: a 10k-word question costs no more than this.
pub(crate) const MAX_QUERY_TERMS: usize = 64;
/// Bytes of a question analysed at most (the API caps questions far below this).
pub(crate) const MAX_QUERY_BYTES: usize = 8 * 1024;

/// What a text field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// Folded words, not stemmed.
    Exact,
    /// Folded words stemmed for a language.
    Stemmed(Language),
}

impl FieldKind {
    /// The field's (and its tokenizer's) name.
    pub(crate) fn name(self) -> String {
        match self {
            Self::Exact => "exact".to_owned(),
            Self::Stemmed(lang) => format!("text_{}", lang.code()),
        }
    }
}

/// The analyzer a field is indexed with.
pub(crate) fn index_analyzer(kind: FieldKind) -> TextAnalyzer {
    analyzer(kind, &[])
}

/// The analyzer questions are read with for a field: the index chain plus `stop_languages`'
/// stop words.
pub(crate) fn query_analyzer(kind: FieldKind, stop_languages: &[Language]) -> TextAnalyzer {
    analyzer(kind, stop_languages)
}

fn analyzer(kind: FieldKind, stop_languages: &[Language]) -> TextAnalyzer {
    let portuguese = kind == FieldKind::Stemmed(Language::Portuguese);
    let mut builder = TextAnalyzer::builder(WordTokenizer::new(portuguese))
        .filter(RemoveLongFilter::limit(MAX_TERM_BYTES + 1))
        .dynamic();
    // Stop words are matched before folding: the lists are spelled with accents ("não").
    for &lang in stop_languages {
        if let Some(filter) = StopWordFilter::new(lang.tantivy()) {
            builder = builder.filter_dynamic(filter);
        }
        let extra = extra_stop_words(lang);
        if !extra.is_empty() {
            builder =
                builder.filter_dynamic(StopWordFilter::remove(extra.iter().map(|&w| w.to_owned())));
        }
    }
    match kind {
        FieldKind::Exact => builder.filter_dynamic(AsciiFoldingFilter).build(),
        // English's stemmer is written for unaccented words.
        FieldKind::Stemmed(Language::English) => builder
            .filter_dynamic(AsciiFoldingFilter)
            .filter_dynamic(Stemmer::new(Language::English.tantivy()))
            .build(),
        // The others spell suffixes with accents (Portuguese `-ção`): stem, then fold.
        FieldKind::Stemmed(lang) => builder
            .filter_dynamic(Stemmer::new(lang.tantivy()))
            .filter_dynamic(AsciiFoldingFilter)
            .build(),
    }
}

/// Stop words tantivy's lists lack. English: its list is Lucene's 33 words, without the
/// words questions are made of ("how do I"). Portuguese: the Snowball list lacks "é", and users
/// type without accents ("nao", "voce").
fn extra_stop_words(lang: Language) -> &'static [&'static str] {
    match lang {
        Language::English => &[
            "what", "which", "who", "whom", "whose", "why", "how", "when", "where", "do", "does",
            "did", "doing", "done", "i", "me", "my", "we", "our", "you", "your", "he", "she",
            "him", "her", "its", "them", "am", "been", "being", "were", "has", "have", "had",
            "can", "could", "should", "would", "may", "might", "must", "shall", "from", "about",
            "so", "than", "too", "very", "also", "any", "some", "here", "just",
        ],
        Language::Portuguese => &[
            "é", "nao", "voce", "voces", "ja", "so", "tambem", "ate", "estao", "ha", "sao", "sera",
            "serao", "tera", "e", "pra", "pro", "qual", "quais", "onde", "porque", "porquê", "quê",
        ],
        Language::Spanish | Language::French | Language::German | Language::Italian => &[],
    }
}

/// The distinct terms of `text` under `analyzer`, at most [`MAX_QUERY_TERMS`], in order.
pub(crate) fn query_terms(analyzer: &TextAnalyzer, text: &str) -> Vec<String> {
    let mut end = text.len().min(MAX_QUERY_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut analyzer = analyzer.clone();
    let mut stream = analyzer.token_stream(&text[..end]);
    let mut terms: Vec<String> = Vec::new();
    while terms.len() < MAX_QUERY_TERMS
        && let Some(token) = stream.next()
    {
        if !terms.contains(&token.text) {
            terms.push(token.text.clone());
        }
    }
    terms
}

/// Splits text into lower-cased words, keeping identifiers and flags whole and adding their
/// parts (see the module docs). With `portuguese`, each word is normalised for the Portuguese
/// stemmer ([`normalize_portuguese`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct WordTokenizer {
    portuguese: bool,
    tokens: Vec<Token>,
}

impl WordTokenizer {
    pub(crate) fn new(portuguese: bool) -> Self {
        Self {
            portuguese,
            tokens: Vec::new(),
        }
    }

    fn push(&mut self, text: &str, from: usize, to: usize, position: usize) {
        let mut word = text[from..to].to_lowercase();
        if self.portuguese {
            normalize_portuguese(&mut word);
        }
        self.tokens.push(Token {
            offset_from: from,
            offset_to: to,
            position,
            text: word,
            position_length: 1,
        });
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_joiner(c: char) -> bool {
    matches!(c, '-' | '.')
}

/// Where the compound word starting at `chars[start]` ends: word characters, joined by single
/// `-` or `.` between word characters.
fn compound_end(chars: &[(usize, char)], mut i: usize) -> usize {
    loop {
        while i < chars.len() && is_word(chars[i].1) {
            i += 1;
        }
        if i + 1 < chars.len() && is_joiner(chars[i].1) && is_word(chars[i + 1].1) {
            i += 1;
        } else {
            return i;
        }
    }
}

/// At `chars[i]`, the number of leading dashes of a command-line flag (`-v`, `--force`): one or
/// two dashes after a non-word character (or the start), followed by a word character.
fn flag_dashes(chars: &[(usize, char)], i: usize) -> Option<usize> {
    if i > 0 && (is_word(chars[i - 1].1) || chars[i - 1].1 == '-') {
        return None;
    }
    let dashes = chars[i..].iter().take_while(|(_, c)| *c == '-').count();
    let next = chars.get(i + dashes).map(|&(_, c)| c);
    ((1..=2).contains(&dashes) && next.is_some_and(is_word)).then_some(dashes)
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream<'a> {
        self.tokens.clear();
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let byte_at = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
        let (mut i, mut position) = (0, 0);
        while i < chars.len() {
            let start = i;
            if !is_word(chars[i].1) {
                match flag_dashes(&chars, i) {
                    Some(dashes) => i += dashes,
                    None => {
                        i += 1;
                        continue;
                    }
                }
            }
            let end = compound_end(&chars, i);
            let (from, to) = (byte_at(start), byte_at(end));
            let compound = &text[from..to];
            i = end;
            if !compound.chars().any(char::is_alphanumeric) {
                continue;
            }
            self.push(text, from, to, position);
            if compound.chars().any(|c| !c.is_alphanumeric()) {
                // The parts of an identifier: `pg_stat_activity` is also `pg`, `stat`, `activity`.
                let mut part: Option<usize> = None;
                for (offset, ch) in compound.char_indices().chain([(compound.len(), ' ')]) {
                    match (ch.is_alphanumeric(), part) {
                        (true, None) => part = Some(offset),
                        (false, Some(p)) => {
                            self.push(text, from + p, from + offset, position);
                            part = None;
                        }
                        (true, Some(_)) | (false, None) => {}
                    }
                }
            }
            position += 1;
        }
        WordStream {
            tokens: &mut self.tokens,
            next: 0,
        }
    }
}

/// The tokens of one text, computed when the stream is made.
pub(crate) struct WordStream<'a> {
    tokens: &'a mut [Token],
    next: usize,
}

impl TokenStream for WordStream<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// Readies a lower-cased word for the Portuguese stemmer, whose rules are spelled with accents
/// and which keeps `-ão` and `-ões` apart: an unaccented word gets the accents of its suffix back
/// (`configuracao` → `configuração`), and `-ões`/`-ães` plurals become `-ão` (`conexões` →
/// `conexão`). Accented input is taken as written.
pub(crate) fn normalize_portuguese(word: &mut String) {
    const ACCENTS: [(&str, &str); 13] = [
        ("coes", "ções"),
        ("cao", "ção"),
        ("oes", "ões"),
        ("aes", "ães"),
        ("ao", "ão"),
        ("ancias", "âncias"),
        ("ancia", "ância"),
        ("encias", "ências"),
        ("encia", "ência"),
        ("aveis", "áveis"),
        ("avel", "ável"),
        ("iveis", "íveis"),
        ("ivel", "ível"),
    ];
    if word.len() < 4 {
        return;
    }
    if word.is_ascii()
        && let Some((stem, accented)) = ACCENTS
            .iter()
            .find_map(|(plain, accented)| Some((word.strip_suffix(plain)?, accented)))
    {
        *word = format!("{stem}{accented}");
    }
    if let Some(stem) = word
        .strip_suffix("ões")
        .or_else(|| word.strip_suffix("ães"))
    {
        *word = format!("{stem}ão");
    }
}
