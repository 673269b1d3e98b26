//! Uploads and ingestion jobs. Every multipart upload is first streamed to a staging folder under
//! `DATA_DIR/uploads/<job id>/` (memory stays flat whatever the upload size). Small uploads are
//! then ingested before the response; large ones become a job, recorded in the database.
//!
//! Jobs are claimed, not queued in memory: each instance runs one worker that claims the oldest
//! unfinished job with a lease (`RAGD_JOB_LEASE_SECS`), renews it while it runs and gives it
//! back when the instance stops. On PostgreSQL the staged files go into the database with the
//! job, so any instance can run it, and a job whose instance died (kill -9, a lost node) is
//! claimed by another once its lease has expired and resumed after its last finished file
//! (re-ingesting a file already stored is a no-op, so nothing is stored twice). The embedded
//! store has one owner; its staged files stay in the data dir and its jobs resume at the next
//! start.
//!
//! Nothing here can loop or leak: a file whose ingestion was cut short by a crash or a stop
//! `attempts` times is failed with that reason instead of retried at every start; a job whose
//! worker hits an error ends `failed`; a staging folder is removed when its request ends without
//! a job (an error, a dropped connection, a timeout: [`Staging`]'s `Drop`), when its job ends,
//! and at start when no unfinished job owns it.

mod staging;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ragd_core::RagService;
use ragd_core::jobs::{Job, JobStatus, JobStore};
use ragd_core::types::Scope;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub(crate) use staging::{Staging, ingest_file};
use worker::{Worker, failed_file};

use crate::error::{ApiError, ApiResult};

/// Takes jobs in; wakes this instance's worker.
#[derive(Clone)]
pub(crate) struct JobQueue {
    wake: Arc<Notify>,
    pub(crate) uploads: PathBuf,
    /// Unfinished jobs at most; past it, uploads are refused with 503.
    max_unfinished: usize,
}

impl JobQueue {
    /// Records a staged upload as a job: on a store that stages uploads, its files go into the
    /// store (and the local folder with the request); else the folder is the job's. Refused
    /// with 503 while too many jobs are unfinished.
    pub(crate) async fn submit(
        &self,
        store: &dyn JobStore,
        staging: Staging,
        scope: &Scope,
    ) -> ApiResult<Job> {
        if store.unfinished_jobs().await?.len() >= self.max_unfinished {
            return Err(ApiError::unavailable(
                "the ingestion queue is full",
                Duration::from_secs(30),
            ));
        }
        let total = u32::try_from(staging.manifest.files.len()).map_err(ApiError::internal)?;
        let job = if store.stages_uploads() {
            let manifest = serde_json::to_string(&staging.manifest).map_err(ApiError::internal)?;
            let paths: Vec<PathBuf> = staging
                .manifest
                .files
                .iter()
                .map(|f| staging.dir.join(&f.path))
                .collect();
            let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
            let job = store.create_job(&staging.id, scope, total).await?;
            if let Err(err) = store.stage(&job.id, &manifest, &paths).await {
                let lost = failed_file("*", format!("the upload could not be staged: {err}"));
                let _ = store.update_job(&job.id, JobStatus::Failed, &[lost]).await;
                return Err(err.into());
            }
            job // the local folder goes with `staging`
        } else {
            staging.save_manifest().await?;
            let job = store.create_job(&staging.id, scope, total).await?;
            staging.into_job();
            job
        };
        self.wake.notify_one();
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
    /// How long a claim holds without renewal.
    pub(crate) lease: Duration,
    /// Unfinished jobs at most.
    pub(crate) max_unfinished: usize,
    pub(crate) cancel: CancellationToken,
}

/// How often an idle worker looks for jobs submitted through other instances (and for jobs
/// whose lease expired).
const POLL_EVERY: Duration = Duration::from_secs(1);

/// Starts this instance's worker; it claims unfinished jobs (of an earlier run, or of a dead
/// instance) first.
pub(crate) async fn start(
    parts: WorkerParts,
) -> ragd_core::Result<(JobQueue, tokio::task::JoinHandle<()>)> {
    let pending = parts.store.unfinished_jobs().await?;
    if !parts.store.stages_uploads() {
        sweep_uploads(&parts.uploads, &pending).await;
    } else {
        sweep_uploads(&parts.uploads, &[]).await;
    }
    let wake = Arc::new(Notify::new());
    let queue = JobQueue {
        wake: Arc::clone(&wake),
        uploads: parts.uploads.clone(),
        max_unfinished: parts.max_unfinished,
    };
    let worker = Worker {
        owner: format!("{}-{}", std::process::id(), uuid::Uuid::now_v7()),
        service: parts.service,
        store: parts.store,
        uploads: parts.uploads,
        file_attempts: parts.file_attempts,
        lease: parts.lease,
        cancel: parts.cancel,
        wake,
    };
    Ok((queue, tokio::spawn(worker.run())))
}
