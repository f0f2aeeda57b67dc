//! Fuzz target `session_offer`: see `cpv4_session::testing::fuzz::offer` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cpv4_session::testing::fuzz::offer(data));
