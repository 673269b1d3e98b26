//! One process owns a data directory at a time. ragd keeps the vector index in memory and saves
//! it as generations; two processes on one directory (a `ragd ingest` next to a running
//! `ragd serve`, two servers) would each keep their own index and overwrite each other's saves.
//! The owner holds an exclusive lock on `ragd.lock` (released by the kernel when the process
//! ends, even by `kill -9`), with its pid written in the file for the error message. Commands
//! that touch only the database (`ragd users`, `ragd keys`) do not take it: SQLite serialises
//! them with the server.
//!
//! A data dir also records which embedding model made its vectors ([`check_embedding_model`],
//! the file `embedding-model`): vectors of two models cannot be compared, and both of ragd's
//! models give 384 numbers, so nothing else would notice a switch. Opening it with another
//! model is refused; to switch, ingest the documents again into a new data dir. `ragd backup`
//! does not copy the record: a backup restored into a new data dir counts as all-MiniLM-L6-v2's
//! until the model's id is written into the file.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use ragd_core::{Error, Result};

/// The exclusive claim on a data directory; released on drop.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock, or fails naming the process that holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let io = |what: &str, e: std::io::Error| {
            Error::Unavailable(format!("{what} {}: {e}", dir.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create data dir", e))?;
        let path = dir.join("ragd.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io("cannot open the lock file in", e))?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)
                    .and_then(|()| file.rewind())
                    .and_then(|()| writeln!(file, "{}", std::process::id()))
                    .map_err(|e| io("cannot write the lock file in", e))?;
                Ok(Self { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => String::new(),
                    pid => format!(" (pid {pid})"),
                };
                Err(Error::Unavailable(format!(
                    "the data directory {} is in use by another ragd process{holder}: stop it \
                     first, or send the work to that server's HTTP API",
                    dir.display()
                )))
            }
            Err(TryLockError::Error(e)) => Err(io("cannot lock", e)),
        }
    }
}

/// The file in a data dir naming the embedding model of its vectors.
pub const MODEL_RECORD: &str = "embedding-model";

/// Checks that the vectors in `dir` are `model_id`'s, and records `model_id` there when the
/// store holds no documents yet (`holds_documents` false). A store with documents and no record
/// was filled before ragd kept one, when it embedded with all-MiniLM-L6-v2 only.
pub fn check_embedding_model(dir: &Path, model_id: &str, holds_documents: bool) -> Result<()> {
    let path = dir.join(MODEL_RECORD);
    let recorded = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Error::Unavailable(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    if holds_documents {
        let made_by = recorded
            .as_deref()
            .unwrap_or(crate::embed::model::MINILM_ID);
        if made_by != model_id {
            return Err(Error::Conflict(format!(
                "the data directory {} holds vectors of the embedding model {made_by}, and \
                 EMBEDDINGS_MODEL is {model_id}: vectors of two models cannot be compared. Set \
                 EMBEDDINGS_MODEL={made_by}, or use another RAGD_DATA_DIR for {model_id} and \
                 ingest the documents there again (if these vectors are {model_id}'s, write that \
                 id into {})",
                dir.display(),
                path.display()
            )));
        }
    }
    if recorded.as_deref() == Some(model_id) {
        return Ok(());
    }
    // Written aside and renamed: a crash never leaves half an id.
    let partial = dir.join(format!("{MODEL_RECORD}.partial"));
    std::fs::write(&partial, format!("{model_id}\n"))
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|e| Error::Unavailable(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_vectors_of_another_model() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (minilm, e5) = (
            crate::embed::model::MINILM_ID,
            crate::embed::model::E5_SMALL_ID,
        );
        // Empty: whatever model comes first is recorded, and may still change.
        check_embedding_model(dir.path(), e5, false).expect("first");
        check_embedding_model(dir.path(), minilm, false).expect("still empty");
        check_embedding_model(dir.path(), minilm, true).expect("same model");
        let err = check_embedding_model(dir.path(), e5, true).expect_err("other model");
        let msg = err.to_string();
        assert!(
            matches!(err, Error::Conflict(_))
                && msg.contains(minilm)
                && msg.contains("EMBEDDINGS_MODEL")
                && msg.contains("RAGD_DATA_DIR"),
            "{msg}"
        );
        // Filled before records were kept: all-MiniLM-L6-v2's.
        let old = tempfile::tempdir().expect("tempdir");
        assert!(check_embedding_model(old.path(), e5, true).is_err());
        check_embedding_model(old.path(), minilm, true).expect("presumed");
        let recorded = std::fs::read_to_string(old.path().join(MODEL_RECORD)).expect("record");
        assert_eq!(recorded.trim(), minilm);
    }

    #[test]
    fn one_owner_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DataDirLock::acquire(dir.path()).expect("first");
        let err = DataDirLock::acquire(dir.path()).expect_err("second");
        let msg = err.to_string();
        assert!(
            msg.contains("in use") && msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        DataDirLock::acquire(dir.path()).expect("free again");
    }
}
