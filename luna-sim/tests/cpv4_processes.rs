//! CPv4 negotiations and sessions live in the device (the home's database), not in a process:
//! separate OS processes (the crate's `luna-sim-load cpv4 ...`) run the steps of one migration,
//! and two processes delivering one Confirm at once never both win.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use cpv4_wire::consts::*;
use luna_sim::Attribute;

const LOAD: &str = env!("CARGO_BIN_EXE_luna-sim-load");
const SOURCE: u64 = 0;
const TARGET: u64 = 1;

fn step(home: &Path, slot: u64, step: &str, dir: &Path) -> Output {
    Command::new(LOAD)
        .args(["cpv4"])
        .arg(home)
        .arg(slot.to_string())
        .arg(step)
        .arg(dir)
        .env_remove(luna_sim::FAULTS_ENV)
        .output()
        .unwrap()
}

#[track_caller]
fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn three_processes_share_one_negotiation_and_a_fourth_closes_it() {
    let (home, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let values = [[0x11u8; 32], [0x22; 32], [0x33; 32]];
    for (i, value) in values.iter().enumerate() {
        sim.create_object(source, &aes_template(&format!("key-{i}"), value, false))
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let (home, dir) = (home.path(), dir.path());
    ok(&step(home, TARGET, "start", dir)); // process 1: Start on the target
    ok(&step(home, SOURCE, "respond", dir)); // process 2: both Continues
    ok(&step(home, TARGET, "confirm", dir));
    ok(&step(home, SOURCE, "extract", dir)); // process 3: Extract and Insert
    ok(&step(home, TARGET, "insert", dir));
    ok(&step(home, SOURCE, "close", dir)); // process 4: closes on both sides
    ok(&step(home, TARGET, "close", dir));
    // The clones are on the target, with their values; the session is gone on both devices.
    let target = login(&sim, TARGET, CKU_USER);
    for (i, value) in values.iter().enumerate() {
        let found = sim
            .find_all(
                target,
                &[Attribute::bytes(CKA_LABEL, format!("key-{i}").into_bytes())],
            )
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(read(&sim, target, found[0], CKA_VALUE), value);
    }
    for serial in luna_sim::provision::DEFAULT_DEVICE_SERIALS {
        assert_eq!(sim.cpv4_counts(serial).unwrap().1, 0, "{serial}");
    }
    // Closed: an insert of the same blobs is refused by the target's device.
    let refused = step(home, TARGET, "insert", dir);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("CKR_SESSION_ID_INVALID"));
}

#[test]
fn two_processes_delivering_one_confirm_one_wins_every_time() {
    let (home, _sim) = fresh();
    let home = home.path();
    for round in 0..100 {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        ok(&step(home, TARGET, "start", dir));
        ok(&step(home, SOURCE, "respond", dir));
        ok(&step(home, TARGET, "confirm", dir));
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(LOAD)
                    .args(["cpv4"])
                    .arg(home)
                    .arg(SOURCE.to_string())
                    .arg("deliver")
                    .arg(dir)
                    .env_remove(luna_sim::FAULTS_ENV)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<Output> = children
            .into_iter()
            .map(|child| child.wait_with_output().unwrap())
            .collect();
        let wins = outputs.iter().filter(|o| o.status.success()).count();
        assert_eq!(wins, 1, "round {round}: {outputs:?}");
        let loser = outputs.iter().find(|o| !o.status.success()).unwrap();
        assert_eq!(loser.status.code(), Some(2), "round {round}: {loser:?}");
        assert!(
            String::from_utf8_lossy(&loser.stdout).contains("CKR_SESSION_NEGOTIATION_INVALID"),
            "round {round}: {loser:?}"
        );
        ok(&step(home, SOURCE, "close", dir));
        ok(&step(home, TARGET, "close", dir));
    }
}

/// Moves both default devices' clocks by `secs` (the HSM time lives in the home's database,
/// so every process sees it; HSM policy 57 goes off so the offset takes effect).
fn advance_devices(sim: &luna_sim::Simulator, secs: i64) {
    for serial in luna_sim::provision::DEFAULT_DEVICE_SERIALS {
        let now = sim.device_time(serial).unwrap();
        sim.set_hsm_policy(serial, HSM_POLICY_SYNC_HOST_TIME, false)
            .unwrap();
        sim.set_device_time(serial, now + secs).unwrap();
    }
}

#[track_caller]
fn refused(output: &Output, code: &str) {
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains(code), "expected {code}, got {printed}");
}

#[test]
fn expiry_rules_hold_across_processes() {
    let (home, sim) = fresh();
    let home = home.path();
    // A negotiation past 10 minutes: the first process to try sees it expired, the next one
    // finds it swept.
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    ok(&step(home, TARGET, "start", dir));
    ok(&step(home, SOURCE, "respond", dir));
    advance_devices(&sim, 601);
    refused(
        &step(home, TARGET, "confirm", dir),
        "CKR_SESSION_NEGOTIATION_EXPIRED",
    );
    refused(
        &step(home, TARGET, "confirm", dir),
        "CKR_SESSION_NEGOTIATION_NOT_STARTED",
    );
    // A session past its hour, on the source: expired, then invalid, each in a new process.
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    ok(&step(home, TARGET, "start", dir));
    ok(&step(home, SOURCE, "respond", dir));
    ok(&step(home, TARGET, "confirm", dir));
    ok(&step(home, SOURCE, "deliver", dir));
    advance_devices(&sim, 3600);
    refused(
        &step(home, SOURCE, "check-session", dir),
        "CKR_SESSION_ID_EXPIRED",
    );
    refused(
        &step(home, SOURCE, "check-session", dir),
        "CKR_SESSION_ID_INVALID",
    );
    // Closing is still CKR_OK for a UID the partition knew (register A2).
    ok(&step(home, SOURCE, "close", dir));
}
