//! ONNX in and out for deepiot model files.
//!
//! [`proto`] holds the ONNX messages (the subset of `onnx.proto` a model file needs),
//! written by hand with prost's derive so that the build needs no `protoc`.
//! [`import`] translates an ONNX model into the layer list and writes a model file.
pub mod import;
pub mod proto;
