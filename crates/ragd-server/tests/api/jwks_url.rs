//! An external identity provider's JWKS fetched from its https URL: served by a real TLS server
//! (Python's, with a certificate of a CA made here by openssl), refreshed when the provider rotates
//! its keys, throttled against made-up key ids, and never trusted without the CA.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey};

use crate::helpers::{TestApp, error_body};
use crate::oidc::{claims, jwk, openssl, openssl_key, token};

const ISSUER: &str = "https://idp.example";
const AUDIENCE: &str = "ragd-api";

/// A CA (`ca.pem`) and a server certificate for 127.0.0.1 signed by it (`srv.pem`, `srv.key`).
fn make_pki(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=ragd test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "srv.key",
                "-out",
                "srv.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
}

/// The HTTPS server publishing `dir/www/jwks.json`; killed on drop.
struct Provider {
    child: Child,
    port: u16,
    hits: PathBuf,
}

impl Provider {
    fn start(dir: &Path, port: u16) -> Self {
        std::fs::create_dir_all(dir.join("www")).expect("www");
        let hits = dir.join("hits");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/api/https_file_server.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .args(["srv.pem", "srv.key", "www", "hits", &port.to_string()])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("port line");
        let port = line.trim().parse().expect("port");
        Self { child, port, hits }
    }

    fn publish(dir: &Path, keys: &JwkSet) {
        let tmp = dir.join("www/jwks.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&keys).expect("json")).expect("write");
        std::fs::rename(tmp, dir.join("www/jwks.json")).expect("rename");
    }

    fn hits(&self) -> usize {
        std::fs::read_to_string(&self.hits)
            .unwrap_or_default()
            .lines()
            .count()
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/jwks.json", self.port)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ec_key(dir: &Path, name: &str) -> EncodingKey {
    EncodingKey::from_ec_pem(&openssl_key(
        dir,
        name,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    ))
    .expect("ec key")
}

#[tokio::test]
async fn keys_come_from_the_https_url_and_follow_rotation_without_hammering_the_provider() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_pki(dir.path());
    let (old, new) = (ec_key(dir.path(), "old.pem"), ec_key(dir.path(), "new.pem"));
    std::fs::create_dir_all(dir.path().join("www")).expect("www");
    Provider::publish(
        dir.path(),
        &JwkSet {
            keys: vec![jwk(&old, Algorithm::ES256, "k-old")],
        },
    );
    let provider = Provider::start(dir.path(), 0);
    let url = provider.url();
    let ca = dir.path().join("ca.pem").display().to_string();
    let app = TestApp::spawn_with(&[
        ("JWT_JWKS", url.as_str()),
        ("JWT_JWKS_ISSUER", ISSUER),
        ("JWT_JWKS_AUDIENCE", AUDIENCE),
        ("RAGD_OUTBOUND_CA_FILE", ca.as_str()),
        ("JWT_JWKS_MIN_REFRESH_SECS", "2"),
    ])
    .await;
    let good = claims(ISSUER, AUDIENCE, Some("acme"), 600);
    let old_token = token(&old, Algorithm::ES256, "k-old", &good);
    assert_eq!(
        app.get(&old_token, "/stats").await.status(),
        200,
        "{}",
        app.logs()
    );
    assert_eq!(provider.hits(), 1, "fetched once at start");

    // Tokens with made-up key ids: all refused, and at most one extra fetch between them.
    let started = Instant::now();
    for i in 0..20 {
        let forged = token(&new, Algorithm::ES256, &format!("made-up-{i}"), &good);
        error_body(app.get(&forged, "/stats").await, 401, "unauthorized").await;
    }
    assert!(
        provider.hits() <= 2,
        "{} fetches for 20 unknown key ids in {:?}",
        provider.hits(),
        started.elapsed()
    );

    // The provider rotates: the new key replaces the old one. Once the minimum interval has
    // passed, a token of the new key makes ragd fetch the new set, and the old key stops working.
    Provider::publish(
        dir.path(),
        &JwkSet {
            keys: vec![jwk(&new, Algorithm::ES256, "k-new")],
        },
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = provider.hits();
    let new_token = token(&new, Algorithm::ES256, "k-new", &good);
    assert_eq!(
        app.get(&new_token, "/stats").await.status(),
        200,
        "{}",
        app.logs()
    );
    assert_eq!(provider.hits(), before + 1);
    error_body(app.get(&old_token, "/stats").await, 401, "unauthorized").await;
    // A bad document from the provider keeps the last good keys.
    std::fs::write(
        dir.path().join("www/jwks.json"),
        b"<html>maintenance</html>",
    )
    .expect("write");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let forged = token(&new, Algorithm::ES256, "made-up-again", &good);
    error_body(app.get(&forged, "/stats").await, 401, "unauthorized").await;
    assert_eq!(app.get(&new_token, "/stats").await.status(), 200);
    assert!(
        app.logs().contains("cannot refresh the JWKS"),
        "{}",
        app.logs()
    );
}

#[tokio::test]
async fn an_untrusted_or_unreachable_provider_gives_503_until_its_keys_arrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_pki(dir.path());
    let key = ec_key(dir.path(), "k.pem");
    std::fs::create_dir_all(dir.path().join("www")).expect("www");
    Provider::publish(
        dir.path(),
        &JwkSet {
            keys: vec![jwk(&key, Algorithm::ES256, "k1")],
        },
    );
    let good = token(
        &key,
        Algorithm::ES256,
        "k1",
        &claims(ISSUER, AUDIENCE, Some("acme"), 600),
    );

    // Without the CA the provider's certificate is not trusted: no keys, 503 (not 401: ragd
    // cannot tell yet), while ragd's own logins keep working.
    let provider = Provider::start(dir.path(), 0);
    let url = provider.url();
    let env = [
        ("JWT_JWKS", url.as_str()),
        ("JWT_JWKS_ISSUER", ISSUER),
        ("JWT_JWKS_AUDIENCE", AUDIENCE),
        ("JWT_JWKS_MIN_REFRESH_SECS", "1"),
    ];
    let untrusting = TestApp::spawn_with(&env).await;
    let r = untrusting.get(&good, "/stats").await;
    assert!(r.headers().contains_key("retry-after"));
    error_body(r, 503, "service_unavailable").await;
    assert_eq!(
        untrusting
            .get(&untrusting.token().await, "/stats")
            .await
            .status(),
        200
    );
    drop(untrusting);

    // A provider that is down at start: 503, then its keys are picked up once it answers.
    let port = provider.port;
    drop(provider);
    let ca = dir.path().join("ca.pem").display().to_string();
    let mut with_ca = env.to_vec();
    with_ca.push(("RAGD_OUTBOUND_CA_FILE", ca.as_str()));
    let app = TestApp::spawn_with(&with_ca).await;
    error_body(app.get(&good, "/stats").await, 503, "service_unavailable").await;
    let _provider = Provider::start(dir.path(), port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = app.get(&good, "/stats").await.status();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still {status}: {}", app.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn plain_http_to_another_host_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = crate::helpers::ragd(dir.path())
        .arg("serve")
        .env("JWT_JWKS", "http://idp.example/jwks.json")
        .env("JWT_JWKS_ISSUER", ISSUER)
        .env("JWT_JWKS_AUDIENCE", AUDIENCE)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("https"),
        "{stderr}"
    );
}
