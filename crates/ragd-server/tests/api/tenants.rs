//! Tenant management: platform admins (admins of the platform tenant) create tenants and users
//! anywhere; a tenant's admins manage their own tenant's users only; members neither.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body};

async fn login(app: &TestApp, user: &str, password: &str) -> String {
    let r = app.login(user, password).await;
    assert_eq!(r.status(), 200, "{user} logs in");
    r.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

#[tokio::test]
async fn platform_admins_manage_tenants_and_tenant_admins_their_own_users() {
    let app = TestApp::spawn().await;
    let platform = app.token().await;

    let r = app
        .post_json(&platform, "/tenants", &json!({"name": "acme"}))
        .await;
    assert_eq!(r.status(), 201);
    error_body(
        app.post_json(&platform, "/tenants", &json!({"name": "acme"}))
            .await,
        409,
        "conflict",
    )
    .await;
    error_body(
        app.post_json(&platform, "/tenants", &json!({"name": "a/b"}))
            .await,
        422,
        "validation_error",
    )
    .await;
    let tenants = app.get_json(&platform, "/tenants").await;
    let names: Vec<&str> = tenants
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"acme") && names.contains(&"default"),
        "{tenants}"
    );

    let ana = json!({"username": "ana", "password": "ana-long-password", "role": "admin", "tenant": "acme"});
    let created: Value = app
        .post_json(&platform, "/users", &ana)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (created["tenant"].as_str(), created["role"].as_str()),
        (Some("acme"), Some("admin"))
    );
    assert!(created.get("password_hash").is_none());
    let nowhere = json!({"username": "x", "password": "x-long-password-1", "tenant": "nowhere"});
    error_body(
        app.post_json(&platform, "/users", &nowhere).await,
        404,
        "not_found",
    )
    .await;
    let short = json!({"username": "y", "password": "short"});
    error_body(
        app.post_json(&platform, "/users", &short).await,
        422,
        "validation_error",
    )
    .await;

    // A tenant admin: own tenant only, no tenant management.
    let ana = login(&app, "ana", "ana-long-password").await;
    error_body(app.get(&ana, "/tenants").await, 403, "forbidden").await;
    error_body(
        app.post_json(&ana, "/tenants", &json!({"name": "mine"}))
            .await,
        403,
        "forbidden",
    )
    .await;
    let joe = json!({"username": "joe", "password": "joe-long-password"});
    let r: Value = app
        .post_json(&ana, "/users", &joe)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (r["tenant"].as_str(), r["role"].as_str()),
        (Some("acme"), Some("member"))
    );
    let elsewhere =
        json!({"username": "eve", "password": "eve-long-password", "tenant": "default"});
    error_body(
        app.post_json(&ana, "/users", &elsewhere).await,
        403,
        "forbidden",
    )
    .await;
    let users = app.get_json(&ana, "/users").await;
    let tenants_seen: Vec<&str> = users
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|u| u["tenant"].as_str())
        .collect();
    assert!(
        tenants_seen.iter().all(|t| *t == "acme") && tenants_seen.len() == 2,
        "{users}"
    );
    assert!(
        app.get_json(&platform, "/users")
            .await
            .as_array()
            .expect("list")
            .len()
            >= 3
    );

    // A member: neither.
    let joe = login(&app, "joe", "joe-long-password").await;
    error_body(app.get(&joe, "/users").await, 403, "forbidden").await;
    error_body(
        app.post_json(
            &joe,
            "/users",
            &json!({"username": "z", "password": "z-long-password-1"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn usernames_are_unique_per_tenant_and_reveal_nothing_across_tenants() {
    let app = TestApp::spawn().await;
    let platform = app.token().await;
    assert_eq!(
        app.post_json(&platform, "/tenants", &json!({"name": "acme"}))
            .await
            .status(),
        201
    );
    let ana = json!({"username": "ana", "password": "ana-long-password", "role": "admin", "tenant": "acme"});
    assert_eq!(app.post_json(&platform, "/users", &ana).await.status(), 201);
    let ana = login(&app, "ana", "ana-long-password").await;
    // "admin" exists in the platform tenant: acme can have its own, no 409, no hint.
    let own_admin = json!({"username": "admin", "password": "acme-admin-password"});
    let r = app.post_json(&ana, "/users", &own_admin).await;
    assert_eq!(r.status(), 201, "a name of another tenant is free here");
    error_body(
        app.post_json(&ana, "/users", &own_admin).await,
        409,
        "conflict",
    )
    .await;

    // Two "admin" users now: a login without a tenant is refused like a wrong password...
    let r = app.login("admin", "acme-admin-password").await;
    error_body(r, 401, "unauthorized").await;
    // ...and each logs in naming their tenant, into their own tenant.
    let with_tenant = |tenant: &'static str, password: &'static str| {
        app.client
            .post(app.url("/auth/login"))
            .form(&[
                ("username", "admin"),
                ("password", password),
                ("tenant", tenant),
            ])
            .send()
    };
    let r = with_tenant("acme", "acme-admin-password")
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.expect("json");
    let acme_admin = token["access_token"].as_str().expect("token");
    error_body(app.get(acme_admin, "/tenants").await, 403, "forbidden").await;
    let r = with_tenant("default", crate::helpers::PASSWORD)
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let r = with_tenant("acme", crate::helpers::PASSWORD)
        .await
        .expect("send");
    error_body(r, 401, "unauthorized").await;
}
