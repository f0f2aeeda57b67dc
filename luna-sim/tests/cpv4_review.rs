//! Attacks on the device's CPv4 engine over SQLite, from a review of it: races between
//! simulators sharing a home, failed writes in the middle of each step, tombstone trimming,
//! edited index columns (refused, never trusted), and the order of the call checks.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod common;

use std::sync::Barrier;

use common::*;
use cpv4_wire::consts::*;
use luna_sim::provision::DEFAULT_DEVICE_SERIALS;
use luna_sim::{DB_FILE, FaultPlan, SessionHandle, Simulator, TestClock};

const SOURCE: u64 = 0;
const TARGET: u64 = 1;
const NOW: i64 = 1_800_000_000;
const ROUNDS: usize = 30;

fn rv<T>(r: &luna_sim::SimResult<T>) -> CkRv {
    match r {
        Ok(_) => CKR_OK,
        Err(e) => e.rv(),
    }
}

fn db(home: &std::path::Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(home.join(DB_FILE)).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    c
}

/// (negotiation rows, session rows, tombstone rows) stored for a device.
fn rows(home: &std::path::Path, serial: &str) -> (i64, i64, i64) {
    let c = db(home);
    let q = |sql: &str| -> i64 { c.query_row(sql, [serial], |r| r.get(0)).unwrap() };
    (
        q("SELECT COUNT(*) FROM cpv4_records WHERE device_serial=?1 AND kind IN (1,2)"),
        q("SELECT COUNT(*) FROM cpv4_records WHERE device_serial=?1 AND kind = 3"),
        q("SELECT COUNT(*) FROM cpv4_records WHERE device_serial=?1 AND kind = 4"),
    )
}

/// The simulator's counts are the rows (there is no count kept apart to drift).
fn assert_consistent(sim: &Simulator, home: &std::path::Path) {
    for serial in DEFAULT_DEVICE_SERIALS {
        let (n, s, t) = sim.cpv4_counts(serial).unwrap();
        assert_eq!(
            rows(home, serial),
            (n as i64, s as i64, t as i64),
            "{serial}"
        );
    }
}

struct Neg {
    offer: Vec<u8>,
    accept: Vec<u8>,
    uid: Vec<u8>,
    confirm: Vec<u8>,
}

fn negotiate(sim: &Simulator, target: SessionHandle, source: SessionHandle) -> Neg {
    let offer = sim.cpv4_start(target, &[]).unwrap();
    let accept = sim.cpv4_continue(source, 2, &offer, None).unwrap();
    let confirm = sim
        .cpv4_continue(target, 3, &accept.output, Some(accept.uid.as_bytes()))
        .unwrap();
    Neg {
        offer,
        accept: accept.output,
        uid: accept.uid.as_bytes().to_vec(),
        confirm: confirm.output,
    }
}

// ---------------------------------------------------------------- races

#[test]
fn race_two_simulators_deliver_one_confirm() {
    let (dir, a) = fresh();
    let (at, asrc) = (login(&a, TARGET, CKU_USER), login(&a, SOURCE, CKU_USER));
    let b = open(dir.path());
    let c = open(dir.path());
    let bs = login(&b, SOURCE, CKU_USER);
    let cs = login(&c, SOURCE, CKU_USER);
    let mut tally = std::collections::BTreeMap::new();
    for _ in 0..ROUNDS {
        let n = negotiate(&a, at, asrc);
        let barrier = Barrier::new(2);
        let (r1, r2) = std::thread::scope(|s| {
            let h1 = s.spawn(|| {
                barrier.wait();
                rv(&b.cpv4_deliver_confirm(bs, &n.uid, &n.confirm))
            });
            let h2 = s.spawn(|| {
                barrier.wait();
                rv(&c.cpv4_deliver_confirm(cs, &n.uid, &n.confirm))
            });
            (h1.join().unwrap(), h2.join().unwrap())
        });
        *tally.entry((r1.min(r2), r1.max(r2))).or_insert(0) += 1;
        a.cpv4_close(asrc, &n.uid).unwrap();
        a.cpv4_close(at, &n.uid).unwrap();
    }
    assert_eq!(
        tally.keys().copied().collect::<Vec<_>>(),
        vec![(CKR_OK, CKR_SESSION_NEGOTIATION_INVALID)]
    );
    assert_consistent(&a, dir.path());
}

#[test]
fn race_two_simulators_continue_one_accept() {
    let (dir, a) = fresh();
    let (at, asrc) = (login(&a, TARGET, CKU_USER), login(&a, SOURCE, CKU_USER));
    let b = open(dir.path());
    let c = open(dir.path());
    let bt = login(&b, TARGET, CKU_USER);
    let ct = login(&c, TARGET, CKU_USER);
    let mut tally = std::collections::BTreeMap::new();
    for _ in 0..ROUNDS {
        let offer = a.cpv4_start(at, &[]).unwrap();
        let accept = a.cpv4_continue(asrc, 2, &offer, None).unwrap();
        let uid = accept.uid.as_bytes().to_vec();
        let barrier = Barrier::new(2);
        let (r1, r2) = std::thread::scope(|s| {
            let h1 = s.spawn(|| {
                barrier.wait();
                rv(&b.cpv4_continue(bt, 3, &accept.output, Some(&uid)))
            });
            let h2 = s.spawn(|| {
                barrier.wait();
                rv(&c.cpv4_continue(ct, 3, &accept.output, Some(&uid)))
            });
            (h1.join().unwrap(), h2.join().unwrap())
        });
        *tally.entry((r1.min(r2), r1.max(r2))).or_insert(0) += 1;
        a.cpv4_close(asrc, &uid).unwrap();
        a.cpv4_close(at, &uid).unwrap();
    }
    assert_eq!(
        tally.keys().copied().collect::<Vec<_>>(),
        vec![(CKR_OK, CKR_SESSION_ID_EXISTS)]
    );
    assert_consistent(&a, dir.path());
}

#[test]
fn race_two_simulators_answer_one_offer() {
    let (dir, a) = fresh();
    let (at, asrc) = (login(&a, TARGET, CKU_USER), login(&a, SOURCE, CKU_USER));
    let b = open(dir.path());
    let c = open(dir.path());
    let bs = login(&b, SOURCE, CKU_USER);
    let cs = login(&c, SOURCE, CKU_USER);
    for round in 0..ROUNDS {
        let offer = a.cpv4_start(at, &[]).unwrap();
        let barrier = Barrier::new(2);
        let (r1, r2) = std::thread::scope(|s| {
            let h1 = s.spawn(|| {
                barrier.wait();
                b.cpv4_continue(bs, 2, &offer, None).unwrap()
            });
            let h2 = s.spawn(|| {
                barrier.wait();
                c.cpv4_continue(cs, 2, &offer, None).unwrap()
            });
            (h1.join().unwrap(), h2.join().unwrap())
        });
        assert_eq!(r1, r2, "round {round}: two answers to one Offer");
        let (n, _, _) = a.cpv4_counts(DEFAULT_DEVICE_SERIALS[0]).unwrap();
        assert_eq!(n, 1, "round {round}: one negotiation only");
        a.cpv4_close(asrc, r1.uid.as_bytes()).unwrap();
    }
    assert_consistent(&a, dir.path());
}

// ---------------------------------------------------------------- faults

/// A storage failure in the commit transaction of each step rolls the whole step back; the
/// step can then be retried.
#[test]
fn a_failed_commit_of_each_step_leaves_nothing_half_applied() {
    let (dir, sim) = fresh();
    let (t, s) = (login(&sim, TARGET, CKU_USER), login(&sim, SOURCE, CKU_USER));
    // Start: second write fails.
    sim.set_fault_plan(FaultPlan {
        fail_write: Some(2),
        abort_after_objects: None,
    });
    let _ = sim.cpv4_start(t, &[]);
    sim.set_fault_plan(FaultPlan::none());
    assert_consistent(&sim, dir.path());
    assert_eq!(sim.cpv4_counts(DEFAULT_DEVICE_SERIALS[1]).unwrap().0, 0);
    let offer = sim.cpv4_start(t, &[]).unwrap();
    // Offer: second write fails.
    sim.set_fault_plan(FaultPlan {
        fail_write: Some(2),
        abort_after_objects: None,
    });
    let r = sim.cpv4_continue(s, 2, &offer, None);
    assert_eq!(rv(&r), CKR_DEVICE_ERROR);
    sim.set_fault_plan(FaultPlan::none());
    assert_consistent(&sim, dir.path());
    assert_eq!(sim.cpv4_counts(DEFAULT_DEVICE_SERIALS[0]).unwrap().0, 0);
    let accept = sim.cpv4_continue(s, 2, &offer, None).unwrap();
    let uid = accept.uid.as_bytes().to_vec();
    // Accept: second write fails.
    sim.set_fault_plan(FaultPlan {
        fail_write: Some(2),
        abort_after_objects: None,
    });
    let r = sim.cpv4_continue(t, 3, &accept.output, Some(&uid));
    assert_eq!(rv(&r), CKR_DEVICE_ERROR);
    sim.set_fault_plan(FaultPlan::none());
    assert_consistent(&sim, dir.path());
    assert_eq!(
        sim.cpv4_counts(DEFAULT_DEVICE_SERIALS[1]).unwrap().0,
        1,
        "pending kept"
    );
    let confirm = sim.cpv4_continue(t, 3, &accept.output, Some(&uid)).unwrap();
    // Confirm: second write fails.
    sim.set_fault_plan(FaultPlan {
        fail_write: Some(2),
        abort_after_objects: None,
    });
    let r = sim.cpv4_deliver_confirm(s, &uid, &confirm.output);
    assert_eq!(rv(&r), CKR_DEVICE_ERROR);
    sim.set_fault_plan(FaultPlan::none());
    assert_consistent(&sim, dir.path());
    assert_eq!(
        sim.cpv4_counts(DEFAULT_DEVICE_SERIALS[0]).unwrap(),
        (1, 0, 0)
    );
    sim.cpv4_deliver_confirm(s, &uid, &confirm.output).unwrap();
    // Close: the one write fails.
    sim.set_fault_plan(FaultPlan {
        fail_write: Some(1),
        abort_after_objects: None,
    });
    let _ = sim.cpv4_close(s, &uid);
    sim.set_fault_plan(FaultPlan::none());
    assert_eq!(
        sim.cpv4_counts(DEFAULT_DEVICE_SERIALS[0]).unwrap(),
        (0, 1, 0)
    );
    assert_consistent(&sim, dir.path());
}

/// A sweep whose transaction fails is rolled back whole (no record gone without its
/// tombstone).
#[test]
fn a_failed_sweep_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(NOW);
    let sim = open_at(dir.path(), &clock);
    for serial in DEFAULT_DEVICE_SERIALS {
        sim.set_device_time(serial, NOW).unwrap();
    }
    let (t, s) = (login(&sim, TARGET, CKU_USER), login(&sim, SOURCE, CKU_USER));
    for _ in 0..5 {
        let offer = sim.cpv4_start(t, &[]).unwrap();
        sim.cpv4_continue(s, 2, &offer, None).unwrap();
    }
    clock.advance(600);
    let before = rows(dir.path(), DEFAULT_DEVICE_SERIALS[0]);
    sim.set_fault_plan(FaultPlan {
        fail_write: Some(1),
        abort_after_objects: None,
    });
    let _ = sim.cpv4_close(s, &[9; 16]);
    sim.set_fault_plan(FaultPlan::none());
    assert_eq!(rows(dir.path(), DEFAULT_DEVICE_SERIALS[0]), before);
    let _ = sim.cpv4_close(s, &[9; 16]);
    // Sweep of both devices happens per device: device 0 swept by a call on device 0.
    let after = rows(dir.path(), DEFAULT_DEVICE_SERIALS[0]);
    assert_eq!(after, (0, 0, 10));
    assert_consistent(&sim, dir.path());
}

// ---------------------------------------------------------------- tombstones and counts

#[test]
fn tombstones_trim_at_1024_and_counts_match_rows() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(NOW);
    let sim = open_at(dir.path(), &clock);
    for serial in DEFAULT_DEVICE_SERIALS {
        sim.set_device_time(serial, NOW).unwrap();
    }
    let t = login(&sim, TARGET, CKU_USER);
    let serial = DEFAULT_DEVICE_SERIALS[1];
    for _ in 0..18 {
        for _ in 0..64 {
            sim.cpv4_start(t, &[]).unwrap();
        }
        assert_eq!(rv(&sim.cpv4_start(t, &[])), CKR_DEVICE_MEMORY);
        clock.advance(600);
    }
    let _ = sim.cpv4_close(t, &[9; 16]); // sweep
    assert_eq!(rows(dir.path(), serial), (0, 0, 1024));
    assert_consistent(&sim, dir.path());
}

// ---------------------------------------------------------------- clear columns

fn timed_home() -> (
    tempfile::TempDir,
    TestClock,
    Simulator,
    SessionHandle,
    SessionHandle,
) {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(NOW);
    let sim = open_at(dir.path(), &clock);
    for serial in DEFAULT_DEVICE_SERIALS {
        sim.set_device_time(serial, NOW).unwrap();
    }
    let (t, s) = (login(&sim, TARGET, CKU_USER), login(&sim, SOURCE, CKU_USER));
    (dir, clock, sim, t, s)
}

#[test]
fn edited_expires_at_keeps_an_expired_negotiation_unswept() {
    let (dir, clock, sim, t, s) = timed_home();
    let n = {
        let offer = sim.cpv4_start(t, &[]).unwrap();
        let accept = sim.cpv4_continue(s, 2, &offer, None).unwrap();
        let confirm = sim
            .cpv4_continue(t, 3, &accept.output, Some(accept.uid.as_bytes()))
            .unwrap();
        (accept.uid.as_bytes().to_vec(), confirm.output)
    };
    db(dir.path())
        .execute(
            "UPDATE cpv4_records SET expires_at = 9000000000000 WHERE kind = 2",
            [],
        )
        .unwrap();
    clock.advance(600);
    let first = rv(&sim.cpv4_deliver_confirm(s, &n.0, &n.1));
    let second = rv(&sim.cpv4_deliver_confirm(s, &n.0, &n.1));
    clock.advance(100_000);
    let third = rv(&sim.cpv4_deliver_confirm(s, &n.0, &n.1));
    // The edited column is bound into the seal: the record refuses to open.
    assert_eq!(
        (first, second, third),
        (CKR_DEVICE_ERROR, CKR_DEVICE_ERROR, CKR_DEVICE_ERROR)
    );
    // And the initiator's session: its sealed expiry still wins (no use past it).
    let n2 = negotiate(&sim, t, s);
    sim.cpv4_deliver_confirm(s, &n2.uid, &n2.confirm).unwrap();
    db(dir.path())
        .execute(
            "UPDATE cpv4_records SET expires_at = 9000000000000 WHERE kind = 3",
            [],
        )
        .unwrap();
    clock.advance(3600);
    let a = rv(&sim.cpv4_deliver_confirm(t, &n2.uid, &n2.confirm));
    let b = rv(&sim.cpv4_deliver_confirm(t, &n2.uid, &n2.confirm));
    assert_eq!(
        (a, b),
        (CKR_DEVICE_ERROR, CKR_DEVICE_ERROR),
        "never trusted"
    );
}

/// An edited `offer_hash` or `role` column hides its record from the replay lookup (as
/// deleting an index entry would: register A41 puts edits of the store by whoever holds its key
/// out of scope), but the record itself is never trusted again: wherever it is used, it
/// refuses to open.
#[test]
fn an_edited_offer_hash_column_is_refused_where_its_record_is_used() {
    let (dir, _clock, sim, t, s) = timed_home();
    let offer = sim.cpv4_start(t, &[]).unwrap();
    let first = sim.cpv4_continue(s, 2, &offer, None).unwrap();
    db(dir.path())
        .execute(
            "UPDATE cpv4_records SET offer_hash = randomblob(32) WHERE kind = 2",
            [],
        )
        .unwrap();
    assert_eq!(
        rv(&sim.cpv4_close(s, first.uid.as_bytes())),
        CKR_DEVICE_ERROR
    );
    let confirm = sim
        .cpv4_continue(t, 3, &first.output, Some(first.uid.as_bytes()))
        .unwrap();
    assert_eq!(
        rv(&sim.cpv4_deliver_confirm(s, first.uid.as_bytes(), &confirm.output)),
        CKR_DEVICE_ERROR
    );
}

#[test]
fn an_edited_role_column_is_refused_where_its_record_is_used() {
    let (dir, _clock, sim, t, s) = timed_home();
    let n = negotiate(&sim, t, s);
    sim.cpv4_deliver_confirm(s, &n.uid, &n.confirm).unwrap();
    assert_eq!(
        rv(&sim.cpv4_continue(s, 2, &n.offer, None)),
        CKR_SESSION_NEGOTIATION_INVALID
    );
    db(dir.path())
        .execute(
            "UPDATE cpv4_records SET role = 1 WHERE kind = 3 AND device_serial = ?1",
            [DEFAULT_DEVICE_SERIALS[0]],
        )
        .unwrap();
    let _ = n.accept;
    assert_eq!(rv(&sim.cpv4_close(s, &n.uid)), CKR_DEVICE_ERROR);
    assert_eq!(
        rv(&sim.cpv4_deliver_confirm(s, &n.uid, &n.confirm)),
        CKR_DEVICE_ERROR
    );
}

// ---------------------------------------------------------------- order of checks

#[test]
fn call_rules_come_before_protocol_disabled_and_the_clock() {
    let (_dir, sim) = fresh();
    let t = login(&sim, TARGET, CKU_USER);
    let serial = DEFAULT_DEVICE_SERIALS[1];
    sim.set_protocol_enabled(TARGET, true, false).unwrap();
    let a = rv(&sim.cpv4_continue(t, 3, &[1, 2, 3], Some(&[1, 2, 3])));
    let b = rv(&sim.cpv4_continue(t, 2, &[1, 2, 3], Some(&[1; 16])));
    let c = rv(&sim.cpv4_close(t, &[1, 2, 3]));
    let d = rv(&sim.cpv4_deliver_confirm(t, &[1, 2, 3], &[1]));
    assert_eq!(d, CKR_ARGUMENTS_BAD);
    sim.set_protocol_enabled(TARGET, true, true).unwrap();
    sim.reset_device_clock(serial).unwrap();
    let e = rv(&sim.cpv4_close(t, &[1, 2, 3]));
    let f = rv(&sim.cpv4_start(t, &[1]));
    assert_eq!(f, CKR_ARGUMENTS_BAD);
    assert_eq!(
        (a, b, c, e),
        (
            CKR_ARGUMENTS_BAD,
            CKR_ARGUMENTS_BAD,
            CKR_ARGUMENTS_BAD,
            CKR_ARGUMENTS_BAD
        )
    );
}

#[test]
fn continue_call_rules_empty_input_and_bad_step() {
    let (dir, clock, sim, t, s) = timed_home();
    let e = rv(&sim.cpv4_continue(s, 2, &[], None));
    assert_eq!(e, CKR_ARGUMENTS_BAD);
    let offer = sim.cpv4_start(t, &[]).unwrap();
    sim.cpv4_continue(s, 2, &offer, None).unwrap();
    clock.advance(600);
    let before = rows(dir.path(), DEFAULT_DEVICE_SERIALS[0]);
    let b = rv(&sim.cpv4_continue(s, 4, &offer, None));
    let after = rows(dir.path(), DEFAULT_DEVICE_SERIALS[0]);
    // Refused by the call rules: no state changes, not even a sweep (section 2.2).
    assert_eq!(b, CKR_SESSION_NEGOTIATION_INVALID);
    assert_eq!(before, after);
    sim.set_protocol_enabled(SOURCE, true, false).unwrap();
    let c = rv(&sim.cpv4_continue(s, 4, &offer, None));
    assert_eq!(c, CKR_SESSION_NEGOTIATION_INVALID);
}
