//! `ragd health`: the container's HEALTHCHECK, a GET on the liveness route of a running server.

use std::process::ExitCode;
use std::time::Duration;

/// Probes `url` (default: the liveness route on loopback, on `RAGD_PORT`); exits 0 on a 2xx.
pub(crate) async fn run(url: Option<&str>, timeout_secs: u64) -> anyhow::Result<ExitCode> {
    let url = url.map_or_else(default_url, str::to_owned);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout_secs.max(1)))
        .no_proxy()
        .build()?;
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(response) => {
            eprintln!("unhealthy: {url} answered {}", response.status());
            Ok(ExitCode::FAILURE)
        }
        Err(err) => {
            let err = anyhow::Error::from(err);
            eprintln!("unhealthy: {url}: {err:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn default_url() -> String {
    let port = std::env::var("RAGD_PORT")
        .ok()
        .filter(|p| p.parse::<u16>().is_ok_and(|p| p != 0))
        .unwrap_or_else(|| "8000".to_owned());
    format!("http://127.0.0.1:{port}/health/live")
}
