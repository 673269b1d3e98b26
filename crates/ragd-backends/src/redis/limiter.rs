//! The fleet's rate limiter: one fixed window per key in Redis, counted by a Lua script so the
//! increment, the window's expiry and the time left are one atomic step (two instances counting
//! the same key at once never both see the last free slot). Keys expire with their window, so
//! Redis holds only live windows, and a key is made by the server from a quota group and a
//! principal or client network, never from raw request input.
//!
//! When Redis fails, requests are counted by the instance's own [`MemoryRateLimiter`] instead
//! (fail open to a per-instance limit; see the module docs of [`crate::redis`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ragd_core::Result;
use ragd_core::limits::{Decision, Quota, RateLimiter};

use super::{Breaker, RedisConnection};
use crate::memory::limiter::MemoryRateLimiter;

/// INCR the key; start its window on the first hit (and repair a key that lost its expiry);
/// return the count and the milliseconds left.
const SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

/// Counts requests in Redis, falling back to memory while Redis is unreachable.
pub struct RedisRateLimiter {
    redis: RedisConnection,
    script: redis::Script,
    fallback: MemoryRateLimiter,
    breaker: Breaker,
}

impl RedisRateLimiter {
    /// A limiter on `redis`.
    pub fn new(redis: RedisConnection) -> Self {
        Self {
            redis,
            script: redis::Script::new(SCRIPT),
            fallback: MemoryRateLimiter::new(),
            breaker: Breaker::new(Duration::from_secs(1)),
        }
    }

    /// Counts in Redis only (no fallback): what the contract tests and the benchmark measure.
    pub async fn hit_shared(&self, key: &str, quota: Quota) -> Result<Decision> {
        let window = u64::try_from(quota.window.as_millis()).unwrap_or(u64::MAX);
        let key = self.redis.key("rl", key);
        let (count, ttl): (u64, i64) = self
            .redis
            .run(async |mut c| self.script.key(&key).arg(window).invoke_async(&mut c).await)
            .await?;
        let limit = quota.requests;
        let used = u32::try_from(count).unwrap_or(u32::MAX);
        Ok(Decision {
            allowed: used <= limit,
            limit,
            remaining: limit.saturating_sub(used),
            reset_after: Duration::from_millis(u64::try_from(ttl.max(1)).unwrap_or(1)),
        })
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(&self, key: &str, quota: Quota) -> Result<Decision> {
        if self.breaker.allows() {
            match self.hit_shared(key, quota).await {
                Ok(decision) => {
                    self.breaker.succeeded();
                    return Ok(decision);
                }
                Err(err) => self.breaker.failed("ratelimit", &err),
            }
        }
        self.fallback.hit(key, quota).await
    }
}

/// The shared limiter as a port, for callers that pick it by configuration.
pub(crate) fn shared(redis: RedisConnection) -> Arc<dyn RateLimiter> {
    Arc::new(RedisRateLimiter::new(redis))
}
