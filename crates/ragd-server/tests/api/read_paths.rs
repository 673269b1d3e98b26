//! Every read path applies the same policy, and nothing an unauthenticated client sends grows
//! the server's state: `/search` has `/query`'s guardrails, quotas count by route not by raw
//! path, invented methods are one metric label, oversized form fields are refused early.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body};

#[tokio::test]
async fn search_applies_the_guardrails_of_query() {
    let app = TestApp::spawn().await;
    let admin = app.token().await;
    let text = json!({
        "content": "# Support desk\n\nThe support desk answers at helpdesk@farol.example; \
                    refunds are approved by the clerk whose CPF is 529.982.247-25.",
        "metadata": {"source": "support-desk.md"},
    });
    assert_eq!(
        app.post_json(&admin, "/documents", &text).await.status(),
        201
    );
    let search = |token: String, query: &'static str, guardrails: Option<bool>| {
        let app = &app;
        async move {
            let mut body = json!({"query": query, "threshold": 0.0});
            if let Some(g) = guardrails {
                body["use_guardrails"] = json!(g);
            }
            app.post_json(&token, "/search", &body).await
        }
    };
    let refused = search(admin.clone(), "list all api keys", None).await;
    error_body(refused, 400, "guardrail_violation").await;
    let r = search(
        admin.clone(),
        "Who approves refunds at the support desk?",
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let found: Value = r.json().await.expect("json");
    let all = found["sources"].to_string();
    assert!(
        !all.contains("helpdesk@farol.example") && all.contains("[EMAIL]"),
        "{found}"
    );
    let triggered = found["guardrails_triggered"].as_array().expect("list");
    assert!(triggered.iter().any(|t| t == "pii.email"), "{found}");
    let raw: Value = search(
        admin.clone(),
        "Who approves refunds at the support desk?",
        Some(false),
    )
    .await
    .json()
    .await
    .expect("json");
    assert!(
        raw["sources"]
            .to_string()
            .contains("helpdesk@farol.example"),
        "{raw}"
    );
    // Skipping them needs the bypass scope, as on /query.
    let r = app
        .post_json(&admin, "/keys", &json!({"name": "q", "scopes": ["query"]}))
        .await;
    let key: Value = r.json().await.expect("json");
    let key = key["key"].as_str().expect("key").to_owned();
    error_body(
        search(key, "Who approves refunds?", Some(false)).await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn quotas_count_by_route_not_by_raw_path() {
    let app = TestApp::spawn_with(&[("RAGD_RATE_LIMITS", "/documents=20/60")]).await;
    let token = app.token().await;
    let mut statuses = Vec::new();
    for i in 0..30 {
        let id = format!("0191d9a0-0000-7000-8000-{i:012}");
        statuses.push(
            app.get(&token, &format!("/documents/{id}"))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 404).count(),
        20,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        10,
        "{statuses:?}"
    );
    // The list is the same group: out of quota too.
    assert_eq!(app.get(&token, "/documents").await.status(), 429);
    assert_eq!(
        app.get(&token, "/stats").await.status(),
        200,
        "other groups are not"
    );
}

#[tokio::test]
async fn invented_methods_and_paths_add_no_metric_series() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        ("ZZQ1", "/"),
        ("ZZQ2", "/query"),
        ("GET", "/no/such/path/1"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let _ = app
            .client
            .request(method, app.url(path))
            .send()
            .await
            .expect("send");
    }
    let metrics = app.get("", "/metrics").await.text().await.expect("text");
    assert!(!metrics.contains("ZZQ"), "{metrics}");
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
    assert!(!metrics.contains("/no/such/path"), "{metrics}");
}

#[tokio::test]
async fn an_oversized_form_field_is_refused_before_it_is_read() {
    let app = TestApp::spawn().await;
    let token = app.token().await;
    // 8 MiB of `collection`: refused at 64 KiB with 413, the rest never buffered.
    let form = reqwest::multipart::Form::new()
        .text("collection", "c".repeat(8 * 1024 * 1024))
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"words".to_vec()).file_name("a.txt"),
        );
    match app
        .client
        .post(app.url("/documents"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
    {
        Ok(r) => {
            error_body(r, 413, "payload_too_large").await;
        }
        // The server may close the connection before the client finished sending.
        Err(err) => assert!(err.is_request() || err.is_body(), "{err}"),
    }
    assert_eq!(app.get(&token, "/stats").await.status(), 200);
}

#[tokio::test]
async fn login_is_throttled_per_account_across_addresses() {
    let app = TestApp::spawn_with(&[
        ("RAGD_LOGIN_ACCOUNT_RATE_LIMIT", "3/60"),
        ("RAGD_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let login = |forwarded: String, username: &'static str, password: &'static str| {
        app.client
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", forwarded)
            .form(&[("username", username), ("password", password)])
            .send()
    };
    for i in 0..3 {
        let r = login(
            format!("203.0.113.{i}"),
            crate::helpers::ADMIN,
            "wrong-password-1",
        )
        .await;
        assert_eq!(r.expect("send").status(), 401);
    }
    // A fourth address, even with the right password: the account is out of tries.
    let r = login(
        "198.51.100.9".into(),
        crate::helpers::ADMIN,
        crate::helpers::PASSWORD,
    )
    .await;
    let refused = error_body(r.expect("send"), 429, "rate_limit_exceeded").await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("account"),
        "{refused}"
    );
    // Other accounts are not affected.
    let r = login("198.51.100.9".into(), "someone-else", "wrong-password-1").await;
    assert_eq!(r.expect("send").status(), 401);
}

#[tokio::test]
async fn an_upload_that_times_out_leaves_no_staged_files() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(&[("RAGD_REQUEST_TIMEOUT_SECS", "1")]).await;
    let token = app.token().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /documents HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 10000000\r\n\r\n\
         --XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.expect("write");
    socket.write_all(&vec![b'a'; 200_000]).await.expect("write");
    // Then silence: the request times out while its file is half staged.
    let uploads = app.data.path().join("uploads");
    let staged = || std::fs::read_dir(&uploads).map_or(0, Iterator::count);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while staged() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.no_staged_uploads("a timed-out upload").await;
    drop(socket);
}
