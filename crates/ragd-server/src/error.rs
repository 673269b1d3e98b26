//! The one mapping from failures to HTTP: [`ApiError`] → status, headers and the chapter's error
//! body `{error, message, details?, request_id, timestamp}`. A 5xx body never says what broke;
//! the cause is logged once, here, with the request id.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ragd_api::{ErrorBody, FieldError};

use crate::telemetry::current_request_id;

/// The documented error codes (the `error` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    Validation,
    BadRequest,
    GuardrailViolation,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    Unavailable,
    Timeout,
    Internal,
}

impl ErrorCode {
    fn parts(self) -> (StatusCode, &'static str) {
        match self {
            Self::Validation => (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            Self::BadRequest => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::GuardrailViolation => (StatusCode::BAD_REQUEST, "guardrail_violation"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Conflict => (StatusCode::CONFLICT, "conflict"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
            Self::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "request_timeout"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }
}

/// A failed request.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    code: ErrorCode,
    message: String,
    details: Option<serde_json::Value>,
    retry_after: Option<Duration>,
    /// Logged, never sent.
    cause: Option<String>,
    /// Refused by load shedding: logged at `debug` only (counted in `rag_requests_shed_total`),
    /// so an overload does not also flood the log.
    shed: bool,
}

/// Handler result.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retry_after: None,
            cause: None,
            shed: false,
        }
    }

    /// 422 with one entry per bad field.
    pub(crate) fn validation(fields: Vec<FieldError>) -> Self {
        let mut err = Self::new(ErrorCode::Validation, "invalid request data");
        err.details = serde_json::to_value(fields).ok();
        err
    }

    /// 401 (always with `WWW-Authenticate: Bearer`).
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// 500 whose cause is logged but not sent.
    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        let mut err = Self::new(ErrorCode::Internal, "internal server error");
        err.cause = Some(cause.to_string());
        err
    }

    /// 503 with `Retry-After`.
    pub(crate) fn unavailable(message: impl Into<String>, retry_after: Duration) -> Self {
        let mut err = Self::new(ErrorCode::Unavailable, message);
        err.retry_after = Some(retry_after);
        err
    }

    pub(crate) fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Whether load shedding refused the request.
    pub(crate) fn is_shed(&self) -> bool {
        self.shed
    }

    /// The error's code as the body names it (`internal_error`, …) and its status.
    pub(crate) fn code_name(&self) -> (u16, &'static str) {
        let (status, name) = self.code.parts();
        (status.as_u16(), name)
    }

    /// The message the client sees.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    #[cfg(test)]
    pub(crate) fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<ragd_core::Error> for ApiError {
    fn from(err: ragd_core::Error) -> Self {
        match err {
            ragd_core::Error::NotFound(what) => {
                Self::new(ErrorCode::NotFound, format!("{what} not found"))
            }
            ragd_core::Error::Invalid(msg) => Self::new(ErrorCode::BadRequest, msg),
            ragd_core::Error::Conflict(msg) => Self::new(ErrorCode::Conflict, msg),
            ragd_core::Error::Forbidden(msg) => Self::new(ErrorCode::Forbidden, msg),
            ragd_core::Error::Blocked { rules } => {
                let mut e = Self::new(
                    ErrorCode::GuardrailViolation,
                    format!(
                        "the question was refused by the guardrails: {}",
                        rules.join(", ")
                    ),
                );
                e.details = Some(serde_json::json!({ "rules": rules }));
                e
            }
            ragd_core::Error::RateLimited { retry_after } => {
                Self::new(ErrorCode::RateLimited, "too many requests").with_retry_after(retry_after)
            }
            ragd_core::Error::Overloaded {
                reason,
                retry_after,
            } => {
                let mut e = Self::unavailable(
                    "the server is busy: too many questions are waiting; retry shortly",
                    retry_after,
                );
                e.cause = Some(reason);
                e.shed = true;
                e
            }
            ragd_core::Error::Unavailable(msg) => {
                let mut e =
                    Self::unavailable("service temporarily unavailable", Duration::from_secs(1));
                e.cause = Some(msg);
                e
            }
            err @ ragd_core::Error::Internal(_) => Self::internal(format!("{err:#}")),
        }
    }
}

impl ApiError {
    /// The status and the JSON body, logged as a response would be (for an error sent inside
    /// a stream that has already begun).
    pub(crate) fn into_body(self) -> (axum::http::StatusCode, ErrorBody) {
        let (status, code) = self.code.parts();
        let request_id = current_request_id();
        if self.shed {
            tracing::debug!(
                %request_id,
                cause = self.cause.as_deref().unwrap_or(&self.message),
                "request shed"
            );
        } else if status == axum::http::StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(
                %request_id,
                error = code,
                cause = self.cause.as_deref().unwrap_or(&self.message),
                "request refused"
            );
        } else if status.is_server_error() {
            tracing::error!(
                %request_id,
                error = code,
                cause = self.cause.as_deref().unwrap_or(&self.message),
                "request failed"
            );
        }
        let body = ErrorBody {
            error: code.to_owned(),
            message: self.message,
            details: self.details,
            request_id,
            timestamp: chrono::Utc::now(),
        };
        (status, body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, retry_after) = (self.code, self.retry_after);
        let (status, body) = self.into_body();
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if code == ErrorCode::PayloadTooLarge {
            // The rest of the body is never read, so the connection cannot carry another
            // request: say so, or a client would reuse it and fail.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if code == ErrorCode::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(after) = retry_after {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}
