//! The CLI as a user runs it: ingest a directory with a broken file in it, query, list, show,
//! delete; unchanged files are skipped on the second run.

use crate::helpers::{json, ragd, root, run};

#[test]
fn ingest_query_list_show_delete() {
    let data = tempfile::tempdir().expect("tempdir");
    let docs = tempfile::tempdir().expect("tempdir");
    for name in [
        "sourdough-bread.md",
        "volcano-types.html",
        "roman-aqueducts.pdf",
        "origami.docx",
        "tides-and-moon.txt",
    ] {
        std::fs::copy(
            root().join("tests/corpus/docs").join(name),
            docs.path().join(name),
        )
        .expect("copy");
    }
    std::fs::copy(
        root().join("tests/corpus-bad/latin1.txt"),
        docs.path().join("latin1.txt"),
    )
    .expect("copy");
    std::fs::write(docs.path().join("ignored.bin"), b"\x00\x01").expect("write");

    let out = run(ragd(data.path()).arg("ingest").arg(docs.path()).args([
        "--json",
        "--metadata",
        "team=docs",
    ]));
    assert!(
        !out.status.success(),
        "a failed file makes the exit code non-zero"
    );
    let summary = json(&out);
    assert_eq!(summary["ingested"], 5, "{summary}");
    assert_eq!(summary["failed"], 1, "{summary}");
    let failed = summary["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["status"] == "failed")
        .expect("failure");
    assert!(
        failed["error"]
            .as_str()
            .expect("error")
            .contains("latin1.txt"),
        "{failed}"
    );
    assert!(summary["chunks"].as_u64().expect("chunks") >= 5);

    let again = json(&run(ragd(data.path())
        .arg("ingest")
        .arg(docs.path().join("origami.docx"))
        .arg("--json")));
    assert_eq!(again["unchanged"], 1, "{again}");

    let out = run(ragd(data.path()).args([
        "query",
        "How did the Romans keep water flowing downhill over long distances?",
        "--json",
        "--threshold",
        "0.5",
    ]));
    assert!(out.status.success());
    let response = json(&out);
    for field in [
        "request_id",
        "query",
        "answer",
        "sources",
        "confidence",
        "processing_time",
        "timestamp",
        "guardrails_triggered",
    ] {
        assert!(response.get(field).is_some(), "missing {field}: {response}");
    }
    let first = &response["sources"][0];
    assert!(
        first["metadata"]["source"]
            .as_str()
            .expect("source")
            .ends_with("roman-aqueducts.pdf"),
        "{response}"
    );
    assert!(first["metadata"]["page"].as_u64().is_some());
    assert_eq!(first["metadata"]["team"], "docs");
    assert!(response["answer"].as_str().expect("answer").contains("[1]"));

    let list = json(&run(ragd(data.path()).args([
        "documents",
        "list",
        "--json",
    ])));
    assert_eq!(list["total"], 5);
    let id = list["documents"][0]["id"].as_str().expect("id").to_owned();
    let shown = json(&run(ragd(data.path()).args([
        "documents",
        "show",
        &id,
        "--chunks",
        "--json",
    ])));
    assert_eq!(shown["document"]["id"], id.as_str());
    assert!(!shown["chunks"].as_array().expect("chunks").is_empty());
    assert!(
        run(ragd(data.path()).args(["documents", "delete", &id]))
            .status
            .success()
    );
    let list = json(&run(ragd(data.path()).args([
        "documents",
        "list",
        "--json",
    ])));
    assert_eq!(list["total"], 4);
    let missing = run(ragd(data.path()).args(["documents", "show", &id]));
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));
}

#[test]
fn bad_settings_are_named() {
    let data = tempfile::tempdir().expect("tempdir");
    let out = run(ragd(data.path()).args(["--chunk-tokens", "999", "documents", "list"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RAGD_CHUNK_TOKENS"));
    let out = run(ragd(data.path())
        .env("EMBEDDINGS_MODEL", "org/not-a-model")
        .args(["documents", "list"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("EMBEDDINGS_MODEL"));
}

#[test]
fn a_huge_file_is_refused_by_its_size_before_it_is_read() {
    let data = tempfile::tempdir().expect("tempdir");
    let docs = tempfile::tempdir().expect("tempdir");
    let huge = docs.path().join("huge-sparse.txt");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(1 << 30))
        .expect("a sparse 1 GiB file");
    let started = std::time::Instant::now();
    let out = run(ragd(data.path()).arg("ingest").arg(&huge).arg("--json"));
    assert!(!out.status.success(), "the file fails");
    let summary = json(&out);
    let error = summary["files"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("over the limit"), "{summary}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "refused without reading 1 GiB"
    );
}
