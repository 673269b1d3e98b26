//! The bodies of Chroma's v2 HTTP API that ragd sends and reads, and [`Failure`]: what went
//! wrong with a call, so the index can tell a vanished collection (404) from an outage.

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A failed call.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No usable answer: connection refused, timeout, a body cut short or not JSON.
    Unreachable(String),
    /// An error answer, with Chroma's `{"error", "message"}`.
    Refused {
        /// The HTTP status.
        status: StatusCode,
        /// Chroma's error class (`NotFoundError`, `InvalidArgumentError`, …).
        error: String,
        /// Its message.
        message: String,
    },
}

impl Failure {
    /// Whether Chroma answered 404 (a collection, database or tenant it does not have).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Self::Refused { status, .. } if *status == StatusCode::NOT_FOUND)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(reason) => write!(f, "no answer: {reason}"),
            Self::Refused {
                status,
                error,
                message,
            } => {
                write!(f, "HTTP {status}: {error}: {message}")?;
                if matches!(*status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                    write!(f, " (check CHROMA_AUTH_TOKEN)")?;
                }
                Ok(())
            }
        }
    }
}

/// A collection as Chroma describes it.
#[derive(Debug, Deserialize)]
pub(crate) struct CollectionInfo {
    /// Its UUID, which the record calls take.
    pub(crate) id: String,
    /// The metadata given at creation.
    #[serde(default)]
    pub(crate) metadata: Option<Map<String, Value>>,
    /// Its index settings (`{"hnsw": {"space": "cosine", …}}`).
    #[serde(default)]
    pub(crate) configuration_json: Value,
}

/// A page of records: ids with their metadata.
#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    pub(crate) ids: Vec<String>,
    #[serde(default)]
    pub(crate) metadatas: Option<Vec<Option<Map<String, Value>>>>,
}

/// Records with their vectors (a `get` including `embeddings`).
#[derive(Debug, Deserialize)]
pub(crate) struct Vectors {
    pub(crate) ids: Vec<String>,
    #[serde(default)]
    pub(crate) embeddings: Option<Vec<Vec<f32>>>,
}

/// Records to upsert, one entry of each list per record. Vectors are serialised as `f32`, so the
/// shortest decimal that reads back to the same `f32` is sent.
#[derive(Debug, Serialize)]
pub(crate) struct Records<'a> {
    pub(crate) ids: Vec<String>,
    pub(crate) embeddings: Vec<&'a [f32]>,
    pub(crate) metadatas: Vec<Map<String, Value>>,
}

/// A nearest-neighbour query of one vector among the records matching `filter`.
#[derive(Debug, Serialize)]
pub(crate) struct Query<'a> {
    pub(crate) query_embeddings: [&'a [f32]; 1],
    pub(crate) n_results: usize,
    #[serde(rename = "where")]
    pub(crate) filter: Value,
    pub(crate) include: [&'static str; 1],
}

/// The answer to a [`Query`]: one list of ids and one of distances per query vector.
#[derive(Debug, Deserialize)]
pub(crate) struct QueryAnswer {
    pub(crate) ids: Vec<Vec<String>>,
    #[serde(default)]
    pub(crate) distances: Option<Vec<Vec<Option<f32>>>>,
}

/// What the server accepts (`GET /api/v2/pre-flight-checks`).
#[derive(Debug, Deserialize)]
pub(crate) struct PreFlight {
    pub(crate) max_batch_size: usize,
}

impl Failure {
    /// The failure of a call that got no usable answer.
    pub(crate) fn unreachable(err: &reqwest::Error) -> Self {
        let reason = if err.is_timeout() {
            "timed out".to_owned()
        } else if err.is_connect() {
            "cannot connect".to_owned()
        } else {
            "the call failed".to_owned()
        };
        // The chain names the cause (refused, DNS, TLS) without the URL's credentials, if any.
        let mut detail = String::new();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            detail = cause.to_string();
            source = cause.source();
        }
        if detail.is_empty() {
            Self::Unreachable(reason)
        } else {
            Self::Unreachable(format!("{reason} ({detail})"))
        }
    }
}
