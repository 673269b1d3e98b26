//! Answers as Server-Sent Events: the one driver behind `/query/stream` and the streamed
//! `/v1/chat/completions`. The answer runs in its own task inside the request's id and span;
//! its progress becomes events as it comes; when the client goes away (the event stream is
//! dropped) the answer is dropped too, which stops the generator.

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use ragd_core::RagService;
use ragd_core::service::{Dialogue, GuardedOutcome, Progress, ProgressSink, RetrieveRequest};
use tokio::sync::mpsc;

/// Events (and answer pieces) in flight to the client, at most.
const BUFFER: usize = 32;

/// A JSON event named `name` (unnamed when `None`).
pub(crate) fn json_event(name: Option<&str>, data: &impl serde::Serialize) -> Event {
    let event = Event::default();
    let event = match name {
        Some(name) => event.event(name),
        None => event,
    };
    event
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event("error").data("{}"))
}

/// Streams the work that `work` starts with a progress sink: `on_progress` turns each piece
/// of progress into events, `on_end` the outcome into the last ones (after what it awaits,
/// e.g. the answer's webhook event, is written).
pub(crate) fn progress_events<W, F, R, P, D, E>(
    work: W,
    mut on_progress: P,
    on_end: D,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<W, F, R, P, D, E>>
where
    W: FnOnce(ProgressSink) -> F + Send + 'static,
    F: Future<Output = R> + Send,
    R: Send,
    P: FnMut(Progress) -> Vec<Event> + Send + 'static,
    D: FnOnce(R) -> E + Send + 'static,
    E: Future<Output = Vec<Event>> + Send,
{
    let (events, stream) = mpsc::channel::<Result<Event, Infallible>>(BUFFER);
    let task = async move {
        let (progress, mut pieces) = mpsc::channel::<Progress>(BUFFER);
        let relay = async {
            while let Some(piece) = pieces.recv().await {
                for event in on_progress(piece) {
                    if events.send(Ok(event)).await.is_err() {
                        // The client is gone: dropping `pieces` stops the work.
                        return;
                    }
                }
            }
        };
        let both = async {
            let (done, ()) = tokio::join!(work(progress), relay);
            done
        };
        let done = tokio::select! {
            done = both => done,
            () = events.closed() => return,
        };
        for event in on_end(done).await {
            if events.send(Ok(event)).await.is_err() {
                return;
            }
        }
    };
    tokio::spawn(crate::telemetry::in_request(task));
    let stream = futures_util::stream::unfold(stream, |mut stream| async move {
        stream.recv().await.map(|event| (event, stream))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Streams the answer to `request` (see [`progress_events`]).
pub(crate) fn answer_events<P, D, E>(
    service: Arc<RagService>,
    request: RetrieveRequest,
    guardrails: bool,
    dialogue: Option<Dialogue>,
    on_progress: P,
    on_end: D,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<P, D, E>>
where
    P: FnMut(Progress) -> Vec<Event> + Send + 'static,
    D: FnOnce(ragd_core::Result<GuardedOutcome>) -> E + Send + 'static,
    E: Future<Output = Vec<Event>> + Send,
{
    progress_events(
        move |sink| async move {
            service
                .guarded_query(&request, guardrails, dialogue.as_ref(), Some(sink))
                .await
        },
        on_progress,
        on_end,
    )
}
