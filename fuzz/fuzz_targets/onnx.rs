//! `cargo fuzz run onnx` (nightly): see `deepiot_fuzz::Target::Onnx`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| deepiot_fuzz::Target::Onnx.check(data));
