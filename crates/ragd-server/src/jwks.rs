//! Tokens from an external identity provider (OIDC): RS256/ES256 JWTs verified against the
//! provider's public keys, a JWKS given in `JWT_JWKS` as a file or as the provider's `jwks_uri`.
//! The token's `kid` picks the key; `iss` and `aud` must match `JWT_JWKS_ISSUER`/
//! `JWT_JWKS_AUDIENCE`; the tenant comes from the claim named by `JWT_JWKS_TENANT_CLAIM` and the
//! scopes from the standard space-separated `scope` claim (unknown scopes are ignored). Such
//! principals are not users of ragd's database.
//!
//! A URL must be https (plain http only to a loopback address, for a provider on the same
//! machine). Its keys are fetched at start, refreshed every `JWT_JWKS_REFRESH_SECS`, and at once
//! when a token names a `kid` ragd does not know (the provider rotated its keys) — but never
//! twice within `JWT_JWKS_MIN_REFRESH_SECS`, so tokens with made-up key ids cannot make ragd
//! hammer the provider. A failed fetch keeps the last good keys; until a first fetch succeeds,
//! external tokens get 503 (ragd cannot tell a good token from a bad one yet).

use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ragd_core::accounts::AccessScope;
use ragd_core::authz::{AccessPolicy, ActorKind};
use ragd_core::types::TenantId;
use serde_json::Value;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

/// A JWKS document larger than this is refused (real ones are a few KiB).
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Where the keys come from.
#[derive(Debug, Clone)]
pub(crate) enum JwksSource {
    /// A file, read once at start.
    File(PathBuf),
    /// The provider's `jwks_uri`, fetched and refreshed.
    Url(reqwest::Url),
}

impl JwksSource {
    /// An `https://` URL, an `http://` URL to a loopback address, or a file path.
    pub(crate) fn parse(value: &str) -> anyhow::Result<Self> {
        let lower = value.to_ascii_lowercase();
        if !lower.starts_with("https://") && !lower.starts_with("http://") {
            return Ok(Self::File(PathBuf::from(value)));
        }
        let url = reqwest::Url::parse(value).context("JWT_JWKS: not a valid URL")?;
        let host = url.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if url.scheme() == "http" && !loopback {
            bail!(
                "JWT_JWKS: {url} must be https (plain http is accepted only to a loopback address)"
            );
        }
        Ok(Self::Url(url))
    }
}

/// Settings of the external issuer.
#[derive(Debug, Clone)]
pub(crate) struct JwksSettings {
    pub(crate) source: JwksSource,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) tenant_claim: String,
    /// Interval of the scheduled refresh (URL only).
    pub(crate) refresh: Duration,
    /// Shortest time between two fetches (URL only).
    pub(crate) min_refresh: Duration,
}

/// The external issuer: its settings and its current keys.
#[derive(Debug)]
pub(crate) struct Jwks {
    settings: JwksSettings,
    keys: RwLock<Arc<JwkSet>>,
    client: Option<reqwest::Client>,
    /// When the last fetch started; held while a fetch runs so concurrent misses share it.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

/// Parses and checks a JWKS document: at least one key, every key with a `kid` and usable.
fn parse_set(bytes: &[u8], origin: &str) -> anyhow::Result<JwkSet> {
    let keys: JwkSet = serde_json::from_slice(bytes)
        .with_context(|| format!("JWT_JWKS: {origin} is not a JWKS document"))?;
    if keys.keys.is_empty() {
        bail!("JWT_JWKS: {origin} has no keys");
    }
    for key in &keys.keys {
        if key.common.key_id.is_none() {
            bail!("JWT_JWKS: every key of {origin} needs a `kid`");
        }
        DecodingKey::from_jwk(key)
            .with_context(|| format!("JWT_JWKS: unusable key in {origin}"))?;
    }
    Ok(keys)
}

impl Jwks {
    /// Checks the settings; a file is read now, a URL is fetched by [`Jwks::start`].
    pub(crate) fn new(settings: JwksSettings, client: reqwest::Client) -> anyhow::Result<Self> {
        let (keys, client) = match &settings.source {
            JwksSource::File(path) => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("JWT_JWKS: cannot read {}", path.display()))?;
                (parse_set(&bytes, &path.display().to_string())?, None)
            }
            JwksSource::Url(_) => (JwkSet { keys: Vec::new() }, Some(client)),
        };
        Ok(Self {
            settings,
            keys: RwLock::new(Arc::new(keys)),
            client,
            last_fetch: tokio::sync::Mutex::new(None),
        })
    }

    /// For a URL: fetches the keys once (a failure is logged, not fatal: local users still work)
    /// and starts the scheduled refresh, which ends when the issuer is dropped.
    pub(crate) async fn start(self: &Arc<Self>) {
        if self.client.is_none() {
            return;
        }
        self.fetch(false).await;
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(jwks) = weak.upgrade() else { return };
                // Until keys arrive, retry at the shortest interval.
                let wait = if jwks.current().keys.is_empty() {
                    jwks.settings.min_refresh
                } else {
                    jwks.settings.refresh
                };
                drop(jwks);
                tokio::time::sleep(wait).await;
                let Some(jwks) = weak.upgrade() else { return };
                jwks.fetch(false).await;
            }
        });
    }

    fn current(&self) -> Arc<JwkSet> {
        Arc::clone(&self.keys.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Fetches the keys from the URL. `on_demand` fetches (an unknown `kid`) are skipped when
    /// the last fetch is more recent than the minimum interval; returns whether keys changed.
    #[tracing::instrument(skip_all, name = "jwks.fetch", fields(on_demand))]
    async fn fetch(&self, on_demand: bool) -> bool {
        let (Some(client), JwksSource::Url(url)) = (&self.client, &self.settings.source) else {
            return false;
        };
        let mut last = self.last_fetch.lock().await;
        if on_demand && last.is_some_and(|t| t.elapsed() < self.settings.min_refresh) {
            return false;
        }
        *last = Some(Instant::now());
        let fetched = ragd_backends::outbound::get_bytes(client, url, MAX_JWKS_BYTES)
            .await
            .and_then(|bytes| parse_set(&bytes, url.as_str()));
        match fetched {
            Ok(keys) => {
                let changed = keys != *self.current();
                if changed {
                    tracing::info!(url = %url, keys = keys.keys.len(), "JWKS keys loaded");
                }
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
                changed
            }
            Err(err) => {
                tracing::warn!(url = %url, error = %format!("{err:#}"), "cannot refresh the JWKS; keeping the last good keys");
                false
            }
        }
    }

    /// Verifies a token of the external issuer.
    pub(crate) async fn principal(
        &self,
        token: &str,
        alg: Algorithm,
        policy: &AccessPolicy,
    ) -> ApiResult<Principal> {
        let invalid = || ApiError::unauthorized("invalid token");
        if !matches!(alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(invalid());
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let kid = header.kid.ok_or_else(invalid)?;
        let mut keys = self.current();
        if keys.find(&kid).is_none() && self.fetch(true).await {
            keys = self.current();
        }
        if keys.keys.is_empty() {
            return Err(ApiError::unavailable(
                "the identity provider's keys are not available yet",
                self.settings.min_refresh,
            ));
        }
        let jwk = keys.find(&kid).ok_or_else(invalid)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid())?;
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| {
            if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) {
                ApiError::unauthorized("the token has expired")
            } else {
                invalid()
            }
        })?;
        let claims = data.claims;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        let tenant = claims
            .get(&self.settings.tenant_claim)
            .and_then(Value::as_str)
            .and_then(|t| TenantId::parse(t).ok())
            .ok_or_else(|| {
                ApiError::unauthorized(format!(
                    "the token has no valid {:?} claim",
                    self.settings.tenant_claim
                ))
            })?;
        let scopes: Vec<AccessScope> = claims
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|s| AccessScope::parse(s).ok())
            .collect();
        Ok(Principal {
            username: format!("oidc:{sub}"),
            actor: policy.actor(ActorKind::External, tenant, &scopes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        assert!(matches!(
            JwksSource::parse("/etc/ragd/jwks.json"),
            Ok(JwksSource::File(_))
        ));
        assert!(matches!(
            JwksSource::parse("https://idp.example.com/.well-known/jwks.json"),
            Ok(JwksSource::Url(_))
        ));
        assert!(matches!(
            JwksSource::parse("http://127.0.0.1:8080/jwks"),
            Ok(JwksSource::Url(_))
        ));
        assert!(matches!(
            JwksSource::parse("http://localhost/jwks"),
            Ok(JwksSource::Url(_))
        ));
        let err = JwksSource::parse("http://idp.example.com/jwks").expect_err("plain http");
        assert!(err.to_string().contains("https"), "{err}");
        assert!(JwksSource::parse("https://").is_err());
    }

    #[test]
    fn documents_are_checked() {
        assert!(parse_set(b"not json", "x").is_err());
        assert!(parse_set(br#"{"keys": []}"#, "x").is_err());
        let no_kid = br#"{"keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        assert!(
            parse_set(no_kid, "x")
                .expect_err("kid")
                .to_string()
                .contains("kid")
        );
    }
}
