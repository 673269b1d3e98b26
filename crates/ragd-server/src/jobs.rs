//! Uploads and ingestion jobs. Every multipart upload is first streamed to a staging folder under
//! `DATA_DIR/uploads/<job id>/` (memory stays flat whatever the upload size). Small uploads are
//! then ingested before the response; large ones become a job that one background worker runs,
//! recording progress and per-file results in the database. Jobs left unfinished by a stop are
//! taken up again at the next start (re-ingesting a file already stored is a no-op).
//!
//! Nothing here can loop or leak: a file whose ingestion was cut short by a crash or a stop
//! `attempts` times is failed with that reason instead of retried at every start; a job whose
//! worker hits an error ends `failed`; a staging folder is removed when its request ends without
//! a job (an error, a dropped connection, a timeout: [`Staging`]'s `Drop`), when its job ends,
//! and at start when no unfinished job owns it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ragd_core::FileOutcome;
use ragd_core::RagService;
use ragd_core::jobs::{Job, JobStatus, JobStore};
use ragd_core::service::IngestRequest;
use ragd_core::types::Scope;
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
    fn into_job(mut self) {
        self.kept = true;
    }
}

/// Ingests one staged file: the outcome an upload answers with and a job records.
pub(crate) async fn ingest_file(
    service: &RagService,
    scope: &Scope,
    dir: &Path,
    file: &StagedFile,
    metadata: &Map<String, Value>,
) -> FileOutcome {
    match tokio::fs::read(dir.join(&file.path)).await {
        Ok(bytes) => {
            service
                .ingest_file(IngestRequest {
                    scope: scope.clone(),
                    source: file.name.clone(),
                    bytes,
                    metadata: metadata.clone(),
                })
                .await
        }
        Err(err) => FileOutcome::failed(&file.name, format!("staged file unreadable: {err}")),
    }
}

/// Hands jobs to the worker.
#[derive(Clone)]
pub(crate) struct JobQueue {
    tx: mpsc::Sender<String>,
    pub(crate) uploads: PathBuf,
}

impl JobQueue {
    /// Queues a staged upload as a job. A full queue refuses it before any job row exists, and
    /// the staged files go with the refusal.
    pub(crate) async fn submit(
        &self,
        store: &dyn JobStore,
        staging: Staging,
        scope: &Scope,
    ) -> ApiResult<Job> {
        let slot = self.tx.try_reserve().map_err(|_| {
            ApiError::unavailable(
                "the ingestion queue is full",
                std::time::Duration::from_secs(30),
            )
        })?;
        staging.save_manifest().await?;
        let total = u32::try_from(staging.manifest.files.len()).map_err(ApiError::internal)?;
        let job = store.create_job(&staging.id, scope, total).await?;
        staging.into_job();
        slot.send(job.id.clone());
        Ok(job)
    }
}

/// Removes staging folders that no unfinished job owns (left by a crash mid-upload).
async fn sweep_uploads(uploads: &Path, pending: &[Job]) {
    let Ok(mut entries) = tokio::fs::read_dir(uploads).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name();
        if pending.iter().any(|job| name == job.id.as_str()) {
            continue;
        }
        tracing::info!(folder = ?name, "removing an abandoned staging folder");
        if let Err(err) = tokio::fs::remove_dir_all(entry.path()).await {
            tracing::warn!(folder = ?name, %err, "could not remove a staging folder");
        }
    }
}

/// What the job worker needs.
pub(crate) struct WorkerParts {
    pub(crate) service: Arc<RagService>,
    pub(crate) store: Arc<dyn JobStore>,
    /// `DATA_DIR/uploads`.
    pub(crate) uploads: PathBuf,
    /// Starts of one file after which it is failed instead of retried.
    pub(crate) file_attempts: u32,
    pub(crate) cancel: CancellationToken,
}

/// Starts the worker; unfinished jobs of an earlier run are queued first.
pub(crate) async fn start(
    parts: WorkerParts,
) -> ragd_core::Result<(JobQueue, tokio::task::JoinHandle<()>)> {
    let pending = parts.store.unfinished_jobs().await?;
    sweep_uploads(&parts.uploads, &pending).await;
    let (tx, rx) = mpsc::channel(pending.len() + 1024);
    for job in pending {
        tracing::info!(job = %job.id, "resuming an unfinished ingestion job");
        let _ = tx.try_send(job.id);
    }
    let uploads = parts.uploads.clone();
    let worker = Worker {
        service: parts.service,
        store: parts.store,
        uploads: parts.uploads,
        file_attempts: parts.file_attempts,
        cancel: parts.cancel,
    };
    let handle = tokio::spawn(worker.run(rx));
    Ok((JobQueue { tx, uploads }, handle))
}

struct Worker {
    service: Arc<RagService>,
    store: Arc<dyn JobStore>,
    uploads: PathBuf,
    file_attempts: u32,
    cancel: CancellationToken,
}

fn failed_file(source: &str, error: String) -> FileOutcome {
    FileOutcome::failed(source, error)
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
                self.fail_job(&id).await;
            }
        }
    }

    /// Ends a job the worker could not run: `failed`, with what it did so far, staging removed.
    async fn fail_job(&self, id: &str) {
        let mut files = self
            .store
            .job(id)
            .await
            .map(|j| j.files)
            .unwrap_or_default();
        files.push(failed_file(
            "*",
            "the job stopped on an internal error (see the server log)".into(),
        ));
        if let Err(err) = self.store.update_job(id, JobStatus::Failed, &files).await {
            tracing::error!(job = %id, error = %err, "could not mark the job failed");
        }
        let _ = tokio::fs::remove_dir_all(self.uploads.join(id)).await;
    }

    async fn run_job(&self, id: &str) -> ragd_core::Result<()> {
        let job = self.store.job(id).await?;
        let dir = self.uploads.join(id);
        let manifest: Manifest = match tokio::fs::read(dir.join(MANIFEST)).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(ragd_core::Error::internal)?,
            Err(err) => {
                let lost = failed_file("*", format!("the staged upload is gone: {err}"));
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
            let index = u32::try_from(files.len()).map_err(ragd_core::Error::internal)?;
            let attempts = self.store.start_file(id, index).await?;
            let done = if attempts > self.file_attempts {
                tracing::warn!(job = %id, source = %file.name, attempts, "failing a file whose ingestion never finished");
                failed_file(
                    &file.name,
                    format!(
                        "ingestion of this file was cut short {} times (the server stopped or crashed); not retried",
                        attempts - 1
                    ),
                )
            } else {
                ingest_file(&self.service, &job.scope, &dir, file, &manifest.metadata).await
            };
            files.push(done);
            self.store
                .update_job(id, JobStatus::Running, &files)
                .await?;
        }
        let failed = files
            .iter()
            .any(|f| matches!(f, FileOutcome::Failed { .. }));
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
