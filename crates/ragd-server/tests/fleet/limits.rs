//! One quota for the whole fleet, kept in Redis: a principal gets `RATE_LIMIT_REQUESTS` per
//! window however its requests are spread over the instances. When Redis goes away the fleet
//! keeps answering (each instance falls back to a limiter of its own, skips the shared embedding
//! cache and reads credentials from the database); when it is back, the shared quota holds
//! again.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::fleet::{Fleet, question_body};
use crate::load::{Load, failures};

const QUOTA: usize = 30;

/// The environment of both tests: `QUOTA` per principal and path group for an hour; in the
/// Redis test `/query` is exempt, so that its load measures availability, not the limiter.
fn quota_env(query_exempt: bool) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![("RATE_LIMIT_REQUESTS", "30"), ("RATE_LIMIT_WINDOW", "3600")];
    if query_exempt {
        env.push(("RAGD_RATE_LIMITS", "/query=1000000/3600"));
    }
    env
}

/// How one request of a burst ended.
#[derive(Debug)]
struct Answer {
    status: u16,
    limit: Option<String>,
    remaining: Option<u32>,
    retry_after: Option<u64>,
}

/// Sends `2 * QUOTA` requests `POST {path}` with `token`, 6 at a time, request `i` to
/// `bases[i % len]` (the three instances and nginx).
async fn burst(fleet: &Fleet, bases: &[String], token: &str, path: &str) -> Vec<Answer> {
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    futures_util::stream::iter(0..2 * QUOTA)
        .map(|i| {
            let url = format!("{}{path}", bases[i % bases.len()]);
            async move {
                let r = fleet
                    .client
                    .post(url)
                    .bearer_auth(token)
                    .json(&question_body("What causes spring tides?"))
                    .send()
                    .await
                    .expect("request");
                Answer {
                    status: r.status().as_u16(),
                    limit: header(&r, "x-ratelimit-limit"),
                    remaining: header(&r, "x-ratelimit-remaining").and_then(|v| v.parse().ok()),
                    retry_after: header(&r, "retry-after").and_then(|v| v.parse().ok()),
                }
            }
        })
        .buffer_unordered(6)
        .collect()
        .await
}

/// Asserts that exactly `QUOTA` requests of `answers` passed, one per remaining count (so they
/// were counted in one place), and that the others were refused the chapter's way.
fn exactly_one_quota(answers: &[Answer]) {
    let passed: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(
        (passed.len(), refused.len()),
        (QUOTA, QUOTA),
        "{QUOTA} of {} requests should pass, the rest get 429: {answers:?}",
        answers.len()
    );
    let remaining: BTreeSet<u32> = passed.iter().filter_map(|a| a.remaining).collect();
    let expected: BTreeSet<u32> = (0..QUOTA as u32).collect();
    assert_eq!(remaining, expected, "X-RateLimit-Remaining: {answers:?}");
    for a in answers {
        assert_eq!(a.limit.as_deref(), Some("30"), "X-RateLimit-Limit: {a:?}");
    }
    for a in refused {
        assert_eq!(a.remaining, Some(0), "{a:?}");
        assert!(
            a.retry_after.is_some_and(|s| (1..=3600).contains(&s)),
            "a 429 without a sound Retry-After: {a:?}"
        );
    }
}

#[tokio::test]
async fn one_quota_holds_across_the_fleet() {
    let Some(fleet) = Fleet::start(&quota_env(false)).await else {
        return;
    };
    let admin = fleet.token().await;
    fleet.upload_corpus(&admin, &["tides-and-moon.txt"]).await;
    let (_, key) = fleet.create_key(&admin, &["query"]).await;
    // 60 requests, 15 to each instance directly and 15 through nginx: an instance counting
    // alone would let them all through.
    let answers = burst(&fleet, &fleet.bases(), &key, "/query").await;
    exactly_one_quota(&answers);
    // The quota is the principal's: another key has its own.
    let (_, other) = fleet.create_key(&admin, &["query"]).await;
    let r = fleet.query(&fleet.nodes[2].base, &other, "tides").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_redis_the_fleet_keeps_answering_and_the_shared_quota_returns() {
    let Some(fleet) = Fleet::start_with_own_redis(&quota_env(true)).await else {
        return;
    };
    let admin = fleet.token().await;
    fleet.upload_corpus(&admin, crate::load::LOAD_CORPUS).await;
    let (_, key) = fleet.create_key(&admin, &["query"]).await;

    let client = fleet.nginx.client(Duration::from_secs(30));
    let load = Load::start(&client, &fleet.bases(), &key, 3);
    load.wait_for(30, "before the outage").await;
    let down = load.now();
    let paused = fleet.redis.url().to_owned();
    let redis = &fleet.redis;
    tokio::task::block_in_place(|| redis.pause());
    eprintln!("Redis {paused} paused");
    // Enough requests for every instance to find Redis gone (several times each), and some
    // seconds of it: reconnection attempts must not hold requests up.
    load.wait_for(60, "while Redis is down").await;
    let outage_started = Instant::now();
    while outage_started.elapsed() < Duration::from_secs(3) {
        load.wait_for(1, "while Redis is down").await;
    }
    let up = load.now();
    tokio::task::block_in_place(|| redis.resume());
    let resumed = Instant::now();
    load.wait_for(30, "after Redis is back").await;
    let seen = load.stop().await;
    for node in &fleet.nodes {
        let logs = node.logs();
        let redis: Vec<&str> = logs.lines().filter(|l| l.contains("redis")).collect();
        let last = &redis[redis.len().saturating_sub(4)..];
        eprintln!(
            "{}: {} log lines on Redis, the last: {last:#?}",
            node.name,
            redis.len()
        );
    }

    let during = seen.iter().filter(|s| s.at > down && s.at < up).count();
    eprintln!(
        "{} requests, {during} while Redis was down ({down:?}..{up:?})",
        seen.len()
    );
    assert!(
        during >= 60,
        "only {during} requests ended during the outage"
    );
    let failed = failures(&seen);
    assert!(failed.is_empty(), "Redis down {down:?}..{up:?}: {failed}");

    // Redis came back empty; once the instances are connected again, a fresh principal's
    // `/search` quota is one for the fleet again. Reconnecting may take a moment: retried with
    // a new key for up to 30 s.
    loop {
        let (_, probe) = fleet.create_key(&admin, &["query"]).await;
        let answers = burst(&fleet, &fleet.bases(), &probe, "/search").await;
        let passed = answers.iter().filter(|a| a.status == 200).count();
        eprintln!(
            "{:?} after Redis resumed: {passed} of {} passed",
            resumed.elapsed(),
            answers.len()
        );
        if passed == QUOTA || resumed.elapsed() > Duration::from_secs(30) {
            exactly_one_quota(&answers);
            break;
        }
        assert!(
            answers.iter().all(|a| a.status == 200 || a.status == 429),
            "{answers:?}"
        );
    }
}
