//! `ragd backup`, `ragd restore` and `ragd migrate`: moving a deployment's data.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use ragd_backends::sqlite::backup;
use ragd_backends::{Backends, EngineConfig};

const USE_PG_DUMP: &str = "with DATABASE_URL the data is in PostgreSQL: back it up with \
    `pg_dump -Fc` and restore it with `pg_restore` (see the README)";

/// `ragd backup PATH`.
pub(crate) async fn backup(config: &EngineConfig, path: &Path) -> anyhow::Result<ExitCode> {
    if config.postgres.is_some() {
        bail!(USE_PG_DUMP);
    }
    let manifest = backup::backup(&config.data_dir, path)
        .await
        .with_context(|| format!("backing up {}", config.data_dir.display()))?;
    println!(
        "backed up {} documents ({} chunks){} into {}",
        manifest.documents,
        manifest.chunks,
        if manifest.index {
            " and the vector index"
        } else {
            " (the index is rebuilt at restore)"
        },
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `ragd restore PATH [--replace]`: copies the backup in, then opens the data dir (which
/// reconciles or rebuilds the index) and checks it against the backup's counts.
pub(crate) async fn restore(
    config: &EngineConfig,
    path: &Path,
    replace: bool,
) -> anyhow::Result<ExitCode> {
    if config.postgres.is_some() {
        bail!(USE_PG_DUMP);
    }
    let manifest = {
        // Nothing may run on the data dir meanwhile.
        let _lock = ragd_backends::data_dir::DataDirLock::acquire(&config.data_dir)?;
        backup::restore(path, &config.data_dir, replace)?
    };
    let backends = Backends::open(&config.store(), config.owner()).await?;
    let documents = backends.documents(config).await?;
    let report = documents.maintenance.check().await?;
    documents.maintenance.flush().await?;
    if !report.ok || report.documents != manifest.documents || report.chunks != manifest.chunks {
        bail!(
            "the restored data dir does not match the backup: {report:?} against {} documents and {} chunks",
            manifest.documents,
            manifest.chunks
        );
    }
    println!(
        "restored {} documents ({} chunks, {} vectors) into {}",
        report.documents,
        report.chunks,
        report.vectors,
        config.data_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `ragd migrate [--from DATA_DIR] [--to URL]`.
pub(crate) async fn migrate(
    args: &crate::config::EngineArgs,
    config: EngineConfig,
    from: Option<PathBuf>,
    to: Option<String>,
) -> anyhow::Result<ExitCode> {
    let from = from.unwrap_or_else(|| config.data_dir.clone());
    let target = match to {
        Some(url) => args.postgres_at(&url)?,
        None => config
            .postgres
            .clone()
            .context("give the PostgreSQL URL with --to or DATABASE_URL")?,
    };
    let started = std::time::Instant::now();
    let report = ragd_backends::migrate::run(&from, &target, |done| {
        if done % 100 == 0 {
            eprintln!("{done} documents…");
        }
    })
    .await
    .with_context(|| format!("migrating {} to {}", from.display(), target.url.redacted()))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "migrated in {:.1} s to {}",
        started.elapsed().as_secs_f64(),
        target.url.redacted()
    );
    Ok(if report.verified {
        ExitCode::SUCCESS
    } else {
        eprintln!("the counts differ: run `ragd migrate` again");
        ExitCode::FAILURE
    })
}
