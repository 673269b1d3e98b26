//! The parts of `POST /documents` that read the request: the multipart fields (files streamed to
//! the staging folder, `collection` and `metadata`), client file names, and the per-file summary.

use axum::extract::Multipart;
use ragd_api::IngestSummary;
use ragd_core::FileOutcome;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::jobs::Staging;
use crate::routes::multipart_error;
use crate::state::AppState;

pub(super) fn summary(files: &[FileOutcome], seconds: f64) -> IngestSummary {
    let count = |s: &str| {
        u32::try_from(files.iter().filter(|f| f.status() == s).count()).unwrap_or(u32::MAX)
    };
    IngestSummary {
        ingested: count("ingested"),
        unchanged: count("unchanged"),
        failed: count("failed"),
        chunks: files.iter().map(|f| u64::from(f.chunks())).sum(),
        seconds,
        files: files.iter().map(crate::convert::file_result).collect(),
    }
}

/// Streams the multipart fields: files to the staging folder, `collection` and `metadata` read.
pub(super) async fn receive(
    state: &AppState,
    staging: &mut Staging,
    mut multipart: Multipart,
) -> ApiResult<Option<String>> {
    let limits = state.config.limits;
    let max_file = state.services()?.service.limits().max_document_bytes;
    let mut collection = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(sanitize_name) {
            Some(file_name) => {
                if staging.manifest.files.len() >= limits.max_upload_files {
                    return Err(ApiError::new(
                        ErrorCode::PayloadTooLarge,
                        format!("more than {} files in one upload", limits.max_upload_files),
                    ));
                }
                staging
                    .add_file(file_name, field, max_file, limits.max_upload_bytes as u64)
                    .await?;
            }
            None => {
                let text = small_field(&name, field).await?;
                match name.as_str() {
                    "collection" => collection = Some(text),
                    "metadata" => staging.manifest.metadata = metadata_field(&text)?,
                    other => {
                        return Err(field_error(
                            other,
                            "unknown_field",
                            format!("unknown form field {other:?}"),
                        ));
                    }
                }
            }
        }
    }
    if staging.manifest.files.is_empty() {
        return Err(field_error(
            "file",
            "missing",
            "no file in the upload (send files as form fields with a file name)".into(),
        ));
    }
    Ok(collection)
}

/// Largest non-file form field (`collection`, `metadata`).
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Reads a non-file field, refusing it with 413 as soon as it passes [`MAX_FIELD_BYTES`]
/// (never buffering more), and with 422 when it is not UTF-8.
async fn small_field(
    name: &str,
    mut field: axum::extract::multipart::Field<'_>,
) -> ApiResult<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("form field {name:?} is larger than {MAX_FIELD_BYTES} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes)
        .map_err(|_| field_error(name, "invalid", format!("form field {name:?} is not UTF-8")))
}

pub(super) fn field_error(field: &str, kind: &str, message: String) -> ApiError {
    ApiError::validation(vec![ragd_api::FieldError {
        field: field.into(),
        message,
        kind: kind.into(),
    }])
}

fn metadata_field(text: &str) -> ApiResult<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(field_error(
            "metadata",
            "wrong_type",
            "metadata must be a JSON object".into(),
        )),
    }
}

/// Keeps the last path component of a client file name, without control characters.
pub(super) fn sanitize_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let clean: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    if clean.trim().is_empty() {
        "upload".to_owned()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize_name;

    #[test]
    fn client_file_names_lose_their_paths() {
        assert_eq!(sanitize_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_name("C:\\docs\\a.pdf"), "a.pdf");
        assert_eq!(sanitize_name("a\u{0}b.txt"), "ab.txt");
        assert_eq!(sanitize_name("/"), "upload");
    }
}
