//! The PostgreSQL + pgvector store beyond the shared contracts, against a real server: a small
//! tenant beside a large one (query plans, iterative scans), concurrent writes of one source, and
//! failures (an unreachable server, dropped connections, a wrong vector length).
//!
//! They run on the test server of `pg.rs` (never skipped). Each test creates a database of its
//! own and drops it at the end.

use std::time::{Duration, Instant};

use ragd_backends::postgres::{PgOptions, PgStore};
use ragd_core::Error;
use ragd_core::events::{Event, EventLog};
use ragd_core::ports::{DocumentStore, Maintenance};
use ragd_core::testing::contract_documents::{new_document, scope, unique_tenant, vector};
use ragd_core::types::{DocumentId, Embedding};
use sqlx::Connection;

const DIMS: usize = 384;

/// A database of its own on the test server, dropped by [`TestDb::drop`].
struct TestDb {
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    async fn create() -> Self {
        let admin = crate::pg::admin_url().to_owned();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("the test PostgreSQL accepts connections");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        conn.close().await.expect("close");
        let (base, _) = admin.rsplit_once('/').expect("URL with a database");
        let url = format!("{base}/{name}");
        Self { admin, name, url }
    }

    async fn store(&self) -> PgStore {
        PgStore::connect(&self.url, PgOptions::default())
            .await
            .expect("store connects and migrates")
    }

    async fn drop(self, store: PgStore) {
        store.close().await;
        let mut conn = sqlx::PgConnection::connect(&self.admin)
            .await
            .expect("admin connection");
        sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&mut conn)
            .await
            .expect("drop database");
    }
}

/// Deterministic pseudo-random unit vectors (xorshift64*).
struct Vectors(u64);

impl Vectors {
    fn next_unit(&mut self) -> Embedding {
        let mut v: Vec<f32> = (0..DIMS)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
                bits as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        Embedding(v)
    }
}

#[tokio::test]
async fn a_small_tenant_among_a_large_one_gets_all_its_chunks() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let (big, small) = (unique_tenant("big"), unique_tenant("small"));
    let mut random = Vectors(0x9e37_79b9_7f4a_7c15);
    let mut big_vectors = Vec::new();
    let started = Instant::now();
    for n in 0..2 {
        let texts: Vec<String> = (0..2500).map(|i| format!("big {n}-{i}")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors: Vec<Embedding> = (0..refs.len()).map(|_| random.next_unit()).collect();
        let doc = new_document(
            DocumentId::new(),
            &scope(&big, "docs"),
            &format!("big-{n}.md"),
            &refs,
            &vectors,
        );
        store.put_document(doc, &[]).await.expect("put big");
        big_vectors.extend(texts.into_iter().zip(vectors));
    }
    eprintln!("5,000 chunks in 2 documents: {:?}", started.elapsed());
    let small_vectors: Vec<Embedding> = (0..3).map(|_| random.next_unit()).collect();
    store
        .put_document(
            new_document(
                DocumentId::new(),
                &scope(&small, "docs"),
                "small.md",
                &["s0", "s1", "s2"],
                &small_vectors,
            ),
            &[],
        )
        .await
        .expect("put small");
    sqlx::query("ANALYZE chunks")
        .execute(store.pool())
        .await
        .expect("analyze");

    let small_colls = store.collection_ids(&small, None).await.expect("colls");
    let big_colls = store.collection_ids(&big, None).await.expect("colls");
    let query = random.next_unit();
    let hits = store
        .search(&query, &small_colls, 10)
        .await
        .expect("search");
    let mut texts: Vec<&str> = hits.iter().map(|(c, _)| c.chunk.text.as_str()).collect();
    texts.sort_unstable();
    assert_eq!(texts, ["s0", "s1", "s2"]);
    for (chunk, cosine) in &hits {
        let exact = chunk_vector(&small_vectors, &chunk.chunk.text).cosine(&query);
        assert!((exact - cosine).abs() < 1e-5, "{exact} vs {cosine}");
    }

    // Recall of the HNSW search for the large tenant against an exact scan.
    let mut searching = Duration::ZERO;
    let (mut found, queries) = (0u32, 20u32);
    for _ in 0..queries {
        let q = random.next_unit();
        let started = Instant::now();
        let hits = store.search(&q, &big_colls, 10).await.expect("search");
        searching += started.elapsed();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|(c, _)| c.document.scope.tenant == big));
        let mut exact: Vec<(f32, &str)> = big_vectors
            .iter()
            .map(|(t, v)| (v.cosine(&q), t.as_str()))
            .collect();
        exact.sort_by(|a, b| b.0.total_cmp(&a.0));
        let truth: Vec<&str> = exact[..10].iter().map(|&(_, t)| t).collect();
        found += u32::try_from(
            hits.iter()
                .filter(|(c, _)| truth.contains(&c.chunk.text.as_str()))
                .count(),
        )
        .expect("at most 10");
    }
    eprintln!(
        "large tenant: recall@10 {:.3} over {queries} random queries, {:?} per search",
        f64::from(found) / f64::from(queries * 10),
        searching / queries
    );
    eprintln!("plan, small tenant: {}", plan(&store, &small_colls).await);
    eprintln!("plan, large tenant: {}", plan(&store, &big_colls).await);

    // Without the btree on collection_id, and with sequential scans off for new sessions, the
    // planner must go through HNSW for the small tenant too: the iterative scan still finds all
    // three chunks, where a plain HNSW scan (ef_search candidates, then the filter) finds few.
    for sql in [
        "DROP INDEX chunks_collection".to_owned(),
        format!("ALTER DATABASE {} SET enable_seqscan = off", db.name),
    ] {
        sqlx::query(&sql).execute(store.pool()).await.expect(&sql);
    }
    let forced = db.store().await;
    eprintln!(
        "plan, small tenant, HNSW forced: {}",
        plan(&forced, &small_colls).await
    );
    let hits = forced
        .search(&query, &small_colls, 10)
        .await
        .expect("search");
    assert_eq!(
        hits.len(),
        3,
        "the iterative scan finds all of the small tenant's chunks"
    );
    eprintln!(
        "same search with hnsw.iterative_scan = off: {} of 3 chunks",
        search_without_iterative_scan(&forced, &query, &small_colls).await
    );
    forced.close().await;

    let started = Instant::now();
    let report = store.repair().await.expect("repair");
    eprintln!(
        "repair (REINDEX CONCURRENTLY of 5,003 vectors): {:?}",
        started.elapsed()
    );
    assert!(report.ok, "{report:?}");
    assert_eq!(
        (report.chunks, report.vectors, report.documents),
        (5003, 5003, 3)
    );
    db.drop(store).await;
}

fn chunk_vector<'a>(vectors: &'a [Embedding], text: &str) -> &'a Embedding {
    let i: usize = text[1..].parse().expect("s<n>");
    &vectors[i]
}

/// The plan nodes of the store's search (without the vector literal).
async fn plan(store: &PgStore, collections: &[u32]) -> String {
    let ids: Vec<i64> = collections.iter().map(|&c| i64::from(c)).collect();
    let query = vec![0.05f32; DIMS];
    let rows: Vec<String> = sqlx::query_scalar(
        "EXPLAIN (COSTS OFF) SELECT key FROM chunks WHERE collection_id = ANY($2) \
         AND embedding IS NOT NULL ORDER BY embedding <=> $1::real[]::vector LIMIT 10",
    )
    .bind(&query)
    .bind(&ids)
    .fetch_all(store.pool())
    .await
    .expect("explain");
    rows.iter()
        .filter(|l| l.contains("Scan") || (l.contains("Sort") && !l.contains("Sort Key")))
        .map(|l| l.trim().trim_start_matches("-> ").to_owned())
        .collect::<Vec<_>>()
        .join(" / ")
}

async fn search_without_iterative_scan(store: &PgStore, q: &Embedding, colls: &[u32]) -> usize {
    let ids: Vec<i64> = colls.iter().map(|&c| i64::from(c)).collect();
    let mut tx = store.pool().begin().await.expect("begin");
    sqlx::query("SET LOCAL hnsw.iterative_scan = off")
        .execute(&mut *tx)
        .await
        .expect("set");
    let keys: Vec<i64> = sqlx::query_scalar(
        "SELECT key FROM chunks WHERE collection_id = ANY($2) \
         ORDER BY embedding <=> $1::real[]::vector LIMIT 10",
    )
    .bind(&q.0)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await
    .expect("search");
    tx.rollback().await.expect("rollback");
    keys.len()
}

#[tokio::test]
async fn concurrent_first_uploads_of_one_source_leave_one_document() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let tenant = unique_tenant("race");
    let docs = scope(&tenant, "docs");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (store, docs) = (store.clone(), docs.clone());
        tasks.push(tokio::spawn(async move {
            let id = DocumentId::new();
            let doc = new_document(id, &docs, "same.md", &["text"], &[vector(i, 0, 0.1)]);
            let event = Event::DocumentStored {
                document_id: id,
                scope: docs.clone(),
                source: "same.md".into(),
                chunks: 1,
            };
            store.put_document(doc, &[event]).await
        }));
    }
    let mut replaced = 0;
    for task in tasks {
        let stored = task.await.expect("joined").expect("every upload succeeds");
        replaced += usize::from(stored.replaced);
    }
    assert_eq!(replaced, 7, "the first inserts, the others replace");
    assert_eq!(store.count_documents(&tenant).await.expect("count"), 1);
    assert_eq!(store.count_chunks(&tenant).await.expect("count"), 1);
    let events = store.events_after(0, 100).await.expect("events");
    assert_eq!(events.len(), 8);
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(store.check().await.expect("check").ok);
    db.drop(store).await;
}

#[tokio::test]
async fn failures_map_to_what_the_caller_can_do() {
    // Nothing listens on port 1: Unavailable, naming the host and never the password.
    let options = PgOptions {
        acquire_timeout: Duration::from_secs(1),
        ..PgOptions::default()
    };
    let started = Instant::now();
    let err = PgStore::connect("postgres://ragd:s3cret-pw@127.0.0.1:1/ragd", options)
        .await
        .expect_err("nothing listens");
    eprintln!("unreachable server: {err} (after {:?})", started.elapsed());
    let Error::Unavailable(message) = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(!message.contains("s3cret-pw"), "{message}");
    assert!(matches!(
        PgStore::connect("mysql://x", PgOptions::default()).await,
        Err(Error::Invalid(_))
    ));
    let bad = PgOptions {
        ef_search: 0,
        ..PgOptions::default()
    };
    assert!(matches!(
        PgStore::connect("postgres://127.0.0.1/x", bad).await,
        Err(Error::Invalid(_))
    ));

    let db = TestDb::create().await;
    let store = db.store().await;
    let tenant = unique_tenant("fail");
    let docs = scope(&tenant, "docs");
    let short = Embedding(vec![0.1; 3]);
    assert!(matches!(
        store
            .put_document(
                new_document(
                    DocumentId::new(),
                    &docs,
                    "a.md",
                    &["x"],
                    std::slice::from_ref(&short)
                ),
                &[],
            )
            .await,
        Err(Error::Invalid(_))
    ));
    store
        .put_document(
            new_document(
                DocumentId::new(),
                &docs,
                "a.md",
                &["x"],
                &[vector(1, 2, 0.0)],
            ),
            &[],
        )
        .await
        .expect("put");
    let colls = store.collection_ids(&tenant, None).await.expect("colls");
    assert!(matches!(
        store.search(&short, &colls, 3).await,
        Err(Error::Invalid(_))
    ));

    // The server ends every session of the store: the next calls still succeed.
    let mut admin = sqlx::PgConnection::connect(&db.admin).await.expect("admin");
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
    )
    .bind(&db.name)
    .fetch_all(&mut admin)
    .await
    .expect("terminate");
    eprintln!("terminated {} sessions of the store", ended.len());
    assert_eq!(
        store.count_documents(&tenant).await.expect("count after"),
        1
    );
    assert_eq!(
        store
            .search(&vector(1, 2, 0.0), &colls, 3)
            .await
            .expect("search after")
            .len(),
        1
    );
    db.drop(store).await;
}

#[tokio::test]
async fn a_write_cut_by_the_server_is_retried() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let tenant = unique_tenant("cut");
    let docs = scope(&tenant, "docs");
    let id = DocumentId::new();
    let texts: Vec<String> = (0..3000).map(|i| format!("chunk {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors: Vec<Embedding> = (0..refs.len()).map(|i| vector(i, i + 7, 0.3)).collect();
    let doc = new_document(id, &docs, "long.md", &refs, &vectors);
    let event = Event::DocumentStored {
        document_id: id,
        scope: docs.clone(),
        source: "long.md".into(),
        chunks: 3000,
    };
    let writer = store.clone();
    let put = tokio::spawn(async move { writer.put_document(doc, &[event]).await });

    // Once the chunk insert runs, the server ends every session of the database.
    let mut admin = sqlx::PgConnection::connect(&db.admin).await.expect("admin");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ended = 0;
    while ended == 0 && Instant::now() < deadline && !put.is_finished() {
        ended = sqlx::query_scalar::<_, bool>(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND state = 'active' AND query LIKE 'INSERT INTO chunks%'",
        )
        .bind(&db.name)
        .fetch_all(&mut admin)
        .await
        .expect("terminate")
        .len();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ended, 1, "the insert was caught running");
    let stored = put
        .await
        .expect("joined")
        .expect("the write is retried on a new connection");
    assert!(!stored.replaced, "the cut attempt left nothing behind");
    assert_eq!(store.count_chunks(&tenant).await.expect("count"), 3000);
    assert_eq!(store.events_after(0, 10).await.expect("events").len(), 1);
    assert!(store.check().await.expect("check").ok);
    db.drop(store).await;
}
