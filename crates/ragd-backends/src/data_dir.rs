//! One process owns a data directory at a time. ragd keeps the vector index in memory and saves
//! it as generations; two processes on one directory (a `ragd ingest` next to a running
//! `ragd serve`, two servers) would each keep their own index and overwrite each other's saves.
//! The owner holds an exclusive lock on `ragd.lock` (released by the kernel when the process
//! ends, even by `kill -9`), with its pid written in the file for the error message. Commands
//! that touch only the database (`ragd users`, `ragd keys`) do not take it: SQLite serialises
//! them with the server.

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

#[cfg(test)]
mod tests {
    use super::*;

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
