//! Uploads and ingestion jobs. Every multipart upload is first streamed to a staging folder under
//! `DATA_DIR/uploads/<job id>/` (memory stays flat whatever the upload size). Small uploads are
//! then ingested before the response; large ones become a job that one background worker runs,
//! recording progress and per-file results in the database. Jobs left unfinished by a stop are
//! taken up again at the next start (re-ingesting a file already stored is a no-op).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ragd_core::jobs::{Job, JobFile, JobStatus, JobStore};
use ragd_core::service::IngestRequest;
use ragd_core::types::Scope;
use ragd_core::{IngestOutcome, RagService};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ApiResult, ErrorCode};

const MANIFEST: &str = "manifest.json";

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

/// An upload being received.
pub(crate) struct Staging {
    pub(crate) id: String,
    pub(crate) dir: PathBuf,
    pub(crate) manifest: Manifest,
    pub(crate) total_bytes: u64,
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

    pub(crate) async fn discard(self) {
        if let Err(err) = tokio::fs::remove_dir_all(&self.dir).await {
            tracing::warn!(dir = %self.dir.display(), %err, "could not remove a staging folder");
        }
    }
}

/// Ingests one staged file.
pub(crate) async fn ingest_file(
    service: &RagService,
    scope: &Scope,
    dir: &Path,
    file: &StagedFile,
    metadata: &Map<String, Value>,
) -> JobFile {
    let result = match tokio::fs::read(dir.join(&file.path)).await {
        Ok(bytes) => service
            .ingest(IngestRequest {
                scope: scope.clone(),
                source: file.name.clone(),
                bytes,
                metadata: metadata.clone(),
            })
            .await
            .map_err(|e| {
                if matches!(e, ragd_core::Error::Internal(_)) {
                    tracing::error!(source = %file.name, error = %e, "ingestion failed");
                    "internal error while ingesting".to_owned()
                } else {
                    e.to_string()
                }
            }),
        Err(err) => Err(format!("staged file unreadable: {err}")),
    };
    match result {
        Ok(IngestOutcome::Ingested { document, .. }) => JobFile {
            source: file.name.clone(),
            status: "ingested".into(),
            document_id: Some(document.id.to_string()),
            chunks: document.chunk_count,
            error: None,
        },
        Ok(IngestOutcome::Unchanged { document }) => JobFile {
            source: file.name.clone(),
            status: "unchanged".into(),
            document_id: Some(document.id.to_string()),
            chunks: 0,
            error: None,
        },
        Err(error) => JobFile {
            source: file.name.clone(),
            status: "failed".into(),
            document_id: None,
            chunks: 0,
            error: Some(error),
        },
    }
}

/// Hands jobs to the worker.
#[derive(Clone)]
pub(crate) struct JobQueue {
    tx: mpsc::Sender<String>,
    pub(crate) uploads: PathBuf,
}

impl JobQueue {
    /// Queues a staged upload as a job.
    pub(crate) async fn submit(
        &self,
        store: &dyn JobStore,
        staging: &Staging,
        scope: &Scope,
    ) -> ApiResult<Job> {
        staging.save_manifest().await?;
        let total = u32::try_from(staging.manifest.files.len()).map_err(ApiError::internal)?;
        let job = store.create_job(&staging.id, scope, total).await?;
        self.tx.try_send(job.id.clone()).map_err(|_| {
            ApiError::unavailable(
                "the ingestion queue is full",
                std::time::Duration::from_secs(30),
            )
        })?;
        Ok(job)
    }
}

/// Starts the worker; unfinished jobs of an earlier run are queued first.
pub(crate) async fn start(
    service: Arc<RagService>,
    store: Arc<dyn JobStore>,
    uploads: PathBuf,
    cancel: CancellationToken,
) -> ragd_core::Result<(JobQueue, tokio::task::JoinHandle<()>)> {
    let pending = store.unfinished_jobs().await?;
    let (tx, rx) = mpsc::channel(pending.len() + 1024);
    for job in pending {
        tracing::info!(job = %job.id, "resuming an unfinished ingestion job");
        let _ = tx.try_send(job.id);
    }
    let worker = Worker {
        service,
        store,
        uploads: uploads.clone(),
        cancel,
    };
    let handle = tokio::spawn(worker.run(rx));
    Ok((JobQueue { tx, uploads }, handle))
}

struct Worker {
    service: Arc<RagService>,
    store: Arc<dyn JobStore>,
    uploads: PathBuf,
    cancel: CancellationToken,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<String>) {
        loop {
            let id = tokio::select! {
                () = self.cancel.cancelled() => break,
                id = rx.recv() => match id { Some(id) => id, None => break },
            };
            if let Err(err) = self.run_job(&id).await {
                tracing::error!(job = %id, error = %err, "ingestion job failed");
            }
        }
    }

    async fn run_job(&self, id: &str) -> ragd_core::Result<()> {
        let job = self.store.job(id).await?;
        let dir = self.uploads.join(id);
        let manifest: Manifest = match tokio::fs::read(dir.join(MANIFEST)).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(ragd_core::Error::internal)?,
            Err(err) => {
                let lost = JobFile {
                    source: "*".into(),
                    status: "failed".into(),
                    document_id: None,
                    chunks: 0,
                    error: Some(format!("the staged upload is gone: {err}")),
                };
                return self.store.update_job(id, JobStatus::Failed, &[lost]).await;
            }
        };
        let mut files = job.files;
        self.store
            .update_job(id, JobStatus::Running, &files)
            .await?;
        for file in manifest.files.iter().skip(files.len()) {
            if self.cancel.is_cancelled() {
                return Ok(()); // stays `running`; resumed at the next start
            }
            let done = ingest_file(&self.service, &job.scope, &dir, file, &manifest.metadata).await;
            files.push(done);
            self.store
                .update_job(id, JobStatus::Running, &files)
                .await?;
        }
        let failed = files.iter().any(|f| f.status == "failed");
        let status = if failed {
            JobStatus::Failed
        } else {
            JobStatus::Succeeded
        };
        self.store.update_job(id, status, &files).await?;
        if let Err(err) = tokio::fs::remove_dir_all(&dir).await {
            tracing::warn!(job = %id, %err, "could not remove the staging folder");
        }
        Ok(())
    }
}
