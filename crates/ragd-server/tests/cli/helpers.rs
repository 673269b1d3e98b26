//! Running the `ragd` binary against a temporary data dir.

use std::path::Path;
use std::process::{Command, Output};

pub(crate) use crate::common::root;

/// A `ragd` command on `data_dir`, with the model from `make model`.
pub(crate) fn ragd(data_dir: &Path) -> Command {
    crate::common::ragd_command(data_dir)
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
