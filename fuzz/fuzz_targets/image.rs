//! `cargo fuzz run image` (nightly): see `deepiot_fuzz::Target::Image`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| deepiot_fuzz::Target::Image.check(data));
