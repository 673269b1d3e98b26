//! Recently looked-up credentials (users by name, API keys by prefix), so a request with a
//! login token or a key does not wait for a database round trip (measured: 7–15% of `/query`
//! throughput together with the collection lookup the store keeps in memory).
//!
//! An entry is only ever used to *accept*: when the cached record would refuse (a token epoch
//! other than the token's, a disabled user, a revoked key…) the authenticator reads the database
//! again, so a new password or a re-enabled user works at once. A key revoked through this
//! server's `DELETE /keys/{id}` is forgotten at once. Without Redis, what the cache can delay,
//! by at most its lifetime (`RAGD_AUTH_CACHE_SECS`, 1 s by default; 0 turns it off), is a
//! revocation made by another process — `ragd users passwd|disable` or `ragd keys revoke` beside
//! the server, or another instance on a shared database. With Redis, those changes are announced
//! on the invalidation bus and forgotten at once everywhere; a [`Gate`] turns the cache off
//! while the bus cannot deliver.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Most records kept; past it, expired entries are dropped, then all of them.
const CAPACITY: usize = 10_000;

/// Whether cached records may be trusted now (false while invalidations from other instances
/// cannot arrive).
pub(crate) type Gate = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// Records by name, each with the time it was read from the database.
pub(crate) struct Recent<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (V, Instant)>>,
    gate: Option<Gate>,
}

impl<V: Clone> Recent<V> {
    /// Keeps records for `ttl` (zero: never).
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            gate: None,
        }
    }

    /// Keeps records for `ttl`, but neither reads nor keeps any while `gate` says no.
    pub(crate) fn gated(ttl: Duration, gate: Gate) -> Self {
        Self {
            gate: Some(gate),
            ..Self::new(ttl)
        }
    }

    fn off(&self) -> bool {
        self.ttl.is_zero() || self.gate.as_ref().is_some_and(|open| !open())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (V, Instant)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The record as read less than the lifetime ago.
    pub(crate) fn get(&self, name: &str) -> Option<V> {
        if self.off() {
            return None;
        }
        let entries = self.lock();
        let (value, read) = entries.get(name)?;
        (read.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Remembers a record just read from the database.
    pub(crate) fn put(&self, name: &str, value: &V) {
        if self.off() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.retain(|_, (_, read)| read.elapsed() < self.ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(name.to_owned(), (value.clone(), Instant::now()));
    }

    /// Forgets every record (after a change made through this server or announced by another).
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// Forgets one record.
    pub(crate) fn remove(&self, name: &str) {
        self.lock().remove(name);
    }
}

#[cfg(test)]
mod tests {
    use ragd_core::accounts::{Role, User, Username};
    use ragd_core::types::TenantId;

    use super::*;

    fn user(name: &str, epoch: i64) -> User {
        User {
            id: name.into(),
            username: Username::parse(name).expect("valid name"),
            tenant: TenantId::parse("default").expect("valid tenant"),
            role: Role::Member,
            password_hash: String::new(),
            disabled: false,
            token_epoch: epoch,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn keeps_records_for_their_lifetime_only() {
        let cache = Recent::new(Duration::from_millis(50));
        assert!(cache.get("ana").is_none());
        cache.put("ana", &user("ana", 1));
        assert_eq!(cache.get("ana").map(|u| u.token_epoch), Some(1));
        cache.put("ana", &user("ana", 2)); // a fresher read replaces it
        assert_eq!(cache.get("ana").map(|u| u.token_epoch), Some(2));
        cache.clear();
        assert!(cache.get("ana").is_none(), "forgotten");
        cache.put("ana", &user("ana", 3));
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("ana").is_none(), "expired");
    }

    #[test]
    fn a_zero_lifetime_keeps_nothing_and_the_size_is_bounded() {
        let off = Recent::new(Duration::ZERO);
        off.put("ana", &user("ana", 1));
        assert!(off.get("ana").is_none());
        let cache = Recent::new(Duration::from_secs(60));
        for i in 0..=CAPACITY {
            let name = format!("user{i}");
            cache.put(&name, &user(&name, 1));
        }
        assert!(cache.lock().len() <= CAPACITY);
        assert!(
            cache.get(&format!("user{CAPACITY}")).is_some(),
            "the newest is kept"
        );
    }
}
