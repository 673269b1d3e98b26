//! The shared document store: PostgreSQL with pgvector, for several ragd instances behind one
//! front door. Documents, chunks, their embeddings, users, keys, jobs and the event outbox live
//! in one database; there is no derived index to keep in step (the chunks table *is* the vector
//! index, through HNSW), so [`PgStore`] implements [`ragd_core::ports::DocumentStore`] and
//! [`ragd_core::ports::Maintenance`] directly, and a write is searchable the moment it commits.
//!
//! Use: `PgStore::connect(url, PgOptions::default()).await?`. It opens a bounded pool, runs the
//! migrations of `migrations/postgres` (under sqlx's advisory lock, so instances starting
//! together migrate once) and is then shared as `Arc<dyn Port>`.
//!
//! Unlike the SQLite store it keeps no collection ids in memory: other instances create
//! collections at any time, and a cached "this tenant has none" would hide their documents.
//! Transient failures (a restart, a failover, a deadlock) are retried where that is safe and
//! otherwise surface as [`Error::Unavailable`] (see `retry.rs`).

mod accounts;
mod conversations;
mod documents;
mod jobs;
mod keys;
mod retry;
mod rows;
mod status;
mod webhooks;
mod write;

use std::str::FromStr;
use std::time::Duration;

use ragd_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

pub(crate) use crate::postgres::retry::db_err;

/// Limits of the connection pool and the search breadth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// Connections the pool opens at most (default 10). Mind the server's `max_connections`
    /// across every ragd instance.
    pub max_connections: u32,
    /// How long a request waits for a free connection before it is answered 503 (default 10 s).
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout` on every connection (default 30 s; zero: none). A
    /// statement that runs longer is cancelled and answered 503.
    pub statement_timeout: Duration,
    /// pgvector's `hnsw.ef_search` for searches: candidates kept while walking the graph
    /// (default 100; 1..=1000). Larger is slower and finds more of the true nearest chunks.
    pub ef_search: u32,
    /// pgvector's `hnsw.max_scan_tuples`: how many chunks an iterative scan may visit to find
    /// `k` of the searched collections before it stops (default 20,000, pgvector's).
    pub max_scan_tuples: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
            ef_search: 100,
            max_scan_tuples: 20_000,
        }
    }
}

impl PgOptions {
    fn validate(&self) -> Result<()> {
        if self.max_connections == 0 {
            return Err(Error::invalid(
                "PostgreSQL max_connections must be at least 1",
            ));
        }
        if !(1..=1000).contains(&self.ef_search) {
            return Err(Error::invalid(format!(
                "PostgreSQL ef_search must be between 1 and 1000, got {}",
                self.ef_search
            )));
        }
        if self.max_scan_tuples == 0 {
            return Err(Error::invalid(
                "PostgreSQL max_scan_tuples must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Documents, chunks with their vectors, accounts, jobs and events in PostgreSQL + pgvector.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    options: PgOptions,
    /// Length of the stored vectors, read from the schema (`vector(384)`).
    dimensions: usize,
    /// `host:port/database`, for messages (never the password).
    target: String,
}

impl std::fmt::Debug for PgStore {
    // The pool's connect options hold the password: only the target is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .field("options", &self.options)
            .field("dimensions", &self.dimensions)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`), runs pending
    /// migrations and reads the vector dimension. An unreachable server is
    /// [`Error::Unavailable`] naming its host, never the password.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self> {
        options.validate()?;
        let (connect, target) = connect_options(url, &options)?;
        let pool = match PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
        {
            Ok(pool) => pool,
            Err(err) => return Err(unreachable(&target, &connect, err).await),
        };
        let dimensions = migrate(&pool).await?;
        Ok(Self {
            pool,
            options,
            dimensions,
            target,
        })
    }

    /// Length of the vectors the schema stores (384: all-MiniLM-L6-v2).
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// The connection pool, for the crate's tests and tools.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// [`Error::Invalid`] unless `vector` has the stored length.
    fn check_dimensions(&self, vector: &[f32]) -> Result<()> {
        if vector.len() == self.dimensions {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "embedding has {} dimensions, the PostgreSQL store holds {}",
                vector.len(),
                self.dimensions
            )))
        }
    }
}

/// The connect options of `url` with ragd's session settings, and `host:port/database` for
/// messages.
fn connect_options(url: &str, options: &PgOptions) -> Result<(PgConnectOptions, String)> {
    // sqlx reads any scheme as PostgreSQL's; another database's URL is a configuration error.
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(Error::invalid(
            "the PostgreSQL URL must start with postgres:// or postgresql://",
        ));
    }
    let connect = PgConnectOptions::from_str(url)
        .map_err(|e| Error::invalid(format!("invalid PostgreSQL URL: {e}")))?
        .application_name("ragd")
        .options([(
            "statement_timeout",
            format!("{}ms", options.statement_timeout.as_millis()),
        )]);
    let target = format!(
        "{}:{}/{}",
        connect.get_host(),
        connect.get_port(),
        connect.get_database().unwrap_or("")
    );
    Ok((connect, target))
}

/// Runs pending migrations, checks pgvector's version and returns the stored vector length.
async fn migrate(pool: &PgPool) -> Result<usize> {
    sqlx::migrate!("./migrations/postgres")
        .run(pool)
        .await
        .map_err(|e| {
            if let sqlx::migrate::MigrateError::Execute(err) = e {
                db_err(err)
            } else {
                Error::internal(e)
            }
        })?;
    let vector: Option<String> =
        sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
    check_pgvector(vector.as_deref())?;
    let dimensions: i32 = sqlx::query_scalar(
        "SELECT atttypmod FROM pg_attribute \
         WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'",
    )
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    usize::try_from(dimensions).map_err(Error::internal)
}

/// pgvector 0.8 brought the iterative index scans that keep a filtered search complete; with an
/// older one every search would fail on the unknown `hnsw.iterative_scan`, so start-up refuses.
fn check_pgvector(version: Option<&str>) -> Result<()> {
    let parsed = version.map(|v| {
        let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    });
    if parsed.is_some_and(|v| v >= (0, 8)) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "ragd needs pgvector 0.8 or later in the database, found {}: \
             run ALTER EXTENSION vector UPDATE (as the extension's owner)",
            version.unwrap_or("none")
        )))
    }
}

/// [`Error::Unavailable`] for a server the pool could not connect to. The pool retries refused
/// connections until its acquire timeout and then reports only the timeout, so one more attempt
/// finds the cause to name (refused, unknown host, authentication failed...). The messages of
/// sqlx's connection errors never contain the password.
async fn unreachable(target: &str, connect: &PgConnectOptions, err: sqlx::Error) -> Error {
    let mut cause = err.to_string();
    if matches!(err, sqlx::Error::PoolTimedOut)
        && let Err(direct) = sqlx::PgConnection::connect_with(connect).await
    {
        cause = format!("{cause} ({direct})");
    }
    Error::Unavailable(format!("cannot reach PostgreSQL at {target}: {cause}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgvector_before_0_8_is_refused() {
        for ok in ["0.8.0", "0.8.6", "0.10.1", "1.0"] {
            assert!(check_pgvector(Some(ok)).is_ok(), "{ok}");
        }
        for old in ["0.7.4", "0.5", "garbage"] {
            assert!(
                matches!(check_pgvector(Some(old)), Err(Error::Invalid(_))),
                "{old}"
            );
        }
        assert!(matches!(check_pgvector(None), Err(Error::Invalid(_))));
    }

    #[test]
    fn options_are_validated() {
        assert!(PgOptions::default().validate().is_ok());
        for bad in [
            PgOptions {
                max_connections: 0,
                ..PgOptions::default()
            },
            PgOptions {
                ef_search: 1001,
                ..PgOptions::default()
            },
            PgOptions {
                max_scan_tuples: 0,
                ..PgOptions::default()
            },
        ] {
            assert!(matches!(bad.validate(), Err(Error::Invalid(_))), "{bad:?}");
        }
    }
}
