//! Fuzz target `blob`: see `cpv4_wire::fuzzing::blob` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cpv4_wire::fuzzing::blob(data));
