//! Find by label and by `CKA_ID` in stores of 1,000 and 100,000 token objects: the growth from
//! one to the other shows whether finds use the indexes.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use cpv4_wire::consts::*;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use luna_sim::{Attribute, SimOptions, Simulator};

/// Builds a store of `count` data objects (labels `obj-<i>`), in batches of
/// 5,000 per transaction.
fn build(count: usize) -> (tempfile::TempDir, Simulator, u64) {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::open_with(dir.path(), SimOptions::default()).unwrap();
    let session = sim.open_session(0, true).unwrap();
    sim.login(session, CKU_USER, b"co-pin").unwrap();
    let mut next = 0;
    while next < count {
        let end = (next + 5_000).min(count);
        let templates: Vec<Vec<Attribute>> = (next..end)
            .map(|i| {
                vec![
                    Attribute::ulong(CKA_CLASS, CKO_DATA),
                    Attribute::bool(CKA_TOKEN, true),
                    Attribute::bytes(CKA_LABEL, format!("obj-{i}").into_bytes()),
                    Attribute::bytes(CKA_APPLICATION, b"bench".to_vec()),
                    Attribute::bytes(CKA_VALUE, vec![0xAB; 32]),
                ]
            })
            .collect();
        sim.create_objects(session, &templates).unwrap();
        next = end;
    }
    (dir, sim, session)
}

fn finds(c: &mut Criterion) {
    let mut group = c.benchmark_group("find");
    for count in [1_000usize, 100_000] {
        let (_dir, sim, session) = build(count);
        let label = format!("obj-{}", count / 2).into_bytes();
        group.bench_with_input(BenchmarkId::new("by_label", count), &label, |b, label| {
            b.iter(|| {
                let found = sim
                    .find_all(session, &[Attribute::bytes(CKA_LABEL, label.clone())])
                    .unwrap();
                assert_eq!(found.len(), 1);
                black_box(found)
            });
        });
        // Data objects have no CKA_ID: find one certificate by CKA_ID among them.
        let cert = sim
            .create_object(
                session,
                &[
                    Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE),
                    Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
                    Attribute::bool(CKA_TOKEN, true),
                    Attribute::bytes(CKA_ID, b"bench-id".to_vec()),
                    Attribute::bytes(CKA_VALUE, vec![0x30, 0x00]),
                ],
            )
            .unwrap();
        group.bench_with_input(BenchmarkId::new("by_id", count), &cert, |b, cert| {
            b.iter(|| {
                let found = sim
                    .find_all(session, &[Attribute::bytes(CKA_ID, b"bench-id".to_vec())])
                    .unwrap();
                assert_eq!(found, [*cert]);
                black_box(found)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, finds);
criterion_main!(benches);
