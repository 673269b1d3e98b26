//! The answer paths beyond `/query`: Server-Sent Events (`/query/stream`), conversations and
//! the OpenAI-compatible API, on the extractive answer (the model-backed paths are in
//! `generation.rs`).

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// One Server-Sent Event: its name (empty when unnamed) and its data.
#[derive(Debug)]
pub(crate) struct SseEvent {
    pub(crate) name: String,
    pub(crate) data: String,
}

/// Reads a whole event stream.
pub(crate) async fn events(response: reqwest::Response) -> Vec<SseEvent> {
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    let text = response.text().await.expect("body");
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let mut name = String::new();
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.trim_start().to_owned());
                }
            }
            // Keep-alive comments carry no data.
            (!data.is_empty()).then(|| SseEvent {
                name,
                data: data.join("\n"),
            })
        })
        .collect()
}

fn json_of(event: &SseEvent) -> Value {
    serde_json::from_str(&event.data).expect("event data is JSON")
}

/// The fields of a `QueryResponse` that do not change from one request to the next.
fn stable(mut response: Value) -> Value {
    for field in ["request_id", "processing_time", "timestamp"] {
        response.as_object_mut().expect("object").remove(field);
    }
    response
}

async fn app_with_corpus() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let token = app.token().await;
    app.upload(
        &token,
        &[
            "sourdough-bread.md",
            "honeybee-colonies.txt",
            "feijoada.txt",
        ],
    )
    .await;
    (app, token)
}

#[tokio::test]
async fn a_streamed_answer_sends_sources_then_tokens_then_what_query_returns() {
    let (app, token) = app_with_corpus().await;
    let body =
        json!({"query": "How long does bulk fermentation of sourdough take?", "threshold": 0.3});
    let streamed = events(app.post_json(&token, "/query/stream", &body).await).await;
    let names: Vec<&str> = streamed.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.first(), Some(&"sources"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    assert!(
        names[1..names.len() - 1].iter().all(|n| *n == "token") && names.len() > 2,
        "{names:?}"
    );
    let sources = json_of(&streamed[0]);
    let done = json_of(streamed.last().expect("done"));
    assert_eq!(sources["sources"], done["sources"]);
    let text: String = streamed[1..streamed.len() - 1]
        .iter()
        .map(|e| json_of(e)["text"].as_str().expect("text").to_owned())
        .collect();
    assert_eq!(text, done["answer"].as_str().expect("answer"));
    assert!(text.contains("[1]"), "{text}");
    assert_eq!(done["model"], "extractive");

    let asked: Value = app
        .post_json(&token, "/query", &body)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        stable(done),
        stable(asked),
        "the done event is what /query returns"
    );

    // Errors before the stream starts are plain JSON errors.
    let bad = app
        .post_json(&token, "/query/stream", &json!({"query": "x"}))
        .await;
    assert_eq!(bad.status(), 422);
    // A question no source answers: the not-found answer, in the question's language.
    let none = events(
        app.post_json(
            &token,
            "/query/stream",
            &json!({"query": "Qual é a distância até a galáxia de Andrômeda?", "threshold": 0.9}),
        )
        .await,
    )
    .await;
    let done = json_of(none.last().expect("done"));
    assert_eq!(done["sources"], json!([]));
    assert_eq!(done["model"], "none");
    assert!(
        done["answer"]
            .as_str()
            .expect("answer")
            .starts_with("Não foram encontradas"),
        "{done}"
    );
}

#[tokio::test]
async fn conversations_belong_to_their_owner_and_follow_ups_are_made_standalone() {
    let (app, token) = app_with_corpus().await;
    let platform = token.clone();
    let joe = json!({"username": "joe", "password": "joe-long-password", "role": "member"});
    let joe = app.user_token(&platform, &joe).await;

    let ask = |q: &str, id: &str| json!({"query": q, "threshold": 0.3, "conversation_id": id});
    let first: Value = app
        .post_json(
            &token,
            "/query",
            &ask("How do honeybee colonies raise a new queen?", "trip-1"),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(first["conversation_id"], "trip-1");
    assert!(first.get("standalone_query").is_none(), "{first}");
    let second: Value = app
        .post_json(
            &token,
            "/query",
            &ask("And how many eggs does she lay?", "trip-1"),
        )
        .await
        .json()
        .await
        .expect("json");
    let standalone = second["standalone_query"].as_str().expect("rewritten");
    assert!(
        standalone.contains("queen") && standalone.contains("eggs"),
        "{standalone}"
    );
    assert!(
        second["guardrails_triggered"]
            .as_array()
            .expect("list")
            .contains(&json!("conversation.rewritten"))
    );
    assert!(
        second["sources"][0]["metadata"]["source"]
            .as_str()
            .is_some_and(|s| s.contains("honeybee")),
        "{second}"
    );

    let list = app.get_json(&token, "/conversations").await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["conversations"][0]["id"], "trip-1");
    assert_eq!(list["conversations"][0]["turns"], 2);
    let detail = app.get_json(&token, "/conversations/trip-1").await;
    assert_eq!(detail["messages"].as_array().expect("turns").len(), 2);
    assert_eq!(detail["messages"][1]["standalone_question"], standalone);
    assert_eq!(detail["messages"][1]["answer"], second["answer"]);

    // The same id is someone else's conversation for another user of the tenant.
    assert_eq!(app.get_json(&joe, "/conversations").await["total"], 0);
    assert_eq!(app.get(&joe, "/conversations/trip-1").await.status(), 404);
    assert_eq!(
        app.delete(&joe, "/conversations/trip-1").await.status(),
        404
    );
    let theirs: Value = app
        .post_json(
            &joe,
            "/query",
            &ask("And how many eggs does she lay?", "trip-1"),
        )
        .await
        .json()
        .await
        .expect("json");
    assert!(
        theirs.get("standalone_query").is_none(),
        "joe's trip-1 starts fresh: {theirs}"
    );
    assert_eq!(
        app.get_json(&token, "/conversations/trip-1").await["turns"],
        2
    );

    assert_eq!(
        app.delete(&token, "/conversations/trip-1").await.status(),
        204
    );
    assert_eq!(app.get(&token, "/conversations/trip-1").await.status(), 404);
    assert_eq!(app.get(&joe, "/conversations/trip-1").await.status(), 200);
    let bad = app
        .post_json(
            &token,
            "/query",
            &ask("How do bees dance?", "no spaces allowed"),
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert_eq!(
        app.get(&token, "/conversations?limit=0").await.status(),
        422
    );
}

#[tokio::test]
async fn the_openai_endpoint_refuses_bad_chats_with_clear_errors() {
    let (app, token) = app_with_corpus().await;
    let chat = |body: Value| {
        let app = &app;
        let token = token.clone();
        async move { app.post_json(&token, "/v1/chat/completions", &body).await }
    };
    let cases = [
        (json!({"model": "ragd"}), 422),
        (json!({"model": "ragd", "messages": []}), 422),
        (
            json!({"model": "ragd", "messages": [{"role": "assistant", "content": "hi there"}]}),
            422,
        ),
        (
            json!({"model": "ragd", "messages": [{"role": "user", "content": "x"}]}),
            422,
        ),
        (
            json!({"model": "ragd", "messages": [{"role": "user", "content": 42}]}),
            422,
        ),
        (
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "What is feijoada?"}]}),
            404,
        ),
        (
            json!({"model": "ragd:", "messages": [{"role": "user", "content": "What is feijoada?"}]}),
            404,
        ),
    ];
    for (body, status) in cases {
        let response = chat(body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.expect("json error body");
        assert!(error["request_id"].is_string(), "{error}");
    }
    // Content as parts, unknown fields ignored, earlier turns used for the follow-up.
    let answered: Value = chat(json!({
        "model": "ragd",
        "user": "someone",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is feijoada made of?"},
            {"role": "assistant", "content": "Black beans and pork."},
            {"role": "user", "content": [{"type": "text", "text": "And where does it come from?"}]}
        ]
    }))
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(answered["object"], "chat.completion", "{answered}");
    assert!(
        answered["sources"][0]["metadata"]["source"]
            .as_str()
            .is_some_and(|s| s.contains("feijoada")),
        "{answered}"
    );
    // No model: a chat with "the model itself" is not offered.
    let models = app.get_json(&token, "/v1/models").await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["ragd", "ragd:documents"]);
}
