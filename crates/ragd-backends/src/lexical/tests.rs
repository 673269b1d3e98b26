//! Unit tests of the analysis, and the index contract on an empty store (the end-to-end tests
//! with stored documents are in `tests/engine/lexical.rs`).

use ragd_core::ports::{IndexChanges, LexicalIndex, TextEntry};
use tantivy::tokenizer::TokenStream;

use super::analysis::{self, FieldKind, WordTokenizer};
use super::*;

fn words(text: &str) -> Vec<String> {
    let mut tokenizer = WordTokenizer::new(false);
    let mut stream = tantivy::tokenizer::Tokenizer::token_stream(&mut tokenizer, text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

fn index_terms(kind: FieldKind, text: &str) -> Vec<String> {
    let mut analyzer = analysis::index_analyzer(kind);
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

fn question_terms(kind: FieldKind, text: &str) -> Vec<String> {
    let analyzer = analysis::query_analyzer(kind, &[Language::English, Language::Portuguese]);
    analysis::query_terms(&analyzer, text)
}

#[test]
fn identifiers_and_flags_stay_whole_beside_their_parts() {
    assert_eq!(
        words("Set work_mem, then run `ragd --force -v` on x86-64 (see pg_stat_activity)."),
        [
            "set",
            "work_mem",
            "work",
            "mem",
            "then",
            "run",
            "ragd",
            "--force",
            "force",
            "-v",
            "v",
            "on",
            "x86-64",
            "x86",
            "64",
            "see",
            "pg_stat_activity",
            "pg",
            "stat",
            "activity"
        ]
    );
    assert_eq!(
        words("a-b --- -- ---x __ _x_ 3.14. end."),
        ["a-b", "a", "b", "x", "_x_", "x", "3.14", "3", "14", "end"]
    );
    assert_eq!(words("Ação É Über"), ["ação", "é", "über"]);
    assert!(words("\"(((*:-\"").is_empty());
}

#[test]
fn portuguese_words_match_with_or_without_accents_and_in_the_plural() {
    let pt = FieldKind::Stemmed(Language::Portuguese);
    let stem = |w: &str| index_terms(pt, w);
    for variant in [
        "configuração",
        "configuracao",
        "configuracoes",
        "Configurações",
    ] {
        assert_eq!(stem(variant), stem("configurações"), "{variant}");
    }
    assert_eq!(stem("conexões"), stem("conexao"));
    assert_eq!(stem("disponível"), stem("disponivel"));
    assert_eq!(stem("índices"), stem("indice"));
    assert!(stem("configurações")[0].is_ascii(), "folded after stemming");
}

#[test]
fn english_words_match_their_inflections() {
    let en = FieldKind::Stemmed(Language::English);
    assert_eq!(index_terms(en, "indexes"), index_terms(en, "indexing"));
    assert_eq!(index_terms(en, "Running"), index_terms(en, "runs"));
    assert_eq!(
        index_terms(FieldKind::Exact, "Café NAÏVE"),
        ["cafe", "naive"]
    );
}

#[test]
fn questions_drop_stop_words_and_are_bounded() {
    assert!(question_terms(FieldKind::Exact, "o que é?").is_empty());
    assert_eq!(
        question_terms(FieldKind::Exact, "How do I turn on the WAL?"),
        ["turn", "wal"]
    );
    assert_eq!(
        question_terms(FieldKind::Exact, "como configurar o work_mem"),
        ["configurar", "work_mem", "work", "mem"]
    );
    let long: String = (0..10_000).map(|i| format!("word{i} ")).collect();
    assert_eq!(
        question_terms(FieldKind::Exact, &long).len(),
        analysis::MAX_QUERY_TERMS
    );
    let wide = "é".repeat(analysis::MAX_QUERY_BYTES);
    assert!(question_terms(FieldKind::Exact, &wide).len() <= 1);
}

fn text(key: u64, collection: u32, text: &str) -> TextEntry {
    TextEntry {
        key,
        collection,
        text: text.to_owned(),
    }
}

fn adds(texts: Vec<TextEntry>) -> IndexChanges {
    IndexChanges {
        texts,
        ..Default::default()
    }
}

async fn keys_of(index: &TantivyIndex, query: &str, collections: &[u32]) -> Vec<u64> {
    index
        .search(query, collections, 10)
        .await
        .expect("search")
        .iter()
        .map(|&(k, _)| k)
        .collect()
}

/// The same contract as the vector index's (`ragd_core::testing::contract_index`), for words.
#[tokio::test]
async fn changes_apply_idempotently_and_the_filter_is_inside_the_search() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("ragd.db"))
        .await
        .expect("store");
    let index = TantivyIndex::open(LexicalConfig::new(dir.path().join("lexical")), &store)
        .await
        .expect("index");
    assert_eq!(index.len().await.expect("len"), 0);
    let changes = adds(vec![
        text(1, 1, "The borrow checker rejects dangling references."),
        text(2, 1, "Write-ahead logging keeps readers and writers apart."),
        text(
            3,
            2,
            "The borrow checker, the borrow checker, the borrow checker.",
        ),
        text(4, 2, "Lighthouses guide ships."),
    ]);
    index.apply(&changes).await.expect("apply");
    index
        .apply(&changes)
        .await
        .expect("applying again is harmless");
    assert_eq!(index.len().await.expect("len"), 4);
    assert_eq!(
        index.keys().await.expect("keys"),
        [(1, 1), (2, 1), (3, 2), (4, 2)]
    );
    assert_eq!(keys_of(&index, "borrow checker", &[1]).await, [1]);
    assert_eq!(keys_of(&index, "borrow checker", &[1, 2]).await, [3, 1]);
    assert!(keys_of(&index, "borrow", &[9]).await.is_empty());
    let hits = index.search("borrow", &[1], 10).await.expect("search");
    assert!(hits[0].1 > 0.0, "a BM25 score: {hits:?}");

    index
        .apply(&IndexChanges {
            removed: vec![1, 99],
            ..Default::default()
        })
        .await
        .expect("remove (an unknown key is no error)");
    assert!(keys_of(&index, "borrow checker", &[1]).await.is_empty());
    // A key re-filed under another collection leaves the first one.
    index
        .apply(&IndexChanges {
            removed: vec![2],
            texts: vec![text(2, 3, "Write-ahead logging.")],
            ..Default::default()
        })
        .await
        .expect("re-file");
    assert!(keys_of(&index, "logging", &[1]).await.is_empty());
    assert_eq!(keys_of(&index, "logging", &[3]).await, [2]);

    index
        .replace_all(vec![text(7, 1, "Sourdough bread rises slowly.")])
        .await
        .expect("replace");
    assert_eq!(index.keys().await.expect("keys"), [(7, 1)]);
    assert_eq!(keys_of(&index, "breads", &[1]).await, [7]);
    index.flush().await.expect("flush");
}

#[tokio::test]
async fn hostile_questions_never_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("ragd.db"))
        .await
        .expect("store");
    let index = TantivyIndex::open(LexicalConfig::new(dir.path().join("lexical")), &store)
        .await
        .expect("index");
    index
        .apply(&adds(vec![text(1, 1, "title: \"quoted\" (nested) a*b -x")]))
        .await
        .expect("apply");
    let huge: String = (0..10_000).map(|i| format!("w{i} ")).collect();
    for question in [
        "\"",
        ":",
        "*",
        "(((",
        ")))",
        "title:",
        "-",
        "--",
        "AND OR NOT",
        "a*b",
        "\u{0}",
        "title:\"quoted",
        "[1 TO 2]",
        "~2^3",
        "",
        "   ",
        &huge,
    ] {
        let hits = index.search(question, &[1], 10).await;
        assert!(hits.is_ok(), "{question:?}: {hits:?}");
    }
    assert_eq!(keys_of(&index, "title:\"quoted", &[1]).await, [1]);
    assert!(
        index
            .search("the", &[1], 0)
            .await
            .expect("k = 0")
            .is_empty()
    );
}

#[tokio::test]
async fn settings_out_of_bounds_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("ragd.db"))
        .await
        .expect("store");
    let mut config = LexicalConfig::new(dir.path().join("lexical"));
    config.writer_memory_bytes = 1 << 20;
    assert!(matches!(
        TantivyIndex::open(config, &store).await,
        Err(Error::Invalid(_))
    ));
    let mut config = LexicalConfig::new(dir.path().join("lexical"));
    config.languages.clear();
    assert!(matches!(
        TantivyIndex::open(config, &store).await,
        Err(Error::Invalid(_))
    ));
}

#[tokio::test]
async fn a_second_process_cannot_take_the_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("ragd.db"))
        .await
        .expect("store");
    let config = LexicalConfig::new(dir.path().join("lexical"));
    let _first = TantivyIndex::open(config.clone(), &store)
        .await
        .expect("index");
    // File locks are per open file description: a second open in this process conflicts too.
    assert!(matches!(
        TantivyIndex::open(config, &store).await,
        Err(Error::Unavailable(_))
    ));
}
