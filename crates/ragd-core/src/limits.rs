//! Rate limits: the port ([`RateLimiter`]) and its values. The embedded default counts in
//! process; the scale-out milestone adds a Redis implementation so limits hold across instances.
//! Windows are fixed (`requests` per `window`, counted from the window's first request), which
//! is what the `X-RateLimit-*` headers describe and what one Redis `INCR` + `EXPIRE` implements.

use std::time::Duration;

use async_trait::async_trait;

use crate::Result;

/// At most `requests` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed per window (at least 1).
    pub requests: u32,
    /// Window length (at least one second).
    pub window: Duration,
}

impl Quota {
    /// Validates a quota.
    pub fn new(requests: u32, window: Duration) -> Result<Self> {
        if requests == 0 || window < Duration::from_secs(1) {
            return Err(crate::Error::invalid(
                "a rate limit needs at least 1 request per window of at least 1 second",
            ));
        }
        Ok(Self { requests, window })
    }

    /// Parses `N/SECONDS`, e.g. `100/3600`.
    pub fn parse(raw: &str) -> Result<Self> {
        let bad =
            || crate::Error::invalid(format!("{raw:?} is not REQUESTS/SECONDS, e.g. 100/3600"));
        let (n, secs) = raw.trim().split_once('/').ok_or_else(bad)?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        let secs: u64 = secs.trim().parse().map_err(|_| bad())?;
        Self::new(n, Duration::from_secs(secs))
    }
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The quota's request count.
    pub limit: u32,
    /// Requests left in the current window.
    pub remaining: u32,
    /// Time until the window resets.
    pub reset_after: Duration,
}

/// Counts requests per key (a principal or a client address).
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request of `key` against `quota`.
    async fn hit(&self, key: &str, quota: Quota) -> Result<Decision>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_and_reject_nonsense() {
        assert_eq!(
            Quota::parse("100/3600").unwrap(),
            Quota {
                requests: 100,
                window: Duration::from_secs(3600)
            }
        );
        for bad in ["", "100", "0/60", "10/0", "a/b", "-1/60"] {
            assert!(Quota::parse(bad).is_err(), "{bad}");
        }
    }
}
