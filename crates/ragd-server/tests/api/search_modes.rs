//! `mode` in `/search` and `/query`: dense, lexical (BM25 with English and Portuguese analysis)
//! and hybrid (the default), each reporting a calibrated similarity; bad modes are 422, reranking
//! without a reranker model is 400.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body};

async fn sources(app: &TestApp, token: &str, body: Value) -> (String, Vec<Value>) {
    let r = app.post_json(token, "/search", &body).await;
    assert_eq!(r.status(), 200, "{body}");
    let v: Value = r.json().await.expect("json");
    let mode = v["mode"].as_str().expect("mode").to_owned();
    (mode, v["sources"].as_array().expect("sources").clone())
}

fn source_of(s: &Value) -> &str {
    s["metadata"]["source"].as_str().unwrap_or_default()
}

/// PostgreSQL keeps no lexical index yet: dense is its default, and asking for the others is a
/// clear 400, never a silent fallback.
async fn postgres_answers_dense_only(app: &TestApp, token: &str) {
    let (mode, _) = sources(
        app,
        token,
        json!({"query": "sourdough starter", "threshold": 0.0}),
    )
    .await;
    assert_eq!(mode, "dense");
    for mode in ["lexical", "hybrid"] {
        let body = error_body(
            app.post_json(
                token,
                "/search",
                &json!({"query": "sourdough starter", "mode": mode}),
            )
            .await,
            400,
            "bad_request",
        )
        .await;
        assert!(body.to_string().contains("lexical index"), "{body}");
    }
}

#[tokio::test]
async fn each_mode_finds_what_it_is_good_at_and_says_which_ran() {
    let app = TestApp::spawn().await;
    let token = app.token().await;
    if crate::common::on_postgres() {
        return postgres_answers_dense_only(&app, &token).await;
    }
    for (source, content) in [
        (
            "statements.md",
            "# Tracking queries\n\nLoad the extension pg_stat_statements to record planning and \
             execution statistics of every statement the server runs.",
        ),
        (
            "memoria.md",
            "# Configurações de memória\n\nAs configurações de memória do servidor definem \
             quanto cada operação de ordenação pode usar antes de gravar em disco.",
        ),
        (
            "bread.md",
            "# Sourdough\n\nA sourdough starter ferments flour and water for several days \
             before it can leaven bread.",
        ),
    ] {
        let doc = json!({"content": content, "metadata": {"source": source}});
        assert_eq!(
            app.post_json(&token, "/documents", &doc).await.status(),
            201
        );
    }

    // A rare identifier: the lexical ranking puts its page first, with a BM25 score and no cosine.
    let (mode, found) = sources(
        &app,
        &token,
        json!({"query": "what records pg_stat_statements?", "mode": "lexical", "threshold": 0.0}),
    )
    .await;
    assert_eq!(mode, "lexical");
    assert_eq!(source_of(&found[0]), "statements.md", "{found:?}");
    assert!(found[0]["metadata"]["bm25"].as_f64().expect("bm25") > 0.0);
    assert!(found[0]["metadata"].get("cosine").is_none(), "{found:?}");

    // Portuguese stemming and accent folding: no accents, another inflection.
    let (_, found) = sources(
        &app,
        &token,
        json!({"query": "configuracao da memoria do servidor", "mode": "lexical", "threshold": 0.0}),
    )
    .await;
    assert_eq!(source_of(&found[0]), "memoria.md", "{found:?}");

    // Dense reports cosines; hybrid is the default and reports both where both found a chunk.
    let (mode, found) = sources(
        &app,
        &token,
        json!({"query": "how long does a starter ferment?", "mode": "dense", "threshold": 0.0}),
    )
    .await;
    assert_eq!(mode, "dense");
    assert_eq!(source_of(&found[0]), "bread.md");
    assert!(found[0]["metadata"]["cosine"].as_f64().is_some());
    let (mode, found) = sources(
        &app,
        &token,
        json!({"query": "sourdough starter ferments flour", "threshold": 0.0}),
    )
    .await;
    assert_eq!(mode, "hybrid");
    assert_eq!(source_of(&found[0]), "bread.md");
    assert!(found[0]["metadata"]["cosine"].as_f64().is_some());
    assert!(found[0]["metadata"]["bm25"].as_f64().is_some());
    for s in &found {
        let sim = s["similarity"].as_f64().expect("similarity");
        assert!((0.0..=1.0).contains(&sim), "{s}");
    }

    // The chapter's threshold keeps its meaning in hybrid mode: an unrelated question finds
    // nothing at 0.7, a well-matched one does.
    let (_, none) = sources(
        &app,
        &token,
        json!({"query": "who won the football world cup in 1970?", "threshold": 0.7}),
    )
    .await;
    assert!(none.is_empty(), "{none:?}");

    // /query takes the same field.
    let r = app
        .post_json(
            &token,
            "/query",
            &json!({"query": "pg_stat_statements", "mode": "lexical", "threshold": 0.0}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(source_of(&v["sources"][0]), "statements.md", "{v}");
}

#[tokio::test]
async fn bad_modes_and_rerank_without_a_model_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.token().await;
    for path in ["/search", "/query"] {
        let body = error_body(
            app.post_json(
                &token,
                path,
                &json!({"query": "anything at all", "mode": "semantic"}),
            )
            .await,
            422,
            "validation_error",
        )
        .await;
        assert!(body.to_string().contains("mode"), "{body}");
        error_body(
            app.post_json(
                &token,
                path,
                &json!({"query": "anything at all", "rerank": true}),
            )
            .await,
            400,
            "bad_request",
        )
        .await;
    }
}
