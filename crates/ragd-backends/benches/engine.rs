//! Engine benchmarks, driven by `bench/run.sh` (not timed tests). Prints one JSON object per
//! measurement on stdout.
//!
//! ```text
//! cargo bench -p ragd-backends --bench engine -- embed PASSAGES.jsonl [LIMIT]
//! cargo bench -p ragd-backends --bench engine -- queries QUESTIONS.txt
//! cargo bench -p ragd-backends --bench engine -- concurrent QUESTIONS.txt CONCURRENCY SECONDS
//! cargo bench -p ragd-backends --bench engine -- vectors PASSAGES.jsonl OUT.f32
//! cargo bench -p ragd-backends --bench engine -- search VECTORS.f32 QUERIES.jsonl SIZE[,SIZE…]
//! ```
#![allow(missing_docs, clippy::unwrap_used)]

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ragd_backends::embed::openvino::Precision;
use ragd_backends::embedded_index::{EmbeddedIndex, EmbeddedIndexConfig};
use ragd_backends::sqlite::SqliteStore;
use ragd_backends::{EmbedEngine, EngineConfig, start_embedder};
use ragd_core::ports::{Embedder, IndexChanges, IndexEntry, VectorIndex};
use ragd_core::types::Embedding;
use serde_json::json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn embedder() -> Arc<dyn Embedder> {
    start_embedder(&test_config(&std::env::temp_dir())).unwrap()
}

/// The engine under test, from RAGD_EMBED_ENGINE / RAGD_EMBED_PRECISION / RAGD_EMBEDDINGS_ONNX.
fn engine_label() -> String {
    let config = test_config(&std::env::temp_dir());
    let graph = config.onnx_file.map_or_else(
        || config.embed_engine.default_graph().to_owned(),
        |p| p.display().to_string(),
    );
    format!(
        "ragd {:?} {:?} {graph}",
        config.embed_engine, config.embed_precision
    )
}

fn passages(path: &str) -> Vec<String> {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    file.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(&l.unwrap()).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn embed(args: &[String]) {
    let mut texts = passages(&args[0]);
    if let Some(limit) = args.get(1) {
        texts.truncate(limit.parse().unwrap());
    }
    let e = embedder();
    e.embed(texts[..32.min(texts.len())].to_vec())
        .await
        .unwrap(); // warm-up
    let started = Instant::now();
    let vectors = e.embed(texts.clone()).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(vectors.len(), texts.len());
    println!(
        "{}",
        json!({"engine": engine_label(), "passages": texts.len(), "seconds": secs, "passages_per_s": texts.len() as f64 / secs, "rss_mib": rss_mib("VmRSS"), "peak_rss_mib": rss_mib("VmHWM")})
    );
}

/// A memory figure of this process from /proc (`VmRSS` now, `VmHWM` its peak), in MiB.
fn rss_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Cost of embedding questions one at a time and in batches of several (what concurrent
/// `/query` requests give the model threads): milliseconds per question for each batch size.
async fn queries(args: &[String]) {
    let questions: Vec<String> = std::fs::read_to_string(&args[0])
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let e = embedder();
    e.embed(questions.clone()).await.unwrap(); // warm-up: every shape
    let loaded_rss = rss_mib("VmRSS");
    for batch in [1usize, 2, 4, 8, 16] {
        let started = Instant::now();
        let mut done = 0usize;
        let mut calls = Vec::new();
        while started.elapsed().as_secs_f64() < 3.0 {
            for group in questions.chunks(batch) {
                let call = Instant::now();
                if batch == 1 {
                    // As `/query` asks: through embed_query (a model's question prefix).
                    e.embed_query("bench", group[0].clone()).await.unwrap();
                } else {
                    e.embed(group.to_vec()).await.unwrap();
                }
                calls.push(call.elapsed().as_secs_f64() * 1000.0);
                done += group.len();
            }
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0 / done as f64;
        calls.sort_by(f64::total_cmp);
        println!(
            "{}",
            json!({"bench": "query_embedding", "engine": engine_label(), "batch": batch, "ms_per_query": ms, "p50_ms_per_call": percentile(&calls, 0.5), "rss_mib": loaded_rss})
        );
    }
}

/// The model's own limit for what `/query` asks of it: `CONCURRENCY` callers each embedding one
/// question at a time through the server's embedder (its queue, batching and threads, no
/// question cache) for `SECONDS`: questions per second and the latency of a call.
async fn concurrent(args: &[String]) {
    let questions: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(&args[0])
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect(),
    );
    let concurrency: usize = args[1].parse().unwrap();
    let seconds: f64 = args[2].parse().unwrap();
    let e = embedder();
    for q in questions.iter() {
        e.embed_query("bench", q.clone()).await.unwrap(); // warm-up: every shape
    }
    let started = Instant::now();
    let callers = (0..concurrency).map(|n| {
        let (e, questions) = (Arc::clone(&e), Arc::clone(&questions));
        tokio::spawn(async move {
            let mut calls = Vec::new();
            let mut i = n;
            while started.elapsed().as_secs_f64() < seconds {
                let call = Instant::now();
                e.embed_query("bench", questions[i % questions.len()].clone())
                    .await
                    .unwrap();
                calls.push(call.elapsed().as_secs_f64() * 1000.0);
                i += concurrency;
            }
            calls
        })
    });
    let mut calls = Vec::new();
    for caller in callers {
        calls.extend(caller.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    calls.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({"bench": "model_only", "engine": engine_label(), "concurrency": concurrency, "questions_per_s": calls.len() as f64 / elapsed, "p50_ms": percentile(&calls, 0.5), "p99_ms": percentile(&calls, 0.99)})
    );
}

async fn vectors(args: &[String]) {
    let texts = passages(&args[0]);
    let e = embedder();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[1]).unwrap());
    let started = Instant::now();
    for (i, part) in texts.chunks(2048).enumerate() {
        for v in e.embed(part.to_vec()).await.unwrap() {
            for x in v.0 {
                out.write_all(&x.to_le_bytes()).unwrap();
            }
        }
        eprintln!(
            "embedded {} / {} ({:.0}/s)",
            (i + 1) * 2048,
            texts.len(),
            ((i + 1) * 2048) as f64 / started.elapsed().as_secs_f64()
        );
    }
}

fn load_vectors(path: &str) -> Vec<Vec<f32>> {
    let raw = std::fs::read(path).unwrap();
    raw.chunks_exact(384 * 4)
        .map(|v| {
            v.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect()
}

async fn search(args: &[String]) {
    let all = load_vectors(&args[0]);
    let queries: Vec<String> = passages(&args[1]).into_iter().take(200).collect();
    let e = embedder();
    let mut query_vectors = Vec::new();
    let mut embed_ms = Vec::new();
    for q in &queries {
        let t = Instant::now();
        query_vectors.push(e.embed(vec![q.clone()]).await.unwrap().remove(0));
        embed_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    for size in args[2].split(',').map(|s| s.parse::<usize>().unwrap()) {
        assert!(
            all.len() >= size,
            "only {} vectors, {size} asked",
            all.len()
        );
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("ragd.db"))
            .await
            .unwrap();
        let index = EmbeddedIndex::open(
            EmbeddedIndexConfig {
                precision: env_or("RAGD_INDEX_PRECISION", Default::default()),
                ..EmbeddedIndexConfig::new(dir.path().join("index"), 384)
            },
            &store,
        )
        .await
        .unwrap();
        let t = Instant::now();
        let added = all[..size]
            .iter()
            .enumerate()
            .map(|(i, v)| IndexEntry {
                key: i as u64 + 1,
                collection: 1,
                vector: Embedding(v.clone()),
            })
            .collect();
        index
            .apply(IndexChanges {
                removed: vec![],
                added,
                ..Default::default()
            })
            .await
            .unwrap();
        let build_s = t.elapsed().as_secs_f64();
        for ef in [64usize, 96, 128] {
            index.set_expansion_search(ef);
            let (mut graph_ms, mut exact_ms, mut total_ms, mut recall) =
                (vec![], vec![], vec![], 0.0);
            for (qv, e_ms) in query_vectors.iter().zip(&embed_ms) {
                let t = Instant::now();
                let exact = index.exact_search(qv, &[1], 10).unwrap();
                exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let graph = index.graph_search(qv, &[1], 10).unwrap();
                let g = t.elapsed().as_secs_f64() * 1e3;
                graph_ms.push(g);
                total_ms.push(g + e_ms);
                let truth: std::collections::HashSet<u64> = exact.iter().map(|x| x.0).collect();
                recall += graph.iter().filter(|x| truth.contains(&x.0)).count() as f64 / 10.0;
            }
            for v in [&mut graph_ms, &mut exact_ms, &mut total_ms] {
                v.sort_by(f64::total_cmp);
            }
            println!(
                "{}",
                json!({
                    "bench": "search", "precision": format!("{:?}", env_or("RAGD_INDEX_PRECISION", ragd_backends::embedded_index::VectorPrecision::default())), "vectors": size, "ef": ef, "build_s": build_s,
                    "recall_at_10": recall / query_vectors.len() as f64,
                    "ann_p50_ms": percentile(&graph_ms, 0.5), "ann_p99_ms": percentile(&graph_ms, 0.99),
                    "exact_p50_ms": percentile(&exact_ms, 0.5), "exact_p99_ms": percentile(&exact_ms, 0.99),
                    "query_embed_plus_ann_p50_ms": percentile(&total_ms, 0.5), "query_embed_plus_ann_p99_ms": percentile(&total_ms, 0.99),
                    "index_memory_mib": index.memory_usage() as f64 / 1048576.0,
                })
            );
        }
    }
    embed_ms.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({"bench": "query_embed", "p50_ms": percentile(&embed_ms, 0.5), "p99_ms": percentile(&embed_ms, 0.99)})
    );
}

/// Best cosine of the right document vs the best cosine of any other document, per corpus
/// question, and the best cosine for questions the corpus cannot answer: the data behind the
/// similarity calibration.
async fn calibrate() {
    #[derive(serde::Deserialize)]
    struct Q {
        text: String,
        expected: String,
    }
    #[derive(serde::Deserialize)]
    struct Qs {
        question: Vec<Q>,
    }
    #[derive(serde::Deserialize)]
    struct Off {
        questions: Vec<String>,
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.calibration = ragd_core::relevance::Calibration::identity();
    let engine = ragd_backends::Node::open(&config, embedder())
        .await
        .unwrap();
    let scope = ragd_core::types::Scope::default();
    let docs = root().join("tests/corpus/docs");
    let mut names: Vec<_> = std::fs::read_dir(&docs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in &names {
        let bytes = std::fs::read(docs.join(name)).unwrap();
        let req = ragd_core::service::IngestRequest {
            scope: scope.clone(),
            source: name.clone(),
            bytes,
            metadata: Default::default(),
        };
        engine.service.ingest(req).await.unwrap();
    }
    let request = |q: &str| ragd_core::service::RetrieveRequest {
        tenant: scope.tenant.clone(),
        collection: None,
        query: q.to_owned(),
        k: ragd_core::types::TopK::new(50).unwrap(),
        threshold: ragd_core::types::Threshold::new(0.0).unwrap(),
        // The cosine calibration is measured on the dense ranking.
        mode: Some(ragd_core::types::SearchMode::Dense),
        rerank: Some(false),
    };
    let qs: Qs = toml::from_str(
        &std::fs::read_to_string(root().join("tests/corpus/questions.toml")).unwrap(),
    )
    .unwrap();
    let off: Off = toml::from_str(
        &std::fs::read_to_string(root().join("tests/corpus/offtopic.toml")).unwrap(),
    )
    .unwrap();
    let (mut relevant, mut irrelevant) = (Vec::new(), Vec::new());
    for q in &qs.question {
        let hits = engine.service.retrieve(&request(&q.text)).await.unwrap();
        let best = |right: bool| {
            hits.iter()
                .filter(|h| (h.chunk.document.source.source == q.expected) == right)
                .filter_map(|h| h.cosine)
                .fold(f32::MIN, f32::max)
        };
        relevant.push(best(true));
        irrelevant.push(best(false));
    }
    let mut offtopic = Vec::new();
    for q in &off.questions {
        let hits = engine.service.retrieve(&request(q)).await.unwrap();
        offtopic.push(hits.first().and_then(|h| h.cosine).unwrap_or(0.0));
    }
    let summary = |v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        let all: Vec<f32> = v.iter().map(|x| (x * 1000.0).round() / 1000.0).collect();
        json!({"min": v[0], "p10": v[v.len() / 10], "median": v[v.len() / 2], "p90": v[v.len() * 9 / 10], "max": v[v.len() - 1], "all": all})
    };
    // The cosine cut that best separates the right document's passage from off-topic ones.
    let (mut best_cut, mut best_acc) = (0.0f32, 0.0f64);
    for step in 20..80 {
        let cut = step as f32 / 100.0;
        let tp = relevant.iter().filter(|&&c| c >= cut).count() as f64 / relevant.len() as f64;
        let tn = offtopic.iter().filter(|&&c| c < cut).count() as f64 / offtopic.len() as f64;
        if (tp + tn) / 2.0 > best_acc {
            (best_cut, best_acc) = (cut, (tp + tn) / 2.0);
        }
    }
    println!(
        "{}",
        json!({"bench": "calibration_cut", "cosine": best_cut, "balanced_accuracy": best_acc})
    );
    println!(
        "{}",
        json!({
            "bench": "calibration",
            "best_relevant_cosine": summary(&mut relevant),
            "best_other_document_cosine": summary(&mut irrelevant),
            "best_offtopic_cosine": summary(&mut offtopic),
        })
    );
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T
where
    T::Err: std::fmt::Debug,
{
    std::env::var(name).map_or(default, |v| v.parse().expect(name))
}

fn test_config(data_dir: &Path) -> EngineConfig {
    let threads = std::env::var("RAGD_EMBED_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    EngineConfig {
        data_dir: data_dir.to_path_buf(),
        embeddings_model: std::env::var("EMBEDDINGS_MODEL")
            .unwrap_or_else(|_| ragd_backends::embed::model::MINILM_ID.into()),
        models_dir: root().join("models"),
        embed_engine: env_or("RAGD_EMBED_ENGINE", EmbedEngine::default()),
        onnx_file: std::env::var("RAGD_EMBEDDINGS_ONNX").ok().map(Into::into),
        ort_library: None,
        openvino_library: None,
        embed_precision: env_or("RAGD_EMBED_PRECISION", Precision::default()),
        openvino_shape_cache: 64,
        embed_threads: threads,
        embed_streams: env_or("RAGD_EMBED_STREAMS", threads),
        embed_batch_size: 32,
        embed_queue: 64,
        embed_spin: env_or("RAGD_EMBED_SPIN", true),
        query_cache: 0,
        guardrails: std::sync::Arc::new(ragd_core::guardrails::Policy::default()),
        chunker: Default::default(),
        generator: Default::default(),
        generation: Default::default(),
        outbound_ca_file: None,
        exact_search_below: 10_000,
        ann_ef_search: 96,
        index_precision: env_or("RAGD_INDEX_PRECISION", Default::default()),
        calibration: Default::default(),
        search: Default::default(),
        limits: Default::default(),
        parser: ragd_backends::loaders::ParserIsolation::InProcess,
        durability: Default::default(),
        postgres: None,
        redis: None,
        chroma: None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match args.first().map(String::as_str) {
        Some("embed") => rt.block_on(embed(&args[1..])),
        Some("queries") => rt.block_on(queries(&args[1..])),
        Some("concurrent") => rt.block_on(concurrent(&args[1..])),
        Some("vectors") => rt.block_on(vectors(&args[1..])),
        Some("search") => rt.block_on(search(&args[1..])),
        Some("calibrate") => rt.block_on(calibrate()),
        _ => eprintln!("usage: engine embed|vectors|search … (see the file's docs)"),
    }
}
