//! The store side of webhooks: the port the SQLite and PostgreSQL stores implement, and what a
//! delivery worker claims and records through it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Delivery, DeliveryStatus, EventType, NewWebhook, Notice, Webhook, WebhookPatch};
use crate::Result;
use crate::types::TenantId;

/// A delivery claimed by a worker, with what it needs to send it.
#[derive(Clone)]
pub struct ClaimedDelivery {
    /// The delivery id (the `webhook-id` header).
    pub id: String,
    /// The webhook.
    pub webhook_id: String,
    /// Where to POST.
    pub url: String,
    /// The signing secret.
    pub secret: Option<String>,
    /// The exact body.
    pub body: String,
    /// The event's name.
    pub event_type: String,
    /// Attempts already made.
    pub attempts: u32,
    /// When the event was recorded.
    pub created_at: DateTime<Utc>,
    /// The trace context of its cause.
    pub traceparent: Option<String>,
}

impl std::fmt::Debug for ClaimedDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedDelivery")
            .field("id", &self.id)
            .field("webhook_id", &self.webhook_id)
            .field("event_type", &self.event_type)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx.
    Delivered {
        /// The status.
        status: u16,
    },
    /// Failed; try again at `next_at`.
    Retry {
        /// The status, if the receiver answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
        /// When to try again.
        next_at: DateTime<Utc>,
    },
    /// Failed for good: a dead letter.
    Dead {
        /// The status, if the receiver answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
        /// Also turn the webhook off (the receiver said 410 Gone).
        disable: bool,
    },
}

/// Webhooks and their deliveries, as stored.
#[async_trait::async_trait]
pub trait WebhookStore: Send + Sync {
    /// Registers a webhook; [`Error::Conflict`] when its tenant already has `max_per_tenant`.
    async fn create_webhook(&self, new: NewWebhook, max_per_tenant: u32) -> Result<Webhook>;
    /// The tenant's webhooks, oldest first.
    async fn webhooks(&self, tenant: &TenantId) -> Result<Vec<Webhook>>;
    /// One of the tenant's webhooks ([`Error::NotFound`] for another tenant's).
    async fn webhook(&self, tenant: &TenantId, id: &str) -> Result<Webhook>;
    /// Changes one of the tenant's webhooks.
    async fn update_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        patch: WebhookPatch,
    ) -> Result<Webhook>;
    /// Deletes one of the tenant's webhooks and its deliveries.
    async fn delete_webhook(&self, tenant: &TenantId, id: &str) -> Result<()>;
    /// Which (tenant, events) pairs have active webhooks, for skipping events nobody wants.
    async fn subscriptions(&self) -> Result<Vec<(TenantId, Vec<EventType>)>>;
    /// Fans `notices` out to the subscribed active webhooks of their tenants, in one
    /// transaction; the number of deliveries queued.
    async fn enqueue(&self, notices: &[Notice]) -> Result<u64>;
    /// Queues `body` (a `webhook_test` event) to one webhook, whatever it subscribes to; the
    /// delivery id.
    async fn enqueue_test(&self, tenant: &TenantId, id: &str, body: &str) -> Result<String>;
    /// Claims up to `limit` due deliveries of active webhooks for `owner` for `lease`, oldest
    /// due first; a store may also take at most `per_webhook` of one webhook (the worker enforces
    /// that bound either way, giving back what it cannot start).
    async fn claim_deliveries(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
        per_webhook: u32,
    ) -> Result<Vec<ClaimedDelivery>>;
    /// Records attempts of deliveries `owner` holds, in one transaction; how many were still
    /// its own (the others were taken over after their lease expired and are left alone).
    async fn finish_deliveries(&self, owner: &str, attempts: &[(String, Attempt)]) -> Result<u32>;
    /// Gives claimed deliveries back untouched (a per-webhook bound was full, or shutdown).
    async fn release_deliveries(&self, ids: &[String], owner: &str) -> Result<()>;
    /// The latest deliveries of one of the tenant's webhooks, newest first.
    async fn deliveries(
        &self,
        tenant: &TenantId,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>>;
    /// Deliveries waiting, across tenants (a gauge).
    async fn pending_deliveries(&self) -> Result<u64>;
    /// Deletes up to `limit` delivered or dead deliveries finished before `before`.
    async fn prune_deliveries(&self, before: DateTime<Utc>, limit: u32) -> Result<u64>;
}
