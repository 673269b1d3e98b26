//! The in-process [`RateLimiter`]: one fixed window per key in a map. Right for one instance;
//! several instances behind a load balancer need the shared (Redis) limiter instead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ragd_core::Result;
use ragd_core::limits::{Decision, Quota, RateLimiter};

/// Keys kept before expired windows are swept.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    length: Duration,
    count: u32,
}

/// Counts requests in memory.
#[derive(Debug, Default)]
pub struct MemoryRateLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

impl MemoryRateLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a request at `now` (separate from the clock so tests can move time).
    pub fn hit_at(&self, key: &str, quota: Quota, now: Instant) -> Decision {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, w| now.duration_since(w.started) < w.length);
        }
        let window = windows.entry(key.to_owned()).or_insert(Window {
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
}
