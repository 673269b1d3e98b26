//! Rate-limit decision latency, driven by `bench/fleet.sh`: the in-process limiter against the
//! Redis one (its Lua script over one multiplexed connection), same keys, same run. Prints one
//! JSON object per measurement on stdout.
//!
//! ```text
//! RAGD_BENCH_REDIS_URL=redis://127.0.0.1:PORT cargo bench -p ragd-backends --bench limits
//! ```
//!
//! For each limiter and each concurrency in `BENCH_LIMIT_CONCURRENCY` (`1,8,32`): `BENCH_LIMIT_HITS`
//! (20,000) decisions over 1,000 keys (principals) after 2,000 warm-up ones, each timed alone;
//! p50, p99 and max of one decision, and decisions per second overall.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ragd_backends::memory::limiter::MemoryRateLimiter;
use ragd_backends::redis::{RedisConfig, RedisConnection, RedisRateLimiter};
use ragd_core::limits::{Quota, RateLimiter};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

async fn decide(limiter: &dyn RateLimiter, run: &str, i: usize, quota: Quota) -> Duration {
    let key = format!("bench-{run}|user:t/{}", i % 1000);
    let start = Instant::now();
    limiter.hit(&key, quota).await.expect("decision");
    start.elapsed()
}

async fn measure(name: &str, limiter: Arc<dyn RateLimiter>, hits: usize, concurrency: usize) {
    let quota = Quota::new(u32::MAX, Duration::from_secs(3600)).expect("quota");
    let run = uuid::Uuid::new_v4().simple().to_string();
    for i in 0..2000 {
        decide(limiter.as_ref(), &run, i, quota).await;
    }
    let started = Instant::now();
    let per_task = hits / concurrency;
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let (limiter, run) = (Arc::clone(&limiter), run.clone());
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    times.push(decide(limiter.as_ref(), &run, t * per_task + i, quota).await);
                }
                times
            })
        })
        .collect();
    let mut times = Vec::with_capacity(hits);
    for task in tasks {
        times.extend(task.await.expect("task"));
    }
    let elapsed = started.elapsed();
    times.sort();
    println!(
        "{}",
        serde_json::json!({
            "bench": "ratelimit_decision",
            "limiter": name,
            "concurrency": concurrency,
            "decisions": times.len(),
            "p50_us": percentile(&times, 0.50),
            "p99_us": percentile(&times, 0.99),
            "max_us": percentile(&times, 1.0),
            "decisions_per_s": times.len() as f64 / elapsed.as_secs_f64(),
        })
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let hits = env("BENCH_LIMIT_HITS", 20_000usize);
    let levels: Vec<usize> = std::env::var("BENCH_LIMIT_CONCURRENCY")
        .unwrap_or_else(|_| "1,8,32".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let redis = match std::env::var("RAGD_BENCH_REDIS_URL") {
        Ok(url) => Some(
            RedisConnection::connect(RedisConfig {
                url,
                prefix: "bench:".into(),
                timeout: Duration::from_millis(250),
                cache_ttl: Duration::from_secs(60),
            })
            .await
            .expect("redis answers"),
        ),
        Err(_) => {
            eprintln!("RAGD_BENCH_REDIS_URL is not set: measuring the in-process limiter only");
            None
        }
    };
    for &c in &levels {
        measure("memory", Arc::new(MemoryRateLimiter::new()), hits, c).await;
        if let Some(redis) = &redis {
            measure(
                "redis",
                Arc::new(RedisRateLimiter::new(redis.clone())),
                hits,
                c,
            )
            .await;
        }
    }
}
