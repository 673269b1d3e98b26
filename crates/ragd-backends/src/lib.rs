//! Implementations of ragd's ports, and [`compose`]: the one place where they are chosen.
//!
//! The embedded default needs only a data directory and the model files: SQLite for documents
//! and chunks, an in-process HNSW index beside it, all-MiniLM-L6-v2 on ONNX Runtime, and loaders
//! for text, Markdown, HTML, PDF and DOCX. A Chroma server can hold the vectors instead of the
//! in-process index ([`chroma`]), and PostgreSQL + pgvector can replace the data dir
//! ([`postgres`]).

pub mod chroma;
pub mod compose;
pub mod data_dir;
pub mod embed;
pub mod embedded_index;
pub mod generate;
pub mod lexical;
pub mod loaders;
pub mod memory;
pub mod migrate;
pub mod outbound;
pub mod postgres;
pub mod redis;
pub mod rerank;
pub mod search;
pub mod sqlite;
mod webhook_rows;

use std::path::PathBuf;
use std::sync::Arc;

use ragd_core::chunking::ChunkerConfig;
use ragd_core::ports::Embedder;
use ragd_core::relevance::Calibration;
use ragd_core::{Result, ServiceLimits};

use crate::embed::onnx::{OnnxEmbedder, OnnxEmbedderConfig};
use crate::embed::openvino::{OpenVinoEmbedder, OpenVinoEmbedderConfig, Precision};

/// Everything needed to build the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Directory of the database and the index.
    pub data_dir: PathBuf,
    /// The embedding model: a folder, or a known id resolved under `models_dir`.
    pub embeddings_model: String,
    /// Where `make model` puts models.
    pub models_dir: PathBuf,
    /// The runtime that executes the model.
    pub embed_engine: EmbedEngine,
    /// The model graph, relative to the model folder (or absolute); default: the engine's.
    pub onnx_file: Option<PathBuf>,
    /// `libonnxruntime.so`; default: `models_dir/onnxruntime/libonnxruntime.so`.
    pub ort_library: Option<PathBuf>,
    /// `libopenvino_c.so`; default: `models_dir/openvino/libopenvino_c.so`.
    pub openvino_library: Option<PathBuf>,
    /// The arithmetic of the OpenVINO engine (ONNX Runtime always runs fp32).
    pub embed_precision: Precision,
    /// Input shapes whose prepared kernels OpenVINO keeps.
    pub openvino_shape_cache: usize,
    /// Model threads.
    pub embed_threads: usize,
    /// Inferences at once (OpenVINO streams), sharing `embed_threads`.
    pub embed_streams: usize,
    /// Texts per forward pass.
    pub embed_batch_size: usize,
    /// Embedding requests that may queue before callers wait.
    pub embed_queue: usize,
    /// Let idle model threads spin-wait for work (ONNX Runtime).
    pub embed_spin: bool,
    /// Question embeddings kept in memory (0: no cache).
    pub query_cache: usize,
    /// The guardrails policy.
    pub guardrails: Arc<ragd_core::guardrails::Policy>,
    /// Chunk size and overlap.
    pub chunker: ChunkerConfig,
    /// The answer generator.
    pub generator: generate::GeneratorConfig,
    /// Answer length and temperature.
    pub generation: ragd_core::service::GenerationSettings,
    /// Extra CA certificates (PEM) for outbound HTTPS.
    pub outbound_ca_file: Option<PathBuf>,
    /// Collections of at most this many vectors are searched exactly.
    pub exact_search_below: usize,
    /// HNSW search breadth (ef).
    pub ann_ef_search: usize,
    /// How the index stores vectors.
    pub index_precision: embedded_index::VectorPrecision,
    /// Cosine → similarity calibration.
    pub calibration: Calibration,
    /// Search modes, fusion, the lexical index and the reranker.
    pub search: search::SearchConfig,
    /// Pipeline limits.
    pub limits: ServiceLimits,
    /// Where untrusted documents are parsed.
    pub parser: loaders::ParserIsolation,
    /// When a commit reaches the disk.
    pub durability: sqlite::Durability,
    /// A PostgreSQL database instead of the data dir's SQLite file and index.
    pub postgres: Option<compose::PostgresConfig>,
    /// Redis shared by a fleet (rate limits, question cache, credential invalidations);
    /// `None`: all of it in process.
    pub redis: Option<redis::RedisConfig>,
    /// A Chroma server holding the vectors instead of the in-process index (SQLite store only:
    /// PostgreSQL searches its own pgvector index).
    pub chroma: Option<chroma::ChromaConfig>,
}

/// The runtimes that can execute the embedding model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmbedEngine {
    /// OpenVINO on the plain fp32 ONNX graph: bf16 on CPUs with bf16 matrix units (the fastest
    /// here, measured by `make bench`), fp32 elsewhere.
    #[default]
    OpenVino,
    /// ONNX Runtime on the fused fp32 graph: exact fp32 everywhere.
    OnnxRuntime,
}

impl std::str::FromStr for EmbedEngine {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "openvino" => Ok(Self::OpenVino),
            "onnxruntime" | "ort" => Ok(Self::OnnxRuntime),
            other => Err(format!(
                "unknown embedding engine {other:?} (openvino, onnxruntime)"
            )),
        }
    }
}

impl EmbedEngine {
    /// The graph the engine runs by default, relative to the model folder.
    pub fn default_graph(self) -> &'static str {
        match self {
            Self::OpenVino => "onnx/model_fp32.onnx",
            Self::OnnxRuntime => "onnx/model_fused_fp32.onnx",
        }
    }
}

/// Starts the configured embedder.
pub fn start_embedder(config: &EngineConfig) -> Result<Arc<dyn Embedder>> {
    let model = embed::model::resolve(&config.embeddings_model, &config.models_dir)?;
    let graph = model.dir.join(
        config
            .onnx_file
            .clone()
            .unwrap_or_else(|| config.embed_engine.default_graph().into()),
    );
    // Without an explicit graph, the openvino engine runs the fp16-weight IR (`make model`)
    // when it computes in bf16, if the model folder has it.
    let bf16_graph = config
        .onnx_file
        .is_none()
        .then(|| model.dir.join(embed::openvino::BF16_GRAPH))
        .filter(|p| p.exists());
    let tokenizer = model.dir.join("tokenizer.json");
    let embedder = match config.embed_engine {
        EmbedEngine::OpenVino => OpenVinoEmbedder::start(OpenVinoEmbedderConfig {
            model_id: model.id.clone(),
            tokenizer,
            model: graph,
            bf16_model: bf16_graph,
            library: config
                .openvino_library
                .clone()
                .unwrap_or_else(|| config.models_dir.join("openvino/libopenvino_c.so")),
            threads: config.embed_threads,
            batch_size: config.embed_batch_size,
            queue_capacity: config.embed_queue,
            max_seq_len: model.spec.max_tokens,
            precision: config.embed_precision,
            shape_cache: config.openvino_shape_cache,
            streams: config.embed_streams,
        })?,
        EmbedEngine::OnnxRuntime => OnnxEmbedder::start(OnnxEmbedderConfig {
            model_id: model.id.clone(),
            tokenizer,
            onnx: graph,
            ort_library: config
                .ort_library
                .clone()
                .unwrap_or_else(|| config.models_dir.join("onnxruntime/libonnxruntime.so")),
            threads: config.embed_threads,
            batch_size: config.embed_batch_size,
            queue_capacity: config.embed_queue,
            max_seq_len: model.spec.max_tokens,
            spin: config.embed_spin,
        })?,
    };
    if embedder.dimensions() != model.spec.dimensions {
        return Err(ragd_core::Error::Unavailable(format!(
            "model {} gives {}-dimensional vectors, not the {} ragd expects of it",
            model.id,
            embedder.dimensions(),
            model.spec.dimensions
        )));
    }
    let spec = model.spec;
    Ok(Arc::new(
        embedder.with_prefixes(spec.query_prefix, spec.passage_prefix),
    ))
}

pub use compose::{
    Access, Backends, DatabaseUrl, Documents, Node, PostgresConfig, StoreConfig, rag_service,
};
