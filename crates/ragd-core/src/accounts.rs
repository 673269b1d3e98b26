//! Accounts: the users who may log in, their tenant and role. Passwords are stored only as
//! password hashes (argon2id, computed by the transport); this module never sees a plain password.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;
use crate::types::TenantId;

/// What a user may do inside their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages the tenant: users, documents, settings.
    Admin,
    /// Queries and ingests.
    Member,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            other => Err(crate::Error::invalid(format!(
                "unknown role {other:?} (expected admin or member)"
            ))),
        }
    }
}

/// Usernames: 1..=64 characters of letters, digits and `._@-`, case preserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Longest accepted username.
    pub const MAX_LEN: usize = 64;

    /// Validates a username.
    pub fn parse(raw: &str) -> Result<Self> {
        let ok_char = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '@' | '-');
        if raw.is_empty() || raw.chars().count() > Self::MAX_LEN || !raw.chars().all(ok_char) {
            return Err(crate::Error::invalid(format!(
                "username must be 1..={} letters, digits or ._@-",
                Self::MAX_LEN
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id (UUID).
    pub id: String,
    /// Login name, unique within its tenant.
    pub username: Username,
    /// The tenant the user belongs to.
    pub tenant: TenantId,
    /// Role inside the tenant.
    pub role: Role,
    /// PHC string of the password hash.
    pub password_hash: String,
    /// A disabled user cannot log in and their tokens stop working.
    pub disabled: bool,
    /// Bumped whenever the password changes or the user is disabled; tokens carry the value they
    /// were issued under, so older tokens stop working.
    pub token_epoch: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("tenant", &self.tenant)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A user to create.
pub struct NewUser {
    /// Login name.
    pub username: Username,
    /// Tenant.
    pub tenant: TenantId,
    /// Role.
    pub role: Role,
    /// PHC string of the password hash.
    pub password_hash: String,
}

/// Where users live. A username is unique within its tenant; the same name in two tenants is
/// two users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user; [`crate::Error::Conflict`] when its tenant already has the name.
    async fn create_user(&self, user: NewUser) -> Result<User>;
    /// The user of `tenant` with this name.
    async fn user(&self, tenant: &TenantId, username: &str) -> Result<Option<User>>;
    /// The users with this name in any tenant (a login that names no tenant), by tenant.
    async fn users_named(&self, username: &str) -> Result<Vec<User>>;
    /// All users, by name.
    async fn users(&self) -> Result<Vec<User>>;
    /// Enables or disables a user (disabling bumps the token epoch).
    async fn set_disabled(&self, tenant: &TenantId, username: &str, disabled: bool)
    -> Result<User>;
    /// Replaces the password hash (bumps the token epoch).
    async fn set_password(
        &self,
        tenant: &TenantId,
        username: &str,
        password_hash: &str,
    ) -> Result<User>;
}

/// What a principal (a user or an API key) may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AccessScope {
    /// Ask and search; read documents, jobs and stats.
    #[serde(rename = "query")]
    Query,
    /// Upload and delete documents.
    #[serde(rename = "ingest")]
    Ingest,
    /// Manage the tenant's API keys.
    #[serde(rename = "admin")]
    Admin,
    /// Ask with `use_guardrails: false`.
    #[serde(rename = "guardrails:bypass")]
    GuardrailsBypass,
    /// Manage tenants and the users of any tenant (admins of the platform tenant).
    #[serde(rename = "platform")]
    Platform,
}

impl AccessScope {
    /// Every scope.
    pub const ALL: [Self; 5] = [
        Self::Query,
        Self::Ingest,
        Self::Admin,
        Self::GuardrailsBypass,
        Self::Platform,
    ];

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Ingest => "ingest",
            Self::Admin => "admin",
            Self::GuardrailsBypass => "guardrails:bypass",
            Self::Platform => "platform",
        }
    }

    /// Parses a scope name.
    pub fn parse(raw: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                crate::Error::invalid(format!(
                    "unknown scope {raw:?} (expected query, ingest, admin, guardrails:bypass or platform)"
                ))
            })
    }

    /// The scopes a logged-in user of this role has; `platform` only for admins of the platform
    /// tenant.
    pub fn of_role(role: Role, platform_tenant: bool) -> Vec<Self> {
        match role {
            Role::Admin if platform_tenant => Self::ALL.to_vec(),
            Role::Admin => vec![
                Self::Query,
                Self::Ingest,
                Self::Admin,
                Self::GuardrailsBypass,
            ],
            Role::Member => vec![Self::Query, Self::Ingest],
        }
    }
}

/// A stored API key (its secret is kept only as a SHA-256 hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Key id (UUID).
    pub id: String,
    /// The public part of the key, used to look it up.
    pub prefix: String,
    /// Hex SHA-256 of the whole key.
    pub secret_hash: String,
    /// The tenant the key acts in.
    pub tenant: TenantId,
    /// A label.
    pub name: String,
    /// What the key may do.
    pub scopes: Vec<AccessScope>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// After this the key stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The user who created it: the key works only while that user exists and is enabled.
    /// `None` for keys made by an operator (`ragd keys create`) or an identity-provider token.
    pub owner: Option<String>,
}

/// Where API keys live.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key.
    async fn create_key(&self, key: ApiKey) -> Result<ApiKey>;
    /// The key with this prefix.
    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKey>>;
    /// The keys of a tenant, newest first.
    async fn keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>>;
    /// Revokes a key of a tenant ([`crate::Error::NotFound`] for another tenant's key).
    async fn revoke_key(&self, tenant: &TenantId, id: &str) -> Result<ApiKey>;
}

/// A tenant and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    /// Name.
    pub name: TenantId,
    /// Documents of all its collections.
    pub documents: u64,
    /// Its users.
    pub users: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Where tenants live.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Every tenant, by name.
    async fn tenants(&self) -> Result<Vec<TenantInfo>>;
    /// Creates a tenant ([`crate::Error::Conflict`] when it exists).
    async fn create_tenant(&self, name: &TenantId) -> Result<TenantInfo>;
}
