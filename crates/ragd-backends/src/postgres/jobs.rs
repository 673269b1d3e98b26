//! Ingestion jobs in the shared database: whichever instance runs a job, every instance can
//! report its progress.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ragd_core::FileOutcome;
use ragd_core::events::Event;
use ragd_core::jobs::{Job, JobStatus, JobStore};
use ragd_core::types::{CollectionName, Scope, TenantId};
use ragd_core::{Error, Result};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::postgres::retry::{Failure, retrying};
use crate::postgres::{PgStore, db_err};

const JOB_SELECT: &str = "SELECT j.id, t.name AS tenant, c.name AS collection, j.status, \
    j.total_files, j.files::text AS files, j.created_at, j.updated_at FROM jobs j \
    JOIN collections c ON c.id = j.collection_id JOIN tenants t ON t.id = c.tenant_id";

fn job_from_row(row: &PgRow) -> Result<Job> {
    let tenant: String = row.try_get("tenant").map_err(db_err)?;
    let collection: String = row.try_get("collection").map_err(db_err)?;
    let status: String = row.try_get("status").map_err(db_err)?;
    let files: String = row.try_get("files").map_err(db_err)?;
    let total: i32 = row.try_get("total_files").map_err(db_err)?;
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

#[async_trait]
impl JobStore for PgStore {
    async fn create_job(&self, id: &str, scope: &Scope, total_files: u32) -> Result<Job> {
        let collection = i64::from(self.collection_id(scope).await?);
        let total = i32::try_from(total_files)
            .map_err(|_| Error::invalid(format!("too many files in one job: {total_files}")))?;
        // Not retried: a lost connection may have stored the job, and a second insert would
        // then fail on its unique id.
        sqlx::query(
            "INSERT INTO jobs (id, collection_id, status, total_files, created_at, updated_at) \
             VALUES ($1, $2, 'queued', $3, now(), now())",
        )
        .bind(id)
        .bind(collection)
        .bind(total)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        self.job(id).await
    }

    async fn job(&self, id: &str) -> Result<Job> {
        let sql = format!("{JOB_SELECT} WHERE j.id = $1");
        let row = retrying("job", || async {
            Ok(sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
        })
        .await?;
        match row {
            Some(row) => job_from_row(&row),
            None => Err(Error::NotFound(format!("job {id}"))),
        }
    }

    async fn update_job(&self, id: &str, status: JobStatus, files: &[FileOutcome]) -> Result<()> {
        let files = serde_json::to_string(files).map_err(Error::internal)?;
        // Idempotent: it sets the same values again.
        retrying("update_job", || async {
            sqlx::query(
                "UPDATE jobs SET status = $1, files = $2::jsonb, updated_at = now() WHERE id = $3",
            )
            .bind(status.as_str())
            .bind(&files)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn start_file(&self, id: &str, index: u32) -> Result<u32> {
        let index = i32::try_from(index).map_err(Error::internal)?;
        // Not retried: it counts starts, and a lost connection may have counted this one.
        let attempts: i32 = sqlx::query_scalar(
            "UPDATE jobs SET attempts = CASE WHEN attempt_file = $1 THEN attempts + 1 ELSE 1 END, \
             attempt_file = $1 WHERE id = $2 RETURNING attempts",
        )
        .bind(index)
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
        let rows = retrying("unfinished_jobs", || async {
            Ok(sqlx::query(&sql).fetch_all(&self.pool).await?)
        })
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn claim_job(&self, owner: &str, lease: Duration) -> Result<Option<String>> {
        // Not retried: a lost connection may have claimed the job (the lease then expires).
        sqlx::query_scalar(
            "UPDATE jobs SET lease_owner = $1, lease_until = now() + $2 * interval '1 millisecond' \
             WHERE id = (SELECT id FROM jobs WHERE status IN ('queued', 'running') \
               AND (lease_until IS NULL OR lease_until < now()) \
               ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id",
        )
        .bind(owner)
        .bind(millis(lease))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn renew_lease(&self, id: &str, owner: &str, lease: Duration) -> Result<bool> {
        let renewed = sqlx::query(
            "UPDATE jobs SET lease_until = now() + $3 * interval '1 millisecond' \
             WHERE id = $1 AND lease_owner = $2 AND status IN ('queued', 'running')",
        )
        .bind(id)
        .bind(owner)
        .bind(millis(lease))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(renewed.rows_affected() == 1)
    }

    async fn update_claimed(
        &self,
        id: &str,
        owner: &str,
        status: JobStatus,
        files: &[FileOutcome],
        events: &[Event],
    ) -> Result<bool> {
        let files = serde_json::to_string(files).map_err(Error::internal)?;
        // Retried only before the commit: the events must be recorded once.
        let updated = retrying("update_claimed", || async {
            let mut tx = self.pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE jobs SET status = $1, files = $2::jsonb, updated_at = now() \
                 WHERE id = $3 AND lease_owner = $4",
            )
            .bind(status.as_str())
            .bind(&files)
            .bind(id)
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 1 {
                super::write::record_events(&mut tx, events).await?;
            }
            tx.commit().await.map_err(|e| Failure::Final(db_err(e)))?;
            Ok(updated)
        })
        .await?;
        Ok(updated == 1)
    }

    async fn release_job(&self, id: &str, owner: &str) -> Result<()> {
        retrying("release_job", || async {
            sqlx::query(
                "UPDATE jobs SET lease_until = NULL, lease_owner = NULL \
                 WHERE id = $1 AND lease_owner = $2",
            )
            .bind(id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    fn stages_uploads(&self) -> bool {
        true
    }

    async fn stage(&self, id: &str, manifest: &str, files: &[&Path]) -> Result<()> {
        // One transaction: the job's files are all there or none are (a failure leaves the job
        // to be failed by its worker with "the staged upload is gone").
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("UPDATE jobs SET manifest = $2 WHERE id = $1")
            .bind(id)
            .bind(manifest)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for (index, path) in files.iter().enumerate() {
            // One file in memory at a time, at most the per-document size limit.
            let content = tokio::fs::read(path)
                .await
                .map_err(|e| Error::internal(format!("reading a staged file: {e}")))?;
            sqlx::query("INSERT INTO job_files (job_id, idx, content) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(i32::try_from(index).map_err(Error::internal)?)
                .bind(content)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn staged_manifest(&self, id: &str) -> Result<Option<String>> {
        retrying("staged_manifest", || async {
            Ok(
                sqlx::query_scalar("SELECT manifest FROM jobs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .flatten(),
            )
        })
        .await
    }

    async fn staged_file(&self, id: &str, index: u32) -> Result<Vec<u8>> {
        let index = i32::try_from(index).map_err(Error::internal)?;
        retrying("staged_file", || async {
            Ok(sqlx::query_scalar::<_, Vec<u8>>(
                "SELECT content FROM job_files WHERE job_id = $1 AND idx = $2",
            )
            .bind(id)
            .bind(index)
            .fetch_optional(&self.pool)
            .await?)
        })
        .await?
        .ok_or_else(|| Error::NotFound(format!("staged file {index} of job {id}")))
    }

    async fn drop_staged(&self, id: &str) -> Result<()> {
        retrying("drop_staged", || async {
            sqlx::query("DELETE FROM job_files WHERE job_id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
