//! API keys and tenants in the shared database.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ragd_core::accounts::{AccessScope, ApiKey, ApiKeyStore, TenantInfo, TenantStore};
use ragd_core::types::TenantId;
use ragd_core::{Error, Result};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::postgres::retry::retrying;
use crate::postgres::{PgStore, db_err};

/// The columns of a key row (alias `k`) with its tenant's name (alias `t`).
const KEY_COLUMNS: &str = "SELECT k.id, k.prefix, k.secret_hash, t.name AS tenant, k.name, \
    k.scopes, k.created_at, k.expires_at, k.revoked_at, k.owner";
/// The tables [`KEY_COLUMNS`] reads from.
const KEY_FROM: &str = "FROM api_keys k JOIN tenants t ON t.id = k.tenant_id";

fn key_from_row(row: &PgRow) -> Result<ApiKey> {
    let tenant: String = row.try_get("tenant").map_err(db_err)?;
    let scopes: Vec<String> = row.try_get("scopes").map_err(db_err)?;
    Ok(ApiKey {
        id: row.try_get("id").map_err(db_err)?,
        prefix: row.try_get("prefix").map_err(db_err)?,
        secret_hash: row.try_get("secret_hash").map_err(db_err)?,
        tenant: TenantId::parse(&tenant)?,
        name: row.try_get("name").map_err(db_err)?,
        scopes: scopes
            .iter()
            .map(|s| AccessScope::parse(s))
            .collect::<Result<_>>()?,
        created_at: row
            .try_get::<DateTime<Utc>, _>("created_at")
            .map_err(db_err)?,
        expires_at: row.try_get("expires_at").map_err(db_err)?,
        revoked_at: row.try_get("revoked_at").map_err(db_err)?,
        owner: row.try_get("owner").map_err(db_err)?,
    })
}

#[async_trait]
impl ApiKeyStore for PgStore {
    async fn create_key(&self, key: ApiKey) -> Result<ApiKey> {
        let tenant = self.tenant_row_id(&key.tenant).await?;
        let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
        // Not retried: a lost connection may have stored the key, and a second insert would
        // then fail on its unique id.
        sqlx::query(
            "INSERT INTO api_keys (id, prefix, secret_hash, tenant_id, name, scopes, created_at, \
             expires_at, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&key.id)
        .bind(&key.prefix)
        .bind(&key.secret_hash)
        .bind(tenant)
        .bind(&key.name)
        .bind(&scopes)
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(&key.owner)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(key)
    }

    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKey>> {
        let sql = format!("{KEY_COLUMNS} {KEY_FROM} WHERE k.prefix = $1");
        let row = retrying("key_by_prefix", || async {
            Ok(sqlx::query(&sql)
                .bind(prefix)
                .fetch_optional(&self.pool)
                .await?)
        })
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>> {
        let sql = format!("{KEY_COLUMNS} {KEY_FROM} WHERE t.name = $1 ORDER BY k.created_at DESC");
        let rows = retrying("keys", || async {
            Ok(sqlx::query(&sql)
                .bind(tenant.as_str())
                .fetch_all(&self.pool)
                .await?)
        })
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, tenant: &TenantId, id: &str) -> Result<ApiKey> {
        // Idempotent (the first revocation time is kept), so retried like a read.
        let sql = format!(
            "WITH k AS (UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) \
             WHERE id = $1 AND tenant_id = (SELECT id FROM tenants WHERE name = $2) RETURNING *) \
             {KEY_COLUMNS} FROM k JOIN tenants t ON t.id = k.tenant_id"
        );
        let row = retrying("revoke_key", || async {
            Ok(sqlx::query(&sql)
                .bind(id)
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await?)
        })
        .await?
        .ok_or_else(|| Error::NotFound(format!("API key {id}")))?;
        key_from_row(&row)
    }
}

const TENANT_SELECT: &str = "SELECT t.name, t.created_at, \
    (SELECT COUNT(*) FROM documents d JOIN collections c ON c.id = d.collection_id \
     WHERE c.tenant_id = t.id) AS documents, \
    (SELECT COUNT(*) FROM users u WHERE u.tenant_id = t.id) AS users FROM tenants t";

fn tenant_from_row(row: &PgRow) -> Result<TenantInfo> {
    let name: String = row.try_get("name").map_err(db_err)?;
    let documents: i64 = row.try_get("documents").map_err(db_err)?;
    let users: i64 = row.try_get("users").map_err(db_err)?;
    Ok(TenantInfo {
        name: TenantId::parse(&name)?,
        documents: u64::try_from(documents).unwrap_or(0),
        users: u64::try_from(users).unwrap_or(0),
        created_at: row
            .try_get::<DateTime<Utc>, _>("created_at")
            .map_err(db_err)?,
    })
}

#[async_trait]
impl TenantStore for PgStore {
    async fn tenants(&self) -> Result<Vec<TenantInfo>> {
        let sql = format!("{TENANT_SELECT} ORDER BY t.name");
        let rows = retrying("tenants", || async {
            Ok(sqlx::query(&sql).fetch_all(&self.pool).await?)
        })
        .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn create_tenant(&self, name: &TenantId) -> Result<TenantInfo> {
        // Not retried: after a lost connection the tenant may exist, and a second attempt
        // would answer "already exists".
        let done = sqlx::query(
            "INSERT INTO tenants (name, created_at) VALUES ($1, now()) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.as_str())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(Error::Conflict(format!(
                "tenant {:?} already exists",
                name.as_str()
            )));
        }
        let sql = format!("{TENANT_SELECT} WHERE t.name = $1");
        let row = retrying("tenant", || async {
            Ok(sqlx::query(&sql)
                .bind(name.as_str())
                .fetch_one(&self.pool)
                .await?)
        })
        .await?;
        tenant_from_row(&row)
    }
}
