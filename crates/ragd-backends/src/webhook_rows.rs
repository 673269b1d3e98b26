//! What the SQLite and PostgreSQL webhook stores share: the columns they read and their rows
//! decoded into webhooks and deliveries, times as Unix milliseconds, delivery ids, and the webhook
//! targets looked up once per claim.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ragd_core::Result;
use ragd_core::types::TenantId;
use ragd_core::webhooks::{Delivery, DeliveryStatus, EventType, Webhook};

/// The columns a [`WebhookRow`] reads (never the secret itself).
pub(crate) const WEBHOOK_COLUMNS: &str = "id, tenant, owner, url, events, secret IS NOT NULL AS has_secret, active, created_at, updated_at";
/// The columns a [`DeliveryRow`] reads.
pub(crate) const DELIVERY_COLUMNS: &str = "id, webhook_id, event_type, status, attempts, next_attempt_at, \
     last_status, last_error, created_at, finished_at";

/// A webhook as both databases store it ([`WEBHOOK_COLUMNS`]).
#[derive(sqlx::FromRow)]
pub(crate) struct WebhookRow {
    id: String,
    tenant: String,
    owner: String,
    url: String,
    events: String,
    has_secret: bool,
    active: bool,
    created_at: i64,
    updated_at: i64,
}

impl WebhookRow {
    pub(crate) fn into_webhook(self) -> Result<Webhook> {
        Ok(Webhook {
            id: self.id,
            tenant: TenantId::parse(&self.tenant)?,
            owner: self.owner,
            url: self.url,
            events: EventType::decode_list(&self.events),
            has_secret: self.has_secret,
            active: self.active,
            created_at: from_millis(self.created_at),
            updated_at: from_millis(self.updated_at),
        })
    }
}

/// A delivery as both databases store it ([`DELIVERY_COLUMNS`]).
#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: String,
    webhook_id: String,
    event_type: String,
    status: String,
    attempts: i32,
    next_attempt_at: i64,
    last_status: Option<i32>,
    last_error: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
}

impl DeliveryRow {
    pub(crate) fn into_delivery(self) -> Result<Delivery> {
        let status = DeliveryStatus::parse(&self.status)?;
        Ok(Delivery {
            id: self.id,
            webhook_id: self.webhook_id,
            event_type: self.event_type,
            status,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            next_attempt_at: (status == DeliveryStatus::Pending)
                .then(|| from_millis(self.next_attempt_at)),
            last_status: self.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: self.last_error,
            created_at: from_millis(self.created_at),
            finished_at: self.finished_at.map(from_millis),
        })
    }
}

/// Now, in Unix milliseconds.
pub(crate) fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

/// A duration in milliseconds (saturating).
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Unix milliseconds as a time (the epoch for nonsense).
pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A new delivery id, `msg_` and 24 hex digits (the form the stores' SQL generates too).
pub(crate) fn delivery_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("msg_{}", &hex[..24])
}

/// URL and secret per webhook id, `None` for one deleted meanwhile.
#[derive(Default)]
pub(crate) struct Targets(HashMap<String, Option<(String, Option<String>)>>);

impl Targets {
    pub(crate) fn has(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    pub(crate) fn insert(&mut self, id: &str, target: Option<(String, Option<String>)>) {
        self.0.insert(id.to_owned(), target);
    }

    pub(crate) fn get(&self, id: &str) -> Option<(String, Option<String>)> {
        self.0.get(id).cloned().flatten()
    }
}
