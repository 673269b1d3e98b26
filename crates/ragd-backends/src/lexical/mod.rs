//! The embedded lexical index: BM25 over every chunk's words (tantivy), in the data dir, for
//! keyword and hybrid search.
//!
//! Use: [`TantivyIndex::open`] with a [`LexicalConfig`] and the SQLite store the index is
//! derived from, then hand it to the store adapter, which applies each committed write.
//!
//! Durability: the index is *derived* from the store, which keeps every chunk's text. Each
//! [`LexicalIndex::apply`] ends in a tantivy commit (atomic: a crash leaves the previous commit
//! or the new one), and on open the index is reconciled with the store: chunks the index lacks
//! are added from their stored text, keys the store no longer has (or files under another
//! collection) are removed. An index that is damaged, unreadable or built with other settings
//! is rebuilt from the store with a warning; the derived index never stops a start.
//!
//! Analysis (see `analysis`): case and accents folded, English and Portuguese (by default)
//! stemmed, identifiers such as `pg_stat_activity` and `--force` kept whole beside their parts.
//! Questions are never parsed as query syntax: their words become terms, stop words dropped,
//! at most 64 per field, and the collection filter is part of the search.

mod analysis;
pub mod config;
mod directory;
mod files;
mod schema;
mod state;

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use async_trait::async_trait;
use ragd_core::ports::{IndexChanges, LexicalIndex, TextEntry};
use ragd_core::types::{ChunkKey, CollectionId};
use ragd_core::{Error, Result};

use crate::lexical::state::State;
use crate::sqlite::SqliteStore;

pub use crate::lexical::config::{
    Language, LexicalConfig, MAX_WRITER_MEMORY_BYTES, MIN_WRITER_MEMORY_BYTES,
};

/// Chunks read from the store at a time while reconciling: bounds memory during a rebuild.
const RECONCILE_BATCH: usize = 1_000;

/// The tantivy BM25 index (see the module docs).
pub struct TantivyIndex {
    state: Arc<State>,
    /// Held (locked) while the index is open.
    _lock: File,
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(Error::internal)?
}

impl TantivyIndex {
    /// Opens the index in `config.dir` and reconciles it with `store` (see the module docs).
    /// Fails only when the settings are invalid, the directory cannot be written, another
    /// process holds it ([`Error::Unavailable`]) or the store cannot be read.
    pub async fn open(config: LexicalConfig, store: &SqliteStore) -> Result<Self> {
        if !(MIN_WRITER_MEMORY_BYTES..=MAX_WRITER_MEMORY_BYTES)
            .contains(&config.writer_memory_bytes)
        {
            return Err(Error::invalid(format!(
                "the lexical index writer memory must be between {MIN_WRITER_MEMORY_BYTES} and \
                 {MAX_WRITER_MEMORY_BYTES} bytes, not {}",
                config.writer_memory_bytes
            )));
        }
        if config.languages.is_empty() {
            return Err(Error::invalid(
                "the lexical index needs at least one language",
            ));
        }
        let opened = blocking(move || files::open(&config)).await?;
        let this = Self {
            state: Arc::new(opened.state),
            _lock: opened.lock,
        };
        this.reconcile_from(store, &opened.keys).await?;
        Ok(this)
    }

    /// Makes the index hold exactly the store's chunks, each under its collection, in one commit,
    /// reading texts a batch at a time (a bounded-memory `repair`, unlike
    /// [`LexicalIndex::replace_all`]). The caller keeps writes out meanwhile, as it does for a
    /// rebuild: an [`LexicalIndex::apply`] in between would commit part of the work early.
    pub async fn reconcile(&self, store: &SqliteStore) -> Result<()> {
        let indexed = self.keys().await?;
        self.reconcile_from(store, &indexed).await
    }

    /// [`TantivyIndex::reconcile`], given what the index holds.
    async fn reconcile_from(
        &self,
        store: &SqliteStore,
        indexed: &[(ChunkKey, CollectionId)],
    ) -> Result<()> {
        let wanted = store.chunk_keys().await?;
        let wanted_at: HashMap<ChunkKey, CollectionId> = wanted.iter().copied().collect();
        let indexed_at: HashMap<ChunkKey, CollectionId> = indexed.iter().copied().collect();
        // Filed under another collection in the index than in the store (a store restored beside
        // a newer index reuses keys): removed, then re-added under the store's collection.
        let stale: Vec<ChunkKey> = indexed
            .iter()
            .filter(|(k, c)| wanted_at.get(k) != Some(c))
            .map(|&(k, _)| k)
            .collect();
        let missing: Vec<ChunkKey> = wanted
            .iter()
            .filter(|(k, c)| indexed_at.get(k) != Some(c))
            .map(|&(k, _)| k)
            .collect();
        if stale.is_empty() && missing.is_empty() {
            return Ok(());
        }
        tracing::info!(
            added = missing.len(),
            removed = stale.len(),
            "reconciling the lexical index with the store"
        );
        let state = Arc::clone(&self.state);
        blocking(move || state.stage(&stale, &[])).await?;
        for batch in missing.chunks(RECONCILE_BATCH) {
            let texts = store.chunk_texts(batch).await?;
            let state = Arc::clone(&self.state);
            blocking(move || state.stage(&[], &texts)).await?;
        }
        let state = Arc::clone(&self.state);
        blocking(move || state.commit()).await
    }
}

#[async_trait]
impl LexicalIndex for TantivyIndex {
    async fn apply(&self, changes: &IndexChanges) -> Result<()> {
        if changes.removed.is_empty() && changes.texts.is_empty() {
            return Ok(());
        }
        let state = Arc::clone(&self.state);
        let (removed, texts) = (changes.removed.clone(), changes.texts.clone());
        blocking(move || state.apply(&removed, &texts)).await
    }

    async fn search(
        &self,
        query: &str,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        if k == 0 || collections.is_empty() || query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let state = Arc::clone(&self.state);
        let (query, collections) = (query.to_owned(), collections.to_vec());
        blocking(move || state.search(&query, &collections, k)).await
    }

    async fn len(&self) -> Result<u64> {
        Ok(self.state.len())
    }

    async fn keys(&self) -> Result<Vec<(ChunkKey, CollectionId)>> {
        let state = Arc::clone(&self.state);
        blocking(move || state.keys()).await
    }

    async fn replace_all(&self, entries: Vec<TextEntry>) -> Result<()> {
        let state = Arc::clone(&self.state);
        blocking(move || state.replace_all(&entries)).await
    }

    /// Every change is committed when [`LexicalIndex::apply`] returns: nothing to do.
    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
