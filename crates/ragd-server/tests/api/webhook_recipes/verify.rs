// Cargo.toml: hmac = "0.12", sha2 = "0.10", base64 = "0.22", hex = "0.4"
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far `webhook-timestamp` may be from our clock, either way.
const TOLERANCE_SECS: u64 = 5 * 60;

/// `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>`.
fn verify_chapter(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(signature) = header.strip_prefix("sha256=").and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok() // constant-time
}

/// A `whsec_<base64>` secret signs with its decoded bytes; any other with its UTF-8 bytes.
fn signing_key(secret: &str) -> Vec<u8> {
    match secret.strip_prefix("whsec_").map(|encoded| BASE64.decode(encoded)) {
        Some(Ok(key)) => key,
        Some(Err(_)) | None => secret.as_bytes().to_vec(),
    }
}

/// Standard Webhooks: `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,<base64>`,
/// several separated by spaces while a secret rotates). `now` is the current unix time in seconds.
fn verify_standard(
    secret: &str,
    msg_id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> bool {
    let Some(sent) = Some(timestamp)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<i64>().ok())
    else {
        return false;
    };
    if now.abs_diff(sent) > TOLERANCE_SECS {
        return false; // too old (a replay) or from the future
    }
    let key = signing_key(secret);
    signatures
        .split(' ')
        .filter_map(|candidate| candidate.strip_prefix("v1,"))
        .filter_map(|encoded| BASE64.decode(encoded).ok())
        .any(|signature| {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
                return false;
            };
            mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
            mac.update(body);
            mac.verify_slice(&signature).is_ok() // constant-time
        })
}
