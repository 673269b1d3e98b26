//! API keys: `ragd_<prefix>_<secret>`, shown once at creation. The database keeps the public
//! prefix (to find the key) and a SHA-256 of the whole key — a key is 128 random bits, so a fast
//! hash is safe, unlike a password — compared in constant time. Accepted as
//! `Authorization: Bearer ragd_…` or `X-API-Key: ragd_…`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ragd_core::accounts::{AccessScope, ApiKey, ApiKeyStore};
use ragd_core::authz::{AccessPolicy, ActorKind};
use ragd_core::types::TenantId;
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::recent::Recent;

/// Every key starts with this.
pub(crate) const KEY_PREFIX: &str = "ragd_";

fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    while out.len() < bytes * 2 {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string().replace('4', ""));
    }
    out.truncate(bytes * 2);
    out
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Equality that takes the same time wherever the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new key and its stored form.
pub(crate) struct IssuedKey {
    pub(crate) secret: String,
    pub(crate) key: ApiKey,
}

/// What a new key is.
pub(crate) struct KeySpec {
    pub(crate) tenant: TenantId,
    pub(crate) name: String,
    pub(crate) scopes: Vec<AccessScope>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    /// The user creating it, if a user is.
    pub(crate) owner: Option<String>,
}

/// Makes a key; the caller stores `key` and shows `secret` once.
pub(crate) fn issue(spec: KeySpec) -> IssuedKey {
    let KeySpec {
        tenant,
        name,
        scopes,
        expires_at,
        owner,
    } = spec;
    let prefix = random_hex(6);
    let secret = format!("{KEY_PREFIX}{prefix}_{}", random_hex(16));
    let key = ApiKey {
        id: uuid::Uuid::now_v7().to_string(),
        secret_hash: sha256_hex(&secret),
        prefix,
        tenant,
        name,
        scopes,
        created_at: Utc::now(),
        expires_at,
        revoked_at: None,
        owner,
    };
    IssuedKey { secret, key }
}

/// Whether `key` accepts the presented secret now (its hash, not revoked, not expired).
fn accepts(key: &ApiKey, presented_hash: &str) -> bool {
    constant_time_eq(presented_hash.as_bytes(), key.secret_hash.as_bytes())
        && key.revoked_at.is_none()
        && key.expires_at.is_none_or(|at| at > Utc::now())
}

/// Resolves a presented key to a principal and the key's owner (whose state the caller checks):
/// unknown, revoked and expired keys are all 401. A recently read key is reused only when it
/// accepts (see [`crate::recent`]).
pub(crate) async fn principal(
    keys: &Arc<dyn ApiKeyStore>,
    recent: &Recent<ApiKey>,
    presented: &str,
    policy: &AccessPolicy,
) -> ApiResult<(Principal, Option<String>)> {
    let invalid = || ApiError::unauthorized("invalid API key");
    let prefix = presented
        .strip_prefix(KEY_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .map(|(prefix, _)| prefix)
        .ok_or_else(invalid)?;
    let presented_hash = sha256_hex(presented);
    let key = match recent.get(prefix).filter(|k| accepts(k, &presented_hash)) {
        Some(key) => key,
        None => {
            let key = keys.key_by_prefix(prefix).await?.ok_or_else(invalid)?;
            recent.put(prefix, &key);
            key
        }
    };
    if !constant_time_eq(presented_hash.as_bytes(), key.secret_hash.as_bytes()) {
        return Err(invalid());
    }
    if key.revoked_at.is_some() {
        return Err(ApiError::unauthorized("this API key was revoked"));
    }
    if key.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::unauthorized("this API key has expired"));
    }
    let principal = Principal {
        username: format!("key:{}", key.prefix),
        actor: policy.actor(ActorKind::ApiKey, key.tenant, &key.scopes),
    };
    Ok((principal, key.owner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_hashed() {
        let spec = |name: &str| KeySpec {
            tenant: TenantId::default(),
            name: name.into(),
            scopes: vec![AccessScope::Query],
            expires_at: None,
            owner: None,
        };
        let (a, b) = (issue(spec("a")), issue(spec("b")));
        assert!(
            a.secret
                .starts_with(&format!("{KEY_PREFIX}{}_", a.key.prefix))
        );
        assert_eq!(a.secret.len(), KEY_PREFIX.len() + 12 + 1 + 32);
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.key.prefix, b.key.prefix);
        assert_eq!(a.key.secret_hash, sha256_hex(&a.secret));
        assert!(!a.key.secret_hash.contains(&a.secret));
        assert!(
            constant_time_eq(b"abc", b"abc")
                && !constant_time_eq(b"abc", b"abd")
                && !constant_time_eq(b"ab", b"abc")
        );
    }
}
