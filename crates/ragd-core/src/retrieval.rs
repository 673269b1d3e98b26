//! How dense and lexical rankings become one list of hits: the retrieval settings, the fusion
//! (reciprocal rank fusion or a weighted sum of calibrated relevances) and the similarity each
//! hit reports.
//!
//! `similarity` keeps one meaning in every mode: a calibrated relevance in [0, 1], where the
//! chapter's threshold 0.7 separates relevant from irrelevant passages. A dense hit's relevance
//! comes from its cosine ([`Calibration`]); a lexical hit's from its BM25 score through anchors
//! measured the same way on the evaluation questions ([`Calibration::bm25_default`]); a hybrid
//! hit reports the larger of the two (each is evidence of relevance on its own). Fusion decides
//! the *order*; the threshold applies to the similarity.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ports::Reranker;
use crate::relevance::Calibration;
use crate::types::{ChunkKey, Hit, SearchMode, StoredChunk};
use crate::{Error, Result};

/// How the dense and lexical rankings are fused in [`SearchMode::Hybrid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fusion {
    /// Reciprocal rank fusion: `Σ 1 / (k + rank)` over the lists a chunk appears in.
    Rrf,
    /// A weighted sum of the calibrated dense and lexical relevances.
    Weighted,
}

impl std::str::FromStr for Fusion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "rrf" => Ok(Self::Rrf),
            "weighted" => Ok(Self::Weighted),
            other => Err(Error::invalid(format!(
                "fusion must be rrf or weighted, got {other:?}"
            ))),
        }
    }
}

/// Retrieval settings; every one is configurable (`RAGD_SEARCH_*`, `RAGD_RERANK*`).
#[derive(Clone)]
pub struct RetrievalSettings {
    /// The mode of requests that name none. Hybrid and lexical need a store with a lexical
    /// index; the server falls back to dense (and says so at start) when it has none.
    pub default_mode: SearchMode,
    /// How hybrid fuses.
    pub fusion: Fusion,
    /// How many candidates each ranking contributes before fusion (at least `k`).
    pub candidates: usize,
    /// The `k` of reciprocal rank fusion.
    pub rrf_k: f32,
    /// The weight of the dense relevance in weighted fusion, in [0, 1].
    pub dense_weight: f32,
    /// BM25 score → relevance.
    pub lexical_calibration: Calibration,
    /// The cross-encoder, when one is configured.
    pub reranker: Option<Arc<dyn Reranker>>,
    /// Whether requests that do not say are reranked (when a reranker is configured).
    pub rerank_by_default: bool,
    /// How many fused candidates the reranker reorders.
    pub rerank_candidates: usize,
}

impl Default for RetrievalSettings {
    fn default() -> Self {
        Self {
            default_mode: SearchMode::Hybrid,
            fusion: Fusion::Weighted,
            candidates: 30,
            rrf_k: 60.0,
            dense_weight: 0.4,
            lexical_calibration: Calibration::bm25_default(),
            reranker: None,
            rerank_by_default: false,
            rerank_candidates: 20,
        }
    }
}

impl std::fmt::Debug for RetrievalSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetrievalSettings")
            .field("default_mode", &self.default_mode)
            .field("fusion", &self.fusion)
            .field("candidates", &self.candidates)
            .field("rrf_k", &self.rrf_k)
            .field("dense_weight", &self.dense_weight)
            .field("reranker", &self.reranker.as_ref().map(|r| r.model_id()))
            .field("rerank_by_default", &self.rerank_by_default)
            .field("rerank_candidates", &self.rerank_candidates)
            .finish_non_exhaustive()
    }
}

/// One candidate chunk with what each ranking said about it.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The chunk's key.
    pub key: ChunkKey,
    /// The chunk, when the ranking read it (a store that ranks keys reads only the kept ones).
    pub chunk: Option<StoredChunk>,
    /// Its cosine to the question, when known.
    pub cosine: Option<f32>,
    /// Its BM25 score, when the lexical ranking found it.
    pub bm25: Option<f32>,
    /// 0-based rank in the dense list.
    dense_rank: Option<usize>,
    /// 0-based rank in the lexical list.
    lexical_rank: Option<usize>,
}

/// A fused candidate, best first, whose chunk may still have to be read.
#[derive(Debug, Clone)]
pub struct Ranked {
    /// The chunk's key.
    pub key: ChunkKey,
    /// The chunk, when already read.
    pub chunk: Option<StoredChunk>,
    /// Raw cosine, when known.
    pub cosine: Option<f32>,
    /// BM25 score, when the lexical ranking found it.
    pub lexical: Option<f32>,
    /// Calibrated relevance in [0, 1].
    pub similarity: f32,
}

impl Ranked {
    /// The hit, with its chunk.
    pub fn into_hit(self, chunk: StoredChunk) -> Hit {
        Hit {
            chunk,
            cosine: self.cosine,
            lexical: self.lexical,
            rerank: None,
            similarity: self.similarity,
        }
    }
}

/// The union of a dense and a lexical ranking, keyed by chunk, in first-seen order.
#[derive(Debug, Default)]
pub struct Candidates {
    items: Vec<Candidate>,
    by_key: HashMap<ChunkKey, usize>,
}

impl Candidates {
    /// Adds a dense ranking (best first).
    pub fn add_dense(&mut self, ranked: Vec<(StoredChunk, f32)>) {
        self.add_dense_keys(
            ranked
                .into_iter()
                .map(|(chunk, cosine)| ((chunk.key, Some(chunk)), cosine)),
        );
    }

    /// Adds a dense ranking of keys (best first), rows unread.
    pub fn add_dense_keys(
        &mut self,
        ranked: impl IntoIterator<Item = ((ChunkKey, Option<StoredChunk>), f32)>,
    ) {
        for (rank, ((key, chunk), cosine)) in ranked.into_iter().enumerate() {
            let c = self.entry(key, chunk);
            c.cosine = Some(cosine);
            c.dense_rank = Some(rank);
        }
    }

    /// Adds a lexical ranking (best first).
    pub fn add_lexical(&mut self, ranked: Vec<(StoredChunk, f32)>) {
        self.add_lexical_keys(
            ranked
                .into_iter()
                .map(|(chunk, score)| ((chunk.key, Some(chunk)), score)),
        );
    }

    /// Adds a lexical ranking of keys (best first), rows unread.
    pub fn add_lexical_keys(
        &mut self,
        ranked: impl IntoIterator<Item = ((ChunkKey, Option<StoredChunk>), f32)>,
    ) {
        for (rank, ((key, chunk), score)) in ranked.into_iter().enumerate() {
            let c = self.entry(key, chunk);
            c.bm25 = Some(score);
            c.lexical_rank = Some(rank);
        }
    }

    fn entry(&mut self, key: ChunkKey, chunk: Option<StoredChunk>) -> &mut Candidate {
        let next = self.items.len();
        let i = *self.by_key.entry(key).or_insert(next);
        if i == next {
            self.items.push(Candidate {
                key,
                chunk: None,
                cosine: None,
                bm25: None,
                dense_rank: None,
                lexical_rank: None,
            });
        }
        let c = &mut self.items[i];
        if c.chunk.is_none() {
            c.chunk = chunk;
        }
        c
    }

    /// Keys of the candidates whose cosine is unknown (found by words only).
    pub fn without_cosine(&self) -> Vec<ChunkKey> {
        self.items
            .iter()
            .filter(|c| c.cosine.is_none())
            .map(|c| c.key)
            .collect()
    }

    /// Fills in cosines computed afterwards.
    pub fn set_cosines(&mut self, cosines: &[(ChunkKey, f32)]) {
        for &(key, cosine) in cosines {
            if let Some(&i) = self.by_key.get(&key) {
                self.items[i].cosine = Some(cosine);
            }
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The candidates best first by `settings.fusion` (one-list modes keep their order), each
    /// with its calibrated similarity; chunks not read yet stay `None`.
    pub fn rank(self, settings: &RetrievalSettings, dense: &Calibration) -> Vec<Ranked> {
        let rrf =
            |rank: Option<usize>| rank.map_or(0.0, |r| 1.0 / (settings.rrf_k + r as f32 + 1.0));
        let mut scored: Vec<(f32, Ranked)> = self
            .items
            .into_iter()
            .map(|c| {
                let dense_rel = c.cosine.map(|x| dense.relevance(x));
                let lexical_rel = c.bm25.map(|x| settings.lexical_calibration.relevance(x));
                let similarity = dense_rel.unwrap_or(0.0).max(lexical_rel.unwrap_or(0.0));
                let order = match settings.fusion {
                    Fusion::Rrf => rrf(c.dense_rank) + rrf(c.lexical_rank),
                    Fusion::Weighted => {
                        settings.dense_weight * dense_rel.unwrap_or(0.0)
                            + (1.0 - settings.dense_weight) * lexical_rel.unwrap_or(0.0)
                    }
                };
                let ranked = Ranked {
                    key: c.key,
                    chunk: c.chunk,
                    cosine: c.cosine,
                    lexical: c.bm25,
                    similarity,
                };
                (order, ranked)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.key.cmp(&b.1.key)));
        scored.into_iter().map(|(_, ranked)| ranked).collect()
    }

    /// [`Self::rank`] as hits, for candidates whose chunks were all read.
    pub fn fuse(self, settings: &RetrievalSettings, dense: &Calibration) -> Vec<Hit> {
        self.rank(settings, dense)
            .into_iter()
            .filter_map(|mut r| {
                let chunk = r.chunk.take()?;
                Some(r.into_hit(chunk))
            })
            .collect()
    }
}

/// Reorders the first `hits` by the reranker's scores (the rest keep their place after them).
pub fn apply_rerank(hits: &mut Vec<Hit>, scores: &[f32]) {
    let n = scores.len().min(hits.len());
    let mut head: Vec<Hit> = hits.drain(..n).collect();
    for (hit, &score) in head.iter_mut().zip(scores) {
        hit.rerank = Some(score);
    }
    head.sort_by(|a, b| {
        b.rerank
            .unwrap_or(f32::MIN)
            .total_cmp(&a.rerank.unwrap_or(f32::MIN))
    });
    hits.splice(0..0, head);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::hit;

    fn chunk(key: ChunkKey) -> StoredChunk {
        let mut c = hit(&format!("chunk {key}"), 0.5).chunk;
        c.key = key;
        c
    }

    #[test]
    fn rrf_puts_a_chunk_both_rankings_found_first() {
        let mut c = Candidates::default();
        c.add_dense(vec![(chunk(1), 0.6), (chunk(2), 0.5), (chunk(3), 0.4)]);
        c.add_lexical(vec![(chunk(3), 12.0), (chunk(4), 9.0)]);
        let rrf = RetrievalSettings {
            fusion: Fusion::Rrf,
            ..RetrievalSettings::default()
        };
        let hits = c.fuse(&rrf, &Calibration::minilm_default());
        let keys: Vec<_> = hits.iter().map(|h| h.chunk.key).collect();
        assert_eq!(keys[0], 3, "{keys:?}");
        assert_eq!(keys.len(), 4);
        let lexical_only = hits.iter().find(|h| h.chunk.key == 4).expect("4");
        assert_eq!(lexical_only.cosine, None);
        assert!(lexical_only.similarity > 0.0);
    }

    #[test]
    fn similarity_is_the_larger_calibrated_relevance() {
        let mut c = Candidates::default();
        c.add_dense(vec![(chunk(1), 0.45)]);
        c.add_lexical(vec![(chunk(1), 0.0)]);
        let hits = c.fuse(
            &RetrievalSettings::default(),
            &Calibration::minilm_default(),
        );
        assert!(
            (hits[0].similarity - 0.7).abs() < 1e-4,
            "{}",
            hits[0].similarity
        );
        for h in hits {
            assert!((0.0..=1.0).contains(&h.similarity));
        }
    }

    #[test]
    fn weighted_fusion_orders_by_the_weighted_relevances() {
        let settings = RetrievalSettings {
            fusion: Fusion::Weighted,
            dense_weight: 1.0,
            ..RetrievalSettings::default()
        };
        let mut c = Candidates::default();
        c.add_dense(vec![(chunk(1), 0.3), (chunk(2), 0.6)]);
        let hits = c.fuse(&settings, &Calibration::minilm_default());
        assert_eq!(hits[0].chunk.key, 2);
    }

    #[test]
    fn reranking_reorders_only_the_scored_head() {
        let mut hits: Vec<Hit> = (1..=4)
            .map(|k| {
                let mut h = hit("x", 0.5);
                h.chunk.key = k;
                h
            })
            .collect();
        apply_rerank(&mut hits, &[-1.0, 3.0]);
        let keys: Vec<_> = hits.iter().map(|h| h.chunk.key).collect();
        assert_eq!(keys, vec![2, 1, 3, 4]);
        assert_eq!(hits[0].rerank, Some(3.0));
        assert_eq!(hits[2].rerank, None);
    }
}
