//! Question vectors in Redis, so a question one instance embedded is a hit on all of them. A
//! vector is stored as its little-endian `f32` bytes under a hashed key with an expiry
//! (`RAGD_REDIS_CACHE_TTL_SECS`), so the cache's size is bounded by the question rate, not by
//! anything a client chooses. Any failure is a miss (fail open).

use std::time::Duration;

use async_trait::async_trait;
use ragd_core::query_cache::EmbeddingCache;
use ragd_core::types::Embedding;
use ragd_core::{Error, Result};

use super::{Breaker, RedisConnection};

/// The question-embedding cache in Redis.
pub struct RedisEmbeddingCache {
    redis: RedisConnection,
    breaker: Breaker,
}

impl RedisEmbeddingCache {
    /// A cache on `redis`.
    pub fn new(redis: RedisConnection) -> Self {
        Self {
            redis,
            breaker: Breaker::new(Duration::from_secs(1)),
        }
    }

    async fn read(&self, key: &str) -> Result<Option<Embedding>> {
        let key = self.redis.key("qe", key);
        let bytes: Option<Vec<u8>> = self
            .redis
            .run(async |mut c| redis::cmd("GET").arg(&key).query_async(&mut c).await)
            .await?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        if bytes.len() % 4 != 0 {
            return Err(Error::internal("a cached vector has a partial float"));
        }
        Ok(Some(Embedding(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )))
    }

    async fn write(&self, key: &str, vector: &Embedding) -> Result<()> {
        let key = self.redis.key("qe", key);
        let bytes: Vec<u8> = vector.0.iter().flat_map(|x| x.to_le_bytes()).collect();
        let ttl = self.redis.config().cache_ttl.as_secs().max(1);
        self.redis
            .run(async |mut c| {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(bytes)
                    .arg("EX")
                    .arg(ttl)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
    }
}

#[async_trait]
impl EmbeddingCache for RedisEmbeddingCache {
    async fn get(&self, key: &str) -> Result<Option<Embedding>> {
        if !self.breaker.allows() {
            return Ok(None);
        }
        match self.read(key).await {
            Ok(v) => {
                self.breaker.succeeded();
                Ok(v)
            }
            Err(err) => {
                self.breaker.failed("embedding_cache", &err);
                Err(err)
            }
        }
    }

    async fn put(&self, key: &str, vector: &Embedding) -> Result<()> {
        if !self.breaker.allows() {
            return Ok(());
        }
        self.write(key, vector).await.inspect_err(|err| {
            self.breaker.failed("embedding_cache", err);
        })
    }
}
