//! A cache of question embeddings in front of any [`Embedder`]. Real traffic repeats questions
//! (the same FAQ asked by many users, retries, a UI re-sending on reconnect); each repeat would
//! otherwise cost a forward pass, the bulk of a query's CPU. Only questions
//! ([`Embedder::embed_query`]) are cached, keyed by model, tenant and text: bulk ingestion rarely
//! repeats and would only evict them, and a cache shared by tenants would let one tenant time
//! whether a question was just asked by another (a hit answers in well under a millisecond, a
//! miss takes a forward pass).
//!
//! Where vectors are kept is a port, [`EmbeddingCache`]: [`MemoryEmbeddingCache`] in process
//! (two generations of hash maps: hits are looked up in the current generation, then the
//! previous one and promoted; when the current one is full it becomes the previous one and the
//! oldest is dropped — LRU-like eviction in O(1)), and a shared one (Redis) so that a question
//! one instance answered is a hit on every instance. [`CachedEmbedder`] asks its caches in
//! order and fills the ones that missed. A cache that fails is a miss: it can slow a question
//! down, never fail it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::Result;
use crate::ports::Embedder;
use crate::types::Embedding;

/// Where question vectors are kept, by an opaque key (a hash of model, tenant and text).
#[async_trait]
pub trait EmbeddingCache: Send + Sync {
    /// The vector stored under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Embedding>>;
    /// Stores `vector` under `key`.
    async fn put(&self, key: &str, vector: &Embedding) -> Result<()>;
}

struct Generations {
    current: HashMap<String, Embedding>,
    previous: HashMap<String, Embedding>,
}

/// Question vectors in process memory, at most about `capacity` of them.
pub struct MemoryEmbeddingCache {
    /// Entries per generation (half the capacity).
    generation: usize,
    state: Mutex<Generations>,
}

impl MemoryEmbeddingCache {
    /// Holds up to about `capacity` vectors (at least 2).
    pub fn new(capacity: usize) -> Self {
        let generation = (capacity / 2).max(1);
        Self {
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

    fn put_locked(&self, state: &mut Generations, key: String, v: Embedding) {
        if state.current.len() >= self.generation {
            state.previous = std::mem::take(&mut state.current);
            state.current.reserve(self.generation);
        }
        state.current.insert(key, v);
    }
}

#[async_trait]
impl EmbeddingCache for MemoryEmbeddingCache {
    async fn get(&self, key: &str) -> Result<Option<Embedding>> {
        let mut state = self.lock();
        if let Some(v) = state.current.get(key) {
            return Ok(Some(v.clone()));
        }
        let Some(v) = state.previous.remove(key) else {
            return Ok(None);
        };
        self.put_locked(&mut state, key.to_owned(), v.clone());
        Ok(Some(v))
    }

    async fn put(&self, key: &str, vector: &Embedding) -> Result<()> {
        let mut state = self.lock();
        self.put_locked(&mut state, key.to_owned(), vector.clone());
        Ok(())
    }
}

/// An [`Embedder`] that remembers the vectors of recent questions in its caches.
pub struct CachedEmbedder<E: ?Sized> {
    inner: Arc<E>,
    /// Asked in order (the fastest first); each one that missed is filled.
    caches: Vec<Arc<dyn EmbeddingCache>>,
}

impl<E: Embedder + ?Sized> CachedEmbedder<E> {
    /// Caches up to about `capacity` questions in process memory (at least 2).
    pub fn new(inner: Arc<E>, capacity: usize) -> Self {
        Self::with_caches(inner, vec![Arc::new(MemoryEmbeddingCache::new(capacity))])
    }

    /// Caches questions in `caches`, asked in order.
    pub fn with_caches(inner: Arc<E>, caches: Vec<Arc<dyn EmbeddingCache>>) -> Self {
        Self { inner, caches }
    }

    /// The cache key of a question: model, tenant and text, hashed (fixed length whatever the
    /// question; a tenant name holds no NUL, so the hashed string is unambiguous).
    fn key(&self, tenant: &str, text: &str) -> String {
        let mut hash = Sha256::new();
        for part in [self.inner.model_id(), tenant, text] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hex::encode(&hash.finalize()[..20])
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
        let key = self.key(tenant, &text);
        for (level, cache) in self.caches.iter().enumerate() {
            // A failing cache is a miss (its implementation logs and counts the failure).
            if let Ok(Some(v)) = cache.get(&key).await
                && v.0.len() == self.inner.dimensions()
            {
                for faster in &self.caches[..level] {
                    let _ = faster.put(&key, &v).await;
                }
                return Ok(v);
            }
        }
        let v = self.inner.embed_query(tenant, text).await?;
        for cache in &self.caches {
            let _ = cache.put(&key, &v).await;
        }
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
