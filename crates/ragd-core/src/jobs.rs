//! Ingestion jobs: uploads too large to ingest inside one HTTP request are staged and ingested
//! in the background; a job records status, progress and per-file results so a client can poll
//! it, and survives a restart (unfinished jobs are taken up again).
//!
//! Jobs are *claimed*: a worker takes the oldest unfinished job with a lease
//! ([`JobStore::claim_job`]) and renews it while it runs. When a shared store serves several
//! instances, a job whose instance died is taken over by another once its lease expires, and
//! its staged files live in the store ([`JobStore::stages_uploads`]) so every instance reaches
//! them; the embedded store has one owner, and stages files in its data dir.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::service::FileOutcome;
use crate::types::{Scope, TenantId};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for the worker.
    Queued,
    /// Being ingested.
    Running,
    /// Every file was ingested or already up to date.
    Succeeded,
    /// At least one file failed (the others are stored).
    Failed,
}

impl JobStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "queued" => Ok(Self::Queued),
            "running" => Ok(Self::Running),
            "succeeded" => Ok(Self::Succeeded),
            "failed" => Ok(Self::Failed),
            other => Err(crate::Error::invalid(format!(
                "unknown job status {other:?}"
            ))),
        }
    }

    /// Whether the job is over.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Job id (UUID).
    pub id: String,
    /// Where its documents go.
    pub scope: Scope,
    /// Status.
    pub status: JobStatus,
    /// Files in the upload.
    pub total_files: u32,
    /// Results so far, in upload order.
    pub files: Vec<FileOutcome>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Where jobs live.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Records a new queued job.
    async fn create_job(&self, id: &str, scope: &Scope, total_files: u32) -> Result<Job>;
    /// One job.
    async fn job(&self, id: &str) -> Result<Job>;
    /// A job of `tenant`: another tenant's job is [`crate::Error::NotFound`], like a missing one.
    async fn tenant_job(&self, tenant: &TenantId, id: &str) -> Result<Job> {
        let job = self.job(id).await?;
        if job.scope.tenant != *tenant {
            return Err(crate::Error::NotFound("job".into()));
        }
        Ok(job)
    }
    /// Records the status and results so far.
    async fn update_job(&self, id: &str, status: JobStatus, files: &[FileOutcome]) -> Result<()>;
    /// Jobs that were queued or running (to resume after a restart), oldest first.
    async fn unfinished_jobs(&self) -> Result<Vec<Job>>;
    /// Durably records that the worker starts the file at `index` of the upload and returns
    /// how many times it has been started, this time included. A start that never reached
    /// [`JobStore::update_job`] was cut short by a crash or a stop, so the count tells a file
    /// that keeps taking the process down.
    async fn start_file(&self, id: &str, index: u32) -> Result<u32>;
    /// Claims the oldest unfinished job that no live lease holds, for `owner` until `lease`
    /// from now; `None` when there is none. Two workers never hold one job at once.
    async fn claim_job(&self, owner: &str, lease: Duration) -> Result<Option<String>>;
    /// Extends `owner`'s lease on a job; false when it is no longer `owner`'s (it expired and
    /// another worker took the job, or the job is gone).
    async fn renew_lease(&self, id: &str, owner: &str, lease: Duration) -> Result<bool>;
    /// Records the status and results of a job `owner` claimed, only while the claim is still
    /// `owner`'s: false (nothing written) once another worker has taken the job over, so a
    /// worker that was paused past its lease cannot overwrite the new holder's progress.
    /// `events` (a file that failed) are recorded in the same transaction.
    async fn update_claimed(
        &self,
        id: &str,
        owner: &str,
        status: JobStatus,
        files: &[FileOutcome],
        events: &[crate::events::Event],
    ) -> Result<bool>;
    /// Gives a job back (a stopping worker), so another one can claim it at once.
    async fn release_job(&self, id: &str, owner: &str) -> Result<()>;
    /// Whether staged files live in the store (shared by every instance) rather than in the
    /// instance's data dir.
    fn stages_uploads(&self) -> bool {
        false
    }
    /// Stores a job's manifest and its files, in upload order (a store that
    /// [`stages_uploads`](JobStore::stages_uploads)).
    async fn stage(&self, _id: &str, _manifest: &str, _files: &[&std::path::Path]) -> Result<()> {
        Err(crate::Error::internal("this store does not stage uploads"))
    }
    /// A job's staged manifest.
    async fn staged_manifest(&self, _id: &str) -> Result<Option<String>> {
        Err(crate::Error::internal("this store does not stage uploads"))
    }
    /// One staged file of a job.
    async fn staged_file(&self, _id: &str, _index: u32) -> Result<Vec<u8>> {
        Err(crate::Error::internal("this store does not stage uploads"))
    }
    /// Removes a job's staged files (its results stay).
    async fn drop_staged(&self, _id: &str) -> Result<()> {
        Ok(())
    }
}
