//! The write side of [`PgStore`]: collections made on first use, one transaction per document
//! version, and the event outbox written inside the same transactions.

use ragd_core::events::Event;
use ragd_core::ports::{NewDocument, StoredDocument};
use ragd_core::types::{CollectionId, Scope};
use ragd_core::{Error, Result};
use sqlx::PgConnection;

use crate::postgres::retry::{Failure, retrying};
use crate::postgres::rows::{DOC_COLUMNS, DOC_FROM, collection_of, document_from_row};
use crate::postgres::{PgStore, db_err};

/// Chunks per insert statement. The statement binds ten arrays whatever their length, so the
/// 65,535 bind-parameter limit does not apply; the batch bounds the size of one message
/// (1,000 × 384 floats ≈ 1.5 MB) for a document of tens of thousands of chunks.
const INSERT_BATCH: usize = 1000;

/// How long recorded events are kept (the outbox a webhook delivery reads; older ones go), as
/// in the SQLite store.
const EVENT_RETENTION_DAYS: i32 = 30;

/// The advisory lock (two-key form: its own key space, apart from the per-source locks) that
/// writers hold from inserting their events until they commit. Identity values are handed out
/// at insert time, not at commit, so without it a reader could see event 11 committed before
/// event 10 and, resuming after 11, never see 10. Held only for the last statements of a write.
const EVENTS_LOCK: (i32, i32) = (0x7261_6764, 1); // "ragd", 1

/// The chunk insert: one row per element of the arrays, its vector sliced from one flat `real[]`
/// (sqlx binds one-dimensional arrays only) and cast to `vector`.
const INSERT_CHUNKS: &str = "INSERT INTO chunks \
    (document_id, collection_id, idx, text, char_start, char_end, page, heading, embedding) \
    SELECT $1::uuid, $2, u.idx, u.text, u.char_start, u.char_end, u.page, u.heading, \
    ($9::real[])[(u.n - 1) * $10 + 1 : u.n * $10]::vector \
    FROM UNNEST($3::int[], $4::text[], $5::bigint[], $6::bigint[], $7::int[], $8::text[]) \
    WITH ORDINALITY AS u(idx, text, char_start, char_end, page, heading, n)";

/// A document's chunks as the column arrays [`INSERT_CHUNKS`] binds, computed once for every
/// attempt of the write.
struct ChunkColumns<'a> {
    idx: Vec<i32>,
    text: Vec<&'a str>,
    start: Vec<i64>,
    end: Vec<i64>,
    page: Vec<Option<i32>>,
    heading: Vec<Option<&'a str>>,
    /// Every embedding, one after the other.
    vectors: Vec<f32>,
}

impl<'a> ChunkColumns<'a> {
    fn of(store: &PgStore, doc: &'a NewDocument) -> Result<Self> {
        let n = doc.chunks.len();
        let mut columns = Self {
            idx: Vec::with_capacity(n),
            text: Vec::with_capacity(n),
            start: Vec::with_capacity(n),
            end: Vec::with_capacity(n),
            page: Vec::with_capacity(n),
            heading: Vec::with_capacity(n),
            vectors: Vec::with_capacity(n * store.dimensions),
        };
        for (chunk, vector) in &doc.chunks {
            store.check_dimensions(&vector.0)?;
            columns
                .idx
                .push(i32::try_from(chunk.index).map_err(Error::internal)?);
            columns.text.push(&chunk.text);
            columns
                .start
                .push(i64::try_from(chunk.char_start).map_err(Error::internal)?);
            columns
                .end
                .push(i64::try_from(chunk.char_end).map_err(Error::internal)?);
            columns.page.push(
                chunk
                    .page
                    .map(i32::try_from)
                    .transpose()
                    .map_err(Error::internal)?,
            );
            columns.heading.push(chunk.heading.as_deref());
            columns.vectors.extend_from_slice(&vector.0);
        }
        Ok(columns)
    }
}

impl PgStore {
    /// The collection id for a scope, creating the tenant and collection if needed. Each
    /// statement commits on its own and sees what others committed before it, so two instances
    /// creating the same collection at once both get its one id.
    pub(crate) async fn collection_id(&self, scope: &Scope) -> Result<CollectionId> {
        let (tenant, collection) = (scope.tenant.as_str(), scope.collection.as_str());
        let select = "SELECT c.id FROM collections c JOIN tenants t ON t.id = c.tenant_id \
            WHERE t.name = $1 AND c.name = $2";
        let id: i64 = retrying("collection_id", || async {
            let known: Option<i64> = sqlx::query_scalar(select)
                .bind(tenant)
                .bind(collection)
                .fetch_optional(&self.pool)
                .await?;
            if let Some(id) = known {
                return Ok(id);
            }
            sqlx::query(
                "INSERT INTO tenants (name, created_at) VALUES ($1, now()) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(tenant)
            .execute(&self.pool)
            .await?;
            sqlx::query(
                "INSERT INTO collections (tenant_id, name, created_at) \
                 SELECT id, $2, now() FROM tenants WHERE name = $1 \
                 ON CONFLICT (tenant_id, name) DO NOTHING",
            )
            .bind(tenant)
            .bind(collection)
            .execute(&self.pool)
            .await?;
            Ok(sqlx::query_scalar(select)
                .bind(tenant)
                .bind(collection)
                .fetch_one(&self.pool)
                .await?)
        })
        .await?;
        collection_of(id)
    }
}

/// Records `events` in the write's transaction (under [`EVENTS_LOCK`], so the caller must commit
/// right after), and lets the oldest beyond the retention go: a bounded step that skips rows
/// another writer is pruning, so one write never pays for a long backlog nor waits for another.
pub(crate) async fn record_events(tx: &mut PgConnection, events: &[Event]) -> Result<(), Failure> {
    if !events.is_empty() {
        let mut payloads = Vec::with_capacity(events.len());
        for event in events {
            payloads.push(serde_json::to_string(event).map_err(Error::internal)?);
        }
        let kinds: Vec<&str> = events.iter().map(Event::kind).collect();
        let tenants: Vec<&str> = events.iter().map(Event::tenant).collect();
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(EVENTS_LOCK.0)
            .bind(EVENTS_LOCK.1)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO events (kind, tenant, payload, created_at) \
             SELECT u.kind, u.tenant, u.payload::jsonb, now() \
             FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY \
             AS u(kind, tenant, payload, n) ORDER BY u.n",
        )
        .bind(&kinds)
        .bind(&tenants)
        .bind(&payloads)
        .execute(&mut *tx)
        .await?;
        let request_id = ragd_core::events::current_request_id();
        let now = chrono::Utc::now();
        let notices: Vec<_> = events
            .iter()
            .map(|e| ragd_core::webhooks::notice_of(e, &request_id, now))
            .collect();
        super::webhooks::enqueue_in(tx, &notices).await?;
    }
    sqlx::query(
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events \
         WHERE created_at < now() - make_interval(days => $1) \
         ORDER BY seq LIMIT 100 FOR UPDATE SKIP LOCKED)",
    )
    .bind(EVENT_RETENTION_DAYS)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Writes `doc` and `events` in one transaction, replacing the chunks of an existing document
/// with the same source (see [`ragd_core::ports::DocumentStore::put_document`]).
pub(crate) async fn put_document(
    store: &PgStore,
    doc: &NewDocument,
    events: &[Event],
) -> Result<StoredDocument> {
    let columns = ChunkColumns::of(store, doc)?;
    let metadata = serde_json::to_string(&doc.metadata).map_err(Error::internal)?;
    let collection = store.collection_id(&doc.scope).await?;
    retrying("put_document", || {
        put_once(store, doc, collection, &columns, &metadata, events)
    })
    .await
}

/// One attempt of [`put_document`].
async fn put_once(
    store: &PgStore,
    doc: &NewDocument,
    collection: CollectionId,
    columns: &ChunkColumns<'_>,
    metadata: &str,
    events: &[Event],
) -> Result<StoredDocument, Failure> {
    let id = doc.id.to_string();
    let collection = i64::from(collection);
    let mut tx = store.pool.begin().await?;
    // Writes of one source take turns: a concurrent first upload of the same file then finds
    // the other's row and replaces it, instead of failing on the unique (collection, source).
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))")
        .bind(&doc.source.source)
        .bind(collection)
        .execute(&mut *tx)
        .await?;
    let existing: Option<String> = sqlx::query_scalar(
        "SELECT id::text FROM documents WHERE collection_id = $1 AND source = $2",
    )
    .bind(collection)
    .bind(&doc.source.source)
    .fetch_optional(&mut *tx)
    .await?;
    let replaced = existing.is_some();
    let size = i64::try_from(doc.source.size_bytes).map_err(Error::internal)?;
    let pages = doc
        .pages
        .map(i32::try_from)
        .transpose()
        .map_err(Error::internal)?;
    let chunk_count = i32::try_from(doc.chunks.len()).map_err(Error::internal)?;
    if existing.as_ref().is_some_and(|other| *other == id) {
        sqlx::query("DELETE FROM chunks WHERE document_id = $1::uuid")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE documents SET title = $2, mime = $3, size_bytes = $4, content_hash = $5, \
             pages = $6, chunk_count = $7, metadata = $8::jsonb, updated_at = now() \
             WHERE id = $1::uuid",
        )
        .bind(&id)
        .bind(&doc.title)
        .bind(&doc.mime)
        .bind(size)
        .bind(&doc.source.content_hash)
        .bind(pages)
        .bind(chunk_count)
        .bind(metadata)
        .execute(&mut *tx)
        .await?;
    } else {
        if let Some(other) = &existing {
            // Its chunks go with it (ON DELETE CASCADE).
            sqlx::query("DELETE FROM documents WHERE id = $1::uuid")
                .bind(other)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO documents (id, collection_id, source, title, mime, size_bytes, \
             content_hash, pages, chunk_count, metadata, created_at, updated_at) \
             VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, now(), now())",
        )
        .bind(&id)
        .bind(collection)
        .bind(&doc.source.source)
        .bind(&doc.title)
        .bind(&doc.mime)
        .bind(size)
        .bind(&doc.source.content_hash)
        .bind(pages)
        .bind(chunk_count)
        .bind(metadata)
        .execute(&mut *tx)
        .await?;
    }
    insert_chunks(&mut tx, &id, collection, columns, store.dimensions).await?;
    let sql = format!("SELECT {DOC_COLUMNS} FROM {DOC_FROM} WHERE d.id = $1::uuid");
    let row = sqlx::query(&sql).bind(&id).fetch_one(&mut *tx).await?;
    let document = document_from_row(&row)?;
    record_events(&mut tx, events).await?;
    tx.commit().await.map_err(|e| Failure::Final(db_err(e)))?;
    Ok(StoredDocument { document, replaced })
}

/// Inserts the chunks in batches of [`INSERT_BATCH`].
async fn insert_chunks(
    tx: &mut PgConnection,
    id: &str,
    collection: i64,
    columns: &ChunkColumns<'_>,
    dimensions: usize,
) -> Result<(), Failure> {
    let dims = i32::try_from(dimensions).map_err(Error::internal)?;
    for start in (0..columns.idx.len()).step_by(INSERT_BATCH) {
        let end = (start + INSERT_BATCH).min(columns.idx.len());
        sqlx::query(INSERT_CHUNKS)
            .bind(id)
            .bind(collection)
            .bind(&columns.idx[start..end])
            .bind(&columns.text[start..end])
            .bind(&columns.start[start..end])
            .bind(&columns.end[start..end])
            .bind(&columns.page[start..end])
            .bind(&columns.heading[start..end])
            .bind(&columns.vectors[start * dimensions..end * dimensions])
            .bind(dims)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
