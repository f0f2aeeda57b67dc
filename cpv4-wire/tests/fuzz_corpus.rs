//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) through the same checks the
//! fuzz targets run, so stable CI covers every seed and every crash input ever committed.
//!
//! With `CPV4_WRITE_SEEDS=1` the test first (re)writes the `seed-*` files from the sample
//! values, one valid encoding per format plus a few edge cases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use cpv4_wire::fuzzing::TARGETS;
use support::*;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let offer = sample_offer().encode().unwrap();
    let accept = sample_accept().encode().unwrap();
    let confirm = sample_confirm().encode().unwrap();
    let blob = sample_blob().encode().unwrap().to_vec();
    let attributes = sample_attributes().encode();
    let compact = sample_attributes().encode_as(cpv4_wire::ObjectEncoding::CompactAttributeList);
    let mut leet = sample_offer();
    leet.psk = cpv4_wire::PskOffer::LeetTags(vec![[1; 32], [2; 32]]);
    leet.binders = vec![[3; 32], [4; 32]];
    let tagged = |selector: u8, bytes: &[u8]| [&[selector][..], bytes].concat();
    vec![
        ("offer", "seed-offer", offer.clone()),
        ("offer", "seed-offer-leet", leet.encode().unwrap()),
        ("accept", "seed-accept", accept.clone()),
        ("confirm", "seed-confirm", confirm.clone()),
        ("blob", "seed-blob", blob.clone()),
        ("attributes", "seed-attributes", attributes.clone()),
        ("attributes", "seed-attributes-compact", compact.clone()),
        ("attributes", "seed-empty", Vec::new()),
        ("round_trip", "seed-offer", tagged(0, &offer)),
        ("round_trip", "seed-accept", tagged(1, &accept)),
        ("round_trip", "seed-confirm", tagged(2, &confirm)),
        ("round_trip", "seed-blob", tagged(3, &blob)),
        ("round_trip", "seed-attributes", tagged(4, &attributes)),
        ("round_trip", "seed-attributes-compact", tagged(4, &compact)),
    ]
}

#[test]
fn checked_in_corpus_replays_without_a_failure() {
    if std::env::var_os("CPV4_WRITE_SEEDS").is_some() {
        for (target, name, bytes) in seeds() {
            let dir = corpus_dir().join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    for (target, check) in TARGETS {
        let dir = corpus_dir().join(target);
        let mut replayed = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            check(&std::fs::read(&path).unwrap());
            replayed += 1;
        }
        assert!(replayed > 0, "no corpus for fuzz target {target}");
    }
}

#[test]
fn seeds_on_disk_are_the_current_encodings() {
    // A format change must come with new seeds (run this test with CPV4_WRITE_SEEDS=1).
    for (target, name, bytes) in seeds() {
        let path = corpus_dir().join(target).join(name);
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(on_disk, bytes, "{} is stale", path.display());
    }
}
