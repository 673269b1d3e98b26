//! The index survives restarts and crashes: it is reloaded, reconciled with the database after
//! an unsaved change, and rebuilt when its files are damaged.

use crate::helpers::{engine, ingest, retrieve, scope};

async fn seed(engine: &ragd_backends::Node, n: usize) {
    let s = scope("default", "documents");
    for i in 0..n {
        let text = format!(
            "Note {i}: the {} cat sat on mat number {i} near the {} window.",
            ["black", "white", "grey"][i % 3],
            ["north", "south"][i % 2]
        );
        ingest(engine, &s, &format!("note-{i}.txt"), text.as_bytes())
            .await
            .expect("ingest");
    }
}

async fn top(engine: &ragd_backends::Node) -> Vec<u64> {
    let hits = engine
        .service
        .retrieve(&retrieve(
            "default",
            None,
            "grey cat near the south window",
            5,
            0.0,
        ))
        .await
        .expect("search");
    hits.iter().map(|h| h.chunk.key).collect()
}

#[tokio::test]
async fn reopening_loads_the_saved_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = {
        let engine = engine(dir.path()).await;
        seed(&engine, 12).await;
        engine.maintenance.flush().await.expect("flush");
        top(&engine).await
    };
    let engine = engine(dir.path()).await;
    assert_eq!(top(&engine).await, before);
    assert!(engine.maintenance.check().await.expect("check").ok);
}

#[tokio::test]
async fn unsaved_changes_are_reconciled_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let engine = engine(dir.path()).await;
        seed(&engine, 6).await;
        engine.maintenance.flush().await.expect("flush");
        // Changes committed to the database but never saved in the index: a crash right after.
        seed(&engine, 9).await;
        let (docs, _) = engine
            .service
            .documents(
                &ragd_core::types::TenantId::default(),
                &ragd_core::ports::DocumentFilter {
                    collection: None,
                    limit: 2,
                    offset: 0,
                },
            )
            .await
            .expect("list");
        let behind = ragd_backends::sqlite::SqliteStore::open(&dir.path().join("ragd.db"))
            .await
            .expect("a second connection");
        behind
            .delete_document(&docs[0].scope.tenant, docs[0].id, &[])
            .await
            .expect("delete behind the index's back");
    }
    let engine = engine(dir.path()).await;
    let report = engine.maintenance.check().await.expect("check");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.vectors, 8);
}

#[tokio::test]
async fn damaged_index_files_are_rebuilt_and_half_saves_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = {
        let engine = engine(dir.path()).await;
        seed(&engine, 10).await;
        engine.maintenance.flush().await.expect("flush");
        top(&engine).await
    };
    let index_dir = dir.path().join("index");
    let current = std::fs::read_to_string(index_dir.join("CURRENT")).expect("CURRENT");
    // A save that died half-way: a later generation without CURRENT pointing at it.
    std::fs::create_dir_all(index_dir.join("gen-999")).expect("mkdir");
    std::fs::write(index_dir.join("gen-999/vectors.usearch"), b"garbage").expect("write");
    {
        let engine = engine(dir.path()).await;
        assert_eq!(top(&engine).await, before);
    }
    // The live generation damaged: truncated vectors file.
    let live = index_dir.join(current.trim()).join("vectors.usearch");
    if live.exists() {
        let bytes = std::fs::read(&live).expect("read");
        std::fs::write(&live, &bytes[..bytes.len() / 2]).expect("truncate");
    }
    std::fs::write(index_dir.join("CURRENT"), current).expect("keep pointer");
    let engine = engine(dir.path()).await;
    assert_eq!(top(&engine).await, before, "rebuilt from the database");
    assert!(engine.maintenance.check().await.expect("check").ok);
}

#[tokio::test]
async fn changing_the_vector_precision_rebuilds_the_index() {
    use ragd_backends::embedded_index::VectorPrecision;
    let dir = tempfile::tempdir().expect("tempdir");
    let open = async |precision| {
        let mut config = crate::helpers::config(dir.path());
        config.index_precision = precision;
        ragd_backends::Node::open(&config, crate::helpers::embedder()).await
    };
    let before = {
        let engine = open(VectorPrecision::F32).await.expect("open f32");
        seed(&engine, 12).await;
        engine.maintenance.flush().await.expect("flush");
        top(&engine).await
    };
    // Reopened as f16: the f32 files are not read as they are but rebuilt from the database.
    let engine = open(VectorPrecision::F16).await.expect("open f16");
    assert!(engine.maintenance.check().await.expect("check").ok);
    let after = top(&engine).await;
    assert_eq!(after.len(), before.len());
    assert_eq!(after[0], before[0], "same best hit");
    engine.maintenance.flush().await.expect("flush");
    drop(engine);
    let index_dir = dir.path().join("index");
    let current = std::fs::read_to_string(index_dir.join("CURRENT")).expect("CURRENT");
    let file = index_dir.join(current.trim()).join("vectors.usearch");
    let meta = usearch::Index::metadata(file.to_str().expect("utf8")).expect("metadata");
    assert_eq!(meta.quantization, usearch::ScalarKind::F16);
    // And back: each change is a rebuild, never a misread of the other format.
    let engine = open(VectorPrecision::F32).await.expect("reopen f32");
    assert_eq!(top(&engine).await, before);
}

#[tokio::test]
async fn opening_an_up_to_date_index_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let engine = engine(dir.path()).await;
        seed(&engine, 4).await;
        engine.maintenance.flush().await.expect("flush");
    }
    let current = || std::fs::read_to_string(dir.path().join("index/CURRENT")).expect("CURRENT");
    let before = current();
    for _ in 0..2 {
        let engine = engine(dir.path()).await;
        assert!(engine.maintenance.check().await.expect("check").ok);
    }
    assert_eq!(current(), before, "a new generation was written");
}
