//! Fuzz target `session_accept`: see `cpv4_session::testing::fuzz::accept` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cpv4_session::testing::fuzz::accept(data));
