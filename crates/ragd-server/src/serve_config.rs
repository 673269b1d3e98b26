//! Settings of `ragd serve`: the chapter's environment variable names (`JWT_SECRET_KEY`,
//! `ALLOWED_ORIGINS`, `DEBUG`, …) and ragd's own `RAGD_*` ones, validated at start-up with errors
//! that name the setting to fix. Secrets are kept in [`SecretString`]s so they never reach a log.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use ragd_core::limits::Quota;
use secrecy::SecretString;

use crate::jwt_config::JwtConfig;
use crate::rate_limit::{Network, RateLimitConfig};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "RAGD_HOST", default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, env = "RAGD_PORT", default_value_t = 8000)]
    pub(crate) port: u16,
    /// Development mode: allows running without JWT_SECRET_KEY (a random per-process secret).
    #[arg(long, env = "DEBUG", default_value_t = false, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) debug: bool,
    /// Secret that signs login tokens (HS256), at least 32 bytes. Required unless DEBUG=true.
    #[arg(long, env = "JWT_SECRET_KEY", hide_env_values = true)]
    pub(crate) jwt_secret_key: Option<SecretString>,
    /// Token signing algorithm (HS256, HS384 or HS512).
    #[arg(long, env = "JWT_ALGORITHM", default_value = "HS256")]
    pub(crate) jwt_algorithm: String,
    /// Minutes a login token stays valid.
    #[arg(long, env = "JWT_EXPIRE_MINUTES", default_value_t = 30)]
    pub(crate) jwt_expire_minutes: u64,
    /// `iss` claim of issued tokens (checked on every request).
    #[arg(long, env = "JWT_ISSUER", default_value = "ragd")]
    pub(crate) jwt_issuer: String,
    /// `aud` claim of issued tokens (checked on every request).
    #[arg(long, env = "JWT_AUDIENCE", default_value = "ragd")]
    pub(crate) jwt_audience: String,
    /// The JWKS of an external identity provider whose RS256/ES256 tokens are accepted too: a
    /// file, or the provider's https `jwks_uri` (fetched at start and refreshed).
    #[arg(long, env = "JWT_JWKS")]
    pub(crate) jwt_jwks: Option<String>,
    /// Seconds between scheduled refreshes of a JWKS URL.
    #[arg(long, env = "JWT_JWKS_REFRESH_SECS", default_value_t = 300)]
    pub(crate) jwt_jwks_refresh_secs: u64,
    /// Shortest seconds between two fetches of a JWKS URL (a token with an unknown key id
    /// triggers one; this bounds how often).
    #[arg(long, env = "JWT_JWKS_MIN_REFRESH_SECS", default_value_t = 30)]
    pub(crate) jwt_jwks_min_refresh_secs: u64,
    /// Seconds an outbound HTTP call may take in all (connecting: at most 5).
    #[arg(long, env = "RAGD_OUTBOUND_TIMEOUT_SECS", default_value_t = 10)]
    pub(crate) outbound_timeout_secs: u64,
    /// Required `iss` of external tokens.
    #[arg(long, env = "JWT_JWKS_ISSUER")]
    pub(crate) jwt_jwks_issuer: Option<String>,
    /// Required `aud` of external tokens.
    #[arg(long, env = "JWT_JWKS_AUDIENCE")]
    pub(crate) jwt_jwks_audience: Option<String>,
    /// Seconds a looked-up user or API key is reused to accept their tokens (0: read the
    /// database on every request). A password change, disable or key revocation made by another
    /// process (`ragd users`, `ragd keys`) takes effect within this time.
    #[arg(long, env = "RAGD_AUTH_CACHE_SECS", default_value_t = 1)]
    pub(crate) auth_cache_secs: u64,
    /// Admins of this tenant are platform admins: they manage tenants and every tenant's users.
    #[arg(long, env = "RAGD_PLATFORM_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
    pub(crate) platform_tenant: String,
    /// The claim of external tokens that names the tenant.
    #[arg(long, env = "JWT_JWKS_TENANT_CLAIM", default_value = "tenant")]
    pub(crate) jwt_jwks_tenant_claim: String,
    /// Origins allowed by CORS: a JSON list as in the chapter, or a comma-separated list; `*` for any.
    #[arg(
        long,
        env = "ALLOWED_ORIGINS",
        default_value = r#"["http://localhost:3000"]"#
    )]
    pub(crate) allowed_origins: String,
    /// Send `Server-Timing` headers (auth, rate limit, guardrails, total) for benchmarks and
    /// debugging; off by default, as they tell clients how long internal steps take.
    #[arg(long, env = "RAGD_SERVER_TIMING", default_value_t = false, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) server_timing: bool,
    /// Serve /metrics.
    #[arg(long, env = "ENABLE_METRICS", default_value_t = true, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) enable_metrics: bool,
    /// Serve /metrics on this address only (e.g. 127.0.0.1:9464, an internal interface),
    /// instead of on the main port; empty: on the main port, as the chapter has it.
    #[arg(long, env = "RAGD_METRICS_ADDR", default_value = "")]
    pub(crate) metrics_addr: String,
    /// Log format: json or text.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub(crate) log_format: String,
    /// Creates this admin at start-up if no user has that name (with RAGD_ADMIN_PASSWORD).
    #[arg(long, env = "RAGD_ADMIN_USERNAME")]
    pub(crate) admin_username: Option<String>,
    /// Password of the bootstrap admin.
    #[arg(long, env = "RAGD_ADMIN_PASSWORD", hide_env_values = true)]
    pub(crate) admin_password: Option<SecretString>,
    /// Requests per principal (or per client address when unauthenticated) per window.
    #[arg(long, env = "RATE_LIMIT_REQUESTS", default_value_t = 100)]
    pub(crate) rate_limit_requests: u32,
    /// The rate-limit window, in seconds.
    #[arg(long, env = "RATE_LIMIT_WINDOW", default_value_t = 3600)]
    pub(crate) rate_limit_window: u64,
    /// Login attempts per client address, as REQUESTS/SECONDS.
    #[arg(long, env = "RAGD_LOGIN_RATE_LIMIT", default_value = "10/60")]
    pub(crate) login_rate_limit: String,
    /// Login attempts per account (whatever the address), as REQUESTS/SECONDS: password
    /// guessing spread over many addresses.
    #[arg(long, env = "RAGD_LOGIN_ACCOUNT_RATE_LIMIT", default_value = "20/300")]
    pub(crate) login_account_rate_limit: String,
    /// Password hashes computed at once (argon2id takes 19 MiB each); logins beyond it get 503.
    #[arg(long, env = "RAGD_LOGIN_CONCURRENCY", default_value_t = 4)]
    pub(crate) login_concurrency: usize,
    /// Per-path quotas replacing RATE_LIMIT_*, e.g. `/documents=20/60,/query=600/60`.
    #[arg(long, env = "RAGD_RATE_LIMITS", default_value = "")]
    pub(crate) rate_limits: String,
    /// Proxies (IPs or CIDR networks, comma-separated) whose X-Forwarded-For names the client.
    #[arg(long, env = "RAGD_TRUSTED_PROXIES", default_value = "")]
    pub(crate) trusted_proxies: String,
    /// Seconds a request may take before it is answered with 503.
    #[arg(long, env = "RAGD_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    pub(crate) request_timeout_secs: u64,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "RAGD_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub(crate) shutdown_timeout_secs: u64,
    /// Seconds between SIGTERM and closing the listener, during which `/health/ready` answers
    /// 503 (so load balancers stop sending new requests) while requests are still served, each
    /// response closing its connection. 0: close at once. Behind a load balancer, set it to a
    /// little more than the balancer's health-check interval (SIGINT never waits).
    #[arg(long, env = "RAGD_SHUTDOWN_DRAIN_SECS", default_value_t = 0)]
    pub(crate) shutdown_drain_secs: u64,
    /// Largest JSON request body, in bytes.
    #[arg(long, env = "RAGD_MAX_JSON_BYTES", default_value_t = 1024 * 1024)]
    pub(crate) max_json_bytes: usize,
    /// Largest multipart upload (all files together), in bytes.
    #[arg(long, env = "RAGD_MAX_UPLOAD_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub(crate) max_upload_bytes: usize,
    /// Most files in one upload.
    #[arg(long, env = "RAGD_MAX_UPLOAD_FILES", default_value_t = 1000)]
    pub(crate) max_upload_files: usize,
    /// Uploads up to this many bytes (and RAGD_SYNC_UPLOAD_FILES files) are ingested before the
    /// response; larger ones become jobs (202 + GET /jobs/{id}).
    #[arg(long, env = "RAGD_SYNC_UPLOAD_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub(crate) sync_upload_bytes: usize,
    /// Most files of an upload ingested before the response.
    #[arg(long, env = "RAGD_SYNC_UPLOAD_FILES", default_value_t = 8)]
    pub(crate) sync_upload_files: usize,
    /// Starts of one file of a job after which it is failed instead of retried (a start that
    /// never finished was cut short by a crash or a stop).
    #[arg(long, env = "RAGD_JOB_FILE_ATTEMPTS", default_value_t = 3)]
    pub(crate) job_file_attempts: u32,
    /// Seconds a worker's claim on a job holds without renewal (renewed every third of it):
    /// how long a job whose instance died waits before another instance takes it over (2..=3600).
    #[arg(long, env = "RAGD_JOB_LEASE_SECS", default_value_t = 30)]
    pub(crate) job_lease_secs: u64,
    /// Unfinished ingestion jobs at most; further large uploads get 503 until some finish.
    #[arg(long, env = "RAGD_MAX_QUEUED_JOBS", default_value_t = 1024)]
    pub(crate) max_queued_jobs: usize,
    #[command(flatten)]
    pub(crate) webhooks: crate::webhooks::config::WebhookArgs,
}

/// Validated settings of the HTTP server.
#[derive(Debug, Clone)]
pub(crate) struct ServerConfig {
    pub(crate) addr: SocketAddr,
    pub(crate) jwt: JwtConfig,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) enable_metrics: bool,
    /// Where /metrics is served when not on the main port.
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) bootstrap_admin: Option<(String, SecretString)>,
    pub(crate) request_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) shutdown_drain: Duration,
    pub(crate) limits: HttpLimits,
    pub(crate) rate_limits: RateLimitConfig,
    pub(crate) server_timing: bool,
    pub(crate) webhooks: crate::webhooks::config::WebhookSettings,
}

/// Request size limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    pub(crate) max_json_bytes: usize,
    pub(crate) max_upload_bytes: usize,
    pub(crate) max_upload_files: usize,
    pub(crate) sync_upload_bytes: usize,
    pub(crate) sync_upload_files: usize,
    pub(crate) job_file_attempts: u32,
    pub(crate) job_lease: Duration,
    pub(crate) max_queued_jobs: usize,
}

fn rate_limits(args: &ServeArgs) -> anyhow::Result<RateLimitConfig> {
    let default = Quota::new(
        args.rate_limit_requests,
        Duration::from_secs(args.rate_limit_window),
    )
    .context("RATE_LIMIT_REQUESTS / RATE_LIMIT_WINDOW")?;
    let login = Quota::parse(&args.login_rate_limit).context("RAGD_LOGIN_RATE_LIMIT")?;
    let mut paths = Vec::new();
    for entry in args
        .rate_limits
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let (path, quota) = entry
            .split_once('=')
            .filter(|(p, _)| p.starts_with('/'))
            .with_context(|| {
                format!("RAGD_RATE_LIMITS: {entry:?} is not /PATH=REQUESTS/SECONDS")
            })?;
        let group = crate::rate_limit::quota_group(path);
        if group != path {
            bail!(
                "RAGD_RATE_LIMITS: {path:?} is not a quota group; quotas apply to a route's first \
                 segment (e.g. /documents also covers /documents/{{id}})"
            );
        }
        paths.push((
            group.to_owned(),
            Quota::parse(quota).context("RAGD_RATE_LIMITS")?,
        ));
    }
    let trusted_proxies = args
        .trusted_proxies
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(Network::parse)
        .collect::<anyhow::Result<Vec<_>>>()
        .context("RAGD_TRUSTED_PROXIES")?;
    let login_account =
        Quota::parse(&args.login_account_rate_limit).context("RAGD_LOGIN_ACCOUNT_RATE_LIMIT")?;
    Ok(RateLimitConfig {
        default,
        login,
        login_account,
        paths,
        trusted_proxies,
    })
}

/// Parses `ALLOWED_ORIGINS`: a JSON list (the chapter's form) or a comma-separated list.
pub(crate) fn parse_origins(raw: &str) -> anyhow::Result<Vec<String>> {
    let raw = raw.trim();
    let list: Vec<String> = if raw.starts_with('[') {
        serde_json::from_str(raw).context("ALLOWED_ORIGINS is not a JSON list of strings")?
    } else {
        raw.split(',').map(|s| s.trim().to_owned()).collect()
    };
    let list: Vec<String> = list.into_iter().filter(|s| !s.is_empty()).collect();
    for origin in &list {
        let ok = origin == "*"
            || (origin.starts_with("http://") || origin.starts_with("https://"))
                && axum::http::HeaderValue::from_str(origin).is_ok();
        if !ok {
            bail!("ALLOWED_ORIGINS: {origin:?} is not an http(s) origin or *");
        }
    }
    Ok(list)
}

impl ServeArgs {
    /// Validates the settings, naming the one to fix.
    pub(crate) fn to_config(
        &self,
        outbound_ca_file: Option<&std::path::Path>,
    ) -> anyhow::Result<ServerConfig> {
        let ip: std::net::IpAddr = self
            .host
            .parse()
            .with_context(|| format!("RAGD_HOST {:?} is not an IP address", self.host))?;
        for (name, value) in [
            (
                "RAGD_REQUEST_TIMEOUT_SECS",
                self.request_timeout_secs as usize,
            ),
            ("RAGD_MAX_JSON_BYTES", self.max_json_bytes),
            ("RAGD_MAX_UPLOAD_BYTES", self.max_upload_bytes),
            ("RAGD_MAX_UPLOAD_FILES", self.max_upload_files),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if !(2..=3600).contains(&self.job_lease_secs) {
            bail!("RAGD_JOB_LEASE_SECS must be 2..=3600");
        }
        if !matches!(self.log_format.as_str(), "json" | "text") {
            bail!("LOG_FORMAT must be json or text");
        }
        let metrics_addr =
            match self.metrics_addr.trim() {
                "" => None,
                raw => Some(raw.parse::<SocketAddr>().with_context(|| {
                    format!("RAGD_METRICS_ADDR {raw:?} is not an IP:PORT address")
                })?),
            };
        if metrics_addr.is_some() && !self.enable_metrics {
            bail!("RAGD_METRICS_ADDR is set but ENABLE_METRICS is false");
        }
        let bootstrap_admin = match (&self.admin_username, &self.admin_password) {
            (Some(user), Some(pass)) => Some((user.clone(), pass.clone())),
            (None, None) => None,
            _ => bail!("RAGD_ADMIN_USERNAME and RAGD_ADMIN_PASSWORD must be set together"),
        };
        Ok(ServerConfig {
            addr: SocketAddr::new(ip, self.port),
            jwt: crate::jwt_config::jwt_config(self, outbound_ca_file)?,
            allowed_origins: parse_origins(&self.allowed_origins)?,
            rate_limits: rate_limits(self)?,
            server_timing: self.server_timing,
            webhooks: self.webhooks.settings()?,
            enable_metrics: self.enable_metrics,
            metrics_addr,
            bootstrap_admin,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs),
            shutdown_drain: Duration::from_secs(self.shutdown_drain_secs),
            limits: HttpLimits {
                max_json_bytes: self.max_json_bytes,
                max_upload_bytes: self.max_upload_bytes,
                max_upload_files: self.max_upload_files,
                sync_upload_bytes: self.sync_upload_bytes,
                sync_upload_files: self.sync_upload_files,
                job_file_attempts: self.job_file_attempts.max(1),
                job_lease: Duration::from_secs(self.job_lease_secs),
                max_queued_jobs: self.max_queued_jobs.max(1),
            },
        })
    }
}

#[cfg(test)]
impl ServerConfig {
    /// Defaults with a fixed secret, for in-process router tests.
    pub(crate) fn for_tests() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            jwt: JwtConfig {
                secret: SecretString::from("0123456789abcdef0123456789abcdef-in-process"),
                algorithm: jsonwebtoken::Algorithm::HS256,
                expire: Duration::from_secs(1800),
                issuer: "ragd".into(),
                audience: "ragd".into(),
                external: None,
                platform_tenant: "default".into(),
                auth_cache_ttl: Duration::from_secs(1),
                hash_concurrency: 2,
            },
            allowed_origins: vec!["http://localhost:3000".into()],
            server_timing: false,
            webhooks: crate::webhooks::config::WebhookSettings::for_tests(),
            rate_limits: RateLimitConfig {
                default: Quota::new(1000, Duration::from_secs(60)).expect("valid"),
                login: Quota::new(1000, Duration::from_secs(60)).expect("valid"),
                login_account: Quota::new(1000, Duration::from_secs(60)).expect("valid"),
                paths: Vec::new(),
                trusted_proxies: Vec::new(),
            },
            enable_metrics: false,
            metrics_addr: None,
            bootstrap_admin: None,
            request_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(5),
            shutdown_drain: Duration::ZERO,
            limits: HttpLimits {
                max_json_bytes: 1024 * 1024,
                max_upload_bytes: 1024 * 1024,
                max_upload_files: 10,
                sync_upload_bytes: 1024,
                sync_upload_files: 1,
                job_file_attempts: 3,
                job_lease: Duration::from_secs(30),
                max_queued_jobs: 1024,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_accept_the_chapters_json_list_and_comma_lists() {
        let json = parse_origins(r#"["http://localhost:3000","https://yourdomain.com"]"#).unwrap();
        assert_eq!(json, ["http://localhost:3000", "https://yourdomain.com"]);
        let commas = parse_origins("http://a.example, https://b.example").unwrap();
        assert_eq!(commas, ["http://a.example", "https://b.example"]);
        assert_eq!(parse_origins("*").unwrap(), ["*"]);
        assert!(parse_origins("ftp://x").is_err());
        assert!(parse_origins("[1, 2]").is_err());
    }
}
