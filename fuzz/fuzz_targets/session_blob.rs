//! Fuzz target `session_blob`: see `cpv4_session::testing::fuzz::blob` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cpv4_session::testing::fuzz::blob(data));
