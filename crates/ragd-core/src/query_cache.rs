//! A cache of question embeddings in front of any [`Embedder`]. Real traffic repeats questions
//! (the same FAQ asked by many users, retries, a UI re-sending on reconnect); each repeat would
//! otherwise cost a forward pass, the bulk of a query's CPU. Only questions
//! ([`Embedder::embed_query`]) are cached, keyed by tenant and text: bulk ingestion rarely
//! repeats and would only evict them, and a cache shared by tenants would let one tenant time
//! whether a question was just asked by another (a hit answers in well under a millisecond, a
//! miss takes a forward pass).
//!
//! The cache is two generations of hash maps: hits are looked up in the current generation, then
//! the previous one (and promoted); when the current one is full, it becomes the previous one and
//! the oldest generation is dropped. That is LRU-like eviction in O(1), with no dependency.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::Result;
use crate::ports::Embedder;
use crate::types::Embedding;

struct Generations {
    current: HashMap<String, Embedding>,
    previous: HashMap<String, Embedding>,
}

/// An [`Embedder`] that remembers the vectors of recent questions.
pub struct CachedEmbedder<E: ?Sized> {
    inner: std::sync::Arc<E>,
    /// Entries per generation (half the capacity).
    generation: usize,
    state: Mutex<Generations>,
}

impl<E: Embedder + ?Sized> CachedEmbedder<E> {
    /// Caches up to about `capacity` questions (at least 2).
    pub fn new(inner: std::sync::Arc<E>, capacity: usize) -> Self {
        let generation = (capacity / 2).max(1);
        Self {
            inner,
            generation,
            state: Mutex::new(Generations {
                current: HashMap::with_capacity(generation),
                previous: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, text: &str) -> Option<Embedding> {
        let mut state = self.lock();
        if let Some(v) = state.current.get(text) {
            return Some(v.clone());
        }
        let v = state.previous.remove(text)?;
        self.put_locked(&mut state, text.to_owned(), v.clone());
        Some(v)
    }

    fn put_locked(&self, state: &mut Generations, text: String, v: Embedding) {
        if state.current.len() >= self.generation {
            state.previous = std::mem::take(&mut state.current);
            state.current.reserve(self.generation);
        }
        state.current.insert(text, v);
    }
}

#[async_trait]
impl<E: Embedder + ?Sized> Embedder for CachedEmbedder<E> {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Embedding>> {
        self.inner.embed(texts).await
    }

    async fn embed_query(&self, tenant: &str, text: String) -> Result<Embedding> {
        // Tenant names cannot hold a NUL, so the key is unambiguous.
        let key = format!("{tenant}\0{text}");
        if let Some(v) = self.get(&key) {
            return Ok(v);
        }
        let v = self.inner.embed_query(tenant, text).await?;
        let mut state = self.lock();
        self.put_locked(&mut state, key, v.clone());
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts the texts it embeds; the vector encodes the text length.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl Embedder for Counting {
        fn model_id(&self) -> &str {
            "counting"
        }
        fn dimensions(&self) -> usize {
            1
        }
        async fn embed(&self, texts: Vec<String>) -> Result<Vec<Embedding>> {
            self.0.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts
                .iter()
                .map(|t| Embedding(vec![t.len() as f32]))
                .collect())
        }
    }

    #[tokio::test]
    async fn repeated_questions_skip_the_model_and_old_ones_are_evicted() {
        let inner = Arc::new(Counting::default());
        let cache = CachedEmbedder::new(Arc::clone(&inner), 4);
        let ask = |q: &str| cache.embed_query("t", q.to_owned());
        assert_eq!(ask("abc").await.unwrap().0, [3.0]);
        assert_eq!(ask("abc").await.unwrap().0, [3.0]);
        assert_eq!(inner.0.load(Ordering::SeqCst), 1);
        // Another tenant asking the same question misses: the cache tells no tenant anything
        // about another's questions.
        cache.embed_query("u", "abc".into()).await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 2);
        cache.embed_query("t", "abc".into()).await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 2);
        // Bulk requests pass through and are not cached.
        cache.embed(vec!["x".into(), "yy".into()]).await.unwrap();
        cache.embed(vec!["x".into(), "yy".into()]).await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 6);
        // Capacity 4 = two generations of 2: "abc" survives one rollover, not two.
        for q in ["q2", "q3"] {
            ask(q).await.unwrap();
        }
        let before = inner.0.load(Ordering::SeqCst);
        ask("q3").await.unwrap();
        assert_eq!(
            inner.0.load(Ordering::SeqCst),
            before,
            "recent question cached"
        );
        for q in ["q4", "q5", "q6", "q7"] {
            ask(q).await.unwrap();
        }
        let before = inner.0.load(Ordering::SeqCst);
        ask("abc").await.unwrap();
        assert_eq!(
            inner.0.load(Ordering::SeqCst),
            before + 1,
            "old question evicted"
        );
    }
}
