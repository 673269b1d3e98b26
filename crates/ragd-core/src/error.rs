//! The one error type of the domain. Variants say what the caller can do about the failure;
//! transports map them to their own vocabulary (HTTP status, CLI exit code) in exactly one place.

use std::time::Duration;

/// Result alias used across the domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, classified by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing asked for does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(String),
    /// The input is unusable as given; the message names the field or file and the reason.
    #[error("{0}")]
    Invalid(String),
    /// The guardrails refused the input; `rules` names the rules that blocked it.
    #[error("blocked by guardrails: {}", rules.join(", "))]
    Blocked {
        /// Names of the blocking rules, in policy order.
        rules: Vec<String>,
    },
    /// The caller is known but may not do this; the message says what it lacks.
    #[error("{0}")]
    Forbidden(String),
    /// The input conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Too many requests; retry after the given delay.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited {
        /// When the caller may try again.
        retry_after: Duration,
    },
    /// Too much work is queued to answer within the configured budget (`RAGD_QUEUE_BUDGET_MS`):
    /// refused at once rather than kept waiting; retry after the given delay.
    #[error("overloaded: {reason}; retry after {retry_after:?}")]
    Overloaded {
        /// What is full, for the logs.
        reason: String,
        /// When the caller may try again.
        retry_after: Duration,
    },
    /// A dependency (model, store, queue) cannot serve now; retrying later may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure of a dependency. Never shown to end users verbatim.
    #[error("internal error: {0:#}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps any error as [`Error::Internal`], keeping the source chain for logs.
    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(err.into())
    }

    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }
}
