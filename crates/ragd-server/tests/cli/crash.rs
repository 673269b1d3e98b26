//! `kill -9` at arbitrary points of an ingest never leaves half a document visible and never
//! corrupts the index: after every kill, `ragd check` finds documents, chunks and vectors in
//! agreement, and a final run completes the ingest.

use std::time::Duration;

use crate::helpers::{assert_consistent, json, ragd, run};

const WORDS: &[&str] = &[
    "river", "mountain", "engine", "harvest", "signal", "garden", "copper", "lantern", "orbit",
    "meadow", "circuit", "harbor", "glacier", "pepper", "canyon", "violin", "marble", "thunder",
];

fn write_corpus(dir: &std::path::Path, files: usize) {
    let mut seed = 42u64;
    for f in 0..files {
        let mut text = format!("# Report {f}\n\n");
        for w in 0..500 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            text.push_str(WORDS[(seed >> 33) as usize % WORDS.len()]);
            text.push(if w % 12 == 11 { '.' } else { ' ' });
        }
        std::fs::write(dir.join(format!("report-{f:03}.md")), text).expect("write");
    }
}

#[test]
fn kill_dash_nine_during_ingest_never_corrupts() {
    let data = tempfile::tempdir().expect("tempdir");
    let docs = tempfile::tempdir().expect("tempdir");
    let files = 120;
    write_corpus(docs.path(), files);
    for delay_ms in [50u64, 700, 1300, 2100, 2900, 4100] {
        let mut child = ragd(data.path())
            .arg("ingest")
            .arg(docs.path())
            .arg("--quiet")
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        assert_consistent(data.path());
    }
    let out = run(ragd(data.path())
        .arg("ingest")
        .arg(docs.path())
        .args(["--json", "--quiet"]));
    assert!(out.status.success());
    let summary = json(&out);
    assert_eq!(summary["failed"], 0);
    assert_eq!(
        summary["ingested"].as_u64().expect("n") + summary["unchanged"].as_u64().expect("n"),
        files as u64
    );
    let report = assert_consistent(data.path());
    assert_eq!(report["documents"], files);
}
