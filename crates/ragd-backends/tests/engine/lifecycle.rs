//! Re-ingestion, replacement, deletion and isolation, through the real store and index.

use ragd_core::{Error, IngestOutcome};

use crate::helpers::{engine, ingest, retrieve, scope};

const V1: &str = "# Lighthouse keeping\n\nThe keeper trimmed the wick of the oil lamp every four hours through the night.\n";
const V2: &str = "# Lighthouse keeping\n\nSince 1990 the lamp is electric and a computer rotates the Fresnel lens automatically.\n";

#[tokio::test]
async fn unchanged_is_a_no_op_changed_replaces_delete_removes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path()).await;
    let s = scope("default", "documents");

    let IngestOutcome::Ingested {
        document: first,
        replaced: false,
    } = ingest(&engine, &s, "keeper.md", V1.as_bytes())
        .await
        .expect("v1")
    else {
        panic!("first ingest must store the document")
    };
    let again = ingest(&engine, &s, "keeper.md", V1.as_bytes())
        .await
        .expect("again");
    assert!(
        matches!(again, IngestOutcome::Unchanged { ref document } if document.id == first.id),
        "{again:?}"
    );
    assert_eq!(
        engine.maintenance.check().await.expect("check").vectors as usize,
        first.chunk_count as usize
    );

    let IngestOutcome::Ingested {
        document: second,
        replaced: true,
    } = ingest(&engine, &s, "keeper.md", V2.as_bytes())
        .await
        .expect("v2")
    else {
        panic!("changed content must replace")
    };
    assert_eq!(second.id, first.id, "the document keeps its id");
    assert_eq!(second.created_at, first.created_at);
    assert_ne!(second.source.content_hash, first.source.content_hash);
    assert_eq!(
        engine
            .backends
            .status
            .count_all_documents()
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        engine.maintenance.check().await.expect("check").vectors as usize,
        second.chunk_count as usize,
        "old vectors are gone"
    );
    let hits = engine
        .service
        .retrieve(&retrieve(
            "default",
            None,
            "who trims the wick of the oil lamp?",
            5,
            0.0,
        ))
        .await
        .expect("search");
    assert!(
        hits.iter().all(|h| !h.chunk.chunk.text.contains("wick")),
        "old text still found"
    );
    assert!(hits.iter().any(|h| h.chunk.chunk.text.contains("electric")));

    let deleted = engine
        .service
        .delete_document(&first.scope.tenant, first.id)
        .await
        .expect("delete");
    assert_eq!(deleted.id, first.id);
    assert!(matches!(
        engine.service.document(&first.scope.tenant, first.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        engine
            .service
            .delete_document(&first.scope.tenant, first.id)
            .await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        engine.maintenance.check().await.expect("check").vectors as usize,
        0
    );
    let hits = engine
        .service
        .retrieve(&retrieve("default", None, "electric lamp", 5, 0.0))
        .await
        .expect("search");
    assert!(hits.is_empty());
    assert!(engine.maintenance.check().await.expect("check").ok);
}

#[tokio::test]
async fn retrieval_stays_inside_the_tenant_and_collection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path()).await;
    let text = "Feijoada is a stew of black beans with pork, served with rice and orange slices.";
    ingest(&engine, &scope("acme", "recipes"), "a.txt", text.as_bytes())
        .await
        .expect("acme");
    ingest(
        &engine,
        &scope("globex", "recipes"),
        "b.txt",
        b"Lasagna layers pasta sheets with ragu and bechamel sauce.",
    )
    .await
    .expect("globex");
    ingest(
        &engine,
        &scope("acme", "manuals"),
        "c.txt",
        b"Reset the router by holding the button for ten seconds.",
    )
    .await
    .expect("manual");

    let q = "black bean stew with pork";
    let acme = engine
        .service
        .retrieve(&retrieve("acme", None, q, 10, 0.0))
        .await
        .expect("acme");
    assert!(
        acme.iter()
            .all(|h| h.chunk.document.scope.tenant.as_str() == "acme")
    );
    assert_eq!(acme.len(), 2, "both acme collections, nothing of globex");
    let recipes = engine
        .service
        .retrieve(&retrieve("acme", Some("recipes"), q, 10, 0.0))
        .await
        .expect("coll");
    assert_eq!(recipes.len(), 1);
    let globex = engine
        .service
        .retrieve(&retrieve("globex", None, q, 10, 0.0))
        .await
        .expect("globex");
    assert!(
        globex
            .iter()
            .all(|h| h.chunk.document.source.source == "b.txt")
    );
    let nobody = engine
        .service
        .retrieve(&retrieve("initech", None, q, 10, 0.0))
        .await
        .expect("none");
    assert!(nobody.is_empty());

    // The store keeps collection ids in memory once searched: collections created afterwards
    // (a new tenant's first, another of a known tenant) are searched at once.
    ingest(&engine, &scope("initech", "docs"), "d.txt", text.as_bytes())
        .await
        .expect("initech");
    ingest(&engine, &scope("acme", "faq"), "e.txt", text.as_bytes())
        .await
        .expect("faq");
    let initech = engine
        .service
        .retrieve(&retrieve("initech", None, q, 10, 0.0))
        .await
        .expect("initech");
    assert_eq!(initech.len(), 1, "the new tenant's new collection");
    let acme = engine
        .service
        .retrieve(&retrieve("acme", None, q, 10, 0.0))
        .await
        .expect("acme");
    assert_eq!(acme.len(), 3, "acme's three collections");
}

#[tokio::test]
async fn thresholds_and_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path()).await;
    let text =
        "A honeybee colony has a single queen. She can lay up to 2,000 eggs a day in spring.";
    ingest(
        &engine,
        &scope("default", "documents"),
        "bees.txt",
        text.as_bytes(),
    )
    .await
    .expect("ingest");

    let good = engine
        .service
        .query(&retrieve(
            "default",
            None,
            "How many eggs does a queen bee lay per day?",
            5,
            0.7,
        ))
        .await
        .expect("query");
    assert_eq!(
        good.hits.len(),
        1,
        "a relevant passage passes the default 0.7 bar"
    );
    assert!(good.answer.text.contains("[1]"), "{}", good.answer.text);
    assert!(
        good.answer.confidence > 0.7 && good.answer.confidence <= 1.0,
        "{}",
        good.answer.confidence
    );
    assert!(
        good.hits[0].cosine.expect("dense") < good.hits[0].similarity,
        "similarity is calibrated above raw cosine"
    );

    let off = engine
        .service
        .query(&retrieve(
            "default",
            None,
            "What is the capital of Mongolia?",
            5,
            0.7,
        ))
        .await
        .expect("query");
    assert!(
        off.hits.is_empty(),
        "an unrelated question gets no source: {:?}",
        off.hits.first().map(|h| h.similarity)
    );
    assert_eq!(off.answer.text, ragd_core::answer::NO_ANSWER);
    assert_eq!(off.answer.confidence, 0.0);
}
