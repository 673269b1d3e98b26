//! Answer generator settings: the chapter's `OPENAI_API_KEY` and `LLM_MODEL`, the usual
//! `OPENAI_BASE_URL`, `LLM_TEMPERATURE` and `LLM_MAX_TOKENS`, and ragd's own limits.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use ragd_backends::generate::openai::OpenAiConfig;
use ragd_backends::generate::{GeneratorConfig, OpenAiSettings};
use ragd_backends::outbound::OutboundConfig;
use ragd_core::service::GenerationSettings;

/// Which generator writes answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GeneratorChoice {
    /// `openai` when OPENAI_BASE_URL or OPENAI_API_KEY is set, else `local` when the local
    /// model is on disk, else `extractive`.
    Auto,
    /// A GGUF model in process (LLM_MODEL: a model id from `make model`, or a .gguf file).
    Local,
    /// A server speaking the OpenAI chat protocol at OPENAI_BASE_URL.
    Openai,
    /// No model: the best sentences of the sources, cited.
    Extractive,
}

#[derive(Debug, Args)]
pub(crate) struct GeneratorArgs {
    /// Which generator writes answers.
    #[arg(long, global = true, env = "RAGD_GENERATOR", value_enum, default_value_t = GeneratorChoice::Auto)]
    pub(crate) generator: GeneratorChoice,
    /// The model: its name on the OpenAI-compatible server (default gpt-4o-mini), or for the
    /// local generator a model id (default qwen2.5-coder-0.5b-instruct, see
    /// `scripts/fetch-llm.sh`) or the path of a GGUF file.
    #[arg(long, global = true, env = "LLM_MODEL")]
    pub(crate) llm_model: Option<String>,
    /// Sampling temperature, 0.0..=2.0 (0: greedy).
    #[arg(long, global = true, env = "LLM_TEMPERATURE", default_value_t = 0.1)]
    pub(crate) llm_temperature: f32,
    /// Answer tokens at most, 1..=8192.
    #[arg(long, global = true, env = "LLM_MAX_TOKENS", default_value_t = 512)]
    pub(crate) llm_max_tokens: u32,
    /// The model's context window in tokens (prompt and answer); sources are packed under it.
    /// Default: 8192 for a server, the model's own (at most 8192) for a local model.
    #[arg(long, global = true, env = "LLM_CONTEXT_TOKENS")]
    pub(crate) llm_context_tokens: Option<usize>,
    /// Threads of the local model (default: one per core).
    #[arg(long, global = true, env = "RAGD_LLM_THREADS")]
    pub(crate) llm_threads: Option<usize>,
    /// Questions that may wait for the local model; more get the extractive answer at once.
    #[arg(long, global = true, env = "RAGD_LLM_QUEUE", default_value_t = 16)]
    pub(crate) llm_queue: usize,
    /// The OpenAI-compatible API root (…/v1): OpenAI, vLLM, llama.cpp's server, Ollama,
    /// LiteLLM, or another ragd.
    #[arg(long, global = true, env = "OPENAI_BASE_URL")]
    pub(crate) openai_base_url: Option<String>,
    /// The bearer key of that server.
    #[arg(long, global = true, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub(crate) openai_api_key: Option<String>,
    /// Seconds to connect to the LLM server.
    #[arg(
        long,
        global = true,
        env = "RAGD_LLM_CONNECT_TIMEOUT_SECS",
        default_value_t = 5
    )]
    pub(crate) llm_connect_timeout_secs: u64,
    /// Seconds the LLM server may stay silent (before its first token, or between two).
    #[arg(
        long,
        global = true,
        env = "RAGD_LLM_READ_TIMEOUT_SECS",
        default_value_t = 60
    )]
    pub(crate) llm_read_timeout_secs: u64,
    /// Seconds one whole generation may take.
    #[arg(
        long,
        global = true,
        env = "RAGD_LLM_TIMEOUT_SECS",
        default_value_t = 300
    )]
    pub(crate) llm_timeout_secs: u64,
    /// Retries of a failed call (connection errors, 429, 5xx) before the extractive fallback.
    #[arg(long, global = true, env = "RAGD_LLM_RETRIES", default_value_t = 2)]
    pub(crate) llm_retries: u32,
    /// Tokens of earlier turns shown to the model when a follow-up question is made standalone.
    #[arg(
        long,
        global = true,
        env = "RAGD_HISTORY_TOKENS",
        default_value_t = 1024
    )]
    pub(crate) history_tokens: usize,
    /// Let the model rewrite follow-up questions before retrieval instead of putting the previous
    /// question in front (which retrieved better on bench/followups.toml).
    #[arg(long, global = true, env = "RAGD_REWRITE_WITH_MODEL", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false")]
    pub(crate) rewrite_with_model: bool,
    /// Turns kept per conversation (older ones are deleted), 1..=10000.
    #[arg(
        long,
        global = true,
        env = "RAGD_CONVERSATION_MAX_TURNS",
        default_value_t = 100
    )]
    pub(crate) conversation_max_turns: usize,
    /// The longest wait before a retry, in seconds; a longer `Retry-After` falls back at once.
    #[arg(
        long,
        global = true,
        env = "RAGD_LLM_MAX_RETRY_WAIT_SECS",
        default_value_t = 10
    )]
    pub(crate) llm_max_retry_wait_secs: u64,
}

impl GeneratorArgs {
    /// Validates the settings, naming the one to fix.
    pub(crate) fn to_config(
        &self,
        ca_file: Option<std::path::PathBuf>,
        models_dir: &std::path::Path,
    ) -> anyhow::Result<(GeneratorConfig, GenerationSettings)> {
        if !(0.0..=2.0).contains(&self.llm_temperature) {
            bail!("LLM_TEMPERATURE must be between 0.0 and 2.0");
        }
        if !(1..=8192).contains(&self.llm_max_tokens) {
            bail!("LLM_MAX_TOKENS must be between 1 and 8192");
        }
        if self.llm_context_tokens.is_some_and(|n| n < 512) {
            bail!("LLM_CONTEXT_TOKENS must be at least 512");
        }
        if self.llm_threads == Some(0) || self.llm_queue == 0 {
            bail!("RAGD_LLM_THREADS and RAGD_LLM_QUEUE must be at least 1");
        }
        for (name, value) in [
            (
                "RAGD_LLM_CONNECT_TIMEOUT_SECS",
                self.llm_connect_timeout_secs,
            ),
            ("RAGD_LLM_READ_TIMEOUT_SECS", self.llm_read_timeout_secs),
            ("RAGD_LLM_TIMEOUT_SECS", self.llm_timeout_secs),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if !(1..=10_000).contains(&self.conversation_max_turns) {
            bail!("RAGD_CONVERSATION_MAX_TURNS must be between 1 and 10000");
        }
        let settings = GenerationSettings {
            max_tokens: self.llm_max_tokens,
            temperature: self.llm_temperature,
            history_tokens: self.history_tokens,
            max_turns: self.conversation_max_turns,
            rewrite_with_model: self.rewrite_with_model,
        };
        let base_url = self
            .openai_base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let api_key = self
            .openai_api_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty());
        let local = ragd_backends::generate::resolve_local(
            self.llm_model
                .as_deref()
                .unwrap_or(ragd_backends::generate::DEFAULT_LOCAL_MODEL),
            models_dir,
        );
        let choice = match self.generator {
            GeneratorChoice::Auto if base_url.is_some() || api_key.is_some() => {
                GeneratorChoice::Openai
            }
            GeneratorChoice::Auto if cfg!(feature = "llm-local") && local.0.is_file() => {
                GeneratorChoice::Local
            }
            GeneratorChoice::Auto => GeneratorChoice::Extractive,
            other @ (GeneratorChoice::Local
            | GeneratorChoice::Openai
            | GeneratorChoice::Extractive) => other,
        };
        let config = match choice {
            GeneratorChoice::Extractive | GeneratorChoice::Auto => GeneratorConfig::Extractive,
            GeneratorChoice::Local => self.local(local)?,
            GeneratorChoice::Openai => {
                let base_url = base_url.unwrap_or("https://api.openai.com/v1");
                let base_url = reqwest::Url::parse(base_url)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .with_context(|| {
                        format!("OPENAI_BASE_URL must be an http(s) URL, not {base_url:?}")
                    })?;
                GeneratorConfig::OpenAi(Box::new(OpenAiSettings {
                    config: OpenAiConfig {
                        base_url,
                        api_key: api_key.map(str::to_owned),
                        model: self
                            .llm_model
                            .clone()
                            .unwrap_or_else(|| "gpt-4o-mini".to_owned()),
                        context_tokens: self.llm_context_tokens.unwrap_or(8192),
                        retries: self.llm_retries,
                        max_retry_wait: Duration::from_secs(self.llm_max_retry_wait_secs),
                    },
                    http: OutboundConfig {
                        ca_file,
                        connect_timeout: Duration::from_secs(self.llm_connect_timeout_secs),
                        timeout: Duration::from_secs(self.llm_timeout_secs),
                        read_timeout: Some(Duration::from_secs(self.llm_read_timeout_secs)),
                    },
                }))
            }
        };
        Ok((config, settings))
    }
}

impl GeneratorArgs {
    #[cfg(feature = "llm-local")]
    fn local(
        &self,
        (model_path, model_id): (std::path::PathBuf, String),
    ) -> anyhow::Result<GeneratorConfig> {
        Ok(GeneratorConfig::Local(
            ragd_backends::generate::local::LocalConfig {
                model_path,
                model_id,
                threads: self
                    .llm_threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
                context_tokens: self.llm_context_tokens,
                queue: self.llm_queue,
            },
        ))
    }

    #[cfg(not(feature = "llm-local"))]
    fn local(&self, _: (std::path::PathBuf, String)) -> anyhow::Result<GeneratorConfig> {
        bail!("RAGD_GENERATOR=local: this ragd was built without the llm-local feature")
    }
}
