//! One module per CLI command. Each builds what it needs and calls [`RagService`]; none holds
//! business rules.
//!
//! [`RagService`]: ragd_core::RagService

mod documents;
mod ingest;
mod query;

use std::process::ExitCode;

use anyhow::Context;
use ragd_backends::Engine;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.engine.to_config()?;
    let engine = Engine::build(&config)
        .await
        .context("starting the engine")?;
    let code = match cli.command {
        Command::Ingest(args) => ingest::run(&engine, args).await?,
        Command::Query(args) => query::run(&engine, args).await?,
        Command::Documents(cmd) => documents::run(&engine, cmd).await?,
        Command::Check { json } => {
            let report = engine.check().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} documents, {} chunks, {} vectors: {}",
                    report.documents,
                    report.chunks,
                    report.vectors,
                    if report.ok {
                        "consistent"
                    } else {
                        "INCONSISTENT"
                    }
                );
            }
            if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    };
    ragd_core::ports::VectorIndex::flush(engine.index.as_ref())
        .await
        .context("saving the vector index")?;
    Ok(code)
}
