//! A client of the OpenAI chat completions protocol (`POST {base}/chat/completions`), streaming
//! (Server-Sent Events) or not.
//!
//! - **Timeouts**: connect, idle read (the gap between two pieces of a stream) and total, from
//!   [`crate::outbound::OutboundConfig`].
//! - **Retries**: connection failures, timeouts before the response, 429 and 500/502/503/504
//!   are retried up to `retries` times with exponential backoff and jitter, waiting what
//!   `Retry-After` says when the server says it (seconds or an HTTP date) unless that is over
//!   `max_retry_wait` — then the call fails at once rather than hold the question. Nothing is
//!   retried once an answer has started.
//! - **Cancellation**: dropping the future, or the sink's receiver, drops the connection.
//! - **Limits**: a stream line over 1 MiB or a non-streamed body over 4 MiB is refused.
//! - **Tokens**: the usage the server reports (`stream_options.include_usage` when streaming);
//!   prompts are sized with an estimate of one token per 3 bytes, since the remote tokenizer
//!   is not known here — set the context (`LLM_CONTEXT_TOKENS`) to the model's.
//!
//! Every failure is [`Error::Unavailable`] naming the server and the reason (never the key), so
//! the service falls back to the extractive answer and says so.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use ragd_core::generation::{FinishReason, Generated, GenerationRequest, TokenSink, Usage};
use ragd_core::ports::{Generator, TokenCounter};
use ragd_core::{Error, Result};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A stream line longer than this is refused.
const MAX_LINE_BYTES: usize = 1 << 20;
/// A non-streamed body larger than this is refused.
const MAX_BODY_BYTES: usize = 4 << 20;
/// The first backoff; doubled at each retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Settings of the client.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// The API root, e.g. `https://api.openai.com/v1` (`OPENAI_BASE_URL`).
    pub base_url: reqwest::Url,
    /// The bearer key (`OPENAI_API_KEY`); some local servers need none.
    pub api_key: Option<String>,
    /// The model asked for (`LLM_MODEL`).
    pub model: String,
    /// The model's context window in tokens (`LLM_CONTEXT_TOKENS`).
    pub context_tokens: usize,
    /// Retries after the first attempt (`RAGD_LLM_RETRIES`).
    pub retries: u32,
    /// The longest wait before a retry; a `Retry-After` over it fails the call at once.
    pub max_retry_wait: Duration,
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url.as_str())
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("context_tokens", &self.context_tokens)
            .field("retries", &self.retries)
            .field("max_retry_wait", &self.max_retry_wait)
            .finish()
    }
}

/// The generator; see the module docs.
#[derive(Debug)]
pub struct OpenAiGenerator {
    config: OpenAiConfig,
    client: reqwest::Client,
    endpoint: reqwest::Url,
}

/// Why one attempt failed, and whether another may succeed.
#[derive(Debug)]
struct Failed {
    reason: String,
    retry: Option<Option<Duration>>,
}

impl Failed {
    fn permanent(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry: None,
        }
    }
    fn transient(reason: impl Into<String>, after: Option<Duration>) -> Self {
        Self {
            reason: reason.into(),
            retry: Some(after),
        }
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Between half and all of `base`, at random.
fn jittered(base: Duration) -> Duration {
    let random = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
    base / 2 + base * random / 2000
}

fn is_transient(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

/// The server's own error message, if its body has one, cut to 200 characters.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message").or_else(|| v.get("detail")))
        .and_then(Value::as_str)
        .map_or_else(|| String::from_utf8_lossy(body).into_owned(), str::to_owned);
    message.chars().take(200).collect()
}

fn usage_of(value: &Value) -> Option<Usage> {
    let usage = value.get("usage").filter(|u| !u.is_null())?;
    let count = |field: &str| {
        usage
            .get(field)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0)
    };
    Some(Usage {
        prompt_tokens: count("prompt_tokens"),
        completion_tokens: count("completion_tokens"),
    })
}

fn finish_of(value: &str) -> FinishReason {
    if value == "length" {
        FinishReason::Length
    } else {
        FinishReason::Stop
    }
}

impl OpenAiGenerator {
    /// A generator calling `config.base_url` through `client` (build it with
    /// [`crate::outbound::client`], with a read timeout).
    pub fn new(config: OpenAiConfig, client: reqwest::Client) -> Result<Self> {
        let mut base = config.base_url.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let endpoint = base
            .join("chat/completions")
            .map_err(|e| Error::invalid(format!("OPENAI_BASE_URL: {e}")))?;
        Ok(Self {
            config,
            client,
            endpoint,
        })
    }

    fn body(&self, request: &GenerationRequest, stream: bool) -> Value {
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": stream,
        });
        if stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    /// One attempt up to the response headers.
    #[tracing::instrument(skip_all, name = "llm.request", fields(otel.kind = "client", model = %self.config.model))]
    async fn send(&self, body: &Value) -> std::result::Result<reqwest::Response, Failed> {
        let mut call =
            crate::outbound::with_trace_context(self.client.post(self.endpoint.clone())).json(body);
        if let Some(key) = &self.config.api_key {
            call = call.bearer_auth(key);
        }
        let response = call.send().await.map_err(|e| {
            if e.is_connect() || e.is_timeout() || e.is_request() {
                Failed::transient(format!("cannot reach the server: {e}"), None)
            } else {
                Failed::permanent(e.to_string())
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let wait = retry_after(response.headers());
        let body = read_capped(response, 64 * 1024).await.unwrap_or_default();
        let reason = format!("HTTP {status}: {}", error_message(&body));
        Err(if is_transient(status) {
            Failed::transient(reason, wait)
        } else {
            Failed::permanent(reason)
        })
    }

    /// Sends with retries; see the module docs.
    async fn send_with_retries(
        &self,
        body: &Value,
        sink: Option<&TokenSink>,
    ) -> Result<reqwest::Response> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let failed = match self.send(body).await {
                Ok(response) => return Ok(response),
                Err(failed) => failed,
            };
            let unavailable = |why: &str| {
                Error::Unavailable(format!("{} at {}: {why}", self.config.model, self.endpoint))
            };
            let Some(after) = failed.retry else {
                return Err(unavailable(&failed.reason));
            };
            if attempt >= self.config.retries {
                return Err(unavailable(&format!(
                    "{} (after {} attempts)",
                    failed.reason,
                    attempt + 1
                )));
            }
            let wait = after.unwrap_or_else(|| jittered(backoff));
            if wait > self.config.max_retry_wait {
                return Err(unavailable(&format!(
                    "{} (Retry-After {} s is over the {} s limit)",
                    failed.reason,
                    wait.as_secs(),
                    self.config.max_retry_wait.as_secs()
                )));
            }
            tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, reason = %failed.reason, "retrying the generator");
            match sink {
                Some(sink) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = sink.closed() => return Err(unavailable("the client went away")),
                    }
                }
                None => tokio::time::sleep(wait).await,
            }
            backoff = (backoff * 2).min(self.config.max_retry_wait);
            attempt += 1;
        }
    }

    async fn complete(&self, request: &GenerationRequest, started: Instant) -> Result<Generated> {
        let body = self.body(request, false);
        let response = self.send_with_retries(&body, None).await?;
        let bytes = read_capped(response, MAX_BODY_BYTES)
            .await
            .map_err(|e| self.unavailable(&e))?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| self.unavailable(&format!("the response is not JSON: {e}")))?;
        let choice = value
            .pointer("/choices/0")
            .ok_or_else(|| self.unavailable("the response has no choices"))?;
        let text = choice
            .pointer("/message/content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(Generated {
            usage: usage_of(&value).unwrap_or_default(),
            finish: finish_of(
                choice
                    .get("finish_reason")
                    .and_then(Value::as_str)
                    .unwrap_or("stop"),
            ),
            first_token: Some(started.elapsed()),
            text,
        })
    }

    async fn stream(
        &self,
        request: &GenerationRequest,
        sink: &TokenSink,
        started: Instant,
    ) -> Result<Generated> {
        let body = self.body(request, true);
        let mut response = self.send_with_retries(&body, Some(sink)).await?;
        let mut generated = Generated {
            text: String::new(),
            usage: Usage::default(),
            finish: FinishReason::Stop,
            first_token: None,
        };
        let mut deltas = 0u32;
        let mut usage = None;
        let mut buffer: Vec<u8> = Vec::new();
        loop {
            let chunk = tokio::select! {
                chunk = response.chunk() => chunk.map_err(|e| self.unavailable(&format!("reading the stream: {e}")))?,
                () = sink.closed() => {
                    generated.finish = FinishReason::Cancelled;
                    break;
                }
            };
            let Some(chunk) = chunk else { break };
            buffer.extend_from_slice(&chunk);
            let mut done = false;
            while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    done = true;
                    break;
                }
                let value: Value = serde_json::from_str(data)
                    .map_err(|e| self.unavailable(&format!("a stream event is not JSON: {e}")))?;
                if let Some(message) = value.pointer("/error/message").and_then(Value::as_str) {
                    return Err(self.unavailable(message));
                }
                if let Some(found) = usage_of(&value) {
                    usage = Some(found);
                }
                let Some(choice) = value.pointer("/choices/0") else {
                    continue;
                };
                if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                    generated.finish = finish_of(reason);
                }
                let delta = choice
                    .pointer("/delta/content")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if delta.is_empty() {
                    continue;
                }
                generated
                    .first_token
                    .get_or_insert_with(|| started.elapsed());
                generated.text.push_str(delta);
                deltas += 1;
                if sink.send(delta.to_owned()).await.is_err() {
                    generated.finish = FinishReason::Cancelled;
                    done = true;
                    break;
                }
            }
            if done {
                break;
            }
            if buffer.len() > MAX_LINE_BYTES {
                return Err(self.unavailable("a stream line is over 1 MiB"));
            }
        }
        generated.usage = usage.unwrap_or(Usage {
            prompt_tokens: 0,
            completion_tokens: deltas,
        });
        Ok(generated)
    }

    fn unavailable(&self, why: &str) -> Error {
        Error::Unavailable(format!("{} at {}: {why}", self.config.model, self.endpoint))
    }
}

/// Reads a body of at most `max` bytes.
async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> std::result::Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("the body is over {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl TokenCounter for OpenAiGenerator {
    fn count_tokens(&self, text: &str) -> usize {
        text.len().div_ceil(3)
    }
}

#[async_trait]
impl Generator for OpenAiGenerator {
    fn model_id(&self) -> &str {
        &self.config.model
    }

    fn context_tokens(&self) -> usize {
        self.config.context_tokens
    }

    async fn generate(
        &self,
        request: GenerationRequest,
        sink: Option<TokenSink>,
    ) -> Result<Generated> {
        let started = Instant::now();
        match sink {
            Some(sink) => self.stream(&request, &sink, started).await,
            None => self.complete(&request, started).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "3".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        headers.insert(
            reqwest::header::RETRY_AFTER,
            later.parse().unwrap_or_else(|_| unreachable!()),
        );
        let wait = retry_after(&headers).unwrap_or_default();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }

    #[test]
    fn jitter_stays_between_half_and_all() {
        for _ in 0..100 {
            let j = jittered(Duration::from_millis(1000));
            assert!(j >= Duration::from_millis(500) && j <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn server_errors_are_read_from_their_body() {
        assert_eq!(
            error_message(br#"{"error":{"message":"rate limited"}}"#),
            "rate limited"
        );
        assert_eq!(error_message(b"plain"), "plain");
    }
}
