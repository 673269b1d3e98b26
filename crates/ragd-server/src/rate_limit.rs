//! Rate limiting (the chapter's `RATE_LIMIT_REQUESTS` per `RATE_LIMIT_WINDOW` seconds): per
//! principal for authenticated requests, per client address for the rest, with a stricter quota
//! on `/auth/login` against password guessing and optional per-path overrides. Every limited
//! response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`
//! (seconds); a refused one is 429 with `Retry-After`. Probes, metrics and docs are not limited.
//!
//! The client address is the TCP peer, unless the peer is a configured trusted proxy: then it is
//! the right-most `X-Forwarded-For` entry that is not itself a trusted proxy. IPv6 clients count
//! by /64 (one customer network), since one host can hold a whole /64.
//!
//! Counters are keyed by the quota group of the path — its first segment, `/documents` for
//! `/documents/{id}` too — never by the raw path, so fresh ids in a URL give no fresh quota; a
//! path outside the API is one group, `other`.
//!
//! Each refusal counts in `rag_rate_limit_rejections_total{group}`, labelled by quota group.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ragd_core::limits::{Decision, Quota, RateLimiter};

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorCode};

/// An address or a network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `10.0.0.1` or `10.0.0.0/8` (IPv4 or IPv6).
    pub(crate) fn parse(raw: &str) -> anyhow::Result<Self> {
        let (addr, prefix) = match raw.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw.trim(), None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| anyhow::anyhow!("{raw:?} is not an IP address or CIDR network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| anyhow::anyhow!("{raw:?}: bad prefix length"))?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

/// Settings of the limiter.
#[derive(Debug, Clone)]
pub(crate) struct RateLimitConfig {
    /// Per principal (or per address when unauthenticated).
    pub(crate) default: Quota,
    /// Per address on `/auth/login`.
    pub(crate) login: Quota,
    /// Per account on `/auth/login` (counted by the login handler, which reads the name).
    pub(crate) login_account: Quota,
    /// Per-path quotas replacing the default, e.g. `/documents`.
    pub(crate) paths: Vec<(String, Quota)>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub(crate) trusted_proxies: Vec<Network>,
}

/// The limiter and its settings, as middleware state.
#[derive(Clone)]
pub(crate) struct Limits {
    pub(crate) limiter: Arc<dyn RateLimiter>,
    pub(crate) config: Arc<RateLimitConfig>,
}

/// The client address: the peer, or what a trusted proxy says the client was.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Network]) -> IpAddr {
    if !trusted.iter().any(|n| n.contains(peer)) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.iter().any(|n| n.contains(*ip)))
        .unwrap_or(peer)
}

/// The first path segments of the API's routes: each is one quota group.
const QUOTA_GROUPS: [&str; 12] = [
    "/auth",
    "/query",
    "/search",
    "/conversations",
    "/v1",
    "/documents",
    "/jobs",
    "/keys",
    "/tenants",
    "/users",
    "/stats",
    "/webhooks",
];

/// The quota group of a path: its first segment when the API has routes there, else `other`.
pub(crate) fn quota_group(path: &str) -> &'static str {
    let first = path
        .get(1..)
        .map_or("", |rest| rest.split('/').next().unwrap_or(""));
    QUOTA_GROUPS
        .into_iter()
        .find(|g| g.get(1..) == Some(first))
        .unwrap_or("other")
}

/// The address a client is counted by: itself (IPv4), its /64 (IPv6).
fn counted_as(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn exempt(path: &str) -> bool {
    path.starts_with("/health")
        || path == "/metrics"
        || path.starts_with("/docs")
        || path.starts_with("/redoc")
        || path == "/openapi.json"
}

fn set_headers(headers: &mut HeaderMap, d: &Decision) {
    let reset = d.reset_after.as_secs() + u64::from(d.reset_after.subsec_nanos() > 0);
    headers.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
}

/// The limiter key and quota of a request: per address on login, else per quota group and
/// principal (or address, without credentials).
fn quota_key(
    path: &str,
    principal: Option<&crate::auth::Principal>,
    address: impl Fn() -> String,
    config: &RateLimitConfig,
) -> (String, Quota) {
    if path == "/auth/login" {
        return (format!("login:{}", address()), config.login);
    }
    let group = quota_group(path);
    let quota = config
        .paths
        .iter()
        .find(|(g, _)| g == group)
        .map_or(config.default, |(_, q)| *q);
    let who = match principal {
        Some(p) => format!("user:{}/{}", p.tenant().as_str(), p.username),
        None => format!("ip:{}", address()),
    };
    (format!("{group}|{who}"), quota)
}

/// Counts the request against its quota; 429 when over.
pub(crate) async fn limit(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if exempt(&path) {
        return next.run(request).await;
    }
    let config = &limits.config;
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let principal = request
        .extensions()
        .get::<Authenticated>()
        .and_then(|a| a.principal());
    // The key is made in a block of its own: the closure borrows the request, which must not
    // be held across the limiter's await.
    let (key, quota) = {
        let address = || {
            peer.map(|p| counted_as(client_ip(p, request.headers(), &config.trusted_proxies)))
                .unwrap_or_default()
        };
        quota_key(&path, principal, address, config)
    };

    let started = std::time::Instant::now();
    let decision = match limits.limiter.hit(&key, quota).await {
        Ok(d) => d,
        Err(err) => return ApiError::from(err).into_response(),
    };
    crate::telemetry::record_timing("ratelimit", started.elapsed());
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        metrics::counter!("rag_rate_limit_rejections_total", "group" => quota_group(&path))
            .increment(1);
        ApiError::new(
            ErrorCode::RateLimited,
            "too many requests; retry after the window resets",
        )
        .with_retry_after(decision.reset_after)
        .into_response()
    };
    set_headers(response.headers_mut(), &decision);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<Network> {
        list.iter().map(|n| Network::parse(n).unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 10.0.0.7"),
        );
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "198.51.100.4".parse().unwrap();
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(proxy, &headers, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(stranger, &headers, &trusted),
            stranger,
            "spoofed header ignored"
        );
        assert_eq!(
            client_ip(proxy, &headers, &[]),
            proxy,
            "no trusted proxies configured"
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
    }

    #[test]
    fn paths_count_by_quota_group_and_ipv6_by_network() {
        assert_eq!(quota_group("/documents"), "/documents");
        assert_eq!(quota_group("/documents/0190-abc"), "/documents");
        assert_eq!(quota_group("/query"), "/query");
        assert_eq!(quota_group("/queryx"), "other");
        assert_eq!(quota_group("/"), "other");
        assert_eq!(quota_group("/zzz/1"), "other");
        assert_eq!(
            counted_as("2001:db8:1:2:aaaa::1".parse().unwrap()),
            counted_as("2001:db8:1:2:bbbb::9".parse().unwrap())
        );
        assert_ne!(
            counted_as("2001:db8:1:2::1".parse().unwrap()),
            counted_as("2001:db8:1:3::1".parse().unwrap())
        );
        assert_eq!(counted_as("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.3");
    }

    #[test]
    fn every_api_route_has_a_quota_group() {
        let doc = crate::routes::docs::openapi_document();
        for path in doc.paths.paths.keys() {
            let exempt_path = exempt(path);
            assert!(exempt_path || quota_group(path) != "other", "{path}");
        }
    }

    #[test]
    fn networks_parse_and_match() {
        let n = Network::parse("192.168.0.0/16").unwrap();
        assert!(n.contains("192.168.4.5".parse().unwrap()));
        assert!(!n.contains("192.169.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:192.168.1.1".parse().unwrap()));
        assert!(
            Network::parse("::1")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("nope").is_err());
    }
}
