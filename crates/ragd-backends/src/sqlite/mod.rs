//! The embedded document store: SQLite (WAL) through sqlx, with migrations. It is the source of
//! truth for documents, chunks *and their embeddings*: the vector index is derived from it and can
//! always be rebuilt, so a crash at any point leaves either the whole new version of a document or
//! the whole old one, never half.

pub mod accounts;
pub mod backup;
mod collections;
mod conversations;
mod documents;
pub mod indexed;
mod keys;
mod rows;
mod webhooks;
mod write;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use ragd_core::events::{EventLog, RecordedEvent};
use ragd_core::ports::{IndexEntry, StoreStatus, TextEntry};
use ragd_core::types::{ChunkKey, CollectionId, Embedding};
use ragd_core::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, SqlitePool};

use crate::sqlite::collections::CollectionCache;
use crate::sqlite::rows::{decode_vector, key_of};

/// Documents, chunks and embeddings in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// Collection ids in memory (exact: see [`crate::sqlite::collections`]).
    collections: Arc<CollectionCache>,
}

pub(crate) fn db_err(err: sqlx::Error) -> Error {
    if matches!(err, sqlx::Error::PoolTimedOut) {
        Error::Unavailable("the metadata database is busy".into())
    } else {
        Error::internal(err)
    }
}

/// Starts a write transaction that takes SQLite's write lock at once (`BEGIN IMMEDIATE`),
/// waiting for it under the busy timeout. A deferred transaction that reads first and writes
/// later fails with `SQLITE_BUSY` (no wait) when another writer committed in between, which the
/// webhook worker and the outbox writer make likely under load.
pub(crate) async fn begin_write(
    pool: &SqlitePool,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)
}

/// When a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every commit is synced before it is acknowledged: a `201` survives power loss (SQLite
    /// `synchronous=FULL`). The default.
    #[default]
    Full,
    /// Commits are synced at WAL checkpoints: a power loss may lose the last acknowledged
    /// commits (never corrupts the database). SQLite `synchronous=NORMAL`.
    Normal,
}

impl std::str::FromStr for Durability {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Self::Full),
            "normal" => Ok(Self::Normal),
            other => Err(format!("unknown durability {other:?} (full, normal)")),
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with [`Durability::Full`] and runs
    /// pending migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, Durability::Full).await
    }

    /// Opens the database at `path` with the given durability.
    pub async fn open_with(path: &Path, durability: Durability) -> Result<Self> {
        let synchronous = match durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        };
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(Error::internal)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|e| {
                Error::Unavailable(format!("cannot open database {}: {e}", path.display()))
            })?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(Error::internal)?;
        Ok(Self {
            pool,
            collections: Arc::default(),
        })
    }

    /// `(key, collection)` of every chunk, in key order: what the vector index must hold.
    pub async fn chunk_keys(&self) -> Result<Vec<(ChunkKey, CollectionId)>> {
        let rows = sqlx::query("SELECT key, collection_id FROM chunks ORDER BY key")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let coll: i64 = r.try_get("collection_id").map_err(db_err)?;
                Ok((
                    key_of(r)?,
                    CollectionId::try_from(coll).map_err(Error::internal)?,
                ))
            })
            .collect()
    }

    /// Index entries (with vectors) for the given keys.
    pub async fn index_entries(&self, keys: &[ChunkKey]) -> Result<Vec<IndexEntry>> {
        let mut out = Vec::with_capacity(keys.len());
        for batch in keys.chunks(500) {
            let mut qb = QueryBuilder::new(
                "SELECT key, collection_id, embedding FROM chunks WHERE key IN (",
            );
            let mut sep = qb.separated(", ");
            for &k in batch {
                sep.push_bind(i64::try_from(k).map_err(Error::internal)?);
            }
            qb.push(")");
            for row in qb.build().fetch_all(&self.pool).await.map_err(db_err)? {
                let coll: i64 = row.try_get("collection_id").map_err(db_err)?;
                let blob: Vec<u8> = row.try_get("embedding").map_err(db_err)?;
                out.push(IndexEntry {
                    key: key_of(&row)?,
                    collection: CollectionId::try_from(coll).map_err(Error::internal)?,
                    vector: Embedding(decode_vector(&blob)),
                });
            }
        }
        Ok(out)
    }

    /// Texts (for the lexical index) of the given keys; keys the store lacks are skipped. Callers
    /// rebuilding a whole index pass keys a batch at a time, to bound memory.
    pub async fn chunk_texts(&self, keys: &[ChunkKey]) -> Result<Vec<TextEntry>> {
        let mut out = Vec::with_capacity(keys.len());
        for batch in keys.chunks(500) {
            let mut qb =
                QueryBuilder::new("SELECT key, collection_id, text FROM chunks WHERE key IN (");
            let mut sep = qb.separated(", ");
            for &k in batch {
                sep.push_bind(i64::try_from(k).map_err(Error::internal)?);
            }
            qb.push(")");
            for row in qb.build().fetch_all(&self.pool).await.map_err(db_err)? {
                let coll: i64 = row.try_get("collection_id").map_err(db_err)?;
                out.push(TextEntry {
                    key: key_of(&row)?,
                    collection: CollectionId::try_from(coll).map_err(Error::internal)?,
                    text: row.try_get("text").map_err(db_err)?,
                });
            }
        }
        Ok(out)
    }

    /// Ids of documents whose `chunk_count` differs from their stored chunks (should be none).
    pub async fn inconsistent_documents(&self) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT d.id FROM documents d LEFT JOIN chunks c ON c.document_id = d.id \
             GROUP BY d.id HAVING COUNT(c.key) != d.chunk_count",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }
}

#[async_trait]
impl StoreStatus for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)
            .map(|_| ())
    }

    async fn count_all_documents(&self) -> Result<u64> {
        self.count_documents(None).await
    }
}

#[async_trait]
impl EventLog for SqliteStore {
    async fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<RecordedEvent>> {
        let rows: Vec<(i64, String, chrono::DateTime<Utc>)> = sqlx::query_as(
            "SELECT seq, payload, created_at FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
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
