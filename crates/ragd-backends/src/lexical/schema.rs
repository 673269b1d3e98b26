//! The index's fields, how a chunk becomes a document and how a question becomes a query.
//!
//! Fields: `key` and `collection` (u64, indexed for deletes and the collection filter, fast for
//! reading them back), `exact` (folded words) and one `text_<lang>` per configured language
//! (stemmed). Text is indexed with frequencies but no positions: BM25 needs no phrases, and
//! positions would double the postings.

use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, TantivyDocument, Term};

use ragd_core::ports::TextEntry;
use ragd_core::types::CollectionId;

use crate::lexical::analysis::{self, FieldKind};
use crate::lexical::config::Language;

/// Bumped whenever analysis changes: an index built by another version is rebuilt at open.
const ANALYSIS_VERSION: u32 = 1;

/// The fields of the schema, with each text field's question analyzer.
#[derive(Clone)]
pub(crate) struct Fields {
    pub(crate) key: Field,
    pub(crate) collection: Field,
    texts: Vec<(FieldKind, Field, TextAnalyzer)>,
}

/// The text fields for `languages`: `exact`, then one per language.
fn kinds(languages: &[Language]) -> Vec<FieldKind> {
    let mut langs = languages.to_vec();
    langs.sort_unstable();
    langs.dedup();
    std::iter::once(FieldKind::Exact)
        .chain(langs.into_iter().map(FieldKind::Stemmed))
        .collect()
}

/// What an index must have been built with to be reused: written in every commit's payload.
pub(crate) fn settings_tag(languages: &[Language]) -> String {
    let names: Vec<String> = kinds(languages).iter().map(|k| k.name()).collect();
    format!("ragd-lexical v{ANALYSIS_VERSION} {}", names.join(","))
}

/// The schema for `languages`.
pub(crate) fn schema(languages: &[Language]) -> Schema {
    let mut builder = Schema::builder();
    builder.add_u64_field("key", INDEXED | FAST);
    builder.add_u64_field("collection", INDEXED | FAST);
    for kind in kinds(languages) {
        let name = kind.name();
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(&name)
            .set_index_option(IndexRecordOption::WithFreqs)
            .set_fieldnorms(true);
        builder.add_text_field(&name, TextOptions::default().set_indexing_options(indexing));
    }
    builder.build()
}

impl Fields {
    /// Registers the analyzers on `index` (they are not persisted) and resolves its fields.
    pub(crate) fn bind(index: &Index, languages: &[Language]) -> tantivy::Result<Self> {
        let schema = index.schema();
        let mut stop = languages.to_vec();
        stop.sort_unstable();
        stop.dedup();
        let mut texts = Vec::new();
        for kind in kinds(languages) {
            let name = kind.name();
            index
                .tokenizers()
                .register(&name, analysis::index_analyzer(kind));
            let field = schema.get_field(&name)?;
            texts.push((kind, field, analysis::query_analyzer(kind, &stop)));
        }
        Ok(Self {
            key: schema.get_field("key")?,
            collection: schema.get_field("collection")?,
            texts,
        })
    }

    /// The document of a chunk.
    pub(crate) fn document(&self, entry: &TextEntry) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_u64(self.key, entry.key);
        doc.add_u64(self.collection, u64::from(entry.collection));
        for (_, field, _) in &self.texts {
            doc.add_text(*field, &entry.text);
        }
        doc
    }

    /// The term that names a chunk, for deletes.
    pub(crate) fn key_term(&self, key: u64) -> Term {
        Term::from_field_u64(self.key, key)
    }

    /// The query for `question` among `collections`, or `None` when no term is left after
    /// analysis (only stop words or punctuation). The question is never parsed as syntax: its
    /// words become term queries (summed over fields, BM25), and the collection filter is a
    /// required clause that scores nothing, so filtering happens inside the search.
    pub(crate) fn query(
        &self,
        question: &str,
        collections: &[CollectionId],
    ) -> Option<Box<dyn Query>> {
        let mut words: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (_, field, analyzer) in &self.texts {
            for term in analysis::query_terms(analyzer, question) {
                let term = Term::from_field_text(*field, &term);
                let query = TermQuery::new(term, IndexRecordOption::WithFreqs);
                words.push((Occur::Should, Box::new(query)));
            }
        }
        if words.is_empty() {
            return None;
        }
        let filter = TermSetQuery::new(
            collections
                .iter()
                .map(|&c| Term::from_field_u64(self.collection, u64::from(c))),
        );
        Some(Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(BooleanQuery::new(words))),
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(filter), 0.0)),
            ),
        ])))
    }
}
