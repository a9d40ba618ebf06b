//! ONNX in and out for deepiot model files.
//!
//! [`proto`] holds the ONNX messages (the subset of `onnx.proto` a model file needs),
//! written by hand with prost's derive so that the build needs no `protoc`.
//! [`import`] translates an ONNX model into the layer list and writes a model file
//! (`deepiot import`); [`export`] writes any model file as standard ONNX (`deepiot export`).
pub mod export;
pub mod import;
pub mod proto;
