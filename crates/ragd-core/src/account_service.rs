//! [`AccountService`]: the account rules over the account ports. Every transport (HTTP, and any
//! later one) manages tenants, users and API keys through it, so who may create, list or revoke
//! what is decided here — by [`AccessPolicy`] — together with the checks that need the stores
//! (a user's tenant must exist; a key belongs to its creator's tenant), never in a handler.

use std::sync::Arc;

use crate::accounts::{
    ApiKey, ApiKeyStore, NewUser, Role, TenantInfo, TenantStore, User, UserStore,
};
use crate::authz::{AccessPolicy, Action, Actor};
use crate::types::TenantId;
use crate::{Error, Result};

/// Tenants, users and API keys, as a principal may manage them.
pub struct AccountService {
    users: Arc<dyn UserStore>,
    keys: Arc<dyn ApiKeyStore>,
    tenants: Arc<dyn TenantStore>,
    policy: AccessPolicy,
}

impl AccountService {
    /// The service over these stores and rules.
    pub fn new(
        users: Arc<dyn UserStore>,
        keys: Arc<dyn ApiKeyStore>,
        tenants: Arc<dyn TenantStore>,
        policy: AccessPolicy,
    ) -> Self {
        Self {
            users,
            keys,
            tenants,
            policy,
        }
    }

    /// The rules in force.
    pub fn policy(&self) -> &AccessPolicy {
        &self.policy
    }

    /// Every tenant (platform principals).
    pub async fn tenants(&self, actor: &Actor) -> Result<Vec<TenantInfo>> {
        self.policy.authorize(actor, &Action::ListTenants)?;
        self.tenants.tenants().await
    }

    /// Creates a tenant (platform principals).
    pub async fn create_tenant(&self, actor: &Actor, name: &TenantId) -> Result<TenantInfo> {
        self.policy.authorize(actor, &Action::CreateTenant)?;
        self.tenants.create_tenant(name).await
    }

    /// The users the actor may see: its tenant's, or every tenant's for platform principals.
    pub async fn users(&self, actor: &Actor) -> Result<Vec<User>> {
        self.policy.authorize(actor, &Action::ListUsers)?;
        let all = self.policy.sees_all_tenants(actor);
        let mut users = self.users.users().await?;
        users.retain(|u| all || u.tenant == actor.tenant);
        Ok(users)
    }

    /// Whether the actor may create a user of `role` in `tenant`, which must exist when it is
    /// not the actor's own. Transports ask before hashing the password (that costs 19 MiB and
    /// tens of milliseconds), then call [`AccountService::create_user`], which asks again.
    pub async fn may_create_user(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        role: Role,
    ) -> Result<()> {
        self.policy
            .authorize(actor, &Action::CreateUser { tenant, role })?;
        if *tenant != actor.tenant
            && !self
                .tenants
                .tenants()
                .await?
                .iter()
                .any(|t| t.name == *tenant)
        {
            return Err(Error::NotFound(format!("tenant {:?}", tenant.as_str())));
        }
        Ok(())
    }

    /// Creates a user (see [`AccountService::may_create_user`]).
    pub async fn create_user(&self, actor: &Actor, user: NewUser) -> Result<User> {
        self.may_create_user(actor, &user.tenant, user.role).await?;
        self.users.create_user(user).await
    }

    /// The API keys of the actor's tenant.
    pub async fn keys(&self, actor: &Actor) -> Result<Vec<ApiKey>> {
        self.policy.authorize(actor, &Action::ListKeys)?;
        self.keys.keys(&actor.tenant).await
    }

    /// Stores a new key of the actor's tenant, with at most the actor's scopes.
    pub async fn create_key(&self, actor: &Actor, key: ApiKey) -> Result<ApiKey> {
        self.policy.authorize(
            actor,
            &Action::CreateKey {
                scopes: &key.scopes,
            },
        )?;
        if key.tenant != actor.tenant {
            return Err(Error::Forbidden(
                "a key belongs to its creator's tenant".into(),
            ));
        }
        self.keys.create_key(key).await
    }

    /// Revokes a key of the actor's tenant (another tenant's key is not found).
    pub async fn revoke_key(&self, actor: &Actor, id: &str) -> Result<ApiKey> {
        self.policy.authorize(actor, &Action::RevokeKey)?;
        self.keys.revoke_key(&actor.tenant, id).await
    }
}
