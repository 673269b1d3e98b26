//! Where the Chroma index lives and how ragd talks to it: the chapter's `CHROMA_HOST` and
//! `CHROMA_PORT` (with `CHROMA_SSL`), Chroma's tenant and database, the collection ragd keeps its
//! vectors in, an optional bearer token, and the limits of each call.

use std::path::PathBuf;
use std::time::Duration;

use ragd_core::{Error, Result};

/// The Chroma collection a deployment uses unless told otherwise (`RAGD_CHROMA_COLLECTION`).
pub const DEFAULT_COLLECTION: &str = "ragd_chunks";
/// Chroma's own default tenant (`CHROMA_TENANT`).
pub const DEFAULT_TENANT: &str = "default_tenant";
/// Chroma's own default database (`CHROMA_DATABASE`).
pub const DEFAULT_DATABASE: &str = "default_database";

/// Settings of [`crate::chroma::ChromaIndex`].
#[derive(Clone)]
pub struct ChromaConfig {
    /// The server's root, `http://host:port` (a path prefix is kept, for a reverse proxy).
    pub url: reqwest::Url,
    /// Chroma tenant (not a ragd tenant: every ragd tenant shares the deployment's collection).
    pub tenant: String,
    /// Chroma database inside that tenant.
    pub database: String,
    /// The collection holding this deployment's vectors; ragd creates it and refuses one it did
    /// not create.
    pub collection: String,
    /// Sent as `Authorization: Bearer …` (`CHROMA_AUTH_TOKEN`); never printed.
    pub auth_token: Option<String>,
    /// Time to connect to Chroma.
    pub connect_timeout: Duration,
    /// Time for one whole call (an upsert of one batch, a search).
    pub timeout: Duration,
    /// Records per upsert, delete or page read, at most; the server's own `max_batch_size` caps
    /// it further.
    pub batch_size: usize,
    /// Extra CA certificates (PEM) for an https Chroma (`RAGD_OUTBOUND_CA_FILE`).
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for ChromaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromaConfig")
            .field("url", &self.url.as_str())
            .field("tenant", &self.tenant)
            .field("database", &self.database)
            .field("collection", &self.collection)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("batch_size", &self.batch_size)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// 1,000 vectors of 384 dimensions are about 4.5 MB of JSON: one call stays well inside the
/// timeout on a loaded server, and a rebuild still moves thousands of vectors a second.
pub const DEFAULT_BATCH_SIZE: usize = 1_000;

impl ChromaConfig {
    /// The defaults for the server at `url`.
    pub fn new(url: reqwest::Url) -> Self {
        Self {
            url,
            tenant: DEFAULT_TENANT.to_owned(),
            database: DEFAULT_DATABASE.to_owned(),
            collection: DEFAULT_COLLECTION.to_owned(),
            auth_token: None,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            batch_size: DEFAULT_BATCH_SIZE,
            ca_file: None,
        }
    }

    /// The server at `host:port`, over https when `ssl`; `host` may not carry a scheme or path.
    pub fn at(host: &str, port: u16, ssl: bool) -> Result<Self> {
        let host = host.trim();
        if host.is_empty() || host.contains(['/', '@', '?', '#', ' ']) {
            return Err(Error::invalid(format!(
                "CHROMA_HOST must be a host name or address, not {host:?} (the scheme comes from \
                 CHROMA_SSL, the port from CHROMA_PORT)"
            )));
        }
        // An IPv6 address goes in brackets.
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let scheme = if ssl { "https" } else { "http" };
        let url = reqwest::Url::parse(&format!("{scheme}://{host}:{port}/")).map_err(|e| {
            Error::invalid(format!(
                "CHROMA_HOST / CHROMA_PORT: not a valid address: {e}"
            ))
        })?;
        Ok(Self::new(url))
    }

    /// Checks the names against Chroma's rules, naming the setting to fix.
    pub fn validate(&self) -> Result<()> {
        check_collection_name(&self.collection)?;
        for (setting, value) in [
            ("CHROMA_TENANT", &self.tenant),
            ("CHROMA_DATABASE", &self.database),
        ] {
            if value.trim().is_empty() || value.len() > 512 {
                return Err(Error::invalid(format!(
                    "{setting} must be 1 to 512 characters"
                )));
            }
        }
        if self.batch_size == 0 {
            return Err(Error::invalid("the Chroma batch size must be at least 1"));
        }
        if !matches!(self.url.scheme(), "http" | "https") {
            return Err(Error::invalid("the Chroma URL must be http or https"));
        }
        Ok(())
    }
}

/// Chroma's rule for collection names: 3–512 characters of `[a-zA-Z0-9._-]`, starting and ending
/// with a letter or digit.
fn check_collection_name(name: &str) -> Result<()> {
    let ok = (3..=512).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "RAGD_CHROMA_COLLECTION must be 3-512 characters of [a-zA-Z0-9._-] starting and \
             ending with a letter or digit (Chroma's rule), not {name:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_url_from_host_port_and_ssl() {
        let c = ChromaConfig::at("chroma.internal", 8000, false).expect("valid");
        assert_eq!(c.url.as_str(), "http://chroma.internal:8000/");
        let c = ChromaConfig::at("10.0.0.7", 443, true).expect("valid");
        assert_eq!(c.url.as_str(), "https://10.0.0.7/");
        let c = ChromaConfig::at("::1", 8000, false).expect("valid");
        assert_eq!(c.url.as_str(), "http://[::1]:8000/");
        for bad in ["", "http://chroma", "chroma/x", "user@chroma"] {
            assert!(ChromaConfig::at(bad, 8000, false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn collection_names_follow_chromas_rule() {
        let mut c = ChromaConfig::at("localhost", 8000, false).expect("valid");
        for good in ["ragd_chunks", "abc", "team-a.vectors", "A1_b"] {
            c.collection = good.into();
            assert!(c.validate().is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "_ragd",
            "ragd-",
            "ragd chunks",
            "ragd/x",
            &"x".repeat(513),
        ] {
            c.collection = bad.into();
            let err = c.validate().expect_err(bad).to_string();
            assert!(err.contains("RAGD_CHROMA_COLLECTION"), "{err}");
        }
    }

    #[test]
    fn the_token_is_never_printed() {
        let mut c = ChromaConfig::at("localhost", 8000, false).expect("valid");
        c.auth_token = Some("s3cr3t-token".into());
        let printed = format!("{c:?}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }
}
