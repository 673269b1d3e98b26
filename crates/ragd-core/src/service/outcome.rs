//! [`FileOutcome`]: what ingesting one file did, the one report the CLI, an HTTP upload and an
//! ingestion job all give (and a job stores).

use serde::{Deserialize, Serialize};

use crate::types::DocumentId;

/// The outcome of ingesting one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FileOutcome {
    /// New or changed content was stored.
    Ingested {
        /// The file's source name.
        source: String,
        /// The stored document.
        document_id: DocumentId,
        /// Chunks written.
        chunks: u32,
        /// Whether it replaced an earlier version of the same source.
        #[serde(default)]
        replaced: bool,
    },
    /// The same content was already stored: nothing was done.
    Unchanged {
        /// The file's source name.
        source: String,
        /// The stored document.
        document_id: DocumentId,
    },
    /// The file could not be ingested; nothing of it was stored.
    Failed {
        /// The file's source name.
        source: String,
        /// Why, for the user (internal errors are logged and reported generically).
        error: String,
    },
}

impl FileOutcome {
    /// The file's source name.
    pub fn source(&self) -> &str {
        match self {
            Self::Ingested { source, .. }
            | Self::Unchanged { source, .. }
            | Self::Failed { source, .. } => source,
        }
    }

    /// `ingested`, `unchanged` or `failed`.
    pub fn status(&self) -> &'static str {
        match self {
            Self::Ingested { .. } => "ingested",
            Self::Unchanged { .. } => "unchanged",
            Self::Failed { .. } => "failed",
        }
    }

    /// The document, when one is stored.
    pub fn document_id(&self) -> Option<DocumentId> {
        match self {
            Self::Ingested { document_id, .. } | Self::Unchanged { document_id, .. } => {
                Some(*document_id)
            }
            Self::Failed { .. } => None,
        }
    }

    /// Chunks written (0 unless ingested).
    pub fn chunks(&self) -> u32 {
        match self {
            Self::Ingested { chunks, .. } => *chunks,
            Self::Unchanged { .. } | Self::Failed { .. } => 0,
        }
    }

    /// Why it failed.
    pub fn error(&self) -> Option<&str> {
        match self {
            Self::Failed { error, .. } => Some(error),
            Self::Ingested { .. } | Self::Unchanged { .. } => None,
        }
    }

    /// A failure of `source` for `reason`.
    pub fn failed(source: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Failed {
            source: source.into(),
            error: reason.into(),
        }
    }

    /// The outcome of [`crate::RagService::ingest`] for `source`. An internal error is logged
    /// here and reported without its details.
    pub fn of(source: &str, result: crate::Result<crate::IngestOutcome>) -> Self {
        match result {
            Ok(crate::IngestOutcome::Ingested { document, replaced }) => Self::Ingested {
                source: source.to_owned(),
                document_id: document.id,
                chunks: document.chunk_count,
                replaced,
            },
            Ok(crate::IngestOutcome::Unchanged { document }) => Self::Unchanged {
                source: source.to_owned(),
                document_id: document.id,
            },
            Err(err @ crate::Error::Internal(_)) => {
                tracing::error!(%source, error = %err, "ingestion failed");
                Self::failed(source, "internal error while ingesting")
            }
            Err(err) => Self::failed(source, err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_job_rows_written_before_it_existed() {
        // A job row stored by an earlier version: every file had all five fields.
        let old = r#"[
            {"source":"a.md","status":"ingested","document_id":"0191e7a0-0000-7000-8000-000000000001","chunks":3,"error":null},
            {"source":"b.md","status":"unchanged","document_id":"0191e7a0-0000-7000-8000-000000000002","chunks":0,"error":null},
            {"source":"c.pdf","status":"failed","document_id":null,"chunks":0,"error":"c.pdf: no text"}
        ]"#;
        let files: Vec<FileOutcome> = serde_json::from_str(old).expect("old rows parse");
        assert_eq!(
            files.iter().map(FileOutcome::status).collect::<Vec<_>>(),
            ["ingested", "unchanged", "failed"]
        );
        assert_eq!(files[0].chunks(), 3);
        assert!(matches!(
            files[0],
            FileOutcome::Ingested {
                replaced: false,
                ..
            }
        ));
        assert_eq!(files[2].error(), Some("c.pdf: no text"));
        let round: Vec<FileOutcome> =
            serde_json::from_str(&serde_json::to_string(&files).expect("writes")).expect("reads");
        assert_eq!(round, files);
    }
}
