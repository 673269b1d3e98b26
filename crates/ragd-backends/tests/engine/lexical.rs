//! The lexical (BM25) index on a real SQLite store: language-aware matching, the collection
//! filter inside the search, deletes, persistence, reconciliation with the store on open,
//! rebuilds of a damaged index, and questions that are not query syntax.

use std::path::Path;

use ragd_backends::lexical::{Language, LexicalConfig, TantivyIndex};
use ragd_backends::sqlite::SqliteStore;
use ragd_core::ports::LexicalIndex;
use ragd_core::testing::contract_documents::{new_document, scope, unique_tenant, vector};
use ragd_core::types::{CollectionId, DocumentId, Scope};

struct Fixture {
    dir: tempfile::TempDir,
    store: SqliteStore,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("ragd.db"))
            .await
            .expect("store");
        Self { dir, store }
    }

    fn config(&self) -> LexicalConfig {
        LexicalConfig::new(self.index_dir())
    }

    fn index_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("lexical")
    }

    async fn open(&self) -> TantivyIndex {
        TantivyIndex::open(self.config(), &self.store)
            .await
            .expect("index opens")
    }

    /// Stores a document of `texts` and, with an index, applies the committed change to it.
    async fn put(
        &self,
        index: Option<&TantivyIndex>,
        scope: &Scope,
        source: &str,
        texts: &[&str],
    ) -> DocumentId {
        let vectors: Vec<_> = (0..texts.len()).map(|i| vector(i, i + 1, 0.1)).collect();
        let doc = new_document(DocumentId::new(), scope, source, texts, &vectors);
        let (stored, changes) = self.store.put_document(doc, &[]).await.expect("put");
        assert_eq!(changes.texts.len(), texts.len());
        if let Some(index) = index {
            index.apply(&changes).await.expect("apply");
        }
        stored.document.id
    }

    async fn collection(&self, scope: &Scope) -> CollectionId {
        self.store.collection_id(scope).await.expect("collection")
    }

    /// The texts of the best matches for `query` in `collections`, best first.
    async fn texts(
        &self,
        index: &TantivyIndex,
        query: &str,
        collections: &[CollectionId],
        k: usize,
    ) -> Vec<String> {
        let hits = index.search(query, collections, k).await.expect("search");
        let keys: Vec<u64> = hits.iter().map(|&(key, _)| key).collect();
        let chunks = self
            .store
            .chunks_by_keys(collections, &keys)
            .await
            .expect("chunks");
        assert_eq!(
            chunks.len(),
            keys.len(),
            "every hit is a chunk of the store"
        );
        chunks.into_iter().map(|c| c.chunk.text).collect()
    }
}

const PT: &str = "As configurações do servidor ficam no arquivo principal.";
const EN: &str = "The planner indexes every table it reads.";
const PG: &str = "Query pg_stat_activity to see sessions; raise work_mem for big sorts.";
const CLI: &str = "Run ragd ingest --force to re-read unchanged files.";
const NOISE: &[&str] = &[
    "Configure the server before starting it.",
    "Sessions expire after an hour.",
    "Force is mass times acceleration.",
    "Statistics about activity are kept per table.",
];

async fn seeded(f: &Fixture, index: Option<&TantivyIndex>) -> Scope {
    let s = scope(&unique_tenant("lex"), "docs");
    f.put(index, &s, "pt.md", &[PT]).await;
    f.put(index, &s, "en.md", &[EN]).await;
    f.put(index, &s, "ops.md", &[PG, CLI]).await;
    f.put(index, &s, "noise.md", NOISE).await;
    s
}

#[tokio::test]
async fn words_are_found_by_stem_without_accents_and_identifiers_exactly() {
    let f = Fixture::new().await;
    let index = f.open().await;
    let s = seeded(&f, Some(&index)).await;
    let c = [f.collection(&s).await];
    // Portuguese stemming also joins "Configure" (a noise chunk, shorter, so first by BM25).
    for query in [
        "configuracao",
        "configuração",
        "Configurações?",
        "CONFIGURACOES",
    ] {
        let found = f.texts(&index, query, &c, 2).await;
        assert!(found.iter().any(|t| t == PT), "{query}: {found:?}");
    }
    assert_eq!(
        f.texts(&index, "configuracoes do servidor", &c, 1).await,
        [PT]
    );
    assert_eq!(f.texts(&index, "indexing", &c, 1).await, [EN]);
    assert_eq!(f.texts(&index, "index", &c, 1).await, [EN]);
    assert_eq!(f.texts(&index, "pg_stat_activity", &c, 1).await, [PG]);
    assert_eq!(f.texts(&index, "what is work_mem?", &c, 1).await, [PG]);
    assert_eq!(f.texts(&index, "--force", &c, 1).await, [CLI]);
    assert!(
        f.texts(&index, "o que é?", &c, 5).await.is_empty(),
        "only stop words: nothing, not everything"
    );
    assert!(f.texts(&index, "photosynthesis", &c, 5).await.is_empty());
}

#[tokio::test]
async fn other_collections_are_never_returned_even_when_they_match_better() {
    let f = Fixture::new().await;
    let index = f.open().await;
    let tenant = unique_tenant("lex");
    let (mine, theirs) = (scope(&tenant, "mine"), scope(&tenant, "theirs"));
    f.put(
        Some(&index),
        &mine,
        "a.md",
        &["A note that mentions checkpoints once."],
    )
    .await;
    let strong: Vec<String> = (0..50)
        .map(|i| format!("Checkpoints, checkpoints, checkpoints: WAL checkpoints {i}."))
        .collect();
    let strong: Vec<&str> = strong.iter().map(String::as_str).collect();
    f.put(Some(&index), &theirs, "b.md", &strong).await;
    let only_mine = [f.collection(&mine).await];
    assert_eq!(
        f.texts(&index, "checkpoints", &only_mine, 1).await,
        ["A note that mentions checkpoints once."]
    );
    let both = [only_mine[0], f.collection(&theirs).await];
    assert_eq!(f.texts(&index, "checkpoints", &both, 60).await.len(), 51);
}

#[tokio::test]
async fn deleted_and_replaced_documents_leave_the_index() {
    let f = Fixture::new().await;
    let index = f.open().await;
    let s = seeded(&f, Some(&index)).await;
    let c = [f.collection(&s).await];
    let id = f
        .put(
            Some(&index),
            &s,
            "tmp.md",
            &["Vacuum reclaims dead tuples."],
        )
        .await;
    assert_eq!(f.texts(&index, "vacuum", &c, 5).await.len(), 1);
    let (_, changes) = f
        .store
        .delete_document(&s.tenant, id, &[])
        .await
        .expect("delete");
    index.apply(&changes).await.expect("apply delete");
    assert!(f.texts(&index, "vacuum", &c, 5).await.is_empty());
    // A new version of a source replaces its chunks.
    f.put(
        Some(&index),
        &s,
        "pt.md",
        &["Nova versão sem a palavra antiga."],
    )
    .await;
    let found = f.texts(&index, "configuracao", &c, 5).await;
    assert!(!found.iter().any(|t| t == PT), "{found:?}");
    assert_eq!(
        index.keys().await.expect("keys"),
        f.store.chunk_keys().await.expect("store keys")
    );
}

#[tokio::test]
async fn the_index_persists_across_reopening() {
    let f = Fixture::new().await;
    let s;
    let before = {
        let index = f.open().await;
        s = seeded(&f, Some(&index)).await;
        index.keys().await.expect("keys")
    };
    let index = f.open().await;
    assert_eq!(index.keys().await.expect("keys"), before);
    let c = [f.collection(&s).await];
    assert_eq!(f.texts(&index, "pg_stat_activity", &c, 1).await, [PG]);
}

#[tokio::test]
async fn opening_reconciles_with_changes_the_index_missed() {
    let f = Fixture::new().await;
    let s = {
        let index = f.open().await;
        seeded(&f, Some(&index)).await
    };
    // While the index was closed (a crash between the store's commit and the index's):
    f.put(None, &s, "late.md", &["Autovacuum runs in the background."])
        .await;
    let gone = f.put(None, &s, "gone.md", &["Sequence caches."]).await;
    f.store
        .delete_document(&s.tenant, gone, &[])
        .await
        .expect("delete");
    let (docs, _) = f
        .store
        .list_documents(
            &s.tenant,
            &ragd_core::ports::DocumentFilter {
                collection: None,
                limit: 100,
                offset: 0,
            },
        )
        .await
        .expect("list");
    let en = docs
        .iter()
        .find(|d| d.source.source == "en.md")
        .expect("en");
    f.store
        .delete_document(&s.tenant, en.id, &[])
        .await
        .expect("delete behind the index's back");

    let index = f.open().await;
    let c = [f.collection(&s).await];
    assert_eq!(
        index.keys().await.expect("keys"),
        f.store.chunk_keys().await.expect("store keys")
    );
    assert_eq!(f.texts(&index, "autovacuum", &c, 5).await.len(), 1);
    assert!(f.texts(&index, "indexing", &c, 5).await.is_empty());
    drop(index);

    // The whole directory lost: rebuilt from the store.
    std::fs::remove_dir_all(f.index_dir()).expect("rm");
    let index = f.open().await;
    assert_eq!(
        index.keys().await.expect("keys"),
        f.store.chunk_keys().await.expect("store keys")
    );
    assert_eq!(
        f.texts(&index, "configuração do servidor", &c, 1).await,
        [PT]
    );
}

#[tokio::test]
async fn an_open_index_can_be_reconciled_in_place() {
    let f = Fixture::new().await;
    let index = f.open().await;
    let s = seeded(&f, Some(&index)).await;
    f.put(None, &s, "late.md", &["Autovacuum runs in the background."])
        .await;
    let c = [f.collection(&s).await];
    assert!(f.texts(&index, "autovacuum", &c, 5).await.is_empty());
    index.reconcile(&f.store).await.expect("reconcile");
    assert_eq!(f.texts(&index, "autovacuum", &c, 5).await.len(), 1);
    assert_eq!(
        index.keys().await.expect("keys"),
        f.store.chunk_keys().await.expect("store keys")
    );
}

fn files(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

#[tokio::test]
async fn a_damaged_index_is_rebuilt_from_the_store() {
    let f = Fixture::new().await;
    let s = {
        let index = f.open().await;
        seeded(&f, Some(&index)).await
    };
    let c = [f.collection(&s).await];
    let tantivy = f.index_dir().join("tantivy");
    let want = f.store.chunk_keys().await.expect("store keys");

    // A segment's postings truncated.
    let postings = files(&tantivy, "idx");
    assert!(!postings.is_empty());
    for p in &postings {
        let bytes = std::fs::read(p).expect("read");
        std::fs::write(p, &bytes[..bytes.len() / 2]).expect("truncate");
    }
    {
        let index = f.open().await;
        assert_eq!(index.keys().await.expect("keys"), want);
        assert_eq!(f.texts(&index, "--force", &c, 1).await, [CLI]);
    }

    // A segment file gone.
    for p in files(&tantivy, "fast") {
        std::fs::remove_file(p).expect("rm");
    }
    {
        let index = f.open().await;
        assert_eq!(index.keys().await.expect("keys"), want);
    }

    // meta.json garbage.
    std::fs::write(tantivy.join("meta.json"), b"{not json").expect("write");
    let index = f.open().await;
    assert_eq!(index.keys().await.expect("keys"), want);
    assert_eq!(f.texts(&index, "configuracao servidor", &c, 1).await, [PT]);
}

#[tokio::test]
async fn changing_the_languages_rebuilds_the_index() {
    let f = Fixture::new().await;
    let s = {
        let mut config = f.config();
        config.languages = vec![Language::English];
        let index = TantivyIndex::open(config, &f.store).await.expect("index");
        let s = seeded(&f, Some(&index)).await;
        let c = [f.collection(&s).await];
        // No Portuguese stemmer: the plural is another word.
        assert!(f.texts(&index, "configuracao", &c, 1).await.is_empty());
        s
    };
    let index = f.open().await;
    let c = [f.collection(&s).await];
    assert_eq!(f.texts(&index, "configuracao servidor", &c, 1).await, [PT]);
}

#[tokio::test]
async fn questions_are_words_not_query_syntax() {
    let f = Fixture::new().await;
    let index = f.open().await;
    let s = seeded(&f, Some(&index)).await;
    let c = [f.collection(&s).await];
    let huge: String = (0..10_000).map(|i| format!("word{i} ")).collect();
    for query in [
        "\"",
        ":",
        "*",
        "(((",
        "work_mem:",
        "\"pg_stat_activity",
        "-",
        "+",
        "AND",
        "a OR",
        "NOT",
        "title:x",
        "[* TO *]",
        "{",
        "~",
        "^2",
        "\\",
        "'",
        "ção)",
        &huge,
    ] {
        let hits = index.search(query, &c, 5).await;
        assert!(hits.is_ok(), "{query:?}: {hits:?}");
    }
    assert_eq!(f.texts(&index, "(((work_mem:*", &c, 1).await, [PG]);
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").metadata().expect("meta").len())
        .sum()
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentiles(mut times: Vec<f64>) -> String {
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    format!(
        "p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms",
        at(0.5),
        at(0.95),
        at(0.99)
    )
}

/// Costs for the report: `RAGD_LEXICAL_PASSAGES=bench/out/api/passages-10000.jsonl cargo test
/// -p ragd-backends --test engine measure_lexical -- --ignored --nocapture` (the passages of
/// `bench/make_passages.py`; without them, generated text).
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn measure_lexical_costs() {
    use std::time::Instant;
    let passages: Vec<String> = match std::env::var("RAGD_LEXICAL_PASSAGES") {
        Ok(path) => std::fs::read_to_string(crate::helpers::root().join(path))
            .expect("passages")
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["text"]
                    .as_str()
                    .expect("text")
                    .to_owned()
            })
            .collect(),
        Err(_) => (0..10_000)
            .map(|i| {
                (0..120)
                    .map(|w| format!("w{}", (i * 7919 + w * 104_729) % 20_000))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect(),
    };
    let f = Fixture::new().await;
    let tenant = unique_tenant("lex");
    let scopes = [scope(&tenant, "a"), scope(&tenant, "b")];
    let per_doc = 20;
    let docs = passages.len() / per_doc;
    let preload = docs - 50;
    for d in 0..preload {
        let texts: Vec<&str> = passages[d * per_doc..(d + 1) * per_doc]
            .iter()
            .map(String::as_str)
            .collect();
        f.put(None, &scopes[d % 2], &format!("d{d}.md"), &texts)
            .await;
    }
    let text_bytes: usize = passages.iter().map(String::len).sum();

    let t = Instant::now();
    let index = f.open().await;
    println!(
        "rebuild of {} chunks from the store: {:.0} ms",
        preload * per_doc,
        ms(t.elapsed())
    );
    let (mut apply, mut store) = (Vec::new(), Vec::new());
    for d in preload..docs {
        let texts: Vec<&str> = passages[d * per_doc..(d + 1) * per_doc]
            .iter()
            .map(String::as_str)
            .collect();
        let vectors: Vec<_> = (0..per_doc).map(|i| vector(i, i + 1, 0.1)).collect();
        let doc = new_document(
            DocumentId::new(),
            &scopes[d % 2],
            &format!("d{d}.md"),
            &texts,
            &vectors,
        );
        let t = Instant::now();
        let (_, changes) = f.store.put_document(doc, &[]).await.expect("put");
        store.push(ms(t.elapsed()));
        let t = Instant::now();
        index.apply(&changes).await.expect("apply");
        apply.push(ms(t.elapsed()));
    }
    println!("SQLite put_document, 20 chunks: {}", percentiles(store));
    println!("lexical apply, 20 chunks: {}", percentiles(apply));
    assert_eq!(index.len().await.expect("len"), (docs * per_doc) as u64);

    let both = [
        f.collection(&scopes[0]).await,
        f.collection(&scopes[1]).await,
    ];
    let questions: Vec<String> = passages
        .iter()
        .step_by(passages.len() / 200)
        .map(|p| {
            p.split_whitespace()
                .skip(5)
                .take(8)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    for (label, collections) in [("both collections", &both[..]), ("one of two", &both[..1])] {
        let mut times = Vec::new();
        for _ in 0..2 {
            times.clear();
            for q in &questions {
                let t = Instant::now();
                let hits = index.search(q, collections, 10).await.expect("search");
                times.push(ms(t.elapsed()));
                assert!(!hits.is_empty());
            }
        }
        println!(
            "search top-10 over {} chunks, {label}: {}",
            docs * per_doc,
            percentiles(times)
        );
    }
    drop(index);
    let t = Instant::now();
    let index = f.open().await;
    println!("reopen (nothing to reconcile): {:.0} ms", ms(t.elapsed()));
    drop(index);
    let on_disk = dir_bytes(&f.index_dir().join("tantivy"));
    println!(
        "text {:.1} MB, index on disk {:.1} MB ({:.2}x)",
        text_bytes as f64 / 1e6,
        on_disk as f64 / 1e6,
        on_disk as f64 / text_bytes as f64
    );
}
