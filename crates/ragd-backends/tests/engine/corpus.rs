//! The integration corpus (tests/corpus): mixed formats ingest with the right metadata, every
//! hand-written question finds its document in the top 3, and broken files fail cleanly.

use ragd_core::IngestOutcome;
use ragd_core::ports::DocumentFilter;
use serde::Deserialize;

use crate::helpers::{corpus, engine, ingest, retrieve, root, scope};

#[derive(Deserialize)]
struct Questions {
    question: Vec<Question>,
}

#[derive(Deserialize)]
struct Question {
    text: String,
    expected: String,
}

fn questions() -> Vec<Question> {
    let raw =
        std::fs::read_to_string(root().join("tests/corpus/questions.toml")).expect("questions");
    toml::from_str::<Questions>(&raw)
        .expect("questions.toml")
        .question
}

#[tokio::test]
async fn questions_find_their_document_in_the_top_3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path()).await;
    let s = scope("default", "documents");
    let docs = corpus();
    assert!(docs.len() >= 20);
    for (name, bytes) in &docs {
        let outcome = ingest(&engine, &s, name, bytes).await;
        assert!(
            matches!(outcome, Ok(IngestOutcome::Ingested { .. })),
            "{name}: {outcome:?}"
        );
    }
    let questions = questions();
    assert!(questions.len() >= 15);
    let mut misses = Vec::new();
    for q in &questions {
        let hits = engine
            .service
            .retrieve(&retrieve("default", None, &q.text, 3, 0.0))
            .await
            .expect("retrieve");
        let sources: Vec<&str> = hits
            .iter()
            .map(|h| h.chunk.document.source.source.as_str())
            .collect();
        if !sources.contains(&q.expected.as_str()) {
            misses.push(format!(
                "{:?}: expected {}, got {sources:?}",
                q.text, q.expected
            ));
        }
    }
    assert!(
        misses.is_empty(),
        "{} of {} questions missed:\n{}",
        misses.len(),
        questions.len(),
        misses.join("\n")
    );
}

#[tokio::test]
async fn formats_carry_their_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path()).await;
    let s = scope("default", "documents");
    for (name, bytes) in corpus() {
        ingest(&engine, &s, &name, &bytes).await.expect("ingest");
    }
    let filter = DocumentFilter {
        collection: None,
        limit: 100,
        offset: 0,
    };
    let (docs, total) = engine
        .service
        .documents(&ragd_core::types::TenantId::default(), &filter)
        .await
        .expect("list");
    assert_eq!(total as usize, docs.len());
    let find = |source: &str| {
        docs.iter()
            .find(|d| d.source.source == source)
            .expect(source)
    };

    let pdf = find("printing-press-history.pdf");
    assert_eq!(pdf.mime, "application/pdf");
    assert_eq!(pdf.pages, Some(3));
    let chunks = engine
        .service
        .chunks(&pdf.scope.tenant, pdf.id)
        .await
        .expect("chunks");
    assert!(
        chunks.iter().any(|c| c.chunk.page == Some(3)),
        "no chunk on page 3"
    );
    assert!(chunks.iter().all(|c| c.chunk.page.is_some()));

    let html = find("volcano-types.html");
    assert_eq!(html.mime, "text/html");
    assert!(
        !html.title.is_empty() && html.title != "volcano-types",
        "title from <title>: {}",
        html.title
    );
    let docx = find("origami.docx");
    assert!(docx.mime.contains("wordprocessingml"));
    assert_ne!(docx.title, "origami", "title from docProps/core.xml");

    for d in &docs {
        assert_eq!(d.source.content_hash.len(), 64);
        assert!(d.source.size_bytes > 0);
        for c in engine
            .service
            .chunks(&d.scope.tenant, d.id)
            .await
            .expect("chunks")
        {
            assert!(
                !c.chunk.text.contains("zqxscriptsentinel")
                    && !c.chunk.text.contains("zqxstylesentinel"),
                "script/style text indexed in {}",
                d.source.source
            );
            assert!(c.chunk.char_end > c.chunk.char_start);
        }
    }
    let md = find("sourdough-bread.md");
    let chunks = engine
        .service
        .chunks(&md.scope.tenant, md.id)
        .await
        .expect("chunks");
    assert!(
        chunks.len() >= 3 && chunks.iter().skip(1).all(|c| c.chunk.heading.is_some()),
        "markdown chunks carry headings"
    );
}

#[tokio::test]
async fn broken_files_fail_with_the_file_and_the_reason_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path()).await;
    let s = scope("default", "documents");
    let cases = [
        ("corrupt.pdf", "PDF"),
        ("binary.txt", "binary"),
        ("latin1.txt", "UTF-8"),
        ("broken.docx", "DOCX"),
        ("empty.md", "no text"),
    ];
    for (name, reason) in cases {
        let bytes = std::fs::read(root().join("tests/corpus-bad").join(name)).expect("read");
        let err = ingest(&engine, &s, name, &bytes).await.expect_err(name);
        let msg = err.to_string();
        assert!(
            matches!(err, ragd_core::Error::Invalid(_)),
            "{name}: {err:?}"
        );
        assert!(
            msg.starts_with(name) && msg.contains(reason),
            "{name}: {msg}"
        );
        // and a good file right after still goes in
        let ok = ingest(
            &engine,
            &s,
            &format!("after-{name}.txt"),
            format!("Good text after {name}.").as_bytes(),
        )
        .await;
        assert!(matches!(ok, Ok(IngestOutcome::Ingested { .. })), "{ok:?}");
    }
    let count = engine
        .backends
        .status
        .count_all_documents()
        .await
        .expect("count");
    assert_eq!(count, 5, "only the good files are stored");
    assert!(engine.maintenance.check().await.expect("check").ok);
}
