//! Webhook settings: where deliveries may go, how often they are retried, how many run at once.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use ragd_core::webhooks::Backoff;

use crate::rate_limit::Network;

#[derive(Debug, Clone, Args)]
pub(crate) struct WebhookArgs {
    /// Networks (CIDRs or addresses, comma-separated) webhooks may reach although they are
    /// loopback, private or link-local — e.g. `10.1.0.0/16` for receivers inside your network.
    /// Empty: public addresses only.
    #[arg(long, env = "RAGD_WEBHOOK_ALLOWED_NETWORKS", default_value = "")]
    pub(crate) webhook_allowed_networks: String,
    /// Attempts per event and webhook, the first included; then the delivery is a dead letter.
    #[arg(long, env = "RAGD_WEBHOOK_MAX_ATTEMPTS", default_value_t = 10)]
    pub(crate) webhook_max_attempts: u32,
    /// Milliseconds before the first retry; each next one waits twice as long (with jitter).
    #[arg(long, env = "RAGD_WEBHOOK_BACKOFF_MS", default_value_t = 5000)]
    pub(crate) webhook_backoff_ms: u64,
    /// Longest wait between two attempts, in seconds.
    #[arg(long, env = "RAGD_WEBHOOK_MAX_BACKOFF_SECS", default_value_t = 3600)]
    pub(crate) webhook_max_backoff_secs: u64,
    /// Seconds a receiver has to answer one delivery (the chapter's 10).
    #[arg(long, env = "RAGD_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    pub(crate) webhook_timeout_secs: u64,
    /// Deliveries in flight to one webhook at once, per instance.
    #[arg(long, env = "RAGD_WEBHOOK_CONCURRENCY", default_value_t = 4)]
    pub(crate) webhook_concurrency: u32,
    /// Deliveries in flight at once, per instance, all webhooks together.
    #[arg(long, env = "RAGD_WEBHOOK_MAX_IN_FLIGHT", default_value_t = 64)]
    pub(crate) webhook_max_in_flight: u32,
    /// Webhooks per tenant at most.
    #[arg(long, env = "RAGD_WEBHOOK_MAX_PER_TENANT", default_value_t = 50)]
    pub(crate) webhook_max_per_tenant: u32,
    /// Days delivered and dead deliveries are kept (for GET /webhooks/{id}/deliveries).
    #[arg(long, env = "RAGD_WEBHOOK_RETENTION_DAYS", default_value_t = 7)]
    pub(crate) webhook_retention_days: u32,
}

/// Validated webhook settings.
#[derive(Debug, Clone)]
pub(crate) struct WebhookSettings {
    pub(crate) allowed: Vec<Network>,
    pub(crate) backoff: Backoff,
    pub(crate) timeout: Duration,
    pub(crate) per_webhook: u32,
    pub(crate) in_flight: u32,
    pub(crate) max_per_tenant: u32,
    pub(crate) retention: Duration,
}

impl WebhookArgs {
    pub(crate) fn settings(&self) -> anyhow::Result<WebhookSettings> {
        let allowed = self
            .webhook_allowed_networks
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(Network::parse)
            .collect::<anyhow::Result<Vec<_>>>()
            .context("RAGD_WEBHOOK_ALLOWED_NETWORKS")?;
        for (name, value, range) in [
            (
                "RAGD_WEBHOOK_MAX_ATTEMPTS",
                u64::from(self.webhook_max_attempts),
                1..=100,
            ),
            (
                "RAGD_WEBHOOK_BACKOFF_MS",
                self.webhook_backoff_ms,
                10..=3_600_000,
            ),
            (
                "RAGD_WEBHOOK_MAX_BACKOFF_SECS",
                self.webhook_max_backoff_secs,
                1..=86_400,
            ),
            (
                "RAGD_WEBHOOK_TIMEOUT_SECS",
                self.webhook_timeout_secs,
                1..=300,
            ),
            (
                "RAGD_WEBHOOK_CONCURRENCY",
                u64::from(self.webhook_concurrency),
                1..=64,
            ),
            (
                "RAGD_WEBHOOK_MAX_IN_FLIGHT",
                u64::from(self.webhook_max_in_flight),
                1..=1024,
            ),
            (
                "RAGD_WEBHOOK_MAX_PER_TENANT",
                u64::from(self.webhook_max_per_tenant),
                1..=10_000,
            ),
            (
                "RAGD_WEBHOOK_RETENTION_DAYS",
                u64::from(self.webhook_retention_days),
                1..=3650,
            ),
        ] {
            if !range.contains(&value) {
                bail!(
                    "{name} must be {}..={}, not {value}",
                    range.start(),
                    range.end()
                );
            }
        }
        Ok(WebhookSettings {
            allowed,
            backoff: Backoff {
                base: Duration::from_millis(self.webhook_backoff_ms),
                max_delay: Duration::from_secs(self.webhook_max_backoff_secs),
                max_attempts: self.webhook_max_attempts,
            },
            timeout: Duration::from_secs(self.webhook_timeout_secs),
            per_webhook: self.webhook_concurrency,
            in_flight: self.webhook_max_in_flight,
            max_per_tenant: self.webhook_max_per_tenant,
            retention: Duration::from_secs(u64::from(self.webhook_retention_days) * 86_400),
        })
    }
}

#[cfg(test)]
impl WebhookSettings {
    pub(crate) fn for_tests() -> Self {
        Self {
            allowed: Vec::new(),
            backoff: Backoff {
                base: Duration::from_millis(100),
                max_delay: Duration::from_secs(1),
                max_attempts: 3,
            },
            timeout: Duration::from_secs(2),
            per_webhook: 4,
            in_flight: 16,
            max_per_tenant: 50,
            retention: Duration::from_secs(86_400),
        }
    }
}
