//! What operators and `/health` ask of [`PgStore`]: liveness, counts, the event log, and the
//! `ragd check` / `ragd repair` tasks, which here have no derived index to reconcile.

use async_trait::async_trait;
use ragd_core::events::{EventLog, RecordedEvent};
use ragd_core::ports::{CheckReport, Maintenance, StoreStatus};
use ragd_core::{Error, Result};
use sqlx::Connection;

use crate::postgres::retry::retrying;
use crate::postgres::{PgStore, db_err};

impl PgStore {
    /// Documents, chunks, and chunks with an embedding, of all tenants, in one snapshot.
    async fn count_all(&self) -> Result<(u64, u64, u64)> {
        let (documents, chunks, vectors): (i64, i64, i64) = retrying("count", || async {
            Ok(sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM documents), COUNT(*), COUNT(embedding) FROM chunks",
            )
            .fetch_one(&self.pool)
            .await?)
        })
        .await?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok((n(documents), n(chunks), n(vectors)))
    }
}

#[async_trait]
impl StoreStatus for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)
            .map(|_| ())
    }

    async fn count_all_documents(&self) -> Result<u64> {
        self.count_documents_of(None).await
    }
}

#[async_trait]
impl EventLog for PgStore {
    async fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<RecordedEvent>> {
        let rows: Vec<(i64, String, chrono::DateTime<chrono::Utc>)> =
            retrying("events_after", || async {
                Ok(sqlx::query_as(
                    "SELECT seq, payload::text, created_at FROM events WHERE seq > $1 \
                     ORDER BY seq LIMIT $2",
                )
                .bind(seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?)
            })
            .await?;
        rows.into_iter()
            .map(|(seq, payload, at)| {
                Ok(RecordedEvent {
                    seq,
                    event: serde_json::from_str(&payload).map_err(Error::internal)?,
                    at,
                })
            })
            .collect()
    }
}

#[async_trait]
impl Maintenance for PgStore {
    /// Counts, documents whose recorded chunk count differs from their chunks, and chunks
    /// without an embedding (the HNSW index holds exactly the chunks that have one).
    async fn check(&self) -> Result<CheckReport> {
        let (documents, chunks, vectors) = self.count_all().await?;
        let inconsistent: Vec<String> = retrying("check", || async {
            Ok(sqlx::query_scalar(
                "SELECT d.id::text FROM documents d LEFT JOIN chunks k ON k.document_id = d.id \
                 GROUP BY d.id HAVING COUNT(k.key) != d.chunk_count ORDER BY d.id",
            )
            .fetch_all(&self.pool)
            .await?)
        })
        .await?;
        let missing = chunks.saturating_sub(vectors);
        Ok(CheckReport {
            documents,
            chunks,
            vectors,
            ok: inconsistent.is_empty() && missing == 0,
            inconsistent_documents: inconsistent,
            missing_vectors: missing,
            lexical_mismatches: 0,
            extra_vectors: 0,
        })
    }

    /// Rebuilds the HNSW index (`REINDEX ... CONCURRENTLY`: searches and writes go on), then
    /// checks. It runs on a connection of its own without the statement timeout, which a
    /// rebuild of a large index exceeds.
    async fn repair(&self) -> Result<CheckReport> {
        let options = (*self.pool.connect_options())
            .clone()
            .options([("statement_timeout", "0")]);
        let mut conn = sqlx::PgConnection::connect_with(&options)
            .await
            .map_err(db_err)?;
        let rebuilt = sqlx::query("REINDEX INDEX CONCURRENTLY chunks_embedding")
            .execute(&mut conn)
            .await
            .map_err(db_err);
        // The rebuild's outcome matters more than a failed goodbye.
        let _ = conn.close().await;
        rebuilt?;
        self.check().await
    }

    /// Nothing lives in memory: every write is in the database when it is acknowledged.
    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}
