//! `cargo fuzz run board_reply` (nightly): see `deepiot_fuzz::Target::BoardReply`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| deepiot_fuzz::Target::BoardReply.check(data));
