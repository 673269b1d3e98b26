//! The HTTP server's life: [`App::build`] opens the database, creates the bootstrap admin and
//! binds the listener (so `port()` is known at once, even for port 0); [`App::run`] loads the
//! model and index in the background, serves until the shutdown future resolves, then drains
//! in-flight requests within the shutdown timeout, stops the job worker and saves the index.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::Context;
use ragd_backends::compose::Fleet;
use ragd_backends::{Backends, EngineConfig};
use ragd_core::accounts::{NewUser, Role, UserStore, Username};
use ragd_core::query_cache::EmbeddingCache;
use ragd_core::types::TenantId;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{Authenticator, check_password_policy, hash_password};
use crate::serve_config::ServerConfig;
use crate::state::{AppState, Services};

/// A bound, not yet running server.
pub(crate) struct App {
    listener: TcpListener,
    /// `RAGD_METRICS_ADDR`'s listener, when /metrics is not on the main port.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    engine_config: EngineConfig,
    /// The store, opened as its owner until the server has stopped and saved.
    backends: Arc<Backends>,
    /// What the instances of a fleet share beyond the database.
    fleet: Fleet,
}

/// Creates the bootstrap admin from RAGD_ADMIN_USERNAME/RAGD_ADMIN_PASSWORD unless that user
/// exists (an existing user's password is never changed from the environment).
async fn bootstrap_admin(
    store: &dyn UserStore,
    admin: Option<&(String, SecretString)>,
    platform: &TenantId,
) -> anyhow::Result<()> {
    let Some((name, password)) = admin else {
        return Ok(());
    };
    let username = Username::parse(name).context("RAGD_ADMIN_USERNAME")?;
    if store.user(platform, username.as_str()).await?.is_some() {
        return Ok(());
    }
    check_password_policy(secrecy::ExposeSecret::expose_secret(password))
        .context("RAGD_ADMIN_PASSWORD")?;
    let password_hash = hash_password(password)?;
    store
        .create_user(NewUser {
            username,
            tenant: platform.clone(),
            role: Role::Admin,
            password_hash,
        })
        .await?;
    tracing::info!(user = %name, "created the bootstrap admin");
    Ok(())
}

fn read_redoc(path: Option<&std::path::Path>) -> Option<axum::body::Bytes> {
    let path = path?;
    match std::fs::read(path) {
        Ok(bytes) => Some(bytes.into()),
        Err(err) => {
            tracing::warn!(path = %path.display(), %err, "no Redoc bundle: /redoc will point to /docs (run `make assets`)");
            None
        }
    }
}

impl App {
    /// Opens the database, bootstraps the admin and binds the listener.
    pub(crate) async fn build(
        config: ServerConfig,
        engine_config: EngineConfig,
        redoc: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let backends = Arc::new(
            Backends::open(&engine_config.store(), engine_config.owner())
                .await
                .context("opening the database")?,
        );
        let platform =
            TenantId::parse(&config.jwt.platform_tenant).context("RAGD_PLATFORM_TENANT")?;
        bootstrap_admin(
            backends.users.as_ref(),
            config.bootstrap_admin.as_ref(),
            &platform,
        )
        .await?;
        if let Some(jwks) = &config.jwt.external {
            jwks.start().await;
        }
        let fleet = Fleet::connect(engine_config.redis.as_ref())
            .await
            .context("connecting to REDIS_URL")?;
        tracing::info!(shared = %fleet.described, "rate limits, question cache and credential invalidations");
        let auth = Arc::new(Authenticator::new(
            Arc::clone(&backends.users),
            Arc::clone(&backends.keys),
            config.jwt.clone(),
            Arc::clone(&fleet.bus),
        )?);
        auth.follow();
        let metrics = if config.enable_metrics {
            Some(crate::metrics::metrics_handle()?)
        } else {
            None
        };
        let rate_limits = config.rate_limits.clone();
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {} (RAGD_HOST/RAGD_PORT)", config.addr))?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(crate::metrics::bind(addr).await?),
            None => None,
        };
        let model_id = ragd_backends::embed::model::resolve(
            &engine_config.embeddings_model,
            &engine_config.models_dir,
        )
        .map(|m| m.id)
        .unwrap_or_else(|_| engine_config.embeddings_model.clone());
        let webhooks = Arc::new(crate::webhooks::Webhooks::new(
            Arc::clone(&backends.webhooks),
            auth.policy().clone(),
            config.webhooks.clone(),
        ));
        let state = AppState {
            services: Arc::new(OnceLock::new()),
            accounts: Arc::new(ragd_core::account_service::AccountService::new(
                Arc::clone(&backends.users),
                Arc::clone(&backends.keys),
                Arc::clone(&backends.tenants),
                auth.policy().clone(),
            )),
            status: Arc::clone(&backends.status),
            job_store: Arc::clone(&backends.jobs),
            auth,
            config: Arc::new(config),
            metrics,
            started: Instant::now(),
            draining: Arc::new(AtomicBool::new(false)),
            model_id: model_id.into(),
            load_failed: Arc::new(AtomicBool::new(false)),
            limits: crate::rate_limit::Limits {
                limiter: Arc::clone(&fleet.limiter),
                config: Arc::new(rate_limits),
            },
            redoc_js: read_redoc(redoc),
            webhooks,
            document_count: Arc::new(crate::recent::Recent::new(crate::routes::health::COUNT_TTL)),
        };
        Ok(Self {
            listener,
            metrics_listener,
            state,
            engine_config,
            backends,
            fleet,
        })
    }

    /// The bound port.
    pub(crate) fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// Serves until `shutdown` resolves (or the engine fails to load), then shuts down cleanly.
    pub(crate) async fn run(
        self,
        shutdown: impl Future<Output = bool> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            metrics_listener,
            state,
            engine_config,
            backends,
            fleet,
        } = self;
        let cancel = CancellationToken::new();
        let load_failed = CancellationToken::new();
        let stopping = CancellationToken::new();
        let deliveries = crate::webhooks::worker::start(
            Arc::clone(&state.webhooks),
            state.config.enable_metrics,
            cancel.clone(),
        )?;
        let loader = tokio::spawn(load_engine(
            state.clone(),
            Arc::clone(&backends),
            engine_config,
            fleet.embedding_cache.clone(),
            cancel.clone(),
            load_failed.clone(),
        ));
        let close_listener = CancellationToken::new();
        let trigger = {
            let (draining, stopping) = (Arc::clone(&state.draining), stopping.clone());
            let close_listener = close_listener.clone();
            let drain = state.config.shutdown_drain;
            async move {
                let wants_drain = tokio::select! {
                    wants_drain = shutdown => wants_drain,
                    () = load_failed.cancelled() => false,
                };
                draining.store(true, Ordering::Relaxed);
                crate::metrics::set_ready(false);
                if wants_drain && !drain.is_zero() {
                    tracing::info!(
                        ?drain,
                        "draining: /health/ready answers 503, requests are still served (each closing its connection)"
                    );
                    tokio::time::sleep(drain).await;
                    close_listener.cancel();
                    tokio::time::sleep(crate::listener::CLOSE_GRACE).await;
                }
                stopping.cancel();
                tracing::info!("shutting down: no new connections, finishing in-flight requests");
            }
        };
        // Stops with the engine, after the main listener: a drain stays visible to scrapes.
        let metrics_server = metrics_listener.map(|listener| {
            tracing::info!(addr = ?listener.local_addr().ok(), "serving /metrics (RAGD_METRICS_ADDR)");
            tokio::spawn(crate::metrics::serve(listener, state.clone(), cancel.clone()))
        });
        let grace = state.config.shutdown_timeout;
        use axum::serve::ListenerExt as _;
        let listener = crate::listener::ClosingListener::new(listener, close_listener)
            .context("the listener's address")?
            .tap_io(|_| {}); // the wrapper axum gives ConnectInfo<SocketAddr> for any listener
        let server = axum::serve(
            listener,
            crate::routes::router(&state)
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(trigger);
        let served = tokio::select! {
            result = server => result.context("serving HTTP"),
            () = async { stopping.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "in-flight requests did not finish within RAGD_SHUTDOWN_TIMEOUT_SECS");
                Ok(())
            }
        };
        cancel.cancel();
        if let Some(task) = metrics_server
            && let Ok(Err(err)) = task.await
        {
            tracing::error!(%err, "the metrics listener failed");
        }
        let worker = loader
            .await
            .context("the engine loader panicked")?
            .context("loading the engine")?;
        if let Err(err) = worker.await {
            tracing::error!(%err, "the ingestion worker panicked");
        }
        if let Err(err) = deliveries.await {
            tracing::error!(%err, "the webhook delivery worker panicked");
        }
        if let Some(services) = state.services.get() {
            services
                .maintenance
                .flush()
                .await
                .context("saving the vector index")?;
        }
        drop(state);
        drop(backends);
        served
    }
}

/// Loads the model and the index, starts the job worker and marks the server ready.
async fn load_engine(
    state: AppState,
    backends: Arc<Backends>,
    config: EngineConfig,
    shared_cache: Option<Arc<dyn EmbeddingCache>>,
    cancel: CancellationToken,
    failed: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let started = Instant::now();
    let loaded = async {
        let embedder_config = config.clone();
        let embedder =
            tokio::task::spawn_blocking(move || ragd_backends::start_embedder(&embedder_config))
                .await
                .context("the model loader panicked")??;
        let generator_config = config.generator.clone();
        let generator = tokio::task::spawn_blocking(move || generator_config.start())
            .await
            .context("the generator loader panicked")??;
        let documents = backends.documents(&config).await?;
        let service = Arc::new(ragd_backends::rag_service(
            &config,
            embedder,
            generator,
            documents.store,
            Arc::clone(&backends.conversations),
            shared_cache,
        )?);
        let (jobs, worker) = crate::jobs::start(crate::jobs::WorkerParts {
            service: Arc::clone(&service),
            store: Arc::clone(&backends.jobs),
            uploads: config.data_dir.join("uploads"),
            file_attempts: state.config.limits.job_file_attempts,
            lease: state.config.limits.job_lease,
            max_unfinished: state.config.limits.max_queued_jobs,
            cancel,
        })
        .await?;
        anyhow::Ok((
            Services {
                service,
                maintenance: documents.maintenance,
                jobs,
            },
            worker,
        ))
    };
    match loaded.await {
        Ok((services, worker)) => {
            let _ = state.services.set(services);
            tracing::info!(elapsed_ms = started.elapsed().as_millis(), "ready");
            Ok(worker)
        }
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "the engine could not be loaded");
            state.load_failed.store(true, Ordering::Relaxed);
            failed.cancel();
            Err(err)
        }
    }
}
