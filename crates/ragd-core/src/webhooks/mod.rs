//! Webhooks: a tenant's subscriptions to its own events, and the durable outbox they are
//! delivered from.
//!
//! An event becomes one delivery row per subscribed, active webhook of its tenant, written in the
//! transaction of the change that caused it (documents, jobs) or on its own (queries, which change
//! nothing). Deliveries are claimed with a lease, so several instances never send one at the same
//! time, retried with backoff and, past the attempt limit, kept as dead letters the tenant can
//! read. Who may manage webhooks is decided in [`crate::authz`]; where a URL may point is decided
//! by the transport (it resolves names).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::events::Event;

mod store;
use crate::types::TenantId;
use crate::{Error, Result};
pub use store::{Attempt, ClaimedDelivery, WebhookStore};

/// What a webhook can subscribe to (and `webhook_test`, sent only by `POST /webhooks/{id}/test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A question was answered (the chapter's event).
    QueryCompleted,
    /// A question failed (the chapter's event).
    QueryFailed,
    /// A document version was stored.
    DocumentIngested,
    /// A document was deleted.
    DocumentDeleted,
    /// A file of an ingestion job could not be ingested.
    IngestionFailed,
    /// A test delivery asked for by the tenant.
    WebhookTest,
}

impl EventType {
    /// The events a webhook may subscribe to.
    pub const SUBSCRIBABLE: [Self; 5] = [
        Self::QueryCompleted,
        Self::QueryFailed,
        Self::DocumentIngested,
        Self::DocumentDeleted,
        Self::IngestionFailed,
    ];

    /// The event's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QueryCompleted => "query_completed",
            Self::QueryFailed => "query_failed",
            Self::DocumentIngested => "document_ingested",
            Self::DocumentDeleted => "document_deleted",
            Self::IngestionFailed => "ingestion_failed",
            Self::WebhookTest => "webhook_test",
        }
    }

    /// Parses a subscribable event name.
    pub fn parse(raw: &str) -> Result<Self> {
        Self::SUBSCRIBABLE
            .into_iter()
            .find(|e| e.as_str() == raw)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::SUBSCRIBABLE.iter().map(|e| e.as_str()).collect();
                Error::Invalid(format!(
                    "unknown event {raw:?}; events are {}",
                    names.join(", ")
                ))
            })
    }

    /// The subscription list as stored: `,a,b,` so one `instr`/`strpos` finds a name.
    pub fn encode_list(events: &[Self]) -> String {
        let mut out = String::from(",");
        for e in events {
            out.push_str(e.as_str());
            out.push(',');
        }
        out
    }

    /// The stored list back (unknown names, from a newer version, are skipped).
    pub fn decode_list(stored: &str) -> Vec<Self> {
        stored
            .split(',')
            .filter_map(|s| Self::parse(s).ok())
            .collect()
    }

    /// The needle that finds this event in an encoded list.
    pub fn needle(self) -> String {
        format!(",{},", self.as_str())
    }
}

/// A webhook as the API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its id.
    pub id: String,
    /// The tenant whose events it receives.
    pub tenant: TenantId,
    /// Who registered it (user name or key id).
    pub owner: String,
    /// Where events are POSTed.
    pub url: String,
    /// What it subscribes to.
    pub events: Vec<EventType>,
    /// Whether deliveries are signed.
    pub has_secret: bool,
    /// Whether it receives events (a receiver answering 410 Gone turns it off).
    pub active: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A webhook to register.
#[derive(Clone)]
pub struct NewWebhook {
    /// Its id (chosen by the caller, unique).
    pub id: String,
    /// Its tenant.
    pub tenant: TenantId,
    /// Who registers it.
    pub owner: String,
    /// Where events go (already checked by the transport's SSRF guard).
    pub url: String,
    /// What it subscribes to (at least one).
    pub events: Vec<EventType>,
    /// The signing secret, if any.
    pub secret: Option<String>,
}

impl std::fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhook")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// Changes to a webhook; `None` leaves a field as it is.
#[derive(Clone, Default)]
pub struct WebhookPatch {
    /// A new URL (already checked by the transport's SSRF guard).
    pub url: Option<String>,
    /// A new subscription list.
    pub events: Option<Vec<EventType>>,
    /// A new secret (`Some(None)` removes it).
    pub secret: Option<Option<String>>,
    /// Turn it on or off.
    pub active: Option<bool>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: the attempt limit was reached, the receiver answered 410 Gone, or its URL
    /// became unreachable by policy. Kept as a dead letter.
    Dead,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "dead" => Ok(Self::Dead),
            other => Err(Error::Invalid(format!(
                "unknown delivery status {other:?}; use pending, delivered or dead"
            ))),
        }
    }
}

/// One event on its way to one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id: the `webhook-id` header, the same on every attempt.
    pub id: String,
    /// The webhook.
    pub webhook_id: String,
    /// The event.
    pub event_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the event was recorded.
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
}

/// An event to fan out to the subscribed webhooks of its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Whose event.
    pub tenant: TenantId,
    /// Which event.
    pub event_type: EventType,
    /// The exact body every delivery sends ([`body`]).
    pub body: String,
    /// The W3C trace context of the request that caused it, so the delivery joins its trace.
    pub traceparent: Option<String>,
}

/// The chapter's payload: `{event_type, timestamp, data, request_id}`.
pub fn body(
    event_type: EventType,
    data: serde_json::Value,
    request_id: &str,
    at: DateTime<Utc>,
) -> String {
    let mut body = serde_json::Map::with_capacity(4);
    body.insert("event_type".into(), event_type.as_str().into());
    body.insert(
        "timestamp".into(),
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .into(),
    );
    body.insert("data".into(), data);
    body.insert("request_id".into(), request_id.into());
    serde_json::Value::Object(body).to_string()
}

/// The notice of a recorded document event, for the webhooks of its tenant.
pub fn notice_of(event: &Event, request_id: &str, at: DateTime<Utc>) -> Notice {
    let (event_type, data, scope) = match event {
        Event::DocumentStored {
            document_id,
            scope,
            source,
            chunks,
        } => (
            EventType::DocumentIngested,
            serde_json::json!({
                "document_id": document_id.to_string(),
                "source": source,
                "collection": scope.collection.as_str(),
                "chunks": chunks,
            }),
            scope,
        ),
        Event::DocumentDeleted {
            document_id,
            scope,
            source,
        } => (
            EventType::DocumentDeleted,
            serde_json::json!({
                "document_id": document_id.to_string(),
                "source": source,
                "collection": scope.collection.as_str(),
            }),
            scope,
        ),
        Event::IngestionFailed {
            job_id,
            scope,
            source,
            reason,
        } => (
            EventType::IngestionFailed,
            serde_json::json!({
                "job_id": (!job_id.is_empty()).then_some(job_id),
                "source": source,
                "collection": scope.collection.as_str(),
                "error": reason,
            }),
            scope,
        ),
    };
    Notice {
        tenant: scope.tenant.clone(),
        event_type,
        body: body(event_type, data, request_id, at),
        traceparent: None,
    }
}

/// The retry schedule: exponential from `base`, capped at `max_delay`, with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub base: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// Attempts in all, the first included; the last failure makes a dead letter.
    pub max_attempts: u32,
}

impl Backoff {
    /// The delay after failed attempt number `attempt` (1-based): `base·2^(attempt-1)` capped,
    /// then scaled by `jitter` in [0, 1) into [50 %, 100 %] of it ("equal jitter"), so receivers
    /// recovering from an outage are not hit by every retry at once.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let full = self
            .base
            .saturating_mul(1u32 << exp)
            .min(self.max_delay)
            .as_secs_f64();
        Duration::from_secs_f64(full * (0.5 + 0.5 * jitter.clamp(0.0, 1.0)))
    }

    /// Whether failed attempt number `attempt` was the last one allowed.
    pub fn exhausted(&self, attempt: u32) -> bool {
        attempt >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lists_round_trip_and_find_whole_names() {
        let list = EventType::encode_list(&[EventType::QueryCompleted, EventType::DocumentDeleted]);
        assert_eq!(list, ",query_completed,document_deleted,");
        assert_eq!(
            EventType::decode_list(&list),
            [EventType::QueryCompleted, EventType::DocumentDeleted]
        );
        assert!(list.contains(&EventType::QueryCompleted.needle()));
        assert!(!list.contains(&EventType::QueryFailed.needle()));
        assert!(EventType::parse("webhook_test").is_err());
        assert!(EventType::parse("query_completed ").is_err());
    }

    #[test]
    fn backoff_grows_caps_and_jitters_within_half() {
        let b = Backoff {
            base: Duration::from_secs(5),
            max_delay: Duration::from_secs(60),
            max_attempts: 4,
        };
        assert_eq!(b.delay(1, 1.0), Duration::from_secs(5));
        assert_eq!(b.delay(2, 1.0), Duration::from_secs(10));
        assert_eq!(b.delay(3, 0.0), Duration::from_secs(10));
        assert_eq!(b.delay(10, 1.0), Duration::from_secs(60));
        assert_eq!(b.delay(u32::MAX, 1.0), Duration::from_secs(60));
        assert!(!b.exhausted(3));
        assert!(b.exhausted(4));
    }

    #[test]
    fn bodies_have_the_chapters_shape() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let body = body(
            EventType::QueryCompleted,
            serde_json::json!({"confidence": 0.9}),
            "req-1",
            at,
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["event_type"], "query_completed");
        assert_eq!(v["timestamp"], "2026-01-02T03:04:05.000Z");
        assert_eq!(v["data"]["confidence"], 0.9);
        assert_eq!(v["request_id"], "req-1");
    }
}
