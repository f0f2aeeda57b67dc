//! `CA_MigrateKeys` through the simulator (`Simulator::migrate_keys`, the flow of
//! `cpv4-migrate` on two sessions): batches, per-object results, `CKF_CONTINUE_ON_ERR`, the
//! legacy fallback, `CKR_PROTOCOL_DISABLED`, and a session that expires mid-migration.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{aes_template, fresh, login, open_at, read};
use cpv4_migrate::{BATCH_OBJECTS, Endpoint, MigrationItem, Protocol};
use cpv4_wire::consts::*;
use luna_sim::{Attribute, SessionHandle, SimEndpoint, SimLegacy, Simulator, TestClock};

const SOURCE: u64 = 0;
const TARGET: u64 = 1;
const SOURCE_HSM: &str = "150001";
const TARGET_HSM: &str = "150002";

/// `count` AES keys on the source, session objects (fast to make) with distinct values.
fn session_keys(sim: &Simulator, session: SessionHandle, count: usize) -> Vec<u64> {
    (0..count)
        .map(|i| {
            let mut template = aes_template(&format!("k{i}"), &[(i % 251) as u8; 32], false);
            template.retain(|a| a.kind != CKA_TOKEN);
            template.push(Attribute::bool(CKA_TOKEN, false));
            sim.create_object(session, &template).unwrap()
        })
        .collect()
}

fn items(handles: &[u64]) -> Vec<MigrationItem> {
    handles
        .iter()
        .map(|&h| MigrationItem::new(CK_CRYPTOKI_ELEMENT, h))
        .collect()
}

/// Live negotiations and sessions on a device (tombstones not counted).
fn live(sim: &Simulator, hsm: &str) -> (u64, u64) {
    let (negotiations, sessions, _) = sim.cpv4_counts(hsm).unwrap();
    (negotiations, sessions)
}

#[test]
fn migrate_keys_clones_every_object_in_batches_across_two_hsms_and_closes_the_session() {
    let (_dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let count = BATCH_OBJECTS * 2 + 7;
    let mut handles = session_keys(&sim, source, count - 1);
    handles.push(
        sim.create_object(source, &aes_template("token", &[7; 32], true))
            .unwrap(),
    );
    let mut data = items(&handles);
    assert_eq!(sim.migrate_keys(source, target, 0, &mut data), CKR_OK);
    for item in &data {
        assert_eq!(item.rv, CKR_OK);
        assert_eq!(
            read(&sim, source, item.source_handle, CKA_OUID),
            read(&sim, target, item.target_handle, CKA_OUID)
        );
    }
    let last = data.last().unwrap();
    assert_eq!(read(&sim, target, last.target_handle, CKA_TOKEN), [1]);
    // The session is closed on both sides: nothing live is left.
    assert_eq!(live(&sim, SOURCE_HSM), (0, 0));
    assert_eq!(live(&sim, TARGET_HSM), (0, 0));
}

/// An endpoint that records the size of every extract and insert, and may ask for smaller
/// batches than the flow's own.
struct Recording<'a> {
    inner: SimEndpoint<'a>,
    max_batch: Option<usize>,
    extracts: Vec<usize>,
    inserts: Vec<usize>,
}

impl<'a> Recording<'a> {
    fn new(sim: &'a Simulator, session: SessionHandle, max_batch: Option<usize>) -> Self {
        Self {
            inner: SimEndpoint { sim, session },
            max_batch,
            extracts: Vec::new(),
            inserts: Vec::new(),
        }
    }
}

impl Endpoint for Recording<'_> {
    fn cpv4_enabled(&mut self) -> Result<bool, CkRv> {
        self.inner.cpv4_enabled()
    }
    fn start(&mut self) -> Result<Vec<u8>, CkRv> {
        self.inner.start()
    }
    fn continue_negotiation(
        &mut self,
        step: CkUlong,
        input: &[u8],
        uid: Option<&cpv4_migrate::SessionUid>,
    ) -> Result<cpv4_migrate::Continued, CkRv> {
        self.inner.continue_negotiation(step, input, uid)
    }
    fn extract(
        &mut self,
        uid: &cpv4_migrate::SessionUid,
        input: &[u8],
        flags: CkUlong,
        objects: &[(CkUlong, u64)],
    ) -> Result<cpv4_migrate::Extraction, CkRv> {
        self.extracts.push(objects.len());
        self.inner.extract(uid, input, flags, objects)
    }
    fn insert(
        &mut self,
        uid: &cpv4_migrate::SessionUid,
        flags: CkUlong,
        blobs: &[(CkUlong, CkUlong, &[u8])],
    ) -> Result<cpv4_migrate::Insertion, CkRv> {
        self.inserts.push(blobs.len());
        self.inner.insert(uid, flags, blobs)
    }
    fn close(&mut self, uid: &cpv4_migrate::SessionUid) -> Result<(), CkRv> {
        self.inner.close(uid)
    }
    fn abandon(&mut self, offer: &[u8]) -> Result<(), CkRv> {
        self.inner.abandon(offer)
    }
    fn max_batch(&self) -> usize {
        self.max_batch.unwrap_or(BATCH_OBJECTS)
    }
}

/// Batches are `BATCH_OBJECTS` long, or shorter where either endpoint asks (the relay does,
/// so that a batch of the largest blobs fits one of its frames).
#[test]
fn batches_are_the_flows_or_the_smaller_one_an_endpoint_asks_for() {
    let cases = [
        (None, None, vec![BATCH_OBJECTS, 6]),
        (None, Some(400), vec![400, 400, BATCH_OBJECTS + 6 - 800]),
        (Some(1000), Some(2000), vec![1000, BATCH_OBJECTS + 6 - 1000]),
    ];
    for (source_max, target_max, expected) in cases {
        // A simulator each: the clones' OUIDs would refuse a second round.
        let (_dir, sim) = fresh();
        let source = login(&sim, SOURCE, CKU_USER);
        let target = login(&sim, TARGET, CKU_USER);
        let handles = session_keys(&sim, source, BATCH_OBJECTS + 6);
        let mut from = Recording::new(&sim, source, source_max);
        let mut to = Recording::new(&sim, target, target_max);
        let mut data = items(&handles);
        let protocol =
            cpv4_migrate::migrate_keys_with(&mut from, &mut to, None, 0, &mut data).unwrap();
        assert_eq!(protocol, Protocol::Cpv4);
        assert!(data.iter().all(|item| item.rv == CKR_OK));
        assert_eq!(from.extracts, expected);
        assert_eq!(to.inserts, expected);
        assert_eq!(live(&sim, SOURCE_HSM), (0, 0));
    }
}

/// Register A23: without the flag the call returns `CKR_OK` and stops at the first failing
/// object; with it every object is attempted.
#[test]
fn migrate_keys_stops_at_the_first_failing_object_unless_continue_on_err() {
    let (_dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let keys = session_keys(&sim, source, 3);
    let handles = [keys[0], 0xDEAD, keys[1], keys[2]];
    let mut data = items(&handles);
    assert_eq!(sim.migrate_keys(source, target, 0, &mut data), CKR_OK);
    let rvs: Vec<CkRv> = data.iter().map(|i| i.rv).collect();
    assert_eq!(
        rvs,
        [
            CKR_OK,
            CKR_OBJECT_HANDLE_INVALID,
            CKR_CLONE_NOT_ATTEMPTED,
            CKR_CLONE_NOT_ATTEMPTED
        ]
    );
    assert_ne!(data[0].target_handle, 0);
    assert_eq!(
        data[2].target_handle, 0,
        "written only for objects that clone"
    );

    let mut data = items(&[keys[1], 0xDEAD, keys[2]]);
    assert_eq!(
        sim.migrate_keys(source, target, CKF_CONTINUE_ON_ERR, &mut data),
        CKR_OK
    );
    let rvs: Vec<CkRv> = data.iter().map(|i| i.rv).collect();
    assert_eq!(rvs, [CKR_OK, CKR_OBJECT_HANDLE_INVALID, CKR_OK]);
    // keys[0] exists on the target now: its OUID refuses a second clone.
    let mut data = items(&[keys[0]]);
    assert_eq!(sim.migrate_keys(source, target, 0, &mut data), CKR_OK);
    assert_eq!(data[0].rv, CKR_FAILED_TO_CLONE_AN_OBJECT);
    assert_eq!(live(&sim, SOURCE_HSM), (0, 0));
    assert_eq!(live(&sim, TARGET_HSM), (0, 0));
}

/// Register A17.
#[test]
fn migrate_keys_with_no_objects_or_unknown_flags_is_arguments_bad_and_touches_nothing() {
    let (_dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let keys = session_keys(&sim, source, 1);
    assert_eq!(
        sim.migrate_keys(source, target, 0, &mut []),
        CKR_ARGUMENTS_BAD
    );
    let mut data = items(&keys);
    assert_eq!(
        sim.migrate_keys(source, target, 0x2, &mut data),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(data[0].rv, CKR_CLONE_NOT_ATTEMPTED);
    assert_eq!(sim.cpv4_counts(SOURCE_HSM).unwrap(), (0, 0, 0));
    assert_eq!(sim.cpv4_counts(TARGET_HSM).unwrap(), (0, 0, 0));
}

#[test]
fn migrate_keys_falls_back_to_the_legacy_clone_where_cpv4_is_off_on_one_side() {
    let (_dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let keys = session_keys(&sim, source, 3);
    sim.set_protocol_enabled(SOURCE, true, false).unwrap();
    let mut data = items(&[keys[0], 0xDEAD, keys[1], keys[2]]);
    let protocol = cpv4_migrate::migrate_keys_with(
        &mut SimEndpoint {
            sim: &sim,
            session: source,
        },
        &mut SimEndpoint {
            sim: &sim,
            session: target,
        },
        Some(&mut SimLegacy {
            sim: &sim,
            source,
            target,
        }),
        CKF_CONTINUE_ON_ERR,
        &mut data,
    );
    assert_eq!(protocol, Ok(Protocol::Legacy));
    let rvs: Vec<CkRv> = data.iter().map(|i| i.rv).collect();
    assert_eq!(
        rvs,
        [CKR_OK, CKR_OBJECT_HANDLE_INVALID, CKR_OK, CKR_OK],
        "the same per-object results as CPv4"
    );
    for item in data.iter().filter(|i| i.rv == CKR_OK) {
        assert_eq!(
            read(&sim, source, item.source_handle, CKA_OUID),
            read(&sim, target, item.target_handle, CKA_OUID)
        );
    }
    // No CPv4 record was made on either device: the choice came before any CPv4 call.
    assert_eq!(sim.cpv4_counts(SOURCE_HSM).unwrap(), (0, 0, 0));
    assert_eq!(sim.cpv4_counts(TARGET_HSM).unwrap(), (0, 0, 0));
}

#[test]
fn migrate_keys_with_no_common_protocol_is_protocol_disabled() {
    let (_dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let keys = session_keys(&sim, source, 2);
    // CPv4 off on the source, the legacy protocol off on the target.
    sim.set_protocol_enabled(SOURCE, true, false).unwrap();
    sim.set_protocol_enabled(TARGET, false, false).unwrap();
    let mut data = items(&keys);
    assert_eq!(
        sim.migrate_keys(source, target, CKF_CONTINUE_ON_ERR, &mut data),
        CKR_PROTOCOL_DISABLED
    );
    assert!(data.iter().all(|i| i.rv == CKR_CLONE_NOT_ATTEMPTED));
    // Cloning off on the target's HSM: the same.
    sim.set_protocol_enabled(TARGET, false, true).unwrap();
    sim.set_hsm_policy(TARGET_HSM, HSM_POLICY_ALLOW_CLONING, false)
        .unwrap();
    assert_eq!(
        sim.migrate_keys(source, target, 0, &mut data),
        CKR_PROTOCOL_DISABLED
    );
}

/// An endpoint that moves the test clock past the session's lifetime after its first
/// insert: the next extract meets an expired session.
struct AgingTarget<'a> {
    inner: SimEndpoint<'a>,
    clock: TestClock,
    inserts: usize,
    starts: usize,
    /// A session on the source whose own call, right after the jump, meets the expired
    /// session first and sweeps it: the flow's next call then finds it gone.
    sweeper: Option<SessionHandle>,
}

impl Endpoint for AgingTarget<'_> {
    fn cpv4_enabled(&mut self) -> Result<bool, CkRv> {
        self.inner.cpv4_enabled()
    }
    fn start(&mut self) -> Result<Vec<u8>, CkRv> {
        self.starts += 1;
        self.inner.start()
    }
    fn continue_negotiation(
        &mut self,
        step: CkUlong,
        input: &[u8],
        uid: Option<&cpv4_migrate::SessionUid>,
    ) -> Result<cpv4_migrate::Continued, CkRv> {
        self.inner.continue_negotiation(step, input, uid)
    }
    fn extract(
        &mut self,
        uid: &cpv4_migrate::SessionUid,
        input: &[u8],
        flags: CkUlong,
        objects: &[(CkUlong, u64)],
    ) -> Result<cpv4_migrate::Extraction, CkRv> {
        self.inner.extract(uid, input, flags, objects)
    }
    fn insert(
        &mut self,
        uid: &cpv4_migrate::SessionUid,
        flags: CkUlong,
        blobs: &[(CkUlong, CkUlong, &[u8])],
    ) -> Result<cpv4_migrate::Insertion, CkRv> {
        let inserted = self.inner.insert(uid, flags, blobs);
        self.inserts += 1;
        if self.inserts == 1 {
            self.clock.advance(3_601);
            if let Some(sweeper) = self.sweeper {
                let swept = self
                    .inner
                    .sim
                    .cpv4_extract(sweeper, &uid.0, &[], 0, &[], false);
                assert_eq!(swept.unwrap_err().rv(), CKR_SESSION_ID_EXPIRED);
            }
        }
        inserted
    }
    fn close(&mut self, uid: &cpv4_migrate::SessionUid) -> Result<(), CkRv> {
        self.inner.close(uid)
    }
    fn abandon(&mut self, offer: &[u8]) -> Result<(), CkRv> {
        self.inner.abandon(offer)
    }
}

fn renegotiates_across_expiry(sweep: bool) {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(1_800_000_000);
    let sim = open_at(dir.path(), &clock);
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let handles = session_keys(&sim, source, BATCH_OBJECTS + 10);
    let mut data = items(&handles);
    let mut aging = AgingTarget {
        inner: SimEndpoint {
            sim: &sim,
            session: target,
        },
        clock: clock.clone(),
        inserts: 0,
        starts: 0,
        sweeper: sweep.then(|| sim.open_session(SOURCE, true).unwrap()),
    };
    let protocol = cpv4_migrate::migrate_keys_with(
        &mut SimEndpoint {
            sim: &sim,
            session: source,
        },
        &mut aging,
        None,
        0,
        &mut data,
    );
    assert_eq!(protocol, Ok(Protocol::Cpv4));
    assert_eq!(aging.inserts, 2, "one insert per batch, none repeated");
    assert!(data.iter().all(|i| i.rv == CKR_OK));
    let mut ouids: Vec<Vec<u8>> = data
        .iter()
        .map(|i| read(&sim, target, i.target_handle, CKA_OUID))
        .collect();
    ouids.sort();
    ouids.dedup();
    assert_eq!(ouids.len(), handles.len(), "each object cloned once");
    let found = sim.find_all(target, &[]).unwrap();
    assert_eq!(found.len(), handles.len(), "no object cloned twice");
    assert_eq!(live(&sim, SOURCE_HSM), (0, 0));
    assert_eq!(live(&sim, TARGET_HSM), (0, 0));
    assert_eq!(aging.starts, 2, "the expired session and its successor");
}

/// Register A48: a session that expires between two batches is re-negotiated; every object
/// clones exactly once and no session is left behind.
#[test]
fn a_session_that_expires_during_a_migration_is_renegotiated_and_every_object_clones_once() {
    renegotiates_across_expiry(false);
}

/// Register A48: the same when another call swept the expired session before the flow's next
/// call (which then gets `CKR_SESSION_ID_INVALID`).
#[test]
fn a_session_swept_by_another_call_during_a_migration_is_renegotiated_too() {
    renegotiates_across_expiry(true);
}

/// Partitions of no common cloning domain: `CKR_SESSION_NEGOTIATION_NO_PSK` from the CPv4
/// negotiation, and the same from the legacy path (register A47); no object is attempted.
#[test]
fn migrate_keys_between_partitions_of_no_common_domain_is_no_psk() {
    let (dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let keys = session_keys(&sim, source, 2);
    let admin = common::open(dir.path());
    let so_target = login(&admin, TARGET, CKU_SO);
    admin
        .add_kcv(so_target, Some(b"another domain secret"), b"other", true)
        .unwrap();
    admin
        .delete_kcv(
            so_target,
            Some(luna_sim::provision::DEFAULT_DOMAIN_LABEL.as_bytes()),
        )
        .unwrap();
    let mut data = items(&keys);
    assert_eq!(
        sim.migrate_keys(source, target, CKF_CONTINUE_ON_ERR, &mut data),
        CKR_SESSION_NEGOTIATION_NO_PSK
    );
    assert!(data.iter().all(|i| i.rv == CKR_CLONE_NOT_ATTEMPTED));
    // Register A51: the target abandoned its Offer; nothing is left on either side, however
    // often the migration is refused (past the 64 negotiations a partition may hold).
    assert_eq!(live(&sim, SOURCE_HSM), (0, 0));
    assert_eq!(live(&sim, TARGET_HSM), (0, 0));
    for _ in 0..=cpv4_session::MAX_NEGOTIATIONS_PER_PARTITION {
        assert_eq!(
            sim.migrate_keys(source, target, 0, &mut data),
            CKR_SESSION_NEGOTIATION_NO_PSK
        );
    }
    assert_eq!(live(&sim, TARGET_HSM), (0, 0));
    sim.set_protocol_enabled(SOURCE, true, false).unwrap();
    assert_eq!(
        sim.migrate_keys(source, target, CKF_CONTINUE_ON_ERR, &mut data),
        CKR_SESSION_NEGOTIATION_NO_PSK,
        "the legacy path too"
    );
    assert!(data.iter().all(|i| i.rv == CKR_CLONE_NOT_ATTEMPTED));
}

/// Register A51: a responder whose clock runs 10 s ahead makes an Accept the initiator
/// refuses (`CKR_TIME_NOT_INITIALIZED`, register A18); the source's negotiation is closed and
/// the target's Offer abandoned, so neither side keeps anything.
#[test]
fn a_refused_accept_leaves_nothing_on_either_side() {
    let (_dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let keys = session_keys(&sim, source, 1);
    sim.set_hsm_policy(SOURCE_HSM, HSM_POLICY_SYNC_HOST_TIME, false)
        .unwrap();
    sim.set_device_time(SOURCE_HSM, sim.host_time() + 10)
        .unwrap();
    let mut data = items(&keys);
    assert_eq!(
        sim.migrate_keys(source, target, 0, &mut data),
        CKR_TIME_NOT_INITIALIZED
    );
    assert_eq!(data[0].rv, CKR_CLONE_NOT_ATTEMPTED);
    assert_eq!(live(&sim, SOURCE_HSM), (0, 0));
    assert_eq!(live(&sim, TARGET_HSM), (0, 0));
}

/// Register A52: both sessions on one partition are refused before anything is made.
#[test]
fn migrate_keys_within_one_partition_is_arguments_bad() {
    let (_dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let other = sim.open_session(SOURCE, true).unwrap();
    let keys = session_keys(&sim, source, 1);
    let mut data = items(&keys);
    assert_eq!(
        sim.migrate_keys(source, other, CKF_CONTINUE_ON_ERR, &mut data),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        sim.migrate_keys(source, source, 0, &mut data),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(data[0].rv, CKR_CLONE_NOT_ATTEMPTED);
    assert_eq!(sim.cpv4_counts(SOURCE_HSM).unwrap(), (0, 0, 0));
}

/// Register A51: Start and Continue for a buffer that turns out too small (the partition
/// changed between the size query and the call) leave nothing: the Offer is abandoned, the
/// responder's new negotiation closed; a later Accept for the abandoned Offer is refused.
#[test]
fn an_output_too_large_for_its_buffer_leaves_no_negotiation() {
    let (_dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let needed = sim.cpv4_start_within(target, &[], 10).unwrap().unwrap_err();
    assert_eq!(needed, sim.cpv4_start_size(target, &[]).unwrap());
    assert_eq!(live(&sim, TARGET_HSM), (0, 0));
    let offer = sim.cpv4_start_within(target, &[], needed).unwrap().unwrap();
    assert_eq!(live(&sim, TARGET_HSM), (1, 0));
    let too_small = sim
        .cpv4_continue_within(source, 2, &offer, None, 10)
        .unwrap();
    assert!(too_small.is_err());
    assert_eq!(live(&sim, SOURCE_HSM), (0, 0), "the responder closed it");
    // The Offer was answered once and closed: a second answer is refused (replay rules).
    let accept = sim.cpv4_continue(source, 2, &offer, None);
    assert!(accept.is_err(), "{accept:?}");
    // The initiator abandons its Offer; nothing is left, and abandoning again is fine.
    sim.cpv4_abandon(target, &offer).unwrap();
    assert_eq!(live(&sim, TARGET_HSM), (0, 0));
    sim.cpv4_abandon(target, &offer).unwrap();
    let other = sim.cpv4_start(source, &[]).unwrap();
    assert_eq!(
        sim.cpv4_abandon(target, &other).unwrap_err().rv(),
        CKR_SESSION_NEGOTIATION_INVALID,
        "an Offer this partition never made"
    );
}
