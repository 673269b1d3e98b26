//! Retrieval settings: the search mode of requests that name none, hybrid fusion, the lexical
//! index and the cross-encoder reranker.

use anyhow::bail;
use clap::{Args, ValueEnum};
use ragd_backends::search::SearchConfig;
use ragd_core::retrieval::Fusion;
use ragd_core::types::SearchMode;

/// `RAGD_SEARCH_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    /// Nearest embeddings only.
    Dense,
    /// BM25 only.
    Lexical,
    /// Both, fused.
    Hybrid,
}

/// `RAGD_SEARCH_FUSION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FusionArg {
    /// Reciprocal rank fusion.
    Rrf,
    /// Weighted sum of calibrated relevances.
    Weighted,
}

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// Search mode of requests that name none (`mode` in /query and /search). Hybrid and
    /// lexical need the lexical index (embedded store); without one, dense.
    #[arg(long, global = true, env = "RAGD_SEARCH_MODE", value_enum, default_value_t = ModeArg::Hybrid)]
    pub(crate) search_mode: ModeArg,
    /// How hybrid search fuses the dense and lexical rankings.
    #[arg(long, global = true, env = "RAGD_SEARCH_FUSION", value_enum, default_value_t = FusionArg::Weighted)]
    pub(crate) search_fusion: FusionArg,
    /// Candidates each ranking contributes to hybrid fusion (1..=200).
    #[arg(
        long,
        global = true,
        env = "RAGD_SEARCH_CANDIDATES",
        default_value_t = 30
    )]
    pub(crate) search_candidates: usize,
    /// The k of reciprocal rank fusion (1..=1000).
    #[arg(long, global = true, env = "RAGD_SEARCH_RRF_K", default_value_t = 60.0)]
    pub(crate) search_rrf_k: f32,
    /// Weight of the dense relevance in weighted fusion (0..=1).
    #[arg(
        long,
        global = true,
        env = "RAGD_SEARCH_DENSE_WEIGHT",
        default_value_t = 0.4
    )]
    pub(crate) search_dense_weight: f32,
    /// Keep a lexical (BM25) index beside the embedded store (on/off).
    #[arg(long, global = true, env = "RAGD_LEXICAL_INDEX", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) lexical_index: bool,
    /// Memory of the lexical index's writer, in MiB (16..=1024).
    #[arg(
        long,
        global = true,
        env = "RAGD_LEXICAL_WRITER_MB",
        default_value_t = 32
    )]
    pub(crate) lexical_writer_mb: usize,
    /// The cross-encoder reranker: a folder, or `ms-marco-MiniLM-L-12-v2` (from `make
    /// reranker`). Unset: no reranking.
    #[arg(long, global = true, env = "RAGD_RERANK_MODEL")]
    pub(crate) rerank_model: Option<String>,
    /// Rerank requests that do not say (`rerank` in /query and /search).
    #[arg(long, global = true, env = "RAGD_RERANK", default_value_t = false, action = clap::ArgAction::Set)]
    pub(crate) rerank: bool,
    /// Candidates the reranker reorders (1..=64).
    #[arg(
        long,
        global = true,
        env = "RAGD_RERANK_CANDIDATES",
        default_value_t = 20
    )]
    pub(crate) rerank_candidates: usize,
}

impl SearchArgs {
    /// Validates the settings, naming the one to fix.
    pub(crate) fn to_config(&self) -> anyhow::Result<SearchConfig> {
        if !(1..=200).contains(&self.search_candidates) {
            bail!("RAGD_SEARCH_CANDIDATES must be 1..=200");
        }
        if !(1.0..=1000.0).contains(&self.search_rrf_k) {
            bail!("RAGD_SEARCH_RRF_K must be 1..=1000");
        }
        if !(0.0..=1.0).contains(&self.search_dense_weight) {
            bail!("RAGD_SEARCH_DENSE_WEIGHT must be 0..=1");
        }
        if !(16..=1024).contains(&self.lexical_writer_mb) {
            bail!("RAGD_LEXICAL_WRITER_MB must be 16..=1024");
        }
        if !(1..=64).contains(&self.rerank_candidates) {
            bail!("RAGD_RERANK_CANDIDATES must be 1..=64");
        }
        if self.rerank && self.rerank_model.is_none() {
            bail!("RAGD_RERANK=true needs RAGD_RERANK_MODEL (run `make reranker`)");
        }
        Ok(SearchConfig {
            default_mode: match self.search_mode {
                ModeArg::Dense => SearchMode::Dense,
                ModeArg::Lexical => SearchMode::Lexical,
                ModeArg::Hybrid => SearchMode::Hybrid,
            },
            fusion: match self.search_fusion {
                FusionArg::Rrf => Fusion::Rrf,
                FusionArg::Weighted => Fusion::Weighted,
            },
            candidates: self.search_candidates,
            rrf_k: self.search_rrf_k,
            dense_weight: self.search_dense_weight,
            lexical: self.lexical_index,
            lexical_writer_bytes: self.lexical_writer_mb * 1024 * 1024,
            rerank_model: self.rerank_model.clone().filter(|m| !m.trim().is_empty()),
            rerank_by_default: self.rerank,
            rerank_candidates: self.rerank_candidates,
            ..SearchConfig::default()
        })
    }
}
