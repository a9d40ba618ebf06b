//! `cargo fuzz run npy` (nightly): see `deepiot_fuzz::Target::Npy`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| deepiot_fuzz::Target::Npy.check(data));
