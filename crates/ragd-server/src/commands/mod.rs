//! One module per CLI command. Each builds what it needs and calls [`RagService`]; none holds
//! business rules.
//!
//! [`RagService`]: ragd_core::RagService

mod documents;
mod eval;
mod health;
mod ingest;
mod keys;
mod maintenance;
mod query;
mod serve;
mod users;

use std::process::ExitCode;

use anyhow::Context;
use ragd_backends::{Access, Backends, Node};
use ragd_core::invalidation::Invalidation;

use crate::cli::{Cli, Command, KeysCommand, UsersCommand};

/// Tells running instances that share REDIS_URL about a credential change made here, so they
/// stop accepting it at once (without Redis they notice within RAGD_AUTH_CACHE_SECS).
async fn announce(config: &ragd_backends::EngineConfig, change: Option<Invalidation>) {
    let (Some(change), Some(redis)) = (change, config.redis.as_ref()) else {
        return;
    };
    let sent = async {
        let fleet = ragd_backends::compose::Fleet::connect(Some(redis)).await?;
        fleet.bus.publish(change).await
    };
    if let Err(err) = sent.await {
        eprintln!(
            "warning: the change is stored, but running instances could not be told at once ({err}); they notice within RAGD_AUTH_CACHE_SECS"
        );
    }
}

/// Runs the parsed command line.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Health { url, timeout_secs } = &cli.command {
        return health::run(url.as_deref(), *timeout_secs).await;
    }
    let config = cli.engine.to_config()?;
    match cli.command {
        Command::Serve(args) => {
            let mut config = config;
            config.embed_spin = cli.engine.embed_spin.unwrap_or(false);
            serve::run(&config, &args).await
        }
        Command::Health { url, timeout_secs } => health::run(url.as_deref(), timeout_secs).await,
        Command::Openapi => {
            println!("{}", crate::routes::openapi_document().to_pretty_json()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(cmd) => {
            let backends = Backends::open(&config.store(), Access::Shared)
                .await
                .context("opening the database")?;
            let change = matches!(cmd, KeysCommand::Revoke { .. }).then_some(Invalidation::ApiKeys);
            let code = keys::run(backends.keys.as_ref(), cmd).await?;
            announce(&config, change).await;
            Ok(code)
        }
        Command::Users(cmd) => {
            let backends = Backends::open(&config.store(), Access::Shared)
                .await
                .context("opening the database")?;
            let change = match &cmd {
                UsersCommand::Disable { username, tenant }
                | UsersCommand::Enable { username, tenant }
                | UsersCommand::Passwd {
                    username, tenant, ..
                } => Some(Invalidation::User {
                    tenant: tenant.clone(),
                    username: username.clone(),
                }),
                UsersCommand::Create { .. } | UsersCommand::List { .. } => None,
            };
            let code = users::run(backends.users.as_ref(), cmd).await?;
            announce(&config, change).await;
            Ok(code)
        }
        Command::Ingest(args) => with_engine(&config, EngineCommand::Ingest(args)).await,
        Command::Query(args) => with_engine(&config, EngineCommand::Query(args)).await,
        Command::Eval(args) => eval::run(&config, *args).await,
        Command::Documents(cmd) => with_engine(&config, EngineCommand::Documents(cmd)).await,
        Command::Check { json, repair } => {
            with_engine(&config, EngineCommand::Check { json, repair }).await
        }
        Command::Backup { path } => maintenance::backup(&config, &path).await,
        Command::Restore { path, replace } => maintenance::restore(&config, &path, replace).await,
        Command::Migrate { from, to } => maintenance::migrate(&cli.engine, config, from, to).await,
    }
}

/// The commands that load the model and the index.
enum EngineCommand {
    Ingest(crate::cli::IngestArgs),
    Query(crate::cli::QueryArgs),
    Documents(crate::cli::DocumentsCommand),
    Check { json: bool, repair: bool },
}

async fn with_engine(
    config: &ragd_backends::EngineConfig,
    command: EngineCommand,
) -> anyhow::Result<ExitCode> {
    let node = Node::start(config).await.context("starting the engine")?;
    let code = match command {
        EngineCommand::Ingest(args) => ingest::run(&node, args).await?,
        EngineCommand::Query(args) => query::run(&node, args).await?,
        EngineCommand::Documents(cmd) => documents::run(&node, cmd).await?,
        EngineCommand::Check { json, repair } => {
            let report = if repair {
                node.maintenance.repair().await?
            } else {
                node.maintenance.check().await?
            };
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
    node.maintenance
        .flush()
        .await
        .context("saving the vector index")?;
    Ok(code)
}
