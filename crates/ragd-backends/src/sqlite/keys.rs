//! API keys and tenants in the metadata database.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ragd_core::accounts::{AccessScope, ApiKey, ApiKeyStore, TenantInfo, TenantStore};
use ragd_core::types::TenantId;
use ragd_core::{Error, Result};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::sqlite::{SqliteStore, db_err};

const KEY_SELECT: &str = "SELECT k.id, k.prefix, k.secret_hash, t.name AS tenant, k.name, \
    k.scopes, k.created_at, k.expires_at, k.revoked_at, k.owner FROM api_keys k \
    JOIN tenants t ON t.id = k.tenant_id";

fn key_from_row(row: &SqliteRow) -> Result<ApiKey> {
    let tenant: String = row.try_get("tenant").map_err(db_err)?;
    let scopes: String = row.try_get("scopes").map_err(db_err)?;
    Ok(ApiKey {
        id: row.try_get("id").map_err(db_err)?,
        prefix: row.try_get("prefix").map_err(db_err)?,
        secret_hash: row.try_get("secret_hash").map_err(db_err)?,
        tenant: TenantId::parse(&tenant)?,
        name: row.try_get("name").map_err(db_err)?,
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(AccessScope::parse)
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
impl ApiKeyStore for SqliteStore {
    async fn create_key(&self, key: ApiKey) -> Result<ApiKey> {
        let tenant = self.tenant_row_id(&key.tenant).await?;
        let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
        sqlx::query(
            "INSERT INTO api_keys (id, prefix, secret_hash, tenant_id, name, scopes, created_at, expires_at, owner) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.id)
        .bind(&key.prefix)
        .bind(&key.secret_hash)
        .bind(tenant)
        .bind(&key.name)
        .bind(scopes.join(","))
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(&key.owner)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(key)
    }

    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKey>> {
        let sql = format!("{KEY_SELECT} WHERE k.prefix = ?");
        let row = sqlx::query(&sql)
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>> {
        let sql = format!("{KEY_SELECT} WHERE t.name = ? ORDER BY k.created_at DESC");
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, tenant: &TenantId, id: &str) -> Result<ApiKey> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? \
             AND tenant_id = (SELECT id FROM tenants WHERE name = ?)",
        )
        .bind(Utc::now())
        .bind(id)
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(format!("API key {id}")));
        }
        let sql = format!("{KEY_SELECT} WHERE k.id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        key_from_row(&row)
    }
}

const TENANT_SELECT: &str = "SELECT t.name, t.created_at, \
    (SELECT COUNT(*) FROM documents d JOIN collections c ON c.id = d.collection_id \
     WHERE c.tenant_id = t.id) AS documents, \
    (SELECT COUNT(*) FROM users u WHERE u.tenant_id = t.id) AS users FROM tenants t";

fn tenant_from_row(row: &SqliteRow) -> Result<TenantInfo> {
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
impl TenantStore for SqliteStore {
    async fn tenants(&self) -> Result<Vec<TenantInfo>> {
        let sql = format!("{TENANT_SELECT} ORDER BY t.name");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn create_tenant(&self, name: &TenantId) -> Result<TenantInfo> {
        let done = sqlx::query(
            "INSERT INTO tenants (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.as_str())
        .bind(Utc::now())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(Error::Conflict(format!(
                "tenant {:?} already exists",
                name.as_str()
            )));
        }
        let sql = format!("{TENANT_SELECT} WHERE t.name = ?");
        let row = sqlx::query(&sql)
            .bind(name.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        tenant_from_row(&row)
    }
}
