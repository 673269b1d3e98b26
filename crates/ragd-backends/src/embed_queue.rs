//! What every local embedder shares, whatever runtime executes the model: the model runs on one
//! dedicated thread fed by a bounded queue. Callers `await` a free slot (backpressure); the thread
//! batches texts from several requests, serves short requests (queries) before the rest of long
//! ones (bulk ingestion) so queries stay fast while a large ingest runs, and sorts long requests by
//! length so batches carry little padding. The pipeline around the model is sentence-transformers':
//! truncate at 256 tokens, mean pooling over the attention mask, L2 normalisation.

use std::collections::VecDeque;

use async_trait::async_trait;
use ragd_core::ports::Embedder;
use ragd_core::types::Embedding;
use ragd_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};

use crate::tokenizer::ModelTokenizer;

/// Requests of at most this many texts are served first (queries, not bulk ingestion).
const SHORT_REQUEST: usize = 4;

/// A model that turns a batch of texts into unit vectors on the calling thread.
pub trait BatchModel: Send + 'static {
    /// One forward pass over `texts`, vectors in the same order.
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Embedding>>;
}

/// A batch of texts as the model's inputs: token ids and attention mask, `rows × width`, padded
/// with zeros to the longest text of the batch, rounded up to a multiple of `width_step`.
pub struct TokenBatch {
    /// Texts in the batch.
    pub rows: usize,
    /// Tokens of the longest text.
    pub width: usize,
    /// Token ids, row-major.
    pub ids: Vec<i64>,
    /// 1 for a token, 0 for padding, row-major.
    pub mask: Vec<i64>,
}

impl TokenBatch {
    /// Tokenizes `texts` (special tokens, truncation as the tokenizer is configured). Padding
    /// is masked out, so `width_step` changes the work, not the vectors.
    pub fn encode(tokenizer: &ModelTokenizer, texts: &[&str], width_step: usize) -> Result<Self> {
        let encodings = texts
            .iter()
            .map(|t| tokenizer.encode(t))
            .collect::<Result<Vec<_>>>()?;
        let rows = encodings.len();
        let width = encodings
            .iter()
            .map(|e| e.len())
            .max()
            .unwrap_or(0)
            .max(1)
            .next_multiple_of(width_step.max(1));
        let mut ids = vec![0i64; rows * width];
        let mut mask = vec![0i64; rows * width];
        for (r, enc) in encodings.iter().enumerate() {
            for (c, (&id, &m)) in enc
                .get_ids()
                .iter()
                .zip(enc.get_attention_mask())
                .enumerate()
            {
                ids[r * width + c] = i64::from(id);
                mask[r * width + c] = i64::from(m);
            }
        }
        Ok(Self {
            rows,
            width,
            ids,
            mask,
        })
    }

    /// Mean-pools the model's hidden states (`rows × width × dims`) into unit vectors.
    pub fn pool(&self, hidden: &[f32], dims: usize) -> Result<Vec<Embedding>> {
        if hidden.len() != self.rows * self.width * dims {
            return Err(Error::internal(format!(
                "model output has {} values, expected {} × {} × {dims}",
                hidden.len(),
                self.rows,
                self.width
            )));
        }
        let (w, d) = (self.width, dims);
        Ok((0..self.rows)
            .map(|r| {
                mean_pool(
                    &hidden[r * w * d..(r + 1) * w * d],
                    &self.mask[r * w..(r + 1) * w],
                    d,
                )
            })
            .collect())
    }
}

/// Mean of the token vectors where `mask` is 1, scaled to unit length.
fn mean_pool(hidden: &[f32], mask: &[i64], dims: usize) -> Embedding {
    let mut sum = vec![0.0f32; dims];
    let mut count = 0.0f32;
    for (token, &m) in hidden.chunks_exact(dims).zip(mask) {
        if m != 0 {
            sum.iter_mut().zip(token).for_each(|(s, t)| *s += t);
            count += 1.0;
        }
    }
    let count = count.max(1e-9);
    sum.iter_mut().for_each(|s| *s /= count);
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    sum.iter_mut().for_each(|s| *s /= norm);
    Embedding(sum)
}

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vec<Embedding>>>,
}

/// A request being served: its texts in length order, and the vectors done so far.
struct Pending {
    job: Job,
    order: Vec<usize>,
    next: usize,
    done: Vec<Option<Embedding>>,
}

impl Pending {
    fn new(job: Job) -> Self {
        let mut order: Vec<usize> = (0..job.texts.len()).collect();
        order.sort_by_key(|&i| job.texts[i].len());
        let done = vec![None; job.texts.len()];
        Self {
            job,
            order,
            next: 0,
            done,
        }
    }
}

fn worker(mut model: impl BatchModel, mut queue: mpsc::Receiver<Job>, batch_size: usize) {
    let mut pending: VecDeque<Pending> = VecDeque::new();
    loop {
        if pending.is_empty() {
            match queue.blocking_recv() {
                Some(job) => pending.push_back(Pending::new(job)),
                None => return,
            }
        }
        while let Ok(job) = queue.try_recv() {
            if job.texts.len() <= SHORT_REQUEST {
                pending.push_front(Pending::new(job));
            } else {
                pending.push_back(Pending::new(job));
            }
        }
        // Take up to `batch_size` texts from the front requests.
        let mut taken: Vec<(usize, usize)> = Vec::new(); // (pending slot, text index)
        for (slot, p) in pending.iter_mut().enumerate() {
            while p.next < p.order.len() && taken.len() < batch_size {
                taken.push((slot, p.order[p.next]));
                p.next += 1;
            }
            if taken.len() == batch_size {
                break;
            }
        }
        let texts: Vec<&str> = taken
            .iter()
            .map(|&(s, i)| pending[s].job.texts[i].as_str())
            .collect();
        match model.embed_batch(&texts) {
            Ok(vectors) if vectors.len() == taken.len() => {
                for ((slot, i), v) in taken.iter().zip(vectors) {
                    pending[*slot].done[*i] = Some(v);
                }
            }
            result => {
                let msg = match result {
                    Err(err) => err.to_string(),
                    Ok(v) => format!("the model returned {} vectors for {}", v.len(), taken.len()),
                };
                let failed: Vec<usize> = taken.iter().map(|&(s, _)| s).collect();
                for slot in (0..pending.len()).rev().filter(|s| failed.contains(s)) {
                    if let Some(p) = pending.remove(slot) {
                        let _ = p.job.reply.send(Err(Error::internal(msg.clone())));
                    }
                }
                continue;
            }
        }
        // Answer every request that is complete.
        let mut still = VecDeque::with_capacity(pending.len());
        for p in pending.drain(..) {
            if p.next == p.order.len() {
                let vectors: Option<Vec<Embedding>> = p.done.into_iter().collect();
                let reply = vectors.ok_or_else(|| Error::internal("embedding missing"));
                let _ = p.job.reply.send(reply);
            } else {
                still.push_back(p);
            }
        }
        pending = still;
    }
}

/// An [`Embedder`] that runs a [`BatchModel`] on its own thread behind a bounded queue.
pub struct QueuedEmbedder {
    model_id: String,
    dimensions: usize,
    queue: mpsc::Sender<Job>,
}

impl QueuedEmbedder {
    /// Starts the model's thread. `batch_size` texts per forward pass at most; `queue_capacity`
    /// requests may wait before callers are held back.
    pub fn start(
        model_id: String,
        dimensions: usize,
        model: impl BatchModel,
        batch_size: usize,
        queue_capacity: usize,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel(queue_capacity.max(1));
        let batch_size = batch_size.max(1);
        std::thread::Builder::new()
            .name("ragd-embedder".into())
            .spawn(move || worker(model, rx, batch_size))
            .map_err(Error::internal)?;
        Ok(Self {
            model_id,
            dimensions,
            queue: tx,
        })
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
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        self.queue
            .send(Job { texts, reply })
            .await
            .map_err(|_| Error::Unavailable("the embedding thread has stopped".into()))?;
        rx.await
            .map_err(|_| Error::Unavailable("the embedding thread has stopped".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_ignores_padding_and_normalises() {
        let hidden = [1.0, 0.0, 3.0, 0.0, 100.0, 100.0];
        let v = mean_pool(&hidden, &[1, 1, 0], 2);
        assert!((v.0[0] - 1.0).abs() < 1e-6 && v.0[1].abs() < 1e-6, "{v:?}");
    }

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
        let e = QueuedEmbedder::start("test".into(), 1, Lengths, 2, 4).expect("start");
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
}
