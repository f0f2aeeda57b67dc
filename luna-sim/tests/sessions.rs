//! Sessions, roles, PINs, provisioning, persistence, clocks and faults.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use common::{aes_template, fresh, login, open};
use cpv4_crypto::attest::verify_chain;
use cpv4_wire::consts::*;
use luna_sim::provision::*;
use luna_sim::{
    Attribute, ClockState, FaultPlan, MANUFACTURER_ID, MAX_PIN_FAILURES, Role, SimError,
    SimOptions, Simulator, TestClock,
};

#[test]
fn empty_home_is_provisioned_with_the_default_layout() {
    let (_dir, sim) = fresh();
    assert_eq!(sim.slots().unwrap(), vec![0, 1]);
    assert_eq!(sim.device_serials().unwrap(), vec!["150001", "150002"]);
    for (slot, (serial, label)) in DEFAULT_DEVICE_SERIALS
        .iter()
        .zip(DEFAULT_PARTITION_LABELS)
        .enumerate()
    {
        let slot = slot as u64;
        let device = sim.device_info(serial).unwrap();
        assert_eq!(device.firmware, DEFAULT_FIRMWARE);
        assert!(device.cloning_allowed);
        assert!(device.sync_with_host_time);
        assert_eq!(device.clock, ClockState::Set { offset_secs: 0 });
        assert_eq!(device.slots, vec![slot]);
        let partition = sim.partition_info(slot).unwrap();
        assert_eq!(partition.label, label);
        assert!(partition.cpv4_enabled);
        for policy in [0, 4, 44] {
            assert!(partition.policy(policy), "policy {policy}");
        }
        assert!(!partition.policy(42));
        let token = sim.token_info(slot).unwrap();
        assert_eq!(token.manufacturer_id, MANUFACTURER_ID);
        assert_eq!(token.serial_number, partition.serial);
        assert_eq!(token.firmware_version, (7, 8));
        assert_ne!(token.flags & luna_sim::ck::CKF_USER_PIN_INITIALIZED, 0);
        // The chain verifies to the root the device trusts.
        let chain = sim.attestation_chain(slot).unwrap();
        let roots = sim.trusted_roots(serial).unwrap();
        assert_eq!(roots.len(), 1);
        let now = u64::try_from(sim.host_time()).unwrap();
        let verified = verify_chain(&chain, &roots, now).unwrap();
        let identity = sim.partition_identity(slot).unwrap();
        assert_eq!(verified.leaf_key(), identity.verifying_key());
    }
    // One manufacturer root is shared by both devices.
    assert_eq!(
        sim.trusted_roots("150001").unwrap()[0].id(),
        sim.trusted_roots("150002").unwrap()[0].id()
    );
    // The development PINs work.
    for user in [CKU_SO, CKU_USER, CKU_CRYPTO_USER] {
        let session = login(&sim, 1, user);
        sim.close_session(session).unwrap();
    }
}

#[test]
fn second_open_does_not_reprovision() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    let cert = first.attestation_chain(0).unwrap();
    drop(first);
    let second = open(dir.path());
    assert_eq!(second.attestation_chain(0).unwrap(), cert);
    assert_eq!(second.slots().unwrap(), vec![0, 1]);
    assert_eq!(second.manufacturer_roots().unwrap().len(), 1);
}

#[test]
fn a_second_root_can_be_added_and_trusted() {
    let (_dir, sim) = fresh();
    let root = sim.add_manufacturer_root("Second Root").unwrap();
    assert_eq!(sim.trusted_roots("150002").unwrap().len(), 1);
    sim.set_root_trusted("150002", root, true).unwrap();
    let ids: Vec<_> = sim
        .trusted_roots("150002")
        .unwrap()
        .iter()
        .map(|r| r.id())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&root));
    sim.add_device("150003", "7.8.4", root).unwrap();
    let slot = sim.add_partition("150003", "third", b"other-so").unwrap();
    assert_eq!(slot, 2);
    let chain = sim.attestation_chain(slot).unwrap();
    let now = u64::try_from(sim.host_time()).unwrap();
    assert!(verify_chain(&chain, &sim.trusted_roots("150002").unwrap(), now).is_ok());
    assert!(verify_chain(&chain, &sim.trusted_roots("150001").unwrap(), now).is_err());
    assert_eq!(sim.device_info("150003").unwrap().clock, ClockState::NotSet);
}

#[test]
fn token_objects_persist_across_instances_and_session_objects_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let (token, session_obj, session) = {
        let sim = open(dir.path());
        let co = login(&sim, 0, CKU_USER);
        let token = sim
            .create_object(co, &aes_template("kept", &[5; 16], true))
            .unwrap();
        let mut template = aes_template("gone", &[6; 16], true);
        template.retain(|a| a.kind != CKA_TOKEN);
        let session_obj = sim.create_object(co, &template).unwrap();
        assert!(session_obj >= luna_sim::SESSION_OBJECT_BASE);
        (token, session_obj, co)
    };
    let sim = open(dir.path());
    assert_eq!(
        sim.session_info(session).unwrap_err().rv(),
        CKR_SESSION_HANDLE_INVALID
    );
    let co = login(&sim, 0, CKU_USER);
    let found = sim
        .find_all(co, &[Attribute::bytes(CKA_LABEL, b"kept".to_vec())])
        .unwrap();
    assert_eq!(found, vec![token]);
    assert!(
        sim.find_all(co, &[Attribute::bytes(CKA_LABEL, b"gone".to_vec())])
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        sim.get_attribute_value(co, session_obj, &[CKA_LABEL])
            .unwrap_err()
            .rv(),
        CKR_OBJECT_HANDLE_INVALID
    );
}

#[test]
fn login_twice_is_user_already_logged_in() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let other = sim.open_session(0, true).unwrap();
    assert_eq!(
        sim.login(other, CKU_USER, b"co-pin").unwrap_err().rv(),
        CKR_USER_ALREADY_LOGGED_IN
    );
    assert_eq!(
        sim.session_info(other).unwrap().role,
        Some(Role::CryptoOfficer)
    );
    sim.logout(co).unwrap();
    assert_eq!(sim.session_info(other).unwrap().role, None);
}

#[test]
fn login_as_another_role_is_user_another_already_logged_in() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    assert_eq!(
        sim.login(co, CKU_SO, b"so-pin").unwrap_err().rv(),
        CKR_USER_ANOTHER_ALREADY_LOGGED_IN
    );
    // Another slot is independent.
    let _so = login(&sim, 1, CKU_SO);
}

#[test]
fn so_login_with_read_only_session_is_session_read_only_exists() {
    let (_dir, sim) = fresh();
    let _ro = sim.open_session(0, false).unwrap();
    let rw = sim.open_session(0, true).unwrap();
    assert_eq!(
        sim.login(rw, CKU_SO, b"so-pin").unwrap_err().rv(),
        CKR_SESSION_READ_ONLY_EXISTS
    );
}

#[test]
fn read_only_session_while_so_logged_in_is_session_read_write_so_exists() {
    let (_dir, sim) = fresh();
    let _so = login(&sim, 0, CKU_SO);
    assert_eq!(
        sim.open_session(0, false).unwrap_err().rv(),
        CKR_SESSION_READ_WRITE_SO_EXISTS
    );
}

#[test]
fn unknown_user_type_is_user_type_invalid() {
    let (_dir, sim) = fresh();
    let session = sim.open_session(0, true).unwrap();
    for user in [3, 77, CKU_CRYPTO_USER + 1] {
        assert_eq!(
            sim.login(session, user, b"co-pin").unwrap_err().rv(),
            CKR_USER_TYPE_INVALID
        );
    }
    // CKU_CONTEXT_SPECIFIC is a type, but needs a role logged in (and an operation).
    assert_eq!(
        sim.login(session, CKU_CONTEXT_SPECIFIC, b"co-pin"),
        Err(SimError::UserNotLoggedIn)
    );
}

#[test]
fn logout_without_login_is_user_not_logged_in() {
    let (_dir, sim) = fresh();
    let session = sim.open_session(0, true).unwrap();
    assert_eq!(
        sim.logout(session).unwrap_err().rv(),
        CKR_USER_NOT_LOGGED_IN
    );
}

#[test]
fn wrong_pin_is_pin_incorrect() {
    let (_dir, sim) = fresh();
    let session = sim.open_session(0, true).unwrap();
    assert_eq!(
        sim.login(session, CKU_USER, b"wrong-pin").unwrap_err().rv(),
        CKR_PIN_INCORRECT
    );
    assert_eq!(sim.session_info(session).unwrap().role, None);
}

#[test]
fn unknown_session_and_slot_are_invalid() {
    let (_dir, sim) = fresh();
    assert_eq!(
        sim.login(999, CKU_USER, b"co-pin").unwrap_err().rv(),
        CKR_SESSION_HANDLE_INVALID
    );
    assert_eq!(
        sim.open_session(7, true).unwrap_err().rv(),
        CKR_SLOT_ID_INVALID
    );
    assert_eq!(sim.token_info(7).unwrap_err().rv(), CKR_SLOT_ID_INVALID);
}

#[test]
fn pin_lockout_is_pin_locked() {
    let dir = tempfile::tempdir().unwrap();
    let sim = open(dir.path());
    let session = sim.open_session(0, true).unwrap();
    for _ in 0..MAX_PIN_FAILURES {
        assert_eq!(
            sim.login(session, CKU_USER, b"bad-pin").unwrap_err().rv(),
            CKR_PIN_INCORRECT
        );
    }
    assert_eq!(
        sim.login(session, CKU_USER, b"co-pin").unwrap_err().rv(),
        CKR_PIN_LOCKED
    );
    assert_ne!(
        sim.token_info(0).unwrap().flags & luna_sim::ck::CKF_USER_PIN_LOCKED,
        0
    );
    // The count is device state: another instance sees the lock.
    let other = open(dir.path());
    let s2 = other.open_session(0, true).unwrap();
    assert_eq!(
        other.login(s2, CKU_USER, b"co-pin").unwrap_err().rv(),
        CKR_PIN_LOCKED
    );
    // The SO re-initializes the Crypto Officer's PIN, which unlocks it.
    sim.login(session, CKU_SO, b"so-pin").unwrap();
    sim.init_pin(session, b"new-co-pin").unwrap();
    sim.logout(session).unwrap();
    sim.login(session, CKU_USER, b"new-co-pin").unwrap();
}

#[test]
fn successful_login_resets_the_failure_count() {
    let (_dir, sim) = fresh();
    let session = sim.open_session(0, true).unwrap();
    for _ in 0..MAX_PIN_FAILURES - 1 {
        sim.login(session, CKU_USER, b"bad-pin").unwrap_err();
    }
    sim.login(session, CKU_USER, b"co-pin").unwrap();
    sim.logout(session).unwrap();
    assert_eq!(
        sim.login(session, CKU_USER, b"bad-pin").unwrap_err().rv(),
        CKR_PIN_INCORRECT
    );
    sim.login(session, CKU_USER, b"co-pin").unwrap();
}

#[test]
fn set_pin_changes_the_pin_of_the_logged_in_role() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    assert_eq!(
        sim.set_pin(co, b"not-it", b"fresh-pin").unwrap_err().rv(),
        CKR_PIN_INCORRECT
    );
    assert_eq!(
        sim.set_pin(co, b"co-pin", b"abc").unwrap_err().rv(),
        CKR_PIN_LEN_RANGE
    );
    sim.set_pin(co, b"co-pin", b"fresh-pin").unwrap();
    sim.logout(co).unwrap();
    assert_eq!(
        sim.login(co, CKU_USER, b"co-pin").unwrap_err().rv(),
        CKR_PIN_INCORRECT
    );
    sim.login(co, CKU_USER, b"fresh-pin").unwrap();
    let ro = sim.open_session(0, false).unwrap();
    assert_eq!(
        sim.set_pin(ro, b"fresh-pin", b"other-pin")
            .unwrap_err()
            .rv(),
        CKR_SESSION_READ_ONLY
    );
}

#[test]
fn init_role_pin_follows_luna_roles() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    sim.init_role_pin(co, Role::CryptoUser, b"new-cu-pin")
        .unwrap();
    assert_eq!(
        sim.init_pin(co, b"whatever").unwrap_err().rv(),
        CKR_USER_NOT_AUTHORIZED
    );
    sim.logout(co).unwrap();
    sim.login(co, CKU_CRYPTO_USER, b"new-cu-pin").unwrap();
    let session = sim.open_session(1, true).unwrap();
    assert_eq!(
        sim.init_pin(session, b"whatever").unwrap_err().rv(),
        CKR_USER_NOT_LOGGED_IN
    );
}

#[test]
fn init_token_with_open_session_is_session_exists_and_it_wipes_objects_and_user_pins() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    sim.create_object(co, &aes_template("doomed", &[1; 16], true))
        .unwrap();
    assert_eq!(
        sim.init_token(0, b"so-pin", "fresh").unwrap_err().rv(),
        CKR_SESSION_EXISTS
    );
    sim.close_session(co).unwrap();
    assert_eq!(
        sim.init_token(0, b"wrong-so", "fresh").unwrap_err().rv(),
        CKR_PIN_INCORRECT
    );
    sim.init_token(0, b"so-pin", "fresh").unwrap();
    assert_eq!(sim.token_info(0).unwrap().label, "fresh");
    let session = sim.open_session(0, true).unwrap();
    assert_eq!(
        sim.login(session, CKU_USER, b"co-pin").unwrap_err().rv(),
        CKR_USER_PIN_NOT_INITIALIZED
    );
    sim.login(session, CKU_SO, b"so-pin").unwrap();
    sim.init_pin(session, b"co-pin").unwrap();
    sim.logout(session).unwrap();
    sim.login(session, CKU_USER, b"co-pin").unwrap();
    assert!(sim.find_all(session, &[]).unwrap().is_empty());
    // Domains survive re-initialization.
    assert_eq!(sim.get_kcv_labels(0).unwrap().len(), 1);
}

#[test]
fn crypto_user_create_object_is_user_not_authorized() {
    let (_dir, sim) = fresh();
    let cu = login(&sim, 0, CKU_CRYPTO_USER);
    let err = sim
        .create_object(cu, &aes_template("x", &[1; 16], true))
        .unwrap_err();
    assert_eq!(err.rv(), CKR_USER_NOT_AUTHORIZED);
    let so = login(&sim, 1, CKU_SO);
    assert_eq!(
        sim.create_object(so, &aes_template("x", &[1; 16], true))
            .unwrap_err()
            .rv(),
        CKR_USER_NOT_AUTHORIZED
    );
}

#[test]
fn create_object_without_login_is_user_not_logged_in() {
    let (_dir, sim) = fresh();
    let session = sim.open_session(0, true).unwrap();
    assert_eq!(
        sim.create_object(session, &aes_template("x", &[1; 16], true))
            .unwrap_err()
            .rv(),
        CKR_USER_NOT_LOGGED_IN
    );
}

#[test]
fn token_object_in_read_only_session_is_session_read_only() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let ro = sim.open_session(0, false).unwrap();
    assert_eq!(
        sim.create_object(ro, &aes_template("x", &[1; 16], true))
            .unwrap_err()
            .rv(),
        CKR_SESSION_READ_ONLY
    );
    let mut session_only = aes_template("y", &[1; 16], true);
    session_only.retain(|a| a.kind != CKA_TOKEN);
    sim.create_object(ro, &session_only).unwrap();
    sim.close_session(co).unwrap();
}

#[test]
fn clock_never_set_is_time_not_initialized() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(1_800_000_000);
    let options = SimOptions {
        clock: Arc::new(clock.clone()),
        ..SimOptions::default()
    };
    let sim = Simulator::open_with(dir.path(), options.clone()).unwrap();
    assert_eq!(sim.device_time("150001").unwrap(), 1_800_000_000);
    sim.reset_device_clock("150001").unwrap();
    assert_eq!(sim.device_info("150001").unwrap().clock, ClockState::NotSet);
    let err = sim.device_time("150001").unwrap_err();
    assert_eq!(err, SimError::TimeNotInitialized);
    assert_eq!(err.rv(), CKR_TIME_NOT_INITIALIZED);
    assert_eq!(sim.token_info(0).unwrap().utc_time, None);
    // The HSM SO sets the time; the device then runs with the host clock plus an offset.
    sim.set_device_time("150001", 1_800_000_100).unwrap();
    clock.advance(50);
    assert_eq!(sim.device_time("150001").unwrap(), 1_800_000_150);
    // A second instance sharing the clock sees the same device time.
    let other = Simulator::open_with(dir.path(), options).unwrap();
    assert_eq!(other.slot_time(0).unwrap(), 1_800_000_150);
    // Policy 57 makes the device follow host time.
    sim.set_hsm_policy("150001", HSM_POLICY_SYNC_HOST_TIME, true)
        .unwrap();
    assert_eq!(sim.device_time("150001").unwrap(), 1_800_000_050);
    assert_eq!(
        sim.set_hsm_policy("150001", 3, true).unwrap_err().rv(),
        CKR_ARGUMENTS_BAD
    );
}

#[test]
fn injected_write_fault_is_device_error_and_rolls_back() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    sim.set_fault_plan(FaultPlan {
        fail_write: Some(1),
        abort_after_objects: None,
    });
    let templates = vec![
        aes_template("a", &[1; 16], true),
        aes_template("b", &[2; 16], true),
    ];
    let err = sim.create_objects(co, &templates).unwrap_err();
    assert_eq!(err.rv(), CKR_DEVICE_ERROR);
    assert!(sim.find_all(co, &[]).unwrap().is_empty());
    // The plan fails only the first write.
    assert_eq!(sim.create_objects(co, &templates).unwrap().len(), 2);
    assert!(sim.integrity_check().unwrap().is_ok());
}

/// The documented order of the default home, with fixed literal expectations: each case runs
/// `default_home` in a child process whose environment holds exactly the variables of the case
/// (the audit found the test re-implementing the function it tests, against whatever
/// environment the test run had).
#[test]
fn default_home_follows_the_environment_order() {
    const CHILD: &str = "LUNA_SIM_DEFAULT_HOME_CHILD";
    if std::env::var_os(CHILD).is_some() {
        match luna_sim::default_home() {
            Ok(path) => println!("home=[{}]", path.display()),
            Err(error) => println!("error=[{}]", error.rv()),
        }
        return;
    }
    let cases: [(&[(&str, &str)], String); 6] = [
        (
            &[
                ("LUNA_SIM_HOME", "/explicit"),
                ("XDG_DATA_HOME", "/xdg"),
                ("HOME", "/home/u"),
            ],
            "home=[/explicit]".into(),
        ),
        (
            &[
                ("LUNA_SIM_HOME", ""),
                ("XDG_DATA_HOME", "/xdg"),
                ("HOME", "/home/u"),
            ],
            "home=[/xdg/luna-sim]".into(),
        ),
        (
            &[("XDG_DATA_HOME", "/xdg"), ("HOME", "/home/u")],
            "home=[/xdg/luna-sim]".into(),
        ),
        (
            &[("XDG_DATA_HOME", ""), ("HOME", "/home/u")],
            "home=[/home/u/.local/share/luna-sim]".into(),
        ),
        (
            &[("HOME", "/home/u")],
            "home=[/home/u/.local/share/luna-sim]".into(),
        ),
        (&[("HOME", "")], format!("error=[{CKR_DEVICE_ERROR}]")),
    ];
    for (vars, expected) in cases {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "default_home_follows_the_environment_order",
                "--nocapture",
            ])
            .env_clear()
            .env(CHILD, "1")
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{vars:?}: {stdout}");
        assert!(
            stdout.contains(&expected),
            "{vars:?}: want {expected}, got {stdout}"
        );
    }
}

/// Eight connections to one home (as eight processes would be) guessing the Crypto Officer's
/// PIN at once get exactly MAX_PIN_FAILURES wrong answers between them before the lockout:
/// the audit found the count read outside the transaction that raised it, so parallel
/// guessers could check more PINs than the lockout allows.
#[test]
fn parallel_guessers_check_no_more_pins_than_the_lockout_allows() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let wrong_answers: i64 = std::thread::scope(|scope| {
        let guessers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let sim = open(dir.path());
                    let session = sim.open_session(0, false).unwrap();
                    let mut incorrect = 0;
                    loop {
                        match sim.login(session, CKU_USER, b"a wrong guess") {
                            Err(SimError::PinIncorrect) => incorrect += 1,
                            Err(SimError::PinLocked) => return incorrect,
                            other => panic!("{other:?}"),
                        }
                    }
                })
            })
            .collect();
        guessers.into_iter().map(|g| g.join().unwrap()).sum()
    });
    assert_eq!(wrong_answers, MAX_PIN_FAILURES);
    // And the right PIN is locked out too.
    let sim = open(dir.path());
    let session = sim.open_session(0, false).unwrap();
    assert_eq!(
        sim.login(session, CKU_USER, b"co-pin").unwrap_err().rv(),
        CKR_PIN_LOCKED
    );
}
