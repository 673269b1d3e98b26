//! all-MiniLM-L6-v2 through ONNX Runtime (the `ort` crate, loading the `libonnxruntime.so` that
//! `make model` takes from the PyPI `onnxruntime` wheel), on the fused fp32 graph `make model`
//! builds. Exact (cosine ≥ 0.9999998 to sentence-transformers); the alternative to the default
//! OpenVINO engine (`RAGD_EMBED_ENGINE=onnxruntime`). multilingual-e5-small (`make model-e5`) has
//! its fused graph too. Queueing and pooling: [`crate::embed::queue`].

use std::path::PathBuf;
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use ragd_core::types::Embedding;
use ragd_core::{Error, Result};

use crate::embed::queue::{BatchModel, QueuedEmbedder};
use crate::embed::token_batch::TokenBatch;
use crate::embed::tokenizer::ModelTokenizer;

/// Settings of the ONNX embedder.
#[derive(Debug, Clone)]
pub struct OnnxEmbedderConfig {
    /// The id reported to users.
    pub model_id: String,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// The ONNX graph.
    pub onnx: PathBuf,
    /// `libonnxruntime.so`.
    pub ort_library: PathBuf,
    /// Intra-op threads of the model.
    pub threads: usize,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Requests that may wait in the queue before callers are held back.
    pub queue_capacity: usize,
    /// Tokens per text, including special tokens.
    pub max_seq_len: usize,
    /// Let idle model threads spin for work (faster bulk ingestion, steals CPU from a server).
    pub spin: bool,
}

/// The hidden size of every model ragd knows (all-MiniLM-L6-v2, multilingual-e5-small);
/// `start_embedder` checks it against the model's spec.
const DIMENSIONS: usize = 384;

/// The embedding model on ONNX Runtime (see the module docs).
pub struct OnnxEmbedder;

// ONNX Runtime allows one environment per process; every embedder and the reranker share it.
static ENVIRONMENT: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();

/// The process's ONNX Runtime environment, loading `library` the first time (later paths are
/// ignored: the library is loaded once per process).
pub(crate) fn environment(library: &PathBuf) -> Result<&'static Environment> {
    ENVIRONMENT
        .get_or_init(|| {
            ort::init_from(library)
                .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", library.display()))?
                .with_name("ragd")
                .build()
                .map_err(|e| format!("cannot start ONNX Runtime: {e}"))
        })
        .as_ref()
        .map_err(|e| Error::Unavailable(e.clone()))
}

struct Model {
    session: Session,
    tokenizer: ModelTokenizer,
    wants_token_types: bool,
}

impl Model {
    fn load(config: &OnnxEmbedderConfig) -> Result<Self> {
        let env = environment(&config.ort_library)?;
        let unavailable = |e: &dyn std::fmt::Display| {
            Error::Unavailable(format!("cannot load model {}: {e}", config.onnx.display()))
        };
        let session = Session::builder(env)
            .map_err(|e| unavailable(&e))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| unavailable(&e))?
            .with_intra_threads(config.threads.max(1))
            .map_err(|e| unavailable(&e))?
            // Spinning threads wait for work with the CPU: good for a stream of batches
            // (ingestion), bad on a server where the same cores answer HTTP between batches.
            .with_intra_op_spinning(config.spin)
            .map_err(|e| unavailable(&e))?
            // Subnormals as zero: ~8% faster here, vectors unchanged (cosine ≥ 0.9999998).
            .with_flush_to_zero()
            .map_err(|e| unavailable(&e))?
            .commit_from_file(&config.onnx)
            .map_err(|e| unavailable(&e))?;
        let wants_token_types = session
            .inputs()
            .iter()
            .any(|i| i.name() == "token_type_ids");
        let tokenizer = ModelTokenizer::load(&config.tokenizer, config.max_seq_len)?;
        Ok(Self {
            session,
            tokenizer,
            wants_token_types,
        })
    }

    /// One forward pass over `texts`: tokens → hidden states → mean pooling → unit vectors.
    fn forward(&mut self, texts: &[&str]) -> Result<Vec<Embedding>> {
        let mut batch = TokenBatch::encode(&self.tokenizer, texts, 1)?;
        let internal = |e: ort::Error| Error::internal(format!("embedding model: {e}"));
        let shape = [batch.rows, batch.width];
        let mut inputs = ort::inputs![
            "input_ids" => Tensor::from_array((shape, std::mem::take(&mut batch.ids))).map_err(internal)?,
            "attention_mask" => Tensor::from_array((shape, batch.mask.clone())).map_err(internal)?,
        ];
        if self.wants_token_types {
            let types = Tensor::from_array((shape, vec![0i64; batch.rows * batch.width]))
                .map_err(internal)?;
            inputs.push(("token_type_ids".into(), types.into()));
        }
        let outputs = self.session.run(inputs).map_err(internal)?;
        let (out_shape, hidden) = outputs[0].try_extract_tensor::<f32>().map_err(internal)?;
        if out_shape.len() != 3 || out_shape[2] != DIMENSIONS as i64 {
            return Err(Error::internal(format!(
                "unexpected model output shape {out_shape:?}"
            )));
        }
        batch.pool(hidden, DIMENSIONS)
    }
}

impl BatchModel for Model {
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Embedding>> {
        self.forward(texts)
    }
}

impl OnnxEmbedder {
    /// Loads the model and starts its thread. Fails with [`Error::Unavailable`] naming the
    /// missing or unloadable file.
    pub fn start(config: OnnxEmbedderConfig) -> Result<QueuedEmbedder> {
        for path in [&config.tokenizer, &config.onnx, &config.ort_library] {
            if !path.exists() {
                return Err(Error::Unavailable(format!(
                    "{} not found: run `make model` (or set EMBEDDINGS_MODEL / ORT_DYLIB_PATH)",
                    path.display()
                )));
            }
        }
        let model = Model::load(&config)?;
        QueuedEmbedder::start(
            config.model_id,
            DIMENSIONS,
            vec![model],
            config.batch_size,
            config.queue_capacity,
        )
    }
}
