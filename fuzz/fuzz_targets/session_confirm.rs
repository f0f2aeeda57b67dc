//! Fuzz target `session_confirm`: see `cpv4_session::testing::fuzz::confirm` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cpv4_session::testing::fuzz::confirm(data));
