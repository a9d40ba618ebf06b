//! `cargo fuzz run model` (nightly): see `deepiot_fuzz::Target::Model`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| deepiot_fuzz::Target::Model.check(data));
