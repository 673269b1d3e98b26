//! The in-process [`RateLimiter`]: one fixed window per key in a map. Right for one instance;
//! several instances behind a load balancer need the shared (Redis) limiter instead.
//!
//! Memory is bounded: expired windows are swept at most once per [`SWEEP_EVERY`] (never a scan
//! per request, however many keys a flood creates), and the map holds at most `max_keys` keys.
//! When it is full of live windows, a request of a key it does not hold is refused (fail
//! closed) until windows expire; keys already counted keep working.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ragd_core::Result;
use ragd_core::limits::{Decision, Quota, RateLimiter};

/// Shortest time between two sweeps of expired windows.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Default most keys held.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    length: Duration,
    count: u32,
}

#[derive(Debug, Default)]
struct Windows {
    by_key: HashMap<String, Window>,
    last_sweep: Option<Instant>,
}

/// Counts requests in memory.
#[derive(Debug)]
pub struct MemoryRateLimiter {
    windows: Mutex<Windows>,
    max_keys: usize,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRateLimiter {
    /// An empty limiter holding at most [`DEFAULT_MAX_KEYS`] keys.
    pub fn new() -> Self {
        Self::with_max_keys(DEFAULT_MAX_KEYS)
    }

    /// An empty limiter holding at most `max_keys` keys.
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            windows: Mutex::new(Windows::default()),
            max_keys: max_keys.max(1),
        }
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .by_key
            .len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts a request at `now` (separate from the clock so tests can move time).
    pub fn hit_at(&self, key: &str, quota: Quota, now: Instant) -> Decision {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = windows
            .last_sweep
            .is_none_or(|at| now.duration_since(at) >= SWEEP_EVERY);
        if due && windows.by_key.len() >= self.max_keys / 2 {
            windows
                .by_key
                .retain(|_, w| now.duration_since(w.started) < w.length);
            windows.last_sweep = Some(now);
        }
        if windows.by_key.len() >= self.max_keys && !windows.by_key.contains_key(key) {
            return Decision {
                allowed: false,
                limit: quota.requests,
                remaining: 0,
                reset_after: SWEEP_EVERY,
            };
        }
        let window = windows.by_key.entry(key.to_owned()).or_insert(Window {
            started: now,
            length: quota.window,
            count: 0,
        });
        if now.duration_since(window.started) >= window.length || window.length != quota.window {
            *window = Window {
                started: now,
                length: quota.window,
                count: 0,
            };
        }
        let allowed = window.count < quota.requests;
        if allowed {
            window.count += 1;
        }
        Decision {
            allowed,
            limit: quota.requests,
            remaining: quota.requests.saturating_sub(window.count),
            reset_after: window
                .length
                .saturating_sub(now.duration_since(window.started)),
        }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, quota: Quota) -> Result<Decision> {
        Ok(self.hit_at(key, quota, Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_n_plus_first_request_waits_for_the_next_window() {
        let limiter = MemoryRateLimiter::new();
        let quota = Quota::new(3, Duration::from_secs(60)).unwrap();
        let t0 = Instant::now();
        for left in [2, 1, 0] {
            let d = limiter.hit_at("k", quota, t0);
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
        }
        let refused = limiter.hit_at("k", quota, t0 + Duration::from_secs(10));
        assert!(!refused.allowed);
        assert_eq!(refused.reset_after, Duration::from_secs(50));
        assert!(
            limiter.hit_at("other", quota, t0).allowed,
            "keys are independent"
        );
        let next = limiter.hit_at("k", quota, t0 + Duration::from_secs(60));
        assert!(next.allowed);
        assert_eq!(next.remaining, 2);
    }

    #[test]
    fn a_flood_of_keys_is_bounded_and_expired_keys_make_room() {
        let limiter = MemoryRateLimiter::with_max_keys(100);
        let quota = Quota::new(5, Duration::from_secs(10)).unwrap();
        let t0 = Instant::now();
        for i in 0..100 {
            assert!(limiter.hit_at(&format!("ip:{i}"), quota, t0).allowed);
        }
        let refused = limiter.hit_at("ip:new", quota, t0);
        assert!(
            !refused.allowed,
            "full of live windows: a new key is refused"
        );
        assert!(
            limiter.hit_at("ip:7", quota, t0).allowed,
            "known keys still count"
        );
        assert_eq!(limiter.len(), 100);
        let later = t0 + Duration::from_secs(11);
        assert!(
            limiter.hit_at("ip:new", quota, later).allowed,
            "expired windows were swept"
        );
        assert_eq!(limiter.len(), 1);
    }
}
