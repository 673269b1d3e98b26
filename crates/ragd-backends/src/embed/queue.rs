//! What every local embedder shares, whatever runtime executes the model: the model runs on
//! dedicated threads (one per model instance, e.g. per OpenVINO stream) fed by a bounded queue.
//! Callers `await` a free slot (backpressure); the threads batch texts from several requests,
//! serve short requests (queries) before the rest of long ones (bulk ingestion) so queries stay
//! fast while a large ingest runs, and sort long requests by length so batches carry little
//! padding. Every thread takes batches from every request, so one bulk request uses them all.
//! The model's inputs and outputs around the forward pass: [`crate::embed::token_batch`].
//!
//! Questions and passages may reach the model differently: models such as e5 were trained with
//! an instruction before each (`"query: "`, `"passage: "`), which the queue adds
//! ([`QueuedEmbedder::with_prefixes`]); a model without prefixes gets the texts untouched.
//!
//! Questions are served first come, first served among themselves, before bulk texts. Load
//! shedding (`RAGD_QUEUE_BUDGET_MS`) happens before a question reaches the queue, on the whole
//! question path (`ragd_core`'s service): the model is only part of what a question waits for.
//!
//! Metrics: `rag_embed_batch_size` and `rag_embed_duration_seconds` per forward pass,
//! `rag_embed_queue_depth` (requests admitted or waiting for a slot; above
//! `rag_embed_queue_capacity`, callers are being held back), `rag_embed_question_wait_seconds`
//! (from a question's arrival to its forward pass).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use ragd_core::ports::Embedder;
use ragd_core::types::Embedding;
use ragd_core::{Error, Result};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// Requests of at most this many texts are served first (queries, not bulk ingestion).
const SHORT_REQUEST: usize = 4;
/// While a model thread runs a batch of questions, another starts only once this many texts
/// wait; fewer wait for the running batch to end and go in the next one together. A forward
/// pass over several questions costs far less per question than one each (measured on
/// OpenVINO bf16, one thread: 2.2 ms for one, 1.5 ms each for two, 1.1 ms each for eight), so
/// under load questions ride together instead of each thread taking one; a lone question never
/// waits (no batch runs), nor does one behind bulk ingestion.
const PARALLEL_MIN: usize = 2;

/// A model that turns a batch of texts into unit vectors on the calling thread.
pub trait BatchModel: Send + 'static {
    /// One forward pass over `texts`, vectors in the same order.
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Embedding>>;
}

/// A request being served: its texts in length order, and the vectors done so far.
struct Pending {
    id: u64,
    texts: Arc<Vec<String>>,
    order: Vec<usize>,
    /// Next position in `order` to hand out.
    next: usize,
    /// Texts handed to a model and not back yet.
    in_flight: usize,
    done: Vec<Option<Embedding>>,
    reply: oneshot::Sender<Result<Vec<Embedding>>>,
    /// When it arrived (for `rag_embed_question_wait_seconds`).
    queued_at: Instant,
    /// Held until the request is answered: the queue's backpressure.
    _permit: OwnedSemaphorePermit,
    /// Counts the request in `rag_embed_queue_depth` until it is answered.
    _depth: DepthGuard,
}

/// One request in `rag_embed_queue_depth`, from the call until its answer or cancellation
/// (a caller dropped while it waits for a slot must not stay counted).
struct DepthGuard;

impl DepthGuard {
    fn enter() -> Self {
        metrics::gauge!("rag_embed_queue_depth").increment(1.0);
        Self
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        metrics::gauge!("rag_embed_queue_depth").decrement(1.0);
    }
}

/// The requests waiting or in progress, shared by the model threads.
#[derive(Default)]
struct Scheduler {
    pending: VecDeque<Pending>,
    next_id: u64,
    closed: bool,
    /// Batches being run by model threads, and how many of them carry bulk texts.
    running: usize,
    running_bulk: usize,
}

struct Shared {
    state: Mutex<Scheduler>,
    work: Condvar,
}

/// Texts handed to one model thread: (request id, text index) and the texts themselves.
struct Batch {
    slots: Vec<(u64, usize)>,
    texts: Vec<Arc<Vec<String>>>,
    /// Whether it carries texts of a long (bulk) request.
    bulk: bool,
}

impl Scheduler {
    /// Whether an idle model thread should take a batch now (see [`PARALLEL_MIN`]).
    fn may_start(&self) -> bool {
        if self.running == 0 || self.running_bulk > 0 {
            return true;
        }
        let mut waiting = 0;
        for p in &self.pending {
            if p.texts.len() > SHORT_REQUEST && p.next < p.order.len() {
                return true;
            }
            waiting += p.order.len() - p.next;
        }
        waiting >= PARALLEL_MIN
    }

    /// Takes up to `batch_size` texts, front requests first, and counts the batch as running.
    fn take(&mut self, batch_size: usize) -> Option<Batch> {
        let mut batch = Batch {
            slots: Vec::new(),
            texts: Vec::new(),
            bulk: false,
        };
        for p in &mut self.pending {
            let n = (p.order.len() - p.next).min(batch_size - batch.slots.len());
            if n > 0 && p.next == 0 && p.texts.len() <= SHORT_REQUEST {
                metrics::histogram!("rag_embed_question_wait_seconds")
                    .record(p.queued_at.elapsed().as_secs_f64());
            }
            for &i in &p.order[p.next..p.next + n] {
                batch.slots.push((p.id, i));
                batch.texts.push(Arc::clone(&p.texts));
            }
            batch.bulk |= n > 0 && p.texts.len() > SHORT_REQUEST;
            p.next += n;
            p.in_flight += n;
            if batch.slots.len() == batch_size {
                break;
            }
        }
        if batch.slots.is_empty() {
            return None;
        }
        self.running += 1;
        self.running_bulk += usize::from(batch.bulk);
        Some(batch)
    }

    /// Questions waiting for a model thread (taken ones are not counted).
    #[cfg(test)]
    fn questions_waiting(&self) -> usize {
        self.pending
            .iter()
            .filter(|p| p.texts.len() <= SHORT_REQUEST)
            .map(|p| p.order.len() - p.next)
            .sum()
    }

    /// Where a new request goes: a question after the questions already waiting (first come,
    /// first served), anything longer at the back.
    fn insert(&mut self, pending: Pending) {
        if pending.texts.len() <= SHORT_REQUEST {
            let at = self
                .pending
                .iter()
                .position(|p| p.texts.len() > SHORT_REQUEST)
                .unwrap_or(self.pending.len());
            self.pending.insert(at, pending);
        } else {
            self.pending.push_back(pending);
        }
    }

    /// Stores a batch's outcome and answers every request that is complete or failed.
    fn finish(&mut self, batch: &Batch, outcome: Result<Vec<Embedding>>) {
        self.running -= 1;
        self.running_bulk -= usize::from(batch.bulk);
        let slots = &batch.slots;
        match outcome {
            Ok(vectors) => {
                for (&(id, i), v) in slots.iter().zip(vectors) {
                    // A request that failed meanwhile is gone: its results are dropped.
                    if let Some(p) = self.pending.iter_mut().find(|p| p.id == id) {
                        p.done[i] = Some(v);
                        p.in_flight -= 1;
                    }
                }
            }
            Err(err) => {
                let msg = err.to_string();
                let (failed, rest): (VecDeque<Pending>, VecDeque<Pending>) = self
                    .pending
                    .drain(..)
                    .partition(|p| slots.iter().any(|&(id, _)| id == p.id));
                self.pending = rest;
                for p in failed {
                    let _ = p.reply.send(Err(Error::internal(msg.clone())));
                }
            }
        }
        let (complete, rest): (VecDeque<Pending>, VecDeque<Pending>) = self
            .pending
            .drain(..)
            .partition(|p| p.next == p.order.len() && p.in_flight == 0);
        self.pending = rest;
        for p in complete {
            let vectors: Option<Vec<Embedding>> = p.done.into_iter().collect();
            let _ = p
                .reply
                .send(vectors.ok_or_else(|| Error::internal("embedding missing")));
        }
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Scheduler> {
    shared.state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn worker(mut model: impl BatchModel, shared: &Shared, batch_size: usize) {
    loop {
        let batch = {
            let mut state = lock(shared);
            loop {
                if let Some(batch) = state.may_start().then(|| state.take(batch_size)).flatten() {
                    // More left (a long request): wake another thread to take it in parallel.
                    if state.pending.iter().any(|p| p.next < p.order.len()) {
                        shared.work.notify_one();
                    }
                    break batch;
                }
                if state.closed {
                    return;
                }
                state = shared
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let texts: Vec<&str> = batch
            .slots
            .iter()
            .zip(&batch.texts)
            .map(|(&(_, i), t)| t[i].as_str())
            .collect();
        let started = std::time::Instant::now();
        let outcome = match model.embed_batch(&texts) {
            Ok(v) if v.len() == texts.len() => Ok(v),
            Ok(v) => Err(Error::internal(format!(
                "the model returned {} vectors for {} texts",
                v.len(),
                texts.len()
            ))),
            Err(err) => Err(err),
        };
        let took = started.elapsed();
        metrics::histogram!("rag_embed_duration_seconds").record(took.as_secs_f64());
        #[allow(clippy::cast_precision_loss)] // a batch holds at most a few hundred texts
        metrics::histogram!("rag_embed_batch_size").record(texts.len() as f64);
        drop(texts);
        lock(shared).finish(&batch, outcome);
    }
}

/// An [`Embedder`] that runs [`BatchModel`]s on their own threads behind a bounded queue: one
/// thread per model instance, all taking batches from the same requests.
pub struct QueuedEmbedder {
    model_id: String,
    dimensions: usize,
    query_prefix: &'static str,
    passage_prefix: &'static str,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl QueuedEmbedder {
    /// Starts one thread per model. `batch_size` texts per forward pass at most;
    /// `queue_capacity` requests may wait or run before callers are held back.
    pub fn start<M: BatchModel>(
        model_id: String,
        dimensions: usize,
        models: Vec<M>,
        batch_size: usize,
        queue_capacity: usize,
    ) -> Result<Self> {
        if models.is_empty() {
            return Err(Error::internal("no model instance to run"));
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(Scheduler::default()),
            work: Condvar::new(),
        });
        let batch_size = batch_size.max(1);
        #[allow(clippy::cast_precision_loss)] // a configured queue length
        metrics::gauge!("rag_embed_queue_capacity").set(queue_capacity.max(1) as f64);
        let mut embedder = Self {
            model_id,
            dimensions,
            query_prefix: "",
            passage_prefix: "",
            shared,
            permits: Arc::new(Semaphore::new(queue_capacity.max(1))),
            threads: Vec::new(),
        };
        for (n, model) in models.into_iter().enumerate() {
            let shared = Arc::clone(&embedder.shared);
            let thread = std::thread::Builder::new()
                .name(format!("ragd-embedder-{n}"))
                .spawn(move || worker(model, &shared, batch_size))
                .map_err(Error::internal)?;
            embedder.threads.push(thread);
        }
        Ok(embedder)
    }

    /// Puts `query` before every question ([`Embedder::embed_query`]) and `passage` before
    /// every other text ([`Embedder::embed`]: what is stored and searched).
    #[must_use]
    pub fn with_prefixes(mut self, query: &'static str, passage: &'static str) -> Self {
        self.query_prefix = query;
        self.passage_prefix = passage;
        self
    }

    /// Runs `texts` through the model threads (see the module docs).
    async fn run(&self, texts: Vec<String>) -> Result<Vec<Embedding>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let depth = DepthGuard::enter();
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::Unavailable("the embedding queue is closed".into()))?;
        let (reply, rx) = oneshot::channel();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        {
            let mut state = lock(&self.shared);
            let id = state.next_id;
            state.next_id += 1;
            state.insert(Pending {
                id,
                done: vec![None; texts.len()],
                texts: Arc::new(texts),
                order,
                next: 0,
                in_flight: 0,
                reply,
                queued_at: Instant::now(),
                _permit: permit,
                _depth: depth,
            });
        }
        self.shared.work.notify_one();
        rx.await
            .map_err(|_| Error::Unavailable("the embedding thread has stopped".into()))?
    }
}

/// `texts` with `prefix` in front of each; untouched (no copy) without one.
fn prefixed(prefix: &str, texts: Vec<String>) -> Vec<String> {
    if prefix.is_empty() {
        return texts;
    }
    texts.into_iter().map(|t| format!("{prefix}{t}")).collect()
}

impl Drop for QueuedEmbedder {
    /// Stops the threads and waits until they have released their models: a model runtime
    /// (OpenVINO's) must not be torn down by the process exit while a thread still frees its
    /// objects — that race made `ragd` commands crash at exit now and then.
    fn drop(&mut self) {
        lock(&self.shared).closed = true;
        self.shared.work.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[async_trait]
impl Embedder for QueuedEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Embedding>> {
        self.run(prefixed(self.passage_prefix, texts)).await
    }

    async fn embed_query(&self, tenant: &str, text: String) -> Result<Embedding> {
        let _ = tenant;
        self.run(prefixed(self.query_prefix, vec![text]))
            .await?
            .pop()
            .ok_or_else(|| Error::internal("the embedder returned no vector"))
    }
}

#[cfg(test)]
mod tests;
