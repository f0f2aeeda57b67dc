//! Several processes on one home: crash safety under SIGKILL, an abort injected after a
//! committed batch, and two writers at once. The children run the crate's `luna-sim-load`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::{Killer, login, open};
use cpv4_wire::consts::*;
use luna_sim::{Attribute, FAULTS_ENV};

const LOAD: &str = env!("CARGO_BIN_EXE_luna-sim-load");
const BATCHES: u32 = 100;
const BATCH_SIZE: u32 = 500;

fn spawn_batches(home: &Path, faults: Option<&str>) -> Child {
    batches_command(home, faults)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn batches_command(home: &Path, faults: Option<&str>) -> Command {
    let mut cmd = Command::new(LOAD);
    cmd.args([
        "batches",
        home.to_str().unwrap(),
        &BATCHES.to_string(),
        &BATCH_SIZE.to_string(),
    ]);
    match faults {
        Some(plan) => cmd.env(FAULTS_ENV, plan),
        None => cmd.env_remove(FAULTS_ENV),
    };
    cmd
}

/// Reopens the store and checks it: integrity, whole batches only, present batches a prefix,
/// and the values of the last complete batch. Returns the number of complete batches.
fn verify(home: &Path) -> u32 {
    let sim = open(home);
    let report = sim.integrity_check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let session = login(&sim, 0, CKU_USER);
    let mut complete = 0;
    let mut last = Vec::new();
    for batch in 0..BATCHES {
        let found = sim
            .find_all(
                session,
                &[Attribute::bytes(
                    CKA_ID,
                    format!("batch-{batch}").into_bytes(),
                )],
            )
            .unwrap();
        match found.len() as u32 {
            0 => {}
            BATCH_SIZE => {
                assert_eq!(complete, batch, "batch {batch} present after a missing one");
                complete += 1;
                last = found;
            }
            n => panic!("batch {batch} has {n} of {BATCH_SIZE} objects"),
        }
    }
    assert_eq!(report.objects, u64::from(complete * BATCH_SIZE));
    assert_eq!(report.sealed_values, report.objects);
    for handle in last {
        let values = sim
            .get_attribute_value(session, handle, &[CKA_LABEL, CKA_VALUE, CKA_OUID])
            .unwrap();
        let [
            luna_sim::AttributeValue::Value(label),
            luna_sim::AttributeValue::Value(value),
            luna_sim::AttributeValue::Value(ouid),
        ] = values.as_slice()
        else {
            panic!("object {handle} is not whole: {values:?}");
        };
        let label = String::from_utf8(label.to_vec()).unwrap();
        let (batch, index) = label[1..].split_once('-').unwrap();
        let (batch, index): (u32, u32) = (batch.parse().unwrap(), index.parse().unwrap());
        assert_eq!(batch, complete - 1);
        assert_eq!(&value[..4], &batch.to_be_bytes());
        assert_eq!(&value[4..8], &index.to_be_bytes());
        assert_eq!(ouid.len(), luna_sim::OUID_LEN);
    }
    complete
}

#[test]
fn sigkill_at_random_moments_leaves_whole_batches_only() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    // Provision first, so every kill lands in object writes.
    drop(open(home));
    let started = Instant::now();
    let mut kills = 0;
    let mut previous = 0;
    let mut killer = Killer::default();
    while kills < 20 {
        let finished = killer.run(&mut batches_command(home, None));
        let complete = verify(home);
        assert!(
            complete >= previous,
            "batches disappeared: {complete} < {previous}"
        );
        previous = complete;
        if finished {
            break;
        }
        kills += 1;
    }
    assert!(
        kills >= 20,
        "the writer finished after {kills} kills, though each run commits about two batches"
    );
    // Let it finish.
    let status = spawn_batches(home, None).wait().unwrap();
    assert!(status.success());
    assert_eq!(verify(home), BATCHES);
    eprintln!("crash test: {kills} kills, {:?}", started.elapsed());
}

#[test]
fn abort_after_objects_stops_after_a_committed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let status = spawn_batches(home, Some("abort_after_objects=1000"))
        .wait()
        .unwrap();
    assert!(!status.success());
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(6), "expected SIGABRT, got {status:?}");
    }
    assert_eq!(verify(home), 2);
    // An injected write failure is reported and rolls back: the batch is absent.
    let status = spawn_batches(home, Some("fail_write=1")).wait().unwrap();
    assert!(!status.success());
    assert_eq!(verify(home), 2);
}

#[test]
fn two_processes_create_and_find_in_one_home_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("shared");
    // Both children start on an empty home and race to provision it.
    let children: Vec<Child> = ["left", "right"]
        .iter()
        .map(|tag| {
            Command::new(LOAD)
                .args(["mixed", home.to_str().unwrap(), tag, "150"])
                .env_remove(FAULTS_ENV)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let sim = open(&home);
    assert!(sim.integrity_check().unwrap().is_ok());
    assert_eq!(sim.slots().unwrap(), vec![0, 1]);
    let session = login(&sim, 0, CKU_USER);
    for tag in ["left", "right"] {
        let found = sim
            .find_all(
                session,
                &[Attribute::bytes(CKA_APPLICATION, tag.as_bytes().to_vec())],
            )
            .unwrap();
        assert_eq!(found.len(), 150);
    }
    assert_eq!(sim.manufacturer_roots().unwrap().len(), 1);
}

/// Four processes open one fresh home at the same moment, twenty times over. SQLite does not
/// call its busy handler while a connection switches a new database to WAL, so the
/// switch is retried; without that retry, about one opener in seven failed with "database is
/// locked".
#[test]
fn simultaneous_first_opens_of_one_home_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..20 {
        let home = dir.path().join(format!("fresh-{round}"));
        let children: Vec<Child> = (0..4)
            .map(|n| {
                Command::new(LOAD)
                    .args(["mixed", home.to_str().unwrap(), &format!("p{n}"), "1"])
                    .env_remove(FAULTS_ENV)
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut child in children {
            let status = child.wait().unwrap();
            assert!(
                status.success(),
                "round {round}: an opener failed: {status:?}"
            );
        }
        let sim = open(&home);
        assert!(sim.integrity_check().unwrap().is_ok());
        assert_eq!(sim.manufacturer_roots().unwrap().len(), 1);
    }
}
