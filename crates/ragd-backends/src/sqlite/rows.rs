//! How rows of the SQLite store map to ragd's types: documents with their scope, chunks, keys,
//! and embeddings as little-endian f32 bytes.

use chrono::{DateTime, Utc};
use ragd_core::types::{
    ChunkDraft, ChunkKey, CollectionName, Document, DocumentId, Scope, SourceInfo, TenantId,
};
use ragd_core::{Error, Result};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::sqlite::db_err;

/// Encodes a vector as little-endian f32 bytes.
pub(crate) fn encode_vector(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// Decodes little-endian f32 bytes.
pub(crate) fn decode_vector(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The columns of a document row, with its tenant and collection names.
pub(crate) const DOC_COLUMNS: &str = "d.id, d.source, d.title, d.mime, d.size_bytes, d.content_hash, d.pages, \
    d.chunk_count, d.metadata, d.created_at, d.updated_at, t.name AS tenant, c.name AS collection";
/// The joins [`DOC_COLUMNS`] reads from.
pub(crate) const DOC_FROM: &str =
    "documents d JOIN collections c ON c.id = d.collection_id JOIN tenants t ON t.id = c.tenant_id";

/// A document from a row of [`DOC_COLUMNS`].
pub(crate) fn document_from_row(row: &SqliteRow) -> Result<Document> {
    let id: String = row.try_get("id").map_err(db_err)?;
    let metadata: String = row.try_get("metadata").map_err(db_err)?;
    let tenant: String = row.try_get("tenant").map_err(db_err)?;
    let collection: String = row.try_get("collection").map_err(db_err)?;
    let pages: Option<i64> = row.try_get("pages").map_err(db_err)?;
    let size: i64 = row.try_get("size_bytes").map_err(db_err)?;
    let chunk_count: i64 = row.try_get("chunk_count").map_err(db_err)?;
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

/// A chunk from a row of the chunk columns.
pub(crate) fn chunk_from_row(row: &SqliteRow) -> Result<ChunkDraft> {
    let get_usize = |name: &str| -> Result<usize> {
        let v: i64 = row.try_get(name).map_err(db_err)?;
        usize::try_from(v).map_err(Error::internal)
    };
    let page: Option<i64> = row.try_get("page").map_err(db_err)?;
    Ok(ChunkDraft {
        index: u32::try_from(get_usize("idx")?).map_err(Error::internal)?,
        text: row.try_get("text").map_err(db_err)?,
        char_start: get_usize("char_start")?,
        char_end: get_usize("char_end")?,
        page: page.and_then(|p| u32::try_from(p).ok()),
        heading: row.try_get("heading").map_err(db_err)?,
    })
}

/// The chunk key of a row.
pub(crate) fn key_of(row: &SqliteRow) -> Result<ChunkKey> {
    let key: i64 = row.try_get("key").map_err(db_err)?;
    u64::try_from(key).map_err(Error::internal)
}
