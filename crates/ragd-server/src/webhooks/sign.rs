//! Webhook signatures, two of them on every delivery that has a secret, so a receiver can check
//! either:
//!
//! - the chapter's (section 7.3): `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, body)>`,
//!   keyed by the secret's UTF-8 bytes. It covers the body only, so a captured delivery can be
//!   replayed; it is kept because the chapter's receivers check it.
//! - [Standard Webhooks](https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp`
//!   and `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`. It binds
//!   the message id and the time, so a receiver rejects replays (old timestamps, seen ids).
//!
//! Standard Webhooks secrets look like `whsec_<base64>` and sign with the decoded bytes; ragd
//! accepts the chapter's free-form secrets too, so: a secret that starts with `whsec_` and
//! continues with canonical base64 signs the Standard Webhooks signature with the decoded bytes
//! (what the official libraries do), any other secret with its UTF-8 bytes. The chapter's
//! signature always uses the secret's UTF-8 bytes, `whsec_` included, as the chapter does.
//!
//! The receivers' side is in `tests/api/webhook_recipes/` (Python, TypeScript, Rust), the same
//! code the README shows; the tests below run the Python and Rust ones against what this module
//! signs (`tests/api/webhooks.rs` type-checks the TypeScript one with `tsc --strict` and runs it).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue, InvalidHeaderValue};
use sha2::Sha256;

/// The chapter's signature header.
pub(crate) const CHAPTER_SIGNATURE: HeaderName = HeaderName::from_static("x-webhook-signature");
/// Standard Webhooks: the message id, the same on every retry of one delivery.
pub(crate) const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
/// Standard Webhooks: unix seconds when the attempt was signed.
pub(crate) const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
/// Standard Webhooks: `v1,<base64>`.
pub(crate) const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// A webhook secret a receiver could not use.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretError {
    /// Nothing to sign with.
    #[error("the webhook secret is empty; leave `secret` out for unsigned deliveries")]
    Empty,
    /// `whsec_` announces a Standard Webhooks secret, but the rest is not its base64 key.
    #[error(
        "a webhook secret starting with whsec_ must continue with standard base64 (A-Z a-z 0-9 + /, \
         = padding), as Standard Webhooks libraries decode it; drop the whsec_ prefix to use the \
         text itself as the key"
    )]
    NotBase64,
}

/// Refuses secrets the receivers' libraries would read differently from ragd (call it when a
/// webhook is registered or its secret changes).
pub(crate) fn check_secret(secret: &str) -> Result<(), SecretError> {
    if secret.is_empty() {
        return Err(SecretError::Empty);
    }
    match secret
        .strip_prefix("whsec_")
        .map(|encoded| BASE64.decode(encoded))
    {
        Some(Ok(key)) if key.is_empty() => Err(SecretError::Empty),
        Some(Err(_)) => Err(SecretError::NotBase64),
        Some(Ok(_)) | None => Ok(()),
    }
}

/// The chapter's `X-Webhook-Signature` value: `sha256=<lowercase hex>`.
pub(crate) fn chapter_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac(secret.as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The Standard Webhooks `webhook-signature` value: `v1,<base64>` (see the module docs for the
/// key of a `whsec_` secret).
pub(crate) fn standard_signature(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let mut mac = hmac(&standard_key(secret));
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// The headers of one delivery attempt of `body` (JSON): `content-type`, `webhook-id`,
/// `webhook-timestamp` and, with a secret, both signatures. `msg_id` must be a valid header
/// value (visible ASCII); a UUID or an `msg_…` id is.
pub(crate) fn headers(
    secret: Option<&str>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<Vec<(HeaderName, HeaderValue)>, InvalidHeaderValue> {
    let mut headers = vec![
        (CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (WEBHOOK_ID, HeaderValue::from_str(msg_id)?),
        (WEBHOOK_TIMESTAMP, HeaderValue::from(timestamp)),
    ];
    if let Some(secret) = secret {
        headers.push((
            CHAPTER_SIGNATURE,
            HeaderValue::try_from(chapter_signature(secret, body))?,
        ));
        headers.push((
            WEBHOOK_SIGNATURE,
            HeaderValue::try_from(standard_signature(secret, msg_id, timestamp, body))?,
        ));
    }
    Ok(headers)
}

fn standard_key(secret: &str) -> Vec<u8> {
    match secret
        .strip_prefix("whsec_")
        .map(|encoded| BASE64.decode(encoded))
    {
        Some(Ok(key)) => key,
        Some(Err(_)) | None => secret.as_bytes().to_vec(),
    }
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC hashes a key longer than its block and pads a shorter one: no length is refused.
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use super::{
        HeaderName, HeaderValue, SecretError, chapter_signature, check_secret, headers,
        standard_signature,
    };

    // The README's Rust recipe, as the receivers would compile it.
    include!("../../tests/api/webhook_recipes/verify.rs");

    /// The Standard Webhooks specification's own test vector.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;

    const EVENT: &[u8] = br#"{"event_type":"query_completed","timestamp":"2024-01-01T00:00:00Z","data":{},"request_id":"req-1"}"#;

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    // Expected values computed independently with Python's `hmac`/`hashlib`/`base64`.
    #[test]
    fn chapter_signature_known_answers() {
        assert_eq!(
            chapter_signature("chapter-secret", EVENT),
            "sha256=98e30f6e6df5037678c91da3b0866278f9ec3c6a340590789f447de4ef1ac202"
        );
        assert_eq!(
            chapter_signature("segredo-çã", b""),
            "sha256=2937a3aafc0f47a2361d7f7dd7614d23de6e04b18244a9dd65f4d1a8f82ade1c"
        );
        // The chapter keys with the text, `whsec_` and all.
        assert_eq!(
            chapter_signature(SPEC_SECRET, SPEC_BODY),
            "sha256=80ec8a89ce3cd22133a1066caecb4d04fea7467657c8514d717ec42c38a5c94c"
        );
    }

    #[test]
    fn standard_signature_known_answers() {
        assert_eq!(
            standard_signature(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(
            standard_signature("chapter-secret", "msg_1", 1_704_067_200, EVENT),
            "v1,rDh7cOAyv22cUz3u0hH83SmErxilB/fod4hRDF+AG40="
        );
        // Not base64 after `whsec_`: the text is the key.
        assert_eq!(
            standard_signature("whsec_not base64!", "msg_1", 1_700_000_000, SPEC_BODY),
            "v1,OtvEz6jNiQd4qg/1WAgl1dh2lnUj1NO+v6kw7gNMses="
        );
    }

    #[test]
    fn secrets_receivers_would_misread_are_refused() {
        assert!(check_secret("chapter-secret").is_ok());
        assert!(check_secret(SPEC_SECRET).is_ok());
        assert!(matches!(check_secret(""), Err(SecretError::Empty)));
        assert!(matches!(check_secret("whsec_"), Err(SecretError::Empty)));
        assert!(matches!(
            check_secret("whsec_not base64!"),
            Err(SecretError::NotBase64)
        ));
        // Non-canonical trailing bits: Python and Node would decode it, to another key.
        assert!(matches!(
            check_secret("whsec_QR=="),
            Err(SecretError::NotBase64)
        ));
    }

    #[test]
    fn headers_carry_both_signatures_only_with_a_secret() {
        let names = |h: &[(HeaderName, HeaderValue)]| -> Vec<String> {
            h.iter().map(|(n, _)| n.as_str().to_owned()).collect()
        };
        let unsigned = headers(None, "msg_1", 1_704_067_200, EVENT).unwrap();
        assert_eq!(
            names(&unsigned),
            ["content-type", "webhook-id", "webhook-timestamp"]
        );
        let signed = headers(Some("chapter-secret"), "msg_1", 1_704_067_200, EVENT).unwrap();
        let value = |name: &str| {
            signed
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
                .unwrap()
        };
        assert_eq!(value("content-type"), "application/json");
        assert_eq!(value("webhook-id"), "msg_1");
        assert_eq!(value("webhook-timestamp"), "1704067200");
        assert_eq!(
            value("x-webhook-signature"),
            "sha256=98e30f6e6df5037678c91da3b0866278f9ec3c6a340590789f447de4ef1ac202"
        );
        assert_eq!(
            value("webhook-signature"),
            "v1,rDh7cOAyv22cUz3u0hH83SmErxilB/fod4hRDF+AG40="
        );
        assert!(headers(None, "bad\nid", 0, EVENT).is_err());
    }

    #[test]
    fn the_rust_recipe_accepts_ours_and_rejects_the_rest() {
        for secret in ["chapter-secret", SPEC_SECRET, "whsec_QR=="] {
            let ts = now();
            let chapter = chapter_signature(secret, EVENT);
            let standard = standard_signature(secret, "msg_1", ts, EVENT);
            let t = ts.to_string();
            assert!(verify_chapter(secret, EVENT, &chapter));
            assert!(verify_standard(secret, "msg_1", &t, &standard, EVENT, ts));
            let tampered = br#"{"event_type":"query_failed"}"#;
            assert!(!verify_chapter(secret, tampered, &chapter));
            assert!(!verify_standard(
                secret, "msg_1", &t, &standard, tampered, ts
            ));
            assert!(!verify_chapter("other", EVENT, &chapter));
            assert!(!verify_standard("other", "msg_1", &t, &standard, EVENT, ts));
            assert!(!verify_standard(secret, "msg_2", &t, &standard, EVENT, ts));
            // Five minutes either way, not a second more.
            assert!(verify_standard(
                secret,
                "msg_1",
                &t,
                &standard,
                EVENT,
                ts + 300
            ));
            assert!(verify_standard(
                secret,
                "msg_1",
                &t,
                &standard,
                EVENT,
                ts - 300
            ));
            assert!(!verify_standard(
                secret,
                "msg_1",
                &t,
                &standard,
                EVENT,
                ts + 301
            ));
            assert!(!verify_standard(
                secret,
                "msg_1",
                &t,
                &standard,
                EVENT,
                ts - 301
            ));
            // During a secret rotation several signatures are sent; one valid is enough.
            let rotating = format!("v1,AAAA {standard} v2,xyz");
            assert!(verify_standard(secret, "msg_1", &t, &rotating, EVENT, ts));
            for garbage in ["", "sha256=", "sha256=zz", &chapter.to_uppercase()] {
                assert!(!verify_chapter(secret, EVENT, garbage));
            }
            for garbage in ["", "v1,", "v1,!!", "v2,AAAA", &standard[3..]] {
                assert!(!verify_standard(secret, "msg_1", &t, garbage, EVENT, ts));
            }
            for bad_ts in ["", "+1", "-1", "1e9", "abc"] {
                assert!(!verify_standard(
                    secret, "msg_1", bad_ts, &standard, EVENT, ts
                ));
            }
        }
    }

    fn recipes_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/webhook_recipes")
    }

    /// Runs a recipe's test harness: `(chapter ok, standard ok)`.
    fn run_recipe(program: &str, file: &str, args: [&str; 5], body: &[u8]) -> (bool, bool) {
        let mut child = Command::new(program)
            .arg(recipes_dir().join(file))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `{program}` ({e}): this test needs it on PATH to check the README's {file} recipe")
            });
        child.stdin.take().unwrap().write_all(body).unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
            panic!(
                "{program} {file}: no JSON result; stdout {stdout:?}, stderr {:?}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let both = result["chapter"] == true && result["standard"] == true;
        assert_eq!(out.status.success(), both, "{program} {file}: exit status");
        (result["chapter"] == true, result["standard"] == true)
    }

    #[test]
    fn the_python_recipe_accepts_ours_and_rejects_tampering() {
        let body =
            r#"{"event_type":"document_ingested","data":{"title":"pão de fermentação natural"}}"#;
        // `whsec_QR==` has non-canonical base64: every side must fall back to the text as key.
        for secret in ["chapter-secret", SPEC_SECRET, "whsec_QR=="] {
            let ts = now();
            let t = ts.to_string();
            let chapter = chapter_signature(secret, body.as_bytes());
            let standard = standard_signature(secret, "msg_1", ts, body.as_bytes());
            let stale_ts = (ts - 600).to_string();
            let stale = standard_signature(secret, "msg_1", ts - 600, body.as_bytes());
            let (program, file) = ("python3", "verify.py");
            let args = [secret, "msg_1", &t, &chapter, &standard];
            assert_eq!(
                run_recipe(program, file, args, body.as_bytes()),
                (true, true)
            );
            let tampered = body.replace("pão", "pao");
            assert_eq!(
                run_recipe(program, file, args, tampered.as_bytes()),
                (false, false),
                "{program} {file} accepted a tampered body"
            );
            let args = [secret, "msg_1", &stale_ts, &chapter, &stale];
            assert_eq!(
                run_recipe(program, file, args, body.as_bytes()),
                (true, false),
                "{program} {file} accepted a 10-minute-old timestamp"
            );
        }
    }

    /// The README shows the recipes the tests above run: the part of each file before its test
    /// harness, verbatim.
    #[test]
    fn the_readme_shows_the_tested_recipes() {
        let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
        let readme = std::fs::read_to_string(readme_path).unwrap();
        for file in ["verify.py", "verify.ts", "verify.rs"] {
            let text = std::fs::read_to_string(recipes_dir().join(file)).unwrap();
            let recipe = text
                .split_once("--- test harness below")
                .map_or(text.as_str(), |(before, _)| {
                    before.rsplit_once('\n').map_or(before, |(kept, _)| kept)
                })
                .trim_end();
            assert!(
                readme.contains(recipe),
                "README.md does not show tests/api/webhook_recipes/{file} as it is; copy the file \
                 (up to its test harness) into the README's Webhooks section"
            );
        }
    }
}
