//! Shared set-up: one model for the whole test binary, a fresh data dir per test.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ragd_backends::{EngineConfig, Node, start_embedder};
use ragd_core::chunking::ChunkerConfig;
use ragd_core::ports::Embedder;
use ragd_core::relevance::Calibration;
use ragd_core::service::{IngestRequest, RetrieveRequest};
use ragd_core::types::{CollectionName, Scope, TenantId, Threshold, TopK};
use ragd_core::{IngestOutcome, Result, ServiceLimits};

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn config(data_dir: &Path) -> EngineConfig {
    let models_dir = root().join("models");
    assert!(
        models_dir.join("all-MiniLM-L6-v2/tokenizer.json").is_file(),
        "the model is missing: run `make model` (make test does it first)"
    );
    EngineConfig {
        data_dir: data_dir.to_path_buf(),
        embeddings_model: ragd_backends::embed::model::MINILM_ID.to_owned(),
        models_dir,
        embed_engine: ragd_backends::EmbedEngine::default(),
        onnx_file: None,
        ort_library: None,
        openvino_library: None,
        embed_precision: ragd_backends::embed::openvino::Precision::default(),
        openvino_shape_cache: 64,
        embed_threads: 2,
        embed_streams: 2,
        embed_batch_size: 32,
        embed_queue: 64,
        embed_spin: true,
        query_cache: 0,
        guardrails: std::sync::Arc::new(ragd_core::guardrails::Policy::default()),
        chunker: ChunkerConfig::default(),
        generator: Default::default(),
        generation: Default::default(),
        outbound_ca_file: None,
        exact_search_below: 10_000,
        ann_ef_search: 96,
        index_precision: Default::default(),
        calibration: Calibration::minilm_default(),
        search: Default::default(),
        limits: ServiceLimits::default(),
        // These tests feed trusted files; the worker process is the `ragd` binary, tested end to end.
        parser: ragd_backends::loaders::ParserIsolation::InProcess,
        durability: Default::default(),
        postgres: None,
        redis: None,
        chroma: None,
    }
}

static EMBEDDER: OnceLock<Arc<dyn Embedder>> = OnceLock::new();

/// The model, loaded once per test binary.
pub(crate) fn embedder() -> Arc<dyn Embedder> {
    let dir = tempfile::tempdir().expect("tempdir");
    Arc::clone(EMBEDDER.get_or_init(|| start_embedder(&config(dir.path())).expect("model loads")))
}

pub(crate) async fn engine(data_dir: &Path) -> Node {
    Node::open(&config(data_dir), embedder())
        .await
        .expect("engine opens")
}

pub(crate) fn scope(tenant: &str, collection: &str) -> Scope {
    Scope {
        tenant: TenantId::parse(tenant).expect("tenant"),
        collection: CollectionName::parse(collection).expect("collection"),
    }
}

pub(crate) async fn ingest(
    engine: &Node,
    scope: &Scope,
    source: &str,
    bytes: &[u8],
) -> Result<IngestOutcome> {
    let request = IngestRequest {
        scope: scope.clone(),
        source: source.to_owned(),
        bytes: bytes.to_vec(),
        metadata: serde_json::Map::new(),
    };
    engine.service.ingest(request).await
}

pub(crate) fn retrieve(
    tenant: &str,
    collection: Option<&str>,
    query: &str,
    k: usize,
    threshold: f32,
) -> RetrieveRequest {
    RetrieveRequest {
        tenant: TenantId::parse(tenant).expect("tenant"),
        collection: collection.map(str::to_owned),
        query: query.to_owned(),
        k: TopK::new(k).expect("k"),
        threshold: Threshold::new(threshold).expect("threshold"),
        mode: None,
        rerank: None,
    }
}

/// `(file name, bytes)` of every corpus document.
pub(crate) fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = root().join("tests/corpus/docs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read"))
        })
        .collect()
}

/// Ingests the test corpus into `node` and checks that a question finds its page and that the
/// store's check passes: the engine end to end on whatever store `node` was opened on.
pub(crate) async fn answers_from_the_corpus(node: &ragd_backends::Node) {
    let s = scope("default", "documents");
    for (name, bytes) in corpus() {
        ingest(node, &s, &name, &bytes).await.expect("ingest");
    }
    let hits = node
        .service
        .retrieve(&retrieve(
            "default",
            None,
            "How do plants turn light into chemical energy?",
            3,
            0.3,
        ))
        .await
        .expect("search");
    assert_eq!(
        hits[0].chunk.document.source.source, "photosynthesis.pdf",
        "{hits:?}"
    );
    let report = node.maintenance.check().await.expect("check");
    assert!(report.ok && report.vectors > 0, "{report:?}");
}
