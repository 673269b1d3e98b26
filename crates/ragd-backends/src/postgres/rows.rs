//! How rows of the PostgreSQL store map to ragd's types. sqlx decodes PostgreSQL values strictly
//! by type, so each column is read as the Rust type of its SQL type (`BIGINT` as `i64`, `INTEGER`
//! as `i32`); document ids and JSON come back as text (`::text`), which keeps sqlx's `uuid` and
//! `json` features (and their dependencies) out of the build.

use chrono::{DateTime, Utc};
use ragd_core::types::{
    ChunkDraft, ChunkKey, CollectionId, CollectionName, Document, DocumentId, Scope, SourceInfo,
    TenantId,
};
use ragd_core::{Error, Result};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::postgres::db_err;

/// The columns of a document row, with its tenant and collection names.
pub(crate) const DOC_COLUMNS: &str = "d.id::text AS id, d.source, d.title, d.mime, d.size_bytes, \
    d.content_hash, d.pages, d.chunk_count, d.metadata::text AS metadata, d.created_at, \
    d.updated_at, t.name AS tenant, c.name AS collection";
/// The joins [`DOC_COLUMNS`] reads from.
pub(crate) const DOC_FROM: &str =
    "documents d JOIN collections c ON c.id = d.collection_id JOIN tenants t ON t.id = c.tenant_id";
/// The columns of a chunk row (table alias `k`), for [`chunk_from_row`] and [`key_of`].
pub(crate) const CHUNK_COLUMNS: &str =
    "k.key, k.idx, k.text, k.char_start, k.char_end, k.page, k.heading";

/// A document from a row of [`DOC_COLUMNS`].
pub(crate) fn document_from_row(row: &PgRow) -> Result<Document> {
    let id: String = row.try_get("id").map_err(db_err)?;
    let metadata: String = row.try_get("metadata").map_err(db_err)?;
    let tenant: String = row.try_get("tenant").map_err(db_err)?;
    let collection: String = row.try_get("collection").map_err(db_err)?;
    let pages: Option<i32> = row.try_get("pages").map_err(db_err)?;
    let size: i64 = row.try_get("size_bytes").map_err(db_err)?;
    let chunk_count: i32 = row.try_get("chunk_count").map_err(db_err)?;
    Ok(Document {
        id: DocumentId::parse(&id)?,
        scope: Scope {
            tenant: TenantId::parse(&tenant)?,
            collection: CollectionName::parse(&collection)?,
        },
        source: SourceInfo {
            source: row.try_get("source").map_err(db_err)?,
            size_bytes: u64::try_from(size).unwrap_or(0),
            content_hash: row.try_get("content_hash").map_err(db_err)?,
        },
        title: row.try_get("title").map_err(db_err)?,
        mime: row.try_get("mime").map_err(db_err)?,
        pages: pages.and_then(|p| u32::try_from(p).ok()),
        chunk_count: u32::try_from(chunk_count).unwrap_or(0),
        metadata: serde_json::from_str(&metadata).map_err(Error::internal)?,
        created_at: row
            .try_get::<DateTime<Utc>, _>("created_at")
            .map_err(db_err)?,
        updated_at: row
            .try_get::<DateTime<Utc>, _>("updated_at")
            .map_err(db_err)?,
    })
}

/// A chunk from a row of [`CHUNK_COLUMNS`].
pub(crate) fn chunk_from_row(row: &PgRow) -> Result<ChunkDraft> {
    let offset = |name: &str| -> Result<usize> {
        let v: i64 = row.try_get(name).map_err(db_err)?;
        usize::try_from(v).map_err(Error::internal)
    };
    let idx: i32 = row.try_get("idx").map_err(db_err)?;
    let page: Option<i32> = row.try_get("page").map_err(db_err)?;
    Ok(ChunkDraft {
        index: u32::try_from(idx).map_err(Error::internal)?,
        text: row.try_get("text").map_err(db_err)?,
        char_start: offset("char_start")?,
        char_end: offset("char_end")?,
        page: page.and_then(|p| u32::try_from(p).ok()),
        heading: row.try_get("heading").map_err(db_err)?,
    })
}

/// The chunk key of a row.
pub(crate) fn key_of(row: &PgRow) -> Result<ChunkKey> {
    let key: i64 = row.try_get("key").map_err(db_err)?;
    u64::try_from(key).map_err(Error::internal)
}

/// A collection id as stored (`BIGINT`) to ragd's `u32`.
pub(crate) fn collection_of(id: i64) -> Result<CollectionId> {
    CollectionId::try_from(id).map_err(Error::internal)
}
