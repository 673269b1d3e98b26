//! Webhooks: tenant-owned subscriptions, events delivered from the durable outbox, signed, retried
//! with backoff, and never to an address the SSRF guard refuses.
//!
//! [`Webhooks`] is what the API and the query path use: it authorizes (admins of the tenant),
//! checks URLs with the [`guard`], and queues the query events the tenant's webhooks subscribe
//! to. Document and job events are queued by the stores in the transaction of their change. The
//! [`worker`] delivers.

pub(crate) mod config;
pub(crate) mod guard;
pub(crate) mod sign;
pub(crate) mod worker;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ragd_core::FileOutcome;
use ragd_core::authz::{AccessPolicy, Action, Actor};
use ragd_core::events::Event;
use ragd_core::types::{Scope, TenantId};
use ragd_core::webhooks::{
    Delivery, DeliveryStatus, EventType, NewWebhook, Notice, Webhook, WebhookPatch, WebhookStore,
};
use tokio::sync::Notify;

use crate::error::{ApiError, ApiResult};
use config::WebhookSettings;
use guard::WebhookGuard;

/// How long the snapshot of who subscribes to what is trusted; another instance's new webhook
/// receives events at most this much later.
const SUBSCRIPTIONS_TTL: Duration = Duration::from_secs(2);

/// Who subscribes to what, by tenant.
struct Subscriptions {
    loaded: Option<Instant>,
    by_tenant: HashMap<TenantId, Vec<EventType>>,
}

/// Webhooks as the transports use them.
pub(crate) struct Webhooks {
    store: Arc<dyn WebhookStore>,
    policy: AccessPolicy,
    guard: WebhookGuard,
    settings: WebhookSettings,
    subscriptions: RwLock<Subscriptions>,
    /// Wakes the local delivery worker when something was queued.
    wake: Arc<Notify>,
    /// Query events on their way into the outbox (see [`outbox_writer`]).
    outbox: tokio::sync::mpsc::Sender<Queued>,
}

/// Notices to write, and who waits for them to be written.
type Queued = (
    Vec<Notice>,
    tokio::sync::oneshot::Sender<Result<(), String>>,
);

/// Most notices written in one transaction.
const OUTBOX_BATCH: usize = 256;

/// Writes query events into the outbox, everything waiting in one transaction each time (group
/// commit): at c=8 one commit, one fsync, covers several answers, each of which is sent only once
/// its event is written. Ends when [`Webhooks`] is dropped.
async fn outbox_writer(
    store: Arc<dyn WebhookStore>,
    wake: Arc<Notify>,
    mut queued: tokio::sync::mpsc::Receiver<Queued>,
) {
    let mut batch = Vec::with_capacity(OUTBOX_BATCH);
    while queued.recv_many(&mut batch, OUTBOX_BATCH).await > 0 {
        let notices: Vec<Notice> = batch.iter().flat_map(|(n, _)| n.iter().cloned()).collect();
        let written = store.enqueue(&notices).await;
        if matches!(written, Ok(n) if n > 0) {
            wake.notify_one();
        }
        let outcome = written.map(|_| ()).map_err(|e| e.to_string());
        for (_, done) in batch.drain(..) {
            let _ = done.send(outcome.clone());
        }
    }
}

/// What a caller asks to register or change.
pub(crate) struct WebhookRequest {
    pub(crate) url: Option<String>,
    pub(crate) events: Option<Vec<EventType>>,
    pub(crate) secret: Option<Option<String>>,
    pub(crate) active: Option<bool>,
}

impl Webhooks {
    pub(crate) fn new(
        store: Arc<dyn WebhookStore>,
        policy: AccessPolicy,
        settings: WebhookSettings,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        let (outbox, queued) = tokio::sync::mpsc::channel(4 * OUTBOX_BATCH);
        tokio::spawn(outbox_writer(Arc::clone(&store), Arc::clone(&wake), queued));
        Self {
            store,
            policy,
            guard: WebhookGuard::new(settings.allowed.clone()),
            settings,
            subscriptions: RwLock::new(Subscriptions {
                loaded: None,
                by_tenant: HashMap::new(),
            }),
            wake,
            outbox,
        }
    }

    pub(crate) fn store(&self) -> &Arc<dyn WebhookStore> {
        &self.store
    }

    pub(crate) fn guard(&self) -> &WebhookGuard {
        &self.guard
    }

    pub(crate) fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    pub(crate) fn wake(&self) -> &Arc<Notify> {
        &self.wake
    }

    fn authorize(&self, actor: &Actor) -> ApiResult<()> {
        self.policy.authorize(actor, &Action::ManageWebhooks)?;
        Ok(())
    }

    /// A URL a webhook may use: parsed and its addresses admitted (422 otherwise).
    async fn admitted_url(&self, raw: &str) -> ApiResult<String> {
        let invalid = |message: String| {
            ApiError::validation(vec![ragd_api::FieldError {
                field: "url".into(),
                message,
                kind: "invalid".into(),
            }])
        };
        let url = self
            .guard
            .parse_url(raw.trim())
            .map_err(|e| invalid(e.to_string()))?;
        self.guard
            .check(&url)
            .await
            .map_err(|e| invalid(e.to_string()))?;
        Ok(url.to_string())
    }

    fn checked_secret(secret: Option<&str>) -> ApiResult<()> {
        if let Some(secret) = secret {
            let too_long = secret.len() > 512;
            let err = sign::check_secret(secret).err().map(|e| e.to_string());
            if let Some(message) =
                err.or_else(|| too_long.then(|| "the secret must be at most 512 bytes".to_owned()))
            {
                return Err(ApiError::validation(vec![ragd_api::FieldError {
                    field: "secret".into(),
                    message,
                    kind: "invalid".into(),
                }]));
            }
        }
        Ok(())
    }

    /// Registers a webhook of the actor's tenant.
    pub(crate) async fn register(
        &self,
        actor: &Actor,
        owner: &str,
        request: WebhookRequest,
    ) -> ApiResult<Webhook> {
        self.authorize(actor)?;
        let url = self
            .admitted_url(request.url.as_deref().unwrap_or_default())
            .await?;
        let secret = request.secret.flatten();
        Self::checked_secret(secret.as_deref())?;
        let webhook = self
            .store
            .create_webhook(
                NewWebhook {
                    id: format!("wh_{}", uuid::Uuid::new_v4().simple()),
                    tenant: actor.tenant.clone(),
                    owner: owner.to_owned(),
                    url,
                    events: request.events.unwrap_or_default(),
                    secret,
                },
                self.settings.max_per_tenant,
            )
            .await?;
        self.forget_subscriptions();
        // Only the URL's origin: a path or query may carry a secret (Slack-style hook URLs).
        tracing::info!(webhook_id = %webhook.id, tenant = %webhook.tenant.as_str(), owner, origin = %origin(&webhook.url),
            events = ?webhook.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(), "webhook_registered");
        Ok(webhook)
    }

    pub(crate) async fn list(&self, actor: &Actor) -> ApiResult<Vec<Webhook>> {
        self.authorize(actor)?;
        Ok(self.store.webhooks(&actor.tenant).await?)
    }

    pub(crate) async fn get(&self, actor: &Actor, id: &str) -> ApiResult<Webhook> {
        self.authorize(actor)?;
        Ok(self.store.webhook(&actor.tenant, id).await?)
    }

    pub(crate) async fn update(
        &self,
        actor: &Actor,
        id: &str,
        request: WebhookRequest,
    ) -> ApiResult<Webhook> {
        self.authorize(actor)?;
        let url = match request.url.as_deref() {
            Some(raw) => Some(self.admitted_url(raw).await?),
            None => None,
        };
        if let Some(Some(secret)) = &request.secret {
            Self::checked_secret(Some(secret))?;
        }
        let webhook = self
            .store
            .update_webhook(
                &actor.tenant,
                id,
                WebhookPatch {
                    url,
                    events: request.events,
                    secret: request.secret,
                    active: request.active,
                },
            )
            .await?;
        self.forget_subscriptions();
        Ok(webhook)
    }

    pub(crate) async fn delete(&self, actor: &Actor, id: &str) -> ApiResult<()> {
        self.authorize(actor)?;
        self.store.delete_webhook(&actor.tenant, id).await?;
        self.forget_subscriptions();
        Ok(())
    }

    /// Queues a `webhook_test` event to one webhook; the delivery id.
    pub(crate) async fn test(
        &self,
        actor: &Actor,
        id: &str,
        request_id: &str,
    ) -> ApiResult<String> {
        self.authorize(actor)?;
        let webhook = self.store.webhook(&actor.tenant, id).await?;
        let body = ragd_core::webhooks::body(
            EventType::WebhookTest,
            serde_json::json!({ "webhook_id": webhook.id }),
            request_id,
            chrono::Utc::now(),
        );
        let delivery = self.store.enqueue_test(&actor.tenant, id, &body).await?;
        self.wake.notify_one();
        Ok(delivery)
    }

    pub(crate) async fn deliveries(
        &self,
        actor: &Actor,
        id: &str,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> ApiResult<Vec<Delivery>> {
        self.authorize(actor)?;
        Ok(self
            .store
            .deliveries(&actor.tenant, id, status, limit)
            .await?)
    }

    fn forget_subscriptions(&self) {
        if let Ok(mut subs) = self.subscriptions.write() {
            subs.loaded = None;
        }
    }

    /// Whether any active webhook of `tenant` subscribes to `event` (a snapshot at most
    /// [`SUBSCRIPTIONS_TTL`] old; reloaded when older).
    async fn subscribed(&self, tenant: &TenantId, event: EventType) -> bool {
        let fresh = |subs: &Subscriptions| {
            subs.loaded
                .is_some_and(|at| at.elapsed() < SUBSCRIPTIONS_TTL)
                .then(|| {
                    subs.by_tenant
                        .get(tenant)
                        .is_some_and(|events| events.contains(&event))
                })
        };
        if let Some(answer) = self.subscriptions.read().ok().and_then(|s| fresh(&s)) {
            return answer;
        }
        match self.store.subscriptions().await {
            Ok(rows) => {
                let mut by_tenant: HashMap<TenantId, Vec<EventType>> = HashMap::new();
                for (t, events) in rows {
                    by_tenant.entry(t).or_default().extend(events);
                }
                let answer = by_tenant.get(tenant).is_some_and(|e| e.contains(&event));
                if let Ok(mut subs) = self.subscriptions.write() {
                    *subs = Subscriptions {
                        loaded: Some(Instant::now()),
                        by_tenant,
                    };
                }
                answer
            }
            // Unknown: queue it (the insert finds no webhook if there is none).
            Err(_) => true,
        }
    }

    /// Queues `ingestion_failed` for the files of a synchronous upload that could not be
    /// ingested (nothing of them was stored, so there is no write to join; a job's failures are
    /// recorded with the job's progress instead).
    pub(crate) async fn files_failed(&self, scope: &Scope, files: &[FileOutcome]) {
        let request_id = ragd_core::events::current_request_id();
        let now = chrono::Utc::now();
        let notices: Vec<Notice> = files
            .iter()
            .filter_map(|file| match file {
                FileOutcome::Failed { source, error } => Some(ragd_core::webhooks::notice_of(
                    &Event::IngestionFailed {
                        job_id: String::new(),
                        scope: scope.clone(),
                        source: source.clone(),
                        reason: error.clone(),
                    },
                    &request_id,
                    now,
                )),
                FileOutcome::Ingested { .. } | FileOutcome::Unchanged { .. } => None,
            })
            .collect();
        if notices.is_empty()
            || !self
                .subscribed(&scope.tenant, EventType::IngestionFailed)
                .await
        {
            return;
        }
        if let Err(err) = self.write(notices).await {
            tracing::error!(%err, "could not queue ingestion_failed events");
        }
    }

    /// Queues a query event for the tenant's subscribed webhooks, before the answer is sent (so
    /// an answered question always has its event). A failure to queue is logged, never turned
    /// into a failed answer.
    pub(crate) async fn query_event(
        &self,
        tenant: &TenantId,
        event: EventType,
        request_id: &str,
        data: impl FnOnce() -> serde_json::Value,
    ) {
        // The event's data is built only when a webhook will receive it: nothing is added to a
        // question nobody subscribed to.
        if !self.subscribed(tenant, event).await {
            return;
        }
        let notice = Notice {
            tenant: tenant.clone(),
            event_type: event,
            body: ragd_core::webhooks::body(event, data(), request_id, chrono::Utc::now()),
            traceparent: crate::otel::current_traceparent(),
        };
        if let Err(err) = self.write(vec![notice]).await {
            tracing::error!(event = event.as_str(), %err, "could not queue a webhook event");
        }
    }

    /// Writes `notices` into the outbox through the group-commit writer.
    async fn write(&self, notices: Vec<Notice>) -> Result<(), String> {
        let (done, written) = tokio::sync::oneshot::channel();
        self.outbox
            .send((notices, done))
            .await
            .map_err(|_| "the outbox writer has stopped".to_owned())?;
        written
            .await
            .map_err(|_| "the outbox writer has stopped".to_owned())?
    }
}

/// `scheme://host[:port]` of a webhook URL, for logs (the path and query may hold a secret).
fn origin(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(
        |_| "(invalid URL)".to_owned(),
        |u| u.origin().ascii_serialization(),
    )
}
