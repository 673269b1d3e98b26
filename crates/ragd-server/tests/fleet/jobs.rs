//! An ingestion job outlives the instance running it: `kill -9` it mid-job, and once the lease
//! (`RAGD_JOB_LEASE_SECS`) runs out another instance takes the job over from the staged files in
//! PostgreSQL and finishes it. At the end every file is stored exactly once, with the chunks an
//! uninterrupted ingestion gives it, and no vector of the killed attempt is left over.
//!
//! To know which instance runs the job, the other two are frozen (SIGSTOP) while it is uploaded
//! and started: the one left must claim it. They are thawed once it is dead.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::common::root;
use crate::fleet::Fleet;

/// The text documents of the corpus; file `i` of the upload is six of them, from the `i`-th on,
/// under a heading of its own: about 25 KB and 45 chunks, so that the job runs for seconds.
const TEXTS: [&str; 12] = [
    "chess-openings.txt",
    "composting.txt",
    "feijoada.txt",
    "floresta-amazonica.md",
    "honeybee-colonies.txt",
    "kubernetes-pod-scheduling.md",
    "lighthouses.txt",
    "marathon-training.md",
    "rust-borrow-checker.md",
    "sourdough-bread.md",
    "sqlite-wal-mode.md",
    "tides-and-moon.txt",
];

/// The upload: more files than `RAGD_SYNC_UPLOAD_FILES` (8), so a job.
fn batch() -> Vec<(String, String)> {
    let texts: Vec<String> = TEXTS
        .iter()
        .map(|name| {
            std::fs::read_to_string(root().join("tests/corpus/docs").join(name)).expect("corpus")
        })
        .collect();
    (0..texts.len())
        .map(|i| {
            let mut body = format!("# Fleet batch, part {i}\n\n");
            for text in texts.iter().cycle().skip(i).take(6) {
                body.push_str(text);
                body.push_str("\n\n");
            }
            (format!("batch-{i:02}.md"), body)
        })
        .collect()
}

fn form(files: &[(String, String)], collection: &str) -> Form {
    files.iter().fold(
        Form::new().text("collection", collection.to_owned()),
        |form, (name, body)| {
            form.part(
                "file",
                Part::bytes(body.clone().into_bytes()).file_name(name.clone()),
            )
        },
    )
}

/// Polls `GET base/jobs/{id}` every 100 ms until `done` says so (at most `within`).
async fn job_until(
    fleet: &Fleet,
    base: &str,
    token: &str,
    id: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let job = fleet.get_json(base, token, &format!("/jobs/{id}")).await;
        if done(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "job after {within:?}: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `chunk_count` by source of the documents of `collection`, asserting each source appears once.
async fn chunks_by_source(fleet: &Fleet, base: &str, token: &str, collection: &str) -> Value {
    let list = fleet
        .get_json(
            base,
            token,
            &format!("/documents?collection={collection}&limit=100"),
        )
        .await;
    let mut chunks = BTreeMap::new();
    for doc in list["documents"].as_array().expect("documents") {
        let source = doc["source"].as_str().expect("source").to_owned();
        let previous = chunks.insert(source.clone(), doc["chunk_count"].clone());
        assert!(previous.is_none(), "{source} stored twice in {collection}");
    }
    assert_eq!(list["total"], chunks.len(), "{list}");
    serde_json::to_value(chunks).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_instance_is_killed_is_finished_by_another() {
    let Some(mut fleet) = Fleet::start(&[("RAGD_JOB_LEASE_SECS", "3")]).await else {
        return;
    };
    let admin = fleet.token().await;
    let files = batch();
    let names: BTreeSet<String> = files.iter().map(|(n, _)| n.clone()).collect();

    fleet.nodes[1].signal("STOP");
    fleet.nodes[2].signal("STOP");
    let runner = fleet.nodes[0].base.clone();
    let r = fleet
        .client
        .post(format!("{runner}/documents"))
        .bearer_auth(&admin)
        .multipart(form(&files, "batch"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "an upload of 12 files is a job");
    let job: Value = r.json().await.unwrap();
    let id = job["job_id"].as_str().expect("job_id").to_owned();
    let started = job_until(&fleet, &runner, &admin, &id, Duration::from_secs(60), |j| {
        assert_ne!(
            j["status"], "succeeded",
            "done before the kill: make the files larger"
        );
        j["status"] == "running" && j["processed_files"].as_u64() >= Some(1)
    })
    .await;
    fleet.nodes[0].kill_9();
    let at_kill = started["processed_files"].as_u64().unwrap_or_default();
    assert!(at_kill < files.len() as u64, "{started}");
    let killed = Instant::now();
    fleet.nodes[1].signal("CONT");
    fleet.nodes[2].signal("CONT");
    eprintln!("ragd-1 killed with {at_kill} of {} files done", files.len());

    let other = fleet.nodes[1].base.clone();
    let done = job_until(&fleet, &other, &admin, &id, Duration::from_secs(180), |j| {
        j["status"] == "succeeded" || j["status"] == "failed"
    })
    .await;
    eprintln!(
        "taken over and finished {:?} after the kill",
        killed.elapsed()
    );
    for node in &fleet.nodes[1..] {
        if node.logs().contains(&id) {
            eprintln!("{} logged the job", node.name);
        }
    }
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["processed_files"], files.len(), "{done}");
    let results = done["files"].as_array().expect("files");
    let sources: BTreeSet<String> = results
        .iter()
        .map(|f| {
            assert!(
                f["status"] == "ingested" || f["status"] == "unchanged",
                "{f}"
            );
            assert!(f["document_id"].is_string(), "{f}");
            f["source"].as_str().expect("source").to_owned()
        })
        .collect();
    assert_eq!(sources, names, "{done}");

    // Every file once, with the chunks of an uninterrupted ingestion: the same files uploaded
    // again, synchronously (6 at a time), into another collection.
    let stored = chunks_by_source(&fleet, &fleet.nodes[2].base, &admin, "batch").await;
    for half in files.chunks(6) {
        let r = fleet
            .client
            .post(format!("{other}/documents"))
            .bearer_auth(&admin)
            .multipart(form(half, "reference"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "a reference upload of 6 files");
    }
    let reference = chunks_by_source(&fleet, &other, &admin, "reference").await;
    assert_eq!(
        stored, reference,
        "chunk counts: the job's against a clean ingestion"
    );
    for f in results.iter().filter(|f| f["status"] == "ingested") {
        let source = f["source"].as_str().expect("source");
        assert_eq!(f["chunks"], reference[source], "{f}");
    }
    // No vector of the killed attempt left behind.
    let stats = fleet.get_json(&other, &admin, "/stats").await;
    let total: u64 = reference
        .as_object()
        .expect("map")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(stats["documents_count"], 2 * files.len(), "{stats}");
    assert_eq!(stats["vectors_count"], 2 * total, "{stats}");
}
