//! Ingestion jobs: uploads too large to ingest inside one HTTP request are written to the data
//! dir and ingested in the background; a job records status, progress and per-file results so a
//! client can poll it, and survives a restart (unfinished jobs are taken up again).

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
}
