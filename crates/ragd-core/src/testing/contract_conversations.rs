//! The contract of the conversation port: every store (SQLite, PostgreSQL) must pass it. Each
//! run uses tenants of its own, so a shared database is fine.

use crate::Error;
use crate::conversations::{ConversationStore, NewTurn, TITLE_MAX_CHARS, Turn, title_of};
use crate::testing::contract_documents::unique_tenant;
use crate::types::TenantId;

/// Turns kept by the appends that are not about trimming.
const KEEP: usize = 50;

fn turn(question: &str) -> NewTurn {
    NewTurn {
        question: question.to_owned(),
        standalone_question: None,
        answer: format!("answer to {question}"),
        model: "test-model".to_owned(),
    }
}

fn questions(turns: &[Turn]) -> Vec<&str> {
    turns.iter().map(|t| t.question.as_str()).collect()
}

/// Conversation memory: appending, history, trimming, listing, deleting, and isolation between
/// tenants and owners.
pub async fn conversations(store: &dyn ConversationStore) {
    let (a, b) = (unique_tenant("conv-a"), unique_tenant("conv-b"));
    history(store, &a).await;
    trimming(store, &a).await;
    isolation(store, &a, &b).await;
    listing(store, &unique_tenant("conv-list")).await;
    deletion(store, &a).await;
    invalid_input(store, &a).await;
    concurrent_first_turns(store, &b).await;
}

/// Turns come back oldest first, with every field as stored; the title is the first question.
async fn history(store: &dyn ConversationStore, tenant: &TenantId) {
    let first = "¿Qué pasó después? 日本語のテキスト 🦀 ".repeat(5);
    let created = store
        .append_turn(tenant, "ana", "chat-1", turn(&first), KEEP)
        .await
        .expect("first turn");
    assert_eq!(
        (created.id.as_str(), &created.tenant, created.owner.as_str()),
        ("chat-1", tenant, "ana")
    );
    assert_eq!(created.turns, 1);
    assert_eq!(created.title, title_of(&first));
    assert_eq!(created.title.chars().count(), TITLE_MAX_CHARS);
    assert!(first.starts_with(&created.title));
    assert!(created.updated_at >= created.created_at);

    let follow_up = NewTurn {
        question: "and then?".to_owned(),
        standalone_question: Some("What happened after the 🦀 left?".to_owned()),
        answer: "Ensuite, 🦀 est rentré chez lui — «fin».".to_owned(),
        model: "other-model".to_owned(),
    };
    let updated = store
        .append_turn(tenant, "ana", "chat-1", follow_up.clone(), KEEP)
        .await
        .expect("second turn");
    assert_eq!(updated.turns, 2);
    assert_eq!(
        updated.title, created.title,
        "the title stays the first question"
    );
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at >= created.updated_at);

    let (conversation, turns) = store.get(tenant, "ana", "chat-1").await.expect("get");
    assert_eq!(conversation, updated);
    assert_eq!(questions(&turns), [first.as_str(), "and then?"]);
    assert_eq!(turns[0].standalone_question, None);
    assert_eq!(turns[0].answer, format!("answer to {first}"));
    assert_eq!(turns[0].model, "test-model");
    let last = &turns[1];
    assert_eq!(
        (&last.standalone_question, &last.answer, &last.model),
        (
            &follow_up.standalone_question,
            &follow_up.answer,
            &follow_up.model
        )
    );
    assert!(turns[0].created_at <= last.created_at);

    let recent = |limit| store.recent_turns(tenant, "ana", "chat-1", limit);
    assert_eq!(questions(&recent(1).await.expect("recent")), ["and then?"]);
    assert_eq!(recent(10).await.expect("recent"), turns);
    assert!(recent(0).await.expect("recent").is_empty());
    assert!(
        store
            .recent_turns(tenant, "ana", "never-used", 10)
            .await
            .expect("unknown")
            .is_empty()
    );
    assert!(matches!(
        store.get(tenant, "ana", "never-used").await,
        Err(Error::NotFound(_))
    ));
}

/// Only the newest `max_turns` turns are kept, whatever the earlier appends kept.
async fn trimming(store: &dyn ConversationStore, tenant: &TenantId) {
    for i in 0..5u32 {
        let kept = store
            .append_turn(tenant, "ana", "trim", turn(&format!("q{i}")), 3)
            .await
            .expect("append");
        assert_eq!(kept.turns, (i + 1).min(3));
        assert_eq!(kept.title, "q0", "the title outlives its turn");
    }
    let (conversation, turns) = store.get(tenant, "ana", "trim").await.expect("get");
    assert_eq!(conversation.turns, 3);
    assert_eq!(questions(&turns), ["q2", "q3", "q4"]);
    let recent = store
        .recent_turns(tenant, "ana", "trim", 10)
        .await
        .expect("recent");
    assert_eq!(questions(&recent), ["q2", "q3", "q4"]);
    let grown = store
        .append_turn(tenant, "ana", "trim", turn("q5"), 5)
        .await
        .expect("append");
    assert_eq!(grown.turns, 4, "trimmed turns do not come back");
    let one = store
        .append_turn(tenant, "ana", "trim", turn("q6"), 1)
        .await
        .expect("append");
    assert_eq!(one.turns, 1);
    let (_, turns) = store.get(tenant, "ana", "trim").await.expect("get");
    assert_eq!(questions(&turns), ["q6"]);
}

/// The same id in two tenants and for two owners is three conversations; none sees another.
async fn isolation(store: &dyn ConversationStore, a: &TenantId, b: &TenantId) {
    let owners = [(a, "ana"), (a, "key:rk_0123456789ab"), (b, "ana")];
    for (tenant, owner) in owners {
        let question = format!("{}/{owner}", tenant.as_str());
        let made = store
            .append_turn(tenant, owner, "shared", turn(&question), KEEP)
            .await
            .expect("append");
        assert_eq!((made.turns, made.title), (1, question));
    }
    for (tenant, owner) in owners {
        let question = format!("{}/{owner}", tenant.as_str());
        let (conversation, turns) = store.get(tenant, owner, "shared").await.expect("own");
        assert_eq!(
            (&conversation.tenant, conversation.owner.as_str()),
            (tenant, owner)
        );
        assert_eq!(questions(&turns), [question.as_str()]);
        let recent = store
            .recent_turns(tenant, owner, "shared", 10)
            .await
            .expect("recent");
        assert_eq!(questions(&recent), [question.as_str()]);
    }

    store
        .append_turn(a, "ana", "only-a", turn("mine"), KEEP)
        .await
        .expect("append");
    for (tenant, owner) in [(b, "ana"), (a, "bob"), (a, "key:rk_0123456789ab")] {
        assert!(matches!(
            store.get(tenant, owner, "only-a").await,
            Err(Error::NotFound(_))
        ));
        assert!(
            store
                .recent_turns(tenant, owner, "only-a", 10)
                .await
                .expect("recent")
                .is_empty()
        );
        assert!(matches!(
            store.delete(tenant, owner, "only-a").await,
            Err(Error::NotFound(_))
        ));
        let (listed, _) = store.list(tenant, owner, 100, 0).await.expect("list");
        assert!(!listed.iter().any(|c| c.id == "only-a"));
    }
    let (_, turns) = store.get(a, "ana", "only-a").await.expect("still there");
    assert_eq!(questions(&turns), ["mine"]);
    assert_eq!(
        store.list(a, "bob", 10, 0).await.expect("list"),
        (Vec::new(), 0)
    );
}

/// The most recently updated first, paged, with the owner's total.
async fn listing(store: &dyn ConversationStore, tenant: &TenantId) {
    for i in 0..5 {
        store
            .append_turn(
                tenant,
                "lister",
                &format!("c{i}"),
                turn(&format!("q{i}")),
                KEEP,
            )
            .await
            .expect("append");
    }
    store
        .append_turn(tenant, "lister", "c1", turn("again"), KEEP)
        .await
        .expect("append");
    store
        .append_turn(tenant, "someone-else", "c9", turn("not listed"), KEEP)
        .await
        .expect("append");

    let page = |limit, offset| store.list(tenant, "lister", limit, offset);
    let ids = |(list, total): (Vec<crate::conversations::Conversation>, u64)| {
        (list.into_iter().map(|c| c.id).collect::<Vec<_>>(), total)
    };
    let (all, total) = page(10, 0).await.expect("list");
    assert_eq!(total, 5);
    assert_eq!(
        all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["c1", "c4", "c3", "c2", "c0"]
    );
    assert_eq!((all[0].turns, all[0].title.as_str()), (2, "q1"));
    let (c1, _) = store.get(tenant, "lister", "c1").await.expect("get");
    assert_eq!(all[0], c1, "a listed conversation is the stored one");
    assert_eq!(
        ids(page(2, 0).await.expect("page")),
        (vec!["c1".into(), "c4".into()], 5)
    );
    assert_eq!(
        ids(page(2, 2).await.expect("page")),
        (vec!["c3".into(), "c2".into()], 5)
    );
    assert_eq!(ids(page(2, 4).await.expect("page")), (vec!["c0".into()], 5));
    assert_eq!(ids(page(2, 10).await.expect("page")), (Vec::new(), 5));
    assert_eq!(ids(page(0, 0).await.expect("page")), (Vec::new(), 5));
}

/// A deleted conversation is gone with its turns; its id then starts a fresh one.
async fn deletion(store: &dyn ConversationStore, tenant: &TenantId) {
    for question in ["old 1", "old 2"] {
        store
            .append_turn(tenant, "ana", "gone", turn(question), KEEP)
            .await
            .expect("append");
    }
    let (before, _) = store.get(tenant, "ana", "gone").await.expect("get");
    store.delete(tenant, "ana", "gone").await.expect("delete");
    assert!(matches!(
        store.get(tenant, "ana", "gone").await,
        Err(Error::NotFound(_))
    ));
    assert!(
        store
            .recent_turns(tenant, "ana", "gone", 10)
            .await
            .expect("recent")
            .is_empty()
    );
    assert!(matches!(
        store.delete(tenant, "ana", "gone").await,
        Err(Error::NotFound(_))
    ));
    let (listed, _) = store.list(tenant, "ana", 100, 0).await.expect("list");
    assert!(!listed.iter().any(|c| c.id == "gone"));

    let fresh = store
        .append_turn(tenant, "ana", "gone", turn("new start"), KEEP)
        .await
        .expect("append after delete");
    assert_eq!((fresh.turns, fresh.title.as_str()), (1, "new start"));
    assert!(fresh.created_at >= before.updated_at);
    let (_, turns) = store.get(tenant, "ana", "gone").await.expect("get");
    assert_eq!(questions(&turns), ["new start"]);
}

/// Ids the validator refuses and a `max_turns` of zero are refused, and create nothing.
async fn invalid_input(store: &dyn ConversationStore, tenant: &TenantId) {
    let too_long = "x".repeat(crate::conversations::ID_MAX_LEN + 1);
    for bad in ["", "has space", "a/b", "ünïcode", too_long.as_str()] {
        assert!(
            matches!(
                store.append_turn(tenant, "ana", bad, turn("q"), KEEP).await,
                Err(Error::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        store.append_turn(tenant, "ana", "zero", turn("q"), 0).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        store.get(tenant, "ana", "zero").await,
        Err(Error::NotFound(_))
    ));
}

/// Concurrent first turns of one new conversation make one conversation holding them all.
async fn concurrent_first_turns(store: &dyn ConversationStore, tenant: &TenantId) {
    let append = |q: &'static str| store.append_turn(tenant, "racer", "race", turn(q), KEEP);
    let results = tokio::join!(append("r0"), append("r1"), append("r2"), append("r3"));
    for result in [results.0, results.1, results.2, results.3] {
        result.expect("concurrent append");
    }
    let (conversation, turns) = store.get(tenant, "racer", "race").await.expect("get");
    assert_eq!(conversation.turns, 4);
    let mut asked = questions(&turns);
    asked.sort_unstable();
    assert_eq!(asked, ["r0", "r1", "r2", "r3"]);
    assert_eq!(store.list(tenant, "racer", 10, 0).await.expect("list").1, 1);
}
