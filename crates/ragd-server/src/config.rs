//! Engine settings from flags and environment variables (the chapter's names where it has one,
//! `RAGD_*` otherwise), validated into [`EngineConfig`] with errors that name the setting.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use ragd_backends::embed::openvino::Precision;
use ragd_backends::loaders::{ParserIsolation, ParserLimits};
use ragd_backends::{EmbedEngine, EngineConfig};
use ragd_core::ServiceLimits;
use ragd_core::chunking::ChunkerConfig;
use ragd_core::guardrails::Policy;
use ragd_core::relevance::Calibration;

/// Where documents are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Isolation {
    /// A sandboxed child process per document.
    Process,
    /// In the ragd process.
    Off,
}

/// How `similarity` is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SimilarityScale {
    /// Relevance calibrated for all-MiniLM-L6-v2 (0.7 separates relevant from irrelevant).
    Calibrated,
    /// Raw cosine similarity, clamped to [0, 1].
    Cosine,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[derive(Debug, Args)]
pub(crate) struct EngineArgs {
    /// Directory of the database and the vector index.
    #[arg(long, global = true, env = "RAGD_DATA_DIR", default_value = "data")]
    pub(crate) data_dir: PathBuf,
    /// Embedding model: a local folder, sentence-transformers/all-MiniLM-L6-v2 (from `make model`),
    /// or multilingual-e5-small (Portuguese, English and more; from `make model-e5`).
    #[arg(long, global = true, env = "EMBEDDINGS_MODEL", default_value = ragd_backends::embed::model::MINILM_ID)]
    pub(crate) embeddings_model: String,
    /// Where `make model` puts models.
    #[arg(long, global = true, env = "RAGD_MODELS_DIR", default_value = "models")]
    pub(crate) models_dir: PathBuf,
    /// Runtime of the embedding model: openvino (bf16 on CPUs with bf16 matrix units, the
    /// fastest here) or onnxruntime (exact fp32).
    #[arg(
        long,
        global = true,
        env = "RAGD_EMBED_ENGINE",
        default_value = "openvino"
    )]
    pub(crate) embed_engine: EmbedEngine,
    /// Arithmetic of the openvino engine: auto (bf16 where the CPU has bf16 matrix units), f32
    /// or bf16.
    #[arg(
        long,
        global = true,
        env = "RAGD_EMBED_PRECISION",
        default_value = "auto"
    )]
    pub(crate) embed_precision: Precision,
    /// Model graph, relative to the model folder (default for openvino: openvino/model_f16.xml
    /// when it computes in bf16 and the folder has it, else onnx/model_fp32.onnx; for
    /// onnxruntime: onnx/model_fused_fp32.onnx).
    #[arg(long, global = true, env = "RAGD_EMBEDDINGS_ONNX")]
    pub(crate) embeddings_onnx: Option<PathBuf>,
    /// libonnxruntime.so (default: MODELS_DIR/onnxruntime/libonnxruntime.so).
    #[arg(long, global = true, env = "ORT_DYLIB_PATH")]
    pub(crate) ort_dylib_path: Option<PathBuf>,
    /// libopenvino_c.so or its folder (default: MODELS_DIR/openvino/libopenvino_c.so).
    #[arg(long, global = true, env = "RAGD_OPENVINO_LIBRARY")]
    pub(crate) openvino_library: Option<PathBuf>,
    /// Input shapes whose prepared kernels the openvino engine keeps (each costs memory; a miss
    /// costs a few milliseconds).
    #[arg(
        long,
        global = true,
        env = "RAGD_OPENVINO_SHAPE_CACHE",
        default_value_t = 64
    )]
    pub(crate) openvino_shape_cache: usize,
    /// Threads the embedding model uses.
    #[arg(long, global = true, env = "RAGD_EMBED_THREADS", default_value_t = default_threads())]
    pub(crate) embed_threads: usize,
    /// Inferences of the openvino engine that run at once, sharing RAGD_EMBED_THREADS (default:
    /// one per thread, which measured fastest for both queries and bulk ingestion).
    #[arg(long, global = true, env = "RAGD_EMBED_STREAMS")]
    pub(crate) embed_streams: Option<usize>,
    /// Texts per forward pass of the model, at most (16 ingests as fast as 32 with a third less
    /// peak memory).
    #[arg(
        long,
        global = true,
        env = "RAGD_EMBED_BATCH_SIZE",
        default_value_t = 16
    )]
    pub(crate) embed_batch_size: usize,
    /// Embedding requests that may wait before callers are held back.
    #[arg(long, global = true, env = "RAGD_EMBED_QUEUE", default_value_t = 256)]
    pub(crate) embed_queue: usize,
    /// Load shedding: a new question whose expected wait exceeds this many milliseconds (the
    /// questions in flight times the measured interval between answers) is refused at once (503
    /// with Retry-After) instead of queueing; 0 queues every question.
    #[arg(
        long,
        global = true,
        env = "RAGD_QUEUE_BUDGET_MS",
        default_value_t = 50
    )]
    pub(crate) queue_budget_ms: u64,
    /// A guardrails policy file (TOML) replacing the default (config/guardrails.toml).
    #[arg(long, global = true, env = "RAGD_GUARDRAILS_POLICY")]
    pub(crate) guardrails_policy: Option<PathBuf>,
    /// Question embeddings kept in memory (about 1.6 KiB each), so a repeated question skips the
    /// model; 0 turns the cache off.
    #[arg(
        long,
        global = true,
        env = "RAGD_QUERY_CACHE",
        default_value_t = 10_000
    )]
    pub(crate) query_cache: usize,
    /// Let idle model threads spin-wait for the next batch: faster bulk ingestion, but it takes
    /// CPU from request handling. Default: on for CLI commands, off for `ragd serve`.
    #[arg(long, global = true, env = "RAGD_EMBED_SPIN", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) embed_spin: Option<bool>,
    /// Chunk size in model tokens (8-254).
    #[arg(long, global = true, env = "RAGD_CHUNK_TOKENS", default_value_t = 200)]
    pub(crate) chunk_tokens: usize,
    /// Tokens shared by consecutive chunks (less than half the chunk size).
    #[arg(long, global = true, env = "RAGD_CHUNK_OVERLAP", default_value_t = 32)]
    pub(crate) chunk_overlap: usize,
    /// Searches over at most this many vectors are exact instead of approximate.
    #[arg(
        long,
        global = true,
        env = "RAGD_EXACT_SEARCH_BELOW",
        default_value_t = 2_000
    )]
    pub(crate) exact_search_below: usize,
    /// HNSW search breadth (higher: better recall, slower).
    #[arg(long, global = true, env = "RAGD_ANN_EF_SEARCH", default_value_t = 96)]
    pub(crate) ann_ef_search: usize,
    /// How the vector index stores vectors: f16 (half the memory, faster searches, the same
    /// recall@10 as measured) or f32 (faster exact scans of small collections). Changing it
    /// rebuilds the index from the database at the next start.
    #[arg(
        long,
        global = true,
        env = "RAGD_INDEX_PRECISION",
        default_value = "f16"
    )]
    pub(crate) index_precision: ragd_backends::embedded_index::VectorPrecision,
    /// Largest document accepted, in bytes.
    #[arg(long, global = true, env = "RAGD_MAX_DOCUMENT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub(crate) max_document_bytes: u64,
    /// Most chunks one document may produce.
    #[arg(
        long,
        global = true,
        env = "RAGD_MAX_CHUNKS_PER_DOCUMENT",
        default_value_t = 50_000
    )]
    pub(crate) max_chunks_per_document: usize,
    /// Where documents are parsed: `process` (a sandboxed child process per document, so a
    /// hostile file cannot crash ragd) or `off` (in this process; trusted files only).
    #[arg(long, global = true, env = "RAGD_PARSER_ISOLATION", value_enum, default_value_t = Isolation::Process)]
    pub(crate) parser_isolation: Isolation,
    /// Memory (address space) one parser process may use, in MiB.
    #[arg(
        long,
        global = true,
        env = "RAGD_PARSER_MEMORY_MB",
        default_value_t = 1024
    )]
    pub(crate) parser_memory_mb: u64,
    /// Seconds (CPU and wall clock) one document may take to parse.
    #[arg(
        long,
        global = true,
        env = "RAGD_PARSER_TIMEOUT_SECS",
        default_value_t = 60
    )]
    pub(crate) parser_timeout_secs: u64,
    /// Parser processes at once (default: one per core).
    #[arg(long, global = true, env = "RAGD_PARSER_WORKERS", default_value_t = default_threads())]
    pub(crate) parser_workers: usize,
    /// When a document's commit reaches the disk: full (synced before the response, survives
    /// power loss) or normal (synced at checkpoints: faster, may lose the last commits on power
    /// loss).
    #[arg(
        long,
        global = true,
        env = "RAGD_SQLITE_SYNCHRONOUS",
        default_value = "full"
    )]
    pub(crate) sqlite_synchronous: ragd_backends::sqlite::Durability,
    /// A PostgreSQL database with pgvector (`postgres://user:password@host:port/db`) instead of
    /// the data dir's SQLite file and index; any number of instances may share it.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,
    /// PostgreSQL connections this process opens at most.
    #[arg(
        long,
        global = true,
        env = "RAGD_DATABASE_MAX_CONNECTIONS",
        default_value_t = 10
    )]
    pub(crate) database_max_connections: u32,
    /// Seconds a request waits for a free PostgreSQL connection before it is answered 503.
    #[arg(
        long,
        global = true,
        env = "RAGD_DATABASE_ACQUIRE_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub(crate) database_acquire_timeout_secs: u64,
    /// PostgreSQL statement timeout in seconds (0: none).
    #[arg(
        long,
        global = true,
        env = "RAGD_DATABASE_STATEMENT_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub(crate) database_statement_timeout_secs: u64,
    /// How many chunks a filtered pgvector search may visit to find its k (hnsw.max_scan_tuples).
    #[arg(
        long,
        global = true,
        env = "RAGD_PGVECTOR_MAX_SCAN_TUPLES",
        default_value_t = 20_000
    )]
    pub(crate) pgvector_max_scan_tuples: u32,
    /// How similarity scores are reported and thresholded.
    #[arg(long, global = true, env = "RAGD_SIMILARITY", value_enum, default_value_t = SimilarityScale::Calibrated)]
    pub(crate) similarity: SimilarityScale,
    /// PEM CA certificates trusted, besides the Mozilla roots, by ragd's outbound HTTPS calls
    /// (JWKS, the LLM server).
    #[arg(long, global = true, env = "RAGD_OUTBOUND_CA_FILE")]
    pub(crate) outbound_ca_file: Option<PathBuf>,
    /// The answer generator.
    #[command(flatten)]
    pub(crate) llm: crate::llm_config::GeneratorArgs,
    #[command(flatten)]
    pub(crate) redis: crate::redis_config::RedisArgs,
    /// A Chroma server holding the vectors.
    #[command(flatten)]
    pub(crate) chroma: crate::chroma_config::ChromaArgs,
    /// Search modes, fusion, the lexical index and the reranker.
    #[command(flatten)]
    pub(crate) search: crate::search_config::SearchArgs,
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, env = "LOG_LEVEL", default_value = "warn")]
    pub(crate) log_level: String,
}

impl EngineArgs {
    fn guardrails(&self) -> anyhow::Result<Policy> {
        let Some(path) = &self.guardrails_policy else {
            return Ok(Policy::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("RAGD_GUARDRAILS_POLICY: cannot read {}", path.display()))?;
        Policy::from_toml(&text)
            .with_context(|| format!("RAGD_GUARDRAILS_POLICY: {}", path.display()))
    }

    fn parser(&self) -> anyhow::Result<ParserIsolation> {
        Ok(match self.parser_isolation {
            Isolation::Off => ParserIsolation::InProcess,
            Isolation::Process => ParserIsolation::Process {
                program: std::env::current_exe()
                    .context("RAGD_PARSER_ISOLATION=process: cannot find the ragd binary")?,
                limits: ParserLimits {
                    memory_bytes: self.parser_memory_mb * 1024 * 1024,
                    time: std::time::Duration::from_secs(self.parser_timeout_secs),
                    workers: self.parser_workers,
                },
            },
        })
    }

    /// Validates the settings, naming the one to fix.
    pub(crate) fn to_config(&self) -> anyhow::Result<EngineConfig> {
        let chunker = ChunkerConfig::new(self.chunk_tokens, self.chunk_overlap)
            .context("RAGD_CHUNK_TOKENS / RAGD_CHUNK_OVERLAP")?;
        for (name, value) in [
            ("RAGD_EMBED_THREADS", self.embed_threads),
            ("RAGD_EMBED_BATCH_SIZE", self.embed_batch_size),
            ("RAGD_EMBED_QUEUE", self.embed_queue),
            ("RAGD_ANN_EF_SEARCH", self.ann_ef_search),
            ("RAGD_MAX_CHUNKS_PER_DOCUMENT", self.max_chunks_per_document),
            ("RAGD_PARSER_WORKERS", self.parser_workers),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if self.embed_batch_size > 1024 {
            bail!("RAGD_EMBED_BATCH_SIZE must be at most 1024");
        }
        if self.parser_memory_mb < 64 {
            bail!("RAGD_PARSER_MEMORY_MB must be at least 64");
        }
        if self.parser_timeout_secs == 0 {
            bail!("RAGD_PARSER_TIMEOUT_SECS must be at least 1");
        }
        let (generator, generation) = self
            .llm
            .to_config(self.outbound_ca_file.clone(), &self.models_dir)?;
        let chroma = self.chroma.to_config(self.outbound_ca_file.clone())?;
        if chroma.is_some() && self.postgres()?.is_some() {
            bail!(ragd_backends::compose::CHROMA_WITH_POSTGRES);
        }
        Ok(EngineConfig {
            data_dir: self.data_dir.clone(),
            embeddings_model: self.embeddings_model.clone(),
            models_dir: self.models_dir.clone(),
            embed_engine: self.embed_engine,
            onnx_file: self.embeddings_onnx.clone(),
            ort_library: self.ort_dylib_path.clone(),
            openvino_library: self.openvino_library.clone(),
            embed_precision: self.embed_precision,
            openvino_shape_cache: self.openvino_shape_cache,
            embed_threads: self.embed_threads,
            embed_streams: self.embed_streams.unwrap_or(self.embed_threads),
            embed_batch_size: self.embed_batch_size,
            embed_queue: self.embed_queue,
            embed_spin: self.embed_spin.unwrap_or(true),
            query_cache: self.query_cache,
            guardrails: std::sync::Arc::new(self.guardrails()?),
            chunker,
            generator,
            generation,
            outbound_ca_file: self.outbound_ca_file.clone(),
            exact_search_below: self.exact_search_below,
            ann_ef_search: self.ann_ef_search,
            index_precision: self.index_precision,
            calibration: match self.similarity {
                SimilarityScale::Calibrated => {
                    ragd_backends::embed::model::spec_of(&self.embeddings_model).calibration()
                }
                SimilarityScale::Cosine => Calibration::identity(),
            },
            search: self.search.to_config()?,
            limits: ServiceLimits {
                max_document_bytes: self.max_document_bytes,
                max_chunks_per_document: self.max_chunks_per_document,
                question_budget: Some(std::time::Duration::from_millis(self.queue_budget_ms))
                    .filter(|b| !b.is_zero()),
            },
            parser: self.parser()?,
            durability: self.sqlite_synchronous,
            postgres: self.postgres()?,
            redis: self.redis.to_config()?,
            chroma,
        })
    }

    fn postgres(&self) -> anyhow::Result<Option<ragd_backends::PostgresConfig>> {
        match self
            .database_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            Some(url) => self.postgres_at(url).map(Some),
            None => Ok(None),
        }
    }

    /// The PostgreSQL settings for the database at `url`.
    pub(crate) fn postgres_at(&self, url: &str) -> anyhow::Result<ragd_backends::PostgresConfig> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!(
                "DATABASE_URL must be a postgres:// URL (unset it for the embedded SQLite store)"
            );
        }
        let options = ragd_backends::postgres::PgOptions {
            max_connections: self.database_max_connections,
            acquire_timeout: std::time::Duration::from_secs(self.database_acquire_timeout_secs),
            statement_timeout: std::time::Duration::from_secs(self.database_statement_timeout_secs),
            ef_search: u32::try_from(self.ann_ef_search).unwrap_or(u32::MAX),
            max_scan_tuples: self.pgvector_max_scan_tuples,
        };
        Ok(ragd_backends::PostgresConfig {
            url: ragd_backends::DatabaseUrl::new(url),
            options,
        })
    }
}
