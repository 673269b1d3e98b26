//! `ragd eval`: a question set over a corpus ingested into a temporary data dir, several
//! configurations in one table, with the metrics each one earned.

use serde_json::Value;

use crate::helpers::{json, ragd, run};

#[test]
fn eval_compares_configurations_on_a_corpus_and_a_question_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).expect("mkdir");
    for (name, text) in [
        (
            "stats.md",
            "# Statistics\n\nThe view pg_stat_activity shows one row per server process with \
             its current query and state.",
        ),
        (
            "vacuum.md",
            "# Vacuum\n\nVACUUM reclaims storage occupied by dead tuples, which updates and \
             deletes leave behind.",
        ),
        (
            "backup.md",
            "# Backups\n\nA base backup copies the data directory while the server keeps \
             running; the write-ahead log makes it consistent.",
        ),
    ] {
        std::fs::write(corpus.join(name), text).expect("write");
    }
    let set = dir.path().join("questions.jsonl");
    std::fs::write(
        &set,
        concat!(
            r#"{"id":"q1","question":"Which view lists every server process?","document":"stats.md","passage":"one row per server process","lang":"en","split":"tune"}"#,
            "\n",
            r#"{"id":"q2","question":"pg_stat_activity","document":"stats.md","lang":"en","split":"heldout"}"#,
            "\n",
            r#"{"id":"q3","question":"How is space of deleted rows given back?","document":"vacuum.md","lang":"en","split":"tune"}"#,
            "\n",
            r#"{"id":"q4","question":"Como copiar os dados com o servidor ligado?","document":"backup.md","lang":"pt","split":"heldout"}"#,
            "\n",
        ),
    )
    .expect("write");
    // The configured data dir (also the working directory): --corpus must leave it untouched.
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let out = run(ragd(&data).args([
        "eval",
        set.to_str().expect("utf8"),
        "--corpus",
        corpus.to_str().expect("utf8"),
        "--compare",
        "dense,lexical,hybrid:weighted",
        "--json",
    ]));
    assert!(out.status.success(), "ragd eval failed");
    let rows = json(&out);
    let rows = rows.as_array().expect("rows");
    let row = |config: &str, split: &str, lang: &str| -> &Value {
        rows.iter()
            .find(|r| r["config"] == config && r["split"] == split && r["lang"] == lang)
            .unwrap_or_else(|| panic!("no row {config} {split} {lang}: {rows:?}"))
    };
    for config in ["dense", "lexical", "hybrid:weighted"] {
        let all = row(config, "all", "all");
        assert_eq!(all["questions"], 4);
        assert_eq!(all["chunks"], "200/32");
        for metric in ["hit_at_1", "mrr_at_10", "ndcg_at_10", "recall_at_10"] {
            let v = all[metric].as_f64().expect("metric");
            assert!((0.0..=1.0).contains(&v), "{metric} {v}");
        }
        assert!(all["p50_ms"].as_f64().expect("latency") > 0.0);
        assert_eq!(row(config, "tune", "all")["questions"], 2);
        assert_eq!(row(config, "all", "pt")["questions"], 1);
    }
    // The rare identifier is the lexical ranking's first hit; dense finds the English
    // paraphrases of a three-document corpus at once.
    assert_eq!(row("lexical", "heldout", "en")["hit_at_1"], 1.0);
    assert_eq!(row("dense", "tune", "en")["hit_at_1"], 1.0);
    assert_eq!(
        std::fs::read_dir(&data).expect("data dir").count(),
        0,
        "--corpus evaluates in a temporary data dir, never the configured one"
    );

    // A set that names no document is refused with its line.
    std::fs::write(&set, "{\"question\":\"no document here\"}\n").expect("write");
    let out = run(ragd(&data).args(["eval", set.to_str().expect("utf8")]));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(":1"),
        "the error names the line"
    );
}
