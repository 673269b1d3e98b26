//! What the SQLite and PostgreSQL webhook stores share: times as Unix milliseconds, delivery ids,
//! and the webhook targets looked up once per claim.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

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
