//! The delivery worker: claims due deliveries with a lease (so instances never send one at the
//! same time), POSTs each signed body to its webhook, and records the attempt — delivered,
//! retried later with backoff and jitter, or a dead letter.
//!
//! Bounds: `RAGD_WEBHOOK_MAX_IN_FLIGHT` deliveries at once per instance, of which at most
//! `RAGD_WEBHOOK_CONCURRENCY` to one webhook (a claimed delivery over that bound is given back at
//! once, so a slow receiver cannot hold leases it is not using); `RAGD_WEBHOOK_TIMEOUT_SECS` per
//! attempt. A delivery claimed by an instance that dies is claimed again when its lease expires:
//! delivery is at least once, and the `webhook-id` header (the same on every attempt) lets a
//! receiver drop a repeat.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ragd_core::webhooks::{Attempt, ClaimedDelivery};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{Webhooks, sign};

/// How often due deliveries are looked for when nothing woke the worker (retries coming due,
/// events queued by other instances).
const POLL_EVERY: Duration = Duration::from_millis(500);
/// Most deliveries claimed at once.
const CLAIM_BATCH: u32 = 32;
/// How often the pending gauge is refreshed and old deliveries are pruned.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(10);
/// Largest part of a receiver's answer read (the rest is dropped with the connection).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Starts the worker; it stops when `cancel` fires, letting attempts in flight finish within the
/// delivery timeout.
pub(crate) fn start(
    webhooks: Arc<Webhooks>,
    metrics: bool,
    cancel: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let settings = webhooks.settings();
    let client = webhooks.guard().client(
        settings.timeout.min(Duration::from_secs(10)),
        settings.timeout,
    )?;
    let worker = Worker {
        owner: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
        // Long enough for one attempt (bounded by the timeout) with room to record it; a
        // delivery of an instance that died is retried by another this long after its claim.
        lease: settings.timeout * 2 + Duration::from_secs(5),
        in_flight: Arc::new(Semaphore::new(settings.in_flight as usize)),
        per_webhook: HashMap::new(),
        client,
        webhooks,
        metrics,
        cancel,
    };
    Ok(tokio::spawn(worker.run()))
}

struct Worker {
    webhooks: Arc<Webhooks>,
    client: reqwest::Client,
    owner: String,
    lease: Duration,
    in_flight: Arc<Semaphore>,
    per_webhook: HashMap<String, Arc<Semaphore>>,
    metrics: bool,
    cancel: CancellationToken,
}

/// What one delivery task needs.
#[derive(Clone)]
struct Sender {
    webhooks: Arc<Webhooks>,
    client: reqwest::Client,
    metrics: bool,
    /// Attempts to record, batched by [`record`].
    record: tokio::sync::mpsc::Sender<(String, Attempt)>,
}

/// Most attempts recorded in one transaction.
const RECORD_BATCH: usize = 256;

/// Records finished attempts, as many as are waiting in one transaction each time: under load
/// one commit covers many deliveries. Ends when every sender is gone.
async fn record(
    webhooks: Arc<Webhooks>,
    owner: String,
    mut attempts: tokio::sync::mpsc::Receiver<(String, Attempt)>,
) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while attempts.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        match webhooks.store().finish_deliveries(&owner, &batch).await {
            Ok(n) if n as usize == batch.len() => {}
            Ok(n) => tracing::warn!(
                lost = batch.len() - n as usize,
                "some deliveries' leases had expired; another instance may send them again"
            ),
            Err(err) => tracing::error!(%err, attempts = batch.len(),
                "could not record webhook attempts; they are retried when their leases expire"),
        }
        batch.clear();
    }
}

impl Worker {
    async fn run(mut self) {
        let mut tasks = JoinSet::new();
        let mut housekeeping = Instant::now().checked_sub(HOUSEKEEPING_EVERY);
        let (to_record, recorded) =
            tokio::sync::mpsc::channel(self.webhooks.settings().in_flight as usize * 2);
        let recorder = tokio::spawn(record(
            Arc::clone(&self.webhooks),
            self.owner.clone(),
            recorded,
        ));
        let sender = Sender {
            webhooks: Arc::clone(&self.webhooks),
            client: self.client.clone(),
            metrics: self.metrics,
            record: to_record,
        };
        while !self.cancel.is_cancelled() {
            while tasks.try_join_next().is_some() {}
            if housekeeping.is_none_or(|at| at.elapsed() >= HOUSEKEEPING_EVERY) {
                self.housekeeping().await;
                housekeeping = Some(Instant::now());
            }
            let full = self.claim(&sender, &mut tasks).await;
            if full {
                continue; // more may be due at once
            }
            tokio::select! {
                () = self.cancel.cancelled() => break,
                () = self.webhooks.wake().notified() => {}
                () = tokio::time::sleep(POLL_EVERY) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        // Attempts in flight finish (each is bounded by the delivery timeout); the leases of
        // anything cut short expire and another instance retries it.
        let grace = self.webhooks.settings().timeout + Duration::from_secs(1);
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tasks.abort_all();
        }
        drop(sender);
        drop(tasks);
        if let Err(err) = recorder.await {
            tracing::error!(%err, "the webhook attempt recorder panicked");
        }
    }

    /// Claims what the bounds allow and starts sending it; whether the batch was full.
    async fn claim(&mut self, sender: &Sender, tasks: &mut JoinSet<()>) -> bool {
        let free = u32::try_from(self.in_flight.available_permits()).unwrap_or(u32::MAX);
        if free == 0 {
            return false;
        }
        let limit = free.min(CLAIM_BATCH);
        let store = self.webhooks.store();
        let per_webhook = self.webhooks.settings().per_webhook;
        let batch = match store
            .claim_deliveries(&self.owner, self.lease, limit, per_webhook)
            .await
        {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(%err, "could not claim webhook deliveries; retrying");
                return false;
            }
        };
        // Claim again at once only when everything claimed could start: deliveries given back
        // (their webhook at its bound) wait for the next wake-up, not a busy loop.
        let claimed = batch.len();
        let per_webhook = per_webhook as usize;
        let mut give_back = Vec::new();
        for delivery in batch {
            let bound = self
                .per_webhook
                .entry(delivery.webhook_id.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(per_webhook)));
            let (Ok(one), Ok(all)) = (
                Arc::clone(bound).try_acquire_owned(),
                Arc::clone(&self.in_flight).try_acquire_owned(),
            ) else {
                give_back.push(delivery.id);
                continue;
            };
            let sender = sender.clone();
            // The delivery continues the trace of the request that caused its event.
            let span = crate::otel::span_from_traceparent(
                "webhook.deliver",
                delivery.traceparent.as_deref(),
            );
            tasks.spawn(async move { sender.send(delivery, one, all).await }.instrument(span));
        }
        let full = claimed == limit as usize && give_back.is_empty();
        if !give_back.is_empty()
            && let Err(err) = store.release_deliveries(&give_back, &self.owner).await
        {
            tracing::warn!(%err, "could not give deliveries back; their leases expire");
        }
        full
    }

    async fn housekeeping(&mut self) {
        let per_webhook = self.webhooks.settings().per_webhook as usize;
        self.per_webhook
            .retain(|_, bound| bound.available_permits() < per_webhook);
        let store = self.webhooks.store();
        if self.metrics
            && let Ok(pending) = store.pending_deliveries().await
        {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("rag_webhook_pending").set(pending as f64);
        }
        let keep = chrono::Duration::from_std(self.webhooks.settings().retention)
            .unwrap_or(chrono::Duration::days(7));
        if let Err(err) = store.prune_deliveries(Utc::now() - keep, 1000).await {
            tracing::warn!(%err, "could not prune old webhook deliveries");
        }
    }
}

/// A number in [0, 1) for the backoff's jitter.
fn jitter() -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let x = (uuid::Uuid::new_v4().as_u128() >> 75) as f64; // 53 random bits
    x / (1u64 << 53) as f64
}

impl Sender {
    async fn send(
        &self,
        delivery: ClaimedDelivery,
        _one: OwnedSemaphorePermit,
        _all: OwnedSemaphorePermit,
    ) {
        let started = Instant::now();
        let attempt_no = delivery.attempts.saturating_add(1);
        let (attempt, status) = self.attempt(&delivery, attempt_no).await;
        let took = started.elapsed().as_secs_f64();
        let outcome = match &attempt {
            Attempt::Delivered { .. } => "delivered",
            Attempt::Retry { .. } => "failed",
            Attempt::Dead { .. } => "dead",
        };
        match &attempt {
            Attempt::Delivered { status } => {
                tracing::info!(webhook_id = %delivery.webhook_id, delivery_id = %delivery.id,
                    event_type = %delivery.event_type, status_code = status, attempt = attempt_no,
                    elapsed_ms = took * 1e3, "webhook_sent");
            }
            Attempt::Retry { error, .. } | Attempt::Dead { error, .. } => {
                tracing::warn!(webhook_id = %delivery.webhook_id, delivery_id = %delivery.id,
                    event_type = %delivery.event_type, status_code = status, attempt = attempt_no,
                    dead_letter = outcome == "dead", error = %error, "webhook_failed");
            }
        }
        if self.metrics {
            metrics::counter!("rag_webhook_deliveries_total", "outcome" => outcome).increment(1);
            metrics::histogram!("rag_webhook_delivery_duration_seconds").record(took);
            if outcome == "delivered" {
                let lag = (Utc::now() - delivery.created_at).num_milliseconds().max(0);
                #[allow(clippy::cast_precision_loss)]
                metrics::histogram!("rag_webhook_lag_seconds").record(lag as f64 / 1e3);
            }
        }
        if self.record.send((delivery.id, attempt)).await.is_err() {
            tracing::error!(
                "the webhook attempt recorder is gone; the lease expires and the delivery is retried"
            );
        }
    }

    /// One attempt, and the receiver's status if it answered.
    async fn attempt(&self, delivery: &ClaimedDelivery, attempt_no: u32) -> (Attempt, Option<u16>) {
        let backoff = self.webhooks.settings().backoff;
        let failed = |status: Option<u16>, error: String| {
            if backoff.exhausted(attempt_no) {
                Attempt::Dead {
                    status,
                    error,
                    disable: false,
                }
            } else {
                let wait = backoff.delay(attempt_no, jitter());
                Attempt::Retry {
                    status,
                    error,
                    next_at: Utc::now()
                        + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1)),
                }
            }
        };
        let guard = self.webhooks.guard();
        let url = match guard.parse_url(&delivery.url) {
            Ok(url) => url,
            Err(err) => {
                let dead = Attempt::Dead {
                    status: None,
                    error: err.to_string(),
                    disable: false,
                };
                return (dead, None);
            }
        };
        // Again at each attempt: the name may resolve elsewhere now (DNS rebinding), and the
        // client's resolver is not asked for IP literals.
        if let Err(err) = guard.check(&url).await {
            let attempt = if err.is_transient() {
                failed(None, err.to_string())
            } else {
                Attempt::Dead {
                    status: None,
                    error: err.to_string(),
                    disable: false,
                }
            };
            return (attempt, None);
        }
        let headers = match sign::headers(
            delivery.secret.as_deref(),
            &delivery.id,
            Utc::now().timestamp(),
            delivery.body.as_bytes(),
        ) {
            Ok(headers) => headers,
            Err(err) => return (failed(None, format!("cannot sign: {err}")), None),
        };
        let mut request = ragd_backends::outbound::with_trace_context(
            self.client.post(url).body(delivery.body.clone()),
        );
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(mut response) => {
                let status = response.status();
                // Read a little of the answer so the connection can be reused; ignore the rest.
                let mut read = 0;
                while read < MAX_RESPONSE_BYTES {
                    match response.chunk().await {
                        Ok(Some(chunk)) => read += chunk.len(),
                        Ok(None) | Err(_) => break,
                    }
                }
                let code = status.as_u16();
                let attempt = if status.is_success() {
                    Attempt::Delivered { status: code }
                } else if status == reqwest::StatusCode::GONE {
                    Attempt::Dead {
                        status: Some(code),
                        error: "the receiver answered 410 Gone: the webhook was turned off".into(),
                        disable: true,
                    }
                } else {
                    failed(Some(code), format!("the receiver answered HTTP {code}"))
                };
                (attempt, Some(code))
            }
            Err(err) => {
                let what = if err.is_timeout() {
                    format!(
                        "no answer within {:?} (RAGD_WEBHOOK_TIMEOUT_SECS)",
                        self.webhooks.settings().timeout
                    )
                } else if err.is_connect() {
                    format!("cannot connect: {}", root_cause(&err))
                } else {
                    format!("request failed: {}", root_cause(&err))
                };
                (failed(None, what), None)
            }
        }
    }
}

/// The innermost cause of an error, which names what actually went wrong.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
