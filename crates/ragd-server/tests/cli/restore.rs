//! A database restored beside a newer vector index: the index's keys were reused by the
//! restored database for another tenant's chunks. No search may return them across tenants,
//! `ragd check` must be clean after the index is reconciled, and `--repair` rebuilds it.

use std::path::Path;

use crate::helpers::{assert_consistent, json, ragd, root, run};

fn ingest(data: &Path, file: &str, tenant: &str) {
    let out = run(ragd(data)
        .arg("ingest")
        .arg(root().join("tests/corpus/docs").join(file))
        .args(["--tenant", tenant, "--json"]));
    assert!(out.status.success(), "ingest {file}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn a_restored_database_beside_a_newer_index_never_leaks_across_tenants() {
    if crate::common::on_postgres() {
        // Only the SQLite mode has a derived index beside its database file; PostgreSQL
        // searches its own rows (this test has run in the SQLite pass of `make test`).
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    let backup = tempfile::tempdir().expect("tempdir");
    let d = data.path();
    ingest(d, "sourdough-bread.md", "tenant-a");
    ingest(d, "origami.docx", "tenant-b");
    std::fs::copy(d.join("ragd.db"), backup.path().join("ragd.db")).expect("backup");
    // Tenant b's volcanoes get the next keys; keep that index. (With RAGD_TEST_STORE=chroma
    // the vectors are in a Chroma collection, which simply stays the newer one.)
    let chroma = crate::common::on_chroma();
    ingest(d, "volcano-types.html", "tenant-b");
    if !chroma {
        copy_dir(&d.join("index"), &backup.path().join("index-b"));
    }
    // Restore the database: the volcano keys are free again, and tenant a's next document
    // takes them. Then put the newer index back beside it.
    std::fs::copy(backup.path().join("ragd.db"), d.join("ragd.db")).expect("restore");
    for wal in ["ragd.db-wal", "ragd.db-shm"] {
        let _ = std::fs::remove_file(d.join(wal));
    }
    ingest(d, "tides-and-moon.txt", "tenant-a");
    if !chroma {
        std::fs::remove_dir_all(d.join("index")).expect("rm index");
        copy_dir(&backup.path().join("index-b"), &d.join("index"));
    }

    let out = run(ragd(d)
        .args(["query", "What kinds of volcanoes are there?", "--json"])
        .args(["--tenant", "tenant-b", "--threshold", "0"]));
    let answer = json(&out);
    assert!(
        !answer["sources"].as_array().expect("sources").is_empty(),
        "tenant b finds its own document: {answer}"
    );
    assert!(
        !answer.to_string().contains("tides-and-moon"),
        "tenant b sees nothing of tenant a: {answer}"
    );
    let report = assert_consistent(d);
    assert_eq!(report["extra_vectors"], 0, "{report}");
    let out = run(ragd(d).args(["check", "--repair", "--json"]));
    assert!(out.status.success());
    assert_eq!(json(&out)["ok"], true);
    let out = run(ragd(d)
        .args(["query", "How long does the tide take?", "--json"])
        .args(["--tenant", "tenant-a", "--threshold", "0"]));
    assert!(
        !json(&out)["sources"]
            .as_array()
            .expect("sources")
            .is_empty(),
        "tenant a still finds its own documents"
    );
}
