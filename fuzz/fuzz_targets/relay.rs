//! Fuzz target `relay`: see `cpv4_migrate::relay::fuzz_frames` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cpv4_migrate::relay::fuzz_frames(data));
