//! Tokens of an external identity provider: RS256 and ES256 keys generated here with openssl,
//! published as a JWKS file; ragd accepts their tokens with the right issuer, audience, key and
//! tenant claim, and nothing else.

use std::path::Path;
use std::process::Command;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{SECRET, TestApp, error_body};

/// Runs openssl in `dir`, failing the test with its message when it fails.
pub(crate) fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn openssl_key(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    openssl(dir, &[&["genpkey"][..], args, &["-out", name]].concat());
    std::fs::read(dir.join(name)).expect("key")
}

pub(crate) fn jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, alg).expect("jwk");
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

pub(crate) fn token(key: &EncodingKey, alg: Algorithm, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

pub(crate) fn claims(iss: &str, aud: &str, tenant: Option<&str>, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({"sub": "ext-user-1", "iss": iss, "aud": aud, "iat": now, "exp": now + exp_offset, "scope": "query openid"});
    if let Some(t) = tenant {
        c["tenant"] = json!(t);
    }
    c
}

#[tokio::test]
async fn rs256_and_es256_tokens_from_a_jwks_are_accepted_and_checked() {
    let keys = tempfile::tempdir().expect("tempdir");
    let rsa = EncodingKey::from_rsa_pem(&openssl_key(
        keys.path(),
        "rsa.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    ))
    .expect("rsa");
    let ec = EncodingKey::from_ec_pem(&openssl_key(
        keys.path(),
        "ec.pem",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    ))
    .expect("ec");
    let other = EncodingKey::from_ec_pem(&openssl_key(
        keys.path(),
        "other.pem",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    ))
    .expect("ec");
    let set = JwkSet {
        keys: vec![
            jwk(&rsa, Algorithm::RS256, "rsa-1"),
            jwk(&ec, Algorithm::ES256, "ec-1"),
        ],
    };
    let jwks = keys.path().join("jwks.json");
    std::fs::write(&jwks, serde_json::to_vec(&set).expect("json")).expect("write");

    let jwks_path = jwks.display().to_string();
    let app = TestApp::spawn_with(&[
        ("JWT_JWKS", jwks_path.as_str()),
        ("JWT_JWKS_ISSUER", "https://idp.example"),
        ("JWT_JWKS_AUDIENCE", "ragd-api"),
    ])
    .await;
    let good = claims("https://idp.example", "ragd-api", Some("acme"), 600);
    for t in [
        token(&rsa, Algorithm::RS256, "rsa-1", &good),
        token(&ec, Algorithm::ES256, "ec-1", &good),
    ] {
        let stats = app.get(&t, "/stats").await;
        assert_eq!(stats.status(), 200);
        // The scope claim gives `query`, not `ingest`.
        let upload = json!({"content": "x y z"});
        error_body(
            app.post_json(&t, "/documents", &upload).await,
            403,
            "forbidden",
        )
        .await;
    }
    // ragd's own HS256 tokens still work.
    assert_eq!(app.get(&app.token().await, "/stats").await.status(), 200);

    let cases = [
        ("unknown kid", token(&ec, Algorithm::ES256, "nope", &good)),
        (
            "signed by another key",
            token(&other, Algorithm::ES256, "ec-1", &good),
        ),
        (
            "wrong issuer",
            token(
                &ec,
                Algorithm::ES256,
                "ec-1",
                &claims("https://evil.example", "ragd-api", Some("acme"), 600),
            ),
        ),
        (
            "wrong audience",
            token(
                &ec,
                Algorithm::ES256,
                "ec-1",
                &claims("https://idp.example", "other", Some("acme"), 600),
            ),
        ),
        (
            "expired",
            token(
                &ec,
                Algorithm::ES256,
                "ec-1",
                &claims("https://idp.example", "ragd-api", Some("acme"), -3600),
            ),
        ),
        (
            "no tenant",
            token(
                &ec,
                Algorithm::ES256,
                "ec-1",
                &claims("https://idp.example", "ragd-api", None, 600),
            ),
        ),
        // Algorithm confusion: HS256 keyed with ragd's secret but the external claims.
        ("hs256 with external claims", {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some("ec-1".into());
            jsonwebtoken::encode(&h, &good, &EncodingKey::from_secret(SECRET.as_bytes()))
                .expect("sign")
        }),
    ];
    for (label, t) in cases {
        eprintln!("case: {label}");
        error_body(app.get(&t, "/stats").await, 401, "unauthorized").await;
    }
}

#[test]
fn a_jwks_without_issuer_or_with_bad_keys_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, r#"{"keys": []}"#).expect("write");
    let out = crate::helpers::ragd(dir.path())
        .arg("serve")
        .env("JWT_JWKS", &jwks)
        .env("JWT_JWKS_ISSUER", "https://idp.example")
        .env("JWT_JWKS_AUDIENCE", "ragd-api")
        .output()
        .expect("run");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("JWT_JWKS"));
}
