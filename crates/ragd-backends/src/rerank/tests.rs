//! The reranker on the real model. Like the embedder's tests, these need the model on disk and
//! fail, never skip, without it: `make reranker` (and `make model` for ONNX Runtime).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use super::*;
use crate::embed::onnx::{OnnxEmbedder, OnnxEmbedderConfig};

const BERLIN_QUERY: &str = "How many people live in Berlin?";
const BERLIN: &str = "Berlin has a population of 3,520,031 registered inhabitants in an area of \
                      891.82 square kilometers.";
const MUSEUMS: &str = "Berlin is well known for its museums.";
const NEW_YORK: &str = "New York City is famous for the Metropolitan Museum of Art.";

fn models_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    assert!(
        dir.join(MS_MARCO_DIR).join("model.onnx").is_file(),
        "the reranker is missing: run `make reranker`"
    );
    dir
}

fn config() -> OnnxRerankerConfig {
    let mut config = OnnxRerankerConfig::new(&models_dir(), None);
    // Small batches, so that a handful of passages spans several forward passes.
    config.batch_size = 4;
    config
}

/// One model for the whole test binary.
fn reranker() -> &'static OnnxReranker {
    static RERANKER: OnceLock<OnnxReranker> = OnceLock::new();
    RERANKER.get_or_init(|| OnnxReranker::start(config()).expect("the reranker starts"))
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|&t| t.to_owned()).collect()
}

#[tokio::test]
async fn ranks_the_answer_first_with_the_reference_logits() {
    // The model card's example pair: the fp32 model gives 9.22 and -4.08; this int8 copy, on
    // Python's onnxruntime 1.32 and on ragd, 9.33 and -4.17 (± 0.1 with other batch-mates).
    let logits = reranker()
        .score(BERLIN_QUERY, strings(&[BERLIN, MUSEUMS]))
        .await
        .expect("scores");
    assert!((logits[0] - 9.33).abs() < 0.2, "{logits:?}");
    assert!((logits[1] - -4.17).abs() < 0.2, "{logits:?}");
    // Alone, as Python's onnxruntime scores it: -11.19.
    let new_york = reranker()
        .score(BERLIN_QUERY, strings(&[NEW_YORK]))
        .await
        .expect("scores")[0];
    assert!((new_york - -11.19).abs() < 0.2, "{new_york}");
}

#[tokio::test]
async fn keeps_the_order_of_a_mixed_batch() {
    // Seven lengths over two batches of four.
    let passages = [
        NEW_YORK,
        "Paris is the capital of France.",
        BERLIN,
        "The Spree flows through the centre of Berlin, past the Reichstag and the Museum Island, \
         before it joins the Havel in Spandau.",
        "",
        "Berlin's population grew by about 40,000 people last year, the statistics office said.",
        MUSEUMS,
    ];
    let forward = reranker()
        .score(BERLIN_QUERY, strings(&passages))
        .await
        .expect("scores");
    let mut reversed = passages;
    reversed.reverse();
    let mut backward = reranker()
        .score(BERLIN_QUERY, strings(&reversed))
        .await
        .expect("scores");
    backward.reverse();
    // The same batches either way, so the same logits, each back in its passage's place.
    assert_eq!(forward.len(), passages.len());
    for (a, b) in forward.iter().zip(&backward) {
        assert!((a - b).abs() < 1e-4, "{forward:?} vs {backward:?}");
    }
    for (passage, &logit) in passages.iter().zip(&forward) {
        let alone = reranker()
            .score(BERLIN_QUERY, strings(&[passage]))
            .await
            .expect("scores")[0];
        // Dynamic int8 quantises activations per batch, so batch-mates move a logit a little
        // (up to 0.3 here).
        assert!(
            (logit - alone).abs() < 0.5,
            "{passage:?}: {logit} vs {alone}"
        );
    }
    let best = (0..passages.len()).max_by(|&a, &b| forward[a].total_cmp(&forward[b]));
    assert_eq!(best, Some(2), "{forward:?}");
}

#[tokio::test]
async fn no_passages_no_logits() {
    let logits = reranker()
        .score(BERLIN_QUERY, Vec::new())
        .await
        .expect("scores");
    assert!(logits.is_empty());
}

#[tokio::test]
async fn truncates_a_long_passage() {
    let long = format!(
        "{BERLIN} {}",
        "The city has many parks and lakes. ".repeat(715)
    );
    assert!(long.split_whitespace().count() >= 5_000);
    let logits = reranker()
        .score(BERLIN_QUERY, vec![long, NEW_YORK.to_owned()])
        .await
        .expect("a long passage is truncated, not refused");
    assert!(logits.iter().all(|l| l.is_finite()), "{logits:?}");
    // The answer is in the part the model reads.
    assert!(logits[0] > logits[1], "{logits:?}");
}

#[tokio::test]
async fn refuses_more_passages_than_allowed() {
    let passages = vec![NEW_YORK.to_owned(); config().max_passages + 1];
    let err = reranker()
        .score(BERLIN_QUERY, passages)
        .await
        .expect_err("too many");
    assert!(matches!(err, Error::Invalid(_)), "{err}");
}

#[test]
fn refuses_bad_settings_and_names_missing_files() {
    let mut long = config();
    long.max_seq_len = 1024;
    let err = OnnxReranker::start(long).err().expect("too long");
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("max_seq_len")),
        "{err}"
    );
    let mut missing = config();
    missing.model_dir = PathBuf::from("/nonexistent");
    let err = OnnxReranker::start(missing).err().expect("no model");
    assert!(
        matches!(&err, Error::Unavailable(m) if m.contains("make reranker")),
        "{err}"
    );
}

/// The embedder on ONNX Runtime and the reranker share the process's one runtime.
#[tokio::test]
async fn runs_beside_the_onnx_embedder() {
    let models = models_dir();
    let minilm = models.join("all-MiniLM-L6-v2");
    let embedder = OnnxEmbedder::start(OnnxEmbedderConfig {
        model_id: "all-MiniLM-L6-v2".into(),
        tokenizer: minilm.join("tokenizer.json"),
        onnx: minilm.join("onnx/model_fused_fp32.onnx"),
        ort_library: models.join("onnxruntime/libonnxruntime.so"),
        threads: 1,
        batch_size: 8,
        queue_capacity: 4,
        max_seq_len: 256,
        spin: false,
    })
    .expect("the embedder starts (`make model`)");
    let vectors = ragd_core::ports::Embedder::embed(&embedder, strings(&[BERLIN]))
        .await
        .expect("embeds");
    assert_eq!(vectors[0].0.len(), 384);
    let logits = reranker()
        .score(BERLIN_QUERY, strings(&[BERLIN]))
        .await
        .expect("scores");
    assert!((logits[0] - 9.33).abs() < 0.2, "{logits:?}");
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// CPU time of the process so far (user + system), in ms: unlike wall time, barely changed by
/// other processes competing for the cores.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name, in
    // ticks of 10 ms.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    ticks(11)
        .zip(ticks(12))
        .map_or(0.0, |(u, s)| (u + s) * 10.0)
}

/// The figures behind the defaults: `cargo test -p ragd-backends --lib
/// rerank::tests::latency -- --ignored --nocapture` (`RERANK_BATCH` sets the batch size).
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn latency() {
    let before = rss_mib();
    let started = Instant::now();
    let mut config = OnnxRerankerConfig::new(&models_dir(), None);
    if let Some(size) = std::env::var("RERANK_BATCH")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        config.batch_size = size;
    }
    let reranker = OnnxReranker::start(config).expect("starts");
    let loaded = rss_mib();
    println!(
        "load {:.0} ms, RSS +{:.0} MiB",
        started.elapsed().as_secs_f64() * 1e3,
        loaded - before
    );
    // ~200 tokens each: 20 varied sentences of ~10 tokens.
    let passage = |i: usize| {
        (0..13)
            .map(|j| {
                format!("Sentence {j} of passage {i} says the river city grew by {i}{j} people.")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    for n in [10, 20, 40] {
        let passages: Vec<String> = (0..n).map(passage).collect();
        let mut times = Vec::new();
        let cpu = cpu_ms();
        for _ in 0..21 {
            let t = Instant::now();
            reranker
                .score(BERLIN_QUERY, passages.clone())
                .await
                .expect("scores");
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let cpu = (cpu_ms() - cpu) / times.len() as f64;
        times.sort_by(f64::total_cmp);
        println!(
            "{n} passages: p50 {:.0} ms, min {:.0}, max {:.0}; CPU {cpu:.0} ms per call; RSS +{:.0} MiB",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
            rss_mib() - before
        );
    }
    // The worst case for memory: every pair truncated at 512 tokens.
    let long = vec![passage(0).repeat(10); 40];
    reranker.score(BERLIN_QUERY, long).await.expect("scores");
    println!(
        "40 passages of 512 tokens: RSS +{:.0} MiB",
        rss_mib() - before
    );
}
