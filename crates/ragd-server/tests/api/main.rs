//! End-to-end tests of the HTTP API: the real `ragd serve` binary, the real model, a real SQLite
//! file, over real HTTP on an ephemeral port.

mod answers;
mod clients;
#[path = "../common/mod.rs"]
mod common;
mod concurrency;
mod crash;
mod documents;
mod fuzz;
mod generation;
mod helpers;
mod hostile;
mod jwks_url;
mod keys;
mod lifecycle;
mod log_events;
mod matrix;
mod observability;
mod oidc;
mod otel;
mod outage;
mod portability;
mod read_paths;
mod receiver;
mod scopes;
mod search_modes;
mod security;
mod shedding;
mod tenants;
mod validation;
mod webhooks;
