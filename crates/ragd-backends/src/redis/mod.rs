//! Redis: what N instances behind a load balancer must share beyond the database — the rate
//! limiter ([`RedisRateLimiter`]), the question-embedding cache ([`RedisEmbeddingCache`]) and the
//! credential-invalidation bus ([`RedisBus`]). Enabled by `REDIS_URL` (`redis://` or `rediss://`).
//!
//! Redis is a dependency the fleet can lose, so each use decides what happens without it (and
//! says so in the README):
//! - **rate limits fail open to the instance's own limiter**: requests keep being served and
//!   limited, per instance (a fleet of N then lets up to N× the quota through) until Redis is
//!   back; refusing every request because a counter is unreachable would turn a Redis outage
//!   into a full outage;
//! - **the embedding cache fails open**: a miss, the question is embedded;
//! - **the credential caches fail closed**: while invalidations cannot be received, every
//!   request reads its user or key from the database, so a revocation is never missed.
//!
//! Every command has a deadline (`RAGD_REDIS_TIMEOUT_MS`); after a failure, a [`Breaker`] sends
//! requests straight to the fallback for a second instead of making each one wait for the
//! deadline, then lets one try again.

mod bus;
mod cache;
pub(crate) mod limiter;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use bus::RedisBus;
pub use cache::RedisEmbeddingCache;
pub use limiter::RedisRateLimiter;
use ragd_core::{Error, Result};
use redis::aio::ConnectionManager;

/// Where Redis is and how long to wait for it.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS).
    pub url: String,
    /// Prefix of every key and channel, so several deployments can share one server.
    pub prefix: String,
    /// Deadline of one command.
    pub timeout: Duration,
    /// How long a cached question vector lives (zero: no shared question cache).
    pub cache_ttl: Duration,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redacted(&self.url))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("cache_ttl", &self.cache_ttl)
            .finish()
    }
}

/// `host:port/db` of a Redis URL, for messages (never its password).
pub fn redacted(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.rsplit_once('@')
        .map_or(rest, |(_, host)| host)
        .to_owned()
}

/// One multiplexed, self-reconnecting connection shared by every use.
#[derive(Clone)]
pub struct RedisConnection {
    manager: ConnectionManager,
    config: RedisConfig,
    client: redis::Client,
}

impl RedisConnection {
    /// Connects (the server must answer now: a wrong URL fails the start, not the first
    /// request).
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| Error::invalid(format!("REDIS_URL: {e}")))?;
        let settings = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout.max(Duration::from_secs(1))))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1);
        let manager = tokio::time::timeout(
            Duration::from_secs(10),
            ConnectionManager::new_with_config(client.clone(), settings),
        )
        .await
        .map_err(|_| unavailable(&config, "no answer within 10 s"))?
        .map_err(|e| unavailable(&config, e))?;
        Ok(Self {
            manager,
            config,
            client,
        })
    }

    /// The settings.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// A prefixed key.
    fn key(&self, kind: &str, key: &str) -> String {
        format!("{}{kind}:{key}", self.config.prefix)
    }

    /// Runs one command with the deadline.
    async fn run<T: redis::FromRedisValue>(
        &self,
        command: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let connection = self.manager.clone();
        match tokio::time::timeout(self.config.timeout, command(connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(unavailable(&self.config, err)),
            Err(_) => Err(unavailable(
                &self.config,
                format!("no answer within {:?}", self.config.timeout),
            )),
        }
    }

    /// Whether the server answers a PING now.
    pub async fn ping(&self) -> Result<()> {
        self.run(async |mut c| redis::cmd("PING").query_async::<String>(&mut c).await)
            .await
            .map(drop)
    }
}

fn unavailable(config: &RedisConfig, err: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("redis at {}: {err}", redacted(&config.url)))
}

/// Skips a failing dependency for a while after each failure.
#[derive(Debug)]
pub(crate) struct Breaker {
    /// Milliseconds since `epoch` until which calls are skipped (0: closed).
    open_until: AtomicU64,
    epoch: Instant,
    cool_down: Duration,
    /// When the last failure was logged (milliseconds since `epoch`), to log at most one a
    /// cool-down.
    logged: AtomicU64,
}

impl Breaker {
    pub(crate) fn new(cool_down: Duration) -> Self {
        Self {
            open_until: AtomicU64::new(0),
            epoch: Instant::now(),
            cool_down,
            logged: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a call may go to the dependency now.
    pub(crate) fn allows(&self) -> bool {
        self.now() >= self.open_until.load(Ordering::Relaxed)
    }

    /// Records a failure of `what`: calls are skipped for the cool-down.
    pub(crate) fn failed(&self, what: &str, err: &Error) {
        let now = self.now();
        let cool = u64::try_from(self.cool_down.as_millis()).unwrap_or(u64::MAX);
        self.open_until
            .store(now.saturating_add(cool), Ordering::Relaxed);
        metrics::counter!("rag_redis_errors_total", "use" => what.to_owned()).increment(1);
        let last = self.logged.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= cool)
            && self
                .logged
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%err, use_ = what, "redis failed; using the fallback for a while");
        }
    }

    /// Records a success.
    pub(crate) fn succeeded(&self) {
        if self.open_until.load(Ordering::Relaxed) != 0 {
            self.open_until.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_the_breaker_cools_down() {
        assert_eq!(redacted("redis://user:pw@host:6379/2"), "host:6379/2");
        assert_eq!(redacted("rediss://host:6380"), "host:6380");
        let breaker = Breaker::new(Duration::from_millis(50));
        assert!(breaker.allows());
        breaker.failed("test", &Error::Unavailable("down".into()));
        assert!(!breaker.allows());
        std::thread::sleep(Duration::from_millis(60));
        assert!(breaker.allows());
        breaker.succeeded();
        assert!(breaker.allows());
    }
}
