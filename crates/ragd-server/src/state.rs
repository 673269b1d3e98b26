//! The shared state of the HTTP server: one `Clone` struct of `Arc`s. The engine (model + index)
//! loads in the background after the listener is bound; until then [`AppState::services`]
//! answers 503 and `/health/ready` says not ready.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use ragd_core::RagService;
use ragd_core::jobs::JobStore;
use ragd_core::ports::{Maintenance, StoreStatus};

use crate::auth::Authenticator;
use crate::error::{ApiError, ApiResult};
use crate::jobs::JobQueue;
use crate::serve_config::ServerConfig;

/// What becomes available once the engine has loaded.
pub(crate) struct Services {
    /// Ingestion, retrieval and answers.
    pub(crate) service: Arc<RagService>,
    /// Saving the index at shutdown.
    pub(crate) maintenance: Arc<dyn Maintenance>,
    pub(crate) jobs: JobQueue,
}

/// Shared state of all handlers.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) services: Arc<OnceLock<Services>>,
    /// Health and counts of the store (available before the documents have loaded).
    pub(crate) status: Arc<dyn StoreStatus>,
    /// Ingestion jobs.
    pub(crate) job_store: Arc<dyn JobStore>,
    pub(crate) auth: Arc<Authenticator>,
    /// Tenants, users and keys, under the account rules.
    pub(crate) accounts: Arc<ragd_core::account_service::AccountService>,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) metrics: Option<PrometheusHandle>,
    pub(crate) started: Instant,
    pub(crate) draining: Arc<AtomicBool>,
    pub(crate) model_id: Arc<str>,
    pub(crate) load_failed: Arc<AtomicBool>,
    /// The rate limiter and its quotas.
    pub(crate) limits: crate::rate_limit::Limits,
    /// The Redoc bundle, when installed.
    pub(crate) redoc_js: Option<axum::body::Bytes>,
    /// Webhooks: the API's rules and the query events.
    pub(crate) webhooks: Arc<crate::webhooks::Webhooks>,
    /// The document count of `/health` and `/metrics`, reused for a second.
    pub(crate) document_count: Arc<crate::recent::Recent<u64>>,
}

impl AppState {
    /// Whether SIGTERM has started the drain (readiness answers 503).
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The loaded engine, or 503 while it is loading. A draining server still serves: until
    /// its listener closes, requests keep coming from proxies that have not yet seen its
    /// readiness turn false, and refusing them would fail requests a rolling restart must not.
    pub(crate) fn services(&self) -> ApiResult<&Services> {
        self.services.get().ok_or_else(|| {
            ApiError::unavailable("the server is starting up", Duration::from_secs(1))
        })
    }
}
