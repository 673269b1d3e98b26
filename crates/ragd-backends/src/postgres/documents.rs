//! The document side of [`PgStore`]: reads, deletes and the vector search, which is one SQL
//! query — the collection filter inside the HNSW scan, the documents joined to its result.

use async_trait::async_trait;
use ragd_core::events::Event;
use ragd_core::ports::{DocumentFilter, DocumentStore, NewDocument, StoredDocument};
use ragd_core::types::{
    CollectionId, Document, DocumentId, Embedding, Scope, StoredChunk, TenantId,
};
use ragd_core::{Error, Result};
use sqlx::Row;

use crate::postgres::retry::{Failure, retrying};
use crate::postgres::rows::{
    CHUNK_COLUMNS, DOC_COLUMNS, DOC_FROM, chunk_from_row, collection_of, document_from_row, key_of,
};
use crate::postgres::write::record_events;
use crate::postgres::{PgStore, db_err};

/// The nearest chunks among some collections, best first, with their documents. The inner
/// query is what the HNSW index answers (`ORDER BY` the cosine distance, the collection filter
/// applied during the scan); with `relaxed_order` iterative scans its rows may come slightly out
/// of order, hence the materialised CTE and the outer sort (pgvector's documented pattern).
const SEARCH: &str = "WITH nearest AS MATERIALIZED ( \
    SELECT key, embedding <=> $1::real[]::vector AS distance FROM chunks \
    WHERE collection_id = ANY($2) AND embedding IS NOT NULL \
    ORDER BY distance LIMIT $3) \
    SELECT n.distance, k.key, k.idx, k.text, k.char_start, k.char_end, k.page, k.heading, ";

/// The rest of [`SEARCH`], after the document columns.
const SEARCH_FROM: &str = " FROM nearest n JOIN chunks k ON k.key = n.key \
    JOIN documents d ON d.id = k.document_id JOIN collections c ON c.id = d.collection_id \
    JOIN tenants t ON t.id = c.tenant_id ORDER BY n.distance, k.key";

/// The search's settings, local to its transaction. Iterative scans (pgvector 0.8) keep walking
/// the graph until `k` chunks of the searched collections are found (or `max_scan_tuples` were
/// visited), so a small tenant among large ones still gets its `k` results. A custom plan for
/// every execution lets the planner see the actual collections: for a small one it reads that
/// collection's chunks through their btree index and sorts them exactly, which is both faster
/// and complete.
const SEARCH_SETTINGS: &str = "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), \
    set_config('hnsw.ef_search', $1, true), set_config('hnsw.max_scan_tuples', $2, true), \
    set_config('plan_cache_mode', 'force_custom_plan', true)";

impl PgStore {
    /// Number of documents (all tenants, or one).
    pub(crate) async fn count_documents_of(&self, tenant: Option<&str>) -> Result<u64> {
        let sql =
            format!("SELECT COUNT(*) FROM {DOC_FROM} WHERE ($1::text IS NULL OR t.name = $1)");
        let n: i64 = retrying("count_documents", || async {
            Ok(sqlx::query_scalar(&sql)
                .bind(tenant)
                .fetch_one(&self.pool)
                .await?)
        })
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The first document matching `clause` (over [`DOC_FROM`]) with its two text binds.
    async fn document_where(&self, clause: &str, a: &str, b: &str) -> Result<Option<Document>> {
        let sql = format!("SELECT {DOC_COLUMNS} FROM {DOC_FROM} WHERE {clause}");
        let row = retrying("get_document", || async {
            Ok(sqlx::query(&sql)
                .bind(a)
                .bind(b)
                .fetch_optional(&self.pool)
                .await?)
        })
        .await?;
        row.as_ref().map(document_from_row).transpose()
    }

    /// One attempt of a delete: the document goes only if it is the tenant's.
    async fn delete_once(
        &self,
        tenant: &TenantId,
        id: DocumentId,
        events: &[Event],
    ) -> Result<Document, Failure> {
        let mut tx = self.pool.begin().await?;
        // Its chunks, and so their vectors, go with it (ON DELETE CASCADE).
        let sql = format!(
            "DELETE FROM documents d USING collections c, tenants t \
             WHERE c.id = d.collection_id AND t.id = c.tenant_id AND d.id = $1::uuid \
             AND t.name = $2 RETURNING {DOC_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(tenant.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::NotFound(format!("document {id}")))?;
        let document = document_from_row(&row)?;
        record_events(&mut tx, events).await?;
        tx.commit().await.map_err(|e| Failure::Final(db_err(e)))?;
        Ok(document)
    }
}

#[async_trait]
impl DocumentStore for PgStore {
    async fn collection_ids(
        &self,
        tenant: &TenantId,
        collection: Option<&str>,
    ) -> Result<Vec<CollectionId>> {
        let ids: Vec<i64> = retrying("collection_ids", || async {
            Ok(sqlx::query_scalar(
                "SELECT c.id FROM collections c JOIN tenants t ON t.id = c.tenant_id \
                 WHERE t.name = $1 AND ($2::text IS NULL OR c.name = $2) ORDER BY c.id",
            )
            .bind(tenant.as_str())
            .bind(collection)
            .fetch_all(&self.pool)
            .await?)
        })
        .await?;
        ids.into_iter().map(collection_of).collect()
    }

    async fn collection_names(&self, tenant: &TenantId) -> Result<Vec<String>> {
        retrying("collection_names", || async {
            Ok(sqlx::query_scalar(
                "SELECT c.name FROM collections c JOIN tenants t ON t.id = c.tenant_id \
                 WHERE t.name = $1 ORDER BY c.name",
            )
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await?)
        })
        .await
    }

    async fn find_by_source(&self, scope: &Scope, source: &str) -> Result<Option<Document>> {
        let sql = format!(
            "SELECT {DOC_COLUMNS} FROM {DOC_FROM} WHERE t.name = $1 AND c.name = $2 AND d.source = $3"
        );
        let row = retrying("find_by_source", || async {
            Ok(sqlx::query(&sql)
                .bind(scope.tenant.as_str())
                .bind(scope.collection.as_str())
                .bind(source)
                .fetch_optional(&self.pool)
                .await?)
        })
        .await?;
        row.as_ref().map(document_from_row).transpose()
    }

    async fn put_document(&self, doc: NewDocument, events: &[Event]) -> Result<StoredDocument> {
        crate::postgres::write::put_document(self, &doc, events).await
    }

    async fn delete_document(
        &self,
        tenant: &TenantId,
        id: DocumentId,
        events: &[Event],
    ) -> Result<Document> {
        retrying("delete_document", || self.delete_once(tenant, id, events)).await
    }

    async fn get_document(&self, tenant: &TenantId, id: DocumentId) -> Result<Document> {
        self.document_where(
            "d.id = $1::uuid AND t.name = $2",
            &id.to_string(),
            tenant.as_str(),
        )
        .await?
        .ok_or_else(|| Error::NotFound(format!("document {id}")))
    }

    async fn list_documents(
        &self,
        tenant: &TenantId,
        filter: &DocumentFilter,
    ) -> Result<(Vec<Document>, u64)> {
        let page = format!(
            "SELECT {DOC_COLUMNS}, COUNT(*) OVER () AS total FROM {DOC_FROM} \
             WHERE t.name = $1 AND ($2::text IS NULL OR c.name = $2) \
             ORDER BY d.updated_at DESC, d.id DESC LIMIT $3 OFFSET $4"
        );
        let count = format!(
            "SELECT COUNT(*) FROM {DOC_FROM} WHERE t.name = $1 AND ($2::text IS NULL OR c.name = $2)"
        );
        let collection = filter.collection.as_deref();
        let (rows, total) = retrying("list_documents", || async {
            let rows = sqlx::query(&page)
                .bind(tenant.as_str())
                .bind(collection)
                .bind(i64::from(filter.limit))
                .bind(i64::from(filter.offset))
                .fetch_all(&self.pool)
                .await?;
            let total: i64 = match rows.first() {
                Some(r) => r.try_get("total")?,
                // A page past the end still reports the real total.
                None => {
                    sqlx::query_scalar(&count)
                        .bind(tenant.as_str())
                        .bind(collection)
                        .fetch_one(&self.pool)
                        .await?
                }
            };
            Ok((rows, total))
        })
        .await?;
        let docs = rows
            .iter()
            .map(document_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok((docs, u64::try_from(total).unwrap_or(0)))
    }

    async fn document_chunks(&self, tenant: &TenantId, id: DocumentId) -> Result<Vec<StoredChunk>> {
        let document = self.get_document(tenant, id).await?;
        let sql = format!(
            "SELECT {CHUNK_COLUMNS} FROM chunks k WHERE k.document_id = $1::uuid ORDER BY k.idx"
        );
        let rows = retrying("document_chunks", || async {
            Ok(sqlx::query(&sql)
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?)
        })
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredChunk {
                    key: key_of(row)?,
                    chunk: chunk_from_row(row)?,
                    document: document.clone(),
                })
            })
            .collect()
    }

    async fn search(
        &self,
        query: &Embedding,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(StoredChunk, f32)>> {
        if collections.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        self.check_dimensions(&query.0)?;
        let ids: Vec<i64> = collections.iter().map(|&c| i64::from(c)).collect();
        let limit = i64::try_from(k).map_err(Error::internal)?;
        let sql = format!("{SEARCH}{DOC_COLUMNS}{SEARCH_FROM}");
        let (ef_search, max_scan) = (
            self.options.ef_search.to_string(),
            self.options.max_scan_tuples.to_string(),
        );
        let rows = retrying("search", || async {
            // A read-only transaction: its commit may fail and be retried like any statement.
            let mut tx = self.pool.begin().await?;
            sqlx::query(SEARCH_SETTINGS)
                .bind(&ef_search)
                .bind(&max_scan)
                .execute(&mut *tx)
                .await?;
            let rows = sqlx::query(&sql)
                .bind(&query.0)
                .bind(&ids)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(rows)
        })
        .await?;
        rows.iter()
            .map(|row| {
                let distance: f64 = row.try_get("distance").map_err(db_err)?;
                let cosine = (1.0 - distance) as f32;
                let chunk = StoredChunk {
                    key: key_of(row)?,
                    chunk: chunk_from_row(row)?,
                    document: document_from_row(row)?,
                };
                Ok((chunk, cosine))
            })
            .collect()
    }

    async fn count_documents(&self, tenant: &TenantId) -> Result<u64> {
        self.count_documents_of(Some(tenant.as_str())).await
    }

    async fn count_chunks(&self, tenant: &TenantId) -> Result<u64> {
        let sql = format!(
            "SELECT COALESCE(SUM(d.chunk_count), 0)::bigint FROM {DOC_FROM} WHERE t.name = $1"
        );
        let n: i64 = retrying("count_chunks", || async {
            Ok(sqlx::query_scalar(&sql)
                .bind(tenant.as_str())
                .fetch_one(&self.pool)
                .await?)
        })
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
