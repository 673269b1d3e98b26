//! The SSRF guard of webhook deliveries. A webhook URL is chosen by a tenant, and ragd posts to
//! it from inside the deployment's network, so without a guard a tenant could make ragd reach
//! the database, the metrics port or the cloud metadata service (and read answers through the
//! delivery log). Loopback, private, link-local, shared, multicast, reserved and documentation
//! addresses (see [`ranges`]) are refused after DNS resolution, unless the operator lists their
//! network in `RAGD_WEBHOOK_ALLOWED_NETWORKS`; metadata services are refused always.
//!
//! Use it in three places:
//! - [`WebhookGuard::parse_url`] when a webhook is registered or its URL changes, then
//!   [`WebhookGuard::check`] (both errors are the caller's to fix: 422);
//! - [`WebhookGuard::check`] again right before each delivery, because reqwest connects to an IP
//!   literal without asking the resolver, and DNS may have changed since registration;
//! - [`WebhookGuard::client`] for the deliveries themselves: its resolver drops refused addresses
//!   at connect time, so a name that rebinds to a private address between the check and the
//!   connection (DNS rebinding) still cannot reach it. It follows no redirect (a 3xx is an answer,
//!   never a way around the check) and ignores proxy variables (a proxy would resolve names
//!   itself, unguarded).

mod ranges;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

pub(crate) use self::ranges::Refusal;
use crate::rate_limit::Network;

/// Longest webhook URL accepted, in bytes, as given and as normalized.
pub(crate) const MAX_URL_LEN: usize = 2048;

/// A name that takes longer to resolve fails the check: a stuck resolver must not hold a
/// registration or a delivery worker.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a webhook URL is refused; the message says what to change.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GuardError {
    /// Not an absolute URL.
    #[error("webhook URL is not a valid absolute URL: {0}")]
    Malformed(String),
    /// Longer than [`MAX_URL_LEN`].
    #[error("webhook URL is {len} bytes long; at most {MAX_URL_LEN} are accepted")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not http or https.
    #[error("webhook URL must use http or https, not {0}")]
    Scheme(String),
    /// `http:///path` and the like.
    #[error("webhook URL has no host")]
    NoHost,
    /// `user:password@host`.
    #[error(
        "webhook URL must not carry credentials (user:password@): URLs are stored, listed and \
         logged; check the webhook signature (register a secret) to authenticate deliveries"
    )]
    Credentials,
    /// `#fragment`.
    #[error("webhook URL must not have a #fragment: it is never sent to the server")]
    Fragment,
    /// The host is, or resolves to, an address webhooks may not reach.
    #[error(
        "webhook URL host {host} resolves to {ip}, {reason}; list its network in \
         RAGD_WEBHOOK_ALLOWED_NETWORKS to allow it"
    )]
    Refused {
        /// The URL's host.
        host: String,
        /// The refused address.
        ip: IpAddr,
        /// Its kind.
        reason: Refusal,
    },
    /// The host is, or resolves to, a cloud metadata service.
    #[error(
        "webhook URL host {host} resolves to {ip}, a cloud metadata service; webhooks are never \
         delivered there"
    )]
    Metadata {
        /// The URL's host.
        host: String,
        /// The metadata service's address.
        ip: IpAddr,
    },
    /// Name resolution failed or found nothing.
    #[error("cannot resolve the webhook URL host {host}: {reason}")]
    Unresolved {
        /// The URL's host.
        host: String,
        /// What the resolver said.
        reason: String,
    },
}

impl GuardError {
    /// Whether the same URL may pass later (a DNS failure), so a delivery is worth retrying.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Unresolved { .. } => true,
            Self::Malformed(_)
            | Self::TooLong { .. }
            | Self::Scheme(_)
            | Self::NoHost
            | Self::Credentials
            | Self::Fragment
            | Self::Refused { .. }
            | Self::Metadata { .. } => false,
        }
    }
}

/// The SSRF guard: cheap to clone, shared by the API and the delivery worker.
#[derive(Debug, Clone, Default)]
pub(crate) struct WebhookGuard {
    allowed: Arc<[Network]>,
}

impl WebhookGuard {
    /// A guard that lets webhooks reach `allowed` (`RAGD_WEBHOOK_ALLOWED_NETWORKS`) besides the
    /// public internet.
    pub(crate) fn new(allowed: Vec<Network>) -> Self {
        Self {
            allowed: allowed.into(),
        }
    }

    /// Parses a webhook URL: http or https, a host, no credentials, no fragment, at most
    /// [`MAX_URL_LEN`] bytes. Addresses are [`check`](Self::check)ed separately.
    pub(crate) fn parse_url(&self, raw: &str) -> Result<Url, GuardError> {
        if raw.len() > MAX_URL_LEN {
            return Err(GuardError::TooLong { len: raw.len() });
        }
        let url = Url::parse(raw).map_err(|e| GuardError::Malformed(e.to_string()))?;
        if url.as_str().len() > MAX_URL_LEN {
            return Err(GuardError::TooLong {
                len: url.as_str().len(),
            });
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(GuardError::Scheme(url.scheme().to_owned()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(GuardError::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(GuardError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(GuardError::Fragment);
        }
        Ok(url)
    }

    /// Resolves the URL's host (an IP literal stands for itself) and refuses it if any address
    /// is one webhooks may not reach.
    pub(crate) async fn check(&self, url: &Url) -> Result<(), GuardError> {
        let host = url.host_str().ok_or(GuardError::NoHost)?;
        for ip in resolve(host).await? {
            self.admit(host, ip)?;
        }
        Ok(())
    }

    /// The HTTP client for deliveries (see the module docs): rustls, no redirects, no proxy, a
    /// `ragd-webhooks/<version>` user agent, and a resolver that never returns a refused address.
    pub(crate) fn client(
        &self,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> anyhow::Result<reqwest::Client> {
        reqwest::Client::builder()
            .user_agent(concat!("ragd-webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .dns_resolver(Arc::new(GuardedResolver {
                guard: self.clone(),
            }))
            .build()
            .context("cannot build the webhook HTTP client")
    }

    fn admit(&self, host: &str, ip: IpAddr) -> Result<(), GuardError> {
        let refused = |reason| GuardError::Refused {
            host: host.to_owned(),
            ip,
            reason,
        };
        match ranges::refusal(ip) {
            None => Ok(()),
            Some(Refusal::Metadata) => Err(GuardError::Metadata {
                host: host.to_owned(),
                ip,
            }),
            Some(_) if self.allowed.iter().any(|n| n.contains(ip)) => Ok(()),
            Some(reason) => Err(refused(reason)),
        }
    }
}

/// The addresses of `host`: itself when it is an IP literal (`[…]` for IPv6, as in URLs).
async fn resolve(host: &str) -> Result<Vec<IpAddr>, GuardError> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .map_or_else(
            || host.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
            |h| h.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        );
    if let Some(ip) = literal {
        return Ok(vec![ip]);
    }
    let unresolved = |reason: String| GuardError::Unresolved {
        host: host.to_owned(),
        reason,
    };
    let addrs = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, 0)))
        .await
        .map_err(|_| unresolved(format!("no answer within {RESOLVE_TIMEOUT:?}")))?
        .map_err(|e| unresolved(e.to_string()))?;
    let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
    if ips.is_empty() {
        return Err(unresolved("no address".to_owned()));
    }
    Ok(ips)
}

/// reqwest's resolver for deliveries: resolves, then keeps only the addresses the guard admits.
struct GuardedResolver {
    guard: WebhookGuard,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str();
            let mut refused = None;
            let mut kept = Vec::new();
            for ip in resolve(host).await? {
                match guard.admit(host, ip) {
                    Ok(()) => kept.push(SocketAddr::new(ip, 0)),
                    Err(err) => {
                        tracing::warn!(host, %ip, "webhook host resolved to a refused address at connect time; skipped");
                        refused.get_or_insert(err);
                    }
                }
            }
            match refused {
                Some(err) if kept.is_empty() => Err(err.into()),
                Some(_) | None => Ok(Box::new(kept.into_iter()) as Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests;
