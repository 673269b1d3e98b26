//! Retrieval settings as configured: the search mode of requests that name none, the fusion,
//! the lexical index and the reranker.

use std::path::PathBuf;

use ragd_core::relevance::Calibration;
use ragd_core::retrieval::{Fusion, RetrievalSettings};
use ragd_core::types::SearchMode;

/// The configured retrieval (see [`RetrievalSettings`] for what each setting does).
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// Mode of requests that name none.
    pub default_mode: SearchMode,
    /// Hybrid fusion.
    pub fusion: Fusion,
    /// Candidates each ranking contributes to hybrid fusion.
    pub candidates: usize,
    /// `k` of reciprocal rank fusion.
    pub rrf_k: f32,
    /// Weight of the dense relevance in weighted fusion.
    pub dense_weight: f32,
    /// Keep a lexical (BM25) index beside the embedded store.
    pub lexical: bool,
    /// Memory of the lexical index's writer, in bytes.
    pub lexical_writer_bytes: usize,
    /// The cross-encoder's folder (or known id under the models dir); `None`: no reranking.
    pub rerank_model: Option<String>,
    /// Rerank requests that do not say.
    pub rerank_by_default: bool,
    /// Candidates the reranker reorders.
    pub rerank_candidates: usize,
    /// Model threads of the reranker.
    pub rerank_threads: usize,
    /// Explicit path of the lexical index (default: `data_dir/lexical`).
    pub lexical_dir: Option<PathBuf>,
}

impl Default for SearchConfig {
    fn default() -> Self {
        let settings = RetrievalSettings::default();
        Self {
            default_mode: settings.default_mode,
            fusion: settings.fusion,
            candidates: settings.candidates,
            rrf_k: settings.rrf_k,
            dense_weight: settings.dense_weight,
            lexical: true,
            lexical_writer_bytes: 32 * 1024 * 1024,
            rerank_model: None,
            rerank_by_default: false,
            rerank_candidates: settings.rerank_candidates,
            rerank_threads: 2,
            lexical_dir: None,
        }
    }
}

impl SearchConfig {
    /// The domain's settings, with the reranker once built.
    pub fn settings(
        &self,
        reranker: Option<std::sync::Arc<dyn ragd_core::ports::Reranker>>,
    ) -> RetrievalSettings {
        RetrievalSettings {
            default_mode: self.default_mode,
            fusion: self.fusion,
            candidates: self.candidates,
            rrf_k: self.rrf_k,
            dense_weight: self.dense_weight,
            lexical_calibration: Calibration::bm25_default(),
            reranker,
            rerank_by_default: self.rerank_by_default,
            rerank_candidates: self.rerank_candidates,
        }
    }
}
