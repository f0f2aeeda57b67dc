//! Fuzz target `round_trip`: see `cpv4_wire::fuzzing::round_trip` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cpv4_wire::fuzzing::round_trip(data));
