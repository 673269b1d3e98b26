//! Fleet settings: the chapter's `REDIS_URL`, which makes rate limits, the question cache and
//! credential invalidations hold across every instance behind the load balancer.

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use ragd_backends::redis::RedisConfig;

#[derive(Debug, Args)]
pub(crate) struct RedisArgs {
    /// Redis shared by the instances of a fleet (`redis://[user:password@]host:port[/db]`, or
    /// `rediss://` for TLS): rate limits, the question-embedding cache and credential
    /// invalidations. Unset: all of it in process (one instance).
    #[arg(long, global = true, env = "REDIS_URL", hide_env_values = true)]
    pub(crate) redis_url: Option<String>,
    /// Prefix of ragd's keys and channels in Redis (several deployments can share a server).
    #[arg(
        long,
        global = true,
        env = "RAGD_REDIS_PREFIX",
        default_value = "ragd:"
    )]
    pub(crate) redis_prefix: String,
    /// Milliseconds a Redis command may take before the fallback is used (1..=10000).
    #[arg(
        long,
        global = true,
        env = "RAGD_REDIS_TIMEOUT_MS",
        default_value_t = 250
    )]
    pub(crate) redis_timeout_ms: u64,
    /// Seconds a question's vector stays in the shared cache (0: no shared cache).
    #[arg(
        long,
        global = true,
        env = "RAGD_REDIS_CACHE_TTL_SECS",
        default_value_t = 3600
    )]
    pub(crate) redis_cache_ttl_secs: u64,
}

impl RedisArgs {
    /// The Redis settings, when `REDIS_URL` is set.
    pub(crate) fn to_config(&self) -> anyhow::Result<Option<RedisConfig>> {
        let Some(url) = self.redis_url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            bail!(
                "REDIS_URL must be a redis:// or rediss:// URL (unset it to keep limits in process)"
            );
        }
        if !(1..=10_000).contains(&self.redis_timeout_ms) {
            bail!("RAGD_REDIS_TIMEOUT_MS must be 1..=10000");
        }
        if self.redis_prefix.len() > 64 || self.redis_prefix.chars().any(char::is_whitespace) {
            bail!("RAGD_REDIS_PREFIX must be at most 64 characters without spaces");
        }
        Ok(Some(RedisConfig {
            url: url.trim().to_owned(),
            prefix: self.redis_prefix.clone(),
            timeout: Duration::from_millis(self.redis_timeout_ms),
            cache_ttl: Duration::from_secs(self.redis_cache_ttl_secs),
        }))
    }
}
