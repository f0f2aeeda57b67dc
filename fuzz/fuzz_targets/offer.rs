//! Fuzz target `offer`: see `cpv4_wire::fuzzing::offer` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cpv4_wire::fuzzing::offer(data));
