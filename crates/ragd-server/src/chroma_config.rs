//! Chroma settings (issue 13): the chapter's `CHROMA_HOST` and `CHROMA_PORT` put the vectors of
//! the SQLite store in a Chroma server instead of the in-process index; `CHROMA_SSL`,
//! `CHROMA_TENANT`, `CHROMA_DATABASE` and `CHROMA_AUTH_TOKEN` are the names Chroma's own clients
//! read, and `RAGD_CHROMA_COLLECTION` names ragd's collection (the chapter's
//! `CHROMA_COLLECTION_NAME` stays what it was: the ragd collection `ragd ingest` writes to).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use ragd_backends::chroma::ChromaConfig;
use ragd_backends::chroma::config::{DEFAULT_COLLECTION, DEFAULT_DATABASE, DEFAULT_TENANT};

#[derive(Debug, Args)]
pub(crate) struct ChromaArgs {
    /// A Chroma server (host name or address) holding the vectors instead of the in-process
    /// index; unset: the in-process index. SQLite store only (not with DATABASE_URL).
    #[arg(long, global = true, env = "CHROMA_HOST")]
    pub(crate) chroma_host: Option<String>,
    /// Its port.
    #[arg(long, global = true, env = "CHROMA_PORT", default_value_t = 8000)]
    pub(crate) chroma_port: u16,
    /// Talk to it over https (true/false).
    #[arg(long, global = true, env = "CHROMA_SSL", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) chroma_ssl: Option<bool>,
    /// Chroma tenant (Chroma's, not ragd's: every ragd tenant shares the collection, isolated by
    /// a metadata filter); created when missing.
    #[arg(long, global = true, env = "CHROMA_TENANT", default_value = DEFAULT_TENANT)]
    pub(crate) chroma_tenant: String,
    /// Chroma database inside that tenant; created when missing.
    #[arg(long, global = true, env = "CHROMA_DATABASE", default_value = DEFAULT_DATABASE)]
    pub(crate) chroma_database: String,
    /// The Chroma collection of this deployment's vectors; ragd creates it and refuses one it
    /// did not create.
    #[arg(long, global = true, env = "RAGD_CHROMA_COLLECTION", default_value = DEFAULT_COLLECTION)]
    pub(crate) chroma_collection: String,
    /// Bearer token Chroma requires, if any (sent as `Authorization: Bearer`).
    #[arg(long, global = true, env = "CHROMA_AUTH_TOKEN", hide_env_values = true)]
    pub(crate) chroma_auth_token: Option<String>,
    /// Seconds one Chroma call may take (a search, or the upsert of one batch) before it is a 503.
    #[arg(
        long,
        global = true,
        env = "RAGD_CHROMA_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub(crate) chroma_timeout_secs: u64,
}

impl ChromaArgs {
    /// The Chroma settings, when `CHROMA_HOST` is set.
    pub(crate) fn to_config(
        &self,
        ca_file: Option<PathBuf>,
    ) -> anyhow::Result<Option<ChromaConfig>> {
        let Some(host) = self.chroma_host.as_deref().filter(|h| !h.trim().is_empty()) else {
            return Ok(None);
        };
        if self.chroma_port == 0 {
            bail!("CHROMA_PORT must be 1..=65535");
        }
        if !(1..=3600).contains(&self.chroma_timeout_secs) {
            bail!("RAGD_CHROMA_TIMEOUT_SECS must be 1..=3600");
        }
        let mut config =
            ChromaConfig::at(host, self.chroma_port, self.chroma_ssl.unwrap_or(false))?;
        config.tenant = self.chroma_tenant.clone();
        config.database = self.chroma_database.clone();
        config.collection = self.chroma_collection.clone();
        config.auth_token = self
            .chroma_auth_token
            .clone()
            .filter(|t| !t.trim().is_empty());
        config.timeout = Duration::from_secs(self.chroma_timeout_secs);
        config.connect_timeout = config.connect_timeout.min(config.timeout);
        config.ca_file = ca_file;
        config.validate()?;
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        chroma: ChromaArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<Option<ChromaConfig>> {
        let cli = Cli::try_parse_from(std::iter::once("ragd").chain(args.iter().copied()))?;
        cli.chroma.to_config(None)
    }

    #[test]
    fn unset_host_keeps_the_in_process_index() {
        assert!(parse(&[]).expect("valid").is_none());
        assert!(parse(&["--chroma-host", " "]).expect("valid").is_none());
    }

    #[test]
    fn host_port_and_ssl_make_the_url_and_defaults_apply() {
        let c = parse(&["--chroma-host", "chroma", "--chroma-port", "8001"])
            .expect("valid")
            .expect("set");
        assert_eq!(c.url.as_str(), "http://chroma:8001/");
        assert_eq!(
            (
                c.tenant.as_str(),
                c.database.as_str(),
                c.collection.as_str()
            ),
            ("default_tenant", "default_database", "ragd_chunks")
        );
        assert!(c.auth_token.is_none());
        let c = parse(&[
            "--chroma-host",
            "chroma.example",
            "--chroma-port",
            "443",
            "--chroma-ssl",
            "true",
            "--chroma-auth-token",
            "tok",
        ])
        .expect("valid")
        .expect("set");
        assert_eq!(c.url.as_str(), "https://chroma.example/");
        assert_eq!(c.auth_token.as_deref(), Some("tok"));
    }

    #[test]
    fn bad_settings_name_the_setting() {
        for (args, setting) in [
            (&["--chroma-host", "http://chroma"][..], "CHROMA_HOST"),
            (
                &["--chroma-host", "c", "--chroma-port", "0"][..],
                "CHROMA_PORT",
            ),
            (
                &["--chroma-host", "c", "--chroma-collection", "ab"][..],
                "RAGD_CHROMA_COLLECTION",
            ),
            (
                &["--chroma-host", "c", "--chroma-timeout-secs", "0"][..],
                "RAGD_CHROMA_TIMEOUT_SECS",
            ),
        ] {
            let err = parse(args).expect_err("refused").to_string();
            assert!(err.contains(setting), "{args:?}: {err}");
        }
    }
}
