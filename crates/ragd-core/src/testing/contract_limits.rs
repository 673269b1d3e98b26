//! The contracts of the shared-state ports a fleet needs: a [`RateLimiter`] counts exactly (also
//! under concurrent hits), keeps keys apart and resets its window; an [`EmbeddingCache`] gives
//! back exactly what was stored, under its own key only. The in-process implementations and the
//! Redis ones pass the same suites.

use std::sync::Arc;
use std::time::Duration;

use crate::limits::{Quota, RateLimiter};
use crate::query_cache::EmbeddingCache;
use crate::types::Embedding;

/// Runs the limiter contract. `unique` makes the keys of this run its own (a shared server may
/// hold keys of other runs).
pub async fn limiter(limiter: Arc<dyn RateLimiter>, unique: &str) {
    let quota = Quota::new(3, Duration::from_secs(60)).expect("quota");
    let key = format!("{unique}|a");
    for expected_remaining in [2, 1, 0] {
        let d = limiter.hit(&key, quota).await.expect("hit");
        assert!(d.allowed);
        assert_eq!(d.limit, 3);
        assert_eq!(d.remaining, expected_remaining);
        assert!(d.reset_after <= quota.window && d.reset_after > Duration::from_secs(50));
    }
    let refused = limiter.hit(&key, quota).await.expect("hit");
    assert!(!refused.allowed, "the 4th request of 3 is refused");
    assert_eq!(refused.remaining, 0);
    assert!(refused.reset_after > Duration::ZERO);

    // Keys are counted apart.
    let other = limiter
        .hit(&format!("{unique}|b"), quota)
        .await
        .expect("hit");
    assert!(other.allowed);
    assert_eq!(other.remaining, 2);

    // Concurrent hits are counted exactly: 40 at once against a quota of 15.
    let quota = Quota::new(15, Duration::from_secs(60)).expect("quota");
    let key = format!("{unique}|burst");
    let hits = (0..40).map(|_| {
        let limiter = Arc::clone(&limiter);
        let key = key.clone();
        tokio::spawn(async move { limiter.hit(&key, quota).await.expect("hit").allowed })
    });
    let mut allowed = 0;
    for hit in hits {
        allowed += usize::from(hit.await.expect("task"));
    }
    assert_eq!(allowed, 15, "exactly the quota passes");

    // The window resets.
    let quota = Quota::new(1, Duration::from_secs(1)).expect("quota");
    let key = format!("{unique}|reset");
    assert!(limiter.hit(&key, quota).await.expect("hit").allowed);
    assert!(!limiter.hit(&key, quota).await.expect("hit").allowed);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = limiter.hit(&key, quota).await.expect("hit");
    assert!(after.allowed, "a new window starts after the old one");
    assert_eq!(after.remaining, 0);
}

/// Runs the embedding-cache contract. `unique` makes the keys of this run its own.
pub async fn embedding_cache(cache: &dyn EmbeddingCache, unique: &str) {
    let key = |k: &str| format!("{unique}-{k}");
    assert_eq!(cache.get(&key("missing")).await.expect("get"), None);
    let v = Embedding(vec![0.25, -1.5, f32::MIN_POSITIVE, 3.0e-7, 1.0]);
    cache.put(&key("a"), &v).await.expect("put");
    assert_eq!(
        cache.get(&key("a")).await.expect("get"),
        Some(v.clone()),
        "the exact vector comes back"
    );
    assert_eq!(cache.get(&key("b")).await.expect("get"), None);
    let w = Embedding(vec![9.0; 384]);
    cache.put(&key("a"), &w).await.expect("put");
    assert_eq!(
        cache.get(&key("a")).await.expect("get"),
        Some(w),
        "a put replaces"
    );
}
