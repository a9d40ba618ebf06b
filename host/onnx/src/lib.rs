//! ONNX in and out for deepiot model files.
//!
//! [`export`] writes any deepiot model as standard ONNX (`deepiot export`).
//! [`proto`] holds the ONNX messages (the subset of `onnx.proto` a model file needs),
//! written by hand with prost's derive so that the build needs no `protoc`.
pub mod export;
pub mod proto;
