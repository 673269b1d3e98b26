//! Authentication: argon2id password hashes, login tokens (JWT with `exp`, `iat`, `sub`, `iss`,
//! `aud`, pinned algorithm) and the [`Principal`] extractor that protected handlers take.
//!
//! A token names its user, who is looked up to check it: disabling a user or changing their
//! password (`ragd users`, which bumps `token_epoch`) ends their tokens within
//! `RAGD_AUTH_CACHE_SECS`, how long a looked-up user is reused ([`crate::recent`]) — at once on
//! every instance when they share Redis, whose invalidation bus the authenticator follows.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use ragd_core::accounts::{AccessScope, ApiKey, ApiKeyStore, Role, User, UserStore};
use ragd_core::authz::{AccessPolicy, Actor};
use ragd_core::invalidation::{Invalidation, InvalidationBus};
use ragd_core::types::TenantId;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::error::{ApiError, ApiResult};
use crate::jwt_config::JwtConfig;
use crate::passwords::verify_password;
pub(crate) use crate::passwords::{check_password_policy, hash_password};
use crate::recent::{Gate, Recent};

/// The key of a user in the recent-users cache (a tenant name holds no NUL).
fn user_key(tenant: &TenantId, username: &str) -> String {
    format!("{}\0{username}", tenant.as_str())
}

/// The claims of a ragd login token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    tid: String,
    role: Role,
    ver: i64,
    iat: u64,
    exp: u64,
    iss: String,
    aud: String,
}

/// Issues and checks tokens; looks users up.
pub(crate) struct Authenticator {
    users: Arc<dyn UserStore>,
    /// Users recently read from `users`, by name.
    recent_users: Recent<User>,
    /// API keys recently read from `keys`, by prefix.
    recent_keys: Recent<ApiKey>,
    keys: Arc<dyn ApiKeyStore>,
    config: JwtConfig,
    policy: AccessPolicy,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// A real hash to verify against when the user does not exist, so the response time does
    /// not tell which usernames exist.
    dummy_hash: String,
    /// Bounds the password hashes computed at once (19 MiB of memory each).
    hashing: tokio::sync::Semaphore,
    /// Carries credential changes between instances; the caches are used only while it
    /// delivers.
    bus: Arc<dyn InvalidationBus>,
}

/// Who is calling: a name for logs and the [`Actor`] that authorization decides on.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    /// The user, `key:<prefix>` for an API key, `oidc:<sub>` for an external token.
    pub(crate) username: String,
    pub(crate) actor: Actor,
}

impl Authenticator {
    pub(crate) fn new(
        users: Arc<dyn UserStore>,
        keys: Arc<dyn ApiKeyStore>,
        config: JwtConfig,
        bus: Arc<dyn InvalidationBus>,
    ) -> ragd_core::Result<Self> {
        let secret = config.secret.expose_secret().as_bytes();
        let mut validation = Validation::new(config.algorithm);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = 30;
        let dummy = SecretString::from("not a real password, only timing cover");
        let gate: Gate = {
            let bus = Arc::clone(&bus);
            Arc::new(move || bus.delivering())
        };
        Ok(Self {
            users,
            recent_users: Recent::gated(config.auth_cache_ttl, Arc::clone(&gate)),
            recent_keys: Recent::gated(config.auth_cache_ttl, gate),
            bus,
            keys,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            dummy_hash: hash_password(&dummy)?,
            hashing: tokio::sync::Semaphore::new(config.hash_concurrency.max(1)),
            policy: AccessPolicy::new(
                TenantId::parse(&config.platform_tenant)
                    .map_err(|e| ragd_core::Error::invalid(format!("RAGD_PLATFORM_TENANT: {e}")))?,
            ),
            config,
        })
    }

    /// The authorization rules.
    pub(crate) fn policy(&self) -> &AccessPolicy {
        &self.policy
    }

    /// Starts applying the credential changes announced by every instance.
    pub(crate) fn follow(self: &Arc<Self>) {
        let this = Arc::downgrade(self);
        self.bus.subscribe(Arc::new(move |change| {
            if let Some(this) = this.upgrade() {
                this.forget(&change);
            }
        }));
    }

    fn forget(&self, change: &Invalidation) {
        match change {
            Invalidation::ApiKeys => self.recent_keys.clear(),
            Invalidation::User { tenant, username } => {
                self.recent_users.remove(&format!("{tenant}\0{username}"));
            }
            Invalidation::Everything => {
                self.recent_keys.clear();
                self.recent_users.clear();
            }
        }
    }

    /// Forgets `change` here at once and announces it to every other instance (a failed
    /// announcement is logged: the change is stored, and an instance that cannot hear it reads
    /// credentials from the database until it can).
    pub(crate) async fn announce(&self, change: Invalidation) {
        self.forget(&change);
        if let Err(err) = self.bus.publish(change).await {
            tracing::warn!(%err, "could not announce a credential change to the other instances");
        }
    }

    /// Token lifetime.
    pub(crate) fn expires_in(&self) -> Duration {
        self.config.expire
    }

    /// A slot to compute one password hash in, or 503: a flood of logins cannot take
    /// `19 MiB × requests` of memory.
    fn hashing_slot(&self) -> ApiResult<tokio::sync::SemaphorePermit<'_>> {
        self.hashing.try_acquire().map_err(|_| {
            ApiError::unavailable(
                "too many logins at once; retry shortly",
                Duration::from_secs(1),
            )
        })
    }

    /// Hashes a new password off the async runtime, within the hashing bound.
    pub(crate) async fn hash(&self, password: SecretString) -> ApiResult<String> {
        let _slot = self.hashing_slot()?;
        Ok(
            tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .map_err(ApiError::internal)??,
        )
    }

    /// The user a login names: in `tenant`, or — without one — the only user of that name in
    /// any tenant (a name several tenants have needs the tenant; answered like a wrong password,
    /// so nothing tells which names exist where).
    async fn login_user(
        &self,
        tenant: Option<&TenantId>,
        username: &str,
    ) -> ApiResult<Option<User>> {
        Ok(match tenant {
            Some(tenant) => self.users.user(tenant, username).await?,
            None => {
                let mut named = self.users.users_named(username).await?;
                if named.len() == 1 { named.pop() } else { None }
            }
        })
    }

    /// Checks a username and password; the same error for an unknown user, a wrong password
    /// and a disabled user. Hashing runs off the async runtime, within the hashing bound.
    pub(crate) async fn login(
        &self,
        tenant: Option<&TenantId>,
        username: &str,
        password: SecretString,
    ) -> ApiResult<String> {
        let _slot = self.hashing_slot()?;
        let user = self.login_user(tenant, username).await?;
        let phc = user
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |u| u.password_hash.clone());
        let matches =
            tokio::task::spawn_blocking(move || verify_password(password.expose_secret(), &phc))
                .await
                .map_err(ApiError::internal)?;
        if let Some(user) = &user {
            self.recent_users
                .put(&user_key(&user.tenant, user.username.as_str()), user);
        }
        match user {
            Some(user) if matches && !user.disabled => self.issue(&user),
            Some(_) | None => Err(ApiError::unauthorized(
                "invalid username or password (a name that several tenants have needs `tenant` too)",
            )),
        }
    }

    fn issue(&self, user: &User) -> ApiResult<String> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user.username.as_str().to_owned(),
            tid: user.tenant.as_str().to_owned(),
            role: user.role,
            ver: user.token_epoch,
            iat: now,
            exp: now + self.config.expire.as_secs(),
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
        };
        jsonwebtoken::encode(&Header::new(self.config.algorithm), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    /// A key works only while the user who made it exists and is enabled (read through the same
    /// short-lived cache as tokens, which only ever accepts).
    async fn check_key_owner(&self, tenant: &TenantId, owner: &str) -> ApiResult<()> {
        let key = user_key(tenant, owner);
        if self.recent_users.get(&key).is_some_and(|u| !u.disabled) {
            return Ok(());
        }
        let user = self.users.user(tenant, owner).await?;
        match user {
            Some(u) if !u.disabled => {
                self.recent_users.put(&key, &u);
                Ok(())
            }
            Some(_) | None => Err(ApiError::unauthorized(
                "the user who created this API key is disabled or gone",
            )),
        }
    }

    /// Resolves a bearer token (a JWT or an API key) to a principal.
    pub(crate) async fn principal(&self, token: &str) -> ApiResult<Principal> {
        if token.starts_with(crate::api_keys::KEY_PREFIX) {
            let (principal, owner) =
                crate::api_keys::principal(&self.keys, &self.recent_keys, token, &self.policy)
                    .await?;
            if let Some(owner) = owner {
                self.check_key_owner(principal.tenant(), &owner).await?;
            }
            return Ok(principal);
        }
        if let Some(external) = &self.config.external {
            let alg = jsonwebtoken::decode_header(token)
                .map_err(|_| ApiError::unauthorized("invalid token"))?
                .alg;
            if alg != self.config.algorithm {
                return external.principal(token, alg, &self.policy).await;
            }
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                let why = if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) {
                    "the token has expired"
                } else {
                    "invalid token"
                };
                ApiError::unauthorized(why)
            })?;
        let claims = data.claims;
        let tenant =
            TenantId::parse(&claims.tid).map_err(|_| ApiError::unauthorized("invalid token"))?;
        let accepts = |u: &User| !u.disabled && u.token_epoch == claims.ver && u.tenant == tenant;
        let key = user_key(&tenant, &claims.sub);
        // A cached user only ever accepts: one that would refuse is read again.
        let user = match self.recent_users.get(&key).filter(accepts) {
            Some(user) => Some(user),
            None => {
                let user = self.users.user(&tenant, &claims.sub).await?;
                if let Some(user) = &user {
                    self.recent_users.put(&key, user);
                }
                user
            }
        };
        match user {
            Some(u) if accepts(&u) => Ok(Principal {
                username: claims.sub,
                actor: self.policy.user(u.tenant, u.role),
            }),
            Some(_) | None => Err(ApiError::unauthorized("the token is no longer valid")),
        }
    }
}

impl Principal {
    /// Fails with 403 unless the principal has `scope`.
    pub(crate) fn require(&self, scope: AccessScope) -> ApiResult<()> {
        Ok(self.actor.require(scope)?)
    }

    /// The tenant the principal acts in.
    pub(crate) fn tenant(&self) -> &TenantId {
        &self.actor.tenant
    }
}

/// What [`authenticate`] found for a request that sent credentials.
#[derive(Debug, Clone)]
pub(crate) enum Authenticated {
    /// Valid credentials.
    Principal(Principal),
    /// Invalid credentials: the error to answer if the route needs a principal.
    Failed(ApiError),
}

impl Authenticated {
    pub(crate) fn principal(&self) -> Option<&Principal> {
        match self {
            Self::Principal(p) => Some(p),
            Self::Failed(_) => None,
        }
    }
}

fn bearer_token(value: &HeaderValue) -> ApiResult<&str> {
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <token>"))
}

/// Middleware: resolves the credentials of a request once (the rate limiter keys on the
/// principal, handlers take it with the [`Principal`] extractor), in an `auth` span, and records
/// the `tenant` and `principal` on the request's span. Routes that need no principal ignore
/// the outcome.
pub(crate) async fn authenticate(
    State(auth): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = match request.headers().get("x-api-key") {
        Some(key) => Some(
            key.to_str()
                .map_err(|_| ApiError::unauthorized("malformed X-API-Key header"))
                .map(str::trim),
        ),
        None => request.headers().get(AUTHORIZATION).map(bearer_token),
    };
    if let Some(presented) = presented {
        let request_span = tracing::Span::current();
        let started = std::time::Instant::now();
        let checking = tracing::info_span!("auth", outcome = tracing::field::Empty);
        let outcome = async {
            match presented {
                Ok(token) => auth.principal(token).await,
                Err(err) => Err(err),
            }
        }
        .instrument(checking.clone())
        .await;
        crate::telemetry::record_timing("auth", started.elapsed());
        checking.record("outcome", if outcome.is_ok() { "ok" } else { "refused" });
        if let Ok(principal) = &outcome {
            request_span.record("tenant", principal.tenant().as_str());
            request_span.record("principal", principal.username.as_str());
        }
        let found = match outcome {
            Ok(principal) => Authenticated::Principal(principal),
            Err(err) => Authenticated::Failed(err),
        };
        request.extensions_mut().insert(found);
    }
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Authenticated>() {
            Some(Authenticated::Principal(p)) => Ok(p.clone()),
            Some(Authenticated::Failed(err)) => Err(err.clone()),
            None => Err(ApiError::unauthorized(
                "missing Authorization: Bearer token",
            )),
        }
    }
}
