//! Which database failures are worth another attempt, and the bounded retry loop around the
//! store's operations.
//!
//! PostgreSQL is a server: it can restart, fail over, or cancel one of two transactions that
//! deadlock. Those failures leave nothing done and say nothing about the request, so an operation
//! that may run twice is run again, at most [`MAX_ATTEMPTS`] times with a short randomised
//! backoff; whatever still fails is mapped by [`db_err`] — to [`Error::Unavailable`] (HTTP 503
//! with `Retry-After`, never 500) when the database, not the request, is the problem.
//!
//! What is transient, precisely:
//! - `40001` serialization_failure and `40P01` deadlock_detected: the server rolled the
//!   transaction back.
//! - [`sqlx::Error::Io`]: the socket broke mid-operation (restart, failover, network). Inside a
//!   transaction the server rolls back what it had; a single autocommit statement may have been
//!   applied, which is why only idempotent operations are retried.
//! - class `08` connection_exception, `57P01` admin_shutdown, `57P02` crash_shutdown and `57P03`
//!   cannot_connect_now: the server ended or refused the session.
//!
//! Not retried, but still [`Error::Unavailable`]: [`sqlx::Error::PoolTimedOut`] (no connection
//! within the acquire timeout: the pool already retried refused connections with backoff for that
//! long, so another round would only multiply the wait), [`sqlx::Error::PoolClosed`] (shutting
//! down), `57014` query_canceled (the statement timeout: a rerun would likely time out again) and
//! class `53` insufficient_resources. A failed `COMMIT` is never retried either: its outcome is
//! unknown, and running the write again could record its events twice.

use std::future::Future;
use std::time::Duration;

use ragd_core::Error;

/// Attempts of one operation, the first included.
pub(crate) const MAX_ATTEMPTS: u32 = 3;

/// How one attempt of an operation failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A database error before anything could have been committed: another attempt may succeed
    /// when it is transient.
    Db(sqlx::Error),
    /// The operation's answer, whatever another attempt would do (a domain error such as
    /// not found, or a failed commit).
    Final(Error),
}

impl From<sqlx::Error> for Failure {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self::Final(err)
    }
}

/// Runs `attempt` until it succeeds, fails for good, or [`MAX_ATTEMPTS`] transient failures in a
/// row; `what` names the operation in the logs. Only for operations that may run twice.
pub(crate) async fn retrying<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(Failure::Final(err)) => return Err(err),
            Err(Failure::Db(err)) if tries < MAX_ATTEMPTS && is_transient(&err) => {
                tracing::warn!(operation = what, attempt = tries, error = %err,
                    "transient PostgreSQL failure; retrying");
                tokio::time::sleep(backoff(tries)).await;
                tries += 1;
            }
            Err(Failure::Db(err)) => return Err(db_err(err)),
        }
    }
}

/// Sleep before attempt `tries + 1`: 25 ms, then 100 ms, each plus up to half again at random
/// so that two transactions that deadlocked do not collide again in step.
fn backoff(tries: u32) -> Duration {
    let base = 25u64 * 4u64.saturating_pow(tries.saturating_sub(1));
    let jitter =
        u64::try_from(uuid::Uuid::new_v4().as_u128() % u128::from(base / 2 + 1)).unwrap_or(0);
    Duration::from_millis(base + jitter)
}

/// The SQLSTATE of a database error.
fn sqlstate(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|db| db.code())
        .map(std::borrow::Cow::into_owned)
}

/// Whether another attempt may succeed (see the module docs).
pub(crate) fn is_transient(err: &sqlx::Error) -> bool {
    if matches!(err, sqlx::Error::Io(_)) {
        return true;
    }
    sqlstate(err).is_some_and(|code| {
        matches!(
            code.as_str(),
            "40001" | "40P01" | "57P01" | "57P02" | "57P03"
        ) || code.starts_with("08")
    })
}

/// Whether the database, not the request, is the problem: the caller should retry later.
fn is_unavailable(err: &sqlx::Error) -> bool {
    if is_transient(err) || matches!(err, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) {
        return true;
    }
    sqlstate(err).is_some_and(|code| code == "57014" || code.starts_with("53"))
}

/// Maps a database error to the domain's: [`Error::Unavailable`] when the database cannot serve
/// now (its message names the cause for the logs; HTTP clients see a generic 503),
/// [`Error::Internal`] otherwise.
pub(crate) fn db_err(err: sqlx::Error) -> Error {
    if is_unavailable(&err) {
        Error::Unavailable(format!("PostgreSQL: {err}"))
    } else {
        Error::internal(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_transient_and_unavailable() {
        let err = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_transient(&err));
        assert!(matches!(db_err(err), Error::Unavailable(_)));
    }

    #[test]
    fn pool_timeouts_are_unavailable_but_not_retried() {
        assert!(!is_transient(&sqlx::Error::PoolTimedOut));
        assert!(matches!(
            db_err(sqlx::Error::PoolTimedOut),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            db_err(sqlx::Error::PoolClosed),
            Error::Unavailable(_)
        ));
    }

    #[test]
    fn other_errors_are_internal() {
        let err = sqlx::Error::RowNotFound;
        assert!(!is_transient(&err));
        assert!(matches!(db_err(err), Error::Internal(_)));
    }

    #[test]
    fn backoff_grows_and_stays_short() {
        for tries in 1..MAX_ATTEMPTS {
            let base = 25 * 4u64.pow(tries - 1);
            let delay = backoff(tries).as_millis();
            assert!((u128::from(base)..=u128::from(base + base / 2)).contains(&delay));
        }
    }

    #[tokio::test]
    async fn retries_transient_failures_a_bounded_number_of_times() {
        let mut calls = 0;
        let result: Result<(), Error> = retrying("test", || {
            calls += 1;
            async {
                Err(Failure::Db(sqlx::Error::Io(std::io::Error::from(
                    std::io::ErrorKind::BrokenPipe,
                ))))
            }
        })
        .await;
        assert!(matches!(result, Err(Error::Unavailable(_))));
        assert_eq!(calls, MAX_ATTEMPTS);

        let mut calls = 0;
        let result: Result<(), Error> = retrying("test", || {
            calls += 1;
            async { Err(Failure::Final(Error::NotFound("x".into()))) }
        })
        .await;
        assert!(matches!(result, Err(Error::NotFound(_))));
        assert_eq!(calls, 1);
    }
}
