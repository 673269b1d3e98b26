//! The contract of a derived [`VectorIndex`] (the embedded HNSW graph; a vector server later):
//! changes apply idempotently, the collection filter is inside the search, a rebuild replaces
//! everything.

use crate::ports::{IndexChanges, IndexEntry, VectorIndex};
use crate::testing::contract_documents::vector;

fn entry(key: u64, collection: u32, axis: usize) -> IndexEntry {
    IndexEntry {
        key,
        collection,
        vector: vector(axis, axis + 1, 0.1),
    }
}

/// Runs the index contract on an empty index.
pub async fn index(index: &dyn VectorIndex) {
    assert!(index.is_empty().await.expect("len"));
    let added = vec![
        entry(1, 1, 0),
        entry(2, 1, 1),
        entry(3, 2, 0),
        entry(4, 2, 2),
    ];
    let changes = IndexChanges {
        removed: Vec::new(),
        added,
        ..Default::default()
    };
    index.apply(changes.clone()).await.expect("apply");
    index
        .apply(changes)
        .await
        .expect("applying again is harmless");
    assert_eq!(index.len().await.expect("len"), 4);
    assert_eq!(
        index.keys().await.expect("keys"),
        [(1, 1), (2, 1), (3, 2), (4, 2)]
    );

    let query = vector(0, 1, 0.1);
    let hits = index.search(&query, &[1], 10).await.expect("search");
    let keys: Vec<u64> = hits.iter().map(|&(k, _)| k).collect();
    assert_eq!(keys, [1, 2], "collection 1 only, nearest first");
    assert!(hits[0].1 > 0.99, "cosine {}", hits[0].1);
    let both = index.search(&query, &[1, 2], 2).await.expect("search");
    let mut best: Vec<u64> = both.iter().map(|&(k, _)| k).collect();
    best.sort_unstable();
    assert_eq!(best, [1, 3], "the two copies of axis 0");
    assert!(
        index
            .search(&query, &[9], 10)
            .await
            .expect("search")
            .is_empty()
    );

    index
        .apply(IndexChanges {
            removed: vec![1, 99],
            added: Vec::new(),
            ..Default::default()
        })
        .await
        .expect("remove (an unknown key is no error)");
    let keys: Vec<u64> = index
        .search(&query, &[1], 10)
        .await
        .expect("search")
        .iter()
        .map(|&(k, _)| k)
        .collect();
    assert_eq!(keys, [2]);
    // A key re-filed under another collection leaves the first one.
    index
        .apply(IndexChanges {
            removed: vec![2],
            added: vec![entry(2, 3, 1)],
            ..Default::default()
        })
        .await
        .expect("re-file");
    assert!(
        index
            .search(&query, &[1], 10)
            .await
            .expect("search")
            .is_empty()
    );

    index
        .replace_all(vec![entry(10, 5, 3)])
        .await
        .expect("rebuild");
    assert_eq!(index.keys().await.expect("keys"), [(10, 5)]);
    assert!(
        index
            .search(&query, &[2], 10)
            .await
            .expect("search")
            .is_empty()
    );
    index.flush().await.expect("flush");
}
