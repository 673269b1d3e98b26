//! The OpenAI-compatible face of ragd: `POST /v1/chat/completions` (streaming and not) and
//! `GET /v1/models`, so any OpenAI client or chat UI can ask questions of a tenant's documents.
//!
//! The model name picks what is searched: `ragd` (all of the caller's collections) or
//! `ragd:<collection>`. The last user message is the question; the same tokens and API keys
//! authenticate (`Authorization: Bearer …`), and the same guardrails apply. The answer keeps
//! its `[n]` citations, followed by a "Sources:" list of the cited sources so a plain chat UI
//! shows them, and the response carries the sources themselves in an extra `sources` field (on
//! the first and the last chunk when streaming) for clients that know about them. Unknown
//! request fields are ignored, as OpenAI's own API does.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use ragd_api::Source;
use ragd_core::RagService;
use ragd_core::accounts::AccessScope;
use ragd_core::generation::rewrite::Exchange;
use ragd_core::generation::{ChatMessage, Role};
use ragd_core::service::{
    ChatRequest as DirectChat, Dialogue, Progress, QueryOutcome, RetrieveRequest,
};
use ragd_core::types::{Threshold, TopK};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::convert;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::JsonObject;
use crate::state::AppState;
use crate::streaming::json_event;
use crate::telemetry::current_request_id;

/// The model name that searches all of the caller's collections.
const ALL: &str = "ragd";
/// Sources searched per question.
const SOURCES: usize = 5;
/// Minimum calibrated similarity of a source (the chapter's default).
const THRESHOLD: f32 = 0.7;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
struct ChatRequest {
    model: String,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f32>,
}

impl Content {
    fn text(&self) -> String {
        match self {
            Content::Text(text) => text.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter(|p| p.kind == "text")
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::validation(vec![ragd_api::FieldError {
        field: field.to_owned(),
        message: message.into(),
        kind: "invalid".to_owned(),
    }])
}

/// The collection a model name selects: `None` for all of them.
fn collection_of(model: &str) -> ApiResult<Option<String>> {
    if model == ALL {
        return Ok(None);
    }
    match model.strip_prefix("ragd:") {
        Some(name) if !name.is_empty() && name.len() <= 128 => Ok(Some(name.to_owned())),
        _ => Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "model {model:?} not found: use \"ragd\" or \"ragd:<collection>\" (GET /v1/models)"
            ),
        )),
    }
}

/// The earlier turns of a chat: each user message with the assistant reply after it.
fn exchanges_of(messages: &[Message]) -> Vec<Exchange> {
    let earlier = &messages[..messages.len().saturating_sub(1)];
    let mut exchanges = Vec::new();
    let mut question: Option<String> = None;
    for message in earlier {
        let text = message
            .content
            .as_ref()
            .map(Content::text)
            .unwrap_or_default();
        match message.role.as_str() {
            "user" => question = Some(text),
            "assistant" => {
                if let Some(question) = question.take() {
                    exchanges.push(Exchange {
                        question,
                        answer: text,
                    });
                }
            }
            _ => {}
        }
    }
    exchanges
}

/// The question of a chat: its last message, which must be the user's.
fn question_of(messages: &[Message]) -> ApiResult<String> {
    let last = messages
        .last()
        .ok_or_else(|| invalid("messages", "messages must not be empty"))?;
    if last.role != "user" {
        return Err(invalid("messages", "the last message must be the user's"));
    }
    let text = last.content.as_ref().map(Content::text).unwrap_or_default();
    let text = text.trim();
    let chars = text.chars().count();
    if !(3..=1000).contains(&chars) {
        return Err(invalid(
            "messages",
            "the question (the last user message) must have 3..=1000 characters",
        ));
    }
    Ok(text.to_owned())
}

/// The cited sources as a plain-text list to end the answer with.
fn sources_footer(outcome: &QueryOutcome) -> String {
    let lines: Vec<String> = outcome
        .answer
        .cited
        .iter()
        .filter_map(|&n| outcome.hits.get(n - 1).map(|hit| (n, hit)))
        .map(|(n, hit)| {
            let document = &hit.chunk.document;
            let page = hit
                .chunk
                .chunk
                .page
                .map(|p| format!(", p. {p}"))
                .unwrap_or_default();
            format!(
                "[{n}] {} ({}{page})",
                document.title, document.source.source
            )
        })
        .collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!("\n\nSources:\n{}", lines.join("\n"))
    }
}

fn usage(outcome: &QueryOutcome) -> Value {
    let u = outcome.usage.unwrap_or_default();
    json!(convert::usage(u))
}

fn completion_id() -> String {
    format!("chatcmpl-{}", current_request_id())
}

/// Ask the caller's documents through the OpenAI chat completions protocol.
#[utoipa::path(
    post, path = "/v1/chat/completions", tag = "openai",
    request_body(content = Object, description = "an OpenAI chat completion request; `model` is `ragd` or `ragd:<collection>`"),
    responses(
        (status = 200, description = "a `chat.completion` (or `text/event-stream` of `chat.completion.chunk`s with `stream: true`), with an extra `sources` field"),
        (status = 401, body = ragd_api::ErrorBody),
        (status = 404, body = ragd_api::ErrorBody, description = "unknown model"),
        (status = 422, body = ragd_api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    principal.require(AccessScope::Query)?;
    let chat: ChatRequest = serde_json::from_value(Value::Object(body))
        .map_err(|e| invalid("body", format!("not a chat completion request: {e}")))?;
    let service = Arc::clone(&state.services()?.service);
    if service.chat_model() == Some(chat.model.as_str()) {
        return direct(state, service, chat).await;
    }
    let collection = collection_of(&chat.model)?;
    let query = question_of(&chat.messages)?;
    let earlier = exchanges_of(&chat.messages);
    let dialogue = (!earlier.is_empty()).then_some(Dialogue::Given(earlier));
    let request = RetrieveRequest {
        tenant: principal.tenant().clone(),
        collection,
        query,
        k: TopK::new(SOURCES)?,
        threshold: Threshold::new(THRESHOLD)?,
        mode: None,
        rerank: None,
    };
    let created = chrono::Utc::now().timestamp();
    if chat.stream {
        let include_usage = chat.stream_options.unwrap_or_default().include_usage;
        return Ok(stream(
            state,
            principal,
            service,
            request,
            dialogue,
            chat.model,
            created,
            include_usage,
        )
        .into_response());
    }
    let started = std::time::Instant::now();
    super::query::received(&principal, &request.query);
    let guarded = match service
        .guarded_query(&request, true, dialogue.as_ref(), None)
        .await
    {
        Ok(guarded) => guarded,
        Err(err) => {
            let err = ApiError::from(err);
            super::query::failed(&state, &principal, &request.query, &err).await;
            return Err(err);
        }
    };
    let outcome = &guarded.outcome;
    super::query::record_answer(&state, outcome);
    // The same events as /query: the log lines and the webhooks' query_completed.
    let answered = convert::query_response(
        crate::telemetry::current_request_id(),
        request.query.clone(),
        outcome,
        started,
        guarded.triggered.clone(),
    );
    super::query::completed(&state, &principal, &answered).await;
    let sources: Vec<Source> = outcome.hits.iter().map(convert::source).collect();
    Ok(Json(json!({
        "id": completion_id(),
        "object": "chat.completion",
        "created": created,
        "model": chat.model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": format!("{}{}", outcome.answer.text, sources_footer(outcome)),
            },
            "finish_reason": "stop",
        }],
        "usage": usage(outcome),
        "sources": sources,
        "confidence": outcome.answer.confidence,
        "guardrails_triggered": guarded.triggered,
    }))
    .into_response())
}

#[allow(clippy::too_many_arguments)]
fn stream(
    state: AppState,
    principal: Principal,
    service: Arc<RagService>,
    request: RetrieveRequest,
    dialogue: Option<Dialogue>,
    model: String,
    created: i64,
    include_usage: bool,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>> + use<>> {
    let id = completion_id();
    let chunk = {
        let (id, model) = (id.clone(), model.clone());
        move |delta: Value, finish: Option<&str>| {
            json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            })
        }
    };
    let first = chunk.clone();
    let on_progress = move |piece: Progress| {
        vec![match piece {
            Progress::Sources(hits) => {
                let sources: Vec<Source> = hits.iter().map(convert::source).collect();
                let mut opening = first(json!({"role": "assistant", "content": ""}), None);
                opening["sources"] = json!(sources);
                json_event(None, &opening)
            }
            Progress::Token(text) => json_event(None, &first(json!({ "content": text }), None)),
        }]
    };
    let started = std::time::Instant::now();
    let query = request.query.clone();
    super::query::received(&principal, &query);
    // The answer's webhook event is written before its last frames are sent, as for `/query`.
    let on_end = move |answered: ragd_core::Result<ragd_core::service::GuardedOutcome>| async move {
        let guarded = match answered {
            Ok(guarded) => guarded,
            Err(err) => {
                let err = ApiError::from(err);
                super::query::failed(&state, &principal, &query, &err).await;
                let body = err.into_body().1;
                return vec![
                    json_event(
                        None,
                        &json!({"error": {"message": body.message, "type": body.error, "code": body.error}}),
                    ),
                    Event::default().data("[DONE]"),
                ];
            }
        };
        let outcome = &guarded.outcome;
        super::query::record_answer(&state, outcome);
        let answered = convert::query_response(
            crate::telemetry::current_request_id(),
            query,
            outcome,
            started,
            guarded.triggered.clone(),
        );
        super::query::completed(&state, &principal, &answered).await;
        let mut events = Vec::new();
        let footer = sources_footer(outcome);
        if !footer.is_empty() {
            events.push(json_event(None, &chunk(json!({ "content": footer }), None)));
        }
        let mut last = chunk(json!({}), Some("stop"));
        let sources: Vec<Source> = outcome.hits.iter().map(convert::source).collect();
        last["sources"] = json!(sources);
        last["confidence"] = json!(outcome.answer.confidence);
        last["guardrails_triggered"] = json!(guarded.triggered);
        events.push(json_event(None, &last));
        if include_usage {
            events.push(json_event(
                None,
                &json!({
                    "id": id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage(outcome),
                }),
            ));
        }
        events.push(Event::default().data("[DONE]"));
        events
    };
    crate::streaming::answer_events(service, request, true, dialogue, on_progress, on_end)
}

fn role_of(role: &str) -> ApiResult<Role> {
    match role {
        "system" | "developer" => Ok(Role::System),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        other => Err(invalid(
            "messages",
            format!("role {other:?} is not supported (system, developer, user, assistant)"),
        )),
    }
}

/// A chat with the model itself (no retrieval): the model name is the generator's.
async fn direct(
    state: AppState,
    service: Arc<RagService>,
    chat: ChatRequest,
) -> ApiResult<Response> {
    let messages = chat
        .messages
        .iter()
        .map(|m| {
            Ok(ChatMessage::new(
                role_of(&m.role)?,
                m.content.as_ref().map(Content::text).unwrap_or_default(),
            ))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    if messages.last().is_none_or(|m| m.role != Role::User) {
        return Err(invalid("messages", "the last message must be the user's"));
    }
    let request = DirectChat {
        messages,
        max_tokens: chat.max_completion_tokens.or(chat.max_tokens),
        temperature: chat.temperature,
    };
    let created = chrono::Utc::now().timestamp();
    let id = completion_id();
    if !chat.stream {
        let done = service.chat(request, None).await?;
        super::query::record_usage(&state, &done.model, done.usage);
        return Ok(Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": chat.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": done.text},
                "finish_reason": done.finish.as_str(),
            }],
            "usage": convert::usage(done.usage),
        }))
        .into_response());
    }
    let include_usage = chat.stream_options.unwrap_or_default().include_usage;
    let model = chat.model;
    let chunk = move |delta: Value, finish: Option<&str>, usage: Option<Value>| -> Value {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        if let Some(usage) = usage {
            chunk["choices"] = json!([]);
            chunk["usage"] = usage;
        }
        chunk
    };
    let mut opened = false;
    let opening = chunk.clone();
    let on_progress = move |piece: Progress| {
        let mut events = Vec::new();
        if !opened {
            opened = true;
            events.push(json_event(
                None,
                &opening(json!({"role": "assistant", "content": ""}), None, None),
            ));
        }
        if let Progress::Token(text) = piece {
            events.push(json_event(
                None,
                &opening(json!({ "content": text }), None, None),
            ));
        }
        events
    };
    let on_end = move |done: ragd_core::Result<ragd_core::service::ChatOutcome>| async move {
        let mut last = Vec::new();
        match done {
            Ok(done) => {
                last.push(json_event(
                    None,
                    &chunk(json!({}), Some(done.finish.as_str()), None),
                ));
                if include_usage {
                    last.push(json_event(
                        None,
                        &chunk(json!({}), None, Some(json!(convert::usage(done.usage)))),
                    ));
                }
            }
            Err(err) => {
                let body = ApiError::from(err).into_body().1;
                last.push(json_event(None, &json!({"error": {"message": body.message, "type": body.error, "code": body.error}})));
            }
        }
        last.push(Event::default().data("[DONE]"));
        last
    };
    Ok(crate::streaming::progress_events(
        move |sink| async move { service.chat(request, Some(sink)).await },
        on_progress,
        on_end,
    )
    .into_response())
}

/// The models: `ragd` (all of the caller's collections) and `ragd:<collection>` for each.
#[utoipa::path(
    get, path = "/v1/models", tag = "openai",
    responses(
        (status = 200, description = "an OpenAI model list"),
        (status = 401, body = ragd_api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn models(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    principal.require(AccessScope::Query)?;
    let names = state
        .services()?
        .service
        .collection_names(principal.tenant())
        .await?;
    let created = state_created(&state);
    let service = &state.services()?.service;
    let data: Vec<Value> = std::iter::once(ALL.to_owned())
        .chain(names.into_iter().map(|n| format!("ragd:{n}")))
        .chain(service.chat_model().map(str::to_owned))
        .map(|id| json!({"id": id, "object": "model", "created": created, "owned_by": "ragd"}))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

fn state_created(state: &AppState) -> i64 {
    let up = chrono::Duration::from_std(state.started.elapsed()).unwrap_or_default();
    (chrono::Utc::now() - up).timestamp()
}
