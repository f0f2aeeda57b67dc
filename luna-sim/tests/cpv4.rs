//! The CPv4 engine inside the simulated HSM: negotiations between the two default HSMs of one
//! home through the `Simulator` API, the device-side checks (role, policies, firmware, clock),
//! and records that live in the home's database, shared by every simulator that opens it.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use cpv4_wire::consts::*;
use luna_sim::provision::{DEFAULT_DEVICE_SERIALS, DEFAULT_SO_PIN};
use luna_sim::{SessionHandle, SimOptions, Simulator, TestClock};

const SOURCE: u64 = 0;
const TARGET: u64 = 1;
const NOW: i64 = 1_800_000_000;

fn open_at(home: &std::path::Path, clock: &TestClock) -> Simulator {
    Simulator::open_with(
        home,
        SimOptions {
            clock: Arc::new(clock.clone()),
            ..SimOptions::default()
        },
    )
    .unwrap()
}

#[track_caller]
fn assert_rv<T: std::fmt::Debug>(result: luna_sim::SimResult<T>, expected: CkRv) {
    match result {
        Ok(value) => panic!("expected {}, got Ok({value:?})", rv_display(expected)),
        Err(error) => assert_eq!(
            error.rv(),
            expected,
            "expected {}, got {} ({error})",
            rv_display(expected),
            rv_display(error.rv())
        ),
    }
}

struct Negotiated {
    uid: Vec<u8>,
    confirm: Vec<u8>,
}

/// Start on the target, Continue on the source, Continue on the target (flow steps 1 to 3).
fn negotiate(
    target: (&Simulator, SessionHandle),
    source: (&Simulator, SessionHandle),
) -> Negotiated {
    let offer = target.0.cpv4_start(target.1, &[]).unwrap();
    let accept = source.0.cpv4_continue(source.1, 2, &offer, None).unwrap();
    assert_eq!((accept.step, accept.status.value()), (3, 1));
    let confirm = target
        .0
        .cpv4_continue(target.1, 3, &accept.output, Some(accept.uid.as_bytes()))
        .unwrap();
    assert_eq!((confirm.step, confirm.status.value()), (4, 2));
    let peer = confirm.peer.unwrap();
    assert_eq!(
        peer.hsm_serial, DEFAULT_DEVICE_SERIALS[0],
        "the target saw the source"
    );
    Negotiated {
        uid: accept.uid.as_bytes().to_vec(),
        confirm: confirm.output,
    }
}

#[test]
fn a_negotiation_runs_between_the_two_hsms_of_one_home_and_closes_on_both() {
    let (_dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let n = negotiate((&sim, target), (&sim, source));
    let peer = sim
        .cpv4_deliver_confirm(source, &n.uid, &n.confirm)
        .unwrap();
    assert_eq!(
        peer.hsm_serial, DEFAULT_DEVICE_SERIALS[1],
        "the source saw the target"
    );
    // The initiator's own Confirm on its first insert is accepted; another is not.
    sim.cpv4_deliver_confirm(target, &n.uid, &n.confirm)
        .unwrap();
    assert_rv(
        sim.cpv4_deliver_confirm(source, &n.uid, &n.confirm),
        CKR_SESSION_NEGOTIATION_INVALID,
    );
    assert_eq!(
        sim.cpv4_counts(DEFAULT_DEVICE_SERIALS[0]).unwrap(),
        (0, 1, 0)
    );
    assert_eq!(
        sim.cpv4_counts(DEFAULT_DEVICE_SERIALS[1]).unwrap(),
        (0, 1, 0)
    );
    sim.cpv4_close(source, &n.uid).unwrap();
    sim.cpv4_close(target, &n.uid).unwrap();
    // Closed twice: still CKR_OK (register A2); never known: CKR_SESSION_ID_INVALID.
    sim.cpv4_close(source, &n.uid).unwrap();
    assert_rv(sim.cpv4_close(source, &[7; 16]), CKR_SESSION_ID_INVALID);
    let (negotiations, sessions, tombstones) = sim.cpv4_counts(DEFAULT_DEVICE_SERIALS[0]).unwrap();
    assert_eq!((negotiations, sessions), (0, 0));
    assert_eq!(tombstones, 2, "the session's UID and the Offer it answered");
}

#[test]
fn three_simulators_on_one_home_share_one_negotiation() {
    // Each simulator has its own connection and no shared memory, as separate processes.
    let dir = tempfile::tempdir().unwrap();
    let starter = open(dir.path());
    let continuer = open(dir.path());
    let mover = open(dir.path());
    let offer = starter
        .cpv4_start(login(&starter, TARGET, CKU_USER), &[])
        .unwrap();
    let source = login(&continuer, SOURCE, CKU_USER);
    let target = login(&continuer, TARGET, CKU_USER);
    let accept = continuer.cpv4_continue(source, 2, &offer, None).unwrap();
    let confirm = continuer
        .cpv4_continue(target, 3, &accept.output, Some(accept.uid.as_bytes()))
        .unwrap();
    let uid = accept.uid.as_bytes();
    mover
        .cpv4_deliver_confirm(login(&mover, SOURCE, CKU_USER), uid, &confirm.output)
        .unwrap();
    // A fourth closes on both sides.
    let closer = open(dir.path());
    closer
        .cpv4_close(login(&closer, SOURCE, CKU_USER), uid)
        .unwrap();
    closer
        .cpv4_close(login(&closer, TARGET, CKU_USER), uid)
        .unwrap();
    assert_eq!(starter.cpv4_counts(DEFAULT_DEVICE_SERIALS[1]).unwrap().1, 0);
}

#[test]
fn a_replayed_offer_is_answered_from_the_database() {
    let (_dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let offer = sim.cpv4_start(target, &[]).unwrap();
    let first = sim.cpv4_continue(source, 2, &offer, None).unwrap();
    let other = open(sim.home());
    let again = other
        .cpv4_continue(login(&other, SOURCE, CKU_USER), 2, &offer, None)
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(sim.cpv4_counts(DEFAULT_DEVICE_SERIALS[0]).unwrap().0, 1);
}

#[test]
fn only_the_crypto_officer_may_clone() {
    // Register A26.
    let (_dir, sim) = fresh();
    let none = sim.open_session(TARGET, true).unwrap();
    assert_rv(sim.cpv4_start(none, &[]), CKR_USER_NOT_LOGGED_IN);
    let so = login(&sim, TARGET, CKU_SO);
    assert_rv(sim.cpv4_start(so, &[]), CKR_USER_NOT_AUTHORIZED);
    sim.logout(so).unwrap();
    let user = login(&sim, TARGET, CKU_CRYPTO_USER);
    assert_rv(sim.cpv4_start(user, &[]), CKR_USER_NOT_AUTHORIZED);
    assert_rv(sim.cpv4_start(9999, &[]), CKR_SESSION_HANDLE_INVALID);
}

#[test]
fn start_refuses_an_input() {
    // Register A10.
    let (_dir, sim) = fresh();
    let target = login(&sim, TARGET, CKU_USER);
    assert_rv(sim.cpv4_start(target, &[1]), CKR_ARGUMENTS_BAD);
    assert_eq!(sim.cpv4_counts(DEFAULT_DEVICE_SERIALS[1]).unwrap().0, 0);
}

#[test]
fn cloning_off_cpv4_off_or_legacy_only_is_protocol_disabled() {
    let (_dir, sim) = fresh();
    let target = login(&sim, TARGET, CKU_USER);
    let serial = DEFAULT_DEVICE_SERIALS[1];
    sim.set_hsm_policy(serial, HSM_POLICY_ALLOW_CLONING, false)
        .unwrap();
    assert_rv(sim.cpv4_start(target, &[]), CKR_PROTOCOL_DISABLED);
    sim.set_hsm_policy(serial, HSM_POLICY_ALLOW_CLONING, true)
        .unwrap();
    sim.set_protocol_enabled(TARGET, true, false).unwrap();
    assert_rv(sim.cpv4_start(target, &[]), CKR_PROTOCOL_DISABLED);
    sim.set_protocol_enabled(TARGET, true, true).unwrap();
    sim.set_partition_policy(TARGET, PARTITION_POLICY_LEGACY_CLONING_ONLY, true)
        .unwrap();
    assert_rv(sim.cpv4_start(target, &[]), CKR_PROTOCOL_DISABLED);
    sim.set_partition_policy(TARGET, PARTITION_POLICY_LEGACY_CLONING_ONLY, false)
        .unwrap();
    sim.cpv4_start(target, &[]).unwrap();
}

#[test]
fn firmware_older_than_7_8_0_is_protocol_disabled() {
    let (_dir, sim) = fresh();
    let root = sim.manufacturer_roots().unwrap()[0].root_id();
    sim.add_device("140001", "7.7.1", root).unwrap();
    sim.set_device_time("140001", NOW).unwrap();
    let slot = sim
        .add_partition("140001", "old", DEFAULT_SO_PIN.as_bytes())
        .unwrap();
    let so = login(&sim, slot, CKU_SO);
    sim.init_pin(so, b"old-co-pin").unwrap();
    sim.logout(so).unwrap();
    let officer = sim.open_session(slot, true).unwrap();
    sim.login(officer, CKU_USER, b"old-co-pin").unwrap();
    assert_rv(sim.cpv4_start(officer, &[]), CKR_PROTOCOL_DISABLED);
}

#[test]
fn an_unset_clock_is_time_not_initialized() {
    let (_dir, sim) = fresh();
    let target = login(&sim, TARGET, CKU_USER);
    sim.reset_device_clock(DEFAULT_DEVICE_SERIALS[1]).unwrap();
    assert_rv(sim.cpv4_start(target, &[]), CKR_TIME_NOT_INITIALIZED);
}

#[test]
fn expiry_holds_across_simulators_on_one_home() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(NOW);
    let a = open_at(dir.path(), &clock);
    let b = open_at(dir.path(), &clock);
    for serial in DEFAULT_DEVICE_SERIALS {
        a.set_device_time(serial, NOW).unwrap();
    }
    // One logged-in session per simulator and slot (a login is per library instance).
    let (a_target, a_source) = (login(&a, TARGET, CKU_USER), login(&a, SOURCE, CKU_USER));
    let (b_target, b_source) = (login(&b, TARGET, CKU_USER), login(&b, SOURCE, CKU_USER));
    let offer = a.cpv4_start(a_target, &[]).unwrap();
    let accept = b.cpv4_continue(b_source, 2, &offer, None).unwrap();
    // Past 10 minutes, in the other simulator: expired, then (swept) not started.
    clock.advance(600);
    assert_rv(
        b.cpv4_continue(b_target, 3, &accept.output, Some(accept.uid.as_bytes())),
        CKR_SESSION_NEGOTIATION_EXPIRED,
    );
    assert_rv(
        a.cpv4_continue(a_target, 3, &accept.output, Some(accept.uid.as_bytes())),
        CKR_SESSION_NEGOTIATION_NOT_STARTED,
    );
    // A session past its hour: expired, then invalid, each seen by the other simulator.
    let n = negotiate((&a, a_target), (&b, b_source));
    b.cpv4_deliver_confirm(b_source, &n.uid, &n.confirm)
        .unwrap();
    clock.advance(3599);
    a.cpv4_deliver_confirm(a_target, &n.uid, &n.confirm)
        .unwrap();
    clock.advance(1);
    assert_rv(
        a.cpv4_deliver_confirm(a_source, &n.uid, &n.confirm),
        CKR_SESSION_ID_EXPIRED,
    );
    assert_rv(
        b.cpv4_deliver_confirm(b_source, &n.uid, &n.confirm),
        CKR_SESSION_ID_INVALID,
    );
}
