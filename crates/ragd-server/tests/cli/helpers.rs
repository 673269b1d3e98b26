//! Running the `ragd` binary against a temporary data dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A `ragd` command on `data_dir`, with the model from `make model`.
pub(crate) fn ragd(data_dir: &Path) -> Command {
    let models = root().join("models");
    assert!(
        models.join("all-MiniLM-L6-v2/tokenizer.json").is_file(),
        "run `make model` first"
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ragd"));
    cmd.env("RAGD_DATA_DIR", data_dir)
        .env("RAGD_MODELS_DIR", models)
        .env("RAGD_EMBED_THREADS", "2")
        .env_remove("EMBEDDINGS_MODEL")
        .env_remove("RUST_LOG");
    cmd
}

pub(crate) fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("ragd runs");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

pub(crate) fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// `ragd check --json`, asserting consistency.
pub(crate) fn assert_consistent(data_dir: &Path) -> serde_json::Value {
    let out = run(ragd(data_dir).args(["check", "--json"]));
    let report = json(&out);
    assert!(
        out.status.success() && report["ok"] == true,
        "inconsistent after crash: {report}"
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.contains("unreadable"),
        "the saved index was damaged: {log}"
    );
    report
}
