//! The command line (clap). Every engine setting is also an environment variable, with the
//! chapter's names where the chapter has one.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::EngineArgs;
use crate::serve_config::ServeArgs;

/// ragd: a retrieval-augmented generation server. Ingest documents, then ask questions and get
/// answers grounded in cited sources.
#[derive(Debug, Parser)]
#[command(name = "ragd", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the HTTP server (the chapter's API, documents, jobs, docs at /docs and /redoc).
    Serve(Box<ServeCommand>),
    /// Manage the users who may log in.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage API keys (shown once at creation, stored hashed).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Probe a running server: exits 0 when it answers 2xx (the container image's HEALTHCHECK;
    /// no curl needed in the image).
    Health {
        /// What to probe (default: http://127.0.0.1:$RAGD_PORT/health/live, port 8000 when unset).
        #[arg(long)]
        url: Option<String>,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
    /// Ingest files and directories (txt, md, html, pdf, docx); unchanged files are skipped.
    Ingest(IngestArgs),
    /// Ask a question; prints the answer, its confidence and the cited sources.
    Query(QueryArgs),
    /// Measure retrieval quality on a question set (hit@k, MRR, nDCG, recall, latency) for one
    /// or several configurations (see eval/README.md).
    Eval(Box<EvalArgs>),
    /// Verify that documents, chunks and index vectors agree (after a crash, or a database
    /// restored beside a newer index, for instance).
    Check {
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Rebuild the vector index from the database (every vector re-read), then check.
        #[arg(long)]
        repair: bool,
    },
    /// List, show or delete stored documents.
    #[command(subcommand)]
    Documents(DocumentsCommand),
    /// Copy the data dir (database and vector index) into a new directory, consistently, even
    /// while a server runs on it. With DATABASE_URL, use pg_dump instead.
    Backup {
        /// The new (or empty) directory.
        path: PathBuf,
    },
    /// Put a backup into the data dir, then check it (the data dir must hold no database
    /// unless --replace; no server may run on it).
    Restore {
        /// The backup's directory.
        path: PathBuf,
        /// Replace the data dir's database and index.
        #[arg(long)]
        replace: bool,
    },
    /// Copy a data dir's documents, vectors, users, keys and tenants into PostgreSQL without
    /// re-embedding; run it again to resume; verifies the counts.
    Migrate {
        /// The data dir to copy (default: RAGD_DATA_DIR).
        #[arg(long)]
        from: Option<PathBuf>,
        /// The PostgreSQL URL (default: DATABASE_URL).
        #[arg(long, env = "RAGD_MIGRATE_TO", hide_env_values = true)]
        to: Option<String>,
    },
}

/// Where documents go or are searched.
#[derive(Debug, Args)]
pub(crate) struct ScopeArgs {
    /// Tenant.
    #[arg(long, env = "RAGD_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
    pub(crate) tenant: String,
    /// Collection (the chapter's CHROMA_COLLECTION_NAME).
    #[arg(long, env = "CHROMA_COLLECTION_NAME", default_value = ragd_core::types::DEFAULT_COLLECTION)]
    pub(crate) collection: String,
}

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// The question set: a directory holding questions.jsonl (or BEIR's queries.jsonl +
    /// qrels.tsv), or a questions JSONL file.
    pub(crate) set: PathBuf,
    /// Configurations to compare, MODE[:FUSION][+rerank] comma-separated: dense, lexical,
    /// hybrid, hybrid:rrf, hybrid:weighted, hybrid+rerank.
    #[arg(long, value_delimiter = ',', default_value = "dense,lexical,hybrid")]
    pub(crate) compare: Vec<String>,
    /// Ingest this directory into a fresh temporary data dir first (instead of the configured
    /// data dir).
    #[arg(long)]
    pub(crate) corpus: Option<PathBuf>,
    /// Keep the data dirs --corpus is ingested into under this directory (one per chunk
    /// setting; a later run re-ingests only what changed). Default: temporary, removed.
    #[arg(long)]
    pub(crate) work_dir: Option<PathBuf>,
    /// Chunk settings TOKENS/OVERLAP to compare, comma-separated (needs --corpus).
    #[arg(long, value_delimiter = ',')]
    pub(crate) chunks: Vec<String>,
    /// Evaluate a running server through POST /search.
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// API key for --url.
    #[arg(long, env = "RAGD_API_KEY", hide_env_values = true)]
    pub(crate) api_key: Option<String>,
    /// Bearer token for --url.
    #[arg(long, env = "RAGD_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Relevance by document, or by passage (a chunk must hold the answer's passage).
    #[arg(long, value_enum, default_value_t = crate::eval::metrics::Level::Passage)]
    pub(crate) level: crate::eval::metrics::Level,
    /// Only questions of this split (tune, heldout).
    #[arg(long)]
    pub(crate) split: Option<String>,
    /// Only questions in this language (en, pt).
    #[arg(long)]
    pub(crate) lang: Option<String>,
    /// Tenant searched.
    #[arg(long, env = "RAGD_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
    pub(crate) tenant: String,
    /// One collection only.
    #[arg(long)]
    pub(crate) collection: Option<String>,
    /// Print the table as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Files or directories (walked recursively).
    #[arg(required = true)]
    pub(crate) paths: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) scope: ScopeArgs,
    /// Only files matching this glob (repeatable), e.g. '*.md' or 'docs/**/*.html'.
    #[arg(long)]
    pub(crate) include: Vec<String>,
    /// Skip files or directories matching this glob (repeatable).
    #[arg(long)]
    pub(crate) exclude: Vec<String>,
    /// Metadata stored with every document, KEY=VALUE (repeatable).
    #[arg(long = "metadata", value_name = "KEY=VALUE")]
    pub(crate) metadata: Vec<String>,
    /// Follow symbolic links that lead out of the directories given (by default such links are
    /// skipped, so a link in a shared folder cannot pull in files from elsewhere).
    #[arg(long)]
    pub(crate) follow_symlinks: bool,
    /// Files processed at once (keeps the embedder's batches full).
    #[arg(long, default_value_t = 4)]
    pub(crate) jobs: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The question.
    pub(crate) query: String,
    /// Tenant.
    #[arg(long, env = "RAGD_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
    pub(crate) tenant: String,
    /// Search one collection only (default: all of the tenant's).
    #[arg(long)]
    pub(crate) collection: Option<String>,
    /// Number of sources (the chapter's max_results).
    #[arg(long, short, default_value_t = 5)]
    pub(crate) k: usize,
    /// Minimum calibrated similarity, 0.0-1.0.
    #[arg(long, short, default_value_t = 0.7)]
    pub(crate) threshold: f32,
    /// Search mode: dense, lexical or hybrid (default: RAGD_SEARCH_MODE).
    #[arg(long)]
    pub(crate) mode: Option<ragd_core::types::SearchMode>,
    /// Rerank the candidates (default: RAGD_RERANK).
    #[arg(long)]
    pub(crate) rerank: Option<bool>,
    /// Print the chapter's QueryResponse JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DocumentsCommand {
    /// List documents, newest first.
    List {
        /// Tenant.
        #[arg(long, env = "RAGD_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
        tenant: String,
        /// Only this collection.
        #[arg(long)]
        collection: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Documents to skip.
        #[arg(long, default_value_t = 0)]
        offset: u32,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show one document (and its chunks with --chunks).
    Show {
        /// Document id.
        id: String,
        /// The document's tenant.
        #[arg(long, env = "RAGD_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
        tenant: String,
        /// Also print the chunks.
        #[arg(long)]
        chunks: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Delete a document, its chunks and their vectors.
    Delete {
        /// Document id.
        id: String,
        /// The document's tenant.
        #[arg(long, env = "RAGD_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
        tenant: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ServeCommand {
    #[command(flatten)]
    pub(crate) serve: ServeArgs,
    /// The Redoc standalone bundle served at /redoc (fetched by `make assets`).
    #[arg(
        long,
        env = "RAGD_REDOC_JS",
        default_value = "vendor/redoc/redoc.standalone.js"
    )]
    pub(crate) redoc_js: PathBuf,
}

/// How a new password is given (never as a command-line argument, which other users can see).
#[derive(Debug, Args)]
pub(crate) struct PasswordArgs {
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub(crate) password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// Create a user (password from --password-stdin or RAGD_USER_PASSWORD).
    Create {
        /// Login name.
        username: String,
        /// Make the user an admin of their tenant.
        #[arg(long)]
        admin: bool,
        /// Tenant of the user.
        #[arg(long, env = "RAGD_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
        tenant: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// List users.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: they cannot log in, and their tokens and API keys stop working.
    Disable {
        /// Login name.
        username: String,
        /// Tenant of the user.
        #[arg(long, env = "RAGD_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
        tenant: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Login name.
        username: String,
        /// Tenant of the user.
        #[arg(long, env = "RAGD_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
        tenant: String,
    },
    /// Change a user's password (their existing tokens stop working).
    Passwd {
        /// Login name.
        username: String,
        /// Tenant of the user.
        #[arg(long, env = "RAGD_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
        tenant: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Create a key; prints it once.
    Create {
        /// A label.
        #[arg(long)]
        name: String,
        /// query, ingest, admin or guardrails:bypass (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Tenant of the key.
        #[arg(long, env = "RAGD_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
        tenant: String,
        /// Lifetime in seconds (default: no expiry).
        #[arg(long)]
        expires_in_seconds: Option<u64>,
    },
    /// List a tenant's keys (never their secrets).
    List {
        /// Tenant.
        #[arg(long, env = "RAGD_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
        tenant: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it stops working at once.
    Revoke {
        /// Key id.
        id: String,
        /// Tenant.
        #[arg(long, env = "RAGD_TENANT", default_value = ragd_core::types::DEFAULT_TENANT)]
        tenant: String,
    },
}
