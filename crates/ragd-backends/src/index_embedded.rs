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

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use ragd_core::ports::{IndexChanges, IndexEntry, VectorIndex};
use ragd_core::types::{ChunkKey, CollectionId, Embedding};
use ragd_core::{Error, Result};
use usearch::{Index, IndexOptions, MetricKind};

use crate::index_files;
use crate::store_sqlite::SqliteStore;

pub use crate::index_config::{EmbeddedIndexConfig, VectorPrecision};

/// Concurrent searches the index reserves per-thread scratch space for.
pub(crate) const SEARCH_THREADS: usize = 64;

struct State {
    index: Index,
    collection_of: HashMap<ChunkKey, CollectionId>,
    members: HashMap<CollectionId, HashSet<ChunkKey>>,
    /// Bumped by every change; the index is saved when it differs from `saved_version`.
    version: u64,
    saved_version: u64,
}

/// The in-process HNSW index (see the module docs).
pub struct EmbeddedIndex {
    config: EmbeddedIndexConfig,
    state: Arc<RwLock<State>>,
}

fn usearch_err(err: impl std::fmt::Display) -> Error {
    Error::internal(format!("vector index: {err}"))
}

fn poisoned<T>(_: T) -> Error {
    Error::internal("vector index lock poisoned")
}

impl State {
    fn new(config: &EmbeddedIndexConfig) -> Result<Self> {
        let options = IndexOptions {
            dimensions: config.dimensions,
            metric: MetricKind::IP,
            quantization: config.precision.scalar_kind(),
            connectivity: config.connectivity,
            expansion_add: config.expansion_add,
            expansion_search: config.expansion_search,
            multi: false,
        };
        let index = Index::new(&options).map_err(usearch_err)?;
        index
            .reserve_capacity_and_threads(1024, SEARCH_THREADS)
            .map_err(usearch_err)?;
        Ok(Self {
            index,
            collection_of: HashMap::new(),
            members: HashMap::new(),
            version: 1,
            saved_version: 0,
        })
    }

    fn remove(&mut self, key: ChunkKey) -> Result<()> {
        if let Some(coll) = self.collection_of.remove(&key)
            && let Some(set) = self.members.get_mut(&coll)
        {
            set.remove(&key);
        }
        if self.index.contains(key) {
            self.index.remove(key).map_err(usearch_err)?;
        }
        self.version += 1;
        Ok(())
    }

    /// Adds entries, using `threads` threads when there are many.
    fn add(&mut self, entries: &[IndexEntry], threads: usize, dimensions: usize) -> Result<()> {
        if entries.is_empty() {
            // Nothing changes, and nothing needs saving (an open of an up-to-date index must
            // not write a new generation).
            return Ok(());
        }
        if let Some(bad) = entries.iter().find(|e| e.vector.0.len() != dimensions) {
            return Err(Error::internal(format!(
                "vector of length {} for key {}, index has {dimensions} dimensions",
                bad.vector.0.len(),
                bad.key
            )));
        }
        let fresh: Vec<&IndexEntry> = entries
            .iter()
            .filter(|e| !self.index.contains(e.key))
            .collect();
        let needed = self.index.size() + fresh.len();
        if needed > self.index.capacity() {
            let capacity = needed.max(self.index.capacity() * 2).max(1024);
            self.index
                .reserve_capacity_and_threads(capacity, threads.max(SEARCH_THREADS))
                .map_err(usearch_err)?;
        }
        let index = &self.index;
        let per_thread = fresh.len().div_ceil(threads.max(1)).max(1);
        std::thread::scope(|scope| -> Result<()> {
            let workers: Vec<_> = fresh
                .chunks(per_thread)
                .map(|part| {
                    scope.spawn(move || -> Result<()> {
                        for e in part {
                            index.add(e.key, &e.vector.0).map_err(usearch_err)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for w in workers {
                w.join()
                    .map_err(|_| Error::internal("index build thread panicked"))??;
            }
            Ok(())
        })?;
        for e in entries {
            self.collection_of.insert(e.key, e.collection);
            self.members.entry(e.collection).or_default().insert(e.key);
        }
        self.version += 1;
        Ok(())
    }

    fn search(
        &self,
        query: &[f32],
        collections: &[CollectionId],
        k: usize,
        exact_below: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        let candidates: usize = collections
            .iter()
            .filter_map(|c| self.members.get(c))
            .map(HashSet::len)
            .sum();
        if candidates == 0 {
            return Ok(Vec::new());
        }
        if candidates <= exact_below {
            return self.exact(query, collections, k);
        }
        let allowed: HashSet<CollectionId> = collections.iter().copied().collect();
        let everything =
            allowed.len() >= self.members.len() && self.members.keys().all(|c| allowed.contains(c));
        let matches = if everything {
            self.index.search(query, k)
        } else {
            let collection_of = &self.collection_of;
            self.index.filtered_search(query, k, |key| {
                collection_of.get(&key).is_some_and(|c| allowed.contains(c))
            })
        }
        .map_err(usearch_err)?;
        Ok(matches
            .keys
            .into_iter()
            .zip(matches.distances)
            .filter(|(key, _)| self.collection_of.contains_key(key))
            .map(|(key, distance)| (key, 1.0 - distance))
            .collect())
    }

    fn exact(
        &self,
        query: &[f32],
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        let mut buf = vec![0.0f32; query.len()];
        let mut scored = Vec::new();
        for key in collections
            .iter()
            .filter_map(|c| self.members.get(c))
            .flatten()
        {
            self.index.get(*key, &mut buf).map_err(usearch_err)?;
            scored.push((*key, ragd_core::types::dot(query, &buf)));
        }
        let k = k.min(scored.len());
        if k < scored.len() {
            scored.select_nth_unstable_by(k, |a, b| b.1.total_cmp(&a.1));
            scored.truncate(k);
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(scored)
    }
}

impl EmbeddedIndex {
    /// Opens the index in `config.dir` and reconciles it with `store` (see the module docs).
    pub async fn open(config: EmbeddedIndexConfig, store: &SqliteStore) -> Result<Self> {
        std::fs::create_dir_all(&config.dir).map_err(Error::internal)?;
        let wanted = store.chunk_keys().await?;
        let loaded = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || index_files::load(&config))
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
        let wanted_keys: HashSet<ChunkKey> = wanted.iter().map(|&(k, _)| k).collect();
        let stale: Vec<ChunkKey> = state
            .collection_of
            .keys()
            .filter(|k| !wanted_keys.contains(k))
            .copied()
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

    /// How many of `keys` the index lacks (vector or collection entry).
    pub fn missing(&self, keys: &[(ChunkKey, CollectionId)]) -> u64 {
        let Ok(state) = self.state.read() else {
            return keys.len() as u64;
        };
        keys.iter()
            .filter(|(k, c)| state.collection_of.get(k) != Some(c) || !state.index.contains(*k))
            .count() as u64
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

    fn len(&self) -> usize {
        self.state
            .read()
            .map(|s| s.collection_of.len())
            .unwrap_or(0)
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
            index_files::save(&dir, &guard.index, &guard.collection_of)?;
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
        assert_eq!(index.len(), 2999);
    }
}
