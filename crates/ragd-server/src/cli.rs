//! The command line (clap). Every engine setting is also an environment variable, with the
//! chapter's names where the chapter has one.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::EngineArgs;

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
    /// Ingest files and directories (txt, md, html, pdf, docx); unchanged files are skipped.
    Ingest(IngestArgs),
    /// Ask a question; prints the answer, its confidence and the cited sources.
    Query(QueryArgs),
    /// Verify that documents, chunks and index vectors agree (after a crash, for instance).
    Check {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// List, show or delete stored documents.
    #[command(subcommand)]
    Documents(DocumentsCommand),
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
    },
}
