//! `ragd migrate`: copies a single-node data dir (SQLite) into PostgreSQL without re-embedding —
//! tenants, users (with their password hashes), API keys, documents with their chunks and
//! vectors — then verifies the counts tenant by tenant.
//!
//! Resumable: what is already there is skipped (a tenant, a user or key of the same id, a
//! document of the same id and content), so a migration cut short is simply run again. The
//! source is opened shared: a server may keep running on it, though documents it writes during
//! the copy are only picked up by the next run. Not copied: job history and the event log.

use std::collections::HashMap;

use ragd_core::accounts::{ApiKeyStore, TenantStore, UserStore};
use ragd_core::ports::{DocumentFilter, DocumentStore, NewDocument};
use ragd_core::types::TenantId;
use ragd_core::{Error, Result};
use serde::Serialize;

use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;

/// Documents read from the source per page.
const PAGE: u32 = 100;

/// What a migration copied and found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrateReport {
    /// Tenants in the source.
    pub tenants: u64,
    /// Users copied now (the rest were there already).
    pub users_copied: u64,
    /// API keys copied now.
    pub keys_copied: u64,
    /// Documents copied now.
    pub documents_copied: u64,
    /// Documents already there with the same content.
    pub documents_skipped: u64,
    /// Chunks (vectors) copied now.
    pub chunks_copied: u64,
    /// Documents and chunks of every tenant agree on both sides.
    pub verified: bool,
}

/// Copies `from` into `to` (see the module docs); `progress` gets the documents done so far.
pub async fn migrate(
    from: &SqliteStore,
    to: &PgStore,
    mut progress: impl FnMut(u64),
) -> Result<MigrateReport> {
    let mut report = MigrateReport::default();
    let tenants = from.tenants().await?;
    report.tenants = tenants.len() as u64;
    for tenant in &tenants {
        match to.create_tenant(&tenant.name).await {
            Ok(_) | Err(Error::Conflict(_)) => {}
            Err(other) => return Err(other),
        }
    }
    for user in from.users().await? {
        report.users_copied += u64::from(to.import_user(&user).await?);
    }
    for tenant in &tenants {
        for key in from.keys(&tenant.name).await? {
            if to.key_by_prefix(&key.prefix).await?.is_none() {
                to.create_key(key).await?;
                report.keys_copied += 1;
            }
        }
        copy_documents(from, to, &tenant.name, &mut report, &mut progress).await?;
    }
    report.verified = verify(from, to, &tenants).await?;
    Ok(report)
}

async fn copy_documents(
    from: &SqliteStore,
    to: &PgStore,
    tenant: &TenantId,
    report: &mut MigrateReport,
    progress: &mut impl FnMut(u64),
) -> Result<()> {
    let mut offset = 0;
    loop {
        let filter = DocumentFilter {
            collection: None,
            limit: PAGE,
            offset,
        };
        let (page, _) = from.list_documents(tenant, &filter).await?;
        if page.is_empty() {
            return Ok(());
        }
        offset += PAGE;
        for doc in page {
            let there = to.find_by_source(&doc.scope, &doc.source.source).await?;
            if there.is_some_and(|d| {
                d.id == doc.id
                    && d.source.content_hash == doc.source.content_hash
                    && d.chunk_count == doc.chunk_count
            }) {
                report.documents_skipped += 1;
                continue;
            }
            let chunks = from.document_chunks(tenant, doc.id).await?;
            let keys: Vec<u64> = chunks.iter().map(|c| c.key).collect();
            let mut vectors: HashMap<u64, _> = from
                .index_entries(&keys)
                .await?
                .into_iter()
                .map(|e| (e.key, e.vector))
                .collect();
            let chunks = chunks
                .into_iter()
                .map(|c| {
                    let vector = vectors.remove(&c.key).ok_or_else(|| {
                        Error::internal(format!("chunk {} of {} has no vector", c.key, doc.id))
                    })?;
                    Ok((c.chunk, vector))
                })
                .collect::<Result<Vec<_>>>()?;
            report.chunks_copied += chunks.len() as u64;
            let new = NewDocument {
                id: doc.id,
                scope: doc.scope,
                source: doc.source,
                title: doc.title,
                mime: doc.mime,
                pages: doc.pages,
                metadata: doc.metadata,
                chunks,
            };
            to.put_document(new, &[]).await?;
            report.documents_copied += 1;
            progress(report.documents_copied + report.documents_skipped);
        }
    }
}

async fn verify(
    from: &SqliteStore,
    to: &PgStore,
    tenants: &[ragd_core::accounts::TenantInfo],
) -> Result<bool> {
    let mut same = true;
    for tenant in tenants {
        let name = &tenant.name;
        let source = (
            from.count_documents(Some(name.as_str())).await?,
            from.count_chunks(name.as_str()).await?,
        );
        let target = (
            to.count_documents(name).await?,
            to.count_chunks(name).await?,
        );
        if source != target {
            tracing::error!(
                tenant = name.as_str(),
                ?source,
                ?target,
                "counts differ after the copy"
            );
            same = false;
        }
    }
    Ok(same)
}

/// Opens the SQLite store of `data_dir` (shared) and the PostgreSQL database of `to`, then
/// [`migrate`]s.
pub async fn run(
    data_dir: &std::path::Path,
    to: &crate::PostgresConfig,
    progress: impl FnMut(u64),
) -> Result<MigrateReport> {
    let db = data_dir.join("ragd.db");
    if !db.is_file() {
        return Err(Error::invalid(format!("no database at {}", db.display())));
    }
    let from = SqliteStore::open(&db).await?;
    let target = PgStore::connect(to.url.expose(), to.options).await?;
    migrate(&from, &target, progress).await
}
