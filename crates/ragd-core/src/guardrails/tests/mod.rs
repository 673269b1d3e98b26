//! Tests of the default policy and of policy files: true positives of every rule in Portuguese
//! and English, the false positives that must keep passing, PII redaction and file errors.

mod input;
mod output;
mod policy_file;

use std::sync::OnceLock;

use super::Policy;

/// The default policy, compiled once for all tests.
fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(Policy::default)
}
