//! The CA_ extensions under load, through the exported functions of the rlib: `CA_MigrateKeys`
//! of 100,000 objects in one call within a memory bound independent of the count, and 8
//! threads migrating at once: four with `CA_MigrateKeys` each, four sharing one negotiated
//! session that expires under them (each then negotiates its own). Whether the
//! `CA_MigrateKeys` threads also cross the expiry depends on the schedule; their
//! re-negotiation is shown deterministically by luna-sim's `migrate` tests (register A48).
//!
//! Each scenario runs in its own child process and home; a second `luna_sim::Simulator` on the
//! same home makes the objects (in batches, one transaction each) and reads the result.
#![allow(unsafe_code)]
// Test helpers, like tests, fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::ptr::null_mut;
use std::sync::Barrier;

use cpv4_wire::consts::*;
use luna_ffi::types::*;
use luna_ffi::*;
use luna_sim::{Attribute, AttributeValue, Simulator};

const SOURCE: CK_SLOT_ID = 0;
const TARGET: CK_SLOT_ID = 1;
const HSMS: [&str; 2] = ["150001", "150002"];

/// The simulator of the scenario's home, beside the library's own.
fn device() -> Simulator {
    Simulator::open(std::path::Path::new(
        &std::env::var_os("LUNA_SIM_HOME").unwrap(),
    ))
    .unwrap()
}

fn open(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let mut session = 0;
    let rv = call!(C_OpenSession(
        slot,
        CKF_SERIAL_SESSION | CKF_RW_SESSION,
        null_mut(),
        None,
        &mut session
    ));
    assert_eq!(rv, CKR_OK);
    session
}

/// Initializes the library and logs the Crypto Officer in on both slots (login is per slot:
/// every session opened later shares it).
fn initialize() {
    assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
    for slot in [SOURCE, TARGET] {
        let session = open(slot);
        let pin = common::CO_PIN;
        let rv = call!(C_Login(
            session,
            CKU_USER,
            pin.as_ptr().cast_mut(),
            pin.len() as CK_ULONG
        ));
        assert_eq!(rv, CKR_OK);
    }
}

/// `count` AES token keys on the source, made through `sim` in batches of one transaction.
fn make_keys(sim: &Simulator, count: usize) -> Vec<CK_OBJECT_HANDLE> {
    let session = sim.open_session(SOURCE, true).unwrap();
    sim.login(session, CKU_USER, common::CO_PIN.as_bytes())
        .unwrap();
    let mut handles = Vec::with_capacity(count);
    let mut made = 0;
    while made < count {
        let batch = (count - made).min(5_000);
        let templates: Vec<Vec<Attribute>> = (made..made + batch)
            .map(|i| {
                let mut value = [0u8; 32];
                value[..8].copy_from_slice(&(i as u64).to_le_bytes());
                vec![
                    Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                    Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                    Attribute::bool(CKA_TOKEN, true),
                    Attribute::bytes(CKA_VALUE, value.to_vec()),
                ]
            })
            .collect();
        handles.extend(sim.create_objects(session, &templates).unwrap());
        made += batch;
    }
    sim.close_session(session).unwrap();
    handles
}

/// The `CKA_OUID` of every token object of `slot`, with how often each occurs.
fn ouids(sim: &Simulator, slot: CK_SLOT_ID) -> BTreeMap<Vec<u8>, usize> {
    let session = sim.open_session(slot, false).unwrap();
    sim.login(session, CKU_USER, common::CO_PIN.as_bytes())
        .unwrap();
    let mut seen = BTreeMap::new();
    for handle in sim.find_all(session, &[]).unwrap() {
        match sim
            .get_attribute_value(session, handle, &[CKA_OUID])
            .unwrap()
            .pop()
        {
            Some(AttributeValue::Value(ouid)) => *seen.entry(ouid.to_vec()).or_insert(0) += 1,
            other => panic!("no CKA_OUID: {other:?}"),
        }
    }
    sim.close_session(session).unwrap();
    seen
}

/// A figure of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// Resets the peak resident size (`VmHWM`) to the current one (`clear_refs` 5, Linux).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
}

/// How much more `CA_MigrateKeys` of 100,000 objects may use at its peak than of 10,000,
/// beyond the caller's array: 2 MiB over 90,000 more objects, so the flow may keep no more
/// than some 23 bytes per object (a blob is some 450).
const GROWTH_SLACK_KIB: u64 = 2 * 1024;
/// What `CA_MigrateKeys` may use at its peak beyond its caller's array, whatever the count:
/// one batch of blobs (`cpv4_migrate::BATCH_OBJECTS`, 1,024, of some hundreds of bytes each
/// here, at most 64,000), the simulator's per-call buffers and SQLite's page caches.
const MIGRATE_KEYS_BOUND_KIB: u64 = 32 * 1024;

/// The peak RSS growth (KiB) of one `CA_MigrateKeys` of every token object of the source, in
/// a child process that did nothing before but open the library and build the caller's array,
/// after the parent made the objects.
fn measured_growth(count: usize) -> u64 {
    let home = common::home();
    {
        let sim = Simulator::open(home.path()).unwrap();
        assert_eq!(make_keys(&sim, count).len(), count);
    }
    let stdout = common::run_scenario("scenario_migrate_every_source_object_measured", home.path());
    let growth = stdout
        .lines()
        .find_map(|line| line.split("peak RSS growth KiB: ").nth(1))
        .and_then(|n| n.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no measurement in:\n{stdout}"));
    // Every object cloned once.
    let sim = Simulator::open(home.path()).unwrap();
    let source = ouids(&sim, SOURCE);
    assert_eq!(source.len(), count);
    assert_eq!(ouids(&sim, TARGET), source);
    for hsm in HSMS {
        let (negotiations, sessions, _) = sim.cpv4_counts(hsm).unwrap();
        assert_eq!((negotiations, sessions), (0, 0), "no session left behind");
    }
    growth
}

#[test]
fn migrate_keys_of_100_000_objects_stays_within_a_bound_independent_of_the_count() {
    let small = measured_growth(10_000);
    let large = measured_growth(100_000);
    println!(
        "CA_MigrateKeys peak RSS growth beyond the caller's array: {small} KiB for 10,000 \
         objects, {large} KiB for 100,000 (bound {MIGRATE_KEYS_BOUND_KIB} KiB)"
    );
    assert!(small <= MIGRATE_KEYS_BOUND_KIB, "{small} KiB for 10,000");
    assert!(large <= MIGRATE_KEYS_BOUND_KIB, "{large} KiB for 100,000");
    assert!(
        large <= small + GROWTH_SLACK_KIB,
        "{large} KiB for 100,000 against {small} KiB for 10,000: the flow keeps something per object"
    );
}

#[test]
#[ignore = "runs in a child process of its visible test"]
fn scenario_migrate_every_source_object_measured() {
    assert!(common::in_scenario(), "run through its parent test");
    initialize();
    let handles = {
        let sim = device();
        let session = sim.open_session(SOURCE, false).unwrap();
        sim.login(session, CKU_USER, common::CO_PIN.as_bytes())
            .unwrap();
        sim.find_all(session, &[]).unwrap()
    };
    let source = open(SOURCE);
    let target = open(TARGET);
    let mut data: Vec<CK_OBJECT_MIGRATION_DATA> = handles
        .iter()
        .map(|&handle| CK_OBJECT_MIGRATION_DATA {
            objectType: CK_CRYPTOKI_ELEMENT,
            sourceHandle: handle,
            ..CK_OBJECT_MIGRATION_DATA::default()
        })
        .collect();
    drop(handles);
    reset_peak();
    let before = status_kib("VmRSS:");
    let rv = call!(CA_MigrateKeys(
        source,
        target,
        0,
        data.len() as CK_ULONG,
        data.as_mut_ptr()
    ));
    let peak = status_kib("VmHWM:");
    assert_eq!(rv, CKR_OK);
    assert!(
        data.iter()
            .all(|item| item.rv == CKR_OK && item.targetHandle != 0)
    );
    println!("peak RSS growth KiB: {}", peak.saturating_sub(before));
    assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
}

/// Start, Continue, Continue and the Confirm's delivery (an extract of no object): a
/// confirmed session between the two slots, the target the initiator.
fn negotiate(source: CK_SESSION_HANDLE, target: CK_SESSION_HANDLE) -> [u8; 16] {
    let mut step = 0;
    let mut offer = vec![0u8; 64_000];
    let mut len = offer.len() as CK_ULONG;
    let rv = call!(CA_MigrationStartSessionNegotiation(
        target,
        0,
        null_mut(),
        &mut step,
        &mut len,
        offer.as_mut_ptr()
    ));
    assert_eq!(rv, CKR_OK);
    offer.truncate(len as usize);
    let mut accept = vec![0u8; 64_000];
    let (mut accept_len, mut status, mut uid, mut uid_len) =
        (accept.len() as CK_ULONG, 0, [0u8; 16], 16);
    let rv = call!(CA_MigrationContinueSessionNegotiation(
        source,
        2,
        offer.len() as CK_ULONG,
        offer.as_mut_ptr(),
        0,
        null_mut(),
        &mut step,
        &mut accept_len,
        accept.as_mut_ptr(),
        &mut status,
        &mut uid_len,
        uid.as_mut_ptr()
    ));
    assert_eq!(rv, CKR_OK);
    let mut confirm = vec![0u8; 64_000];
    let mut confirm_len = confirm.len() as CK_ULONG;
    let rv = call!(CA_MigrationContinueSessionNegotiation(
        target,
        3,
        accept_len,
        accept.as_mut_ptr(),
        16,
        uid.as_mut_ptr(),
        &mut step,
        &mut confirm_len,
        confirm.as_mut_ptr(),
        &mut status,
        null_mut(),
        null_mut()
    ));
    assert_eq!(rv, CKR_OK);
    let (rv, _) = extract(source, &uid, &confirm[..confirm_len as usize], &[]);
    assert_eq!(rv, CKR_OK);
    uid
}

/// `CA_Extract` of `handles`: the call's code and each object's `(result, blob)`.
fn extract(
    session: CK_SESSION_HANDLE,
    uid: &[u8; 16],
    input: &[u8],
    handles: &[CK_OBJECT_HANDLE],
) -> (CK_RV, Vec<(CK_RV, Vec<u8>)>) {
    let count = handles.len();
    let mut types = vec![CK_CRYPTOKI_ELEMENT; count];
    let mut handles = handles.to_vec();
    let mut results = vec![0 as CK_RV; count];
    let mut lengths = vec![4_096 as CK_ULONG; count];
    let mut buffers = vec![vec![0u8; 4_096]; count];
    let mut pointers: Vec<CK_BYTE_PTR> = buffers.iter_mut().map(|b| b.as_mut_ptr()).collect();
    let mut params = CK_CPV4_EXTRACT_PARAMS {
        inputLength: input.len() as CK_ULONG,
        input: if input.is_empty() {
            null_mut()
        } else {
            input.as_ptr().cast_mut()
        },
        sessionOuidLen: 16,
        sessionOuid: uid.as_ptr().cast_mut(),
        extractionFlags: 0,
        numberOfObjects: count as CK_ULONG,
        objectType: types.as_mut_ptr(),
        objectHandle: handles.as_mut_ptr(),
        result: results.as_mut_ptr(),
        keyBlobLen: lengths.as_mut_ptr(),
        keyBlob: pointers.as_mut_ptr(),
    };
    let mut mechanism = CK_MECHANISM {
        mechanism: CKM_CPV4_EXTRACT,
        pParameter: std::ptr::from_mut(&mut params).cast(),
        ulParameterLen: size_of::<CK_CPV4_EXTRACT_PARAMS>() as CK_ULONG,
    };
    let rv = call!(CA_Extract(session, &mut mechanism));
    let out = results
        .into_iter()
        .zip(lengths)
        .zip(buffers)
        .map(|((result, length), mut buffer)| {
            buffer.truncate(length as usize);
            (result, buffer)
        })
        .collect();
    (rv, out)
}

/// `CA_Insert` of `blobs`: the call's code and each object's result.
fn insert(session: CK_SESSION_HANDLE, uid: &[u8; 16], blobs: &[Vec<u8>]) -> (CK_RV, Vec<CK_RV>) {
    let count = blobs.len();
    let mut types = vec![CK_CRYPTOKI_ELEMENT; count];
    let mut storage = vec![LUNA_STORAGE_DEFAULT; count];
    let mut lengths: Vec<CK_ULONG> = blobs.iter().map(|b| b.len() as CK_ULONG).collect();
    let mut pointers: Vec<CK_BYTE_PTR> = blobs.iter().map(|b| b.as_ptr().cast_mut()).collect();
    let mut results = vec![0 as CK_RV; count];
    let mut handles = vec![0 as CK_OBJECT_HANDLE; count];
    let mut params = CK_CPV4_INSERT_PARAMS {
        inputLength: 0,
        input: null_mut(),
        sessionOuidLen: 16,
        sessionOuid: uid.as_ptr().cast_mut(),
        insertionFlags: 0,
        numberOfObjects: count as CK_ULONG,
        objectType: types.as_mut_ptr(),
        storageType: storage.as_mut_ptr(),
        keyBlobLen: lengths.as_mut_ptr(),
        keyBlob: pointers.as_mut_ptr(),
        result: results.as_mut_ptr(),
        objectHandle: handles.as_mut_ptr(),
    };
    let mut mechanism = CK_MECHANISM {
        mechanism: CKM_CPV4_INSERT,
        pParameter: std::ptr::from_mut(&mut params).cast(),
        ulParameterLen: size_of::<CK_CPV4_INSERT_PARAMS>() as CK_ULONG,
    };
    let rv = call!(CA_Insert(session, &mut mechanism));
    (rv, results)
}

fn close(session: CK_SESSION_HANDLE, uid: &[u8; 16]) {
    assert_eq!(
        call!(CA_MigrationCloseSession(
            session,
            16,
            uid.as_ptr().cast_mut()
        )),
        CKR_OK
    );
}

/// One batch over the low-level calls; `Err` with the call's code when the session failed
/// (nothing of the batch was stored then: an insert is one transaction).
fn move_batch(
    source: CK_SESSION_HANDLE,
    target: CK_SESSION_HANDLE,
    uid: &[u8; 16],
    handles: &[CK_OBJECT_HANDLE],
) -> Result<(), CK_RV> {
    let (rv, extracted) = extract(source, uid, &[], handles);
    if rv != CKR_OK {
        return Err(rv);
    }
    assert!(extracted.iter().all(|(result, _)| *result == CKR_OK));
    let blobs: Vec<Vec<u8>> = extracted.into_iter().map(|(_, blob)| blob).collect();
    let (rv, results) = insert(target, uid, &blobs);
    if rv != CKR_OK {
        return Err(rv);
    }
    assert!(results.iter().all(|result| *result == CKR_OK));
    Ok(())
}

const THREADS: usize = 8;
const PER_THREAD: usize = 1_200;
const BATCH: usize = 100;

scenario!(
    eight_threads_migrate_at_once_some_sharing_a_session_across_its_expiry,
    scenario_eight_threads_migrate_at_once_some_sharing_a_session_across_its_expiry,
    {
        initialize();
        let sim = device();
        // The devices follow their own clocks (policy 57 off), so the test can move them.
        let now = sim.host_time();
        for hsm in HSMS {
            sim.set_hsm_policy(hsm, HSM_POLICY_SYNC_HOST_TIME, false)
                .unwrap();
            sim.set_device_time(hsm, now).unwrap();
        }
        let keys = make_keys(&sim, THREADS * PER_THREAD);
        let shared = negotiate(open(SOURCE), open(TARGET));
        // Threads 4 to 7 share `shared`; all of them pause halfway while both clocks jump
        // past the session's lifetime, then go on: their next call meets the expiry.
        let halfway = Barrier::new(THREADS / 2 + 1);
        let renegotiated = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for (index, chunk) in keys.chunks(PER_THREAD).enumerate() {
                let halfway = &halfway;
                let renegotiated = &renegotiated;
                scope.spawn(move || {
                    let (source, target) = (open(SOURCE), open(TARGET));
                    if index < THREADS / 2 {
                        // CA_MigrateKeys, which negotiates its own session and closes it.
                        let mut data: Vec<CK_OBJECT_MIGRATION_DATA> = chunk
                            .iter()
                            .map(|&handle| CK_OBJECT_MIGRATION_DATA {
                                objectType: CK_CRYPTOKI_ELEMENT,
                                sourceHandle: handle,
                                ..CK_OBJECT_MIGRATION_DATA::default()
                            })
                            .collect();
                        let rv = call!(CA_MigrateKeys(
                            source,
                            target,
                            0,
                            data.len() as CK_ULONG,
                            data.as_mut_ptr()
                        ));
                        assert_eq!(rv, CKR_OK);
                        assert!(data.iter().all(|item| item.rv == CKR_OK));
                        return;
                    }
                    let mut uid = shared;
                    let mut own = None;
                    for (number, batch) in chunk.chunks(BATCH).enumerate() {
                        if number == PER_THREAD / BATCH / 2 {
                            halfway.wait();
                            halfway.wait();
                        }
                        match move_batch(source, target, &uid, batch) {
                            Ok(()) => {}
                            Err(CKR_SESSION_ID_EXPIRED | CKR_SESSION_ID_INVALID)
                                if uid == shared =>
                            {
                                // The documented codes of a session past its lifetime
                                // (expired, or already swept by another thread's call):
                                // negotiate a session of this thread's own, redo the batch.
                                uid = negotiate(source, target);
                                own = Some(uid);
                                renegotiated.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                move_batch(source, target, &uid, batch).unwrap();
                            }
                            Err(rv) => panic!("undocumented code 0x{rv:08X}"),
                        }
                    }
                    if let Some(own) = own {
                        close(source, &own);
                        close(target, &own);
                    }
                });
            }
            halfway.wait();
            let later = sim.host_time() + 3_601;
            for hsm in HSMS {
                sim.set_device_time(hsm, later).unwrap();
            }
            halfway.wait();
        });
        assert_eq!(
            renegotiated.load(std::sync::atomic::Ordering::SeqCst),
            THREADS / 2,
            "each thread of the shared session met its expiry once"
        );
        close(open(SOURCE), &shared);
        close(open(TARGET), &shared);
        // Every object cloned exactly once.
        let source = ouids(&sim, SOURCE);
        let target = ouids(&sim, TARGET);
        assert_eq!(source.len(), THREADS * PER_THREAD);
        assert_eq!(target, source);
        for hsm in HSMS {
            let (negotiations, sessions, _) = sim.cpv4_counts(hsm).unwrap();
            assert_eq!((negotiations, sessions), (0, 0), "no session left behind");
        }
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);
