//! Fuzz target `session_state`: see `cpv4_session::testing::fuzz::state` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cpv4_session::testing::fuzz::state(data));
