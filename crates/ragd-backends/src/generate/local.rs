//! The local answer model: any GGUF instruct model with a chat template, run in process by
//! llama.cpp (crate `llama-cpp-2`), chosen over candle by measurement (README, "Answer
//! generation").
//!
//! - **Off the async runtime**: one dedicated thread owns the model's context and runs one
//!   generation at a time; callers wait on a bounded queue, and a full queue is
//!   [`Error::Unavailable`] at once (the service then answers extractively and says so).
//! - **Cancellation**: before each prompt batch and each token the thread checks whether the
//!   caller is still there (the result's receiver, the sink's receiver); a question whose
//!   caller left while it queued is never started.
//! - **Prompts** are rendered with the chat template in the GGUF's metadata (llama.cpp's
//!   built-in template engine: ChatML, Llama 2/3, Mistral, Gemma, Phi, DeepSeek, …); a model
//!   whose template it does not know is refused at load time, not at the first question.
//! - **Tokens** are counted with the model's own tokenizer, so prompts are packed exactly.
//! - **Failures** of one generation (a panic in the bindings included) fail that question
//!   only; the context is rebuilt before the next.

use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use ragd_core::generation::{
    ChatMessage, FinishReason, Generated, GenerationRequest, TokenSink, Usage,
};
use ragd_core::ports::{Generator, TokenCounter};
use ragd_core::{Error, Result};
use tokio::sync::oneshot;

/// Tokens decoded per batch while reading the prompt.
const PROMPT_BATCH: usize = 512;
/// Recent tokens the repetition penalty looks at.
const PENALTY_WINDOW: i32 = 64;
/// The repetition penalty: small models loop without one.
const PENALTY_REPEAT: f32 = 1.1;

/// Settings of the local model.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The GGUF file.
    pub model_path: PathBuf,
    /// The id reported to users.
    pub model_id: String,
    /// Threads the model computes with.
    pub threads: usize,
    /// Context window in tokens (prompt and answer); `None`: the model's own, at most 8192.
    pub context_tokens: Option<usize>,
    /// Questions that may wait for the model; more are refused at once.
    pub queue: usize,
}

/// The generator; see the module docs.
pub struct LocalGenerator {
    model_id: String,
    context_tokens: usize,
    model: Arc<LlamaModel>,
    jobs: std::sync::mpsc::SyncSender<Job>,
}

impl std::fmt::Debug for LocalGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalGenerator")
            .field("model_id", &self.model_id)
            .field("context_tokens", &self.context_tokens)
            .finish_non_exhaustive()
    }
}

struct Job {
    request: GenerationRequest,
    sink: Option<TokenSink>,
    done: oneshot::Sender<Result<Generated>>,
    queued: Instant,
}

impl Job {
    fn abandoned(&self) -> bool {
        self.done.is_closed() || self.sink.as_ref().is_some_and(TokenSink::is_closed)
    }
}

/// llama.cpp's process-wide state, initialised once.
fn backend() -> Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut backend = LlamaBackend::init().map_err(|e| e.to_string())?;
            // llama.cpp logs every tensor at load; ragd logs what matters itself.
            backend.void_logs();
            Ok(backend)
        })
        .as_ref()
        .map_err(|e| Error::Unavailable(format!("llama.cpp cannot start: {e}")))
}

fn unavailable(what: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("the local model: {what}"))
}

/// The model's kernels need AVX2 (see `.cargo/config.toml`); refusing to load is better than
/// dying of an illegal instruction at the first question.
fn cpu_supported() -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if !std::arch::is_x86_feature_detected!("avx2") || !std::arch::is_x86_feature_detected!("fma") {
        return Err(unavailable(
            "this CPU has no AVX2/FMA, which this build of llama.cpp needs (rebuild with GGML_AVX2=OFF, or use an OpenAI-compatible server)",
        ));
    }
    Ok(())
}

fn chat(messages: &[ChatMessage]) -> Result<Vec<LlamaChatMessage>> {
    messages
        .iter()
        .map(|m| {
            LlamaChatMessage::new(m.role.as_str().to_owned(), m.content.replace('\0', " "))
                .map_err(|e| Error::invalid(format!("a chat message: {e}")))
        })
        .collect()
}

impl LocalGenerator {
    /// Loads the model and starts its thread. Blocking: call it off the async runtime.
    pub fn start(config: &LocalConfig) -> Result<Self> {
        cpu_supported()?;
        if !config.model_path.is_file() {
            return Err(Error::invalid(format!(
                "the local model {} does not exist (run `make model`, or set LLM_MODEL to a GGUF file)",
                config.model_path.display()
            )));
        }
        let backend = backend()?;
        let started = Instant::now();
        let model =
            LlamaModel::load_from_file(backend, &config.model_path, &LlamaModelParams::default())
                .map_err(|e| {
                Error::invalid(format!(
                    "{}: not a usable GGUF model: {e}",
                    config.model_path.display()
                ))
            })?;
        let template = model.chat_template(None).map_err(|e| {
            Error::invalid(format!(
                "{}: no chat template in the GGUF metadata ({e}); ragd needs an instruct model",
                config.model_path.display()
            ))
        })?;
        // A template llama.cpp cannot render is refused now, not at the first question.
        let probe = [ChatMessage::new(ragd_core::generation::Role::User, "hello")];
        model
            .apply_chat_template(&template, &chat(&probe)?, true)
            .map_err(|e| {
                Error::invalid(format!(
                    "{}: llama.cpp does not know this chat template ({e})",
                    config.model_path.display()
                ))
            })?;
        let trained = usize::try_from(model.n_ctx_train()).unwrap_or(usize::MAX);
        let context_tokens = config.context_tokens.unwrap_or(8192).min(trained).max(512);
        let model = Arc::new(model);
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(config.queue.max(1));
        let worker = Worker {
            model: Arc::clone(&model),
            template,
            threads: i32::try_from(config.threads.max(1)).unwrap_or(1),
            context_tokens,
        };
        std::thread::Builder::new()
            .name("ragd-llm".into())
            .spawn(move || worker.run(&queue))
            .map_err(Error::internal)?;
        tracing::info!(
            model = %config.model_path.display(),
            context_tokens,
            threads = config.threads,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "local model loaded"
        );
        Ok(Self {
            model_id: config.model_id.clone(),
            context_tokens,
            model,
            jobs,
        })
    }
}

impl TokenCounter for LocalGenerator {
    fn count_tokens(&self, text: &str) -> usize {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), false, false)
            .len()
    }
}

#[async_trait]
impl Generator for LocalGenerator {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn context_tokens(&self) -> usize {
        self.context_tokens
    }

    async fn generate(
        &self,
        request: GenerationRequest,
        sink: Option<TokenSink>,
    ) -> Result<Generated> {
        let (done, result) = oneshot::channel();
        let job = Job {
            request,
            sink,
            done,
            queued: Instant::now(),
        };
        self.jobs.try_send(job).map_err(|e| match e {
            std::sync::mpsc::TrySendError::Full(_) => {
                unavailable("busy: its queue of waiting questions is full")
            }
            std::sync::mpsc::TrySendError::Disconnected(_) => unavailable("its thread stopped"),
        })?;
        result
            .await
            .map_err(|_| unavailable("its thread stopped"))?
    }
}

/// The model's thread.
struct Worker {
    model: Arc<LlamaModel>,
    template: LlamaChatTemplate,
    threads: i32,
    context_tokens: usize,
}

impl Worker {
    fn context(&self) -> Result<LlamaContext<'_>> {
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(
                u32::try_from(self.context_tokens).unwrap_or(8192),
            ))
            .with_n_batch(PROMPT_BATCH as u32)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads);
        self.model
            .new_context(backend()?, params)
            .map_err(|e| unavailable(format!("cannot create a context: {e}")))
    }

    fn run(&self, queue: &std::sync::mpsc::Receiver<Job>) {
        let mut context = None;
        while let Ok(mut job) = queue.recv() {
            if job.abandoned() {
                continue;
            }
            let waited = job.queued.elapsed();
            let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
                if context.is_none() {
                    context = Some(self.context()?);
                }
                match context.as_mut() {
                    Some(ctx) => self.generate(ctx, &mut job),
                    None => Err(unavailable("no context")),
                }
            }));
            let result = ran.unwrap_or_else(|_| {
                // The context may be half-updated: build a new one for the next question.
                context = None;
                Err(Error::internal("the local model panicked"))
            });
            if let Ok(generated) = &result {
                tracing::debug!(
                    waited_ms = waited.as_millis() as u64,
                    prompt_tokens = generated.usage.prompt_tokens,
                    completion_tokens = generated.usage.completion_tokens,
                    "generated"
                );
            }
            let _ = job.done.send(result);
        }
    }

    fn sampler(&self, temperature: f32) -> LlamaSampler {
        let penalties = LlamaSampler::penalties(
            self.model.n_vocab(),
            PENALTY_WINDOW,
            PENALTY_REPEAT,
            0.0,
            0.0,
        );
        if temperature <= 0.0 {
            return LlamaSampler::chain_simple([penalties, LlamaSampler::greedy()]);
        }
        let seed = (uuid::Uuid::new_v4().as_u128() & 0xffff_ffff) as u32;
        LlamaSampler::chain_simple([
            penalties,
            LlamaSampler::top_k(40),
            LlamaSampler::top_p(0.95, 1),
            LlamaSampler::min_p(0.05, 1),
            LlamaSampler::temp(temperature),
            LlamaSampler::dist(seed),
        ])
    }

    fn generate(&self, ctx: &mut LlamaContext<'_>, job: &mut Job) -> Result<Generated> {
        let started = job.queued;
        let prompt = self
            .model
            .apply_chat_template(&self.template, &chat(&job.request.messages)?, true)
            .map_err(|e| unavailable(format!("cannot render the chat: {e}")))?;
        let vocab = self.model.vocab();
        let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
        let max_tokens = job.request.max_tokens as usize;
        if tokens.len() + max_tokens > self.context_tokens {
            return Err(Error::invalid(format!(
                "the prompt has {} tokens: with max_tokens {max_tokens} that is over the context of {} tokens",
                tokens.len(),
                self.context_tokens
            )));
        }
        ctx.clear_kv_cache();
        let mut batch = LlamaBatch::new(PROMPT_BATCH, 1);
        for (n, chunk) in tokens.chunks(PROMPT_BATCH).enumerate() {
            if job.abandoned() {
                return Ok(cancelled(tokens.len(), 0, String::new(), None));
            }
            batch.clear();
            for (i, token) in chunk.iter().enumerate() {
                let position = n * PROMPT_BATCH + i;
                let last = position + 1 == tokens.len();
                batch
                    .add(*token, position as i32, &[0], last)
                    .map_err(|e| unavailable(e.to_string()))?;
            }
            ctx.decode(&mut batch)
                .map_err(|e| unavailable(format!("reading the prompt: {e}")))?;
        }
        let mut sampler = self.sampler(job.request.temperature);
        let mut text = String::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut first_token = None;
        let mut generated = 0usize;
        let mut logits_at = batch.n_tokens() - 1;
        let mut finish = FinishReason::Length;
        let mut single = LlamaBatch::new(1, 1);
        while generated < max_tokens {
            if job.abandoned() {
                return Ok(cancelled(tokens.len(), generated, text, first_token));
            }
            let token: LlamaToken = sampler.sample(ctx, logits_at);
            sampler.accept(token);
            if vocab.is_eog(token) {
                finish = FinishReason::Stop;
                break;
            }
            generated += 1;
            first_token.get_or_insert_with(|| started.elapsed());
            pending.extend(vocab.token_to_piece(token, false, None));
            let delta = take_utf8(&mut pending);
            if !delta.is_empty() {
                text.push_str(&delta);
                if let Some(sink) = &job.sink
                    && sink.blocking_send(delta).is_err()
                {
                    return Ok(cancelled(tokens.len(), generated, text, first_token));
                }
            }
            single.clear();
            single
                .add(token, (tokens.len() + generated - 1) as i32, &[0], true)
                .map_err(|e| unavailable(e.to_string()))?;
            ctx.decode(&mut single)
                .map_err(|e| unavailable(format!("generating: {e}")))?;
            logits_at = 0;
        }
        let rest = String::from_utf8_lossy(&pending).into_owned();
        if !rest.is_empty() {
            text.push_str(&rest);
            if let Some(sink) = &job.sink {
                let _ = sink.blocking_send(rest);
            }
        }
        Ok(Generated {
            text,
            usage: usage(tokens.len(), generated),
            finish,
            first_token,
        })
    }
}

fn usage(prompt: usize, completion: usize) -> Usage {
    Usage {
        prompt_tokens: u32::try_from(prompt).unwrap_or(u32::MAX),
        completion_tokens: u32::try_from(completion).unwrap_or(u32::MAX),
    }
}

fn cancelled(
    prompt: usize,
    completion: usize,
    text: String,
    first_token: Option<std::time::Duration>,
) -> Generated {
    Generated {
        text,
        usage: usage(prompt, completion),
        finish: FinishReason::Cancelled,
        first_token,
    }
}

/// The longest valid UTF-8 prefix of `pending`, removed from it: a character split across two
/// tokens is sent whole, with the second.
fn take_utf8(pending: &mut Vec<u8>) -> String {
    let valid = match std::str::from_utf8(pending) {
        Ok(s) => s.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        // Bytes that can never become UTF-8: replace them rather than hold them forever.
        Err(_) => {
            let text = String::from_utf8_lossy(pending).into_owned();
            pending.clear();
            return text;
        }
    };
    let rest = pending.split_off(valid);
    let head = std::mem::replace(pending, rest);
    String::from_utf8(head).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_across_tokens_are_sent_whole() {
        let mut pending = "olá".as_bytes()[..3].to_vec();
        assert_eq!(take_utf8(&mut pending), "ol");
        assert_eq!(pending, vec![0xc3]);
        pending.push(0xa1);
        assert_eq!(take_utf8(&mut pending), "á");
        assert!(pending.is_empty());
        let mut broken = vec![b'a', 0xff, b'b'];
        assert_eq!(take_utf8(&mut broken), "a\u{fffd}b");
    }
}
