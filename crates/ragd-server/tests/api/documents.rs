//! Document management over HTTP: multipart and JSON uploads, list/get/delete, large uploads as
//! jobs with progress and per-file errors, upload limits, `/search`, `/stats`, `/metrics`.

use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body, root};

fn file_part(dir: &str, name: &str) -> Part {
    let bytes = std::fs::read(root().join(dir).join(name)).expect("fixture");
    Part::bytes(bytes).file_name(name.to_owned())
}

#[tokio::test]
async fn upload_list_get_search_delete() {
    let app = TestApp::spawn().await;
    let token = app.token().await;
    let summary = app
        .upload(
            &token,
            &["photosynthesis.pdf", "origami.docx", "volcano-types.html"],
        )
        .await;
    assert_eq!(summary["ingested"], 3, "{summary}");
    // The same bytes again: unchanged.
    let again = app.upload(&token, &["origami.docx"]).await;
    assert_eq!(again["unchanged"], 1, "{again}");

    // A JSON text into another collection.
    let r = app.client.post(app.url("/documents")).bearer_auth(&token)
        .json(&json!({"content": "# Lunar tides\n\nSpring tides happen at new and full moon.", "metadata": {"source": "notes/tides.md", "team": "ocean"}, "collection": "notes"}))
        .send().await.unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let note_id = created["files"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let list: Value = app
        .client
        .get(app.url("/documents?limit=2"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 4);
    assert_eq!(list["documents"].as_array().unwrap().len(), 2);
    let notes: Value = app
        .client
        .get(app.url("/documents?collection=notes"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(notes["total"], 1);
    assert_eq!(notes["documents"][0]["source"], "tides.md");
    assert_eq!(notes["documents"][0]["metadata"]["team"], "ocean");
    let r = app
        .client
        .get(app.url("/documents?limit=0"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    error_body(r, 422, "validation_error").await;

    let doc: Value = app
        .client
        .get(app.url(&format!("/documents/{note_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["collection"], "notes");
    assert!(doc["chunk_count"].as_u64().unwrap() >= 1);

    let found: Value = app.client.post(app.url("/search")).bearer_auth(&token)
        .json(&json!({"query": "How do plants turn light into chemical energy?", "max_results": 3, "threshold": 0.3}))
        .send().await.unwrap().json().await.unwrap();
    assert_eq!(
        found["sources"][0]["metadata"]["source"], "photosynthesis.pdf",
        "{found}"
    );
    assert!(found.get("answer").is_none());

    let stats: Value = app
        .client
        .get(app.url("/stats"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["documents_count"], 4);
    assert_eq!(
        stats["embeddings_model"],
        "sentence-transformers/all-MiniLM-L6-v2"
    );
    assert!(stats["uptime"].as_f64().unwrap() > 0.0);

    let r = app
        .client
        .delete(app.url(&format!("/documents/{note_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = app
        .client
        .get(app.url(&format!("/documents/{note_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    error_body(r, 404, "not_found").await;
    let r = app
        .client
        .delete(app.url(&format!("/documents/{note_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    error_body(r, 404, "not_found").await;
    let r = app
        .client
        .get(app.url("/documents/not-a-uuid"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    error_body(r, 404, "not_found").await;

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "rag_requests_total",
        "rag_request_duration_seconds",
        "rag_active_requests",
        "rag_documents_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert!(
        metrics.contains(r#"rag_requests_total{method="POST",endpoint="/documents",status="200"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("rag_documents_total 3"), "{metrics}");
}

#[tokio::test]
async fn large_uploads_run_as_jobs_with_per_file_errors() {
    let app = TestApp::spawn_with(&[("RAGD_SYNC_UPLOAD_FILES", "2")]).await;
    let token = app.token().await;
    let form = Form::new()
        .part("file", file_part("tests/corpus/docs", "composting.txt"))
        .part("file", file_part("tests/corpus-bad", "corrupt.pdf"))
        .part("file", file_part("tests/corpus/docs", "lighthouses.txt"))
        .text("metadata", r#"{"batch": "b1"}"#);
    let r = app
        .client
        .post(app.url("/documents"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let job: Value = r.json().await.unwrap();
    assert_eq!(
        location,
        format!("/jobs/{}", job["job_id"].as_str().unwrap())
    );
    assert_eq!(job["total_files"], 3);

    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let job: Value = app
            .client
            .get(app.url(&location))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] == "succeeded" || job["status"] == "failed" {
            break job;
        }
        assert!(Instant::now() < deadline, "job stuck: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["processed_files"], 3);
    assert_eq!(done["progress"], 1.0);
    let files = done["files"].as_array().unwrap();
    assert_eq!(files[0]["status"], "ingested");
    assert_eq!(files[1]["status"], "failed");
    assert!(
        files[1]["error"].as_str().unwrap().contains("corrupt.pdf"),
        "{done}"
    );
    assert_eq!(files[2]["status"], "ingested");
    let staged = std::fs::read_dir(app.data.path().join("uploads"))
        .unwrap()
        .count();
    assert_eq!(staged, 0, "the staging folder is removed when the job ends");

    // ?async=true forces a job even for one small file.
    let form = Form::new().part("file", file_part("tests/corpus/docs", "feijoada.txt"));
    let r = app
        .client
        .post(app.url("/documents?async=true"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = app
        .client
        .get(app.url("/jobs/0191d9a0-0000-7000-8000-000000000000"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    error_body(r, 404, "not_found").await;
}

#[tokio::test]
async fn upload_limits_and_bad_uploads() {
    let app = TestApp::spawn_with(&[
        ("RAGD_MAX_DOCUMENT_BYTES", "100000"),
        ("RAGD_MAX_UPLOAD_BYTES", "300000"),
    ])
    .await;
    let token = app.token().await;
    let upload = |form: Form| {
        app.client
            .post(app.url("/documents"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
    };

    // One part over the per-document limit.
    let big = Form::new().part(
        "file",
        Part::bytes(vec![b'a'; 150_000]).file_name("big.txt"),
    );
    error_body(upload(big).await.unwrap(), 413, "payload_too_large").await;
    // The whole upload over the limit.
    let mut many = Form::new();
    for i in 0..4 {
        many = many.part(
            "file",
            Part::bytes(vec![b'b'; 90_000]).file_name(format!("p{i}.txt")),
        );
    }
    error_body(upload(many).await.unwrap(), 413, "payload_too_large").await;
    // No file, unknown field, bad metadata.
    error_body(
        upload(Form::new().text("collection", "x")).await.unwrap(),
        422,
        "validation_error",
    )
    .await;
    error_body(
        upload(
            Form::new()
                .text("colour", "x")
                .part("file", file_part("tests/corpus/docs", "composting.txt")),
        )
        .await
        .unwrap(),
        422,
        "validation_error",
    )
    .await;
    error_body(
        upload(
            Form::new()
                .text("metadata", "[1]")
                .part("file", file_part("tests/corpus/docs", "composting.txt")),
        )
        .await
        .unwrap(),
        422,
        "validation_error",
    )
    .await;
    // A broken multipart body.
    let r = app
        .client
        .post(app.url("/documents"))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body(
            "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nabc",
        )
        .send()
        .await
        .unwrap();
    assert!(matches!(r.status().as_u16(), 400 | 413), "{}", r.status());
    // Wrong content type.
    let r = app
        .client
        .post(app.url("/documents"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    error_body(r, 415, "unsupported_media_type").await;
    // A file that cannot be parsed is reported per file, and nothing is stored for it.
    let form = Form::new().part("file", file_part("tests/corpus-bad", "binary.txt"));
    let summary: Value = upload(form).await.unwrap().json().await.unwrap();
    assert_eq!(summary["failed"], 1, "{summary}");
    assert!(
        summary["files"][0]["error"]
            .as_str()
            .unwrap()
            .contains("binary.txt")
    );
    let list: Value = app
        .client
        .get(app.url("/documents"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 0);
    assert!(
        std::fs::read_dir(app.data.path().join("uploads"))
            .unwrap()
            .next()
            .is_none(),
        "rejected uploads leave nothing staged"
    );
}
