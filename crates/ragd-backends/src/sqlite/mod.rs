//! The embedded document store: SQLite (WAL) through sqlx, with migrations. It is the source of
//! truth for documents, chunks *and their embeddings*: the vector index is derived from it and can
//! always be rebuilt, so a crash at any point leaves either the whole new version of a document or
//! the whole old one, never half.

pub mod accounts;
mod collections;
pub mod indexed;
mod keys;
mod rows;
mod write;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use ragd_core::events::{Event, EventLog, RecordedEvent};
use ragd_core::ports::{
    DocumentFilter, IndexChanges, IndexEntry, NewDocument, StoreStatus, StoredDocument,
};
use ragd_core::types::{
    ChunkDraft, ChunkKey, CollectionId, Document, DocumentId, Embedding, Scope, StoredChunk,
    TenantId,
};
use ragd_core::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, SqlitePool};

use crate::sqlite::collections::CollectionCache;
use crate::sqlite::rows::{
    DOC_COLUMNS, DOC_FROM, chunk_from_row, decode_vector, document_from_row, key_of,
};

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

    async fn document_where(&self, clause: &str, bind: &str) -> Result<Option<Document>> {
        let sql = format!("SELECT {DOC_COLUMNS} FROM {DOC_FROM} WHERE {clause}");
        let row = sqlx::query(&sql)
            .bind(bind)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(document_from_row).transpose()
    }

    async fn chunks_where(
        &self,
        qb: &mut QueryBuilder<'_, sqlx::Sqlite>,
    ) -> Result<Vec<(ChunkKey, String, ChunkDraft)>> {
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    key_of(r)?,
                    r.try_get("document_id").map_err(db_err)?,
                    chunk_from_row(r)?,
                ))
            })
            .collect()
    }
}

const CHUNK_COLUMNS: &str =
    "SELECT key, document_id, idx, text, char_start, char_end, page, heading FROM chunks";

/// The document side. The [`ragd_core::ports::DocumentStore`] port is implemented by
/// [`crate::sqlite::indexed::IndexedStore`], which keeps the vector index in step with these
/// writes.
impl SqliteStore {
    /// The collection id for a scope, creating the tenant and collection if needed.
    pub async fn collection_id(&self, scope: &Scope) -> Result<CollectionId> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO tenants (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(scope.tenant.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let created = sqlx::query(
            "INSERT INTO collections (tenant_id, name, created_at) \
             SELECT id, ?, ? FROM tenants WHERE name = ? ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(scope.collection.as_str())
        .bind(now)
        .bind(scope.tenant.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            > 0;
        let id: i64 = sqlx::query_scalar(
            "SELECT c.id FROM collections c JOIN tenants t ON t.id = c.tenant_id WHERE t.name = ? AND c.name = ?",
        )
        .bind(scope.tenant.as_str())
        .bind(scope.collection.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        let id = CollectionId::try_from(id).map_err(Error::internal)?;
        if created {
            self.collections
                .created(scope.tenant.as_str(), scope.collection.as_str(), id);
        }
        Ok(id)
    }

    /// The collection ids of a tenant (all collections) or of one of its collections.
    pub async fn collection_ids(
        &self,
        tenant: &str,
        collection: Option<&str>,
    ) -> Result<Vec<CollectionId>> {
        let ticket = match self.collections.ids(tenant, collection) {
            Ok(ids) => return Ok(ids),
            Err(ticket) => ticket,
        };
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT t.name, c.name, c.id FROM collections c JOIN tenants t ON t.id = c.tenant_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let rows = rows
            .into_iter()
            .map(|(t, c, id)| Ok((t, c, CollectionId::try_from(id).map_err(Error::internal)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.collections.store(ticket, rows, tenant, collection))
    }

    /// The document with this source name in this scope, if any.
    pub async fn find_by_source(&self, scope: &Scope, source: &str) -> Result<Option<Document>> {
        let sql = format!(
            "SELECT {DOC_COLUMNS} FROM {DOC_FROM} WHERE t.name = ? AND c.name = ? AND d.source = ?"
        );
        let row = sqlx::query(&sql)
            .bind(scope.tenant.as_str())
            .bind(scope.collection.as_str())
            .bind(source)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(document_from_row).transpose()
    }

    /// Writes a document with its chunks and `events` in one transaction (see
    /// [`ragd_core::ports::DocumentStore::put_document`]); returns what the index must change.
    pub async fn put_document(
        &self,
        doc: NewDocument,
        events: &[Event],
    ) -> Result<(StoredDocument, IndexChanges)> {
        crate::sqlite::write::put_document(self, &self.pool, doc, events).await
    }

    /// Deletes one of the tenant's documents with its chunks, recording `events`, in one
    /// transaction; returns the document and what the index must remove.
    pub async fn delete_document(
        &self,
        tenant: &TenantId,
        id: DocumentId,
        events: &[Event],
    ) -> Result<(Document, IndexChanges)> {
        let document = self.get_document(tenant, id).await?;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let keys: Vec<i64> = sqlx::query_scalar("SELECT key FROM chunks WHERE document_id = ?")
            .bind(id.to_string())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        // The collection too: a document another tenant's request names is never deleted.
        let deleted = sqlx::query("DELETE FROM documents WHERE id = ? AND collection_id = ?")
            .bind(id.to_string())
            .bind(self.collection_id(&document.scope).await?)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if deleted.rows_affected() == 0 {
            return Err(Error::NotFound(format!("document {id}")));
        }
        crate::sqlite::write::record_events(&mut tx, events).await?;
        tx.commit().await.map_err(db_err)?;
        let removed = keys
            .into_iter()
            .filter_map(|k| u64::try_from(k).ok())
            .collect();
        Ok((
            document,
            IndexChanges {
                removed,
                added: Vec::new(),
            },
        ))
    }

    /// One of the tenant's documents.
    pub async fn get_document(&self, tenant: &TenantId, id: DocumentId) -> Result<Document> {
        let sql = format!("SELECT {DOC_COLUMNS} FROM {DOC_FROM} WHERE d.id = ? AND t.name = ?");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref()
            .map(document_from_row)
            .transpose()?
            .ok_or_else(|| Error::NotFound(format!("document {id}")))
    }

    /// A document by id whatever its tenant (the store's own reads after a write).
    pub(crate) async fn document_by_id(&self, id: DocumentId) -> Result<Document> {
        self.document_where("d.id = ?", &id.to_string())
            .await?
            .ok_or_else(|| Error::NotFound(format!("document {id}")))
    }

    /// A page of the tenant's documents, newest first, and the total matching the filter.
    pub async fn list_documents(
        &self,
        tenant: &TenantId,
        filter: &DocumentFilter,
    ) -> Result<(Vec<Document>, u64)> {
        let sql = format!(
            "SELECT {DOC_COLUMNS}, COUNT(*) OVER () AS total FROM {DOC_FROM} \
             WHERE t.name = ? AND (? IS NULL OR c.name = ?) \
             ORDER BY d.updated_at DESC, d.id DESC LIMIT ? OFFSET ?"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(filter.collection.as_deref())
            .bind(filter.collection.as_deref())
            .bind(i64::from(filter.limit))
            .bind(i64::from(filter.offset))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let total: i64 = match rows.first() {
            Some(r) => r.try_get("total").map_err(db_err)?,
            // A page past the end still reports the real total.
            None => {
                let sql = format!(
                    "SELECT COUNT(*) FROM {DOC_FROM} WHERE t.name = ? AND (? IS NULL OR c.name = ?)"
                );
                sqlx::query_scalar(&sql)
                    .bind(tenant.as_str())
                    .bind(filter.collection.as_deref())
                    .bind(filter.collection.as_deref())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?
            }
        };
        let docs = rows
            .iter()
            .map(document_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok((docs, u64::try_from(total).unwrap_or(0)))
    }

    /// The chunks of one of the tenant's documents, in order.
    pub async fn document_chunks(
        &self,
        tenant: &TenantId,
        id: DocumentId,
    ) -> Result<Vec<StoredChunk>> {
        let document = self.get_document(tenant, id).await?;
        let mut qb = QueryBuilder::new(CHUNK_COLUMNS);
        qb.push(" WHERE document_id = ")
            .push_bind(id.to_string())
            .push(" ORDER BY idx");
        let chunks = self.chunks_where(&mut qb).await?;
        Ok(chunks
            .into_iter()
            .map(|(key, _, chunk)| StoredChunk {
                key,
                chunk,
                document: document.clone(),
            })
            .collect())
    }

    /// Chunks by key, in the order of `keys`, of documents in `collections` only: keys that are
    /// unknown or belong elsewhere are skipped, so an index out of step with the store (a
    /// database restored beside a newer index) can never return another tenant's chunks.
    pub async fn chunks_by_keys(
        &self,
        collections: &[CollectionId],
        keys: &[ChunkKey],
    ) -> Result<Vec<StoredChunk>> {
        if keys.is_empty() || collections.is_empty() {
            return Ok(Vec::new());
        }
        // One query for chunks and their documents: this runs on every question.
        let mut qb = QueryBuilder::new(format!(
            "SELECT k.key, k.document_id, k.idx, k.text, k.char_start, k.char_end, k.page, \
             k.heading, {DOC_COLUMNS} FROM chunks k JOIN documents d ON d.id = k.document_id \
             JOIN collections c ON c.id = d.collection_id JOIN tenants t ON t.id = c.tenant_id \
             WHERE k.key IN ("
        ));
        let mut sep = qb.separated(", ");
        for &k in keys {
            sep.push_bind(i64::try_from(k).map_err(Error::internal)?);
        }
        qb.push(") AND d.collection_id IN (");
        let mut sep = qb.separated(", ");
        for &c in collections {
            sep.push_bind(c);
        }
        qb.push(")");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db_err)?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            found.push(StoredChunk {
                key: key_of(row)?,
                chunk: chunk_from_row(row)?,
                document: document_from_row(row)?,
            });
        }
        Ok(keys
            .iter()
            .filter_map(|key| {
                let i = found.iter().position(|c| c.key == *key)?;
                Some(found.swap_remove(i))
            })
            .collect())
    }

    /// Number of documents (all tenants, or one).
    pub async fn count_documents(&self, tenant: Option<&str>) -> Result<u64> {
        let sql = format!("SELECT COUNT(*) FROM {DOC_FROM} WHERE (? IS NULL OR t.name = ?)");
        let n: i64 = sqlx::query_scalar(&sql)
            .bind(tenant)
            .bind(tenant)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Number of chunks of one tenant's documents.
    pub async fn count_chunks(&self, tenant: &str) -> Result<u64> {
        let sql =
            format!("SELECT COALESCE(SUM(d.chunk_count), 0) FROM {DOC_FROM} WHERE t.name = ?");
        let n: i64 = sqlx::query_scalar(&sql)
            .bind(tenant)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
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
