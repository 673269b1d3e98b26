//! In-process implementations for a single node: the rate limiter.

pub mod limiter;
