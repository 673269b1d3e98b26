//! The open index: its one writer, its reader and the blocking operations on them. Callers run
//! these off the async runtime.
//!
//! Every change ends in a commit (tantivy's commit is atomic: a crash leaves the previous commit
//! or this one) followed by a reload of the reader, so a change is searchable when it returns.
//! A failed change is rolled back to the last commit, leaving the writer usable for the retry.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use ragd_core::ports::TextEntry;
use ragd_core::types::{ChunkKey, CollectionId};
use ragd_core::{Error, Result};
use tantivy::collector::TopDocs;
use tantivy::columnar::Column;
use tantivy::indexer::IndexWriterOptions;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy};

use crate::lexical::schema::Fields;

/// A tantivy failure as ragd's error.
pub(crate) fn tantivy_err(err: impl std::fmt::Display) -> Error {
    Error::internal(format!("lexical index: {err}"))
}

fn poisoned<T>(_: T) -> Error {
    Error::internal("lexical index writer lock poisoned")
}

/// The writer and reader of an open index.
pub(crate) struct State {
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    fields: Fields,
    /// Written in every commit's payload (see [`crate::lexical::schema::settings_tag`]).
    tag: String,
}

impl State {
    /// Takes the index's writer (one indexing thread, one merge thread: the cores are shared
    /// with the model) and a reader reloaded by hand after each commit.
    pub(crate) fn new(
        index: &Index,
        fields: Fields,
        tag: String,
        memory_bytes: usize,
    ) -> tantivy::Result<Self> {
        let options = IndexWriterOptions::builder()
            .memory_budget_per_thread(memory_bytes)
            .num_worker_threads(1)
            .num_merge_threads(1)
            .build();
        let writer = index.writer_with_options(options)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader,
            fields,
            tag,
        })
    }

    fn writer(&self) -> Result<MutexGuard<'_, IndexWriter>> {
        self.writer.lock().map_err(poisoned)
    }

    /// Removes `removed`, adds `texts` (replacing any earlier version of their keys) and commits.
    pub(crate) fn apply(&self, removed: &[ChunkKey], texts: &[TextEntry]) -> Result<()> {
        if removed.is_empty() && texts.is_empty() {
            return Ok(());
        }
        let mut writer = self.writer()?;
        let staged = self.stage_in(&writer, removed, texts);
        self.finish(&mut writer, staged)
    }

    /// Replaces the whole content with `texts`, in one commit.
    pub(crate) fn replace_all(&self, texts: &[TextEntry]) -> Result<()> {
        let mut writer = self.writer()?;
        let staged = writer
            .delete_all_documents()
            .map_err(tantivy_err)
            .and_then(|_| self.stage_in(&writer, &[], texts));
        self.finish(&mut writer, staged)
    }

    /// Stages changes without committing them (for [`crate::lexical`]'s open, which adds the
    /// store's texts a batch at a time, then calls [`State::commit`]).
    pub(crate) fn stage(&self, removed: &[ChunkKey], texts: &[TextEntry]) -> Result<()> {
        let mut writer = self.writer()?;
        let staged = self.stage_in(&writer, removed, texts);
        if staged.is_err() {
            rollback(&mut writer);
        }
        staged
    }

    /// Commits what was staged.
    pub(crate) fn commit(&self) -> Result<()> {
        let mut writer = self.writer()?;
        self.finish(&mut writer, Ok(()))
    }

    fn stage_in(
        &self,
        writer: &IndexWriter,
        removed: &[ChunkKey],
        texts: &[TextEntry],
    ) -> Result<()> {
        for &key in removed {
            writer.delete_term(self.fields.key_term(key));
        }
        for entry in texts {
            // Deleting first makes a replayed change harmless: the key is there once.
            writer.delete_term(self.fields.key_term(entry.key));
            writer
                .add_document(self.fields.document(entry))
                .map_err(tantivy_err)?;
        }
        Ok(())
    }

    /// Commits when `staged` is `Ok`, then reloads the reader; rolls back otherwise.
    fn finish(&self, writer: &mut IndexWriter, staged: Result<()>) -> Result<()> {
        let committed = staged.and_then(|()| {
            let mut prepared = writer.prepare_commit().map_err(tantivy_err)?;
            prepared.set_payload(&self.tag);
            prepared.commit().map_err(tantivy_err).map(|_| ())
        });
        if committed.is_err() {
            rollback(writer);
        }
        committed?;
        self.reader.reload().map_err(tantivy_err)
    }

    /// Number of live documents.
    pub(crate) fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Every `(key, collection)`, in key order.
    pub(crate) fn keys(&self) -> Result<Vec<(ChunkKey, CollectionId)>> {
        let searcher = self.reader.searcher();
        let mut out = Vec::with_capacity(usize::try_from(searcher.num_docs()).unwrap_or(0));
        for segment in searcher.segment_readers() {
            let keys = segment.fast_fields().u64("key").map_err(tantivy_err)?;
            let collections = segment
                .fast_fields()
                .u64("collection")
                .map_err(tantivy_err)?;
            for doc in segment.doc_ids_alive() {
                if let (Some(key), Some(coll)) = (keys.first(doc), collections.first(doc)) {
                    out.push((key, CollectionId::try_from(coll).map_err(tantivy_err)?));
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// The `k` best keys for `question` among `collections`, with their BM25 score.
    pub(crate) fn search(
        &self,
        question: &str,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        let searcher = self.reader.searcher();
        let limit = k.min(usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX));
        if limit == 0 || collections.is_empty() {
            return Ok(Vec::new());
        }
        let Some(query) = self.fields.query(question, collections) else {
            return Ok(Vec::new());
        };
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit).order_by_score())
            .map_err(tantivy_err)?;
        let mut columns: HashMap<u32, Column<u64>> = HashMap::new();
        let mut out = Vec::with_capacity(top.len());
        for (score, address) in top {
            let column = match columns.entry(address.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    searcher
                        .segment_reader(address.segment_ord)
                        .fast_fields()
                        .u64("key")
                        .map_err(tantivy_err)?,
                ),
            };
            if let Some(key) = column.first(address.doc_id) {
                out.push((key, score));
            }
        }
        Ok(out)
    }
}

/// Drops what was staged since the last commit; a writer that cannot even roll back is left to
/// fail the next change too (logged), which the store retries.
fn rollback(writer: &mut IndexWriter) {
    if let Err(err) = writer.rollback() {
        tracing::error!(error = %err, "lexical index rollback failed");
    }
}
