//! Fuzz target `confirm`: see `cpv4_wire::fuzzing::confirm` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cpv4_wire::fuzzing::confirm(data));
