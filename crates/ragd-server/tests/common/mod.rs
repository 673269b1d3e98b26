//! What both test binaries (`cli`, `api`) need: the repository root and a `ragd` command on a
//! data dir with the model from `make model`, run from the data dir so that a developer's `.env`
//! in the repository (which `ragd` would find in a parent directory) cannot change what is tested.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A `ragd` command on `data_dir`, with the model from `make model`.
pub(crate) fn ragd_command(data_dir: &Path) -> Command {
    let models = root().join("models");
    assert!(
        models.join("all-MiniLM-L6-v2/tokenizer.json").is_file(),
        "run `make model` first"
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ragd"));
    cmd.current_dir(data_dir)
        .env("RAGD_DATA_DIR", data_dir)
        .env("RAGD_MODELS_DIR", models)
        .env("RAGD_EMBED_THREADS", "2")
        .env_remove("EMBEDDINGS_MODEL")
        .env_remove("RUST_LOG");
    cmd
}
