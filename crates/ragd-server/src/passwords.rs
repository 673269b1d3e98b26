//! Passwords: the policy every new password must meet, and argon2id hashing and verification
//! (hashing is CPU- and memory-hard on purpose; callers bound how many run at once).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// Shortest accepted password, in characters.
pub(crate) const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password, in bytes (bounds the hashing work an attacker can ask for).
pub(crate) const MAX_PASSWORD_BYTES: usize = 1024;

/// argon2id with OWASP's recommended minimum: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the password policy.
pub(crate) fn check_password_policy(password: &str) -> ragd_core::Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ragd_core::Error::invalid(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ragd_core::Error::invalid(format!(
            "the password must have at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Hashes a password into a PHC string (argon2id, random 16-byte salt).
pub(crate) fn hash_password(password: &SecretString) -> ragd_core::Result<String> {
    let salt_bytes = uuid::Uuid::new_v4().into_bytes();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(ragd_core::Error::internal)?;
    argon2()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ragd_core::Error::internal)
}

/// Verifies a password against a PHC string, in constant time.
pub(crate) fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
}
