//! `ragd eval SET`: retrieval quality of configurations on a question set, in one table.
//!
//! Three targets: the configured data dir (in process), a fresh data dir the corpus is ingested
//! into first (`--corpus`, once per `--chunks` setting), or a running server (`--url`, through
//! `POST /search`). Every configuration (`MODE[:FUSION][+rerank]`) answers every question with
//! k = 10 and threshold 0; the table gives hit@1/5/10, MRR@10, nDCG@10, recall@5/10 and the
//! retrieval latency, per split and language of the set.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use ragd_backends::{EngineConfig, Node};
use ragd_core::RagService;
use ragd_core::chunking::ChunkerConfig;
use ragd_core::retrieval::Fusion;
use ragd_core::service::RetrieveRequest;
use ragd_core::types::{SearchMode, TenantId, Threshold, TopK};
use serde::Serialize;

use crate::cli::{EvalArgs, IngestArgs, ScopeArgs};
use crate::eval::metrics::{self, Retrieved, Scores};
use crate::eval::set::{self, Question};

/// Results per question retrieved (the metrics read the first 10).
const K: usize = 10;
/// Questions asked before timing each configuration (model and caches warm).
const WARM_UP: usize = 3;

/// One configuration compared.
#[derive(Debug, Clone, PartialEq)]
struct Variant {
    name: String,
    mode: SearchMode,
    fusion: Option<Fusion>,
    rerank: bool,
}

fn parse_variant(spec: &str) -> anyhow::Result<Variant> {
    let spec = spec.trim();
    let (base, rerank) = match spec.strip_suffix("+rerank") {
        Some(base) => (base, true),
        None => (spec, false),
    };
    let (mode, fusion) = match base.split_once(':') {
        Some((mode, fusion)) => (mode, Some(fusion.parse::<Fusion>()?)),
        None => (base, None),
    };
    let mode: SearchMode = mode.parse()?;
    if fusion.is_some() && mode != SearchMode::Hybrid {
        bail!("{spec:?}: a fusion applies to hybrid only");
    }
    Ok(Variant {
        name: spec.to_owned(),
        mode,
        fusion,
        rerank,
    })
}

fn parse_chunks(spec: &str) -> anyhow::Result<ChunkerConfig> {
    let (size, overlap) = spec
        .split_once('/')
        .with_context(|| format!("--chunks {spec:?}: expected TOKENS/OVERLAP, e.g. 200/32"))?;
    Ok(ChunkerConfig::new(
        size.trim().parse()?,
        overlap.trim().parse()?,
    )?)
}

/// Where questions are asked.
enum Target {
    Service(Arc<RagService>),
    Http {
        client: reqwest::Client,
        url: String,
        headers: reqwest::header::HeaderMap,
    },
}

impl Target {
    async fn ask(
        &self,
        args: &EvalArgs,
        question: &str,
        variant: &Variant,
    ) -> anyhow::Result<Vec<Retrieved>> {
        match self {
            Self::Service(service) => {
                let request = RetrieveRequest {
                    tenant: TenantId::parse(&args.tenant)?,
                    collection: args.collection.clone(),
                    query: question.to_owned(),
                    k: TopK::new(K)?,
                    threshold: Threshold::new(0.0)?,
                    mode: Some(variant.mode),
                    rerank: Some(variant.rerank),
                };
                Ok(service
                    .retrieve(&request)
                    .await?
                    .into_iter()
                    .map(|h| Retrieved {
                        source: h.chunk.document.source.source,
                        text: h.chunk.chunk.text,
                    })
                    .collect())
            }
            Self::Http {
                client,
                url,
                headers,
            } => {
                let mut body = serde_json::json!({
                    "query": question, "max_results": K, "threshold": 0.0,
                    "mode": variant.mode.as_str(), "rerank": variant.rerank,
                });
                if let Some(c) = &args.collection {
                    body["collection"] = c.clone().into();
                }
                let response = client
                    .post(format!("{}/search", url.trim_end_matches('/')))
                    .headers(headers.clone())
                    .json(&body)
                    .send()
                    .await
                    .with_context(|| format!("POST {url}/search"))?;
                let status = response.status();
                let text = response.text().await?;
                if !status.is_success() {
                    bail!("POST {url}/search: {status}: {text}");
                }
                let found: ragd_api::SearchResponse =
                    serde_json::from_str(&text).context("reading the /search response")?;
                Ok(found
                    .sources
                    .into_iter()
                    .map(|s| Retrieved {
                        source: s
                            .metadata
                            .get("source")
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_owned(),
                        text: s.content,
                    })
                    .collect())
            }
        }
    }
}

/// One line of the table.
#[derive(Debug, Serialize)]
struct Row {
    config: String,
    chunks: String,
    split: String,
    lang: String,
    questions: usize,
    hit_at_1: f64,
    hit_at_5: f64,
    hit_at_10: f64,
    mrr_at_10: f64,
    ndcg_at_10: f64,
    recall_at_5: f64,
    recall_at_10: f64,
    p50_ms: f64,
    p95_ms: f64,
}

/// What one configuration did on every question.
struct Run {
    variant: Variant,
    chunks: String,
    scores: Vec<Scores>,
    millis: Vec<f64>,
}

async fn run_variant(
    target: &Target,
    args: &EvalArgs,
    questions: &[Question],
    variant: &Variant,
    chunks: &str,
) -> anyhow::Result<Run> {
    for q in questions.iter().take(WARM_UP) {
        target.ask(args, &q.text, variant).await?;
    }
    let mut run = Run {
        variant: variant.clone(),
        chunks: chunks.to_owned(),
        scores: Vec::with_capacity(questions.len()),
        millis: Vec::with_capacity(questions.len()),
    };
    for q in questions {
        let started = Instant::now();
        let ranked = target
            .ask(args, &q.text, variant)
            .await
            .with_context(|| format!("{} on question {}", variant.name, q.id))?;
        run.millis.push(started.elapsed().as_secs_f64() * 1e3);
        run.scores.push(metrics::score(
            &ranked,
            &q.documents,
            q.passage.as_deref(),
            args.level,
        ));
    }
    Ok(run)
}

fn rows(runs: &[Run], questions: &[Question]) -> Vec<Row> {
    let groups: BTreeSet<(String, String)> = questions
        .iter()
        .map(|q| (q.split.clone(), q.lang.clone()))
        .collect();
    let mut all_groups = vec![("all".to_owned(), "all".to_owned())];
    if groups.len() > 1 {
        let splits: BTreeSet<&String> = groups.iter().map(|(s, _)| s).collect();
        let langs: BTreeSet<&String> = groups.iter().map(|(_, l)| l).collect();
        if splits.len() > 1 {
            all_groups.extend(splits.iter().map(|s| ((*s).clone(), "all".to_owned())));
        }
        if langs.len() > 1 {
            all_groups.extend(langs.iter().map(|l| ("all".to_owned(), (*l).clone())));
            if splits.len() > 1 {
                all_groups.extend(groups.iter().cloned());
            }
        }
    }
    let mut out = Vec::new();
    for (split, lang) in &all_groups {
        for run in runs {
            let picked: Vec<usize> = questions
                .iter()
                .enumerate()
                .filter(|(_, q)| {
                    (split == "all" || q.split == *split) && (lang == "all" || q.lang == *lang)
                })
                .map(|(i, _)| i)
                .collect();
            let scores: Vec<Scores> = picked.iter().map(|&i| run.scores[i]).collect();
            let millis: Vec<f64> = picked.iter().map(|&i| run.millis[i]).collect();
            let m = metrics::mean(&scores);
            out.push(Row {
                config: run.variant.name.clone(),
                chunks: run.chunks.clone(),
                split: split.clone(),
                lang: lang.clone(),
                questions: picked.len(),
                hit_at_1: m.hit1,
                hit_at_5: m.hit5,
                hit_at_10: m.hit10,
                mrr_at_10: m.mrr10,
                ndcg_at_10: m.ndcg10,
                recall_at_5: m.recall5,
                recall_at_10: m.recall10,
                p50_ms: metrics::quantile(&millis, 0.5),
                p95_ms: metrics::quantile(&millis, 0.95),
            });
        }
    }
    out
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<24} {:>7} {:>8} {:>4} {:>4} {:>6} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6} {:>7} {:>7}",
        "config",
        "chunks",
        "split",
        "lang",
        "n",
        "hit@1",
        "hit@5",
        "hit@10",
        "MRR@10",
        "nDCG@10",
        "R@5",
        "R@10",
        "p50 ms",
        "p95 ms"
    );
    for r in rows {
        println!(
            "{:<24} {:>7} {:>8} {:>4} {:>4} {:>6.3} {:>6.3} {:>6.3} {:>7.3} {:>7.3} {:>6.3} {:>6.3} {:>7.2} {:>7.2}",
            r.config,
            r.chunks,
            r.split,
            r.lang,
            r.questions,
            r.hit_at_1,
            r.hit_at_5,
            r.hit_at_10,
            r.mrr_at_10,
            r.ndcg_at_10,
            r.recall_at_5,
            r.recall_at_10,
            r.p50_ms,
            r.p95_ms
        );
    }
}

/// The fusions the variants need, each run by its own engine (fusion is an engine setting).
fn fusion_groups(variants: &[Variant], default: Fusion) -> Vec<(Fusion, Vec<Variant>)> {
    let mut groups: Vec<(Fusion, Vec<Variant>)> = Vec::new();
    for v in variants {
        let fusion = v.fusion.unwrap_or(default);
        match groups.iter_mut().find(|(f, _)| *f == fusion) {
            Some((_, vs)) => vs.push(v.clone()),
            None => groups.push((fusion, vec![v.clone()])),
        }
    }
    groups
}

async fn run_in_process(
    config: &EngineConfig,
    args: &EvalArgs,
    questions: &[Question],
    variants: &[Variant],
    chunks: &str,
) -> anyhow::Result<Vec<Run>> {
    let mut runs = Vec::new();
    for (fusion, group) in fusion_groups(variants, config.search.fusion) {
        let mut config = config.clone();
        config.search.fusion = fusion;
        if group.iter().any(|v| v.rerank) && config.search.rerank_model.is_none() {
            bail!("+rerank needs RAGD_RERANK_MODEL (run `make reranker`)");
        }
        let node = Node::start(&config).await.context("starting the engine")?;
        let target = Target::Service(Arc::clone(&node.service));
        for variant in &group {
            eprintln!("eval: {} ({chunks})", variant.name);
            runs.push(run_variant(&target, args, questions, variant, chunks).await?);
        }
        drop(target);
        node.maintenance.flush().await?;
    }
    Ok(runs)
}

/// A temporary data dir, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("warning: could not remove {}: {e}", self.0.display());
        }
    }
}

async fn ingest_corpus(
    config: &EngineConfig,
    args: &EvalArgs,
    corpus: &Path,
) -> anyhow::Result<()> {
    let node = Node::start(config).await.context("starting the engine")?;
    let summary = crate::commands::ingest::ingest_all(
        &node,
        IngestArgs {
            paths: vec![corpus.to_path_buf()],
            scope: ScopeArgs {
                tenant: args.tenant.clone(),
                collection: args
                    .collection
                    .clone()
                    .unwrap_or_else(|| ragd_core::types::DEFAULT_COLLECTION.to_owned()),
            },
            include: Vec::new(),
            exclude: Vec::new(),
            metadata: Vec::new(),
            follow_symlinks: false,
            jobs: 4,
            json: false,
            quiet: true,
        },
    )
    .await?;
    node.maintenance.flush().await?;
    eprintln!(
        "eval: corpus {}: {} file(s) ingested ({} chunks), {} unchanged, {} failed in {:.1}s",
        corpus.display(),
        summary.ingested,
        summary.chunks,
        summary.unchanged,
        summary.failed,
        summary.seconds
    );
    if summary.failed > 0 {
        eprintln!("warning: the questions about failed files cannot be answered");
    }
    Ok(())
}

/// Runs the command.
pub(crate) async fn run(config: &EngineConfig, args: EvalArgs) -> anyhow::Result<ExitCode> {
    // Retrieval only: no answer generator to load, and no question cache (every configuration
    // asks the same questions; each must embed them itself for its latency to mean something).
    let mut config = config.clone();
    config.generator = ragd_backends::generate::GeneratorConfig::Extractive;
    config.query_cache = 0;
    config.redis = None;
    let config = &config;
    let mut questions = set::load(&args.set)?;
    questions.retain(|q| {
        args.split.as_deref().is_none_or(|s| q.split == s)
            && args.lang.as_deref().is_none_or(|l| q.lang == l)
    });
    if questions.is_empty() {
        bail!("no question of the set matches --split/--lang");
    }
    let variants = args
        .compare
        .iter()
        .map(|s| parse_variant(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut runs = Vec::new();
    if let Some(url) = &args.url {
        if args.corpus.is_some() || !args.chunks.is_empty() {
            bail!("--corpus and --chunks evaluate in process; --url evaluates a running server");
        }
        if variants.iter().any(|v| v.fusion.is_some()) {
            bail!("over --url the fusion is the server's RAGD_SEARCH_FUSION; name modes only");
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = &args.api_key {
            headers.insert("x-api-key", key.parse().context("--api-key")?);
        }
        if let Some(token) = &args.token {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}").parse().context("--token")?,
            );
        }
        let target = Target::Http {
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()?,
            url: url.clone(),
            headers,
        };
        for variant in &variants {
            runs.push(run_variant(&target, &args, &questions, variant, "server").await?);
        }
    } else if let Some(corpus) = &args.corpus {
        let settings = if args.chunks.is_empty() {
            vec![config.chunker]
        } else {
            args.chunks
                .iter()
                .map(|c| parse_chunks(c))
                .collect::<anyhow::Result<Vec<_>>>()?
        };
        for chunker in settings {
            let label = format!("{}/{}", chunker.max_tokens, chunker.overlap_tokens);
            let (dir, _scratch) = match &args.work_dir {
                // Kept: a second run re-ingests nothing that is unchanged.
                Some(work) => (work.join(label.replace('/', "-")), None),
                None => {
                    let dir = std::env::temp_dir().join(format!(
                        "ragd-eval-{}-{}",
                        std::process::id(),
                        label.replace('/', "-")
                    ));
                    (dir.clone(), Some(Scratch(dir)))
                }
            };
            std::fs::create_dir_all(&dir)?;
            let mut config = config.clone();
            config.data_dir = dir;
            config.postgres = None;
            config.chroma = None;
            config.chunker = chunker;
            ingest_corpus(&config, &args, corpus).await?;
            runs.extend(run_in_process(&config, &args, &questions, &variants, &label).await?);
        }
    } else {
        if !args.chunks.is_empty() {
            bail!("--chunks re-ingests the corpus: give --corpus DIR");
        }
        let label = format!(
            "{}/{}",
            config.chunker.max_tokens, config.chunker.overlap_tokens
        );
        runs = run_in_process(config, &args, &questions, &variants, &label).await?;
    }
    let table = rows(&runs, &questions);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&table)?);
    } else {
        print_table(&table);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_parse_and_bad_ones_are_refused() {
        let v = parse_variant("hybrid:weighted+rerank").expect("parses");
        assert_eq!(
            (v.mode, v.fusion, v.rerank),
            (SearchMode::Hybrid, Some(Fusion::Weighted), true)
        );
        assert_eq!(parse_variant("dense").expect("dense").fusion, None);
        assert!(parse_variant("dense:rrf").is_err());
        assert!(parse_variant("semantic").is_err());
        assert!(parse_chunks("128/16").is_ok());
        assert!(parse_chunks("128").is_err());
        assert!(parse_chunks("999/16").is_err());
    }
}
