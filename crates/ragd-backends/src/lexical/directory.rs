//! The directory tantivy writes through: its memory-mapped directory, without the fsyncs that a
//! derived index does not need.
//!
//! Tantivy syncs every file of a new segment and rewrites `.managed.json` (its list of files to
//! garbage-collect) with an fsync per file: eight or more fsyncs per commit, 80–110 ms for a
//! 20-chunk document on this machine's disk against 35–40 ms without them. Here only `meta.json`
//! (which segments are live, written atomically) stays durable. A process crash loses nothing,
//! the page cache keeps what was written. A power loss may leave `meta.json` naming segment
//! files whose content never reached the disk: their checksums fail at the next open, and the
//! index is rebuilt from the store, which is the source of truth. A lost `.managed.json` entry
//! only leaves an orphan file behind.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::directory::error::{
    DeleteError, LockError, OpenDirectoryError, OpenReadError, OpenWriteError,
};
use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, TerminatingWrite,
    WatchCallback, WatchHandle, WritePtr,
};

/// [`MmapDirectory`] with durable commits but unsynced segment files (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct DerivedDirectory {
    inner: MmapDirectory,
    root: PathBuf,
}

impl DerivedDirectory {
    /// The directory at `root`, which must exist.
    pub(crate) fn open(root: &Path) -> Result<Self, OpenDirectoryError> {
        Ok(Self {
            inner: MmapDirectory::open(root)?,
            root: root.to_path_buf(),
        })
    }
}

/// A new file, flushed but not synced when tantivy closes it.
struct UnsyncedFile(File);

impl Write for UnsyncedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl TerminatingWrite for UnsyncedFile {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        self.0.flush()
    }
}

impl Directory for DerivedDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.root.join(path))
            .map_err(|err| {
                if err.kind() == io::ErrorKind::AlreadyExists {
                    OpenWriteError::FileAlreadyExists(path.to_path_buf())
                } else {
                    OpenWriteError::wrap_io_error(err, path.to_path_buf())
                }
            })?;
        Ok(BufWriter::new(Box::new(UnsyncedFile(file))))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        if path != Path::new(".managed.json") {
            return self.inner.atomic_write(path, data);
        }
        // Still atomic (a rename), not synced. Tantivy serialises these writes.
        let temp = self.root.join(".managed.json.tmp");
        std::fs::write(&temp, data)?;
        std::fs::rename(temp, self.root.join(path))
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.inner.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(callback)
    }
}
