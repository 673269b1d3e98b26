//! Chroma as ragd's vector index (issue 13): a team coming from the chapter's stack (FastAPI +
//! ChromaDB) keeps its Chroma server, and ragd keeps its vectors there instead of in process.
//! Set `CHROMA_HOST` and `CHROMA_PORT` (see [`ChromaConfig`]); the tests start a real server
//! with `scripts/chroma.sh`.
//!
//! [`ChromaIndex`] is a [`VectorIndex`] *derived* from the SQLite store, exactly like the
//! embedded HNSW index: SQLite keeps documents, chunks and every embedding, and
//! [`crate::sqlite::indexed::IndexedStore`] applies each committed change to Chroma in commit
//! order (a change Chroma refuses is kept and retried). On open the collection is reconciled
//! with the store: records the store does not have (or files under another collection) are
//! deleted, chunks missing from Chroma are added. So Chroma can be wiped, restored from an older
//! snapshot or be down for a while: the next start, or `ragd check --repair`, makes it agree.
//!
//! Isolation: one Chroma collection holds the vectors of every ragd tenant of the deployment.
//! Each record carries its ragd collection id (unique per tenant and collection) in its
//! metadata, and every search passes the caller's collection ids as a `where` filter *inside*
//! the query, so another tenant's vectors are never candidates — not a filter over a global
//! top-k. The store re-checks every hit's collection besides.
//!
//! Failures: Chroma unreachable, slow past the timeout or answering an error is
//! [`Error::Unavailable`] (the API answers 503 with `Retry-After`), with the cause in the log.
//! The collection is ragd's alone: ragd creates it (cosine distance, marked in its metadata) and
//! refuses to open a collection it did not create, since reconciling would delete its records.

/// Scopes of at most this many records are searched exactly (see `search`).
const EXACT_BELOW: usize = 512;

/// Cosine similarity of two vectors (0 when either is zero).
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    let norm = (na * nb).sqrt();
    if norm > 0.0 { dot / norm } else { 0.0 }
}

mod client;
pub mod config;
mod records;
mod wire;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;
use ragd_core::ports::{IndexChanges, IndexEntry, VectorIndex};
use ragd_core::types::{ChunkKey, CollectionId, Embedding};
use ragd_core::{Error, Result};
use serde_json::json;

use crate::chroma::client::Client;
use crate::chroma::records::{FORMAT, MARKER_FIELD, TenantNames};
use crate::chroma::wire::{CollectionInfo, Failure};
use crate::sqlite::SqliteStore;

pub use crate::chroma::config::ChromaConfig;

/// Vectors in a Chroma collection (see the module docs).
pub struct ChromaIndex {
    client: Client,
    /// The collection's name (from the configuration).
    name: String,
    /// Its UUID, which record calls take; renewed when the collection is re-created.
    id: RwLock<String>,
    /// Records per call: the configured size, capped by the server's `max_batch_size`.
    batch: usize,
    tenants: TenantNames,
}

impl ChromaIndex {
    /// Connects to the server, creates the tenant, database and collection when missing, and
    /// reconciles the collection with `store` (see the module docs).
    pub async fn open(config: ChromaConfig, store: &SqliteStore) -> Result<Self> {
        config.validate()?;
        let client = Client::new(&config).map_err(|e| Error::invalid(format!("{e:#}")))?;
        let fail = |what: &str, failure: Failure| {
            Error::Unavailable(format!(
                "Chroma at {} ({what}): {failure}",
                client.base().as_str()
            ))
        };
        client.heartbeat().await.map_err(|f| fail("heartbeat", f))?;
        let server_batch = client
            .max_batch_size()
            .await
            .map_err(|f| fail("pre-flight checks", f))?;
        client
            .ensure_tenant_and_database()
            .await
            .map_err(|f| fail("tenant and database", f))?;
        let this = Self {
            batch: config.batch_size.min(server_batch).max(1),
            name: config.collection,
            id: RwLock::new(String::new()),
            client,
            tenants: TenantNames::new(store.clone()),
        };
        this.resolve().await?;
        this.reconcile(store).await?;
        Ok(this)
    }

    /// The name of the Chroma collection.
    pub fn collection_name(&self) -> &str {
        &self.name
    }

    fn unavailable(&self, what: &str, failure: &Failure) -> Error {
        Error::Unavailable(format!(
            "Chroma at {} ({what} in collection {}): {failure}",
            self.client.base().as_str(),
            self.name
        ))
    }

    fn current_id(&self) -> String {
        self.id
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Finds the collection (creating it when missing), checks that it is ragd's and keeps its
    /// id.
    async fn resolve(&self) -> Result<String> {
        let info = match self.client.collection(&self.name).await {
            Ok(Some(info)) => info,
            Ok(None) => {
                let marker = json!({ MARKER_FIELD: FORMAT });
                self.client
                    .create_collection(&self.name, marker)
                    .await
                    .map_err(|f| self.unavailable("creating the collection", &f))?
            }
            Err(f) => return Err(self.unavailable("looking up the collection", &f)),
        };
        self.check_owned(&info)?;
        *self.id.write().unwrap_or_else(PoisonError::into_inner) = info.id.clone();
        Ok(info.id)
    }

    fn check_owned(&self, info: &CollectionInfo) -> Result<()> {
        let marker = info
            .metadata
            .as_ref()
            .and_then(|m| m.get(MARKER_FIELD))
            .and_then(serde_json::Value::as_u64);
        if marker != Some(FORMAT) {
            return Err(Error::invalid(format!(
                "the Chroma collection {:?} was not created by ragd (its metadata has no {MARKER_FIELD}: \
                 {FORMAT}); ragd would delete its records to match its own store, so it refuses \
                 it: set RAGD_CHROMA_COLLECTION to another name",
                self.name
            )));
        }
        let config = &info.configuration_json;
        let space = ["hnsw", "spann"]
            .iter()
            .find_map(|index| config[index]["space"].as_str());
        if space != Some("cosine") {
            return Err(Error::invalid(format!(
                "the Chroma collection {:?} does not use cosine distance ({space:?}); delete it \
                 or set RAGD_CHROMA_COLLECTION to another name",
                self.name
            )));
        }
        Ok(())
    }

    /// Runs a call on the collection; when Chroma no longer has it (deleted behind ragd's back,
    /// or re-created by a rebuild), finds it again and retries once.
    async fn on_collection<T, F, Fut>(&self, what: &str, call: F) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = std::result::Result<T, Failure>>,
    {
        match call(self.current_id()).await {
            Err(failure) if failure.is_not_found() => {
                tracing::warn!(
                    collection = %self.name,
                    "the Chroma collection is gone; creating it again (run `ragd check --repair` \
                     or restart ragd to re-add the vectors it held)"
                );
                let id = self.resolve().await?;
                call(id).await.map_err(|f| self.unavailable(what, &f))
            }
            other => other.map_err(|f| self.unavailable(what, &f)),
        }
    }

    /// Every record id with the key and collection it is filed under (`None`: not a ragd record).
    async fn records(&self) -> Result<Vec<(String, Option<(ChunkKey, CollectionId)>)>> {
        let mut out = Vec::new();
        loop {
            let offset = out.len();
            let page = self
                .on_collection("listing records", |id| async move {
                    self.client.page(&id, offset, self.batch).await
                })
                .await?;
            let metadatas = page.metadatas.unwrap_or_default();
            let n = page.ids.len();
            for (i, id) in page.ids.into_iter().enumerate() {
                let filed = records::filed(&id, metadatas.get(i).and_then(Option::as_ref));
                out.push((id, filed));
            }
            if n < self.batch {
                return Ok(out);
            }
        }
    }

    async fn delete_ids(&self, ids: &[String]) -> Result<()> {
        for batch in ids.chunks(self.batch) {
            self.on_collection("deleting records", |id| async move {
                self.client.delete(&id, batch).await
            })
            .await?;
        }
        Ok(())
    }

    async fn upsert(&self, entries: &[IndexEntry]) -> Result<()> {
        for batch in entries.chunks(self.batch) {
            let tenants = self.tenants.of(batch).await?;
            let records = records::records(batch, &tenants);
            let records = &records;
            self.on_collection("adding records", |id| async move {
                self.client.upsert(&id, records).await
            })
            .await?;
        }
        Ok(())
    }

    /// Makes the collection hold exactly the store's chunks (see the module docs).
    async fn reconcile(&self, store: &SqliteStore) -> Result<()> {
        let wanted = store.chunk_keys().await?;
        let wanted_at: HashMap<ChunkKey, CollectionId> = wanted.iter().copied().collect();
        let mut present = HashSet::new();
        let mut stale = Vec::new();
        for (id, filed) in self.records().await? {
            match filed {
                Some((key, coll)) if wanted_at.get(&key) == Some(&coll) => {
                    present.insert(key);
                }
                Some(_) | None => stale.push(id),
            }
        }
        let missing: Vec<ChunkKey> = wanted
            .iter()
            .map(|&(key, _)| key)
            .filter(|key| !present.contains(key))
            .collect();
        if !missing.is_empty() || !stale.is_empty() {
            tracing::info!(
                added = missing.len(),
                removed = stale.len(),
                collection = %self.name,
                "reconciling the Chroma collection with the store"
            );
        }
        self.delete_ids(&stale).await?;
        // Read from SQLite one batch at a time: a first sync of a large store never holds every
        // vector in memory.
        for keys in missing.chunks(self.batch) {
            self.upsert(&store.index_entries(keys).await?).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl VectorIndex for ChromaIndex {
    async fn apply(&self, changes: IndexChanges) -> Result<()> {
        let removed: Vec<String> = changes
            .removed
            .iter()
            .map(|&key| records::record_id(key))
            .collect();
        self.delete_ids(&removed).await?;
        self.upsert(&changes.added).await
    }

    async fn search(
        &self,
        query: &Embedding,
        collections: &[CollectionId],
        k: usize,
    ) -> Result<Vec<(ChunkKey, f32)>> {
        if collections.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let filter = records::among(collections);
        let filter = &filter;
        // Chroma's filtered HNSW search can miss records of a small scope beside a large one
        // (the contract test saw 2 of a tenant's 3 chunks): a scope of at most EXACT_BELOW
        // records is searched exactly, from its vectors.
        let small = self
            .on_collection("searching", |id| async move {
                self.client.small_scope(&id, filter, EXACT_BELOW).await
            })
            .await?;
        if let Some(vectors) = small {
            let mut scored: Vec<(ChunkKey, f32)> = vectors
                .iter()
                .filter_map(|(id, v)| Some((records::chunk_key(id)?, cosine(&query.0, v))))
                .collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1));
            scored.truncate(k);
            return Ok(scored);
        }
        let found = self
            .on_collection("searching", |id| async move {
                self.client.query(&id, &query.0, filter.clone(), k).await
            })
            .await?;
        // Cosine distance is 1 − cosine similarity; Chroma answers nearest first.
        Ok(found
            .into_iter()
            .filter_map(|(id, distance)| Some((records::chunk_key(&id)?, 1.0 - distance)))
            .collect())
    }

    async fn len(&self) -> Result<u64> {
        self.on_collection("counting records", |id| async move {
            self.client.count(&id).await
        })
        .await
    }

    async fn keys(&self) -> Result<Vec<(ChunkKey, CollectionId)>> {
        let mut keys: Vec<(ChunkKey, CollectionId)> = self
            .records()
            .await?
            .into_iter()
            .filter_map(|(_, filed)| filed)
            .collect();
        keys.sort_unstable();
        Ok(keys)
    }

    async fn replace_all(&self, entries: Vec<IndexEntry>) -> Result<()> {
        // Dropping the collection is the one way to be sure nothing else is left in it.
        self.client
            .delete_collection(&self.name)
            .await
            .map_err(|f| self.unavailable("deleting the collection", &f))?;
        self.resolve().await?;
        self.upsert(&entries).await
    }

    async fn flush(&self) -> Result<()> {
        // Chroma persists every acknowledged write itself.
        Ok(())
    }
}
