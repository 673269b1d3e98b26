//! The embedder reproduces sentence-transformers: every vector has cosine ≥ 0.999 with the
//! reference vectors that Python sentence-transformers produced from the same weights
//! (`scripts/reference_vectors.py` → `tests/fixtures/reference_vectors.json`), with every engine
//! and precision ragd offers.

use ragd_core::types::{Embedding, dot};
use serde::Deserialize;

use ragd_backends::EmbedEngine;
use ragd_backends::embed::openvino::Precision;

use crate::helpers::{config, embedder};

#[derive(Deserialize)]
struct Fixture {
    max_seq_length: usize,
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    text: String,
    tokens: usize,
    vector: Vec<f32>,
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reference_vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture json")
}

#[tokio::test]
async fn vectors_match_sentence_transformers() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (engine, precision, bar) in [
        // bf16 where the CPU has bf16 units (here: AMX), else fp32.
        (EmbedEngine::OpenVino, Precision::Auto, 0.999),
        (EmbedEngine::OpenVino, Precision::F32, 0.99999),
        (EmbedEngine::OnnxRuntime, Precision::Auto, 0.99999),
    ] {
        let mut config = config(dir.path());
        config.embed_engine = engine;
        config.embed_precision = precision;
        let embedder = ragd_backends::start_embedder(&config).expect("model loads");
        let worst = worst_cosine(embedder.as_ref()).await;
        eprintln!(
            "{engine:?} {precision:?}: worst cosine {} ({:?})",
            worst.0, worst.1
        );
        assert!(
            worst.0 >= bar,
            "{engine:?} {precision:?}: cosine {} < {bar} for {:?}",
            worst.0,
            worst.1
        );
    }
}

/// The lowest cosine to the reference over the fixture, and the text it was for.
async fn worst_cosine(embedder: &dyn ragd_core::ports::Embedder) -> (f32, String) {
    let fixture = fixture();
    assert_eq!(fixture.max_seq_length, 256);
    assert!(fixture.items.len() >= 20);
    assert!(
        fixture.items.iter().any(|i| i.tokens > 256),
        "the fixture must exercise truncation"
    );
    let texts: Vec<String> = fixture.items.iter().map(|i| i.text.clone()).collect();
    let vectors = embedder.embed(texts).await.expect("embed");
    let mut worst = (1.0f32, String::new());
    for (item, v) in fixture.items.iter().zip(&vectors) {
        assert_eq!(v.0.len(), 384);
        let norm = dot(&v.0, &v.0).sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "not unit length: {norm}");
        let cos =
            v.cosine(&Embedding(item.vector.clone())) / dot(&item.vector, &item.vector).sqrt();
        if cos < worst.0 {
            worst = (cos, item.text.chars().take(40).collect());
        }
    }
    worst
}

#[tokio::test]
async fn batching_and_padding_do_not_change_vectors() {
    let short = "Honeybees dance to share where flowers are.".to_owned();
    let long = "word ".repeat(300);
    let alone = embedder().embed(vec![short.clone()]).await.expect("alone");
    let batched = embedder()
        .embed(vec![long, short.clone(), "x".into()])
        .await
        .expect("batched");
    assert!(
        alone[0].cosine(&batched[1]) > 0.9999,
        "{}",
        alone[0].cosine(&batched[1])
    );
}

#[tokio::test]
async fn concurrent_requests_each_get_their_own_vectors() {
    let texts: Vec<String> = (0..40)
        .map(|i| format!("sentence number {i} about topic {}", i % 7))
        .collect();
    let handles: Vec<_> = texts
        .iter()
        .map(|t| {
            let e = embedder();
            let t = t.clone();
            tokio::spawn(async move { e.embed(vec![t]).await })
        })
        .collect();
    let together = embedder().embed(texts.clone()).await.expect("together");
    for (h, expected) in handles.into_iter().zip(&together) {
        let got = h.await.expect("join").expect("embed");
        assert!(got[0].cosine(expected) > 0.9999);
    }
}
