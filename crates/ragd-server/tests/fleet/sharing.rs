//! What one instance learns, every instance knows: a document uploaded through nginx (stored by
//! whichever instance nginx chose) is found by each instance asked directly, and an API key
//! revoked on one instance, or a user disabled with `ragd users` beside them, is refused by the
//! others within a second, though they had just accepted it (and cached that for a minute).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fleet::Fleet;

#[tokio::test]
async fn a_document_uploaded_through_nginx_is_found_by_every_instance() {
    let Some(fleet) = Fleet::start(&[]).await else {
        return;
    };
    let admin = fleet.token().await;
    fleet
        .upload_corpus(&admin, &["tides-and-moon.txt", "sqlite-wal-mode.md"])
        .await;
    let note = json!({
        "content": "# Fleet note\n\nThe lighthouse keeper of Vardø winds the clock every ninth day.",
        "metadata": {"source": "vardo-note.md"},
    });
    let r = fleet
        .client
        .post(fleet.url("/documents"))
        .bearer_auth(&admin)
        .json(&note)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "JSON upload through nginx");

    for node in &fleet.nodes {
        let list = fleet.get_json(&node.base, &admin, "/documents").await;
        assert_eq!(list["total"], 3, "{}: {list}", node.name);
        for (question, source) in [
            ("What causes spring tides?", "tides-and-moon.txt"),
            ("How often does the keeper wind the clock?", "vardo-note.md"),
        ] {
            let r = fleet.query(&node.base, &admin, question).await;
            assert_eq!(r.status(), 200, "{}: {question}", node.name);
            let answer: Value = r.json().await.unwrap();
            assert_eq!(
                answer["sources"][0]["metadata"]["source"], source,
                "{}: {answer}",
                node.name
            );
            assert!(
                answer["answer"].as_str().is_some_and(|a| !a.is_empty()),
                "{}: {answer}",
                node.name
            );
        }
    }
}

#[tokio::test]
async fn a_key_revoked_on_one_instance_is_refused_by_all_within_a_second() {
    // Credentials cached for a minute: what stops the key elsewhere is the announcement over
    // Redis, not the cache expiring.
    let Some(fleet) = Fleet::start(&[LONG_AUTH_CACHE]).await else {
        return;
    };
    let admin = fleet.token().await;
    let (id, secret) = fleet.create_key(&admin, &["query"]).await;
    // Accepted everywhere, twice: each instance has now seen (and may cache) the key as valid.
    for _ in 0..2 {
        for base in fleet.bases() {
            let r = get(&fleet, &base, &secret).await;
            assert_eq!(r.status(), 200, "the new key at {base}");
        }
    }

    let r = fleet
        .client
        .delete(fleet.nodes[0].url(&format!("/keys/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "revoke on ragd-1");
    let revoked = Instant::now();
    assert_eq!(
        get(&fleet, &fleet.nodes[0].base, &secret).await.status(),
        401,
        "ragd-1 refuses the key it revoked at once"
    );

    let (second, third) = tokio::join!(
        refused_after(&fleet, &fleet.nodes[1].base, &secret, revoked),
        refused_after(&fleet, &fleet.nodes[2].base, &secret, revoked),
    );
    eprintln!("revoked key refused by ragd-2 after {second:?}, by ragd-3 after {third:?}");
    for (name, took) in [("ragd-2", second), ("ragd-3", third)] {
        assert!(
            took < Duration::from_secs(1),
            "{name} accepted a key revoked on ragd-1 for {took:?}"
        );
    }
    // And through nginx, whichever instance answers.
    for _ in 0..3 {
        assert_eq!(get(&fleet, &fleet.nginx.base, &secret).await.status(), 401);
    }
}

/// Credentials cached for a minute (the default is 1 s).
const LONG_AUTH_CACHE: (&str, &str) = ("RAGD_AUTH_CACHE_SECS", "60");

/// `ragd users disable` beside the fleet (the CLI on the same database and Redis): the user's
/// token is refused by every instance within a second, though each had it cached for a minute.
#[tokio::test]
async fn a_user_disabled_from_the_cli_is_refused_by_all_within_a_second() {
    let Some(fleet) = Fleet::start(&[LONG_AUTH_CACHE]).await else {
        return;
    };
    let admin = fleet.token().await;
    let body = json!({"username": "ops", "password": "ops-long-password", "role": "member"});
    let r = fleet
        .client
        .post(fleet.url("/users"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "create the user");
    let r = fleet
        .client
        .post(fleet.url("/auth/login"))
        .form(&[("username", "ops"), ("password", "ops-long-password")])
        .send()
        .await
        .unwrap();
    let login: Value = r.json().await.expect("json");
    let token = login["access_token"].as_str().expect("token").to_owned();
    for _ in 0..2 {
        for base in fleet.bases() {
            assert_eq!(get(&fleet, &base, &token).await.status(), 200, "{base}");
        }
    }

    let cli_dir = tempfile::tempdir().expect("tempdir");
    let out = crate::common::ragd_command(cli_dir.path())
        .args(["users", "disable", "ops"])
        .env("DATABASE_URL", &fleet.database)
        .env("REDIS_URL", fleet.redis.url())
        .output()
        .expect("ragd users disable");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let disabled = Instant::now();
    let took = tokio::join!(
        refused_after(&fleet, &fleet.nodes[0].base, &token, disabled),
        refused_after(&fleet, &fleet.nodes[1].base, &token, disabled),
        refused_after(&fleet, &fleet.nodes[2].base, &token, disabled),
    );
    eprintln!("disabled user refused after {took:?}");
    for took in [took.0, took.1, took.2] {
        assert!(took < Duration::from_secs(1), "accepted for {took:?}");
    }
}

async fn get(fleet: &Fleet, base: &str, token: &str) -> reqwest::Response {
    fleet
        .client
        .get(format!("{base}/documents?limit=1"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /documents")
}

/// Asks `base` every 50 ms until it refuses `token` with 401 (at most 5 s), and returns how long
/// after `since` that was. A status other than 200 or 401 fails the test.
async fn refused_after(fleet: &Fleet, base: &str, token: &str, since: Instant) -> Duration {
    loop {
        let status = get(fleet, base, token).await.status();
        match status.as_u16() {
            401 => return since.elapsed(),
            200 => {}
            other => panic!("{base}: {other} for a revoked key"),
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "{base} still accepts a key revoked 5 s ago"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
