//! The cost of one CPv4 extract (one object, one blob) on a device holding 10 live sessions and
//! on one holding 1,000 (the partition's cap is 1,024): the two should be the same, since a
//! call reads only its own session's row, the expired rows and bounded counts. And the hot path
//! `cargo xtask bench` profiles: `CA_MigrateKeys` of 1,000 AES-256 token keys between the two
//! simulated HSMs (handshake, extract, insert, the target's store writes), per key.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use cpv4_wire::consts::*;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use luna_sim::{Attribute, ExtractItem, Mechanism, MigrationItem, SimOptions, Simulator};

const SOURCE: u64 = 0;
const TARGET: u64 = 1;

/// A home whose source device holds `sessions` live sessions; returns the last one's UID.
fn build(sessions: usize) -> (tempfile::TempDir, Simulator, u64, u64, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::open_with(dir.path(), SimOptions::default()).unwrap();
    let source = sim.open_session(SOURCE, true).unwrap();
    sim.login(source, CKU_USER, b"co-pin").unwrap();
    let target = sim.open_session(TARGET, true).unwrap();
    sim.login(target, CKU_USER, b"co-pin").unwrap();
    let key = sim
        .generate_key(
            source,
            &Mechanism::AesKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 32),
                Attribute::bool(CKA_TOKEN, true),
            ],
        )
        .unwrap();
    let mut uid = Vec::new();
    for _ in 0..sessions {
        let offer = sim.cpv4_start(target, &[]).unwrap();
        let accept = sim.cpv4_continue(source, 2, &offer, None).unwrap();
        let confirm = sim
            .cpv4_continue(target, 3, &accept.output, Some(accept.uid.as_bytes()))
            .unwrap();
        uid = accept.uid.as_bytes().to_vec();
        sim.cpv4_deliver_confirm(source, &uid, &confirm.output)
            .unwrap();
    }
    assert_eq!(
        sim.cpv4_counts(luna_sim::provision::DEFAULT_DEVICE_SERIALS[0])
            .unwrap()
            .1,
        sessions as u64
    );
    (dir, sim, source, key, uid)
}

fn extract(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpv4 extract, one object");
    group.sample_size(30);
    for sessions in [10usize, 1_000] {
        let (_dir, sim, source, key, uid) = build(sessions);
        let items = [ExtractItem {
            object_type: CK_CRYPTOKI_ELEMENT,
            handle: key,
            capacity: 64_000,
        }];
        group.bench_with_input(
            BenchmarkId::new("live sessions on the device", sessions),
            &items,
            |b, items| {
                b.iter(|| {
                    let out = sim
                        .cpv4_extract(source, &uid, &[], 0, items, false)
                        .unwrap();
                    assert_eq!(out.rv, CKR_OK);
                    black_box(out)
                });
            },
        );
    }
    group.finish();
}

/// How many keys one measured `migrate_keys` moves.
const MIGRATED: u64 = 1_000;

fn migrate(c: &mut Criterion) {
    let (_dir, sim, source, _, _) = build(0);
    // The partition is logged in already, by `build`'s session on it.
    let target = sim.open_session(TARGET, true).unwrap();
    let mut next = 0u64;
    let mut group = c.benchmark_group("migrate keys");
    group.sample_size(10);
    group.throughput(Throughput::Elements(MIGRATED));
    group.bench_function("aes-256 token keys, 1000 per call", |b| {
        b.iter_batched(
            // Fresh keys each time (not timed): a key migrates once, its OUID then exists.
            || {
                let templates: Vec<_> = (next..next + MIGRATED)
                    .map(|i| {
                        let mut value = [0x5a_u8; 32];
                        value[..8].copy_from_slice(&i.to_be_bytes());
                        vec![
                            Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                            Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                            Attribute::bool(CKA_TOKEN, true),
                            Attribute::bytes(CKA_VALUE, value.to_vec()),
                        ]
                    })
                    .collect();
                next += MIGRATED;
                sim.create_objects(source, &templates)
                    .unwrap()
                    .into_iter()
                    .map(|handle| MigrationItem::new(CK_CRYPTOKI_ELEMENT, handle))
                    .collect::<Vec<_>>()
            },
            |mut items| {
                assert_eq!(sim.migrate_keys(source, target, 0, &mut items), CKR_OK);
                assert!(items.iter().all(|item| item.rv == CKR_OK));
                black_box(items)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, extract, migrate);
criterion_main!(benches);
