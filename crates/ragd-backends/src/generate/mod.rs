//! Answer generators: `local::LocalGenerator` for a GGUF model in process (feature
//! `llm-local`), [`openai::OpenAiGenerator`] for any server speaking the OpenAI chat protocol
//! (OpenAI, vLLM, llama.cpp's server, Ollama, LiteLLM, another ragd).
//!
//! Which one runs is decided in [`crate::compose`]; without one, ragd answers extractively.

#[cfg(feature = "llm-local")]
pub mod local;
pub mod openai;

use std::sync::Arc;

use ragd_core::Result;
use ragd_core::ports::Generator;

use crate::outbound::OutboundConfig;

/// The local models `scripts/fetch-llm.sh` installs: `(id, file under MODELS_DIR/llm/)`.
pub const LOCAL_MODELS: &[(&str, &str)] = &[
    (
        "qwen2.5-coder-0.5b-instruct",
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    ),
    ("smollm2-135m-instruct", "smollm2-135m-instruct-q4_1.gguf"),
    (
        "qwen2.5-coder-1.5b-instruct",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    ),
];

/// The local model `make model` installs and `make run` answers with.
pub const DEFAULT_LOCAL_MODEL: &str = "qwen2.5-coder-0.5b-instruct";

/// Where a local model is: `model` is a known id (resolved under `models_dir/llm/`) or a GGUF
/// file. Returns the file and the id to report (the file's stem for a path).
pub fn resolve_local(model: &str, models_dir: &std::path::Path) -> (std::path::PathBuf, String) {
    match LOCAL_MODELS.iter().find(|(id, _)| *id == model) {
        Some((id, file)) => (models_dir.join("llm").join(file), (*id).to_owned()),
        None => {
            let path = std::path::PathBuf::from(model);
            let id = path
                .file_stem()
                .map_or_else(|| model.to_owned(), |s| s.to_string_lossy().into_owned());
            (path, id)
        }
    }
}

/// Which generator answers, with its settings.
#[derive(Debug, Clone, Default)]
pub enum GeneratorConfig {
    /// None: the extractive answer.
    #[default]
    Extractive,
    /// A server speaking the OpenAI chat protocol.
    OpenAi(Box<OpenAiSettings>),
    /// A GGUF model run in process.
    #[cfg(feature = "llm-local")]
    Local(local::LocalConfig),
}

/// A server speaking the OpenAI chat protocol, and how to reach it.
#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    /// The protocol settings.
    pub config: openai::OpenAiConfig,
    /// The HTTP client's timeouts and trust.
    pub http: OutboundConfig,
}

impl GeneratorConfig {
    /// Starts the generator (loading a local model's weights): `None` for the extractive
    /// answer. Blocking: call it off the async runtime.
    pub fn start(&self) -> Result<Option<Arc<dyn Generator>>> {
        match self {
            Self::Extractive => Ok(None),
            Self::OpenAi(settings) => {
                let client = crate::outbound::client(&settings.http)
                    .map_err(|e| ragd_core::Error::invalid(format!("{e:#}")))?;
                Ok(Some(Arc::new(openai::OpenAiGenerator::new(
                    settings.config.clone(),
                    client,
                )?)))
            }
            #[cfg(feature = "llm-local")]
            Self::Local(config) => Ok(Some(Arc::new(local::LocalGenerator::start(config)?))),
        }
    }
}
