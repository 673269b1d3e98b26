//! Tokens from an external identity provider (OIDC): RS256/ES256 JWTs verified against the
//! provider's public keys, a JWKS file given in `JWT_JWKS`. The token's `kid` picks the key;
//! `iss` and `aud` must match `JWT_JWKS_ISSUER`/`JWT_JWKS_AUDIENCE`; the tenant comes from the
//! claim named by `JWT_JWKS_TENANT_CLAIM` and the scopes from the standard space-separated
//! `scope` claim (unknown scopes are ignored). Such principals are not users of ragd's database.

use std::path::Path;

use anyhow::{Context, bail};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ragd_core::accounts::{AccessScope, Role};
use ragd_core::types::TenantId;
use serde_json::Value;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

/// Settings of the external issuer.
#[derive(Debug, Clone)]
pub(crate) struct JwksConfig {
    pub(crate) keys: JwkSet,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) tenant_claim: String,
}

impl JwksConfig {
    /// Reads and checks the JWKS file.
    pub(crate) fn load(
        path: &Path,
        issuer: Option<String>,
        audience: Option<String>,
        tenant_claim: String,
    ) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("JWT_JWKS: cannot read {}", path.display()))?;
        let keys: JwkSet = serde_json::from_str(&text)
            .with_context(|| format!("JWT_JWKS: {} is not a JWKS document", path.display()))?;
        if keys.keys.is_empty() {
            bail!("JWT_JWKS: {} has no keys", path.display());
        }
        for key in &keys.keys {
            if key.common.key_id.is_none() {
                bail!("JWT_JWKS: every key needs a `kid`");
            }
            DecodingKey::from_jwk(key).context("JWT_JWKS: unusable key")?;
        }
        let issuer = issuer.context("JWT_JWKS_ISSUER must be set with JWT_JWKS")?;
        let audience = audience.context("JWT_JWKS_AUDIENCE must be set with JWT_JWKS")?;
        Ok(Self {
            keys,
            issuer,
            audience,
            tenant_claim,
        })
    }

    /// Verifies a token of the external issuer.
    pub(crate) fn principal(&self, token: &str, alg: Algorithm) -> ApiResult<Principal> {
        let invalid = || ApiError::unauthorized("invalid token");
        if !matches!(alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(invalid());
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let jwk = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.find(kid))
            .ok_or_else(invalid)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid())?;
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
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
            .get(&self.tenant_claim)
            .and_then(Value::as_str)
            .and_then(|t| TenantId::parse(t).ok())
            .ok_or_else(|| {
                ApiError::unauthorized(format!(
                    "the token has no valid {:?} claim",
                    self.tenant_claim
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
            tenant,
            role: Role::Member,
            scopes,
        })
    }
}
