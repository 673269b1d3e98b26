//! Receiving an upload: files streamed to `DATA_DIR/uploads/<id>/` under the size limits, the
//! folder removed unless a job takes it, and the ingestion of one staged file.

use std::path::{Path, PathBuf};

use ragd_core::FileOutcome;
use ragd_core::RagService;
use ragd_core::service::IngestRequest;
use ragd_core::types::Scope;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;

use crate::error::{ApiError, ApiResult, ErrorCode};

pub(super) const MANIFEST: &str = "manifest.json";

/// One staged file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StagedFile {
    /// The client's file name (the document's source).
    pub(crate) name: String,
    /// File name inside the staging folder.
    pub(crate) path: String,
    /// Size in bytes.
    pub(crate) bytes: u64,
}

/// What a staging folder holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) files: Vec<StagedFile>,
    pub(crate) metadata: Map<String, Value>,
}

/// An upload being received. Dropped without [`Staging::into_job`], it removes its folder.
pub(crate) struct Staging {
    pub(crate) id: String,
    pub(crate) dir: PathBuf,
    pub(crate) manifest: Manifest,
    pub(crate) total_bytes: u64,
    /// Whether a job owns the folder now.
    kept: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let dir = std::mem::take(&mut self.dir);
        let remove = move || {
            if let Err(err) = std::fs::remove_dir_all(&dir)
                && err.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %dir.display(), %err, "could not remove a staging folder");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(io_error)`
fn io_error(err: std::io::Error) -> ApiError {
    ApiError::internal(format!("staging upload: {err}"))
}

impl Staging {
    pub(crate) async fn create(uploads: &Path) -> ApiResult<Self> {
        let id = uuid::Uuid::now_v7().to_string();
        let dir = uploads.join(&id);
        tokio::fs::create_dir_all(&dir).await.map_err(io_error)?;
        Ok(Self {
            id,
            dir,
            manifest: Manifest::default(),
            total_bytes: 0,
            kept: false,
        })
    }

    /// Streams one file to disk, enforcing the per-file and per-upload limits.
    pub(crate) async fn add_file(
        &mut self,
        name: String,
        mut field: axum::extract::multipart::Field<'_>,
        max_file_bytes: u64,
        max_total_bytes: u64,
    ) -> ApiResult<()> {
        let path = format!("{:05}.bin", self.manifest.files.len());
        let mut out = tokio::fs::File::create(self.dir.join(&path))
            .await
            .map_err(io_error)?;
        let mut bytes = 0u64;
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(crate::routes::multipart_error)?
        {
            bytes += chunk.len() as u64;
            if bytes > max_file_bytes {
                return Err(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("{name}: larger than the {max_file_bytes}-byte limit per document"),
                ));
            }
            if self.total_bytes + bytes > max_total_bytes {
                return Err(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the upload is larger than the {max_total_bytes}-byte limit"),
                ));
            }
            out.write_all(&chunk).await.map_err(io_error)?;
        }
        out.flush().await.map_err(io_error)?;
        self.total_bytes += bytes;
        self.manifest.files.push(StagedFile { name, path, bytes });
        Ok(())
    }

    pub(crate) async fn save_manifest(&self) -> ApiResult<()> {
        let json = serde_json::to_vec(&self.manifest).map_err(ApiError::internal)?;
        tokio::fs::write(self.dir.join(MANIFEST), json)
            .await
            .map_err(io_error)
    }

    /// Hands the folder to a job (it is no longer removed on drop).
    pub(super) fn into_job(mut self) {
        self.kept = true;
    }
}

/// Ingests one staged file: the outcome an upload answers with.
pub(crate) async fn ingest_file(
    service: &RagService,
    scope: &Scope,
    dir: &Path,
    file: &StagedFile,
    metadata: &Map<String, Value>,
) -> FileOutcome {
    let bytes = tokio::fs::read(dir.join(&file.path))
        .await
        .map_err(|e| ragd_core::Error::internal(e.to_string()));
    ingest_bytes(service, scope, &file.name, bytes, metadata).await
}

/// Ingests staged bytes (or reports why they could not be read).
pub(super) async fn ingest_bytes(
    service: &RagService,
    scope: &Scope,
    name: &str,
    bytes: ragd_core::Result<Vec<u8>>,
    metadata: &Map<String, Value>,
) -> FileOutcome {
    match bytes {
        Ok(bytes) => {
            service
                .ingest_file(IngestRequest {
                    scope: scope.clone(),
                    source: name.to_owned(),
                    bytes,
                    metadata: metadata.clone(),
                })
                .await
        }
        Err(err) => FileOutcome::failed(name, format!("staged file unreadable: {err}")),
    }
}
