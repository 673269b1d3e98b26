//! Steady client load for the outage tests: tasks that send `/query` back to back until stopped,
//! each recording when its request ended and how (a status, or why there was none).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::fleet::question_body;

/// The documents the load tests ask about (the questions of [`Load`] are answered from them).
pub(crate) const LOAD_CORPUS: &[&str] = &[
    "tides-and-moon.txt",
    "sqlite-wal-mode.md",
    "rust-borrow-checker.md",
    "composting.txt",
];

/// Questions about the files `tests/corpus/docs` the load tests upload.
const QUESTIONS: [&str; 4] = [
    "What causes spring tides?",
    "What does write-ahead logging change in SQLite?",
    "What does the borrow checker enforce?",
    "How long does compost take to mature?",
];

/// One request of the load.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// When it ended, since the load started.
    pub(crate) at: Duration,
    /// Where it went.
    #[allow(dead_code)] // read through `Debug`, in failure messages
    pub(crate) target: String,
    /// Its status, or the transport error.
    pub(crate) outcome: Result<u16, String>,
}

/// Clients sending `/query` until [`Load::stop`].
pub(crate) struct Load {
    started: Instant,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// `clients` tasks, each going round `targets` (base URLs) with `token`, through `client`
    /// (which must trust nginx's test CA when nginx is a target).
    pub(crate) fn start(
        client: &reqwest::Client,
        targets: &[String],
        token: &str,
        clients: usize,
    ) -> Self {
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..clients)
            .map(|task| {
                let (client, stop, seen) = (client.clone(), stop.clone(), seen.clone());
                let (targets, token) = (targets.to_vec(), token.to_owned());
                tokio::spawn(async move {
                    let mut n = task;
                    while !stop.load(Ordering::SeqCst) {
                        let target = targets[n % targets.len()].clone();
                        let outcome = client
                            .post(format!("{target}/query"))
                            .bearer_auth(&token)
                            .json(&question_body(QUESTIONS[n % QUESTIONS.len()]))
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .map_err(|e| format!("{e:?}"));
                        let at = started.elapsed();
                        seen.lock().await.push(Seen {
                            at,
                            target,
                            outcome,
                        });
                        n += 1;
                    }
                })
            })
            .collect();
        Self {
            started,
            stop,
            seen,
            tasks,
        }
    }

    /// Time since the load started.
    pub(crate) fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits until `more` requests have ended after this call (at most 60 s).
    pub(crate) async fn wait_for(&self, more: usize, what: &str) {
        let target = self.seen.lock().await.len() + more;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.seen.lock().await.len() < target {
            assert!(
                Instant::now() < deadline,
                "{what}: fewer than {more} requests ended in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the clients (letting their last requests end) and returns every request.
    pub(crate) async fn stop(self) -> Vec<Seen> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.expect("load task");
        }
        std::mem::take(&mut *self.seen.lock().await)
    }
}

/// The requests that did not get a 200: empty, or a failure message that counts them by outcome
/// and lists the first few.
pub(crate) fn failures(seen: &[Seen]) -> String {
    let failed: Vec<&Seen> = seen.iter().filter(|s| s.outcome != Ok(200)).collect();
    if failed.is_empty() {
        return String::new();
    }
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for s in &failed {
        *counts.entry(format!("{:?}", s.outcome)).or_default() += 1;
    }
    format!(
        "{} of {} requests failed, by outcome {counts:#?}; the first: {:#?}",
        failed.len(),
        seen.len(),
        &failed[..failed.len().min(8)]
    )
}
