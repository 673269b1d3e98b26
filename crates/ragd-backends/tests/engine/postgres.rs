//! The port contract suites on PostgreSQL + pgvector (a real server: see `pg.rs`), and the
//! engine end to end on it: the real model, ingestion and retrieval through `Node`.

use ragd_backends::postgres::{PgOptions, PgStore};
use ragd_core::testing::{contract_accounts, contract_conversations, contract_documents};

use crate::helpers::{config, embedder, scope};
use crate::pg::fresh_database;

async fn store() -> PgStore {
    PgStore::connect(&fresh_database().await, PgOptions::default())
        .await
        .expect("PostgreSQL store connects and migrates")
}

#[tokio::test]
async fn postgres_keeps_the_document_contract() {
    let store = store().await;
    contract_documents::documents(&store, &store, &store).await;
}

#[tokio::test]
async fn postgres_keeps_the_account_and_job_contracts() {
    let store = store().await;
    contract_accounts::accounts(&store, &store, &store).await;
    contract_accounts::jobs(&store).await;
}

#[tokio::test]
async fn postgres_keeps_the_conversation_contract() {
    let store = store().await;
    contract_conversations::conversations(&store).await;
}

#[tokio::test]
async fn two_stores_on_one_database_migrate_once_and_see_each_others_writes() {
    let url = fresh_database().await;
    let (a, b) = tokio::join!(
        PgStore::connect(&url, PgOptions::default()),
        PgStore::connect(&url, PgOptions::default())
    );
    let (a, b) = (a.expect("first instance"), b.expect("second instance"));
    contract_accounts::jobs(&a).await;
    contract_documents::documents(&b, &a, &a).await;
}

#[tokio::test]
async fn the_engine_answers_from_postgres() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    config.postgres = Some(ragd_backends::PostgresConfig {
        url: ragd_backends::DatabaseUrl::new(fresh_database().await),
        options: PgOptions::default(),
    });
    let node = ragd_backends::Node::open(&config, embedder())
        .await
        .expect("node on postgres");
    crate::helpers::answers_from_the_corpus(&node).await;
}

/// Jobs across instances: one claim per job while its lease lives (also when two instances
/// claim at once), a dead holder's job taken over once the lease expires, the old holder's
/// renewal refused, and staged files reachable from every instance until dropped.
#[tokio::test]
async fn jobs_are_claimed_once_and_taken_over_when_a_lease_expires() {
    use std::time::Duration;

    use ragd_core::jobs::{JobStatus, JobStore};

    let url = fresh_database().await;
    let a = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    let b = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    let s = scope("default", "documents");
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one.txt"), dir.path().join("two.txt"));
    std::fs::write(&one, b"first file").unwrap();
    std::fs::write(&two, vec![7u8; 300_000]).unwrap();
    let job = a.create_job("job-1", &s, 2).await.unwrap();
    assert!(a.stages_uploads());
    a.stage(&job.id, r#"{"files":[]}"#, &[&one, &two])
        .await
        .unwrap();
    a.create_job("job-2", &s, 1).await.unwrap();

    let lease = Duration::from_millis(1500);
    let (x, y) = tokio::join!(a.claim_job("a", lease), b.claim_job("b", lease));
    let by_a = x.unwrap().unwrap();
    let mut claimed = vec![by_a.clone(), y.unwrap().unwrap()];
    claimed.sort();
    assert_eq!(
        claimed,
        ["job-1", "job-2"],
        "two claimers, two different jobs"
    );
    assert_eq!(
        a.claim_job("a", lease).await.unwrap(),
        None,
        "no free job left"
    );

    // Staged files come back byte for byte on the other instance.
    assert_eq!(b.staged_file("job-1", 0).await.unwrap(), b"first file");
    assert_eq!(b.staged_file("job-1", 1).await.unwrap().len(), 300_000);
    assert_eq!(
        b.staged_manifest("job-1").await.unwrap().as_deref(),
        Some(r#"{"files":[]}"#)
    );

    // The holder of job-1 renews it; the one of job-2 "dies" (stops renewing).
    let holder_of = |id: &str| if id == by_a { "a" } else { "b" };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        a.renew_lease("job-1", holder_of("job-1"), lease)
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let taken = b.claim_job("c", lease).await.unwrap();
    assert_eq!(
        taken.as_deref(),
        Some("job-2"),
        "the expired lease is taken over"
    );
    assert!(
        !a.renew_lease("job-2", holder_of("job-2"), lease)
            .await
            .unwrap(),
        "the old holder learns it lost the job"
    );
    assert!(
        !a.update_claimed("job-2", holder_of("job-2"), JobStatus::Running, &[], &[])
            .await
            .unwrap(),
        "and cannot record progress any more"
    );
    assert!(
        b.update_claimed("job-2", "c", JobStatus::Running, &[], &[])
            .await
            .unwrap(),
        "the new holder can"
    );

    // Released jobs are free at once; finished ones are never claimed.
    a.release_job("job-2", "c").await.unwrap();
    assert_eq!(
        a.claim_job("d", lease).await.unwrap().as_deref(),
        Some("job-2")
    );
    a.update_job("job-2", JobStatus::Succeeded, &[])
        .await
        .unwrap();
    assert!(!a.renew_lease("job-2", "d", lease).await.unwrap());
    a.drop_staged("job-1").await.unwrap();
    assert!(b.staged_file("job-1", 0).await.is_err());
}
