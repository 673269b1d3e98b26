//! The index directory: `DIR/LOCK` (held while the index is open, so a second process never
//! rebuilds an index another one is using) and `DIR/tantivy/`, tantivy's files.
//!
//! Tantivy writes through [`DerivedDirectory`] (durable commits, unsynced segment files).
//!
//! Opening reuses `tantivy/` when it was built with the same settings and every file of its
//! last commit passes its checksum and loads; otherwise the directory is emptied and recreated
//! (the caller then refills it from the store). A half-written commit is no concern: tantivy
//! names the live segments in `meta.json`, replaced atomically on commit.

use std::fs::{self, File, TryLockError};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use ragd_core::types::{ChunkKey, CollectionId};
use ragd_core::{Error, Result};
use tantivy::{Index, IndexSettings};

use crate::lexical::config::LexicalConfig;
use crate::lexical::directory::DerivedDirectory;
use crate::lexical::schema::{self, Fields};
use crate::lexical::state::{State, tantivy_err};

/// An open index, its content and the lock that keeps it ours.
pub(crate) struct Opened {
    pub(crate) state: State,
    pub(crate) keys: Vec<(ChunkKey, CollectionId)>,
    pub(crate) lock: File,
}

/// Why an existing index is not reused.
enum Unusable {
    /// Built with other languages or another analysis version: rebuilt, as expected.
    Settings(String),
    /// Damaged or unreadable: rebuilt, with a warning.
    Damaged(String),
}

fn io_err(what: &str, path: &Path, err: &std::io::Error) -> Error {
    Error::internal(format!("{what} {}: {err}", path.display()))
}

/// Locks `config.dir` and opens the index in it, or a fresh one (see the module docs).
pub(crate) fn open(config: &LexicalConfig) -> Result<Opened> {
    let dir = &config.dir;
    fs::create_dir_all(dir).map_err(|e| io_err("creating", dir, &e))?;
    let lock_path = dir.join("LOCK");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_err("opening", &lock_path, &e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(Error::Unavailable(format!(
                "the lexical index {} is in use by another process",
                dir.display()
            )));
        }
        Err(TryLockError::Error(e)) => return Err(io_err("locking", &lock_path, &e)),
    }
    let path = dir.join("tantivy");
    // A damaged index may make tantivy panic rather than fail: either way it is rebuilt.
    let loaded = catch_unwind(AssertUnwindSafe(|| load(&path, config)))
        .unwrap_or_else(|_| Err(Unusable::Damaged("reading it panicked".to_owned())));
    let (state, keys) = match loaded {
        Ok(Some(found)) => found,
        // No committed index (first start, or a rebuild cut short): whatever is there goes.
        Ok(None) => (recreate(&path, config)?, Vec::new()),
        Err(Unusable::Settings(why)) => {
            tracing::info!(dir = %path.display(), why, "lexical index built with other settings; rebuilding it from the store");
            (recreate(&path, config)?, Vec::new())
        }
        Err(Unusable::Damaged(why)) => {
            tracing::warn!(dir = %path.display(), why, "lexical index unreadable; rebuilding it from the store");
            (recreate(&path, config)?, Vec::new())
        }
    };
    Ok(Opened { state, keys, lock })
}

type Loaded = (State, Vec<(ChunkKey, CollectionId)>);

/// The index at `path` with its keys, `None` when there is none.
fn load(path: &Path, config: &LexicalConfig) -> std::result::Result<Option<Loaded>, Unusable> {
    if !path.join("meta.json").exists() {
        return Ok(None);
    }
    let damaged = |e: tantivy::TantivyError| Unusable::Damaged(e.to_string());
    let directory = DerivedDirectory::open(path).map_err(|e| Unusable::Damaged(e.to_string()))?;
    let index = Index::open(directory).map_err(damaged)?;
    let tag = schema::settings_tag(&config.languages);
    let found = index.load_metas().map_err(damaged)?.payload;
    if found.as_deref() != Some(tag.as_str()) || index.schema() != schema::schema(&config.languages)
    {
        return Err(Unusable::Settings(format!(
            "built as {found:?}, wanted {tag:?}"
        )));
    }
    let bad = index.validate_checksum().map_err(damaged)?;
    if !bad.is_empty() {
        return Err(Unusable::Damaged(format!(
            "files failing their checksum: {bad:?}"
        )));
    }
    let fields = Fields::bind(&index, &config.languages).map_err(damaged)?;
    let state = State::new(&index, fields, tag, config.writer_memory_bytes).map_err(damaged)?;
    // Reads every segment's keys: a missing or truncated file fails here, not at a search.
    let keys = state.keys().map_err(|e| Unusable::Damaged(e.to_string()))?;
    Ok(Some((state, keys)))
}

/// An empty index at `path`, with its settings committed.
fn create(path: &Path, config: &LexicalConfig) -> Result<State> {
    fs::create_dir_all(path).map_err(|e| io_err("creating", path, &e))?;
    let directory = DerivedDirectory::open(path).map_err(tantivy_err)?;
    let index = Index::create(
        directory,
        schema::schema(&config.languages),
        IndexSettings::default(),
    )
    .map_err(tantivy_err)?;
    let fields = Fields::bind(&index, &config.languages).map_err(tantivy_err)?;
    let tag = schema::settings_tag(&config.languages);
    let state = State::new(&index, fields, tag, config.writer_memory_bytes).map_err(tantivy_err)?;
    state.commit()?;
    Ok(state)
}

fn recreate(path: &Path, config: &LexicalConfig) -> Result<State> {
    if path.exists() {
        fs::remove_dir_all(path).map_err(|e| io_err("removing", path, &e))?;
    }
    create(path, config)
}
