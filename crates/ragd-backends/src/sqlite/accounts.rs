//! Users and ingestion jobs in the same SQLite file as the documents, so one backup holds all.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ragd_core::FileOutcome;
use ragd_core::accounts::{NewUser, Role, User, UserStore, Username};
use ragd_core::jobs::{Job, JobStatus, JobStore};
use ragd_core::types::{CollectionName, Scope, TenantId};
use ragd_core::{Error, Result};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::sqlite::{SqliteStore, db_err};

const USER_SELECT: &str = "SELECT u.id, u.username, t.name AS tenant, u.role, u.password_hash, \
    u.disabled, u.token_epoch, u.created_at FROM users u JOIN tenants t ON t.id = u.tenant_id";

const JOB_SELECT: &str = "SELECT j.id, t.name AS tenant, c.name AS collection, j.status, \
    j.total_files, j.files, j.created_at, j.updated_at FROM jobs j \
    JOIN collections c ON c.id = j.collection_id JOIN tenants t ON t.id = c.tenant_id";

fn user_from_row(row: &SqliteRow) -> Result<User> {
    let username: String = row.try_get("username").map_err(db_err)?;
    let tenant: String = row.try_get("tenant").map_err(db_err)?;
    let role: String = row.try_get("role").map_err(db_err)?;
    Ok(User {
        id: row.try_get("id").map_err(db_err)?,
        username: Username::parse(&username)?,
        tenant: TenantId::parse(&tenant)?,
        role: Role::parse(&role)?,
        password_hash: row.try_get("password_hash").map_err(db_err)?,
        disabled: row.try_get::<i64, _>("disabled").map_err(db_err)? != 0,
        token_epoch: row.try_get("token_epoch").map_err(db_err)?,
        created_at: row
            .try_get::<DateTime<Utc>, _>("created_at")
            .map_err(db_err)?,
    })
}

fn job_from_row(row: &SqliteRow) -> Result<Job> {
    let tenant: String = row.try_get("tenant").map_err(db_err)?;
    let collection: String = row.try_get("collection").map_err(db_err)?;
    let status: String = row.try_get("status").map_err(db_err)?;
    let files: String = row.try_get("files").map_err(db_err)?;
    let total: i64 = row.try_get("total_files").map_err(db_err)?;
    Ok(Job {
        id: row.try_get("id").map_err(db_err)?,
        scope: Scope {
            tenant: TenantId::parse(&tenant)?,
            collection: CollectionName::parse(&collection)?,
        },
        status: JobStatus::parse(&status)?,
        total_files: u32::try_from(total).map_err(Error::internal)?,
        files: serde_json::from_str(&files).map_err(Error::internal)?,
        created_at: row
            .try_get::<DateTime<Utc>, _>("created_at")
            .map_err(db_err)?,
        updated_at: row
            .try_get::<DateTime<Utc>, _>("updated_at")
            .map_err(db_err)?,
    })
}

impl SqliteStore {
    pub(crate) async fn tenant_row_id(&self, tenant: &TenantId) -> Result<i64> {
        let scope = Scope {
            tenant: tenant.clone(),
            collection: CollectionName::default(),
        };
        // Creating the tenant's default collection also creates the tenant row.
        self.collection_id(&scope).await?;
        sqlx::query_scalar("SELECT id FROM tenants WHERE name = ?")
            .bind(tenant.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn update_user(
        &self,
        tenant: &TenantId,
        username: &str,
        set: &str,
        bind: Option<&str>,
    ) -> Result<User> {
        let sql = format!(
            "UPDATE users SET {set}, token_epoch = token_epoch + 1, updated_at = ? \
             WHERE username = ? AND tenant_id = (SELECT id FROM tenants WHERE name = ?)"
        );
        let mut q = sqlx::query(&sql);
        if let Some(value) = bind {
            q = q.bind(value);
        }
        let done = q
            .bind(Utc::now())
            .bind(username)
            .bind(tenant.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        let missing =
            || Error::NotFound(format!("user {username:?} of tenant {:?}", tenant.as_str()));
        if done.rows_affected() == 0 {
            return Err(missing());
        }
        self.user(tenant, username).await?.ok_or_else(missing)
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: NewUser) -> Result<User> {
        let tenant = self.tenant_row_id(&user.tenant).await?;
        let now = Utc::now();
        let done = sqlx::query(
            "INSERT INTO users (id, username, tenant_id, role, password_hash, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, username) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(user.username.as_str())
        .bind(tenant)
        .bind(user.role.as_str())
        .bind(&user.password_hash)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(Error::Conflict(format!(
                "user {:?} already exists",
                user.username.as_str()
            )));
        }
        self.user(&user.tenant, user.username.as_str())
            .await?
            .ok_or_else(|| Error::internal("user vanished after insert"))
    }

    async fn user(&self, tenant: &TenantId, username: &str) -> Result<Option<User>> {
        let sql = format!("{USER_SELECT} WHERE u.username = ? AND t.name = ?");
        let row = sqlx::query(&sql)
            .bind(username)
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users_named(&self, username: &str) -> Result<Vec<User>> {
        let sql = format!("{USER_SELECT} WHERE u.username = ? ORDER BY t.name");
        let rows = sqlx::query(&sql)
            .bind(username)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn users(&self) -> Result<Vec<User>> {
        let sql = format!("{USER_SELECT} ORDER BY u.username");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn set_disabled(
        &self,
        tenant: &TenantId,
        username: &str,
        disabled: bool,
    ) -> Result<User> {
        let flag = if disabled { "1" } else { "0" };
        self.update_user(tenant, username, "disabled = ?", Some(flag))
            .await
    }

    async fn set_password(
        &self,
        tenant: &TenantId,
        username: &str,
        password_hash: &str,
    ) -> Result<User> {
        self.update_user(tenant, username, "password_hash = ?", Some(password_hash))
            .await
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn create_job(&self, id: &str, scope: &Scope, total_files: u32) -> Result<Job> {
        let collection = self.collection_id(scope).await?;
        let now = Utc::now();
        sqlx::query(
            "INSERT INTO jobs (id, collection_id, status, total_files, created_at, updated_at) \
             VALUES (?, ?, 'queued', ?, ?, ?)",
        )
        .bind(id)
        .bind(collection)
        .bind(i64::from(total_files))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        self.job(id).await
    }

    async fn job(&self, id: &str) -> Result<Job> {
        let sql = format!("{JOB_SELECT} WHERE j.id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        match row {
            Some(row) => job_from_row(&row),
            None => Err(Error::NotFound(format!("job {id}"))),
        }
    }

    async fn update_job(&self, id: &str, status: JobStatus, files: &[FileOutcome]) -> Result<()> {
        let files = serde_json::to_string(files).map_err(Error::internal)?;
        sqlx::query("UPDATE jobs SET status = ?, files = ?, updated_at = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(files)
            .bind(Utc::now())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn update_claimed(
        &self,
        id: &str,
        owner: &str,
        status: JobStatus,
        files: &[FileOutcome],
        events: &[ragd_core::events::Event],
    ) -> Result<bool> {
        let _ = owner; // one worker per store: nothing to fence
        let files = serde_json::to_string(files).map_err(Error::internal)?;
        let mut tx = crate::sqlite::begin_write(&self.pool).await?;
        let updated =
            sqlx::query("UPDATE jobs SET status = ?, files = ?, updated_at = ? WHERE id = ?")
                .bind(status.as_str())
                .bind(files)
                .bind(Utc::now())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        if updated == 1 {
            super::write::record_events(&mut tx, events).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(updated == 1)
    }

    async fn start_file(&self, id: &str, index: u32) -> Result<u32> {
        let attempts: i64 = sqlx::query_scalar(
            "UPDATE jobs SET attempts = CASE WHEN attempt_file = ?1 THEN attempts + 1 ELSE 1 END, \
             attempt_file = ?1 WHERE id = ?2 RETURNING attempts",
        )
        .bind(i64::from(index))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::NotFound(format!("job {id}")))?;
        u32::try_from(attempts).map_err(Error::internal)
    }

    async fn unfinished_jobs(&self) -> Result<Vec<Job>> {
        let sql =
            format!("{JOB_SELECT} WHERE j.status IN ('queued', 'running') ORDER BY j.created_at");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(job_from_row).collect()
    }

    // One process owns an SQLite store and its one worker runs one job at a time: the oldest
    // unfinished job is its own, and there is no lease to keep.
    async fn claim_job(&self, _owner: &str, _lease: Duration) -> Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT id FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at, id LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn renew_lease(&self, id: &str, _owner: &str, _lease: Duration) -> Result<bool> {
        Ok(!self.job(id).await?.status.is_finished())
    }

    async fn release_job(&self, _id: &str, _owner: &str) -> Result<()> {
        Ok(())
    }
}
