//! Retrieval evaluation: question sets and the metrics `ragd eval` prints.

pub(crate) mod metrics;
pub(crate) mod set;
