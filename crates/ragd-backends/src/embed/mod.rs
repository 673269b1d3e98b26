//! The embedding model: resolving it, tokenizing, batching, and the runtimes that execute it
//! (OpenVINO, ONNX Runtime) behind one queue.

pub mod model;
pub mod onnx;
pub mod openvino;
pub mod queue;
pub mod token_batch;
pub mod tokenizer;
