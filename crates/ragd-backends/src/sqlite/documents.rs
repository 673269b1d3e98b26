//! The document side of [`SqliteStore`]: collections, documents and their chunks, read and
//! written per tenant. The [`ragd_core::ports::DocumentStore`] port itself is implemented by
//! [`crate::sqlite::indexed::IndexedStore`], which keeps the vector index in step with these
//! writes.

use chrono::Utc;
use ragd_core::events::Event;
use ragd_core::ports::{DocumentFilter, IndexChanges, NewDocument, StoredDocument};
use ragd_core::types::{
    ChunkDraft, ChunkKey, CollectionId, Document, DocumentId, Scope, StoredChunk, TenantId,
};
use ragd_core::{Error, Result};
use sqlx::{QueryBuilder, Row};

use crate::sqlite::rows::{DOC_COLUMNS, DOC_FROM, chunk_from_row, document_from_row, key_of};
use crate::sqlite::{SqliteStore, db_err};

const CHUNK_COLUMNS: &str =
    "SELECT key, document_id, idx, text, char_start, char_end, page, heading FROM chunks";

/// Documents and chunks, per tenant.
impl SqliteStore {
    /// The collection id for a scope, creating the tenant and collection if needed.
    pub async fn collection_id(&self, scope: &Scope) -> Result<CollectionId> {
        let now = Utc::now();
        let mut tx = crate::sqlite::begin_write(&self.pool).await?;
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

    /// The names of a tenant's collections, sorted.
    pub async fn collection_names(&self, tenant: &str) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT c.name FROM collections c JOIN tenants t ON t.id = c.tenant_id \
             WHERE t.name = ? ORDER BY c.name",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    /// The tenant of each of these collections that exists (for an index that labels vectors
    /// with their tenant).
    pub async fn collection_tenants(
        &self,
        ids: &[CollectionId],
    ) -> Result<Vec<(CollectionId, String)>> {
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(500) {
            let mut qb = QueryBuilder::new(
                "SELECT c.id, t.name FROM collections c JOIN tenants t ON t.id = c.tenant_id \
                 WHERE c.id IN (",
            );
            let mut sep = qb.separated(", ");
            for &id in batch {
                sep.push_bind(i64::from(id));
            }
            qb.push(")");
            for row in qb.build().fetch_all(&self.pool).await.map_err(db_err)? {
                let id: i64 = row.try_get(0).map_err(db_err)?;
                let tenant: String = row.try_get(1).map_err(db_err)?;
                out.push((CollectionId::try_from(id).map_err(Error::internal)?, tenant));
            }
        }
        Ok(out)
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
        // Looked up before the write transaction, which holds the only write lock.
        let collection = self
            .collection_ids(tenant.as_str(), Some(document.scope.collection.as_str()))
            .await?
            .first()
            .copied()
            .ok_or_else(|| Error::NotFound(format!("document {id}")))?;
        let mut tx = crate::sqlite::begin_write(&self.pool).await?;
        let keys: Vec<i64> = sqlx::query_scalar("SELECT key FROM chunks WHERE document_id = ?")
            .bind(id.to_string())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        // The collection too: a document another tenant's request names is never deleted.
        let deleted = sqlx::query("DELETE FROM documents WHERE id = ? AND collection_id = ?")
            .bind(id.to_string())
            .bind(collection)
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
                texts: Vec::new(),
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
        let sql = chunks_by_keys_sql(keys.len(), collections.len());
        let mut query = sqlx::query(&sql);
        for &k in keys {
            query = query.bind(i64::try_from(k).map_err(Error::internal)?);
        }
        for &c in collections {
            query = query.bind(c);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(db_err)?;
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

/// The query of [`SqliteStore::chunks_by_keys`] for `keys` keys in `collections` collections.
/// The `+` keeps SQLite from driving the join by collection: its planner otherwise walks every
/// document of the collection (5 ms for 30 keys in a 10,000-document one, measured); the keys
/// lead and the collection is a check on each row found (0.07 ms).
fn chunks_by_keys_sql(keys: usize, collections: usize) -> String {
    let marks = |n: usize| vec!["?"; n].join(", ");
    format!(
        "SELECT k.key, k.document_id, k.idx, k.text, k.char_start, k.char_end, k.page, \
         k.heading, {DOC_COLUMNS} FROM chunks k JOIN documents d ON d.id = k.document_id \
         JOIN collections c ON c.id = d.collection_id JOIN tenants t ON t.id = c.tenant_id \
         WHERE k.key IN ({}) AND +d.collection_id IN ({})",
        marks(keys),
        marks(collections)
    )
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    /// The chunks of a question are found by their keys, whatever the collection holds.
    #[tokio::test]
    async fn chunks_by_keys_starts_from_the_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("ragd.db"))
            .await
            .expect("open");
        let sql = format!("EXPLAIN QUERY PLAN {}", chunks_by_keys_sql(30, 1));
        let mut query = sqlx::query(&sql);
        for k in 0..30_i64 {
            query = query.bind(k);
        }
        let plan: Vec<String> = query
            .bind(1_i64)
            .fetch_all(&store.pool)
            .await
            .expect("plan")
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect();
        assert!(
            plan.first()
                .is_some_and(|step| step.starts_with("SEARCH k USING INTEGER PRIMARY KEY")),
            "{plan:?}"
        );
    }
}
