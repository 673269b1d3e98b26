//! Token settings of `ragd serve` (the chapter's `JWT_*` names): the signing secret, which is
//! refused when missing, short or the example value, the algorithm and lifetime, and an external
//! identity provider's JWKS.

use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};

use crate::serve_config::ServeArgs;

/// The JWT secret shipped in `.env.example` (and in the chapter): refused, always.
const EXAMPLE_SECRETS: [&str; 2] = [
    "your-very-secret-jwt-key-change-in-production",
    "your-secret-key-change-in-production",
];
/// Shortest accepted HS256 secret, in bytes.
const MIN_SECRET_BYTES: usize = 32;

/// Token settings.
#[derive(Debug, Clone)]
pub(crate) struct JwtConfig {
    pub(crate) secret: SecretString,
    pub(crate) algorithm: jsonwebtoken::Algorithm,
    pub(crate) expire: Duration,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    /// An external issuer and its keys, when configured.
    pub(crate) external: Option<std::sync::Arc<crate::jwks::Jwks>>,
    /// Admins of this tenant manage all tenants.
    pub(crate) platform_tenant: String,
    /// How long a looked-up user or API key is reused (see [`crate::recent`]).
    pub(crate) auth_cache_ttl: Duration,
    /// Password hashes computed at once.
    pub(crate) hash_concurrency: usize,
}

/// Validates the token settings, naming the one to fix.
pub(crate) fn jwt_config(
    args: &ServeArgs,
    outbound_ca_file: Option<&std::path::Path>,
) -> anyhow::Result<JwtConfig> {
    let algorithm = match args.jwt_algorithm.to_ascii_uppercase().as_str() {
        "HS256" => jsonwebtoken::Algorithm::HS256,
        "HS384" => jsonwebtoken::Algorithm::HS384,
        "HS512" => jsonwebtoken::Algorithm::HS512,
        other => bail!("JWT_ALGORITHM {other:?} is not supported (HS256, HS384 or HS512)"),
    };
    if args.jwt_expire_minutes == 0 || args.jwt_expire_minutes > 60 * 24 * 30 {
        bail!("JWT_EXPIRE_MINUTES must be 1..=43200");
    }
    Ok(JwtConfig {
        secret: jwt_secret(args)?,
        algorithm,
        expire: Duration::from_secs(args.jwt_expire_minutes * 60),
        issuer: args.jwt_issuer.clone(),
        audience: args.jwt_audience.clone(),
        external: args.external_issuer(outbound_ca_file)?,
        platform_tenant: ragd_core::types::TenantId::parse(&args.platform_tenant)
            .context("RAGD_PLATFORM_TENANT")?
            .as_str()
            .to_owned(),
        auth_cache_ttl: Duration::from_secs(args.auth_cache_secs),
        hash_concurrency: match args.login_concurrency {
            0 => bail!("RAGD_LOGIN_CONCURRENCY must be at least 1"),
            n => n,
        },
    })
}

fn jwt_secret(args: &ServeArgs) -> anyhow::Result<SecretString> {
    match &args.jwt_secret_key {
        Some(secret) => {
            let value = secret.expose_secret();
            if EXAMPLE_SECRETS.contains(&value.trim()) {
                bail!(
                    "JWT_SECRET_KEY is the example value from .env.example; set a random secret (e.g. `openssl rand -hex 32`)"
                );
            }
            if value.len() < MIN_SECRET_BYTES {
                bail!(
                    "JWT_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes (it has {})",
                    value.len()
                );
            }
            Ok(secret.clone())
        }
        None if args.debug => {
            tracing::warn!(
                "DEBUG=true and no JWT_SECRET_KEY: using a random secret; tokens will not survive a restart"
            );
            let random = format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            );
            Ok(SecretString::from(random))
        }
        None => bail!(
            "JWT_SECRET_KEY is not set: set it to a random secret of at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`), or DEBUG=true for development"
        ),
    }
}

impl ServeArgs {
    /// The external identity provider, when `JWT_JWKS` is set.
    pub(crate) fn external_issuer(
        &self,
        outbound_ca_file: Option<&std::path::Path>,
    ) -> anyhow::Result<Option<std::sync::Arc<crate::jwks::Jwks>>> {
        let Some(jwks) = &self.jwt_jwks else {
            return Ok(None);
        };
        for (name, value) in [
            ("JWT_JWKS_REFRESH_SECS", self.jwt_jwks_refresh_secs),
            ("JWT_JWKS_MIN_REFRESH_SECS", self.jwt_jwks_min_refresh_secs),
            ("RAGD_OUTBOUND_TIMEOUT_SECS", self.outbound_timeout_secs),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        let client = ragd_backends::outbound::client(&ragd_backends::outbound::OutboundConfig {
            ca_file: outbound_ca_file.map(std::path::Path::to_path_buf),
            connect_timeout: Duration::from_secs(self.outbound_timeout_secs.min(5)),
            timeout: Duration::from_secs(self.outbound_timeout_secs),
            read_timeout: None,
        })?;
        let settings = crate::jwks::JwksSettings {
            source: crate::jwks::JwksSource::parse(jwks)?,
            issuer: self
                .jwt_jwks_issuer
                .clone()
                .context("JWT_JWKS_ISSUER must be set with JWT_JWKS")?,
            audience: self
                .jwt_jwks_audience
                .clone()
                .context("JWT_JWKS_AUDIENCE must be set with JWT_JWKS")?,
            tenant_claim: self.jwt_jwks_tenant_claim.clone(),
            refresh: Duration::from_secs(self.jwt_jwks_refresh_secs),
            min_refresh: Duration::from_secs(self.jwt_jwks_min_refresh_secs),
        };
        Ok(Some(std::sync::Arc::new(crate::jwks::Jwks::new(
            settings, client,
        )?)))
    }
}
