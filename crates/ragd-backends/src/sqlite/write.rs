//! The write side of [`SqliteStore`]: one transaction per document version.

use chrono::Utc;
use ragd_core::events::Event;
use ragd_core::ports::{IndexChanges, IndexEntry, NewDocument, StoredDocument, TextEntry};
use ragd_core::{Error, Result};
use sqlx::{QueryBuilder, Row, SqlitePool};

use crate::sqlite::rows::encode_vector;
use crate::sqlite::{SqliteStore, db_err};

/// Rows per multi-row chunk insert (SQLite allows 32766 bound parameters; a row binds 9).
const INSERT_BATCH: usize = 256;

/// How long recorded events are kept (the outbox a webhook delivery reads; older ones go).
pub(crate) const EVENT_RETENTION: chrono::Duration = chrono::Duration::days(30);

/// Records `events` in the write's transaction, and lets the oldest beyond
/// [`EVENT_RETENTION`] go (a bounded step, so one write never pays for a long backlog).
pub(crate) async fn record_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    events: &[Event],
) -> Result<()> {
    let now = Utc::now();
    for event in events {
        sqlx::query("INSERT INTO events (kind, tenant, payload, created_at) VALUES (?, ?, ?, ?)")
            .bind(event.kind())
            .bind(event.tenant())
            .bind(serde_json::to_string(event).map_err(Error::internal)?)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
    }
    if !events.is_empty() {
        let request_id = ragd_core::events::current_request_id();
        let notices: Vec<_> = events
            .iter()
            .map(|e| ragd_core::webhooks::notice_of(e, &request_id, now))
            .collect();
        super::webhooks::enqueue_in(tx, &notices).await?;
    }
    sqlx::query(
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE created_at < ? ORDER BY seq LIMIT 100)",
    )
    .bind(now - EVENT_RETENTION)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Writes `doc` and `events` in one transaction, replacing the chunks of an existing document
/// with the same source. The stored document has `doc.id`: an existing document of that id
/// keeps its creation time; one with another id (a concurrent first upload of the same source)
/// is replaced.
pub(crate) async fn put_document(
    store: &SqliteStore,
    pool: &SqlitePool,
    doc: NewDocument,
    events: &[Event],
) -> Result<(StoredDocument, IndexChanges)> {
    let collection = store.collection_id(&doc.scope).await?;
    let now = Utc::now();
    let metadata = serde_json::to_string(&doc.metadata).map_err(Error::internal)?;
    let chunk_count = i64::try_from(doc.chunks.len()).map_err(Error::internal)?;
    let mut tx = crate::sqlite::begin_write(pool).await?;

    let existing: Option<(String,)> =
        sqlx::query_as("SELECT id FROM documents WHERE collection_id = ? AND source = ?")
            .bind(collection)
            .bind(&doc.source.source)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
    let mut removed = Vec::new();
    let replaced = existing.is_some();
    let id = doc.id;
    if let Some((other,)) = existing.as_ref().filter(|(e,)| *e != id.to_string()) {
        let keys: Vec<i64> =
            sqlx::query_scalar("DELETE FROM chunks WHERE document_id = ? RETURNING key")
                .bind(other)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
        removed.extend(keys.into_iter().filter_map(|k| u64::try_from(k).ok()));
        sqlx::query("DELETE FROM documents WHERE id = ?")
            .bind(other)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    match existing.filter(|(e,)| *e == id.to_string()) {
        Some((id,)) => {
            let keys: Vec<i64> =
                sqlx::query_scalar("DELETE FROM chunks WHERE document_id = ? RETURNING key")
                    .bind(&id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err)?;
            removed.extend(keys.into_iter().filter_map(|k| u64::try_from(k).ok()));
            sqlx::query(
                "UPDATE documents SET title = ?, mime = ?, size_bytes = ?, content_hash = ?, pages = ?, \
                 chunk_count = ?, metadata = ?, updated_at = ? WHERE id = ?",
            )
            .bind(&doc.title)
            .bind(&doc.mime)
            .bind(i64::try_from(doc.source.size_bytes).map_err(Error::internal)?)
            .bind(&doc.source.content_hash)
            .bind(doc.pages.map(i64::from))
            .bind(chunk_count)
            .bind(&metadata)
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        None => {
            sqlx::query(
                "INSERT INTO documents (id, collection_id, source, title, mime, size_bytes, content_hash, \
                 pages, chunk_count, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id.to_string())
            .bind(collection)
            .bind(&doc.source.source)
            .bind(&doc.title)
            .bind(&doc.mime)
            .bind(i64::try_from(doc.source.size_bytes).map_err(Error::internal)?)
            .bind(&doc.source.content_hash)
            .bind(doc.pages.map(i64::from))
            .bind(chunk_count)
            .bind(&metadata)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
    }

    let mut added = Vec::with_capacity(doc.chunks.len());
    let mut texts = Vec::with_capacity(doc.chunks.len());
    for batch in doc.chunks.chunks(INSERT_BATCH) {
        let mut qb = QueryBuilder::new(
            "INSERT INTO chunks (document_id, collection_id, idx, text, char_start, char_end, page, heading, embedding) ",
        );
        qb.push_values(batch, |mut row, (chunk, vector)| {
            row.push_bind(id.to_string())
                .push_bind(collection)
                .push_bind(i64::from(chunk.index))
                .push_bind(chunk.text.clone())
                .push_bind(i64::try_from(chunk.char_start).unwrap_or(i64::MAX))
                .push_bind(i64::try_from(chunk.char_end).unwrap_or(i64::MAX))
                .push_bind(chunk.page.map(i64::from))
                .push_bind(chunk.heading.clone())
                .push_bind(encode_vector(&vector.0));
        });
        qb.push(" RETURNING key, idx");
        let rows = qb.build().fetch_all(&mut *tx).await.map_err(db_err)?;
        for row in rows {
            let key: i64 = row.try_get("key").map_err(db_err)?;
            let idx: i64 = row.try_get("idx").map_err(db_err)?;
            let (chunk, vector) = batch
                .iter()
                .find(|(c, _)| i64::from(c.index) == idx)
                .ok_or_else(|| Error::internal("inserted chunk not found in batch"))?;
            let key = u64::try_from(key).map_err(Error::internal)?;
            added.push(IndexEntry {
                key,
                collection,
                vector: vector.clone(),
            });
            texts.push(TextEntry {
                key,
                collection,
                text: chunk.text.clone(),
            });
        }
    }
    record_events(&mut tx, events).await?;
    tx.commit().await.map_err(db_err)?;
    let document = store.document_by_id(id).await?;
    Ok((
        StoredDocument { document, replaced },
        IndexChanges {
            removed,
            added,
            texts,
        },
    ))
}
