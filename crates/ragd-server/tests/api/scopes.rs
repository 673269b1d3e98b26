//! API-key principals of each scope against every protected endpoint, and the escalation the
//! review reproduced: an `admin`-scoped key creating an `admin` user, who would then have held
//! every scope of the role, `platform` included.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body};
use crate::matrix::{endpoints, send};

/// The scope an endpoint needs from an API key; `None`: no key may call it.
fn needs(method: &reqwest::Method, path: &str) -> Option<&'static str> {
    let m = method.as_str();
    match (m, path.split('/').nth(1).unwrap_or("")) {
        ("POST", "query" | "search") | ("GET", "stats" | "documents" | "jobs") => Some("query"),
        ("POST" | "DELETE", "documents") => Some("ingest"),
        ("POST", "keys") => None,
        ("GET" | "DELETE", "keys") | ("GET", "users") | (_, "webhooks") => Some("admin"),
        // A user gets the scopes of their role: a one-scope key holds too few to create one.
        ("POST", "users") => None,
        (_, "tenants") => Some("platform"),
        _ => panic!("unclassified endpoint {m} {path}"),
    }
}

async fn key(app: &TestApp, admin: &str, scopes: &[&str]) -> String {
    let r = app
        .post_json(admin, "/keys", &json!({"name": "k", "scopes": scopes}))
        .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.expect("json");
    body["key"].as_str().expect("key").to_owned()
}

#[tokio::test]
async fn keys_of_each_scope_reach_exactly_their_endpoints() {
    let app = TestApp::spawn().await;
    let admin = app.token().await;
    for scope in ["query", "ingest", "admin", "guardrails:bypass", "platform"] {
        let secret = key(&app, &admin, &[scope]).await;
        for (method, path, body) in endpoints() {
            let r = send(
                &app,
                &method,
                &path,
                body.as_ref(),
                Some(("x-api-key", &secret)),
            )
            .await;
            let status = r.status().as_u16();
            if needs(&method, &path) == Some(scope) {
                assert!(
                    ![401, 403].contains(&status),
                    "{scope} key: {method} {path} -> {status}"
                );
            } else {
                eprintln!("{scope} key: {method} {path}");
                error_body(r, 403, "forbidden").await;
            }
        }
    }
}

#[tokio::test]
async fn no_principal_creates_one_with_more_rights_than_it_holds() {
    let app = TestApp::spawn().await;
    let admin = app.token().await;
    let user = |name: &str, role: &str| json!({"username": name, "password": "a-long-password-1", "role": role});

    // The reproduced escalation: a key with every tenant-admin scope, in the platform tenant.
    let tenant_admin_key = key(
        &app,
        &admin,
        &["query", "ingest", "admin", "guardrails:bypass"],
    )
    .await;
    let r = app
        .post_json(&tenant_admin_key, "/users", &user("eve", "admin"))
        .await;
    let body = error_body(r, 403, "forbidden").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("platform"),
        "{body}"
    );
    assert_eq!(
        app.login("eve", "a-long-password-1").await.status(),
        401,
        "not created"
    );
    // A member holds only query and ingest, which the key has.
    let r = app
        .post_json(&tenant_admin_key, "/users", &user("mel", "member"))
        .await;
    assert_eq!(r.status(), 201);
    // Keys cannot mint keys, and nobody grants a scope they lack.
    let r = app
        .post_json(
            &tenant_admin_key,
            "/keys",
            &json!({"name": "x", "scopes": ["query"]}),
        )
        .await;
    error_body(r, 403, "forbidden").await;
    let r = app.login("mel", "a-long-password-1").await;
    let mel: Value = r.json().await.expect("json");
    let mel = mel["access_token"].as_str().expect("token");
    error_body(
        app.post_json(mel, "/users", &user("max", "member")).await,
        403,
        "forbidden",
    )
    .await;
    error_body(app.get(mel, "/tenants").await, 403, "forbidden").await;

    // A tenant's admin can make admins at home, never elsewhere, and never sees the platform.
    assert_eq!(
        app.post_json(&admin, "/tenants", &json!({"name": "acme"}))
            .await
            .status(),
        201
    );
    let mut acme_admin = user("ana", "admin");
    acme_admin["tenant"] = json!("acme");
    assert_eq!(
        app.post_json(&admin, "/users", &acme_admin).await.status(),
        201
    );
    let r = app.login("ana", "a-long-password-1").await;
    let ana: Value = r.json().await.expect("json");
    let ana = ana["access_token"].as_str().expect("token");
    assert_eq!(
        app.post_json(ana, "/users", &user("bea", "admin"))
            .await
            .status(),
        201
    );
    let mut elsewhere = user("ivo", "member");
    elsewhere["tenant"] = json!("default");
    error_body(
        app.post_json(ana, "/users", &elsewhere).await,
        403,
        "forbidden",
    )
    .await;
    error_body(app.get(ana, "/tenants").await, 403, "forbidden").await;
    let r = app
        .post_json(ana, "/keys", &json!({"name": "p", "scopes": ["platform"]}))
        .await;
    error_body(r, 403, "forbidden").await;
}
