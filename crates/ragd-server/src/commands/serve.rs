//! `ragd serve`: validate the settings, bind, serve until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use ragd_backends::EngineConfig;

use crate::app::App;
use crate::cli::ServeCommand;

/// Resolves on SIGTERM (true: drain first, as a load balancer or an orchestrator asks) or SIGINT
/// (false: stop now, as someone at a terminal asks).
async fn shutdown_signal() -> bool {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {
            tracing::info!("SIGINT received");
            false
        }
        () = term => {
            tracing::info!("SIGTERM received");
            true
        }
    }
}

/// Runs the server.
pub(crate) async fn run(engine: &EngineConfig, args: &ServeCommand) -> anyhow::Result<ExitCode> {
    let config = args.serve.to_config(engine.outbound_ca_file.as_deref())?;
    let app = App::build(config, engine.clone(), Some(&args.redoc_js)).await?;
    let addr = format!("{}:{}", args.serve.host, app.port());
    // Scripts and tests read this line to learn the port (RAGD_PORT=0 picks a free one).
    println!("ragd listening on http://{addr}");
    app.run(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
