//! A short schemathesis pass (`scripts/fuzz-api.sh`, `make fuzz-api` for the long one):
//! requests generated from openapi.json against a real server with a real token; no 5xx, no
//! response that violates the schema, no panic in the server's log.

use crate::helpers::root;

#[test]
fn generated_requests_get_no_5xx_and_schema_conformant_answers() {
    let out = std::process::Command::new(root().join("scripts/fuzz-api.sh"))
        .env("MAX_EXAMPLES", "8")
        .env("RAGD", env!("CARGO_BIN_EXE_ragd"))
        .output()
        .expect("scripts/fuzz-api.sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("requests sent"), "{stdout}");
}
