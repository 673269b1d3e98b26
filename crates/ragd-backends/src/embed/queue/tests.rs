//! The queue's scheduling: order, batching, prefixes and threads.

use super::*;

/// A model whose vector for a text is its length, and that fails on the text "fail".
struct Lengths;

impl BatchModel for Lengths {
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Embedding>> {
        if texts.contains(&"fail") {
            return Err(Error::internal("model failure"));
        }
        Ok(texts
            .iter()
            .map(|t| Embedding(vec![t.len() as f32]))
            .collect())
    }
}

#[tokio::test]
async fn answers_in_request_order_and_isolates_failures() {
    let e = QueuedEmbedder::start("test".into(), 1, vec![Lengths, Lengths], 2, 4).expect("start");
    let texts: Vec<String> = ["ccc", "a", "bb", "dddd", "e"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let got = e.embed(texts.clone()).await.expect("embed");
    let lengths: Vec<f32> = got.iter().map(|v| v.0[0]).collect();
    assert_eq!(lengths, vec![3.0, 1.0, 2.0, 4.0, 1.0]);
    let err = e.embed(vec!["fail".into()]).await.expect_err("fails");
    assert!(err.to_string().contains("model failure"), "{err}");
    // The thread survives a failed batch.
    assert_eq!(e.embed(vec!["xy".into()]).await.expect("embed")[0].0, [2.0]);
}

/// A slow model that records how many instances run at once.
struct Slow {
    running: Counter,
    most: Counter,
}

type Counter = Arc<std::sync::atomic::AtomicUsize>;

impl BatchModel for Slow {
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Embedding>> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(30));
        self.running.fetch_sub(1, SeqCst);
        Ok(texts.iter().map(|_| Embedding(vec![1.0])).collect())
    }
}

/// `n` slow models sharing their counters: how many run now, and the most that ran at once.
fn slow_models(n: usize) -> (Vec<Slow>, Counter, Counter) {
    let running = Counter::default();
    let most = Counter::default();
    let models = (0..n)
        .map(|_| Slow {
            running: Arc::clone(&running),
            most: Arc::clone(&most),
        })
        .collect();
    (models, running, most)
}

#[tokio::test]
async fn a_lone_question_waits_for_a_running_batch_of_questions_but_two_do_not() {
    use std::sync::atomic::Ordering::SeqCst;
    let (models, running, most) = slow_models(2);
    let e = Arc::new(QueuedEmbedder::start("test".into(), 1, models, 8, 16).expect("start"));
    let ask = |text: &str| {
        let (e, text) = (Arc::clone(&e), text.to_owned());
        tokio::spawn(async move { e.embed(vec![text]).await })
    };
    let started = || async {
        while running.load(SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    };
    let first = ask("one");
    started().await;
    // One question behind a running batch of questions: it goes in the next batch.
    let second = ask("two");
    first.await.expect("join").expect("embed");
    second.await.expect("join").expect("embed");
    assert_eq!(most.load(SeqCst), 1, "the second thread stayed idle");
    let first = ask("three");
    started().await;
    // Two waiting: the idle thread takes them at once.
    let (a, b) = (ask("four"), ask("five"));
    for task in [first, a, b] {
        task.await.expect("join").expect("embed");
    }
    assert_eq!(
        most.load(SeqCst),
        2,
        "the second thread ran beside the first"
    );
}

/// The `Lengths` model shows what reached it: "passage: abc" is 12 bytes, "query: abc" 10.
#[tokio::test]
async fn prefixes_questions_and_passages_differently() {
    let plain = QueuedEmbedder::start("test".into(), 1, vec![Lengths], 4, 4).expect("start");
    assert_eq!(
        plain.embed(vec!["abc".into()]).await.expect("embed")[0].0,
        [3.0]
    );
    assert_eq!(
        plain.embed_query("t", "abc".into()).await.expect("q").0,
        [3.0]
    );
    let e5 = QueuedEmbedder::start("test".into(), 1, vec![Lengths], 4, 4)
        .expect("start")
        .with_prefixes("query: ", "passage: ");
    let passages = e5
        .embed(vec!["abc".into(), "a".into()])
        .await
        .expect("embed");
    assert_eq!((passages[0].0[0], passages[1].0[0]), (12.0, 10.0));
    assert_eq!(
        e5.embed_query("t", "abc".into()).await.expect("q").0,
        [10.0]
    );
}

#[tokio::test]
async fn one_long_request_keeps_every_model_thread_busy() {
    let (models, _, most) = slow_models(3);
    let e = QueuedEmbedder::start("test".into(), 1, models, 2, 4).expect("start");
    let texts: Vec<String> = (0..12).map(|i| format!("text {i}")).collect();
    assert_eq!(e.embed(texts).await.expect("embed").len(), 12);
    assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 3);
}

/// A slow model that records the texts it was given, in order.
struct Recording {
    seen: Arc<Mutex<Vec<String>>>,
}

impl BatchModel for Recording {
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Embedding>> {
        std::thread::sleep(std::time::Duration::from_millis(30));
        let mut seen = self.seen.lock().expect("lock");
        seen.extend(texts.iter().map(|t| (*t).to_owned()));
        Ok(texts.iter().map(|_| Embedding(vec![1.0])).collect())
    }
}

/// Waits until `n` questions wait for a model thread.
async fn until_waiting(e: &QueuedEmbedder, n: usize) {
    while lock(&e.shared).questions_waiting() < n {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn questions_are_served_in_arrival_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let model = Recording {
        seen: Arc::clone(&seen),
    };
    let e = Arc::new(QueuedEmbedder::start("test".into(), 1, vec![model], 1, 64).expect("start"));
    let ask = |text: String| {
        let e = Arc::clone(&e);
        tokio::spawn(async move { e.embed_query("t", text).await })
    };
    let mut tasks = vec![ask("q0".into())];
    until_waiting(&e, 0).await;
    for n in 1..6 {
        tasks.push(ask(format!("q{n}")));
        // Each arrives after the previous one is queued.
        until_waiting(&e, n).await;
    }
    // A bulk request behind them, then one more question: it still goes before the bulk.
    let bulk = {
        let e = Arc::clone(&e);
        tokio::spawn(async move { e.embed((0..6).map(|i| format!("b{i}")).collect()).await })
    };
    tasks.push(ask("q6".into()));
    for task in tasks {
        task.await.expect("join").expect("embed");
    }
    bulk.await.expect("join").expect("embed");
    let seen = seen.lock().expect("lock").clone();
    let questions: Vec<&String> = seen.iter().filter(|t| t.starts_with('q')).collect();
    assert_eq!(
        questions,
        ["q0", "q1", "q2", "q3", "q4", "q5", "q6"],
        "{seen:?}"
    );
    let last_question = seen.iter().position(|t| t == "q6").expect("q6");
    assert!(
        seen[last_question + 1..].iter().all(|t| t.starts_with('b')),
        "the late question went before the bulk texts still waiting: {seen:?}"
    );
}
