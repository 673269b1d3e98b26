//! Credential invalidations over Redis pub/sub: a change published by any instance (or by
//! `ragd users`/`ragd keys` beside them) reaches every subscribed instance within milliseconds.
//!
//! [`InvalidationBus::delivering`] is true only while this instance is subscribed *and* Redis
//! answers its pings: a dropped subscription or a partition that leaves the socket open both
//! turn it false, and the authenticator then reads every credential from the database. When
//! delivery resumes, [`Invalidation::Everything`] is delivered first, since messages sent
//! meanwhile were lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use ragd_core::Result;
use ragd_core::invalidation::{Invalidation, InvalidationBus, InvalidationSink};
use tokio_util::sync::CancellationToken;

use super::RedisConnection;

/// How often the connection is checked.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// Longest wait between two subscription attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Health {
    subscribed: AtomicBool,
    answering: AtomicBool,
}

/// The invalidation bus of a fleet.
pub struct RedisBus {
    redis: RedisConnection,
    channel: String,
    health: Arc<Health>,
    stop: CancellationToken,
}

impl RedisBus {
    /// A bus on `redis` (delivers nothing until [`InvalidationBus::subscribe`]).
    pub fn new(redis: RedisConnection) -> Self {
        let channel = format!("{}auth", redis.config().prefix);
        Self {
            redis,
            channel,
            health: Arc::new(Health::default()),
            stop: CancellationToken::new(),
        }
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Subscribes, delivers, and subscribes again after every loss, until `stop`.
async fn listen(
    client: redis::Client,
    channel: String,
    sink: InvalidationSink,
    health: Arc<Health>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            redis::RedisResult::Ok(pubsub)
        };
        let attempt = tokio::select! {
            () = stop.cancelled() => return,
            r = tokio::time::timeout(Duration::from_secs(5), subscribed) => r,
        };
        match attempt {
            Ok(Ok(pubsub)) => {
                backoff = Duration::from_millis(100);
                health.subscribed.store(true, Ordering::SeqCst);
                sink(Invalidation::Everything);
                tracing::info!("subscribed to credential invalidations");
                let mut messages = pubsub.into_on_message();
                loop {
                    let message = tokio::select! {
                        () = stop.cancelled() => return,
                        m = messages.next() => m,
                    };
                    let Some(message) = message else { break };
                    let payload = String::from_utf8_lossy(message.get_payload_bytes());
                    sink(Invalidation::decode(&payload));
                }
                health.subscribed.store(false, Ordering::SeqCst);
                tracing::warn!(
                    "lost the credential-invalidation subscription; credentials are read from the database until it is back"
                );
            }
            Ok(Err(err)) => tracing::debug!(%err, "cannot subscribe to invalidations yet"),
            Err(_) => tracing::debug!("subscribing to invalidations timed out"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Pings Redis; a partition that keeps the subscription's socket open shows here.
async fn watch(
    redis: RedisConnection,
    sink: InvalidationSink,
    health: Arc<Health>,
    stop: CancellationToken,
) {
    loop {
        let answering = redis.ping().await.is_ok();
        let was = health.answering.swap(answering, Ordering::SeqCst);
        if answering && !was {
            sink(Invalidation::Everything);
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(WATCH_EVERY) => {}
        }
    }
}

#[async_trait]
impl InvalidationBus for RedisBus {
    async fn publish(&self, change: Invalidation) -> Result<()> {
        let message = change.encode();
        self.redis
            .run(async |mut c| {
                redis::cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(&message)
                    .query_async::<i64>(&mut c)
                    .await
            })
            .await
            .map(drop)
    }

    fn subscribe(&self, sink: InvalidationSink) {
        tokio::spawn(listen(
            self.redis.client.clone(),
            self.channel.clone(),
            Arc::clone(&sink),
            Arc::clone(&self.health),
            self.stop.clone(),
        ));
        tokio::spawn(watch(
            self.redis.clone(),
            sink,
            Arc::clone(&self.health),
            self.stop.clone(),
        ));
    }

    fn delivering(&self) -> bool {
        self.health.subscribed.load(Ordering::SeqCst)
            && self.health.answering.load(Ordering::SeqCst)
    }
}
