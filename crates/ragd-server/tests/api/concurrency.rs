//! 64 simultaneous questions and 4 simultaneous uploads all complete correctly.

use serde_json::{Value, json};

use crate::helpers::TestApp;

#[tokio::test]
async fn sixty_four_queries_and_four_uploads_at_once() {
    let app = TestApp::spawn().await;
    let token = app.token().await;
    app.upload(
        &token,
        &[
            "sourdough-bread.md",
            "volcano-types.html",
            "chess-openings.txt",
        ],
    )
    .await;

    let questions = [
        ("How long should sourdough ferment?", "sourdough-bread.md"),
        ("What kinds of volcanoes are there?", "volcano-types.html"),
        (
            "Which chess openings control the center?",
            "chess-openings.txt",
        ),
    ];
    let queries = (0..64).map(|i| {
        let (q, expected) = questions[i % questions.len()];
        let request = app
            .client
            .post(app.url("/query"))
            .bearer_auth(&token)
            .json(&json!({"query": q, "threshold": 0.3}));
        async move {
            let r = request.send().await.expect("query");
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.expect("json");
            assert_eq!(
                body["sources"][0]["metadata"]["source"], expected,
                "{q}: {body}"
            );
        }
    });
    let uploads = [
        "honeybee-colonies.txt",
        "marathon-training.md",
        "lighthouses.txt",
        "coffee-roasting.html",
    ]
    .map(|name| {
        let (app, token) = (&app, &token);
        async move {
            let summary = app.upload(token, &[name]).await;
            assert_eq!(summary["ingested"], 1, "{summary}");
        }
    });
    tokio::join!(
        futures_util::future::join_all(queries),
        futures_util::future::join_all(uploads)
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
    assert_eq!(list["total"], 7);
}
