//! The cost of one CPv4 extract (one object, one blob) on a device holding 10 live sessions and
//! on one holding 1,000 (the partition's cap is 1,024): the two should be the same, since a
//! call reads only its own session's row, the expired rows and bounded counts.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use cpv4_wire::consts::*;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use luna_sim::{Attribute, ExtractItem, Mechanism, SimOptions, Simulator};

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

criterion_group!(benches, extract);
criterion_main!(benches);
