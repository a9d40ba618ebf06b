//! Compute kernels on plain slices. They know nothing of graphs or files: shapes come in
//! as numbers, buffers as slices whose lengths the planner has already checked. Inner loops
//! are written so that LLVM vectorises them with SSE (target-cpu=silvermont), never AVX.
pub mod activation;
pub mod conv;
pub mod gemm;
pub mod layout;
pub mod pool;
pub mod quant;
pub mod rnn;
pub mod simd;
pub mod sparse;
pub mod tile;
