//! Replays the checked-in corpus of the state-machine fuzz targets (`fuzz/corpus/session_*`)
//! through the same checks the targets run. With `CPV4_WRITE_SEEDS=1` it first rewrites the
//! `seed-*` files from the fuzzing scenario.

use std::path::PathBuf;

use cpv4_session::testing::fuzz::{TARGETS, seeds};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

#[test]
fn state_machine_corpus_replays_without_a_failure() {
    if std::env::var_os("CPV4_WRITE_SEEDS").is_some() {
        for (target, bytes) in seeds() {
            let dir = corpus_dir().join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("seed-genuine"), bytes).unwrap();
        }
    }
    for (target, check) in TARGETS {
        let dir = corpus_dir().join(target);
        let mut replayed = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            check(&std::fs::read(entry.unwrap().path()).unwrap());
            replayed += 1;
        }
        assert!(replayed > 0, "no corpus for fuzz target {target}");
    }
}

#[test]
fn the_genuine_messages_are_accepted_by_the_checks() {
    // Each check asserts "accepted if and only if genuine": run it on the genuine input too.
    for (target, bytes) in seeds() {
        let (_, check) = TARGETS.iter().find(|(name, _)| *name == target).unwrap();
        check(&bytes);
    }
}
