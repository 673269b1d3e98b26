//! What both test binaries (`cli`, `api`) need: the repository root and a `ragd` command on a
//! data dir with the model from `make model`, run from the data dir so that a developer's `.env`
//! in the repository (which `ragd` would find in a parent directory) cannot change what is tested.
//!
//! With `RAGD_TEST_STORE=postgres` (and `RAGD_TEST_DATABASE_URL`, which `make test` provides),
//! every command runs on PostgreSQL instead of SQLite: each data dir gets a database of its own,
//! named after it, so a test that restarts a server on its data dir finds its data again.
//!
//! With `RAGD_TEST_STORE=chroma`, the vectors go to a Chroma server instead of the in-process
//! index: `RAGD_TEST_CHROMA_URL` (`http://127.0.0.1:PORT`, as `scripts/chroma.sh start` prints
//! it), else one this process starts in `/var/tmp/ragd-test-chroma`. Each data dir gets a Chroma
//! collection of its own, named after it, for the same reason.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A `ragd` command on `data_dir`, with the model from `make model`.
pub(crate) fn ragd_command(data_dir: &Path) -> Command {
    let models = root().join("models");
    assert!(
        models.join("all-MiniLM-L6-v2/tokenizer.json").is_file(),
        "run `make model` first"
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ragd"));
    cmd.current_dir(data_dir)
        .env("RAGD_DATA_DIR", data_dir)
        .env("RAGD_MODELS_DIR", models)
        .env("RAGD_EMBED_THREADS", "2")
        // Tests that send many questions at once on a busy runner expect every one answered;
        // tests/api/shedding.rs sets its own budget.
        .env("RAGD_QUEUE_BUDGET_MS", "0")
        .env_remove("EMBEDDINGS_MODEL")
        .env_remove("RUST_LOG")
        .env_remove("DATABASE_URL")
        .env_remove("CHROMA_HOST")
        .env_remove("CHROMA_PORT")
        .env_remove("CHROMA_SSL")
        .env_remove("CHROMA_TENANT")
        .env_remove("CHROMA_DATABASE")
        .env_remove("CHROMA_AUTH_TOKEN")
        .env_remove("RAGD_CHROMA_COLLECTION")
        // The extractive answer unless a test asks for a model (tests/api/generation.rs).
        .env("RAGD_GENERATOR", "extractive")
        .env_remove("LLM_MODEL")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY");
    if let Some(url) = database_for(data_dir) {
        cmd.env("DATABASE_URL", url);
    }
    if on_chroma() {
        let url = chroma_url();
        cmd.env(
            "CHROMA_HOST",
            url.host_str().expect("RAGD_TEST_CHROMA_URL has a host"),
        )
        .env(
            "CHROMA_PORT",
            url.port_or_known_default()
                .expect("RAGD_TEST_CHROMA_URL has a port")
                .to_string(),
        )
        .env("CHROMA_SSL", (url.scheme() == "https").to_string())
        .env(
            "RAGD_CHROMA_COLLECTION",
            format!("t_{:016x}", path_hash(data_dir)),
        );
    }
    cmd
}

/// A command a test points at PostgreSQL itself (`DATABASE_URL` in `env`) keeps its vectors in
/// pgvector: ragd refuses Chroma beside PostgreSQL.
#[allow(dead_code)] // used by the API tests only
pub(crate) fn pgvector_when_asked(cmd: &mut Command, env: &[(&str, &str)]) {
    if env.iter().any(|(name, _)| *name == "DATABASE_URL") {
        cmd.env_remove("CHROMA_HOST");
    }
}

/// Whether the vectors are in Chroma (`RAGD_TEST_STORE=chroma`).
pub(crate) fn on_chroma() -> bool {
    std::env::var("RAGD_TEST_STORE").is_ok_and(|s| s == "chroma")
}

/// The test Chroma: `RAGD_TEST_CHROMA_URL`, else one this process starts with
/// `scripts/chroma.sh` in `/var/tmp/ragd-test-chroma` (reused while it runs).
fn chroma_url() -> reqwest::Url {
    static URL: std::sync::OnceLock<reqwest::Url> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let url = match std::env::var("RAGD_TEST_CHROMA_URL") {
            Ok(url) => url,
            Err(_) => {
                let out = Command::new(root().join("scripts/chroma.sh"))
                    .args(["start", "/var/tmp/ragd-test-chroma"])
                    .output()
                    .expect("scripts/chroma.sh runs");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            }
        };
        reqwest::Url::parse(url.trim()).expect("RAGD_TEST_CHROMA_URL is a URL")
    })
    .clone()
}

fn path_hash(path: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish()
}

/// Everything the store holds for `data_dir`, as bytes: the SQLite file, or a `pg_dump` of its
/// PostgreSQL database (for checks that no secret is stored in clear).
#[allow(dead_code)] // used by the API tests only
pub(crate) fn stored_bytes(data_dir: &Path) -> Vec<u8> {
    match database_for(data_dir) {
        Some(url) => {
            let out = Command::new(root().join("models/postgres/bin/pg_dump"))
                .args(["--data-only", &url])
                .output()
                .expect("pg_dump runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
        None => std::fs::read(data_dir.join("ragd.db")).expect("the SQLite file"),
    }
}

/// Whether the tests run on PostgreSQL (`RAGD_TEST_STORE=postgres`).
#[allow(dead_code)] // not the fleet tests
pub(crate) fn on_postgres() -> bool {
    std::env::var("RAGD_TEST_STORE").is_ok_and(|s| s == "postgres")
}

/// In PostgreSQL mode, the URL of `data_dir`'s own database (created on first use).
fn database_for(data_dir: &Path) -> Option<String> {
    if !on_postgres() {
        return None;
    }
    Some(database_named(&format!("d_{:016x}", path_hash(data_dir))))
}

/// The test PostgreSQL: `RAGD_TEST_DATABASE_URL` (`make test` starts one), else one this
/// process starts with `scripts/postgres.sh` in `/var/tmp/ragd-test-postgres` (reused while it
/// runs).
fn admin_url() -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("RAGD_TEST_DATABASE_URL") {
            return url;
        }
        let out = Command::new(root().join("scripts/postgres.sh"))
            .args(["start", "/var/tmp/ragd-test-postgres"])
            .output()
            .expect("scripts/postgres.sh runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
    .clone()
}

/// A new, empty PostgreSQL database on the test server.
#[allow(dead_code)] // used by the API tests only
pub(crate) fn fresh_database() -> String {
    database_named(&format!("f_{}", uuid::Uuid::new_v4().simple()))
}

/// The URL of database `name` on the test server, created if missing.
fn database_named(name: &str) -> String {
    let admin = admin_url();
    let psql = root().join("models/postgres/bin/psql");
    let exists = Command::new(&psql)
        .args([
            &admin,
            "-Atc",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
        ])
        .output()
        .expect("psql runs (make postgres)");
    if !String::from_utf8_lossy(&exists.stdout).contains('1') {
        let created = Command::new(&psql)
            .args([&admin, "-c", &format!("CREATE DATABASE {name}")])
            .output()
            .expect("psql runs");
        assert!(
            created.status.success(),
            "CREATE DATABASE {name}: {}",
            String::from_utf8_lossy(&created.stderr)
        );
    }
    let (base, _) = admin.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}
