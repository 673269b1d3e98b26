//! On-disk generations of the embedded index.
//!
//! Layout: `DIR/CURRENT` names the live generation (`gen-N`); `DIR/gen-N/vectors.usearch` is the
//! graph and `DIR/gen-N/keys.bin` maps each key to its collection. A save writes `gen-(N+1)`
//! completely (fsynced), then replaces `CURRENT` by an atomic rename, then removes older
//! generations: a crash at any point leaves a complete generation named by `CURRENT`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;

use ragd_core::types::{ChunkKey, CollectionId};
use ragd_core::{Error, Result};
use sha2::{Digest, Sha256};
use usearch::{Index, IndexOptions};

use crate::embedded_index::EmbeddedIndexConfig;

const MAGIC: &[u8; 8] = b"RAGDKEY1";

fn io_err(what: &str, path: &Path, err: &std::io::Error) -> Error {
    Error::internal(format!("{what} {}: {err}", path.display()))
}

fn current_generation(dir: &Path) -> Result<Option<u64>> {
    let path = dir.join("CURRENT");
    match fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .strip_prefix("gen-")
            .and_then(|n| n.parse().ok())
            .map(Some)
            .ok_or_else(|| Error::internal(format!("{} is malformed", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("reading", &path, &e)),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("syncing", dir, &e))
}

/// Writes a new generation and makes it current.
pub(crate) fn save(
    dir: &Path,
    index: &Index,
    keys: &HashMap<ChunkKey, CollectionId>,
) -> Result<()> {
    let next = current_generation(dir).ok().flatten().unwrap_or(0) + 1;
    let gen_dir = dir.join(format!("gen-{next}"));
    if gen_dir.exists() {
        fs::remove_dir_all(&gen_dir).map_err(|e| io_err("clearing", &gen_dir, &e))?;
    }
    fs::create_dir_all(&gen_dir).map_err(|e| io_err("creating", &gen_dir, &e))?;

    let vectors = gen_dir.join("vectors.usearch");
    let vectors_str = vectors
        .to_str()
        .ok_or_else(|| Error::internal("index path is not UTF-8"))?;
    index
        .save(vectors_str)
        .map_err(|e| Error::internal(format!("saving vector index: {e}")))?;
    File::open(&vectors)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err("syncing", &vectors, &e))?;

    let mut body = Vec::with_capacity(keys.len() * 12);
    let mut sorted: Vec<_> = keys.iter().collect();
    sorted.sort_unstable();
    for (key, coll) in sorted {
        body.extend_from_slice(&key.to_le_bytes());
        body.extend_from_slice(&coll.to_le_bytes());
    }
    let keys_path = gen_dir.join("keys.bin");
    let mut file = File::create(&keys_path).map_err(|e| io_err("creating", &keys_path, &e))?;
    file.write_all(MAGIC)
        .and_then(|()| file.write_all(&Sha256::digest(&body)))
        .and_then(|()| file.write_all(&body))
        .and_then(|()| file.sync_all())
        .map_err(|e| io_err("writing", &keys_path, &e))?;
    sync_dir(&gen_dir)?;

    let tmp = dir.join("CURRENT.tmp");
    fs::write(&tmp, format!("gen-{next}\n"))
        .and_then(|()| File::open(&tmp)?.sync_all())
        .map_err(|e| io_err("writing", &tmp, &e))?;
    fs::rename(&tmp, dir.join("CURRENT")).map_err(|e| io_err("renaming", &tmp, &e))?;
    sync_dir(dir)?;

    for entry in fs::read_dir(dir)
        .map_err(|e| io_err("listing", dir, &e))?
        .flatten()
    {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let old = name
            .strip_prefix("gen-")
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n != next);
        if old {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// A loaded generation: the graph and the collection of every key.
pub(crate) type Loaded = (Index, Vec<(ChunkKey, CollectionId)>);

/// Loads the current generation, or `None` when there is none yet.
pub(crate) fn load(config: &EmbeddedIndexConfig) -> Result<Option<Loaded>> {
    let Some(generation) = current_generation(&config.dir)? else {
        return Ok(None);
    };
    let gen_dir = config.dir.join(format!("gen-{generation}"));
    let keys_path = gen_dir.join("keys.bin");
    let mut raw = Vec::new();
    File::open(&keys_path)
        .and_then(|mut f| f.read_to_end(&mut raw))
        .map_err(|e| io_err("reading", &keys_path, &e))?;
    if raw.len() < 40
        || &raw[..8] != MAGIC
        || raw[8..40] != Sha256::digest(&raw[40..])[..]
        || (raw.len() - 40) % 12 != 0
    {
        return Err(Error::internal(format!(
            "{} is corrupt",
            keys_path.display()
        )));
    }
    let keys: Vec<(ChunkKey, CollectionId)> = raw[40..]
        .chunks_exact(12)
        .map(|r| {
            let key = u64::from_le_bytes([r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]);
            (key, u32::from_le_bytes([r[8], r[9], r[10], r[11]]))
        })
        .collect();

    let vectors = gen_dir.join("vectors.usearch");
    let vectors_str = vectors
        .to_str()
        .ok_or_else(|| Error::internal("index path is not UTF-8"))?;
    let meta = Index::metadata(vectors_str)
        .map_err(|e| Error::internal(format!("reading {vectors_str}: {e}")))?;
    if usize::try_from(meta.dimensions).ok() != Some(config.dimensions) {
        return Err(Error::internal(format!(
            "{vectors_str} has {} dimensions, the model has {}",
            meta.dimensions, config.dimensions
        )));
    }
    if meta.quantization != config.precision.scalar_kind() {
        return Err(Error::internal(format!(
            "{vectors_str} stores {:?} vectors, {:?} are configured",
            meta.quantization,
            config.precision.scalar_kind()
        )));
    }
    let options = IndexOptions {
        dimensions: config.dimensions,
        metric: meta.metric,
        quantization: meta.quantization,
        connectivity: config.connectivity,
        expansion_add: config.expansion_add,
        expansion_search: config.expansion_search,
        multi: false,
    };
    let index = Index::new(&options).map_err(|e| Error::internal(format!("vector index: {e}")))?;
    index
        .load(vectors_str)
        .map_err(|e| Error::internal(format!("loading {vectors_str}: {e}")))?;
    index.change_expansion_search(config.expansion_search);
    if index.size() != keys.len() || keys.iter().any(|(k, _)| !index.contains(*k)) {
        return Err(Error::internal(format!(
            "{} does not match its key map",
            gen_dir.display()
        )));
    }
    let threads = config.build_threads.max(1);
    index
        .reserve_capacity_and_threads(
            index.size().max(1024),
            threads.max(crate::embedded_index::state::SEARCH_THREADS),
        )
        .map_err(|e| Error::internal(format!("vector index: {e}")))?;
    Ok(Some((index, keys)))
}
