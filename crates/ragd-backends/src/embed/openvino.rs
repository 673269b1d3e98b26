//! The default embedder: all-MiniLM-L6-v2 through OpenVINO (the `openvino` crate, loading at run
//! time the `libopenvino_c.so` that `make model` takes from the PyPI `openvino` wheel), reading the
//! plain fp32 ONNX graph.
//!
//! Why OpenVINO: on CPUs with bfloat16 matrix units (Intel AMX, Xeon 4th generation and later)
//! its CPU plugin runs the model in bf16 with fp32 accumulation — 2.4× the throughput of fp32 on
//! ONNX Runtime on the same cores, and still cosine ≥ 0.9999 to the fp32 sentence-transformers
//! vectors (the correctness bar is 0.999). Elsewhere it runs fp32, as fast as ONNX Runtime.
//! `RAGD_EMBED_PRECISION=f32` forces fp32 everywhere. multilingual-e5-small (`make model-e5`)
//! runs the same way from the same files in its own folder (plain fp32 graph, fp16-weight IR).
//! Queueing and pooling: [`crate::embed::queue`].

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use openvino::{
    CompiledModel, Core, DeviceType, ElementType, InferRequest, PropertyKey, RwPropertyKey, Shape,
    Tensor,
};
use ragd_core::types::Embedding;
use ragd_core::{Error, Result};

use crate::embed::queue::{BatchModel, QueuedEmbedder};
use crate::embed::token_batch::TokenBatch;
use crate::embed::tokenizer::ModelTokenizer;

/// The hidden size of every model ragd knows (all-MiniLM-L6-v2, multilingual-e5-small);
/// `start_embedder` checks it against the model's spec.
const DIMENSIONS: usize = 384;
/// Batches are padded to a multiple of this many tokens. OpenVINO prepares kernels for each
/// input shape it meets and keeps them: with exact widths a server meets hundreds of shapes
/// (measured: RSS 208 → 756 MiB over 1,500 mixed queries, and a slow first run of each); with
/// steps of 16 it meets a few (280 MiB, and faster).
const WIDTH_STEP: usize = 16;

/// The graph run when the model computes in bf16, relative to the model folder: the fp32 graph
/// in OpenVINO's format with fp16 weights (`make model` converts it). OpenVINO keeps the graph a
/// model was compiled from, so this one costs 86 MiB less resident memory than the ONNX graph;
/// rounding fp32 weights to fp16 first changes nothing when they are then used in bf16 (fp16
/// keeps more mantissa bits than bf16).
pub const BF16_GRAPH: &str = "openvino/model_f16.xml";

/// The arithmetic the model runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// What the CPU does best: bf16 where it has native bf16 matrix units, else fp32.
    #[default]
    Auto,
    /// fp32 everywhere (vectors identical to sentence-transformers' to 1e-7).
    F32,
    /// bf16 (emulated, and slow, on CPUs without bf16 units).
    Bf16,
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "f32" | "fp32" => Ok(Self::F32),
            "bf16" => Ok(Self::Bf16),
            other => Err(format!("unknown precision {other:?} (auto, f32, bf16)")),
        }
    }
}

/// Settings of the OpenVINO embedder.
#[derive(Debug, Clone)]
pub struct OpenVinoEmbedderConfig {
    /// The id reported to users.
    pub model_id: String,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// The model: an ONNX graph, or an OpenVINO IR `.xml` (with its `.bin` beside it).
    pub model: PathBuf,
    /// The same model with fp16 weights, run instead when the model computes in bf16.
    pub bf16_model: Option<PathBuf>,
    /// `libopenvino_c.so`, or the folder holding it.
    pub library: PathBuf,
    /// Threads of the model, over all streams.
    pub threads: usize,
    /// Inferences that run at once, each on `threads / streams` threads. Single-threaded
    /// streams waste no time synchronising threads over the small batches of a server.
    pub streams: usize,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Requests that may wait in the queue before callers are held back.
    pub queue_capacity: usize,
    /// Tokens per text, including special tokens.
    pub max_seq_len: usize,
    /// The arithmetic.
    pub precision: Precision,
    /// Input shapes whose prepared kernels are kept (OpenVINO's CPU runtime cache).
    pub shape_cache: usize,
}

/// The embedding model on OpenVINO (see the module docs).
pub struct OpenVinoEmbedder;

/// The compiled model, shared by the streams' requests. Field order is drop order.
struct Runtime {
    _compiled: Mutex<CompiledModel>,
    _core: Mutex<Core>,
}

/// One stream: its own inference request. Field order is drop order: the request before the
/// compiled model it belongs to.
struct Model {
    request: InferRequest,
    _runtime: Arc<Runtime>,
    tokenizer: ModelTokenizer,
    wants_token_types: bool,
}

fn library_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        // The wheel names it with the version (libopenvino_c.so.2641); `make model` adds the
        // unversioned link.
        path.join("libopenvino_c.so")
    } else {
        path.to_path_buf()
    }
}

impl Model {
    /// Compiles the model and makes one request per stream.
    fn load(config: &OpenVinoEmbedderConfig) -> Result<(Vec<Self>, String, PathBuf)> {
        let unavailable = |e: &dyn std::fmt::Display| {
            Error::Unavailable(format!(
                "cannot load model {} with OpenVINO: {e}",
                config.model.display()
            ))
        };
        let library = library_file(&config.library);
        openvino_sys::library::load_from(&library).map_err(|e| {
            Error::Unavailable(format!(
                "cannot load OpenVINO from {}: {e}",
                library.display()
            ))
        })?;
        let mut core = Core::new().map_err(|e| unavailable(&e))?;
        let streams = config.streams.clamp(1, config.threads.max(1));
        let threads = config.threads.max(1).to_string();
        let streams_value = streams.to_string();
        let shape_cache = config.shape_cache.to_string();
        let mut properties = vec![
            (RwPropertyKey::InferenceNumThreads, threads.as_str()),
            (RwPropertyKey::NumStreams, streams_value.as_str()),
            (
                RwPropertyKey::Other("CPU_RUNTIME_CACHE_CAPACITY".into()),
                shape_cache.as_str(),
            ),
        ];
        match config.precision {
            Precision::Auto => {}
            Precision::F32 => properties.push((RwPropertyKey::HintInferencePrecision, "f32")),
            Precision::Bf16 => properties.push((RwPropertyKey::HintInferencePrecision, "bf16")),
        }
        core.set_properties(&DeviceType::CPU, properties)
            .map_err(|e| unavailable(&e))?;
        let bf16 = match config.precision {
            Precision::F32 => false,
            Precision::Bf16 => true,
            // What OpenVINO picks by itself: bf16 where the CPU has native bf16 units.
            Precision::Auto => core
                .get_property(&DeviceType::CPU, &PropertyKey::DeviceCapabilities)
                .is_ok_and(|caps| caps.split_whitespace().any(|c| c == "BF16")),
        };
        let graph = config
            .bf16_model
            .as_ref()
            .filter(|_| bf16)
            .unwrap_or(&config.model);
        let model_path = graph.to_string_lossy();
        let model = core.read_model_from_file(&model_path, "").map_err(|e| {
            if model_path.contains("fused") {
                unavailable(&format!(
                    "{e} (a graph with ONNX Runtime's fused operators needs \
                     RAGD_EMBED_ENGINE=onnxruntime; OpenVINO reads onnx/model_fp32.onnx)"
                ))
            } else {
                unavailable(&format!("{model_path}: {e}"))
            }
        })?;
        let mut wants_token_types = false;
        for i in 0..model.get_inputs_len().map_err(|e| unavailable(&e))? {
            let name = model
                .get_input_by_index(i)
                .and_then(|n| n.get_name())
                .map_err(|e| unavailable(&e))?;
            match name.as_str() {
                "input_ids" | "attention_mask" => {}
                "token_type_ids" => wants_token_types = true,
                other => return Err(unavailable(&format!("unexpected model input {other:?}"))),
            }
        }
        let mut compiled = core
            .compile_model(&model, DeviceType::CPU)
            .map_err(|e| unavailable(&e))?;
        let precision = compiled
            .get_property(&PropertyKey::Rw(RwPropertyKey::HintInferencePrecision))
            .map_or_else(|_| "unknown".to_owned(), |p| p.into_owned());
        let requests = (0..streams)
            .map(|_| compiled.create_infer_request())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| unavailable(&e))?;
        let tokenizer = ModelTokenizer::load(&config.tokenizer, config.max_seq_len)?;
        let runtime = Arc::new(Runtime {
            _compiled: Mutex::new(compiled),
            _core: Mutex::new(core),
        });
        let mut models: Vec<Self> = requests
            .into_iter()
            .map(|request| Self {
                request,
                _runtime: Arc::clone(&runtime),
                tokenizer: tokenizer.clone(),
                wants_token_types,
            })
            .collect();
        // Prepare the shapes of single questions now (a shape met for the first time costs
        // ~10 ms), which also proves the model runs before ragd reports ready.
        for model in &mut models {
            for words in [10, 25, 40, 55] {
                model.forward(&["word ".repeat(words).as_str()])?;
            }
        }
        Ok((models, precision, graph.clone()))
    }

    /// One forward pass over `texts`: tokens → hidden states → mean pooling → unit vectors.
    fn forward(&mut self, texts: &[&str]) -> Result<Vec<Embedding>> {
        let batch = TokenBatch::encode(&self.tokenizer, texts, WIDTH_STEP)?;
        let internal =
            |e: openvino::InferenceError| Error::internal(format!("embedding model: {e}"));
        let dims = [
            i64::try_from(batch.rows).map_err(Error::internal)?,
            i64::try_from(batch.width).map_err(Error::internal)?,
        ];
        let shape = Shape::new(&dims).map_err(internal)?;
        let input = |values: &[i64]| -> Result<Tensor> {
            let mut tensor = Tensor::new(ElementType::I64, &shape).map_err(internal)?;
            tensor
                .get_data_mut::<i64>()
                .map_err(internal)?
                .copy_from_slice(values);
            Ok(tensor)
        };
        self.request
            .set_tensor("input_ids", &input(&batch.ids)?)
            .map_err(internal)?;
        self.request
            .set_tensor("attention_mask", &input(&batch.mask)?)
            .map_err(internal)?;
        if self.wants_token_types {
            // Zero-initialised: every token is of segment 0.
            let types = Tensor::new(ElementType::I64, &shape).map_err(internal)?;
            self.request
                .set_tensor("token_type_ids", &types)
                .map_err(internal)?;
        }
        self.request.infer().map_err(internal)?;
        let output = self
            .request
            .get_output_tensor_by_index(0)
            .map_err(internal)?;
        let out_shape = output.get_shape().map_err(internal)?;
        let expected = [dims[0], dims[1], DIMENSIONS as i64];
        if out_shape.get_dimensions() != expected {
            return Err(Error::internal(format!(
                "unexpected model output shape {:?}",
                out_shape.get_dimensions()
            )));
        }
        batch.pool(output.get_data::<f32>().map_err(internal)?, DIMENSIONS)
    }
}

impl BatchModel for Model {
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Embedding>> {
        self.forward(texts)
    }
}

impl OpenVinoEmbedder {
    /// Loads the model and starts its thread. Fails with [`Error::Unavailable`] naming the
    /// missing or unloadable file.
    pub fn start(config: OpenVinoEmbedderConfig) -> Result<QueuedEmbedder> {
        let library = library_file(&config.library);
        for path in [&config.tokenizer, &config.model, &library] {
            if !path.exists() {
                return Err(Error::Unavailable(format!(
                    "{} not found: run `make model` (or set EMBEDDINGS_MODEL / RAGD_OPENVINO_LIBRARY)",
                    path.display()
                )));
            }
        }
        let (models, precision, graph) = Model::load(&config)?;
        tracing::info!(
            model = %graph.display(),
            precision,
            threads = config.threads,
            streams = models.len(),
            "embedding model loaded (OpenVINO)"
        );
        QueuedEmbedder::start(
            config.model_id,
            DIMENSIONS,
            models,
            config.batch_size,
            config.queue_capacity,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_parses() {
        assert_eq!("auto".parse(), Ok(Precision::Auto));
        assert_eq!("FP32".parse(), Ok(Precision::F32));
        assert_eq!("bf16".parse(), Ok(Precision::Bf16));
        assert!("int4".parse::<Precision>().is_err());
    }
}
