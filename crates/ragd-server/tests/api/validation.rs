//! Every validation bound of `/query` just inside and just outside, every error status, and the
//! error envelope (`error`, `message`, `details`, `request_id`, `timestamp` + `X-Request-ID`).

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body};

/// (body, expected status, field named in `details` when 422)
fn query_cases() -> Vec<(Value, u16, Option<&'static str>)> {
    let q = |s: &str| json!({ "query": s });
    vec![
        (q("abc"), 200, None),
        (q("  abc  "), 200, None),
        (q("ab"), 422, Some("query")),
        (q("  ab  "), 422, Some("query")),
        (q("    "), 422, Some("query")),
        (q(""), 422, Some("query")),
        (q(&"é".repeat(1000)), 200, None),
        (q(&"é".repeat(1001)), 422, Some("query")),
        (json!({}), 422, Some("query")),
        (json!({ "query": 42 }), 422, Some("query")),
        (json!({ "query": "abc", "max_results": 1 }), 200, None),
        (json!({ "query": "abc", "max_results": 20 }), 200, None),
        (
            json!({ "query": "abc", "max_results": 0 }),
            422,
            Some("max_results"),
        ),
        (
            json!({ "query": "abc", "max_results": 21 }),
            422,
            Some("max_results"),
        ),
        (
            json!({ "query": "abc", "max_results": -1 }),
            422,
            Some("max_results"),
        ),
        (
            json!({ "query": "abc", "max_results": 2.5 }),
            422,
            Some("max_results"),
        ),
        (
            json!({ "query": "abc", "max_results": "5" }),
            422,
            Some("max_results"),
        ),
        (json!({ "query": "abc", "max_results": null }), 200, None),
        (json!({ "query": "abc", "threshold": 0.0 }), 200, None),
        (json!({ "query": "abc", "threshold": 1.0 }), 200, None),
        (json!({ "query": "abc", "threshold": 1 }), 200, None),
        (
            json!({ "query": "abc", "threshold": -0.01 }),
            422,
            Some("threshold"),
        ),
        (
            json!({ "query": "abc", "threshold": 1.01 }),
            422,
            Some("threshold"),
        ),
        (
            json!({ "query": "abc", "threshold": "high" }),
            422,
            Some("threshold"),
        ),
        (
            json!({ "query": "abc", "use_guardrails": false }),
            200,
            None,
        ),
        (
            json!({ "query": "abc", "use_guardrails": "yes" }),
            422,
            Some("use_guardrails"),
        ),
        (
            json!({ "query": "abc", "conversation_id": "c-1" }),
            200,
            None,
        ),
        (
            json!({ "query": "abc", "conversation_id": 7 }),
            422,
            Some("conversation_id"),
        ),
        (
            json!({ "query": "abc", "max_result": 5 }),
            422,
            Some("max_result"),
        ),
    ]
}

#[tokio::test]
async fn query_bounds_and_error_statuses() {
    let app = TestApp::spawn().await;
    let token = app.token().await;
    app.upload(&token, &["tides-and-moon.txt"]).await;
    let post = |body: Vec<u8>, content_type: &'static str| {
        app.client
            .post(app.url("/query"))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
    };

    for (body, status, field) in query_cases() {
        let r = post(serde_json::to_vec(&body).unwrap(), "application/json")
            .send()
            .await
            .unwrap();
        let label = format!("{body:.80}");
        if status == 200 {
            assert_eq!(r.status(), 200, "{label}");
            let answer: Value = r.json().await.unwrap();
            assert!(
                answer["answer"].is_string() && answer["sources"].is_array(),
                "{label}"
            );
            let k = body["max_results"].as_u64().unwrap_or(5) as usize;
            assert!(answer["sources"].as_array().unwrap().len() <= k, "{label}");
        } else {
            let err = error_body(r, status, "validation_error").await;
            let details = err["details"].as_array().expect("details");
            assert!(
                details.iter().any(|d| d["field"] == field.unwrap()),
                "{label}: {err}"
            );
        }
    }

    // All bad fields are reported at once.
    let r = post(
        br#"{"query":"a","max_results":0,"threshold":2}"#.to_vec(),
        "application/json",
    )
    .send()
    .await
    .unwrap();
    let err = error_body(r, 422, "validation_error").await;
    assert_eq!(err["details"].as_array().unwrap().len(), 3, "{err}");

    // 400: malformed JSON, not UTF-8, not an object.
    let r = post(b"{\"query\": \"abc\"".to_vec(), "application/json")
        .send()
        .await
        .unwrap();
    error_body(r, 400, "bad_request").await;
    let r = post(b"{\"query\": \"ab\xff\xfe\"}".to_vec(), "application/json")
        .send()
        .await
        .unwrap();
    error_body(r, 400, "bad_request").await;
    let r = post(b"[1,2]".to_vec(), "application/json")
        .send()
        .await
        .unwrap();
    error_body(r, 422, "validation_error").await;
    // 415: not JSON.
    let r = post(b"query=abc".to_vec(), "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    error_body(r, 415, "unsupported_media_type").await;
    // 413: over RAGD_MAX_JSON_BYTES (1 MiB by default).
    let huge = format!("{{\"query\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let r = post(huge.into_bytes(), "application/json")
        .send()
        .await
        .unwrap();
    error_body(r, 413, "payload_too_large").await;
    // 404 and 405.
    let r = app.client.get(app.url("/nope")).send().await.unwrap();
    error_body(r, 404, "not_found").await;
    let r = app.client.get(app.url("/query")).send().await.unwrap();
    error_body(r, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn authentication_errors() {
    let app = TestApp::spawn().await;
    let query = || {
        app.client
            .post(app.url("/query"))
            .json(&json!({"query": "what are tides?"}))
    };
    for request in [
        query(),
        query().header("authorization", "Bearer"),
        query().header("authorization", "Basic YWRtaW46cGFzc3dvcmQ="),
        query().bearer_auth("not.a.jwt"),
        query().bearer_auth("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiJ9."),
    ] {
        let r = request.send().await.unwrap();
        assert_eq!(
            r.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer")
        );
        error_body(r, 401, "unauthorized").await;
    }
    for path in [
        "/stats",
        "/documents",
        "/jobs/0191d9a0-0000-7000-8000-000000000000",
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        error_body(r, 401, "unauthorized").await;
    }
    // Wrong password, unknown user: the same 401.
    error_body(
        app.login("admin", "wrong-password-123").await,
        401,
        "unauthorized",
    )
    .await;
    error_body(
        app.login("nobody", "wrong-password-123").await,
        401,
        "unauthorized",
    )
    .await;
    // Missing fields: 422; unsupported body: 415.
    let r = app
        .client
        .post(app.url("/auth/login"))
        .form(&[("username", "admin")])
        .send()
        .await
        .unwrap();
    let err = error_body(r, 422, "validation_error").await;
    assert_eq!(err["details"][0]["field"], "password");
    let r = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "text/plain")
        .body("admin")
        .send()
        .await
        .unwrap();
    error_body(r, 415, "unsupported_media_type").await;
    // JSON login works too.
    let r = app
        .client
        .post(app.url("/auth/login"))
        .json(&json!({"username": "admin", "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.unwrap();
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["expires_in"], 1800);
}

#[tokio::test]
async fn request_ids_are_honoured_when_sane() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "trace-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-abc.123");
    let r = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "bad id with spaces");
    assert!(uuid::Uuid::parse_str(&id).is_ok());
}

#[tokio::test]
async fn cors_follows_allowed_origins() {
    let app = TestApp::spawn_with(&[(
        "ALLOWED_ORIGINS",
        r#"["http://localhost:3000","https://app.example"]"#,
    )])
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/query"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let ok = preflight("https://app.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let denied = preflight("https://evil.example").await.unwrap();
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
