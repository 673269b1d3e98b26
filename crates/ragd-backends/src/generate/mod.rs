//! Answer generators: [`openai::OpenAiGenerator`] for any server speaking the OpenAI chat
//! protocol (OpenAI, vLLM, llama.cpp's server, Ollama, LiteLLM, another ragd).
//!
//! Which one runs is decided in [`crate::compose`]; without one, ragd answers extractively.

pub mod openai;

use std::sync::Arc;

use ragd_core::Result;
use ragd_core::ports::Generator;

use crate::outbound::OutboundConfig;

/// Which generator answers, with its settings.
#[derive(Debug, Clone, Default)]
pub enum GeneratorConfig {
    /// None: the extractive answer.
    #[default]
    Extractive,
    /// A server speaking the OpenAI chat protocol.
    OpenAi(Box<OpenAiSettings>),
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
        }
    }
}
