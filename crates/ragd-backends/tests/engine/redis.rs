//! The fleet's shared state on a real Redis (Debian's redis-server): `RAGD_TEST_REDIS_URL` when
//! set (`make test` starts one), else one started here with `scripts/redis.sh` in
//! `RAGD_TEST_REDIS_DIR` (default `/var/tmp/ragd-test-redis`). The Redis limiter and cache pass
//! the same contract suites as the in-process ones; the outage test runs a server of its own,
//! since it stops it.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ragd_backends::redis::{
    RedisBus, RedisConfig, RedisConnection, RedisEmbeddingCache, RedisRateLimiter,
};
use ragd_core::invalidation::{Invalidation, InvalidationBus};
use ragd_core::limits::{Quota, RateLimiter};
use ragd_core::query_cache::{EmbeddingCache, MemoryEmbeddingCache};
use ragd_core::testing::contract_limits;
use ragd_core::types::Embedding;

fn script(args: &[&str]) -> String {
    let script = crate::helpers::root().join("scripts/redis.sh");
    let out = std::process::Command::new(&script)
        .args(args)
        .output()
        .expect("scripts/redis.sh runs");
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn shared_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        std::env::var("RAGD_TEST_REDIS_URL").unwrap_or_else(|_| {
            let dir = std::env::var("RAGD_TEST_REDIS_DIR")
                .unwrap_or_else(|_| "/var/tmp/ragd-test-redis".to_owned());
            script(&["start", &dir])
        })
    })
}

fn config(url: &str) -> RedisConfig {
    RedisConfig {
        url: url.to_owned(),
        // Every test run has keys of its own on a shared server.
        prefix: format!("t{}:", uuid::Uuid::new_v4().simple()),
        timeout: Duration::from_millis(250),
        cache_ttl: Duration::from_secs(60),
    }
}

async fn connect(config: &RedisConfig) -> RedisConnection {
    RedisConnection::connect(config.clone())
        .await
        .expect("redis answers")
}

#[tokio::test]
async fn the_in_process_cache_passes_the_contract() {
    contract_limits::embedding_cache(&MemoryEmbeddingCache::new(16), "mem").await;
}

#[tokio::test]
async fn redis_limiter_and_cache_pass_the_contracts() {
    let config = config(shared_url());
    let redis = connect(&config).await;
    contract_limits::limiter(Arc::new(RedisRateLimiter::new(redis.clone())), "redis").await;
    contract_limits::embedding_cache(&RedisEmbeddingCache::new(redis), "redis").await;
}

#[tokio::test]
async fn two_instances_share_one_count_and_one_cache() {
    let config = config(shared_url());
    let (a, b) = (connect(&config).await, connect(&config).await);
    let (limit_a, limit_b) = (
        RedisRateLimiter::new(a.clone()),
        RedisRateLimiter::new(b.clone()),
    );
    let quota = Quota::new(10, Duration::from_secs(60)).unwrap();
    let mut allowed = 0;
    for i in 0..30 {
        let limiter = if i % 2 == 0 { &limit_a } else { &limit_b };
        allowed += usize::from(limiter.hit("user:t/ana", quota).await.unwrap().allowed);
    }
    assert_eq!(allowed, 10, "the quota holds across instances");

    let v = Embedding(vec![0.5; 384]);
    RedisEmbeddingCache::new(a).put("q", &v).await.unwrap();
    assert_eq!(
        RedisEmbeddingCache::new(b).get("q").await.unwrap(),
        Some(v),
        "a question embedded on one instance is a hit on another"
    );
}

#[tokio::test]
async fn invalidations_reach_every_subscriber() {
    let config = config(shared_url());
    let (a, b) = (
        RedisBus::new(connect(&config).await),
        RedisBus::new(connect(&config).await),
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    b.subscribe(Arc::new(move |c| sink.lock().unwrap().push(c)));
    a.subscribe(Arc::new(|_| {}));
    wait_until(Duration::from_secs(5), || b.delivering() && a.delivering()).await;
    let user = Invalidation::User {
        tenant: "acme".into(),
        username: "ana".into(),
    };
    let sent = Instant::now();
    a.publish(user.clone()).await.unwrap();
    wait_until(Duration::from_secs(1), || {
        seen.lock().unwrap().contains(&user)
    })
    .await;
    println!("invalidation delivered in {:?}", sent.elapsed());
}

async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Redis stopped and started again: the limiter keeps answering from memory (fast, no error),
/// the cache misses, the bus stops vouching for the caches; all of it recovers.
#[tokio::test]
async fn a_redis_outage_fails_open_where_documented_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_str().unwrap().to_owned();
    let url = script(&["start", &dir]);
    let config = config(&url);
    let redis = connect(&config).await;
    let limiter = RedisRateLimiter::new(redis.clone());
    let cache = RedisEmbeddingCache::new(redis.clone());
    let bus = RedisBus::new(redis.clone());
    let everything = Arc::new(Mutex::new(0));
    let count = Arc::clone(&everything);
    bus.subscribe(Arc::new(move |c| {
        if c == Invalidation::Everything {
            *count.lock().unwrap() += 1;
        }
    }));
    wait_until(Duration::from_secs(5), || bus.delivering()).await;
    let quota = Quota::new(5, Duration::from_secs(60)).unwrap();
    assert!(limiter.hit("k", quota).await.unwrap().allowed);
    assert_eq!(limiter.hit_shared("k", quota).await.unwrap().remaining, 3);

    script(&["pause", &dir]);
    // The limiter answers from memory, each decision well under the Redis deadline after the
    // first failure (the breaker skips Redis for a second).
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let start = Instant::now();
        let d = limiter.hit("k", quota).await.expect("fails open, no error");
        slowest = slowest.max(start.elapsed());
        assert_eq!(d.limit, 5);
    }
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    let mut refused = 0;
    for _ in 0..10 {
        refused += usize::from(!limiter.hit("k3", quota).await.unwrap().allowed);
    }
    assert_eq!(refused, 5, "the in-memory fallback still limits");
    assert!(cache.get("q").await.unwrap_or(None).is_none());
    wait_until(Duration::from_secs(3), || !bus.delivering()).await;
    let before = *everything.lock().unwrap();

    script(&["resume", &dir]);
    wait_until(Duration::from_secs(10), || bus.delivering()).await;
    assert!(
        *everything.lock().unwrap() > before,
        "caches are dropped when delivery resumes (messages may have been missed)"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await; // the breaker's cool-down
    let fresh = limiter.hit("fresh", quota).await.unwrap();
    assert_eq!(
        limiter.hit_shared("fresh", quota).await.unwrap().remaining,
        fresh.remaining - 1,
        "counting in Redis again"
    );
    script(&["stop", &dir]);
}
