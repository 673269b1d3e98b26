//! The collections of every tenant, kept in memory by the SQLite store: every question needs the
//! ids of the collections it searches, and asking SQLite for them cost a round trip to a
//! database thread per question (measured: 7–15% of `/query` throughput together with the user
//! lookup the authenticator now caches).
//!
//! Keeping them is exact, not approximate: one process at a time opens a data dir for documents
//! (`DataDirLock`), collections are created only through [`crate::sqlite::SqliteStore`]
//! (which records each one here after its commit), and they are never deleted. The other
//! processes that may run beside a server (`ragd users`, `ragd keys`) create tenants at most,
//! and a tenant without collections has nothing to search.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ragd_core::types::CollectionId;

/// `tenant → [(collection name, id)]`, loaded on first use.
type ByTenant = HashMap<String, Vec<(String, CollectionId)>>;

#[derive(Debug, Default)]
struct State {
    loaded: Option<ByTenant>,
    /// Bumped by every recorded creation: a load that raced with one is not kept.
    version: u64,
}

/// The collection ids of the store (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct CollectionCache {
    state: Mutex<State>,
}

/// A load to run when the cache is empty: what [`CollectionCache::store`] needs back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoadTicket(u64);

impl CollectionCache {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ids of `tenant`'s collections (only `collection`, when given), or a ticket to load
    /// every collection from the database first.
    pub(crate) fn ids(
        &self,
        tenant: &str,
        collection: Option<&str>,
    ) -> Result<Vec<CollectionId>, LoadTicket> {
        let state = self.lock();
        match &state.loaded {
            Some(map) => Ok(select(map, tenant, collection)),
            None => Err(LoadTicket(state.version)),
        }
    }

    /// Keeps a full load (`(tenant, collection, id)` rows) unless a creation was recorded since
    /// the ticket was issued, and answers the question the ticket was for.
    pub(crate) fn store(
        &self,
        ticket: LoadTicket,
        rows: Vec<(String, String, CollectionId)>,
        tenant: &str,
        collection: Option<&str>,
    ) -> Vec<CollectionId> {
        let mut map = ByTenant::new();
        for (t, name, id) in rows {
            map.entry(t).or_default().push((name, id));
        }
        let found = select(&map, tenant, collection);
        let mut state = self.lock();
        if state.version == ticket.0 && state.loaded.is_none() {
            state.loaded = Some(map);
        }
        found
    }

    /// Records a collection that exists in the database (committed).
    pub(crate) fn created(&self, tenant: &str, collection: &str, id: CollectionId) {
        let mut state = self.lock();
        state.version += 1;
        if let Some(map) = &mut state.loaded {
            let list = map.entry(tenant.to_owned()).or_default();
            if !list.iter().any(|(_, known)| *known == id) {
                list.push((collection.to_owned(), id));
            }
        }
    }
}

fn select(map: &ByTenant, tenant: &str, collection: Option<&str>) -> Vec<CollectionId> {
    map.get(tenant).map_or_else(Vec::new, |list| {
        list.iter()
            .filter(|(name, _)| collection.is_none_or(|c| c == name))
            .map(|&(_, id)| id)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<(String, String, CollectionId)> {
        vec![
            ("acme".into(), "default".into(), 1),
            ("acme".into(), "hr".into(), 2),
            ("other".into(), "default".into(), 3),
        ]
    }

    #[test]
    fn loads_once_then_answers_and_records_creations() {
        let cache = CollectionCache::default();
        let ticket = cache.ids("acme", None).expect_err("empty at first");
        assert_eq!(cache.store(ticket, rows(), "acme", None), vec![1, 2]);
        assert_eq!(cache.ids("acme", Some("hr")), Ok(vec![2]));
        assert_eq!(cache.ids("acme", Some("nope")), Ok(vec![]));
        assert_eq!(cache.ids("nobody", None), Ok(vec![]));
        cache.created("nobody", "default", 4);
        cache.created("acme", "hr", 2); // already known: not listed twice
        assert_eq!(cache.ids("nobody", None), Ok(vec![4]));
        assert_eq!(cache.ids("acme", None), Ok(vec![1, 2]));
    }

    #[test]
    fn a_load_that_raced_with_a_creation_is_not_kept() {
        let cache = CollectionCache::default();
        let ticket = cache.ids("acme", None).expect_err("empty");
        // Created (and committed) after the load's SELECT ran: the rows lack it.
        cache.created("acme", "new", 9);
        assert_eq!(cache.store(ticket, rows(), "acme", None), vec![1, 2]);
        assert!(
            cache.ids("acme", None).is_err(),
            "the stale load was dropped"
        );
        let ticket = cache.ids("acme", None).expect_err("still empty");
        let mut fresh = rows();
        fresh.push(("acme".into(), "new".into(), 9));
        assert_eq!(cache.store(ticket, fresh, "acme", None), vec![1, 2, 9]);
        assert_eq!(cache.ids("acme", Some("new")), Ok(vec![9]));
    }
}
