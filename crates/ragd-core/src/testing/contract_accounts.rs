//! The contracts of the account, job and rate-limit ports: every implementation (SQLite,
//! PostgreSQL, the in-memory limiter, Redis) must pass them. Each run uses tenants and keys of
//! its own, so a shared database is fine.

use chrono::Utc;

use crate::Error;
use crate::accounts::{
    AccessScope, ApiKey, ApiKeyStore, NewUser, Role, TenantStore, UserStore, Username,
};
use crate::jobs::{JobStatus, JobStore};
use crate::service::FileOutcome;
use crate::testing::contract_documents::{scope, unique_tenant};
use crate::types::DocumentId;

fn new_user(tenant: &crate::types::TenantId, name: &str, role: Role) -> NewUser {
    NewUser {
        username: Username::parse(name).expect("valid username"),
        tenant: tenant.clone(),
        role,
        password_hash: format!("hash-of-{name}"),
    }
}

/// Tenants, users and API keys.
pub async fn accounts(tenants: &dyn TenantStore, users: &dyn UserStore, keys: &dyn ApiKeyStore) {
    let (a, b) = (unique_tenant("acct-a"), unique_tenant("acct-b"));
    let created = tenants.create_tenant(&a).await.expect("create tenant");
    assert_eq!(
        (created.name.clone(), created.documents, created.users),
        (a.clone(), 0, 0)
    );
    assert!(matches!(
        tenants.create_tenant(&a).await,
        Err(Error::Conflict(_))
    ));
    tenants.create_tenant(&b).await.expect("create tenant b");
    let listed = tenants.tenants().await.expect("tenants");
    assert!(listed.iter().any(|t| t.name == a) && listed.iter().any(|t| t.name == b));

    // Usernames are unique per tenant, not across tenants.
    let name = format!("ana{}", &a.as_str()[a.as_str().len() - 6..]);
    let ana = users
        .create_user(new_user(&a, &name, Role::Admin))
        .await
        .expect("user");
    assert_eq!(
        (ana.tenant.clone(), ana.role, ana.disabled),
        (a.clone(), Role::Admin, false)
    );
    assert!(matches!(
        users.create_user(new_user(&a, &name, Role::Member)).await,
        Err(Error::Conflict(_))
    ));
    let other = users
        .create_user(new_user(&b, &name, Role::Member))
        .await
        .expect("same name in b");
    assert_ne!(other.id, ana.id);
    assert_eq!(users.users_named(&name).await.expect("named").len(), 2);
    assert_eq!(
        users.user(&a, &name).await.expect("user").map(|u| u.id),
        Some(ana.id.clone())
    );
    assert!(users.user(&a, "nobody-here").await.expect("user").is_none());
    let disabled = users.set_disabled(&a, &name, true).await.expect("disable");
    assert!(disabled.disabled);
    assert!(
        !users
            .user(&b, &name)
            .await
            .expect("user")
            .expect("b's")
            .disabled,
        "only a's"
    );
    let changed = users
        .set_password(&a, &name, "new-hash")
        .await
        .expect("passwd");
    assert_eq!(changed.password_hash, "new-hash");
    assert!(
        changed.token_epoch > ana.token_epoch,
        "old tokens die with the old password"
    );
    assert!(matches!(
        users.set_disabled(&a, "nobody-here", true).await,
        Err(Error::NotFound(_))
    ));
    let everyone = users.users().await.expect("users");
    assert!(everyone.iter().any(|u| u.id == ana.id) && everyone.iter().any(|u| u.id == other.id));
    assert_eq!(
        tenants
            .tenants()
            .await
            .expect("tenants")
            .iter()
            .find(|t| t.name == a)
            .expect("a")
            .users,
        1
    );

    // API keys: found by prefix, listed and revoked per tenant only.
    let prefix = format!("rk_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let key = ApiKey {
        id: uuid::Uuid::new_v4().to_string(),
        prefix: prefix.clone(),
        secret_hash: "secret-hash".into(),
        tenant: a.clone(),
        name: "ci".into(),
        scopes: vec![AccessScope::Query, AccessScope::Ingest],
        created_at: Utc::now(),
        expires_at: Some(Utc::now() + chrono::Duration::days(1)),
        revoked_at: None,
        owner: Some(ana.id.clone()),
    };
    let stored = keys.create_key(key.clone()).await.expect("create key");
    assert_eq!(
        (stored.scopes.clone(), stored.owner.clone()),
        (key.scopes.clone(), key.owner.clone())
    );
    let found = keys
        .key_by_prefix(&prefix)
        .await
        .expect("by prefix")
        .expect("found");
    assert_eq!(
        (found.id.clone(), found.tenant.clone()),
        (key.id.clone(), a.clone())
    );
    assert!(
        keys.key_by_prefix("rk_nonexistent0")
            .await
            .expect("by prefix")
            .is_none()
    );
    assert_eq!(keys.keys(&a).await.expect("keys").len(), 1);
    assert!(keys.keys(&b).await.expect("keys").is_empty());
    assert!(matches!(
        keys.revoke_key(&b, &key.id).await,
        Err(Error::NotFound(_))
    ));
    let revoked = keys.revoke_key(&a, &key.id).await.expect("revoke");
    assert!(revoked.revoked_at.is_some());
    assert!(
        keys.key_by_prefix(&prefix)
            .await
            .expect("by prefix")
            .expect("kept")
            .revoked_at
            .is_some()
    );
}

/// Ingestion jobs: created queued, updated with per-file outcomes, resumed while unfinished,
/// attempts counted, read only by their tenant.
pub async fn jobs(store: &dyn JobStore) {
    let (a, b) = (unique_tenant("jobs-a"), unique_tenant("jobs-b"));
    let id = uuid::Uuid::new_v4().to_string();
    let job = store
        .create_job(&id, &scope(&a, "docs"), 2)
        .await
        .expect("create");
    assert_eq!(
        (job.status, job.total_files, job.files.len()),
        (JobStatus::Queued, 2, 0)
    );
    assert!(
        store
            .unfinished_jobs()
            .await
            .expect("unfinished")
            .iter()
            .any(|j| j.id == id)
    );
    assert_eq!(store.start_file(&id, 0).await.expect("start"), 1);
    assert_eq!(
        store.start_file(&id, 0).await.expect("restart"),
        2,
        "a crash counts"
    );
    let files = vec![FileOutcome::Ingested {
        source: "a.md".into(),
        document_id: DocumentId::new(),
        chunks: 4,
        replaced: true,
    }];
    store
        .update_job(&id, JobStatus::Running, &files)
        .await
        .expect("update");
    assert_eq!(store.start_file(&id, 1).await.expect("next file"), 1);
    let mut all = files.clone();
    all.push(FileOutcome::failed("b.pdf", "b.pdf: no text"));
    store
        .update_job(&id, JobStatus::Failed, &all)
        .await
        .expect("finish");
    let done = store.job(&id).await.expect("job");
    assert_eq!((done.status, done.files.clone()), (JobStatus::Failed, all));
    assert!(done.updated_at >= done.created_at);
    assert!(
        !store
            .unfinished_jobs()
            .await
            .expect("unfinished")
            .iter()
            .any(|j| j.id == id)
    );
    assert_eq!(store.tenant_job(&a, &id).await.expect("own").id, id);
    assert!(matches!(
        store.tenant_job(&b, &id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store.job(&uuid::Uuid::new_v4().to_string()).await,
        Err(Error::NotFound(_))
    ));
}
