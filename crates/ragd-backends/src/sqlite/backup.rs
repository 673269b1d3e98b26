//! `ragd backup` / `ragd restore` for the embedded store: a consistent copy of a data dir, taken
//! while a server runs.
//!
//! The database is copied with `VACUUM INTO`, which reads one snapshot (a transaction) and
//! writes a compact new file: every document in it is whole, however many writes run meanwhile.
//! The vector index is derived from the database, so its copy need not match it exactly: the
//! live generation is copied when it holds still long enough (generations are written once and
//! switched by renaming `CURRENT`), and at restore the index is reconciled with the restored
//! database like after any crash — or rebuilt from it, when no index was copied.

use std::path::{Path, PathBuf};

use ragd_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::sqlite::{SqliteStore, db_err};

/// The file a backup describes itself in.
pub const MANIFEST: &str = "ragd-backup.json";

/// What a backup holds, written beside it and checked at restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The ragd version that wrote it.
    pub version: String,
    /// When it was taken.
    pub taken_at: chrono::DateTime<chrono::Utc>,
    /// Documents in the copied database.
    pub documents: u64,
    /// Chunks (each with its vector) in the copied database.
    pub chunks: u64,
    /// Whether an index generation was copied too (else restore rebuilds it).
    pub index: bool,
}

fn io(what: &str, path: &Path, err: &std::io::Error) -> Error {
    Error::Unavailable(format!("{what} {}: {err}", path.display()))
}

/// Copies the data dir `data_dir` (its database and, when it holds still, its index) into the
/// new or empty directory `to`.
pub async fn backup(data_dir: &Path, to: &Path) -> Result<Manifest> {
    let db = data_dir.join("ragd.db");
    if !db.is_file() {
        return Err(Error::invalid(format!("no database at {}", db.display())));
    }
    if to.exists()
        && std::fs::read_dir(to)
            .map_err(|e| io("reading", to, &e))?
            .next()
            .is_some()
    {
        return Err(Error::invalid(format!(
            "{} is not empty: back up into a new directory",
            to.display()
        )));
    }
    std::fs::create_dir_all(to).map_err(|e| io("creating", to, &e))?;
    let store = SqliteStore::open(&db).await?;
    let copy = to.join("ragd.db");
    sqlx::query("VACUUM INTO ?")
        .bind(copy.to_string_lossy().into_owned())
        .execute(&store.pool)
        .await
        .map_err(db_err)?;
    store.pool.close().await;
    let index = copy_index(&data_dir.join("index"), &to.join("index"))?;
    let copied = SqliteStore::open(&copy).await?;
    let manifest = Manifest {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        taken_at: chrono::Utc::now(),
        documents: copied.count_documents(None).await?,
        chunks: copied.chunk_keys().await?.len() as u64,
        index,
    };
    copied.pool.close().await;
    let json = serde_json::to_vec_pretty(&manifest).map_err(Error::internal)?;
    std::fs::write(to.join(MANIFEST), json).map_err(|e| io("writing", to, &e))?;
    Ok(manifest)
}

/// Copies the live index generation, retrying when a save switches generations meanwhile;
/// `false` when there is none or it kept moving (the restore then rebuilds the index).
fn copy_index(from: &Path, to: &Path) -> Result<bool> {
    let current = from.join("CURRENT");
    for _ in 0..3 {
        let Ok(name) = std::fs::read_to_string(&current) else {
            return Ok(false);
        };
        let name = name.trim().to_owned();
        let generation = from.join(&name);
        let target = to.join(&name);
        let copied = copy_files(&generation, &target);
        let still = std::fs::read_to_string(&current).is_ok_and(|n| n.trim() == name);
        if copied.is_ok() && still {
            std::fs::write(to.join("CURRENT"), format!("{name}\n"))
                .map_err(|e| io("writing", to, &e))?;
            return Ok(true);
        }
        let _ = std::fs::remove_dir_all(&target);
    }
    Ok(false)
}

fn copy_files(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Puts the backup in `from` into the data dir `data_dir`, which must hold no database unless
/// `replace` is set (then its database and index are replaced). The caller holds the data dir's
/// lock. Returns the backup's manifest; the caller opens the data dir to reconcile the index and
/// checks the counts against it.
pub fn restore(from: &Path, data_dir: &Path, replace: bool) -> Result<Manifest> {
    let manifest: Manifest = {
        let path = from.join(MANIFEST);
        let text = std::fs::read(&path)
            .map_err(|e| Error::invalid(format!("{} is not a ragd backup: {e}", path.display())))?;
        serde_json::from_slice(&text)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?
    };
    let db = data_dir.join("ragd.db");
    if db.exists() && !replace {
        return Err(Error::Conflict(format!(
            "{} already has a database: restore into an empty data dir, or pass --replace",
            data_dir.display()
        )));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| io("creating", data_dir, &e))?;
    for stale in ["ragd.db", "ragd.db-wal", "ragd.db-shm"] {
        let path = data_dir.join(stale);
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| io("removing", &path, &e))?;
        }
    }
    let index: PathBuf = data_dir.join("index");
    if index.exists() {
        std::fs::remove_dir_all(&index).map_err(|e| io("removing", &index, &e))?;
    }
    // Copied under a temporary name and renamed: a crash never leaves half a database.
    let partial = data_dir.join("ragd.db.restoring");
    std::fs::copy(from.join("ragd.db"), &partial).map_err(|e| io("copying", &partial, &e))?;
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("syncing", &partial, &e))?;
    std::fs::rename(&partial, &db).map_err(|e| io("renaming", &partial, &e))?;
    if manifest.index {
        let name = std::fs::read_to_string(from.join("index/CURRENT"))
            .map_err(|e| io("reading", from, &e))?;
        let name = name.trim();
        copy_files(&from.join("index").join(name), &index.join(name))
            .map_err(|e| io("copying the index into", &index, &e))?;
        std::fs::write(index.join("CURRENT"), format!("{name}\n"))
            .map_err(|e| io("writing", &index, &e))?;
    }
    Ok(manifest)
}
