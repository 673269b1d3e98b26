//! Settings of the embedded vector index.

use std::path::PathBuf;

use usearch::ScalarKind;

/// Settings of the embedded index.
#[derive(Debug, Clone)]
pub struct EmbeddedIndexConfig {
    /// Directory holding the index generations.
    pub dir: PathBuf,
    /// Vector length.
    pub dimensions: usize,
    /// HNSW graph degree (M).
    pub connectivity: usize,
    /// Candidate list size while inserting (efConstruction).
    pub expansion_add: usize,
    /// Candidate list size while searching (ef).
    pub expansion_search: usize,
    /// Searches over at most this many vectors scan them exactly instead of walking the graph.
    pub exact_below: usize,
    /// Threads used for bulk (re)builds.
    pub build_threads: usize,
    /// How vectors are stored. An index stored otherwise is rebuilt from the store at open.
    pub precision: VectorPrecision,
}

impl EmbeddedIndexConfig {
    /// Defaults for `dimensions`-long vectors stored under `dir`.
    pub fn new(dir: PathBuf, dimensions: usize) -> Self {
        Self {
            dir,
            dimensions,
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 96,
            exact_below: 2_000,
            build_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            precision: VectorPrecision::default(),
        }
    }
}

/// How the index stores vectors.
///
/// f16 is the default by measurement (the engine bench's `search`, two runs, ef 96, real
/// all-MiniLM-L6-v2 vectors): half the memory (145 against 273 MiB at 100k), a build twice as
/// fast, faster searches (p50 at 10k 0.18–0.19 against 0.28–0.31 ms, at 100k 0.72–0.98 against
/// 0.91–1.09 ms) and the same recall@10 within the build's own variation (10k: 0.995–0.9955
/// against 0.9945–0.995; 100k: 0.982 against 0.9825–0.985). The cost: exact scans (collections
/// under `RAGD_EXACT_SEARCH_BELOW` vectors) convert each vector, 2.6× slower (2,000 vectors:
/// ~1.4 against ~0.5 ms). Similarities come from f16-rounded vectors (off by ~1e-3 at most);
/// the database keeps every vector in f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VectorPrecision {
    /// 2 bytes per dimension (the default).
    #[default]
    F16,
    /// 4 bytes per dimension: exact scans 2.6× faster, twice the memory.
    F32,
}

impl VectorPrecision {
    pub(crate) fn scalar_kind(self) -> ScalarKind {
        match self {
            Self::F16 => ScalarKind::F16,
            Self::F32 => ScalarKind::F32,
        }
    }
}

impl std::str::FromStr for VectorPrecision {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "f16" => Ok(Self::F16),
            "f32" => Ok(Self::F32),
            other => Err(format!("unknown vector precision {other:?} (f16, f32)")),
        }
    }
}
