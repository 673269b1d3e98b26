//! The authorization table (kind × tenant × scopes × action → allowed or denied), then properties
//! over every combination.

use proptest::prelude::*;

use super::*;
use crate::accounts::AccessScope::{Admin, GuardrailsBypass, Ingest, Platform, Query};

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("tenant")
}

fn policy() -> AccessPolicy {
    AccessPolicy::new(tenant("default"))
}

#[test]
fn the_table() {
    let p = policy();
    let (home, acme) = (tenant("default"), tenant("acme"));
    let platform_admin = p.user(home.clone(), Role::Admin);
    let acme_admin = p.user(acme.clone(), Role::Admin);
    let acme_member = p.user(acme.clone(), Role::Member);
    let admin_key = p.actor(ActorKind::ApiKey, acme.clone(), &[Admin]);
    let full_key = p.actor(
        ActorKind::ApiKey,
        acme.clone(),
        &[Query, Ingest, Admin, GuardrailsBypass],
    );
    let platform_key = p.actor(ActorKind::ApiKey, home.clone(), &AccessScope::ALL);
    let oidc_platform_elsewhere = p.actor(ActorKind::External, acme.clone(), &AccessScope::ALL);
    let oidc_admin = p.actor(ActorKind::External, acme.clone(), &[Query, Ingest, Admin]);
    let admin_user = |t| Action::CreateUser {
        tenant: t,
        role: Role::Admin,
    };
    let member_user = |t| Action::CreateUser {
        tenant: t,
        role: Role::Member,
    };
    let cases: Vec<(&str, &Actor, Action<'_>, bool)> = vec![
        (
            "platform admin lists tenants",
            &platform_admin,
            Action::ListTenants,
            true,
        ),
        (
            "platform admin creates a tenant",
            &platform_admin,
            Action::CreateTenant,
            true,
        ),
        (
            "platform admin creates an admin elsewhere",
            &platform_admin,
            admin_user(&acme),
            true,
        ),
        (
            "platform admin creates a platform admin",
            &platform_admin,
            admin_user(&home),
            true,
        ),
        (
            "tenant admin lists tenants",
            &acme_admin,
            Action::ListTenants,
            false,
        ),
        (
            "tenant admin creates an admin at home",
            &acme_admin,
            admin_user(&acme),
            true,
        ),
        (
            "tenant admin creates a member at home",
            &acme_admin,
            member_user(&acme),
            true,
        ),
        (
            "tenant admin creates a user elsewhere",
            &acme_admin,
            member_user(&home),
            false,
        ),
        (
            "tenant admin lists users",
            &acme_admin,
            Action::ListUsers,
            true,
        ),
        (
            "tenant admin grants bypass",
            &acme_admin,
            Action::CreateKey {
                scopes: &[GuardrailsBypass],
            },
            true,
        ),
        (
            "tenant admin grants platform",
            &acme_admin,
            Action::CreateKey {
                scopes: &[Platform],
            },
            false,
        ),
        ("member lists users", &acme_member, Action::ListUsers, false),
        (
            "member creates a member",
            &acme_member,
            member_user(&acme),
            false,
        ),
        (
            "member creates a key",
            &acme_member,
            Action::CreateKey { scopes: &[Query] },
            false,
        ),
        (
            "admin key creates an admin",
            &admin_key,
            admin_user(&acme),
            false,
        ),
        (
            "admin key creates a member",
            &admin_key,
            member_user(&acme),
            false,
        ),
        (
            "full key creates an admin",
            &full_key,
            admin_user(&acme),
            true,
        ),
        (
            "admin key creates a key",
            &admin_key,
            Action::CreateKey { scopes: &[Admin] },
            false,
        ),
        ("admin key lists keys", &admin_key, Action::ListKeys, true),
        (
            "admin key revokes a key",
            &admin_key,
            Action::RevokeKey,
            true,
        ),
        (
            "platform key lists tenants",
            &platform_key,
            Action::ListTenants,
            true,
        ),
        (
            "oidc 'platform' outside the platform tenant",
            &oidc_platform_elsewhere,
            Action::ListTenants,
            false,
        ),
        (
            "oidc 'platform' creates a user elsewhere",
            &oidc_platform_elsewhere,
            member_user(&home),
            false,
        ),
        (
            "oidc admin creates an admin",
            &oidc_admin,
            admin_user(&acme),
            false,
        ),
        (
            "oidc admin creates a member",
            &oidc_admin,
            member_user(&acme),
            true,
        ),
        (
            "oidc admin creates a key",
            &oidc_admin,
            Action::CreateKey { scopes: &[Query] },
            true,
        ),
    ];
    for (name, actor, action, allowed) in cases {
        let got = p.authorize(actor, &action);
        assert_eq!(got.is_ok(), allowed, "{name}: {got:?}");
        if let Err(err) = got {
            assert!(matches!(err, Error::Forbidden(_)), "{name}: {err:?}");
        }
    }
}

fn kind() -> impl Strategy<Value = ActorKind> {
    prop_oneof![
        Just(ActorKind::User),
        Just(ActorKind::ApiKey),
        Just(ActorKind::External)
    ]
}

fn scopes() -> impl Strategy<Value = Vec<AccessScope>> {
    proptest::sample::subsequence(AccessScope::ALL.to_vec(), 0..=AccessScope::ALL.len())
}

fn tenant_name() -> impl Strategy<Value = TenantId> {
    prop_oneof![
        Just(tenant("default")),
        Just(tenant("acme")),
        Just(tenant("other"))
    ]
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Admin), Just(Role::Member)]
}

proptest! {
    #[test]
    fn platform_is_only_ever_held_in_the_platform_tenant(
        kind in kind(), home in tenant_name(), held in scopes(),
    ) {
        let actor = policy().actor(kind, home.clone(), &held);
        prop_assert!(!actor.has(Platform) || home == tenant("default"));
    }

    #[test]
    fn no_user_is_created_with_more_than_its_creator_holds(
        kind in kind(), home in tenant_name(), held in scopes(),
        target in tenant_name(), role in role(),
    ) {
        let p = policy();
        let actor = p.actor(kind, home, &held);
        let action = Action::CreateUser { tenant: &target, role };
        if p.authorize(&actor, &action).is_ok() {
            let created = p.user(target.clone(), role);
            prop_assert!(created.scopes.iter().all(|s| actor.has(*s)));
            prop_assert!(target == actor.tenant || actor.has(Platform));
        }
    }

    #[test]
    fn no_key_is_created_with_more_than_its_creator_holds(
        kind in kind(), home in tenant_name(), held in scopes(), asked in scopes(),
    ) {
        let p = policy();
        let actor = p.actor(kind, home, &held);
        if p.authorize(&actor, &Action::CreateKey { scopes: &asked }).is_ok() {
            prop_assert!(kind != ActorKind::ApiKey);
            prop_assert!(asked.iter().all(|s| actor.has(*s)));
        }
    }

    #[test]
    fn more_scopes_never_take_a_right_away(
        kind in kind(), home in tenant_name(), held in scopes(), extra in scopes(),
        target in tenant_name(), role in role(),
    ) {
        let p = policy();
        let less = p.actor(kind, home.clone(), &held);
        let more: Vec<_> = held.iter().chain(&extra).copied().collect();
        let more = p.actor(kind, home, &more);
        let actions = [
            Action::ListTenants, Action::CreateTenant, Action::ListUsers, Action::ListKeys,
            Action::RevokeKey, Action::CreateUser { tenant: &target, role },
            Action::CreateKey { scopes: &held },
        ];
        for action in actions {
            prop_assert!(p.authorize(&less, &action).is_err() || p.authorize(&more, &action).is_ok());
        }
    }
}
