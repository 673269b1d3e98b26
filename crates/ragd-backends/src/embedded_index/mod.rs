//! The embedded vector index: an HNSW graph (usearch) in process, persisted in the data dir, with
//! exact search when the collections searched are small.
//!
//! Durability: the index is *derived* from the SQLite store, which holds every embedding. A save
//! writes a new generation directory and then atomically replaces the `CURRENT` pointer, so a
//! crash mid-save leaves the previous generation intact. On open the index is reconciled with the
//! store: chunks committed after the last save are added, chunks deleted since are removed; an
//! unreadable generation is rebuilt from the store. Nothing a crash does can corrupt it.
//!
//! Isolation: every key maps to its collection, and the collection filter is applied *inside*
//! the graph traversal (or the exact scan), so a tenant's top-k is computed over its own vectors
//! only.

pub mod config;
mod files;
mod state;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use ragd_core::ports::{IndexChanges, IndexEntry, VectorIndex};
use ragd_core::types::{ChunkKey, CollectionId, Embedding};
use ragd_core::{Error, Result};

use crate::embedded_index::state::State;
use crate::sqlite::SqliteStore;

pub use crate::embedded_index::config::{EmbeddedIndexConfig, VectorPrecision};

/// The in-process HNSW index (see the module docs).
pub struct EmbeddedIndex {
    config: EmbeddedIndexConfig,
    state: Arc<RwLock<State>>,
}

fn poisoned<T>(_: T) -> Error {
    Error::internal("vector index lock poisoned")
}

impl EmbeddedIndex {
    /// Opens the index in `config.dir` and reconciles it with `store` (see the module docs).
    pub async fn open(config: EmbeddedIndexConfig, store: &SqliteStore) -> Result<Self> {
        std::fs::create_dir_all(&config.dir).map_err(Error::internal)?;
        let wanted = store.chunk_keys().await?;
        let loaded = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || files::load(&config))
                .await
                .map_err(Error::internal)?
        };
        let mut state = match loaded {
            Ok(Some((index, keys))) => {
                let mut state = State {
                    index,
                    collection_of: HashMap::new(),
                    members: HashMap::new(),
                    version: 0,
                    saved_version: 0,
                };
                for (key, coll) in keys {
                    state.collection_of.insert(key, coll);
                    state.members.entry(coll).or_default().insert(key);
                }
                state
            }
            Ok(None) => State::new(&config)?,
            Err(err) => {
                tracing::warn!(error = %err, "vector index unreadable; rebuilding it from the store");
                State::new(&config)?
            }
        };
        // Stale: gone from the store, or filed under another collection there (a store restored
        // beside a newer index reuses keys): such a vector is removed and re-added from the store,
        // never left where another tenant's search could reach it.
        let wanted_at: HashMap<ChunkKey, CollectionId> = wanted.iter().copied().collect();
        let stale: Vec<ChunkKey> = state
            .collection_of
            .iter()
            .filter(|(k, c)| wanted_at.get(k) != Some(c))
            .map(|(k, _)| *k)
            .collect();
        for key in &stale {
            state.remove(*key)?;
        }
        let missing: Vec<ChunkKey> = wanted
            .iter()
            .map(|&(k, _)| k)
            .filter(|k| !state.collection_of.contains_key(k))
            .collect();
        if !missing.is_empty() || !stale.is_empty() {
            tracing::info!(
                added = missing.len(),
                removed = stale.len(),
                "reconciling vector index with the store"
            );
        }
        let entries = store.index_entries(&missing).await?;
        let (threads, dims) = (config.build_threads, config.dimensions);
        let state = tokio::task::spawn_blocking(move || -> Result<State> {
            state.add(&entries, threads, dims)?;
            Ok(state)
        })
        .await
        .map_err(Error::internal)??;
        let this = Self {
            config,
            state: Arc::new(RwLock::new(state)),
        };
        this.flush().await?;
        Ok(this)
    }

    /// Bytes of memory used by the graph and vectors.
    pub fn memory_usage(&self) -> usize {
        self.state
            .read()
            .map(|s| s.index.memory_usage())
            .unwrap_or(0)
    }

    /// Changes the search-time candidate list size (ef).
    pub fn set_expansion_search(&self, ef: usize) {
        if let Ok(s) = self.state.read() {
            s.index.change_expansion_search(ef);
        }
    }

    /// Exact top-k over the given collections, ignoring the graph (for measuring recall).
    pub fn exact_search(
        &self,
        query: &Embedding,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        self.state
            .read()
            .map_err(poisoned)?
            .exact(&query.0, collections, k)
    }

    /// Graph top-k regardless of collection size (for measuring recall).
    pub fn graph_search(
        &self,
        query: &Embedding,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        self.state
            .read()
            .map_err(poisoned)?
            .search(&query.0, collections, k, 0)
    }

    /// The directory the index lives in.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }
}

#[async_trait]
impl VectorIndex for EmbeddedIndex {
    async fn apply(&self, changes: IndexChanges) -> Result<()> {
        let state = Arc::clone(&self.state);
        let (threads, dims) = (self.config.build_threads, self.config.dimensions);
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut state = state.write().map_err(poisoned)?;
            for key in changes.removed {
                state.remove(key)?;
            }
            state.add(&changes.added, threads, dims)
        })
        .await
        .map_err(Error::internal)?
    }

    async fn search(
        &self,
        query: &Embedding,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        let state = Arc::clone(&self.state);
        let (query, collections) = (query.0.clone(), collections.to_vec());
        let exact_below = self.config.exact_below;
        tokio::task::spawn_blocking(move || {
            state
                .read()
                .map_err(poisoned)?
                .search(&query, &collections, k, exact_below)
        })
        .await
        .map_err(Error::internal)?
    }

    async fn len(&self) -> Result<u64> {
        Ok(self.state.read().map_err(poisoned)?.collection_of.len() as u64)
    }

    /// Read back from the graph's vectors (f16 by default: within 1e-3 of the stored f32 ones,
    /// as the dense search's own cosines are): a few dozen dot products, on the calling thread.
    async fn cosines(
        &self,
        query: &Embedding,
        keys: &[ChunkKey],
    ) -> Result<Option<Vec<(ChunkKey, f32)>>> {
        let state = self.state.read().map_err(poisoned)?;
        state.cosines(&query.0, keys).map(Some)
    }

    async fn keys(&self) -> Result<Vec<(ChunkKey, CollectionId)>> {
        let state = self.state.read().map_err(poisoned)?;
        // A key counts only with both its collection entry and its vector in the graph.
        let mut keys: Vec<(ChunkKey, CollectionId)> = state
            .collection_of
            .iter()
            .filter(|(k, _)| state.index.contains(**k))
            .map(|(&k, &c)| (k, c))
            .collect();
        keys.sort_unstable();
        Ok(keys)
    }

    async fn replace_all(&self, entries: Vec<IndexEntry>) -> Result<()> {
        let (config, state) = (self.config.clone(), Arc::clone(&self.state));
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut fresh = State::new(&config)?;
            fresh.add(&entries, config.build_threads, config.dimensions)?;
            let mut state = state.write().map_err(poisoned)?;
            fresh.version = state.version + 1;
            fresh.saved_version = state.saved_version;
            *state = fresh;
            Ok(())
        })
        .await
        .map_err(Error::internal)?
    }

    async fn flush(&self) -> Result<()> {
        let state = Arc::clone(&self.state);
        let dir = self.config.dir.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            // A read lock: searches continue while the snapshot is written; writers wait.
            let guard = state.read().map_err(poisoned)?;
            let version = guard.version;
            if version == guard.saved_version {
                return Ok(());
            }
            files::save(&dir, &guard.index, &guard.collection_of)?;
            drop(guard);
            let mut state = state.write().map_err(poisoned)?;
            state.saved_version = state.saved_version.max(version);
            Ok(())
        })
        .await
        .map_err(Error::internal)?
    }
}

#[cfg(test)]
mod tests {
    use ragd_core::ports::IndexEntry;

    use super::*;

    fn unit(seed: u64, dims: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut v: Vec<f32> = (0..dims)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 2001) as f32 / 1000.0 - 1.0
            })
            .collect();
        let n = ragd_core::types::dot(&v, &v).sqrt();
        v.iter_mut().for_each(|a| *a /= n);
        v
    }

    #[tokio::test]
    async fn graph_search_filters_inside_the_walk_and_finds_the_nearest() {
        for precision in [VectorPrecision::F16, VectorPrecision::F32] {
            graph_search(precision).await;
        }
    }

    async fn graph_search(precision: VectorPrecision) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("ragd.db"))
            .await
            .expect("store");
        let mut config = EmbeddedIndexConfig::new(dir.path().join("index"), 32);
        config.exact_below = 0; // always walk the graph
        config.precision = precision;
        let index = EmbeddedIndex::open(config, &store).await.expect("index");
        let added = (1..=3000u64)
            .map(|k| IndexEntry {
                key: k,
                collection: (k % 3) as u32,
                vector: Embedding(unit(k, 32)),
            })
            .collect();
        index
            .apply(IndexChanges {
                removed: vec![],
                added,
                ..Default::default()
            })
            .await
            .expect("apply");
        for probe in [7u64, 1500, 2999] {
            let query = Embedding(unit(probe, 32));
            let coll = (probe % 3) as u32;
            let hits = index.search(&query, &[coll], 10).await.expect("search");
            assert_eq!(hits.len(), 10);
            assert_eq!(
                hits[0].0, probe,
                "the vector itself is its nearest neighbour"
            );
            // f16 storage rounds each component to 11 significant bits.
            let tolerance = match precision {
                VectorPrecision::F32 => 1e-4,
                VectorPrecision::F16 => 1e-3,
            };
            assert!((hits[0].1 - 1.0).abs() < tolerance, "{}", hits[0].1);
            assert!(
                hits.iter().all(|(k, _)| (k % 3) as u32 == coll),
                "only the asked collection"
            );
            let other = index
                .search(&query, &[(coll + 1) % 3], 10)
                .await
                .expect("search");
            assert!(
                other
                    .iter()
                    .all(|(k, _)| *k != probe && (k % 3) as u32 == (coll + 1) % 3)
            );
        }
        index
            .apply(IndexChanges {
                removed: vec![7],
                added: vec![],
                ..Default::default()
            })
            .await
            .expect("remove");
        let hits = index
            .search(&Embedding(unit(7, 32)), &[1], 10)
            .await
            .expect("search");
        assert!(
            hits.iter().all(|(k, _)| *k != 7),
            "removed keys are never returned"
        );
        assert_eq!(index.len().await.expect("len"), 2999);

        // Cosines read back from the index match the vectors it was given; a removed key and
        // one never added are left out.
        let query = Embedding(unit(11, 32));
        let cosines = index
            .cosines(&query, &[5, 7, 11, 9999])
            .await
            .expect("cosines")
            .expect("the embedded index reads its vectors back");
        let keys: Vec<ChunkKey> = cosines.iter().map(|&(k, _)| k).collect();
        assert_eq!(keys, [5, 11]);
        for (key, cosine) in cosines {
            let exact = ragd_core::types::dot(&query.0, &unit(key, 32));
            assert!((cosine - exact).abs() < 2e-3, "{key}: {cosine} vs {exact}");
        }
    }
}
