//! How a ragd vector is written in Chroma: the record id is the chunk key in decimal, the
//! metadata carries the ragd collection id (`collection_id`, what every search filters on) and
//! the tenant's name (`tenant`, for an operator reading the collection), and the embedding is
//! the vector itself; no document text is sent, SQLite keeps it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use ragd_core::Result;
use ragd_core::ports::IndexEntry;
use ragd_core::types::{ChunkKey, CollectionId};
use serde_json::{Map, Value, json};

use crate::chroma::wire::Records;
use crate::sqlite::SqliteStore;

/// The metadata field holding the ragd collection id.
pub(crate) const COLLECTION_FIELD: &str = "collection_id";
/// The metadata field holding the ragd tenant's name.
pub(crate) const TENANT_FIELD: &str = "tenant";
/// The collection metadata that marks a Chroma collection as ragd's (its format version).
pub(crate) const MARKER_FIELD: &str = "ragd_index";
/// The format this code writes.
pub(crate) const FORMAT: u64 = 1;

/// The record id of a chunk key.
pub(crate) fn record_id(key: ChunkKey) -> String {
    key.to_string()
}

/// The chunk key of a record id written by [`record_id`]; `None` for anything else (`"007"`
/// is not key 7: deleting key 7 would miss it).
pub(crate) fn chunk_key(id: &str) -> Option<ChunkKey> {
    id.parse::<ChunkKey>()
        .ok()
        .filter(|key| record_id(*key) == id)
}

/// The key and collection a record is filed under, if it is a well-formed ragd record.
pub(crate) fn filed(
    id: &str,
    metadata: Option<&Map<String, Value>>,
) -> Option<(ChunkKey, CollectionId)> {
    let key = chunk_key(id)?;
    let collection = metadata?.get(COLLECTION_FIELD)?.as_u64()?;
    Some((key, CollectionId::try_from(collection).ok()?))
}

/// The `where` filter of a search among `collections` (not empty: Chroma refuses an empty `$in`).
pub(crate) fn among(collections: &[CollectionId]) -> Value {
    json!({ COLLECTION_FIELD: { "$in": collections } })
}

/// The records of `entries`, with the tenant of each collection where known.
pub(crate) fn records<'a>(
    entries: &'a [IndexEntry],
    tenants: &HashMap<CollectionId, String>,
) -> Records<'a> {
    Records {
        ids: entries.iter().map(|e| record_id(e.key)).collect(),
        embeddings: entries.iter().map(|e| e.vector.0.as_slice()).collect(),
        metadatas: entries
            .iter()
            .map(|e| {
                let mut metadata = Map::new();
                metadata.insert(COLLECTION_FIELD.to_owned(), e.collection.into());
                if let Some(tenant) = tenants.get(&e.collection) {
                    metadata.insert(TENANT_FIELD.to_owned(), tenant.clone().into());
                }
                metadata
            })
            .collect(),
    }
}

/// The tenant of each collection, read from the store once and kept: a collection's tenant never
/// changes, and collections are never deleted.
pub(crate) struct TenantNames {
    store: SqliteStore,
    known: Mutex<HashMap<CollectionId, String>>,
}

impl TenantNames {
    /// Names looked up in `store`.
    pub(crate) fn new(store: SqliteStore) -> Self {
        Self {
            store,
            known: Mutex::default(),
        }
    }

    /// The tenants of the collections of `entries` that the store knows.
    pub(crate) async fn of(&self, entries: &[IndexEntry]) -> Result<HashMap<CollectionId, String>> {
        let mut wanted: Vec<CollectionId> = entries.iter().map(|e| e.collection).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let missing: Vec<CollectionId> = {
            let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
            wanted
                .iter()
                .copied()
                .filter(|c| !known.contains_key(c))
                .collect()
        };
        if !missing.is_empty() {
            let found = self.store.collection_tenants(&missing).await?;
            self.known
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(found);
        }
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(wanted
            .into_iter()
            .filter_map(|c| Some((c, known.get(&c)?.clone())))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use ragd_core::types::Embedding;

    use super::*;

    #[test]
    fn only_canonical_decimal_ids_are_chunk_keys() {
        assert_eq!(chunk_key("7"), Some(7));
        assert_eq!(chunk_key(&u64::MAX.to_string()), Some(u64::MAX));
        for foreign in [
            "007",
            "+7",
            "-7",
            "7.0",
            "",
            "doc-1",
            "18446744073709551616",
        ] {
            assert_eq!(chunk_key(foreign), None, "{foreign:?}");
        }
    }

    #[test]
    fn a_record_is_filed_under_its_collection_id() {
        let meta = |v: Value| v.as_object().cloned();
        assert_eq!(
            filed("3", meta(json!({"collection_id": 9})).as_ref()),
            Some((3, 9))
        );
        assert_eq!(filed("3", None), None);
        assert_eq!(
            filed("3", meta(json!({"collection_id": "9"})).as_ref()),
            None
        );
        assert_eq!(
            filed("3", meta(json!({"collection_id": -1})).as_ref()),
            None
        );
        assert_eq!(
            filed("3", meta(json!({"collection_id": 1u64 << 40})).as_ref()),
            None
        );
    }

    #[test]
    fn records_carry_the_collection_and_the_tenant_where_known() {
        let entries = [
            IndexEntry {
                key: 1,
                collection: 4,
                vector: Embedding(vec![0.5, 0.5]),
            },
            IndexEntry {
                key: 2,
                collection: 5,
                vector: Embedding(vec![1.0, 0.0]),
            },
        ];
        let tenants = HashMap::from([(4, "acme".to_owned())]);
        let records = serde_json::to_value(records(&entries, &tenants)).expect("json");
        assert_eq!(
            records,
            json!({
                "ids": ["1", "2"],
                "embeddings": [[0.5, 0.5], [1.0, 0.0]],
                "metadatas": [{"collection_id": 4, "tenant": "acme"}, {"collection_id": 5}],
            })
        );
        assert_eq!(among(&[4, 5]), json!({"collection_id": {"$in": [4, 5]}}));
    }
}
