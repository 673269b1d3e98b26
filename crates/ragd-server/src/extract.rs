//! Request bodies, read with ragd's error body on every rejection: 415 for a wrong content type,
//! 413 over the size limit, 400 for bytes that are not UTF-8 JSON, 422 with one entry per bad
//! field for JSON of the wrong shape. [`Fields`] checks a JSON object field by field, so a client
//! learns about every mistake at once (as with the chapter's pydantic models).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use ragd_api::FieldError;
use serde_json::{Map, Value};

use crate::error::{ApiError, ErrorCode};

/// A JSON object body.
pub(crate) struct JsonObject(pub(crate) Map<String, Value>);

/// The request's `Content-Type` header, or `""`.
pub(crate) fn content_type(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The media type of a `Content-Type` value without its parameters, lowercased.
pub(crate) fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether the request says its body is JSON (`application/json`, `application/*+json`).
pub(crate) fn is_json(content_type: &str) -> bool {
    let essence = media_type(content_type);
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads the body, mapping a too-large body to 413.
pub(crate) async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
        } else {
            ApiError::new(ErrorCode::BadRequest, "could not read the request body")
        }
    })
}

/// Parses bytes as a JSON object.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, "the request body is not valid UTF-8"))?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("malformed JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_) => {
            Err(ApiError::validation(vec![FieldError {
                field: "body".into(),
                message: "expected a JSON object".into(),
                kind: "wrong_type".into(),
            }]))
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "expected Content-Type: application/json",
            ));
        }
        let bytes = body_bytes(req, state).await?;
        parse_object(&bytes).map(Self)
    }
}

/// Field-by-field reading of a JSON object, collecting every problem.
pub(crate) struct Fields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        Self {
            map,
            errors: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, field: &str, kind: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
            kind: kind.to_owned(),
        });
    }

    /// Takes a field; `null` counts as absent (the chapter's fields are `Optional`).
    fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    fn wrong_type(&mut self, name: &str, expected: &str) {
        self.error(name, "wrong_type", format!("{name} must be {expected}"));
    }

    /// A required string.
    pub(crate) fn required_string(&mut self, name: &str) -> Option<String> {
        match self.take(name) {
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.wrong_type(name, "a string");
                None
            }
            None => {
                self.error(name, "missing", format!("{name} is required"));
                None
            }
        }
    }

    /// An optional string of at most `max_chars` characters.
    pub(crate) fn string(&mut self, name: &str, max_chars: usize) -> Option<String> {
        match self.take(name) {
            Some(Value::String(s)) if s.chars().count() <= max_chars => Some(s),
            Some(Value::String(_)) => {
                self.error(
                    name,
                    "too_long",
                    format!("{name} must have at most {max_chars} characters"),
                );
                None
            }
            Some(_) => {
                self.wrong_type(name, "a string");
                None
            }
            None => None,
        }
    }

    /// An optional list of strings.
    pub(crate) fn string_list(&mut self, name: &str) -> Option<Vec<String>> {
        match self.take(name)? {
            Value::Array(items) if items.iter().all(Value::is_string) => Some(
                items
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            ),
            Value::Null
            | Value::Bool(_)
            | Value::Number(_)
            | Value::String(_)
            | Value::Array(_)
            | Value::Object(_) => {
                self.wrong_type(name, "a list of strings");
                None
            }
        }
    }

    /// An optional integer within `min..=max`.
    pub(crate) fn integer(&mut self, name: &str, min: u64, max: u64) -> Option<u64> {
        let value = self.take(name)?;
        match value.as_u64().or_else(|| value.as_i64().map(|_| u64::MAX)) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(_) => {
                self.error(
                    name,
                    "out_of_range",
                    format!("{name} must be between {min} and {max}"),
                );
                None
            }
            None => {
                self.wrong_type(name, "an integer");
                None
            }
        }
    }

    /// An optional number within `min..=max`.
    pub(crate) fn number(&mut self, name: &str, min: f64, max: f64) -> Option<f64> {
        let value = self.take(name)?;
        match value.as_f64() {
            Some(x) if (min..=max).contains(&x) => Some(x),
            Some(_) => {
                self.error(
                    name,
                    "out_of_range",
                    format!("{name} must be between {min:.1} and {max:.1}"),
                );
                None
            }
            None => {
                self.wrong_type(name, "a number");
                None
            }
        }
    }

    /// An optional boolean.
    pub(crate) fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.take(name)? {
            Value::Bool(b) => Some(b),
            Value::Null
            | Value::Number(_)
            | Value::String(_)
            | Value::Array(_)
            | Value::Object(_) => {
                self.wrong_type(name, "true or false");
                None
            }
        }
    }

    /// An optional JSON object.
    pub(crate) fn object(&mut self, name: &str) -> Option<Map<String, Value>> {
        match self.take(name)? {
            Value::Object(m) => Some(m),
            Value::Null
            | Value::Bool(_)
            | Value::Number(_)
            | Value::String(_)
            | Value::Array(_) => {
                self.wrong_type(name, "an object");
                None
            }
        }
    }

    /// Fails with 422 when any field read so far was bad; other fields are ignored.
    pub(crate) fn check(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }

    /// Fails with 422 when any field was bad or any field is left over (unknown fields are
    /// rejected, so a typo like `max_result` does not silently fall back to a default).
    pub(crate) fn finish(mut self) -> Result<(), ApiError> {
        let unknown: Vec<String> = self.map.keys().cloned().collect();
        for name in unknown {
            self.error(&name, "unknown_field", format!("unknown field {name:?}"));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

/// A question or search text: trimmed, 3..=1000 characters, not blank.
pub(crate) fn question(fields: &mut Fields, name: &str) -> Option<String> {
    let raw = fields.required_string(name)?;
    let trimmed = raw.trim();
    let chars = trimmed.chars().count();
    if trimmed.is_empty() {
        fields.error(name, "blank", format!("{name} must not be empty or blank"));
        None
    } else if chars < 3 {
        fields.error(
            name,
            "too_short",
            format!("{name} must have at least 3 characters"),
        );
        None
    } else if chars > 1000 {
        fields.error(
            name,
            "too_long",
            format!("{name} must have at most 1000 characters"),
        );
        None
    } else {
        Some(trimmed.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[allow(clippy::needless_pass_by_value)]
    fn fields(v: Value) -> Fields {
        Fields::new(v.as_object().cloned().expect("an object"))
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut f = fields(json!({"query": " a ", "max_results": 0, "threshold": "x", "extra": 1}));
        assert!(question(&mut f, "query").is_none());
        assert!(f.integer("max_results", 1, 20).is_none());
        assert!(f.number("threshold", 0.0, 1.0).is_none());
        let err = f.finish().unwrap_err();
        assert_eq!(err.code(), ErrorCode::Validation);
    }

    #[test]
    fn null_is_absent_and_negative_integers_are_out_of_range() {
        let mut f = fields(json!({"max_results": null, "n": -3}));
        assert_eq!(f.integer("max_results", 1, 20), None);
        assert_eq!(f.integer("n", 1, 20), None);
        assert_eq!(f.errors.len(), 1);
        assert_eq!(f.errors[0].kind, "out_of_range");
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
    }
}
