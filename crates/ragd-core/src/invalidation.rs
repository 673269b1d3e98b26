//! Telling every instance that credentials changed. Each instance keeps the users and API keys
//! it read recently for a short while (`RAGD_AUTH_CACHE_SECS`) so a request does not wait for the
//! database; a key revoked or a user disabled on one instance must stop working on all of them
//! at once, not when their caches expire. The [`InvalidationBus`] carries those changes: in
//! process for one node ([`LocalBus`]), over Redis pub/sub for a fleet.
//!
//! A cache may only be trusted while the bus delivers: when a shared bus loses its connection,
//! [`InvalidationBus::delivering`] turns false and callers read the database on every request
//! until it is back (and then drop what they hold, since messages may have been missed).

use std::sync::Arc;

use async_trait::async_trait;

use crate::Result;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// API keys were revoked or changed: forget every cached key.
    ApiKeys,
    /// A user changed (disabled, password, role): forget it.
    User {
        /// Its tenant.
        tenant: String,
        /// Its name.
        username: String,
    },
    /// Anything may have changed (a reconnect after missed messages): forget everything.
    Everything,
}

impl Invalidation {
    /// The wire form: `keys`, `everything`, or `user` TAB tenant TAB name.
    pub fn encode(&self) -> String {
        match self {
            Self::ApiKeys => "keys".into(),
            Self::Everything => "everything".into(),
            Self::User { tenant, username } => format!("user\t{tenant}\t{username}"),
        }
    }

    /// Parses the wire form; anything unknown is [`Invalidation::Everything`] (forgetting too
    /// much costs a database read, forgetting too little a stale credential).
    pub fn decode(raw: &str) -> Self {
        let mut parts = raw.split('\t');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("keys"), None, ..) => Self::ApiKeys,
            (Some("user"), Some(tenant), Some(username), None) => Self::User {
                tenant: tenant.to_owned(),
                username: username.to_owned(),
            },
            _ => Self::Everything,
        }
    }
}

/// Receives invalidations (from this instance and from the others).
pub type InvalidationSink = Arc<dyn Fn(Invalidation) + Send + Sync>;

/// Carries invalidations to every instance.
#[async_trait]
pub trait InvalidationBus: Send + Sync {
    /// Announces a change to every instance, this one included.
    async fn publish(&self, change: Invalidation) -> Result<()>;
    /// Starts delivering every change to `sink` (call once).
    fn subscribe(&self, sink: InvalidationSink);
    /// Whether changes made elsewhere reach this instance now.
    fn delivering(&self) -> bool;
}

/// The bus of one node: delivers to this process only.
#[derive(Default)]
pub struct LocalBus {
    sink: std::sync::OnceLock<InvalidationSink>,
}

#[async_trait]
impl InvalidationBus for LocalBus {
    async fn publish(&self, change: Invalidation) -> Result<()> {
        if let Some(sink) = self.sink.get() {
            sink(change);
        }
        Ok(())
    }

    fn subscribe(&self, sink: InvalidationSink) {
        let _ = self.sink.set(sink);
    }

    fn delivering(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_round_trips_and_unknown_means_everything() {
        for change in [
            Invalidation::ApiKeys,
            Invalidation::Everything,
            Invalidation::User {
                tenant: "acme".into(),
                username: "ana".into(),
            },
        ] {
            assert_eq!(Invalidation::decode(&change.encode()), change);
        }
        for junk in ["", "keys\tx", "user\tacme", "user\ta\tb\tc", "drop tables"] {
            assert_eq!(
                Invalidation::decode(junk),
                Invalidation::Everything,
                "{junk:?}"
            );
        }
    }
}
