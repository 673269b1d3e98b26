//! The in-memory part of the embedded index ([`crate::embedded_index`]): the usearch HNSW graph,
//! which collection every vector belongs to, and the searches over them — through the graph with
//! the collection filter applied inside the walk, or an exact scan when the collections searched
//! hold few vectors.

use std::collections::{HashMap, HashSet};

use ragd_core::ports::IndexEntry;
use ragd_core::types::{ChunkKey, CollectionId};
use ragd_core::{Error, Result};
use usearch::{Index, IndexOptions, MetricKind};

use crate::embedded_index::config::EmbeddedIndexConfig;

/// Concurrent searches the index reserves per-thread scratch space for.
pub(crate) const SEARCH_THREADS: usize = 64;

/// The graph and who owns each vector: what searches read and changes write.
pub(crate) struct State {
    pub(crate) index: Index,
    pub(crate) collection_of: HashMap<ChunkKey, CollectionId>,
    pub(crate) members: HashMap<CollectionId, HashSet<ChunkKey>>,
    /// Bumped by every change; the index is saved when it differs from `saved_version`.
    pub(crate) version: u64,
    pub(crate) saved_version: u64,
}

/// A usearch failure as ragd's error.
pub(crate) fn usearch_err(err: impl std::fmt::Display) -> Error {
    Error::internal(format!("vector index: {err}"))
}

impl State {
    pub(crate) fn new(config: &EmbeddedIndexConfig) -> Result<Self> {
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

    pub(crate) fn remove(&mut self, key: ChunkKey) -> Result<()> {
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
    pub(crate) fn add(
        &mut self,
        entries: &[IndexEntry],
        threads: usize,
        dimensions: usize,
    ) -> Result<()> {
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

    pub(crate) fn search(
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

    /// The dot product of `query` with each of `keys`' vectors in the index (keys it does not
    /// hold are left out).
    pub(crate) fn cosines(&self, query: &[f32], keys: &[ChunkKey]) -> Result<Vec<(ChunkKey, f32)>> {
        let mut buf = vec![0.0f32; query.len()];
        let mut found = Vec::with_capacity(keys.len());
        for &key in keys {
            if !self.collection_of.contains_key(&key) || !self.index.contains(key) {
                continue;
            }
            self.index.get(key, &mut buf).map_err(usearch_err)?;
            found.push((key, ragd_core::types::dot(query, &buf)));
        }
        Ok(found)
    }

    pub(crate) fn exact(
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
