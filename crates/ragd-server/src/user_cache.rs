//! Recently looked-up users, so a request with a login token does not wait for a database round
//! trip (measured: 7–15% of `/query` throughput together with the collection lookup the store now
//! keeps in memory).
//!
//! An entry is only ever used to *accept* a token: when the cached user would refuse it (an
//! epoch other than the token's, disabled, another tenant) the authenticator asks the database,
//! so a new password or a re-enabled user works at once. What the cache can delay, by at most
//! its lifetime (`RAGD_AUTH_CACHE_SECS`, 1 s by default; 0 turns it off), is a revocation made
//! by another process — `ragd users passwd|disable` beside the server, or another instance on a
//! shared database.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ragd_core::accounts::User;

/// Most users kept; past it, expired entries are dropped, then all of them.
const CAPACITY: usize = 10_000;

/// Users by name, each with the time it was read from the database.
#[derive(Debug)]
pub(crate) struct UserCache {
    ttl: Duration,
    users: Mutex<HashMap<String, (User, Instant)>>,
}

impl UserCache {
    /// Keeps users for `ttl` (zero: never).
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            users: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (User, Instant)>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The user as read less than the lifetime ago.
    pub(crate) fn get(&self, username: &str) -> Option<User> {
        if self.ttl.is_zero() {
            return None;
        }
        let users = self.lock();
        let (user, read) = users.get(username)?;
        (read.elapsed() < self.ttl).then(|| user.clone())
    }

    /// Remembers a user just read from the database.
    pub(crate) fn put(&self, user: &User) {
        if self.ttl.is_zero() {
            return;
        }
        let mut users = self.lock();
        if users.len() >= CAPACITY {
            users.retain(|_, (_, read)| read.elapsed() < self.ttl);
            if users.len() >= CAPACITY {
                users.clear();
            }
        }
        users.insert(
            user.username.as_str().to_owned(),
            (user.clone(), Instant::now()),
        );
    }
}

#[cfg(test)]
mod tests {
    use ragd_core::accounts::{Role, Username};
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
    fn keeps_users_for_their_lifetime_only() {
        let cache = UserCache::new(Duration::from_millis(50));
        assert!(cache.get("ana").is_none());
        cache.put(&user("ana", 1));
        assert_eq!(cache.get("ana").map(|u| u.token_epoch), Some(1));
        cache.put(&user("ana", 2)); // a fresher read replaces it
        assert_eq!(cache.get("ana").map(|u| u.token_epoch), Some(2));
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("ana").is_none(), "expired");
    }

    #[test]
    fn a_zero_lifetime_keeps_nothing_and_the_size_is_bounded() {
        let off = UserCache::new(Duration::ZERO);
        off.put(&user("ana", 1));
        assert!(off.get("ana").is_none());
        let cache = UserCache::new(Duration::from_secs(60));
        for i in 0..=CAPACITY {
            cache.put(&user(&format!("user{i}"), 1));
        }
        assert!(cache.lock().len() <= CAPACITY);
        assert!(
            cache.get(&format!("user{CAPACITY}")).is_some(),
            "the newest is kept"
        );
    }
}
