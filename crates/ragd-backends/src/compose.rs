//! The composition root: builds every backend from configuration and hands out ports only.
//! Callers (the server, the CLI, benchmarks) see `Arc<dyn …>` and [`RagService`]; which engine
//! sits behind them is decided here and nowhere else.

use std::path::PathBuf;
use std::sync::Arc;

use ragd_core::accounts::{ApiKeyStore, TenantStore, UserStore};
use ragd_core::chunking::Chunker;
use ragd_core::conversations::ConversationStore;
use ragd_core::events::EventLog;
use ragd_core::invalidation::{InvalidationBus, LocalBus};
use ragd_core::jobs::JobStore;
use ragd_core::limits::RateLimiter;
use ragd_core::ports::{DocumentStore, Embedder, Generator, Maintenance, StoreStatus, VectorIndex};
use ragd_core::query_cache::{CachedEmbedder, EmbeddingCache, MemoryEmbeddingCache};
use ragd_core::service::ServiceParts;
use ragd_core::webhooks::WebhookStore;
use ragd_core::{RagService, Result};

use crate::EngineConfig;
use crate::chroma::ChromaIndex;
use crate::data_dir::DataDirLock;
use crate::embed::tokenizer::TokenCount;
use crate::embedded_index::{EmbeddedIndex, EmbeddedIndexConfig};
use crate::lexical::{LexicalConfig, TantivyIndex};
use crate::postgres::{PgOptions, PgStore};
use crate::sqlite::indexed::IndexedStore;
use crate::sqlite::{Durability, SqliteStore};

/// A PostgreSQL URL; its password never reaches a log or a `Debug` print.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a `postgres://` URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, to connect with.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `host:port/database`, for messages.
    pub fn redacted(&self) -> String {
        let rest = self.0.split_once("://").map_or(self.0.as_str(), |(_, r)| r);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        rest.split('?').next().unwrap_or(rest).to_owned()
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

/// A PostgreSQL database (with pgvector) shared by any number of ragd instances.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// Where it is.
    pub url: DatabaseUrl,
    /// Pool limits, timeouts and search breadth.
    pub options: PgOptions,
}

/// Where documents, accounts and jobs live.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// The embedded default: one SQLite file and an in-process vector index in a data dir,
    /// owned by one process.
    Sqlite {
        /// The data directory.
        data_dir: PathBuf,
        /// When a commit reaches the disk.
        durability: Durability,
    },
    /// PostgreSQL + pgvector: documents, vectors, accounts and jobs in one database that many
    /// instances share; searched in SQL, no index in process.
    Postgres(PostgresConfig),
}

impl EngineConfig {
    /// The store this configuration selects: PostgreSQL when a database URL is set, else the
    /// data dir.
    pub fn store(&self) -> StoreConfig {
        match &self.postgres {
            Some(pg) => StoreConfig::Postgres(pg.clone()),
            None => StoreConfig::Sqlite {
                data_dir: self.data_dir.clone(),
                durability: self.durability,
            },
        }
    }

    /// Owner access to this configuration's data dir.
    pub fn owner(&self) -> Access {
        Access::Owner {
            data_dir: self.data_dir.clone(),
        }
    }
}

/// Whether the opener owns its data dir (a server, an ingest) or only shares the store with its
/// owner (`ragd users`, `ragd keys` next to a running server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Exclusive: takes the data dir's lock. The data dir holds the SQLite store and its index,
    /// and in every mode the uploads the instance is receiving, so each instance needs its own
    /// (a PostgreSQL database is shared by many instances, and holds their jobs' staged files;
    /// their data dirs are not shared).
    Owner {
        /// The instance's data dir.
        data_dir: PathBuf,
    },
    /// Shared with the owner: accounts and jobs only.
    Shared,
}

enum Opened {
    Sqlite(SqliteStore),
    Postgres(Arc<PgStore>),
}

/// The opened store, as ports. Documents are opened separately ([`Backends::documents`]): their
/// index may take a while to load, and the accounts are usable meanwhile.
pub struct Backends {
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// API keys.
    pub keys: Arc<dyn ApiKeyStore>,
    /// Tenants.
    pub tenants: Arc<dyn TenantStore>,
    /// Ingestion jobs.
    pub jobs: Arc<dyn JobStore>,
    /// Conversation memory.
    pub conversations: Arc<dyn ConversationStore>,
    /// Health and counts.
    pub status: Arc<dyn StoreStatus>,
    /// The events recorded with each write.
    pub events: Arc<dyn EventLog>,
    /// Webhooks and their deliveries.
    pub webhooks: Arc<dyn WebhookStore>,
    opened: Opened,
    /// Declared last: released after everything that uses the data dir.
    lock: Option<Arc<DataDirLock>>,
}

/// The document side: the store the service uses, and its maintenance.
pub struct Documents {
    /// Documents, chunks and vectors, searchable.
    pub store: Arc<dyn DocumentStore>,
    /// `ragd check`, saving at shutdown.
    pub maintenance: Arc<dyn Maintenance>,
    /// Keeps the data dir claimed while the documents are open.
    _lock: Option<Arc<DataDirLock>>,
}

impl Backends {
    /// Opens the configured store (creating and migrating it if needed).
    pub async fn open(config: &StoreConfig, access: Access) -> Result<Self> {
        let lock = match &access {
            Access::Owner { data_dir } => Some(Arc::new(DataDirLock::acquire(data_dir)?)),
            Access::Shared => None,
        };
        match config {
            StoreConfig::Sqlite {
                data_dir,
                durability,
            } => {
                std::fs::create_dir_all(data_dir).map_err(|e| {
                    ragd_core::Error::Unavailable(format!(
                        "cannot create data dir {}: {e}",
                        data_dir.display()
                    ))
                })?;
                let store = SqliteStore::open_with(&data_dir.join("ragd.db"), *durability).await?;
                let shared = Arc::new(store.clone());
                Ok(Self {
                    users: Arc::clone(&shared) as _,
                    keys: Arc::clone(&shared) as _,
                    tenants: Arc::clone(&shared) as _,
                    jobs: Arc::clone(&shared) as _,
                    conversations: Arc::clone(&shared) as _,
                    status: Arc::clone(&shared) as _,
                    events: Arc::clone(&shared) as _,
                    webhooks: shared as _,
                    opened: Opened::Sqlite(store),
                    lock,
                })
            }
            StoreConfig::Postgres(pg) => {
                // Shared by design: no instance owns the database.
                let store = Arc::new(PgStore::connect(pg.url.expose(), pg.options).await?);
                Ok(Self {
                    users: Arc::clone(&store) as _,
                    keys: Arc::clone(&store) as _,
                    tenants: Arc::clone(&store) as _,
                    jobs: Arc::clone(&store) as _,
                    conversations: Arc::clone(&store) as _,
                    status: Arc::clone(&store) as _,
                    events: Arc::clone(&store) as _,
                    webhooks: Arc::clone(&store) as _,
                    opened: Opened::Postgres(store),
                    lock,
                })
            }
        }
    }

    /// Opens the documents: for SQLite, opens its vector index (in process, or on the Chroma
    /// server when one is configured) and reconciles it with the store (needs
    /// [`Access::Owner`]: one process at a time keeps the index in step with the store);
    /// PostgreSQL searches its own rows.
    pub async fn documents(&self, config: &EngineConfig) -> Result<Documents> {
        match &self.opened {
            Opened::Sqlite(store) => {
                if self.lock.is_none() {
                    return Err(ragd_core::Error::internal(
                        "the vector index needs the data dir opened as its owner",
                    ));
                }
                crate::data_dir::check_embedding_model(
                    &config.data_dir,
                    &crate::embed::model::canonical_id(&config.embeddings_model),
                    StoreStatus::count_all_documents(store).await? > 0,
                )?;
                let index: Arc<dyn VectorIndex> = match &config.chroma {
                    Some(chroma) => Arc::new(ChromaIndex::open(chroma.clone(), store).await?),
                    None => {
                        let mut index_config =
                            EmbeddedIndexConfig::new(config.data_dir.join("index"), 384);
                        index_config.exact_below = config.exact_search_below;
                        index_config.expansion_search = config.ann_ef_search;
                        index_config.precision = config.index_precision;
                        Arc::new(EmbeddedIndex::open(index_config, store).await?)
                    }
                };
                let mut indexed = IndexedStore::new(store.clone(), index);
                if config.search.lexical {
                    let mut lexical = LexicalConfig::new(
                        config
                            .search
                            .lexical_dir
                            .clone()
                            .unwrap_or_else(|| config.data_dir.join("lexical")),
                    );
                    lexical.writer_memory_bytes = config.search.lexical_writer_bytes;
                    indexed =
                        indexed.with_lexical(Arc::new(TantivyIndex::open(lexical, store).await?));
                }
                let indexed = Arc::new(indexed);
                Ok(Documents {
                    store: Arc::clone(&indexed) as _,
                    maintenance: indexed as _,
                    _lock: self.lock.clone(),
                })
            }
            Opened::Postgres(_) if config.chroma.is_some() => {
                Err(ragd_core::Error::invalid(CHROMA_WITH_POSTGRES))
            }
            Opened::Postgres(store) => Ok(Documents {
                store: Arc::clone(store) as _,
                maintenance: Arc::clone(store) as _,
                _lock: self.lock.clone(),
            }),
        }
    }
}

/// Why Chroma and PostgreSQL are not combined: pgvector already is the index every instance
/// shares, searched in the same transaction as the rows it belongs to; a second copy in Chroma
/// would only add a way for the two to disagree.
pub const CHROMA_WITH_POSTGRES: &str = "CHROMA_HOST is set together with DATABASE_URL: with \
    PostgreSQL the vectors live in pgvector, which every instance shares; unset CHROMA_HOST (or \
    DATABASE_URL, for the SQLite store with its vectors in Chroma)";

/// What the instances of a fleet share beyond the database: in process for one node, in Redis
/// when `REDIS_URL` is set.
#[derive(Clone)]
pub struct Fleet {
    /// Counts requests against their quotas.
    pub limiter: Arc<dyn RateLimiter>,
    /// The shared question-embedding cache (behind each instance's own), if any.
    pub embedding_cache: Option<Arc<dyn EmbeddingCache>>,
    /// Carries credential changes to every instance.
    pub bus: Arc<dyn InvalidationBus>,
    /// Where the shared state lives, for messages (`in process` or Redis's address).
    pub described: String,
}

impl Fleet {
    /// Everything in process: one node.
    pub fn local() -> Self {
        Self {
            limiter: Arc::new(crate::memory::limiter::MemoryRateLimiter::new()),
            embedding_cache: None,
            bus: Arc::new(LocalBus::default()),
            described: "in process".into(),
        }
    }

    /// The configured fleet state: Redis when configured (it must answer now), else in process.
    pub async fn connect(redis: Option<&crate::redis::RedisConfig>) -> Result<Self> {
        let Some(config) = redis else {
            return Ok(Self::local());
        };
        let connection = crate::redis::RedisConnection::connect(config.clone()).await?;
        Ok(Self {
            limiter: crate::redis::limiter::shared(connection.clone()),
            embedding_cache: (!config.cache_ttl.is_zero()).then(|| {
                Arc::new(crate::redis::RedisEmbeddingCache::new(connection.clone()))
                    as Arc<dyn EmbeddingCache>
            }),
            bus: Arc::new(crate::redis::RedisBus::new(connection)),
            described: format!("redis at {}", crate::redis::redacted(&config.url)),
        })
    }
}

/// The cross-encoder, when `RAGD_RERANK_MODEL` names one: a folder, or the id or folder name of
/// the one `make reranker` fetches into the models directory.
fn reranker(config: &EngineConfig) -> Result<Option<Arc<dyn ragd_core::ports::Reranker>>> {
    let Some(spec) = &config.search.rerank_model else {
        return Ok(None);
    };
    let mut settings =
        crate::rerank::OnnxRerankerConfig::new(&config.models_dir, config.ort_library.clone());
    let path = std::path::Path::new(spec);
    if path.is_dir() {
        settings.model_id = spec.clone();
        settings.model_dir = path.to_path_buf();
    } else if spec != crate::rerank::MS_MARCO_ID && spec != crate::rerank::MS_MARCO_DIR {
        return Err(ragd_core::Error::invalid(format!(
            "RAGD_RERANK_MODEL={spec:?} is neither a folder nor {} (run `make reranker`)",
            crate::rerank::MS_MARCO_DIR
        )));
    }
    settings.threads = config.search.rerank_threads;
    Ok(Some(Arc::new(crate::rerank::OnnxReranker::start(
        settings,
    )?)))
}

/// Builds the RAG service over `store` with the configured pipeline.
pub fn rag_service(
    config: &EngineConfig,
    embedder: Arc<dyn Embedder>,
    generator: Option<Arc<dyn Generator>>,
    store: Arc<dyn DocumentStore>,
    conversations: Arc<dyn ConversationStore>,
    shared_cache: Option<Arc<dyn EmbeddingCache>>,
) -> Result<RagService> {
    let model = crate::embed::model::resolve(&config.embeddings_model, &config.models_dir)?;
    let counter = TokenCount::load(&model.dir.join("tokenizer.json"))?;
    let mut caches: Vec<Arc<dyn EmbeddingCache>> = Vec::new();
    if config.query_cache > 0 {
        caches.push(Arc::new(MemoryEmbeddingCache::new(config.query_cache)));
    }
    caches.extend(shared_cache);
    let embedder: Arc<dyn Embedder> = if caches.is_empty() {
        embedder
    } else {
        Arc::new(CachedEmbedder::with_caches(embedder, caches))
    };
    Ok(RagService::new(ServiceParts {
        embedder,
        store,
        extractor: config.parser.extractor(),
        chunker: Chunker::new(config.chunker, Arc::new(counter)),
        calibration: config.calibration.clone(),
        retrieval: config.search.settings(reranker(config)?),
        composer: ragd_core::answer::ComposerConfig::default(),
        generator,
        generation: config.generation,
        limits: config.limits,
        guardrails: Arc::clone(&config.guardrails),
        conversations,
    }))
}

/// A whole node for one-shot commands and tests: the store, the documents and the service.
pub struct Node {
    /// The RAG service.
    pub service: Arc<RagService>,
    /// Maintenance of the documents.
    pub maintenance: Arc<dyn Maintenance>,
    /// The accounts and jobs side (declared last: dropped after the documents).
    pub backends: Backends,
}

impl Node {
    /// Loads the model, then opens the store as its owner.
    pub async fn start(config: &EngineConfig) -> Result<Self> {
        let backends = Backends::open(&config.store(), config.owner()).await?;
        let embedder = crate::start_embedder(config)?;
        Self::assemble(config, embedder, backends).await
    }

    /// Opens the store as its owner around an already running embedder (tests share one model
    /// this way).
    pub async fn open(config: &EngineConfig, embedder: Arc<dyn Embedder>) -> Result<Self> {
        let backends = Backends::open(&config.store(), config.owner()).await?;
        Self::assemble(config, embedder, backends).await
    }

    async fn assemble(
        config: &EngineConfig,
        embedder: Arc<dyn Embedder>,
        backends: Backends,
    ) -> Result<Self> {
        let documents = backends.documents(config).await?;
        let generator_config = config.generator.clone();
        let generator = tokio::task::spawn_blocking(move || generator_config.start())
            .await
            .map_err(ragd_core::Error::internal)??;
        let service = rag_service(
            config,
            embedder,
            generator,
            documents.store,
            Arc::clone(&backends.conversations),
            None,
        )?;
        Ok(Self {
            service: Arc::new(service),
            maintenance: documents.maintenance,
            backends,
        })
    }
}
