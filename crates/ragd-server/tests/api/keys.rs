//! API keys over HTTP and the CLI: shown once, stored hashed, accepted as Bearer and X-API-Key,
//! scoped, revocable, expiring, and confined to their tenant's admins.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body, eventually_unauthorized, ragd, succeed};

async fn create_key(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post_json(token, "/keys", &body).await;
    assert_eq!(r.status(), 201, "{body}");
    r.json().await.expect("json")
}

#[tokio::test]
async fn keys_are_scoped_revocable_and_expire() {
    let app = TestApp::spawn().await;
    let admin = app.token().await;
    app.upload(&admin, &["tides-and-moon.txt"]).await;

    let reader = create_key(&app, &admin, json!({"name": "reader", "scopes": ["query"]})).await;
    let secret = reader["key"].as_str().expect("the key, once").to_owned();
    assert!(secret.starts_with("ragd_"));
    let question = json!({"query": "What causes spring tides?", "threshold": 0.3});

    // Bearer and X-API-Key both work.
    assert_eq!(
        app.post_json(&secret, "/query", &question).await.status(),
        200
    );
    let r = app
        .client
        .post(app.url("/query"))
        .header("x-api-key", &secret)
        .json(&question)
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 200);
    // Wrong scope: 403; a changed secret: 401.
    let upload = json!({"content": "# Note\n\nA small note.", "metadata": {"source": "note.md"}});
    error_body(
        app.post_json(&secret, "/documents", &upload).await,
        403,
        "forbidden",
    )
    .await;
    error_body(app.get(&secret, "/keys").await, 403, "forbidden").await;
    let forged = format!("{}x", &secret[..secret.len() - 1]);
    error_body(
        app.post_json(&forged, "/query", &question).await,
        401,
        "unauthorized",
    )
    .await;

    // Listing never shows a secret.
    let list = app.get_json(&admin, "/keys").await;
    assert_eq!(list.as_array().expect("list").len(), 1);
    assert!(list[0].get("key").is_none() && !list.to_string().contains(&secret));
    // No key stored in clear in the database either.
    let db = crate::common::stored_bytes(app.data.path());
    assert!(!String::from_utf8_lossy(&db).contains(&secret));

    // Revoked: 401 at once.
    let id = reader["id"].as_str().expect("id");
    assert_eq!(
        app.delete(&admin, &format!("/keys/{id}")).await.status(),
        204
    );
    error_body(
        app.post_json(&secret, "/query", &question).await,
        401,
        "unauthorized",
    )
    .await;
    error_body(
        app.delete(&admin, "/keys/no-such-key").await,
        404,
        "not_found",
    )
    .await;

    // Expiring.
    let brief = create_key(
        &app,
        &admin,
        json!({"name": "brief", "scopes": ["query"], "expires_in_seconds": 1}),
    )
    .await;
    let brief = brief["key"].as_str().expect("key").to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = app.post_json(&brief, "/query", &question).await;
        if r.status() == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "the key never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Bad requests: unknown scope, no scope, a scope the creator lacks.
    for body in [
        json!({"name": "x", "scopes": ["root"]}),
        json!({"name": "x", "scopes": []}),
        json!({"name": "x"}),
    ] {
        error_body(
            app.post_json(&admin, "/keys", &body).await,
            422,
            "validation_error",
        )
        .await;
    }
    let ingest = create_key(
        &app,
        &admin,
        json!({"name": "ingest", "scopes": ["ingest", "query", "admin"]}),
    )
    .await;
    let ingest = ingest["key"].as_str().expect("key").to_owned();
    assert_eq!(
        app.post_json(&ingest, "/documents", &upload).await.status(),
        201
    );
    // Keys cannot mint keys (a leaked key never multiplies), whatever scopes they hold.
    for scopes in [json!(["query"]), json!(["guardrails:bypass"])] {
        let r = app
            .post_json(&ingest, "/keys", &json!({"name": "k", "scopes": scopes}))
            .await;
        let refused = error_body(r, 403, "forbidden").await;
        assert!(
            refused["message"]
                .as_str()
                .is_some_and(|m| m.contains("API keys cannot create")),
            "{refused}"
        );
    }
}

#[tokio::test]
async fn the_cli_creates_lists_and_revokes_keys() {
    let app = TestApp::spawn().await;
    let out =
        succeed(ragd(app.data.path()).args(["keys", "create", "--name", "ci", "--scope", "query"]));
    let secret = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let question = json!({"query": "anything at all?", "threshold": 0.3});
    assert_eq!(
        app.post_json(&secret, "/query", &question).await.status(),
        200
    );
    let list = ragd(app.data.path())
        .args(["keys", "list", "--json"])
        .output()
        .expect("run");
    let keys: Value = serde_json::from_slice(&list.stdout).expect("json");
    let id = keys[0]["id"].as_str().expect("id").to_owned();
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&secret));
    assert!(
        ragd(app.data.path())
            .args(["keys", "revoke", &id])
            .output()
            .expect("run")
            .status
            .success()
    );
    // Revoked by another process: the server stops accepting the key within
    // RAGD_AUTH_CACHE_SECS (1 s), how long it reuses a looked-up key.
    eventually_unauthorized("the revoked key still works", || {
        app.post_json(&secret, "/query", &question)
    })
    .await;
    // An unknown scope is refused.
    let bad = ragd(app.data.path())
        .args(["keys", "create", "--name", "x", "--scope", "root"])
        .output()
        .expect("run");
    assert!(!bad.status.success());
}

#[tokio::test]
async fn a_users_keys_stop_while_the_user_is_disabled() {
    let app = TestApp::spawn().await;
    let admin = app.token().await;
    let body = json!({"username": "ops", "password": "ops-long-password", "role": "admin"});
    assert_eq!(app.post_json(&admin, "/users", &body).await.status(), 201);
    let r = app.login("ops", "ops-long-password").await;
    let ops: Value = r.json().await.expect("json");
    let ops = ops["access_token"].as_str().expect("token").to_owned();
    let key = create_key(&app, &ops, json!({"name": "ops-ci", "scopes": ["query"]})).await;
    assert_eq!(key["owner"], "ops", "{key}");
    let secret = key["key"].as_str().expect("key").to_owned();
    assert_eq!(app.get(&secret, "/stats").await.status(), 200);

    succeed(ragd(app.data.path()).args(["users", "disable", "ops"]));
    eventually_unauthorized("the key of a disabled user still works", || {
        app.get(&secret, "/stats")
    })
    .await;
    succeed(ragd(app.data.path()).args(["users", "enable", "ops"]));
    let deadline = Instant::now() + Duration::from_secs(3);
    while app.get(&secret, "/stats").await.status() != 200 {
        assert!(
            Instant::now() < deadline,
            "the key did not come back with its user"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An operator's key (the CLI) has no owner.
    let out =
        succeed(ragd(app.data.path()).args(["keys", "create", "--name", "op", "--scope", "query"]));
    let op_key = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    assert_eq!(app.get(&op_key, "/stats").await.status(), 200);
}
