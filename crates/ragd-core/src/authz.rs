//! Authorization: what a principal may do, decided here and nowhere else, by its kind, its
//! tenant and its scopes together. Transports build an [`Actor`] through [`AccessPolicy::actor`]
//! and ask [`AccessPolicy::authorize`] before acting; the account rules (who may create which
//! user, key or tenant) are the `Action`s below.
//!
//! The one rule behind every grant: **a principal never creates a principal with rights it does
//! not hold itself**. A user of role R in tenant T gets the scopes `AccessScope::of_role(R, T is
//! the platform tenant)`, so creating one needs all of them; a key gets the scopes it is given,
//! so creating one needs all of those. And `platform` is honoured only for principals of the
//! platform tenant, whatever a token or key claims.

use crate::accounts::{AccessScope, Role};
use crate::types::TenantId;
use crate::{Error, Result};

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// A user who logged in (a ragd token).
    User,
    /// An API key.
    ApiKey,
    /// A token of an external identity provider (OIDC).
    External,
}

/// A principal as authorization sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// How it authenticated.
    pub kind: ActorKind,
    /// The tenant it acts in.
    pub tenant: TenantId,
    /// What it may do (already without `platform` outside the platform tenant).
    pub scopes: Vec<AccessScope>,
}

impl Actor {
    /// Whether the actor holds `scope`.
    pub fn has(&self, scope: AccessScope) -> bool {
        self.scopes.contains(&scope)
    }

    /// [`Error::Forbidden`] unless the actor holds `scope`.
    pub fn require(&self, scope: AccessScope) -> Result<()> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this needs the {:?} scope",
                scope.as_str()
            )))
        }
    }
}

/// Something an actor asks to do with accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// List every tenant.
    ListTenants,
    /// Create a tenant.
    CreateTenant,
    /// List the users of the actor's tenant.
    ListUsers,
    /// Create a user of `role` in `tenant`.
    CreateUser {
        /// Where the user goes.
        tenant: &'a TenantId,
        /// Its role.
        role: Role,
    },
    /// List the API keys of the actor's tenant.
    ListKeys,
    /// Create an API key of the actor's tenant with these scopes.
    CreateKey {
        /// The scopes asked for.
        scopes: &'a [AccessScope],
    },
    /// Revoke an API key of the actor's tenant.
    RevokeKey,
    /// Register, read, change or delete the webhooks of the actor's tenant (they receive every
    /// query of the tenant, so only its admins may).
    ManageWebhooks,
}

/// The authorization rules of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    platform_tenant: TenantId,
}

impl AccessPolicy {
    /// Rules where admins of `platform_tenant` manage every tenant.
    pub fn new(platform_tenant: TenantId) -> Self {
        Self { platform_tenant }
    }

    /// The tenant whose admins manage every tenant.
    pub fn platform_tenant(&self) -> &TenantId {
        &self.platform_tenant
    }

    /// The actor for an authenticated principal: `platform` is dropped outside the platform
    /// tenant (an external token or a key claiming it elsewhere gets nothing from it), and each
    /// scope is kept once.
    pub fn actor(&self, kind: ActorKind, tenant: TenantId, scopes: &[AccessScope]) -> Actor {
        let platform = tenant == self.platform_tenant;
        let mut kept: Vec<AccessScope> = Vec::with_capacity(scopes.len());
        for &scope in scopes {
            if (scope != AccessScope::Platform || platform) && !kept.contains(&scope) {
                kept.push(scope);
            }
        }
        Actor {
            kind,
            tenant,
            scopes: kept,
        }
    }

    /// The actor of a logged-in user of `role` in `tenant`.
    pub fn user(&self, tenant: TenantId, role: Role) -> Actor {
        let scopes = AccessScope::of_role(role, tenant == self.platform_tenant);
        self.actor(ActorKind::User, tenant, &scopes)
    }

    /// Whether the actor sees every tenant's users (not only its own).
    pub fn sees_all_tenants(&self, actor: &Actor) -> bool {
        actor.has(AccessScope::Platform)
    }

    /// Allowed, or [`Error::Forbidden`] saying why not.
    pub fn authorize(&self, actor: &Actor, action: &Action<'_>) -> Result<()> {
        match *action {
            Action::ListTenants | Action::CreateTenant => actor.require(AccessScope::Platform),
            Action::ListUsers | Action::ListKeys | Action::RevokeKey | Action::ManageWebhooks => {
                actor.require(AccessScope::Admin)
            }
            Action::CreateUser { tenant, role } => {
                actor.require(AccessScope::Admin)?;
                if *tenant != actor.tenant {
                    actor.require(AccessScope::Platform)?;
                }
                let grants = AccessScope::of_role(role, *tenant == self.platform_tenant);
                not_beyond(
                    actor,
                    &grants,
                    &format!("create a user of role {}", role.as_str()),
                )
            }
            Action::CreateKey { scopes } => {
                if actor.kind == ActorKind::ApiKey {
                    return Err(Error::Forbidden(
                        "API keys cannot create API keys; a user (or an identity-provider token) must"
                            .into(),
                    ));
                }
                actor.require(AccessScope::Admin)?;
                not_beyond(actor, scopes, "grant")
            }
        }
    }
}

/// [`Error::Forbidden`] when `grants` holds a scope the actor lacks.
fn not_beyond(actor: &Actor, grants: &[AccessScope], what: &str) -> Result<()> {
    match grants.iter().find(|s| !actor.has(**s)) {
        None => Ok(()),
        Some(scope) => Err(Error::Forbidden(format!(
            "you cannot {what}: it would have the {:?} scope, which you do not hold",
            scope.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests;
