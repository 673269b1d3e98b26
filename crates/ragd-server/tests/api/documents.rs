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

fn corpus(name: &str) -> Part {
    file_part("tests/corpus/docs", name)
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
    let text = json!({
        "content": "# Lunar tides\n\nSpring tides happen at new and full moon.",
        "metadata": {"source": "notes/tides.md", "team": "ocean"},
        "collection": "notes",
    });
    let r = app.post_json(&token, "/documents", &text).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let note = format!(
        "/documents/{}",
        created["files"][0]["document_id"].as_str().unwrap()
    );
    assert_eq!(created["files"][0]["replaced"], false, "{created}");
    // Changed content under the same source replaces it, keeping its id, and says so.
    let mut changed = text.clone();
    changed["content"] = json!("# Lunar tides\n\nNeap tides happen at the quarter moons.");
    let r = app.post_json(&token, "/documents", &changed).await;
    assert_eq!(r.status(), 201);
    let replaced: Value = r.json().await.unwrap();
    assert_eq!(replaced["files"][0]["status"], "ingested", "{replaced}");
    assert_eq!(replaced["files"][0]["replaced"], true, "{replaced}");
    assert_eq!(
        replaced["files"][0]["document_id"],
        created["files"][0]["document_id"]
    );
    let r = app.post_json(&token, "/documents", &changed).await;
    let same: Value = r.json().await.unwrap();
    assert_eq!(same["files"][0]["status"], "unchanged", "{same}");

    let list = app.get_json(&token, "/documents?limit=2").await;
    assert_eq!(list["total"], 4);
    assert_eq!(list["documents"].as_array().unwrap().len(), 2);
    let notes = app.get_json(&token, "/documents?collection=notes").await;
    assert_eq!(notes["total"], 1);
    assert_eq!(notes["documents"][0]["source"], "tides.md");
    assert_eq!(notes["documents"][0]["metadata"]["team"], "ocean");
    error_body(
        app.get(&token, "/documents?limit=0").await,
        422,
        "validation_error",
    )
    .await;
    error_body(
        app.get(&token, "/documents?colour=red").await,
        422,
        "validation_error",
    )
    .await;

    let doc = app.get_json(&token, &note).await;
    assert_eq!(doc["collection"], "notes");
    assert!(doc["chunk_count"].as_u64().unwrap() >= 1);

    let question = json!({"query": "How do plants turn light into chemical energy?", "max_results": 3, "threshold": 0.3});
    let found: Value = app
        .post_json(&token, "/search", &question)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        found["sources"][0]["metadata"]["source"], "photosynthesis.pdf",
        "{found}"
    );
    assert!(found.get("answer").is_none());

    let stats = app.get_json(&token, "/stats").await;
    assert_eq!(stats["documents_count"], 4);
    assert_eq!(
        stats["embeddings_model"],
        "sentence-transformers/all-MiniLM-L6-v2"
    );
    assert!(stats["uptime"].as_f64().unwrap() > 0.0);

    assert_eq!(app.delete(&token, &note).await.status(), 204);
    error_body(app.get(&token, &note).await, 404, "not_found").await;
    error_body(app.delete(&token, &note).await, 404, "not_found").await;
    error_body(
        app.get(&token, "/documents/not-a-uuid").await,
        404,
        "not_found",
    )
    .await;

    let metrics = app.metrics_text().await;
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
        .part("file", corpus("composting.txt"))
        .part("file", file_part("tests/corpus-bad", "corrupt.pdf"))
        .part("file", corpus("lighthouses.txt"))
        .text("metadata", r#"{"batch": "b1"}"#);
    let r = app.upload_form(&token, "/documents", form).await;
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
        let job = app.get_json(&token, &location).await;
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
    let doc = app
        .get_json(
            &token,
            &format!("/documents/{}", files[2]["document_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(doc["metadata"]["batch"], "b1");
    app.no_staged_uploads("the job ended").await;

    // ?async=true forces a job even for one small file.
    let form = Form::new().part("file", corpus("feijoada.txt"));
    assert_eq!(
        app.upload_form(&token, "/documents?async=true", form)
            .await
            .status(),
        202
    );
    let unknown = app
        .get(&token, "/jobs/0191d9a0-0000-7000-8000-000000000000")
        .await;
    error_body(unknown, 404, "not_found").await;
}

#[tokio::test]
async fn upload_limits_and_bad_uploads() {
    let app = TestApp::spawn_with(&[
        ("RAGD_MAX_DOCUMENT_BYTES", "100000"),
        ("RAGD_MAX_UPLOAD_BYTES", "300000"),
    ])
    .await;
    let token = app.token().await;

    let big = Form::new().part(
        "file",
        Part::bytes(vec![b'a'; 150_000]).file_name("big.txt"),
    );
    let many = (0..4).fold(Form::new(), |form, i| {
        form.part(
            "file",
            Part::bytes(vec![b'b'; 90_000]).file_name(format!("p{i}.txt")),
        )
    });
    let no_file = Form::new().text("collection", "x");
    let unknown_field = Form::new()
        .text("colour", "x")
        .part("file", corpus("composting.txt"));
    let bad_metadata = Form::new()
        .text("metadata", "[1]")
        .part("file", corpus("composting.txt"));
    let bad_collection = Form::new()
        .text("collection", "a/b")
        .part("file", corpus("composting.txt"));
    for (label, form, status, code) in [
        (
            "one part over the per-document limit",
            big,
            413,
            "payload_too_large",
        ),
        (
            "the whole upload over the limit",
            many,
            413,
            "payload_too_large",
        ),
        ("no file", no_file, 422, "validation_error"),
        ("unknown field", unknown_field, 422, "validation_error"),
        (
            "metadata not an object",
            bad_metadata,
            422,
            "validation_error",
        ),
        (
            "bad collection name",
            bad_collection,
            422,
            "validation_error",
        ),
    ] {
        eprintln!("case: {label}");
        error_body(
            app.upload_form(&token, "/documents", form).await,
            status,
            code,
        )
        .await;
    }
    // A multipart body cut off in the middle of a part.
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
    error_body(r, 400, "bad_request").await;
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
    let summary: Value = app
        .upload_form(&token, "/documents", form)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(summary["failed"], 1, "{summary}");
    assert!(
        summary["files"][0]["error"]
            .as_str()
            .unwrap()
            .contains("binary.txt")
    );
    assert_eq!(app.get_json(&token, "/documents").await["total"], 0);
    // Staging folders go when the request ends, which can trail its response.
    app.no_staged_uploads("rejected uploads leave nothing staged")
        .await;
}
