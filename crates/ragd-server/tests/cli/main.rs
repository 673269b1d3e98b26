//! End-to-end tests of the `ragd` binary: real process, real model, real SQLite file and index.

#[path = "../common/mod.rs"]
mod common;
mod crash;
mod eval;
mod helpers;
mod restore;
mod workflow;
