//! ragd's domain: the types, the ports (traits) that backends implement, and the pipelines that
//! use them — ingestion (extract → chunk → embed → store) and retrieval (embed → search → answer).
//!
//! This crate has no HTTP, SQL or ML dependency: backends live in `ragd-backends` and are chosen
//! once at start-up; every transport (CLI, HTTP, workers) goes through [`RagService`].

pub mod account_service;
pub mod accounts;
pub mod answer;
pub mod authz;
pub mod chunking;
pub mod conversations;
pub mod error;
pub mod events;
pub mod generation;
pub mod guardrails;
pub mod invalidation;
pub mod jobs;
pub mod limits;
pub mod ports;
pub mod query_cache;
pub mod relevance;
pub mod retrieval;
pub mod service;
pub mod types;
pub mod webhooks;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use error::{Error, Result};
pub use service::{FileOutcome, IngestOutcome, RagService, ServiceLimits};
