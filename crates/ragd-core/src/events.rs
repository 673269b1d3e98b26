//! Domain events: what a write changed, in words a subscriber (a webhook, an audit log) can use.
//!
//! Write methods of the stores take the events they cause and record them in the same
//! transaction as the change (an outbox), so an event exists exactly when its change does: a
//! crash can lose neither one without the other, and a later delivery (webhooks) reads them from
//! the store instead of from memory.

use serde::{Deserialize, Serialize};

use crate::types::{DocumentId, Scope};

/// A change to the data, recorded with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A document version was stored (new, or replacing an earlier version of its source).
    DocumentStored {
        /// The document.
        document_id: DocumentId,
        /// Where it lives.
        scope: Scope,
        /// Its source name.
        source: String,
        /// Chunks written.
        chunks: u32,
    },
    /// A document, its chunks and their vectors were deleted.
    DocumentDeleted {
        /// The document.
        document_id: DocumentId,
        /// Where it lived.
        scope: Scope,
        /// Its source name.
        source: String,
    },
    /// A file of an ingestion job could not be ingested.
    IngestionFailed {
        /// The job.
        job_id: String,
        /// Where it was going.
        scope: Scope,
        /// The file's name.
        source: String,
        /// Why, in words the uploader can act on.
        reason: String,
    },
}

tokio::task_local! {
    /// The id of the request (or job) whose work is running, for the events it records.
    pub static REQUEST_ID: String;
}

/// The id of the request or job being served (empty outside one).
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

impl Event {
    /// The event's type name, as stored and as a subscriber filters on it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::DocumentStored { .. } => "document_stored",
            Self::DocumentDeleted { .. } => "document_deleted",
            Self::IngestionFailed { .. } => "ingestion_failed",
        }
    }

    /// The tenant the event belongs to: only its subscribers may see it.
    pub fn tenant(&self) -> &str {
        match self {
            Self::DocumentStored { scope, .. }
            | Self::DocumentDeleted { scope, .. }
            | Self::IngestionFailed { scope, .. } => scope.tenant.as_str(),
        }
    }
}

/// An event as recorded by a store.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Its position in the store's event log (increasing).
    pub seq: i64,
    /// The event.
    pub event: Event,
    /// When it was recorded.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Reads the events a store recorded, oldest first (webhook delivery, audits, tests).
#[async_trait::async_trait]
pub trait EventLog: Send + Sync {
    /// Up to `limit` events recorded after `seq` (0: from the first kept).
    async fn events_after(&self, seq: i64, limit: u32) -> crate::Result<Vec<RecordedEvent>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_their_type_name() {
        let event = Event::DocumentDeleted {
            document_id: DocumentId::new(),
            scope: Scope::default(),
            source: "a.md".into(),
        };
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(json["type"], event.kind());
        assert_eq!(json["scope"]["tenant"], event.tenant());
        let back: Event = serde_json::from_value(json).expect("parses back");
        assert_eq!(back, event);
    }
}
