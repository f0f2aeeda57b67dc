//! The cost of a full CPv4 handshake (both sides) beside the sum of the P-256 operations it
//! performs, measured in the same run; and key-blob seal and open per object.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use cpv4_crypto::attest::verify_signature;
use cpv4_crypto::ecdh::EphemeralSecret;
use cpv4_session::testing::*;
use cpv4_wire::ElementType;

fn handshake(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake");
    let mut pair = Pair::new();
    group.bench_function("full, both sides", |b| {
        b.iter(|| {
            let exchange = pair.establish();
            // Keep the tables small: a real deployment closes its sessions.
            pair.source
                .close(SOURCE, &pair.responder, T, exchange.uid.as_bytes())
                .unwrap();
            pair.target
                .close(TARGET, &pair.initiator, T, exchange.uid.as_bytes())
                .unwrap();
        })
    });

    // The P-256 work of one handshake: 2 ephemeral key generations, 2 ECDH, 2 transcript
    // signatures, and 6 verifications (2 chain links and 1 transcript signature per side).
    let mut rng = rng(5);
    let identity = &pair.initiator.identity.partition;
    let key = *identity.verifying_key();
    let message = [7u8; 64];
    let signature = identity.sign(&message);
    group.bench_function("sum of its p256 operations", |b| {
        b.iter(|| {
            let (a, z) = (
                EphemeralSecret::generate(&mut rng),
                EphemeralSecret::generate(&mut rng),
            );
            black_box(a.diffie_hellman(&z.public_key()));
            black_box(z.diffie_hellman(&a.public_key()));
            black_box(identity.sign(&message));
            black_box(identity.sign(&message));
            for _ in 0..6 {
                verify_signature(&key, &message, &signature).unwrap();
            }
        })
    });
    group.finish();
}

fn blobs(c: &mut Criterion) {
    let mut group = c.benchmark_group("key blob");
    let mut pair = Pair::new();
    let uid = pair.establish().uid;
    // 174 and 475 bytes: an AES-256 key's attributes in encodings 2 and 1 (protocol.md 8.4).
    for size in [32usize, 174, 475, 2048] {
        let payload = vec![0x42u8; size];
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("seal", size), &payload, |b, payload| {
            b.iter(|| {
                pair.source
                    .seal(
                        SOURCE,
                        &pair.responder,
                        T,
                        uid.as_bytes(),
                        ElementType::Cryptoki,
                        payload,
                    )
                    .unwrap()
            })
        });
        let blob = pair
            .source
            .seal(
                SOURCE,
                &pair.responder,
                T,
                uid.as_bytes(),
                ElementType::Cryptoki,
                &payload,
            )
            .unwrap();
        group.bench_with_input(BenchmarkId::new("open", size), &blob, |b, blob| {
            b.iter(|| {
                pair.target
                    .open(TARGET, &pair.initiator, T, uid.as_bytes(), blob)
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, handshake, blobs);
criterion_main!(benches);
