//! The worker of one instance: claims jobs, renews their leases, ingests their staged files in
//! order and records each result (see the module docs of [`crate::jobs`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ragd_core::FileOutcome;
use ragd_core::RagService;
use ragd_core::events::Event;
use ragd_core::jobs::{JobStatus, JobStore};
use ragd_core::types::Scope;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::POLL_EVERY;
use super::staging::{MANIFEST, Manifest, StagedFile, ingest_bytes};

pub(super) struct Worker {
    /// This worker's name in the leases it holds.
    pub(super) owner: String,
    pub(super) service: Arc<RagService>,
    pub(super) store: Arc<dyn JobStore>,
    pub(super) uploads: PathBuf,
    pub(super) file_attempts: u32,
    pub(super) lease: Duration,
    pub(super) cancel: CancellationToken,
    pub(super) wake: Arc<Notify>,
}

pub(super) fn failed_file(source: &str, error: String) -> FileOutcome {
    FileOutcome::failed(source, error)
}

/// The `ingestion_failed` event of a file of job `id` (`*`: the whole job).
fn ingestion_failed(id: &str, scope: &Scope, source: &str, reason: &str) -> Event {
    Event::IngestionFailed {
        job_id: id.to_owned(),
        scope: scope.clone(),
        source: source.to_owned(),
        reason: reason.to_owned(),
    }
}

impl Worker {
    pub(super) async fn run(self) {
        loop {
            while !self.cancel.is_cancelled() {
                match self.store.claim_job(&self.owner, self.lease).await {
                    // After a job that ended on an error, wait for the next poll: a store that
                    // keeps failing is not hammered in a loop.
                    Ok(Some(id)) => {
                        if !self.run_claimed(&id).await {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(err) => {
                        tracing::warn!(%err, "cannot claim ingestion jobs now");
                        break;
                    }
                }
            }
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL_EVERY) => {}
            }
        }
    }

    /// Runs a claimed job, renewing its lease meanwhile; stops between files when the lease is
    /// lost (another worker has the job) or the instance stops (the job is given back). False
    /// when the job ended on an error.
    async fn run_claimed(&self, id: &str) -> bool {
        tracing::info!(job = %id, owner = %self.owner, "claimed an ingestion job");
        let stop = self.cancel.child_token();
        let renewer = tokio::spawn(renew(
            Arc::clone(&self.store),
            id.to_owned(),
            self.owner.clone(),
            self.lease,
            stop.clone(),
        ));
        let result = ragd_core::events::REQUEST_ID
            .scope(id.to_owned(), self.run_job(id, &stop))
            .await;
        let lost = stop.is_cancelled() && !self.cancel.is_cancelled();
        stop.cancel();
        renewer.abort();
        let ok = match result {
            Err(_) if lost => true,
            Err(err) => {
                tracing::error!(job = %id, error = %err, "ingestion job failed");
                self.fail_job(id).await;
                false
            }
            Ok(()) => true,
        };
        if self.cancel.is_cancelled()
            && let Err(err) = self.store.release_job(id, &self.owner).await
        {
            tracing::warn!(job = %id, %err, "could not give the job back; another instance takes it when its lease expires");
        }
        ok
    }

    /// Ends a job the worker could not run: `failed`, with what it did so far, staging removed.
    async fn fail_job(&self, id: &str) {
        let reason = "the job stopped on an internal error (see the server log)";
        let (mut files, events) = match self.store.job(id).await {
            Ok(job) => {
                let event = ingestion_failed(id, &job.scope, "*", reason);
                (job.files, vec![event])
            }
            Err(_) => (Vec::new(), Vec::new()),
        };
        files.push(failed_file("*", reason.into()));
        match self
            .store
            .update_claimed(id, &self.owner, JobStatus::Failed, &files, &events)
            .await
        {
            Ok(true) => self.drop_staged(id).await,
            Ok(false) => {} // another worker has the job now
            Err(err) => tracing::error!(job = %id, error = %err, "could not mark the job failed"),
        }
    }

    /// Records progress while the claim is ours; when it is not any more, stops the run
    /// (`stop`) and says so.
    async fn record(
        &self,
        id: &str,
        status: JobStatus,
        files: &[FileOutcome],
        events: &[Event],
        stop: &CancellationToken,
    ) -> ragd_core::Result<bool> {
        let ours = self
            .store
            .update_claimed(id, &self.owner, status, files, events)
            .await?;
        if !ours {
            tracing::warn!(job = %id, "another instance took this job over; stopping");
            stop.cancel();
        }
        Ok(ours)
    }

    async fn drop_staged(&self, id: &str) {
        if let Err(err) = self.store.drop_staged(id).await {
            tracing::warn!(job = %id, %err, "could not remove the staged files");
        }
        if let Err(err) = tokio::fs::remove_dir_all(self.uploads.join(id)).await
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(job = %id, %err, "could not remove the staging folder");
        }
    }

    async fn manifest(&self, id: &str) -> Result<Manifest, String> {
        let raw = if self.store.stages_uploads() {
            match self.store.staged_manifest(id).await {
                Ok(Some(raw)) => raw.into_bytes(),
                Ok(None) => return Err("no staged manifest".into()),
                Err(err) => return Err(err.to_string()),
            }
        } else {
            tokio::fs::read(self.uploads.join(id).join(MANIFEST))
                .await
                .map_err(|e| e.to_string())?
        };
        serde_json::from_slice(&raw).map_err(|e| e.to_string())
    }

    async fn staged_file(
        &self,
        id: &str,
        index: u32,
        file: &StagedFile,
    ) -> ragd_core::Result<Vec<u8>> {
        if self.store.stages_uploads() {
            self.store.staged_file(id, index).await
        } else {
            tokio::fs::read(self.uploads.join(id).join(&file.path))
                .await
                .map_err(|e| ragd_core::Error::internal(e.to_string()))
        }
    }

    async fn run_job(&self, id: &str, stop: &CancellationToken) -> ragd_core::Result<()> {
        let job = self.store.job(id).await?;
        if job.status.is_finished() {
            return Ok(());
        }
        let manifest = match self.manifest(id).await {
            Ok(manifest) => manifest,
            Err(err) => {
                let reason = format!("the staged upload is gone: {err}");
                let failed = ingestion_failed(id, &job.scope, "*", &reason);
                let lost = failed_file("*", reason);
                if self
                    .record(id, JobStatus::Failed, &[lost], &[failed], stop)
                    .await?
                {
                    self.drop_staged(id).await;
                }
                return Ok(());
            }
        };
        let mut files = job.files;
        if !self
            .record(id, JobStatus::Running, &files, &[], stop)
            .await?
        {
            return Ok(());
        }
        for file in manifest.files.iter().skip(files.len()) {
            if stop.is_cancelled() {
                return Ok(()); // stays `running`; resumed by whoever claims it next
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
                let bytes = self.staged_file(id, index, file).await;
                ingest_bytes(
                    &self.service,
                    &job.scope,
                    &file.name,
                    bytes,
                    &manifest.metadata,
                )
                .await
            };
            if stop.is_cancelled() && !self.cancel.is_cancelled() {
                // The lease was lost mid-file: the new holder redoes this file (a no-op if it
                // was stored), and its results are the job's.
                return Ok(());
            }
            let events = match &done {
                FileOutcome::Failed { error, .. } => {
                    vec![ingestion_failed(id, &job.scope, &file.name, error)]
                }
                FileOutcome::Ingested { .. } | FileOutcome::Unchanged { .. } => Vec::new(),
            };
            files.push(done);
            if !self
                .record(id, JobStatus::Running, &files, &events, stop)
                .await?
            {
                return Ok(());
            }
        }
        let failed = files
            .iter()
            .any(|f| matches!(f, FileOutcome::Failed { .. }));
        let status = if failed {
            JobStatus::Failed
        } else {
            JobStatus::Succeeded
        };
        if self.record(id, status, &files, &[], stop).await? {
            tracing::info!(job = %id, status = status.as_str(), "ingestion job finished");
            self.drop_staged(id).await;
        }
        Ok(())
    }
}

/// Renews a lease every third of its length until `stop`; cancels `stop` when the lease is
/// found lost.
async fn renew(
    store: Arc<dyn JobStore>,
    id: String,
    owner: String,
    lease: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(lease / 3) => {}
        }
        match store.renew_lease(&id, &owner, lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job = %id, "lost the lease of an ingestion job; another instance has it");
                stop.cancel();
                return;
            }
            Err(err) => tracing::warn!(job = %id, %err, "could not renew a job lease; retrying"),
        }
    }
}
