//! The `ragd` binary: parse the command line, set up logging ([`logging`]), run the command.

mod api_keys;
mod app;
mod auth;
mod chroma_config;
mod cli;
mod commands;
mod config;
mod convert;
mod error;
mod eval;
mod extract;
mod headers;
mod jobs;
mod jwks;
mod jwt_config;
mod listener;
mod llm_config;
mod logging;
mod metrics;
mod otel;
mod passwords;
mod rate_limit;
mod recent;
mod redis_config;
mod routes;
mod search_config;
mod serve_config;
mod state;
mod streaming;
mod telemetry;
mod webhooks;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // A parser worker (see `ragd_backends::loaders`) starts from nothing: no settings file (it
    // holds secrets), no logging, no runtime.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args
        .first()
        .is_some_and(|a| a == ragd_backends::loaders::PARSER_WORKER_ARG)
    {
        return ragd_backends::loaders::parser_worker_main(&args[1..]);
    }
    // `.env` in the working directory, as the chapter's settings read it (RAGD_ENV_FILE names
    // another file, or none when empty); real environment variables win over it.
    let (env_file, explicit) = match std::env::var("RAGD_ENV_FILE") {
        Ok(path) => (path, true),
        Err(_) => (".env".to_owned(), false),
    };
    if !env_file.is_empty()
        && let Err(err) = dotenvy::from_filename(&env_file)
        && (explicit || !err.not_found())
    {
        eprintln!("error: cannot read {env_file} (RAGD_ENV_FILE): {err}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let logging = match logging::Logging::init(
        &cli.engine.log_level,
        runtime.handle(),
        cli.engine.outbound_ca_file.clone(),
    ) {
        Ok(logging) => logging,
        Err(err) => {
            eprintln!("error: {err:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    };
    logging.shutdown();
    code
}
