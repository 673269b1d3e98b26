//! End-to-end tests of the engine through its real parts: all-MiniLM-L6-v2 on ONNX Runtime, a
//! real SQLite file, the real HNSW index on disk, the real loaders. The model must be present
//! (`make model`, which `make test` runs first); these tests never skip, except the Chroma ones
//! (`chroma*.rs`), which need a Chroma server named by `RAGD_TEST_CHROMA_URL` and say so when it
//! is not set, and the multilingual-e5-small ones (`e5.rs`), which need `make model-e5` and say
//! so when its folder is missing.

mod chroma;
mod chroma_failures;
mod concurrent_writes;
mod contracts;
mod corpus;
mod e5;
mod embedding;
mod helpers;
mod index_failure;
mod lexical;
mod lifecycle;
mod persistence;
mod pg;
mod pg_failures;
mod postgres;
mod redis;
