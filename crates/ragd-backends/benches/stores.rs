//! Document store benchmark, driven by `bench/stores.sh`: the embedded store (SQLite and the
//! in-process HNSW index, composed as `compose.rs` does) against PostgreSQL + pgvector, on the
//! same documents and queries, in the same run. Prints one JSON object per measurement on stdout.
//!
//! ```text
//! RAGD_TEST_DATABASE_URL=postgres://… \
//!   cargo bench -p ragd-backends --bench stores -- VECTORS.f32 PASSAGES.jsonl SIZE[,SIZE…]
//! ```
//!
//! `VECTORS.f32` holds the all-MiniLM-L6-v2 embeddings of the passages of `PASSAGES.jsonl`, in
//! order (the engine bench's `vectors`). Its last `BENCH_QUERIES` (200) vectors are held out as
//! the queries, the others are the real corpus. A size above the real corpus is filled with
//! derived chunks: a real vector plus Gaussian noise, renormalised, so that its expected cosine to
//! its source is `BENCH_DERIVED_COSINE` (0.85), with its source's text. That keeps the clusters
//! of real embeddings (uniformly random unit vectors are HNSW's worst case and unlike any real
//! corpus): with the Python documentation's passages, the median cosine of a chunk to its nearest
//! neighbour is 0.70 among the 10,000 real ones and 0.85 at 100,000 (`stores_data` prints it).
//!
//! For each size, each store starts empty (a temporary data dir; a database of its own on the
//! server) and is measured on:
//! 1. ingestion: `put_document` of documents of 20 chunks, one after the other;
//! 2. search, k = 10, over the collection ids the store returns for each of three tenants:
//!    `big` (what the other two leave, in 4 collections), `medium` (10% of the chunks) and
//!    `small` (50 chunks); latency after a warm-up pass, and recall@10 against the exact top 10
//!    computed here, with the same ef for both stores (`BENCH_EF`, a comma list; 100);
//! 3. the index rebuild of `Maintenance::repair`, and the store's size on disk and in memory.
//!
//! Other settings: `BENCH_STORES` (`embedded,postgres`), `BENCH_REBUILD` (1), and ragd's own
//! `RAGD_SQLITE_SYNCHRONOUS`, `RAGD_EXACT_SEARCH_BELOW` and `RAGD_INDEX_PRECISION` for the
//! embedded store (ragd's defaults otherwise).

use std::io::BufRead;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use ragd_backends::embedded_index::{EmbeddedIndex, EmbeddedIndexConfig};
use ragd_backends::postgres::{PgOptions, PgStore};
use ragd_backends::sqlite::indexed::IndexedStore;
use ragd_backends::sqlite::{Durability, SqliteStore};
use ragd_core::events::Event;
use ragd_core::ports::{DocumentStore, Maintenance};
use ragd_core::testing::contract_documents::{new_document, scope};
use ragd_core::types::{DocumentId, Embedding, StoredChunk, TenantId};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Row};

const DIMS: usize = 384;
/// Results per search.
const K: usize = 10;
const CHUNKS_PER_DOCUMENT: usize = 20;
/// The size of the small tenant, whatever the corpus size.
const SMALL_TENANT: usize = 50;

fn env_or<T: FromStr>(name: &str, default: T) -> T
where
    T::Err: std::fmt::Debug,
{
    std::env::var(name).map_or(default, |v| v.parse().expect(name))
}

fn emit(value: &Value) {
    println!("{value}");
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Dot product in eight lanes, which the compiler vectorises (a plain sum does not).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum()
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = dot(&v, &v).sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// splitmix64: a fixed seed makes the derived corpus and its tenants the same in every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn gaussian(&mut self) -> f32 {
        let (u, v) = (1.0 - self.unit(), self.unit());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

fn load_vectors(path: &str) -> Vec<Vec<f32>> {
    let raw = std::fs::read(path).expect("the vectors file");
    raw.chunks_exact(DIMS * 4)
        .map(|v| {
            v.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect()
}

fn passages(path: &str) -> Vec<String> {
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("the passages file"));
    file.lines()
        .map(|line| {
            let line: Value = serde_json::from_str(&line.expect("readable")).expect("JSON lines");
            line["text"].as_str().expect("a text field").to_owned()
        })
        .collect()
}

/// A tenant of the workload: its chunks are a range of the corpus.
struct Tenant {
    name: &'static str,
    collections: usize,
    chunks: Range<usize>,
}

impl Tenant {
    fn id(&self) -> TenantId {
        TenantId::parse(self.name).expect("a valid tenant name")
    }
}

/// A document to write: chunks `chunks` of the corpus, into one collection of a tenant.
struct Planned {
    id: DocumentId,
    tenant: usize,
    collection: usize,
    chunks: Range<usize>,
}

/// One size's chunks, tenants and documents, the same for both stores.
struct Workload {
    /// Unit vectors, in the order the documents take them.
    vectors: Vec<Vec<f32>>,
    /// The passage each vector was embedded from (or derived from).
    passage: Vec<usize>,
    tenants: [Tenant; 3],
    documents: Vec<Planned>,
    /// First corpus index of each document's chunks, to recognise search hits.
    start_of: std::collections::HashMap<DocumentId, usize>,
}

impl Workload {
    /// The real vectors, then vectors derived from them up to `size`, shuffled so that every
    /// tenant gets a mix.
    fn new(real: &[Vec<f32>], size: usize, derived_cosine: f32) -> Self {
        assert!(size >= 1_000, "size {size} is too small for the tenants");
        // |v + n|: n has `DIMS` components of deviation sigma, nearly orthogonal to v.
        let sigma = ((1.0 / (derived_cosine * derived_cosine) - 1.0) / DIMS as f32).sqrt();
        let mut rng = Rng(42);
        let mut items: Vec<(Vec<f32>, usize)> = (0..size)
            .map(|i| {
                let source = i % real.len();
                let vector = if i < real.len() {
                    real[source].clone()
                } else {
                    normalised(
                        real[source]
                            .iter()
                            .map(|x| x + sigma * rng.gaussian())
                            .collect(),
                    )
                };
                (vector, source)
            })
            .collect();
        for i in (1..items.len()).rev() {
            items.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        let (vectors, passage) = items.into_iter().unzip();
        let (medium, big) = (size / 10, size - size / 10 - SMALL_TENANT);
        let tenants = [
            Tenant {
                name: "big",
                collections: 4,
                chunks: 0..big,
            },
            Tenant {
                name: "medium",
                collections: 1,
                chunks: big..big + medium,
            },
            Tenant {
                name: "small",
                collections: 1,
                chunks: big + medium..size,
            },
        ];
        let mut documents = Vec::new();
        for (tenant, t) in tenants.iter().enumerate() {
            for (n, start) in t.chunks.clone().step_by(CHUNKS_PER_DOCUMENT).enumerate() {
                documents.push(Planned {
                    id: DocumentId::new(),
                    tenant,
                    collection: n % t.collections,
                    chunks: start..(start + CHUNKS_PER_DOCUMENT).min(t.chunks.end),
                });
            }
        }
        let start_of = documents.iter().map(|d| (d.id, d.chunks.start)).collect();
        Self {
            vectors,
            passage,
            tenants,
            documents,
            start_of,
        }
    }

    /// The document `planned` as ragd's ingestion hands it to the store, with its event.
    fn document(
        &self,
        planned: &Planned,
        passages: &[String],
    ) -> (ragd_core::ports::NewDocument, Event) {
        let scope = scope(
            &self.tenants[planned.tenant].id(),
            &format!("c{}", planned.collection),
        );
        let source = format!("doc-{}.md", planned.chunks.start);
        let texts: Vec<&str> = planned
            .chunks
            .clone()
            .map(|i| passages[self.passage[i]].as_str())
            .collect();
        let vectors: Vec<Embedding> = planned
            .chunks
            .clone()
            .map(|i| Embedding(self.vectors[i].clone()))
            .collect();
        let event = Event::DocumentStored {
            document_id: planned.id,
            scope: scope.clone(),
            source: source.clone(),
            chunks: texts.len() as u32,
        };
        (
            new_document(planned.id, &scope, &source, &texts, &vectors),
            event,
        )
    }

    /// For each query, the K-th best cosine among the tenant's chunks: a hit at least this
    /// close belongs to the exact top K (ties included).
    fn kth_best(&self, tenant: &Tenant, queries: &[Embedding]) -> Vec<f32> {
        queries
            .iter()
            .map(|q| {
                let mut cosines: Vec<f32> = self.vectors[tenant.chunks.clone()]
                    .iter()
                    .map(|v| dot(&q.0, v))
                    .collect();
                cosines.select_nth_unstable_by(K - 1, |a, b| b.total_cmp(a));
                cosines[K - 1]
            })
            .collect()
    }

    /// The share of the exact top K among `hits`.
    fn recall(
        &self,
        tenant: &Tenant,
        query: &Embedding,
        kth: f32,
        hits: &[(StoredChunk, f32)],
    ) -> f64 {
        let found = hits
            .iter()
            .filter(|(hit, _)| {
                let start = self
                    .start_of
                    .get(&hit.document.id)
                    .expect("a stored document");
                let item = start + hit.chunk.index as usize;
                assert!(
                    tenant.chunks.contains(&item),
                    "{} got another tenant's chunk",
                    tenant.name
                );
                dot(&query.0, &self.vectors[item]) >= kth - 1e-6
            })
            .count();
        found as f64 / K as f64
    }

    /// How clustered the corpus is: median cosine of a sample of chunks to their nearest other
    /// chunk, and of the queries to their nearest chunk.
    fn describe(&self, real: usize, derived_cosine: f32, queries: &[Embedding]) -> Value {
        let nearest = |v: &[f32], skip: Option<usize>| {
            let others = self
                .vectors
                .iter()
                .enumerate()
                .filter(|&(j, _)| Some(j) != skip);
            others.map(|(_, w)| dot(v, w)).fold(f32::MIN, f32::max) as f64
        };
        let step = (self.vectors.len() / 256).max(1);
        let mut chunk_nn: Vec<f64> = (0..self.vectors.len())
            .step_by(step)
            .map(|i| nearest(&self.vectors[i], Some(i)))
            .collect();
        let mut query_nn: Vec<f64> = queries.iter().map(|q| nearest(&q.0, None)).collect();
        chunk_nn.sort_by(f64::total_cmp);
        query_nn.sort_by(f64::total_cmp);
        let size = self.vectors.len();
        json!({
            "bench": "stores_data", "size": size, "real": real.min(size),
            "derived": size.saturating_sub(real), "derived_cosine_to_source": derived_cosine,
            "queries": queries.len(), "documents": self.documents.len(),
            "tenants": self.tenants.iter().map(|t| json!({
                "name": t.name, "chunks": t.chunks.len(), "collections": t.collections,
            })).collect::<Vec<_>>(),
            "chunk_nearest_cosine_p50": percentile(&chunk_nn, 0.5),
            "query_nearest_cosine_p50": percentile(&query_nn, 0.5),
        })
    }
}

/// The two stores compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Embedded,
    Postgres,
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "embedded" => Ok(Self::Embedded),
            "postgres" => Ok(Self::Postgres),
            other => Err(format!("unknown store {other:?} (embedded, postgres)")),
        }
    }
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Postgres => "postgres",
        }
    }
}

/// A store under test, with the handles the measurements need beyond its ports.
enum Subject {
    Embedded {
        store: Arc<IndexedStore>,
        index: Arc<EmbeddedIndex>,
        exact_below: usize,
        dir: tempfile::TempDir,
    },
    Postgres {
        store: PgStore,
        /// A connection to the server's own database, to create and drop the bench's.
        admin: PgPool,
        database: String,
        url: String,
    },
}

const MIB: f64 = 1024.0 * 1024.0;

impl Subject {
    /// An empty store: SQLite and the index as `compose.rs` builds them (ragd's settings), or a
    /// new database on the PostgreSQL server at `server` (pgvector's defaults, as ragd's).
    async fn open(kind: Kind, size: usize, server: &str) -> Self {
        match kind {
            Kind::Embedded => {
                let dir = tempfile::tempdir().expect("a temporary data dir");
                let durability = env_or("RAGD_SQLITE_SYNCHRONOUS", Durability::default());
                let store = SqliteStore::open_with(&dir.path().join("ragd.db"), durability)
                    .await
                    .expect("SQLite");
                let config = EmbeddedIndexConfig {
                    exact_below: env_or("RAGD_EXACT_SEARCH_BELOW", 2_000),
                    precision: env_or("RAGD_INDEX_PRECISION", Default::default()),
                    ..EmbeddedIndexConfig::new(dir.path().join("index"), DIMS)
                };
                let exact_below = config.exact_below;
                let index = Arc::new(EmbeddedIndex::open(config, &store).await.expect("index"));
                let store = Arc::new(IndexedStore::new(store, Arc::clone(&index) as _));
                Self::Embedded {
                    store,
                    index,
                    exact_below,
                    dir,
                }
            }
            Kind::Postgres => {
                assert!(
                    !server.is_empty(),
                    "RAGD_TEST_DATABASE_URL: run under scripts/with-postgres.sh"
                );
                let admin = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(server)
                    .await
                    .expect("the PostgreSQL server");
                let database = format!("bench_stores_{size}");
                for sql in [
                    format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
                    format!("CREATE DATABASE {database}"),
                ] {
                    sqlx::query(&sql)
                        .execute(&admin)
                        .await
                        .expect("a new database");
                }
                let url = PgConnectOptions::from_str(server)
                    .expect("a PostgreSQL URL")
                    .database(&database)
                    .to_url_lossy()
                    .to_string();
                let store = PgStore::connect(&url, PgOptions::default())
                    .await
                    .expect("PgStore");
                Self::Postgres {
                    store,
                    admin,
                    database,
                    url,
                }
            }
        }
    }

    fn documents(&self) -> &dyn DocumentStore {
        match self {
            Self::Embedded { store, .. } => store.as_ref(),
            Self::Postgres { store, .. } => store,
        }
    }

    fn maintenance(&self) -> &dyn Maintenance {
        match self {
            Self::Embedded { store, .. } => store.as_ref(),
            Self::Postgres { store, .. } => store,
        }
    }

    /// Searches keep `ef` candidates from now on (a new pool for PostgreSQL, whose `ef_search`
    /// is a connection option).
    async fn set_ef(&mut self, ef: usize) {
        match self {
            Self::Embedded { index, .. } => index.set_expansion_search(ef),
            Self::Postgres { store, url, .. } => {
                let ef_search = u32::try_from(ef).expect("ef fits in u32");
                store.close().await;
                let options = PgOptions {
                    ef_search,
                    ..PgOptions::default()
                };
                *store = PgStore::connect(url, options).await.expect("PgStore");
            }
        }
    }

    /// How a search over `collections` (holding `chunks`) runs, "exact" or "hnsw": for
    /// PostgreSQL, the plan of `PgStore::search`'s inner query under its settings.
    async fn path(&self, collections: &[u32], chunks: usize, query: &Embedding) -> &'static str {
        let uses_graph = match self {
            Self::Embedded { exact_below, .. } => chunks > *exact_below,
            Self::Postgres { store, .. } => {
                let ids: Vec<i64> = collections.iter().map(|&c| i64::from(c)).collect();
                let mut tx = store.pool().begin().await.expect("a transaction");
                sqlx::query(
                    "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), \
                     set_config('plan_cache_mode', 'force_custom_plan', true)",
                )
                .execute(&mut *tx)
                .await
                .expect("search settings");
                let plan: Vec<String> = sqlx::query_scalar(
                    "EXPLAIN SELECT key FROM chunks WHERE collection_id = ANY($1) \
                     AND embedding IS NOT NULL ORDER BY embedding <=> $2::real[]::vector LIMIT 10",
                )
                .bind(&ids)
                .bind(&query.0)
                .fetch_all(&mut *tx)
                .await
                .expect("EXPLAIN");
                plan.iter().any(|line| line.contains("chunks_embedding"))
            }
        };
        if uses_graph { "hnsw" } else { "exact" }
    }

    /// Brings PostgreSQL's statistics up to date, as autovacuum does within a minute or so of
    /// the writes: whether a search walks the graph or scans a collection exactly is the
    /// planner's choice, from them. Returns the seconds it took.
    async fn analyze(&self) -> Option<f64> {
        let Self::Postgres { store, .. } = self else {
            return None;
        };
        let started = Instant::now();
        sqlx::query("ANALYZE")
            .execute(store.pool())
            .await
            .expect("ANALYZE");
        Some(started.elapsed().as_secs_f64())
    }

    /// Where the chunks live: the index in memory and the data dir, or the database's relations.
    async fn footprint(&self) -> Value {
        match self {
            Self::Embedded { index, dir, .. } => {
                let disk: u64 = walkdir::WalkDir::new(dir.path())
                    .into_iter()
                    .filter_map(|e| e.ok()?.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum();
                let memory = index.memory_usage() as f64 / MIB;
                json!({"index_memory_mib": memory, "disk_mib": disk as f64 / MIB})
            }
            Self::Postgres { store, .. } => {
                let row = sqlx::query(
                    "SELECT pg_total_relation_size('chunks'), \
                     pg_relation_size('chunks_embedding'), pg_database_size(current_database())",
                )
                .fetch_one(store.pool())
                .await
                .expect("relation sizes");
                let mib = |i: usize| row.get::<i64, _>(i) as f64 / MIB;
                json!({"chunks_table_mib": mib(0), "hnsw_index_mib": mib(1), "disk_mib": mib(2)})
            }
        }
    }

    /// `Maintenance::repair` (the index rebuilt from the stored vectors), timed; for PostgreSQL
    /// with the server's `maintenance_work_mem` and then with 1GB.
    async fn rebuilds(&self) -> Vec<Value> {
        let mut settings = vec![None];
        if let Self::Postgres { admin, .. } = self {
            let server: String =
                sqlx::query_scalar("SELECT current_setting('maintenance_work_mem')")
                    .fetch_one(admin)
                    .await
                    .expect("maintenance_work_mem");
            settings = vec![Some(server), Some("1GB".to_owned())];
        }
        let mut out = Vec::new();
        for memory in settings {
            if let (
                Self::Postgres {
                    admin, database, ..
                },
                Some(memory),
            ) = (self, &memory)
            {
                let sql =
                    format!("ALTER DATABASE {database} SET maintenance_work_mem = '{memory}'");
                sqlx::query(&sql)
                    .execute(admin)
                    .await
                    .expect("maintenance_work_mem");
            }
            let started = Instant::now();
            let report = self.maintenance().repair().await.expect("repair");
            let seconds = started.elapsed().as_secs_f64();
            assert!(
                report.ok,
                "the store is inconsistent after a rebuild: {report:?}"
            );
            out.push(json!({
                "bench": "stores_rebuild", "seconds": seconds, "maintenance_work_mem": memory,
            }));
        }
        out
    }

    async fn close(self) {
        if let Self::Postgres {
            store,
            admin,
            database,
            ..
        } = self
        {
            store.close().await;
            let sql = format!("DROP DATABASE {database} WITH (FORCE)");
            sqlx::query(&sql)
                .execute(&admin)
                .await
                .expect("drop the database");
        }
    }
}

/// Resident memory of this process in MiB, now and at its peak since the last [`reset_peak`].
fn memory() -> Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |field: &str| {
        let line = status.lines().find_map(|l| l.strip_prefix(field))?;
        line.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<f64>()
            .ok()
    };
    let mib = |field: &str| kib(field).map(|k| k / 1024.0);
    json!({"rss_mib": mib("VmRSS:"), "peak_rss_mib": mib("VmHWM:")})
}

/// Restarts the peak (VmHWM) from the current RSS, so that each store's peak is its own. The
/// RSS it starts from holds the workload and what the allocator kept of the store before:
/// `rss_before_mib` in `stores_footprint`.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Writes every document, one after the other, timing `put_document` alone; then makes the
/// writes searchable and durable (`settle`, `flush`: the embedded index saved), brings the
/// planner's statistics up to date and checks the counts.
async fn ingest(subject: &Subject, work: &Workload, passages: &[String]) -> Value {
    let store = subject.documents();
    let mut put_ms = Vec::with_capacity(work.documents.len());
    let started = Instant::now();
    for planned in &work.documents {
        let (document, event) = work.document(planned, passages);
        let t = Instant::now();
        store
            .put_document(document, &[event])
            .await
            .expect("put_document");
        put_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    store.settle().await.expect("settle");
    let t = Instant::now();
    subject.maintenance().flush().await.expect("flush");
    let flush_seconds = t.elapsed().as_secs_f64();
    let analyze_seconds = subject.analyze().await;
    for tenant in &work.tenants {
        let chunks = store
            .count_chunks(&tenant.id())
            .await
            .expect("count_chunks");
        assert_eq!(
            chunks,
            tenant.chunks.len() as u64,
            "chunks of {}",
            tenant.name
        );
    }
    let put_seconds = put_ms.iter().sum::<f64>() / 1e3;
    put_ms.sort_by(f64::total_cmp);
    json!({
        "bench": "stores_ingest", "documents": work.documents.len(), "chunks": work.vectors.len(),
        "put_seconds": put_seconds, "chunks_per_s": work.vectors.len() as f64 / put_seconds,
        "put_p50_ms": percentile(&put_ms, 0.5), "put_p99_ms": percentile(&put_ms, 0.99),
        "wall_seconds": wall_seconds, "flush_seconds": flush_seconds,
        "analyze_seconds": analyze_seconds,
    })
}

/// Latency and recall@10 of the queries over one tenant's collections, after a warm-up pass.
async fn search_case(
    subject: &Subject,
    work: &Workload,
    tenant: &Tenant,
    queries: &[Embedding],
    kth: &[f32],
) -> Value {
    let store = subject.documents();
    let ids = store
        .collection_ids(&tenant.id(), None)
        .await
        .expect("collection ids");
    assert_eq!(
        ids.len(),
        tenant.collections,
        "collections of {}",
        tenant.name
    );
    let path = subject.path(&ids, tenant.chunks.len(), &queries[0]).await;
    for query in queries {
        store.search(query, &ids, K).await.expect("search");
    }
    let (mut ms, mut recall, mut worst, mut short) = (Vec::new(), 0.0, 1.0f64, 0);
    for (query, &kth) in queries.iter().zip(kth) {
        let t = Instant::now();
        let hits = store.search(query, &ids, K).await.expect("search");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        short += usize::from(hits.len() < K);
        let r = work.recall(tenant, query, kth, &hits);
        (recall, worst) = (recall + r, worst.min(r));
    }
    ms.sort_by(f64::total_cmp);
    json!({
        "bench": "stores_search", "tenant": tenant.name, "tenant_chunks": tenant.chunks.len(),
        "collections": ids.len(), "path": path, "queries": queries.len(),
        "p50_ms": percentile(&ms, 0.5), "p99_ms": percentile(&ms, 0.99),
        "mean_ms": ms.iter().sum::<f64>() / ms.len() as f64,
        "recall_at_10": recall / queries.len() as f64, "worst_recall_at_10": worst,
        "short_results": short,
    })
}

/// Everything measured on one store for one workload; `truth` holds each tenant's
/// [`Workload::kth_best`].
async fn measure(
    kind: Kind,
    work: &Workload,
    passages: &[String],
    queries: &[Embedding],
    truth: &[Vec<f32>],
    server: &str,
) {
    let size = work.vectors.len();
    let tag = |mut v: Value| {
        v["store"] = json!(kind.label());
        v["size"] = json!(size);
        v
    };
    reset_peak();
    let before = memory()["rss_mib"].clone();
    let mut subject = Subject::open(kind, size, server).await;
    emit(&tag(ingest(&subject, work, passages).await));
    for ef in env_or("BENCH_EF", "100".to_owned()).split(',') {
        let ef: usize = ef.parse().expect("BENCH_EF: a comma list of numbers");
        subject.set_ef(ef).await;
        for (tenant, kth) in work.tenants.iter().zip(truth) {
            let mut result = search_case(&subject, work, tenant, queries, kth).await;
            result["ef"] = json!(ef);
            emit(&tag(result));
        }
    }
    let mut footprint = subject.footprint().await;
    footprint["bench"] = json!("stores_footprint");
    footprint["process"] = memory();
    footprint["process"]["rss_before_mib"] = before;
    emit(&tag(footprint));
    if env_or("BENCH_REBUILD", 1) == 1 {
        for rebuild in subject.rebuilds().await {
            emit(&tag(rebuild));
        }
    }
    subject.close().await;
}

/// The PostgreSQL server's settings that matter here.
async fn server_settings(server: &str) -> Value {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(server)
        .await
        .expect("PostgreSQL");
    let names = [
        "server_version",
        "shared_buffers",
        "work_mem",
        "maintenance_work_mem",
        "max_parallel_maintenance_workers",
        "effective_cache_size",
        "fsync",
        "synchronous_commit",
        "full_page_writes",
    ];
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY($1) ORDER BY name",
    )
    .bind(&names[..])
    .fetch_all(&pool)
    .await
    .expect("settings");
    let pgvector: Option<String> =
        sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            .fetch_optional(&pool)
            .await
            .expect("pgvector");
    pool.close().await;
    let mut settings: serde_json::Map<String, Value> =
        rows.into_iter().map(|(k, v)| (k, json!(v))).collect();
    settings.insert("bench".into(), json!("stores_postgres"));
    settings.insert("pgvector".into(), json!(pgvector));
    Value::Object(settings)
}

async fn run(vectors: &str, passages_path: &str, sizes: &str) {
    let vectors = load_vectors(vectors);
    let passages = passages(passages_path);
    assert_eq!(vectors.len(), passages.len(), "one vector per passage");
    let held_out = env_or("BENCH_QUERIES", 200);
    let (real, held) = vectors.split_at(vectors.len() - held_out);
    let queries: Vec<Embedding> = held.iter().cloned().map(Embedding).collect();
    // Only PostgreSQL needs it; `Subject::open` says so when it is missing.
    let server = std::env::var("RAGD_TEST_DATABASE_URL").unwrap_or_default();
    let kinds: Vec<Kind> = env_or("BENCH_STORES", "embedded,postgres".to_owned())
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("BENCH_STORES"))
        .collect();
    let derived_cosine = env_or("BENCH_DERIVED_COSINE", 0.85f32);
    if kinds.contains(&Kind::Postgres) {
        emit(&server_settings(&server).await);
    }
    for size in sizes
        .split(',')
        .map(|s| s.parse::<usize>().expect("a size"))
    {
        let work = Workload::new(real, size, derived_cosine);
        emit(&work.describe(real.len(), derived_cosine, &queries));
        let truth: Vec<Vec<f32>> = work
            .tenants
            .iter()
            .map(|t| work.kth_best(t, &queries))
            .collect();
        for &kind in &kinds {
            measure(kind, &work, &passages, &queries, &truth, &server).await;
        }
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [vectors, passages, sizes] = args.as_slice() else {
        eprintln!("usage: stores VECTORS.f32 PASSAGES.jsonl SIZE[,SIZE…] (see the file's docs)");
        // `cargo test --all-targets` runs benches without arguments: nothing to do then.
        return if args.is_empty() {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::from(2)
        };
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run(vectors, passages, sizes));
    std::process::ExitCode::SUCCESS
}
