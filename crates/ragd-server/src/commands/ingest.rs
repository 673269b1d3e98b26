//! `ragd ingest PATH…`: walk, ingest a few files at a time (so the embedder's batches stay full),
//! show progress, print a summary; a failing file is reported and the rest go on.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ragd_api::IngestSummary;
use ragd_backends::Node;
use ragd_backends::loaders::{WalkOptions, collect_files};
use ragd_core::service::IngestRequest;
use ragd_core::types::{CollectionName, Scope, TenantId};
use ragd_core::{FileOutcome, RagService};
use tokio::task::JoinSet;

use crate::cli::IngestArgs;

/// How often a long ingest saves the vector index.
const SAVE_EVERY: Duration = Duration::from_secs(60);

fn parse_metadata(pairs: &[String]) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_owned(), serde_json::Value::String(v.to_owned())))
            }
            _ => bail!("--metadata {p:?}: expected KEY=VALUE"),
        })
        .collect()
}

/// Reads a file of at most `max` bytes, checking its size before reading it (and never reading
/// more than `max`, should it grow meanwhile).
async fn read_bounded(path: &std::path::Path, max: u64) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt;
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    let file = tokio::fs::File::open(path).await.map_err(failed)?;
    let size = file.metadata().await.map_err(failed)?.len();
    let over = |size: u64| {
        format!(
            "{}: {size} bytes is over the limit of {max} bytes per document",
            path.display()
        )
    };
    if size > max {
        return Err(over(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(failed)?;
    if bytes.len() as u64 > max {
        return Err(over(bytes.len() as u64));
    }
    Ok(bytes)
}

async fn ingest_one(
    service: Arc<RagService>,
    scope: Scope,
    source: String,
    path: std::path::PathBuf,
    metadata: serde_json::Map<String, serde_json::Value>,
) -> FileOutcome {
    let max = service.limits().max_document_bytes;
    let bytes = match read_bounded(&path, max).await {
        Ok(b) => b,
        Err(error) => return FileOutcome::failed(source, error),
    };
    service
        .ingest_file(IngestRequest {
            scope,
            source,
            bytes,
            metadata,
        })
        .await
}

fn progress_bar(total: usize, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Runs the command; exit code 1 when any file failed.
pub(crate) async fn run(node: &Node, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let json = args.json;
    let summary = ingest_all(node, args).await?;
    print_summary(&summary, json)?;
    Ok(if summary.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Ingests every file the arguments name; failures are counted in the summary (and reported on
/// stderr as they happen), never stop the rest.
pub(crate) async fn ingest_all(node: &Node, args: IngestArgs) -> anyhow::Result<IngestSummary> {
    let scope = Scope {
        tenant: TenantId::parse(&args.scope.tenant)?,
        collection: CollectionName::parse(&args.scope.collection)?,
    };
    let metadata = parse_metadata(&args.metadata)?;
    let options = WalkOptions {
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        follow_symlinks: args.follow_symlinks,
    };
    let files = collect_files(&args.paths, &options).context("finding files")?;
    let started = Instant::now();
    let bar = progress_bar(files.len(), args.quiet || args.json);
    let mut summary = IngestSummary {
        ingested: 0,
        unchanged: 0,
        failed: 0,
        chunks: 0,
        seconds: 0.0,
        files: Vec::new(),
    };
    let mut tasks = JoinSet::new();
    let mut queue = files.into_iter();
    let mut last_save = Instant::now();
    loop {
        while tasks.len() < args.jobs.max(1) {
            let Some(file) = queue.next() else { break };
            let service = Arc::clone(&node.service);
            tasks.spawn(ingest_one(
                service,
                scope.clone(),
                file.source,
                file.path,
                metadata.clone(),
            ));
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let result = done.context("ingestion task failed")?;
        match &result {
            FileOutcome::Ingested { chunks, .. } => {
                summary.ingested += 1;
                summary.chunks += u64::from(*chunks);
            }
            FileOutcome::Unchanged { .. } => summary.unchanged += 1,
            FileOutcome::Failed { error, .. } => {
                summary.failed += 1;
                bar.suspend(|| eprintln!("failed: {error}"));
            }
        }
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "{} chunks, {:.1} chunks/s",
            summary.chunks,
            summary.chunks as f64 / secs
        ));
        bar.inc(1);
        summary.files.push(crate::convert::file_result(&result));
        // Save the index now and then, so a crash of a long ingest costs little re-indexing.
        if last_save.elapsed() > SAVE_EVERY {
            node.maintenance
                .flush()
                .await
                .context("saving the vector index")?;
            last_save = Instant::now();
        }
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn print_summary(s: &IngestSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    println!(
        "ingested {} file(s) ({} chunks), unchanged {}, failed {} in {:.1}s ({:.1} chunks/s)",
        s.ingested,
        s.chunks,
        s.unchanged,
        s.failed,
        s.seconds,
        s.chunks as f64 / s.seconds.max(1e-9)
    );
    for f in &s.files {
        if let ragd_api::FileResult::Failed { source, error } = f {
            println!("  failed  {source}: {error}");
        }
    }
    Ok(())
}
