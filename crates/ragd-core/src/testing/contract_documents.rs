//! The contract of [`DocumentStore`] (with its [`EventLog`] and [`Maintenance`]): what every
//! implementation — SQLite with its derived index, PostgreSQL with pgvector — must do. Each
//! backend's tests call [`documents`] on a fresh or shared store; the suite uses tenants of its
//! own, so it can run beside other data.

use crate::Error;
use crate::events::{Event, EventLog};
use crate::ports::{DocumentFilter, DocumentStore, Maintenance, NewDocument};
use crate::types::{
    ChunkDraft, CollectionName, DocumentId, Embedding, Scope, SourceInfo, TenantId,
};

/// Vector length of the suite's embeddings (the model's).
pub const DIMS: usize = 384;

/// The unit vector along axis `axis`, tilted towards `towards` by `tilt` (then normalised).
pub fn vector(axis: usize, towards: usize, tilt: f32) -> Embedding {
    let mut v = vec![0.0f32; DIMS];
    v[axis % DIMS] += 1.0;
    v[towards % DIMS] += tilt;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    Embedding(v.into_iter().map(|x| x / norm).collect())
}

/// A tenant name no other run uses.
pub fn unique_tenant(label: &str) -> TenantId {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    TenantId::parse(&format!("{label}-{}", &suffix[..12])).expect("valid tenant name")
}

/// A scope in `tenant`.
pub fn scope(tenant: &TenantId, collection: &str) -> Scope {
    Scope {
        tenant: tenant.clone(),
        collection: CollectionName::parse(collection).expect("valid collection name"),
    }
}

/// A document of `texts.len()` chunks, chunk `i` embedded as `vectors[i]`.
pub fn new_document(
    id: DocumentId,
    scope: &Scope,
    source: &str,
    texts: &[&str],
    vectors: &[Embedding],
) -> NewDocument {
    let joined = texts.join("\n");
    NewDocument {
        id,
        scope: scope.clone(),
        source: SourceInfo {
            source: source.to_owned(),
            size_bytes: joined.len() as u64,
            content_hash: format!("{:x}", joined.len() * 7919 + texts.len()),
        },
        title: source.to_owned(),
        mime: "text/markdown".into(),
        pages: None,
        metadata: serde_json::Map::from_iter([("origin".to_owned(), "contract".into())]),
        chunks: texts
            .iter()
            .zip(vectors)
            .enumerate()
            .map(|(i, (text, vector))| {
                let draft = ChunkDraft {
                    index: u32::try_from(i).expect("few chunks"),
                    text: (*text).to_owned(),
                    char_start: i * 100,
                    char_end: i * 100 + text.chars().count(),
                    page: None,
                    heading: Some(format!("part {i}")),
                };
                (draft, vector.clone())
            })
            .collect(),
    }
}

fn stored(id: DocumentId, scope: &Scope, source: &str, chunks: u32) -> Event {
    Event::DocumentStored {
        document_id: id,
        scope: scope.clone(),
        source: source.to_owned(),
        chunks,
    }
}

/// Runs the whole document contract.
pub async fn documents(store: &dyn DocumentStore, events: &dyn EventLog, checks: &dyn Maintenance) {
    let before = last_seq(events).await;
    let (a, b) = (unique_tenant("contract-a"), unique_tenant("contract-b"));
    let (a_docs, b_docs) = (scope(&a, "docs"), scope(&b, "docs"));

    // A write, read back only by its tenant.
    let id = DocumentId::new();
    let texts = ["the lighthouse keeper", "the fresnel lens", "the foghorn"];
    let vectors = [vector(0, 1, 0.0), vector(1, 0, 0.0), vector(2, 0, 0.0)];
    let put = store
        .put_document(
            new_document(id, &a_docs, "lights.md", &texts, &vectors),
            &[stored(id, &a_docs, "lights.md", 3)],
        )
        .await
        .expect("put");
    assert!(!put.replaced);
    assert_eq!(put.document.id, id);
    assert_eq!(put.document.chunk_count, 3);
    assert_eq!(put.document.scope, a_docs);
    assert_eq!(put.document.metadata["origin"], "contract");
    let got = store.get_document(&a, id).await.expect("own document");
    assert_eq!(got.source.content_hash, put.document.source.content_hash);
    assert_eq!(got.source.source, "lights.md");
    assert!(matches!(
        store.get_document(&b, id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store.document_chunks(&b, id).await,
        Err(Error::NotFound(_))
    ));
    let chunks = store.document_chunks(&a, id).await.expect("chunks");
    let in_order: Vec<&str> = chunks.iter().map(|c| c.chunk.text.as_str()).collect();
    assert_eq!(in_order, texts);
    assert_eq!(chunks[1].chunk.heading.as_deref(), Some("part 1"));
    assert_eq!(
        store
            .find_by_source(&a_docs, "lights.md")
            .await
            .expect("find")
            .map(|d| d.id),
        Some(id)
    );
    assert!(
        store
            .find_by_source(&b_docs, "lights.md")
            .await
            .expect("find")
            .is_none()
    );
    let page = DocumentFilter {
        collection: None,
        limit: 10,
        offset: 0,
    };
    let (listed, total) = store.list_documents(&a, &page).await.expect("list");
    assert_eq!((listed.len(), total), (1, 1));
    assert_eq!(store.list_documents(&b, &page).await.expect("list").1, 0);
    assert_eq!(store.count_documents(&a).await.expect("count"), 1);
    assert_eq!(store.count_chunks(&a).await.expect("count"), 3);
    assert_eq!(store.count_documents(&b).await.expect("count"), 0);

    // Search: the nearest first, with the cosine, inside the tenant's collections only.
    let b_id = DocumentId::new();
    store
        .put_document(
            new_document(
                b_id,
                &b_docs,
                "other.md",
                &["b's copy of axis 0"],
                &[vector(0, 1, 0.0)],
            ),
            &[stored(b_id, &b_docs, "other.md", 1)],
        )
        .await
        .expect("put b");
    let a_colls = store.collection_ids(&a, None).await.expect("collections");
    assert_eq!(a_colls.len(), 1);
    assert_eq!(
        store.collection_names(&a).await.expect("names"),
        vec!["docs".to_owned()]
    );
    assert_eq!(
        store.collection_ids(&a, Some("docs")).await.expect("one"),
        a_colls
    );
    assert!(
        store
            .collection_ids(&a, Some("none"))
            .await
            .expect("none")
            .is_empty()
    );
    let hits = store
        .search(&vector(0, 1, 0.1), &a_colls, 3)
        .await
        .expect("search");
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].0.chunk.text, "the lighthouse keeper");
    assert!(
        hits[0].1 > 0.99 && hits[0].1 <= 1.0001,
        "cosine {}",
        hits[0].1
    );
    assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
    assert!(
        hits.iter().all(|(c, _)| c.document.scope.tenant == a),
        "only a's chunks"
    );
    assert_eq!(hits[0].0.document.id, id);
    assert!(
        store
            .search(&vector(0, 1, 0.0), &[], 3)
            .await
            .expect("none")
            .is_empty()
    );

    // A new version replaces the old under the same id; its old chunks are gone from search.
    let v2 = store
        .put_document(
            new_document(
                id,
                &a_docs,
                "lights.md",
                &["electric lamps", "radio beacons"],
                &[vector(3, 0, 0.0), vector(0, 3, 0.2)],
            ),
            &[stored(id, &a_docs, "lights.md", 2)],
        )
        .await
        .expect("replace");
    assert!(v2.replaced);
    assert_eq!(v2.document.id, id);
    assert_eq!(v2.document.created_at, put.document.created_at);
    assert_eq!(store.count_chunks(&a).await.expect("count"), 2);
    let hits = store
        .search(&vector(1, 0, 0.0), &a_colls, 10)
        .await
        .expect("search");
    assert!(
        hits.iter().all(|(c, _)| c.chunk.text != "the fresnel lens"),
        "{hits:?}"
    );
    assert_eq!(hits.len(), 2);

    // A first upload of the same source under another id (a race) replaces it under its id.
    let raced = DocumentId::new();
    let v3 = store
        .put_document(
            new_document(
                raced,
                &a_docs,
                "lights.md",
                &["gas mantles"],
                &[vector(4, 0, 0.0)],
            ),
            &[stored(raced, &a_docs, "lights.md", 1)],
        )
        .await
        .expect("replace by another id");
    assert!(v3.replaced);
    assert_eq!(v3.document.id, raced);
    assert!(matches!(
        store.get_document(&a, id).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(store.count_documents(&a).await.expect("count"), 1);
    assert_eq!(store.count_chunks(&a).await.expect("count"), 1);

    // Deletes: never another tenant's; afterwards nothing of it is found.
    assert!(matches!(
        store.delete_document(&b, raced, &[]).await,
        Err(Error::NotFound(_))
    ));
    assert!(
        store.get_document(&a, raced).await.is_ok(),
        "b's delete left it alone"
    );
    let deleted_event = Event::DocumentDeleted {
        document_id: raced,
        scope: a_docs.clone(),
        source: "lights.md".into(),
    };
    let gone = store
        .delete_document(&a, raced, std::slice::from_ref(&deleted_event))
        .await
        .expect("delete");
    assert_eq!(gone.id, raced);
    assert!(matches!(
        store.get_document(&a, raced).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store.delete_document(&a, raced, &[]).await,
        Err(Error::NotFound(_))
    ));
    assert!(
        store
            .search(&vector(4, 0, 0.0), &a_colls, 5)
            .await
            .expect("search")
            .is_empty()
    );
    assert_eq!(store.count_documents(&a).await.expect("count"), 0);
    store.settle().await.expect("settled");

    // Every write recorded its events, in order, and nothing else did.
    let recorded = events.events_after(before, 1000).await.expect("events");
    let ours: Vec<&Event> = recorded
        .iter()
        .map(|r| &r.event)
        .filter(|e| e.tenant() == a.as_str() || e.tenant() == b.as_str())
        .collect();
    assert_eq!(ours.len(), 5, "{ours:?}");
    assert_eq!(ours[0], &stored(id, &a_docs, "lights.md", 3));
    assert_eq!(ours[4], &deleted_event);
    assert!(recorded.windows(2).all(|w| w[0].seq < w[1].seq));

    small_tenant_among_large(store).await;
    let report = checks.check().await.expect("check");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.vectors, report.chunks);
}

async fn last_seq(events: &dyn EventLog) -> i64 {
    let mut seq = 0;
    loop {
        let page = events.events_after(seq, 1000).await.expect("events");
        match page.last() {
            Some(last) => seq = last.seq,
            None => return seq,
        }
    }
}

/// A tenant with a few chunks next to one with many closer ones: its search still returns all
/// of its own (the filter is inside the search, not applied to a global top-k).
async fn small_tenant_among_large(store: &dyn DocumentStore) {
    let (big, small) = (
        unique_tenant("contract-big"),
        unique_tenant("contract-small"),
    );
    let big_scope = scope(&big, "docs");
    let texts: Vec<String> = (0..400).map(|i| format!("big chunk {i}")).collect();
    for (n, batch) in texts.chunks(100).enumerate() {
        let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
        let vectors: Vec<Embedding> = (0..refs.len()).map(|i| vector(5, 6 + i, 0.05)).collect();
        let id = DocumentId::new();
        store
            .put_document(
                new_document(id, &big_scope, &format!("big-{n}.md"), &refs, &vectors),
                &[],
            )
            .await
            .expect("put big");
    }
    let small_scope = scope(&small, "docs");
    let id = DocumentId::new();
    store
        .put_document(
            new_document(
                id,
                &small_scope,
                "small.md",
                &["s0", "s1", "s2"],
                &[vector(7, 5, 0.5), vector(8, 5, 0.5), vector(9, 5, 0.5)],
            ),
            &[],
        )
        .await
        .expect("put small");
    let colls = store
        .collection_ids(&small, None)
        .await
        .expect("collections");
    let hits = store
        .search(&vector(5, 0, 0.0), &colls, 10)
        .await
        .expect("search");
    let mut texts: Vec<&str> = hits.iter().map(|(c, _)| c.chunk.text.as_str()).collect();
    texts.sort_unstable();
    assert_eq!(
        texts,
        ["s0", "s1", "s2"],
        "all of the small tenant's chunks, and only them"
    );
}
