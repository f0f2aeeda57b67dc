//! Decoding never allocates more than a small multiple of its input: a hostile peer cannot make
//! a decoder allocate memory its message did not pay for with its own size.
//!
//! This file holds one test, so the counting global allocator sees (almost) only the decoders.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use std::alloc::System;

use bytes::{BufMut, Bytes};
use cpv4_wire::limits::{MAX_CERTIFICATE_SIZE, MAX_CHAIN_LENGTH, MAX_OFFERED_ALGORITHMS};
use cpv4_wire::{Accept, AttributeList, Confirm, KeyBlob, Offer};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use support::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allowed: 4 bytes per input byte, plus a fixed kilobyte for small inputs.
fn budget(input_len: usize) -> usize {
    4 * input_len + 1024
}

fn measure(name: &str, input: &[u8], decode: impl Fn(&[u8]) -> bool) {
    let region = Region::new(GLOBAL);
    let decoded = decode(input);
    let allocated = region.change().bytes_allocated;
    assert!(
        allocated <= budget(input.len()),
        "{name}: {allocated} bytes allocated for {} input bytes (decoded: {decoded})",
        input.len()
    );
}

fn all_decoders(name: &str, input: &[u8]) {
    let shared = Bytes::copy_from_slice(input);
    measure(&format!("{name} as Offer"), input, |b| {
        Offer::decode(b).is_ok()
    });
    measure(&format!("{name} as Accept"), input, |b| {
        Accept::decode(b).is_ok()
    });
    measure(&format!("{name} as Confirm"), input, |b| {
        Confirm::decode(b).is_ok()
    });
    measure(&format!("{name} as blob"), input, |_| {
        KeyBlob::decode(&shared).is_ok()
    });
    measure(&format!("{name} as attributes"), input, |_| {
        AttributeList::decode(&shared).is_ok()
    });
}

#[test]
fn decoders_allocate_at_most_a_small_multiple_of_their_input() {
    // Valid messages of every kind, including the largest lists and chains allowed.
    let mut big_offer = sample_offer();
    big_offer.algorithms.suites = (1..=MAX_OFFERED_ALGORITHMS as u32).collect();
    big_offer.algorithms.kdfs = (1..=MAX_OFFERED_ALGORITHMS as u32).collect();
    big_offer.trusted_roots = (0..16u8).map(|i| [i; 32]).collect();
    let mut big_accept = sample_accept();
    big_accept.tbs.chain = vec![vec![0x30; MAX_CERTIFICATE_SIZE]; MAX_CHAIN_LENGTH];
    let inputs = [
        ("offer", sample_offer().encode().unwrap()),
        ("large offer", big_offer.encode().unwrap()),
        ("accept", sample_accept().encode().unwrap()),
        ("large accept", big_accept.encode().unwrap()),
        ("confirm", sample_confirm().encode().unwrap()),
        ("blob", sample_blob().encode().unwrap().to_vec()),
        ("attributes", sample_attributes().encode()),
    ];
    for (name, input) in &inputs {
        all_decoders(name, input);
    }

    // Hostile shapes: lists of the smallest possible entries, and lengths that claim more than
    // the input holds.
    let tiny_ints = seq(&[seq(&vec![int(0); 5000])]);
    all_decoders("many tiny integers", &tiny_ints);
    let mut claims_4gib = vec![0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF];
    claims_4gib.extend([0x02, 0x01, 0x01]);
    all_decoders("length claims 4 GiB", &claims_4gib);
    let mut attributes = Vec::new();
    for ty in 0..10_000u64 {
        attributes.put_u64(0x1000 + ty);
        attributes.put_u32(0);
    }
    all_decoders("many empty attributes", &attributes);
}
