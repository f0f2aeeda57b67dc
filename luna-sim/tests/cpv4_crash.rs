//! A child process inserting 50,000 cloned objects in calls of 1,000 is killed with SIGKILL at
//! random moments: after each kill the target holds only whole calls' worth of whole objects,
//! exactly the stored objects' sequence numbers are accepted, the store passes its integrity
//! check, and the source partition's rows are byte for byte as before.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::*;
use cpv4_wire::consts::*;
use luna_sim::{Attribute, ExtractItem, FAULTS_ENV, Simulator};
use sha2::{Digest, Sha256};

const LOAD: &str = env!("CARGO_BIN_EXE_luna-sim-load");
const BATCHES: u32 = 50;
const BATCH_SIZE: u32 = 1_000;
const SOURCE: u64 = 0;
const TARGET: u64 = 1;

/// SHA-256 of every row of the source partition's objects (each holds all its attributes).
fn source_rows(home: &Path) -> [u8; 32] {
    let conn = rusqlite::Connection::open(home.join(luna_sim::DB_FILE)).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT id, class, label, ckid, ouid, private, public, sealed
             FROM objects WHERE slot = ?1 ORDER BY id",
        )
        .unwrap();
    let mut hash = Sha256::new();
    let mut rows = stmt.query([SOURCE as i64]).unwrap();
    while let Some(row) = rows.next().unwrap() {
        for i in 0..8 {
            match row.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Integer(v) => hash.update(v.to_be_bytes()),
                rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => {
                    hash.update((b.len() as u64).to_be_bytes());
                    hash.update(b);
                }
                other => hash.update(format!("{other:?}")),
            }
        }
    }
    hash.finalize().into()
}

fn inserter_command(home: &Path, dir: &Path) -> Command {
    let mut command = Command::new(LOAD);
    command
        .arg("cpv4-insert")
        .arg(home)
        .arg(TARGET.to_string())
        .arg(dir)
        .arg(BATCH_SIZE.to_string())
        .env_remove(FAULTS_ENV);
    command
}

fn batch_blobs(dir: &Path, batch: u32) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(dir.join(format!("batch-{batch}"))).unwrap();
    let mut blobs = Vec::new();
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        blobs.push(rest[4..4 + len].to_vec());
        rest = &rest[4 + len..];
    }
    blobs
}

/// Checks the store after a kill; returns the number of whole batches on the target.
fn verify(home: &Path, dir: &Path, uid: &[u8], source_hash: [u8; 32], every_blob: bool) -> u32 {
    let sim = open(home);
    let report = sim.integrity_check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let target = login(&sim, TARGET, CKU_USER);
    let mut complete = 0;
    for batch in 0..BATCHES {
        let found = sim
            .find_all(
                target,
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
            }
            n => panic!("batch {batch} has {n} of {BATCH_SIZE} objects"),
        }
    }
    // Exactly the stored objects' sequence numbers are accepted: a stored batch's blobs are
    // replays, the others still open. Every blob at the end; around the boundary (and the
    // first blob of every batch) after a kill.
    for batch in 0..BATCHES {
        let blobs = batch_blobs(dir, batch);
        let near = batch + 1 >= complete && batch <= complete;
        let checked: Vec<&[u8]> = if every_blob || near {
            blobs.iter().map(Vec::as_slice).collect()
        } else {
            vec![blobs[0].as_slice()]
        };
        let codes = sim.cpv4_probe(target, uid, &checked).unwrap();
        let expected = if batch < complete {
            CKR_CPV4_MSG_ERROR
        } else {
            CKR_OK
        };
        assert!(
            codes.iter().all(|code| *code == expected),
            "batch {batch} (complete {complete}): {}",
            codes.iter().filter(|code| **code != expected).count()
        );
    }
    assert_eq!(source_rows(home), source_hash, "the source changed");
    complete
}

#[test]
fn sigkill_during_inserts_leaves_whole_calls_and_exact_sequence_numbers() {
    let home_dir = tempfile::tempdir().unwrap();
    let home = home_dir.path();
    let status = Command::new(LOAD)
        .arg("batches")
        .arg(home)
        .arg(BATCHES.to_string())
        .arg(BATCH_SIZE.to_string())
        .env_remove(FAULTS_ENV)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let source_hash = source_rows(home);
    // Negotiate and extract everything in this process, a batch per file.
    let blob_dir = tempfile::tempdir().unwrap();
    let dir = blob_dir.path();
    let uid = {
        let sim: Simulator = open(home);
        let source = login(&sim, SOURCE, CKU_USER);
        let target = login(&sim, TARGET, CKU_USER);
        let uid = confirmed_session(&sim, source, target);
        for batch in 0..BATCHES {
            let handles = sim
                .find_all(
                    source,
                    &[Attribute::bytes(
                        CKA_ID,
                        format!("batch-{batch}").into_bytes(),
                    )],
                )
                .unwrap();
            let items: Vec<_> = handles
                .iter()
                .map(|&handle| ExtractItem {
                    object_type: CK_CRYPTOKI_ELEMENT,
                    handle,
                    capacity: 64_000,
                })
                .collect();
            let out = sim
                .cpv4_extract(source, &uid, &[], 0, &items, false)
                .unwrap();
            assert_eq!(out.rv, CKR_OK);
            let mut file = Vec::new();
            for blob in out.blobs {
                let blob = blob.unwrap();
                file.extend_from_slice(&(blob.len() as u32).to_be_bytes());
                file.extend_from_slice(&blob);
            }
            std::fs::write(dir.join(format!("batch-{batch}")), file).unwrap();
        }
        std::fs::write(dir.join("uid"), &uid).unwrap();
        uid
    };
    assert_eq!(
        source_rows(home),
        source_hash,
        "extraction changed the source"
    );
    let started = Instant::now();
    let (mut kills, mut previous) = (0, 0);
    let mut killer = Killer::default();
    while kills < 20 {
        let finished = killer.run(&mut inserter_command(home, dir));
        let complete = verify(home, dir, &uid, source_hash, false);
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
        "the inserter finished after {kills} kills, though each run commits about two batches"
    );
    assert!(
        inserter_command(home, dir)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(verify(home, dir, &uid, source_hash, true), BATCHES);
    eprintln!("cpv4 crash test: {kills} kills, {:?}", started.elapsed());
}
