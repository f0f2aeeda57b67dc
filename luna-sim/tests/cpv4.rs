//! The CPv4 engine inside the simulated HSM: negotiations between the two default HSMs of one
//! home through the `Simulator` API, the device-side checks (role, policies, firmware, clock),
//! and records that live in the home's database, shared by every simulator that opens it.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use cpv4_wire::consts::*;
use luna_sim::provision::{DEFAULT_DEVICE_SERIALS, DEFAULT_SO_PIN};
use luna_sim::{SessionHandle, Simulator, TestClock};

const SOURCE: u64 = 0;
const TARGET: u64 = 1;
const NOW: i64 = 1_800_000_000;

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

use luna_sim::{Attribute, ExtractItem, GcmParams, HashAlg, InsertItem, Mechanism, P256_EC_PARAMS};

/// Every readable attribute of an object, as the source's session sees it.
fn all_attributes(sim: &Simulator, session: SessionHandle, object: u64) -> Vec<(u64, Vec<u8>)> {
    // The types the simulator stores for the classes used here.
    let kinds: Vec<u64> = (0u64..0x200).chain([CKA_OUID]).collect();
    let values = sim
        .get_attribute_value(session, object, &kinds)
        .unwrap_or_else(|_| {
            // Unreadable (sensitive) or invalid attributes make the call fail as a whole: ask one
            // at a time instead.
            Vec::new()
        });
    if !values.is_empty() {
        return kinds
            .iter()
            .zip(values)
            .filter_map(|(kind, value)| match value {
                luna_sim::AttributeValue::Value(v) => Some((*kind, v.to_vec())),
                _ => None,
            })
            .collect();
    }
    kinds
        .iter()
        .filter_map(
            |kind| match sim.get_attribute_value(session, object, &[*kind]) {
                Ok(mut v) => match v.pop() {
                    Some(luna_sim::AttributeValue::Value(v)) => Some((*kind, v.to_vec())),
                    _ => None,
                },
                Err(_) => None,
            },
        )
        .collect()
}

/// Extracts `objects` from the source and inserts them on the target in one batch each.
fn migrate(
    sim: &Simulator,
    source: SessionHandle,
    target: SessionHandle,
    objects: &[u64],
) -> Vec<u64> {
    let n = negotiate((sim, target), (sim, source));
    let items: Vec<_> = objects
        .iter()
        .map(|&handle| ExtractItem {
            object_type: CK_CRYPTOKI_ELEMENT,
            handle,
            capacity: 64_000,
        })
        .collect();
    // A size query first: the lengths, no sequence number used (it carries the Confirm).
    let sizes = sim
        .cpv4_extract(source, &n.uid, &n.confirm, 0, &items, true)
        .unwrap();
    assert_eq!(sizes.rv, CKR_OK);
    assert!(sizes.blobs.iter().all(Option::is_none));
    let extracted = sim
        .cpv4_extract(source, &n.uid, &[], 0, &items, false)
        .unwrap();
    assert_eq!(extracted.rv, CKR_OK, "{:?}", extracted.results);
    assert_eq!(extracted.lengths, sizes.lengths);
    let blobs: Vec<_> = extracted.blobs.into_iter().map(Option::unwrap).collect();
    // Two simulators negotiate the compact attribute list (encoding 2).
    for blob in &blobs {
        let header = cpv4_wire::KeyBlob::decode(blob).unwrap().header;
        assert_eq!(header.encoding, cpv4::ENCODING_COMPACT_ATTRIBUTE_LIST);
    }
    let inserts: Vec<_> = blobs
        .iter()
        .map(|blob| InsertItem {
            storage_type: 1,
            object_type: CK_CRYPTOKI_ELEMENT,
            blob,
        })
        .collect();
    let inserted = sim
        .cpv4_insert(target, &n.uid, &n.confirm, 0, &inserts)
        .unwrap();
    assert_eq!(inserted.rv, CKR_OK, "{:?}", inserted.results);
    assert!(inserted.results.iter().all(|rv| *rv == CKR_OK));
    // The same blobs again: replays, per object.
    let again = sim
        .cpv4_insert(target, &n.uid, &[], CKF_CONTINUE_ON_ERR, &inserts)
        .unwrap();
    assert_eq!(again.results, vec![CKR_CPV4_MSG_ERROR; objects.len()]);
    sim.cpv4_close(source, &n.uid).unwrap();
    sim.cpv4_close(target, &n.uid).unwrap();
    inserted.handles
}

/// One object of each class the simulator stores, on the source: an AES key that is
/// sensitive and not extractable, an EC key pair, a data object, a certificate (all token
/// objects) and a generic secret session object.
fn sample_objects(sim: &Simulator, source: SessionHandle) -> [u64; 6] {
    // An AES key that is sensitive and not extractable: policies govern cloning, not
    // CKA_EXTRACTABLE.
    let aes = sim
        .generate_key(
            source,
            &Mechanism::AesKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 32),
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bool(CKA_EXTRACTABLE, false),
                Attribute::bytes(CKA_LABEL, b"aes".to_vec()),
            ],
        )
        .unwrap();
    let (ec_public, ec_private) = sim
        .generate_key_pair(
            source,
            &Mechanism::EcKeyPairGen,
            &[
                Attribute::bytes(CKA_EC_PARAMS, P256_EC_PARAMS.to_vec()),
                Attribute::bool(CKA_TOKEN, true),
            ],
            &[
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bool(CKA_SIGN, true),
            ],
        )
        .unwrap();
    let data = sim
        .create_object(
            source,
            &[
                Attribute::ulong(CKA_CLASS, CKO_DATA),
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bytes(CKA_VALUE, b"some data".to_vec()),
            ],
        )
        .unwrap();
    let certificate = sim
        .create_object(
            source,
            &[
                Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE),
                Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bytes(CKA_VALUE, vec![0x30, 0x03, 0x02, 0x01, 0x01]),
            ],
        )
        .unwrap();
    let session_key = sim
        .generate_key(
            source,
            &Mechanism::GenericSecretKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 32),
                Attribute::bool(CKA_TOKEN, false),
            ],
        )
        .unwrap();
    [aes, ec_public, ec_private, data, certificate, session_key]
}

#[test]
fn keys_certificates_and_data_objects_migrate_and_the_clones_work() {
    let (_dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let objects = sample_objects(&sim, source);
    let [aes, ec_public, _, _, _, _] = objects;
    let before: Vec<_> = objects
        .iter()
        .map(|o| all_attributes(&sim, source, *o))
        .collect();
    let clones = migrate(&sim, source, target, &objects);
    // Every readable attribute matches, CKA_OUID included; the session key is a session
    // object on the target too.
    for (original, clone) in before.iter().zip(&clones) {
        assert_eq!(original, &all_attributes(&sim, target, *clone));
    }
    assert!(clones[5] >= luna_sim::SESSION_OBJECT_BASE);
    // What the source encrypts, the target decrypts; what the clone signs, the source
    // verifies.
    let gcm = Mechanism::AesGcm(GcmParams {
        iv: vec![3; 12],
        aad: vec![],
        tag_bits: 128,
    });
    sim.encrypt_init(source, &gcm, aes).unwrap();
    let ciphertext = sim.encrypt(source, b"moved intact").unwrap();
    sim.decrypt_init(target, &gcm, clones[0]).unwrap();
    assert_eq!(
        sim.decrypt(target, &ciphertext).unwrap().as_slice(),
        b"moved intact"
    );
    sim.sign_init(target, &Mechanism::EcdsaHash(HashAlg::Sha256), clones[2])
        .unwrap();
    let signature = sim.sign(target, b"signed on the target").unwrap();
    sim.verify_init(source, &Mechanism::EcdsaHash(HashAlg::Sha256), ec_public)
        .unwrap();
    sim.verify(source, b"signed on the target", &signature)
        .unwrap();
    // The source is unchanged.
    let after: Vec<_> = objects
        .iter()
        .map(|o| all_attributes(&sim, source, *o))
        .collect();
    assert_eq!(before, after);
}

/// A negotiated, confirmed session between the default HSMs and one AES token key on the
/// source, for the per-object codes of section 8.6.
struct Objects {
    _dir: tempfile::TempDir,
    sim: Simulator,
    source: SessionHandle,
    target: SessionHandle,
    key: u64,
    uid: Vec<u8>,
    confirm: Vec<u8>,
}

impl Objects {
    fn new() -> Self {
        let (dir, sim) = fresh();
        let source = login(&sim, SOURCE, CKU_USER);
        let target = login(&sim, TARGET, CKU_USER);
        let key = sim
            .generate_key(
                source,
                &Mechanism::AesKeyGen,
                &[
                    Attribute::ulong(CKA_VALUE_LEN, 32),
                    Attribute::bool(CKA_TOKEN, true),
                ],
            )
            .unwrap();
        let n = negotiate((&sim, target), (&sim, source));
        sim.cpv4_deliver_confirm(source, &n.uid, &n.confirm)
            .unwrap();
        Self {
            _dir: dir,
            sim,
            source,
            target,
            key,
            uid: n.uid,
            confirm: n.confirm,
        }
    }

    fn extract(&self, flags: CkUlong, items: &[(CkUlong, u64, usize)]) -> luna_sim::Extracted {
        let items: Vec<_> = items
            .iter()
            .map(|&(object_type, handle, capacity)| ExtractItem {
                object_type,
                handle,
                capacity,
            })
            .collect();
        self.sim
            .cpv4_extract(self.source, &self.uid, &[], flags, &items, false)
            .unwrap()
    }

    fn blob(&self, handle: u64) -> Vec<u8> {
        let out = self.extract(0, &[(CK_CRYPTOKI_ELEMENT, handle, 64_000)]);
        assert_eq!(out.results, vec![CKR_OK]);
        out.blobs[0].clone().unwrap().to_vec()
    }

    fn insert(&self, flags: CkUlong, items: &[(CkUlong, CkUlong, &[u8])]) -> luna_sim::Inserted {
        let items: Vec<_> = items
            .iter()
            .map(|&(storage_type, object_type, blob)| InsertItem {
                storage_type,
                object_type,
                blob,
            })
            .collect();
        self.sim
            .cpv4_insert(self.target, &self.uid, &self.confirm, flags, &items)
            .unwrap()
    }
}

#[test]
fn ckr_clone_not_attempted() {
    // Without CKF_CONTINUE_ON_ERR the call stops at the first failure: it returns that code
    // and the objects after it keep CKR_CLONE_NOT_ATTEMPTED (register A23).
    let o = Objects::new();
    let out = o.extract(
        0,
        &[(2, o.key, 64_000), (CK_CRYPTOKI_ELEMENT, o.key, 64_000)],
    );
    assert_eq!(out.rv, CKR_OBJECT_TYPE_INVALID);
    assert_eq!(
        out.results,
        vec![CKR_OBJECT_TYPE_INVALID, CKR_CLONE_NOT_ATTEMPTED]
    );
    assert!(out.blobs.iter().all(Option::is_none));
}

#[test]
fn ckr_object_type_invalid() {
    // Register A16: a type other than 0 or 1, or one that does not fit the handle or blob.
    let o = Objects::new();
    let out = o.extract(
        CKF_CONTINUE_ON_ERR,
        &[
            (2, o.key, 64_000),
            (CkUlong::MAX, o.key, 64_000),
            (CK_PARAM_ELEMENT, o.key, 64_000),
        ],
    );
    assert_eq!(out.results, vec![CKR_OBJECT_TYPE_INVALID; 3]);
    assert_eq!(out.rv, CKR_OK, "with CKF_CONTINUE_ON_ERR the call succeeds");
    let blob = o.blob(o.key);
    let inserted = o.insert(
        CKF_CONTINUE_ON_ERR,
        &[(1, CK_PARAM_ELEMENT, &blob), (1, 4, &blob)],
    );
    assert_eq!(inserted.results, vec![CKR_OBJECT_TYPE_INVALID; 2]);
}

#[test]
fn ckr_object_handle_invalid() {
    let o = Objects::new();
    let out = o.extract(
        CKF_CONTINUE_ON_ERR,
        &[
            (CK_CRYPTOKI_ELEMENT, 424_242, 64_000),
            (CK_CRYPTOKI_ELEMENT, o.key, 64_000),
        ],
    );
    assert_eq!(out.results, vec![CKR_OBJECT_HANDLE_INVALID, CKR_OK]);
}

#[test]
fn ckr_action_prohibited() {
    // Register A27: partition policy 4 (secret keys) or 0 (private keys) off, on either side.
    let o = Objects::new();
    let blob = o.blob(o.key);
    o.sim
        .set_partition_policy(SOURCE, PARTITION_POLICY_SECRET_KEY_CLONING, false)
        .unwrap();
    let out = o.extract(0, &[(CK_CRYPTOKI_ELEMENT, o.key, 64_000)]);
    assert_eq!(out.results, vec![CKR_ACTION_PROHIBITED]);
    o.sim
        .set_partition_policy(TARGET, PARTITION_POLICY_SECRET_KEY_CLONING, false)
        .unwrap();
    assert_eq!(
        o.insert(0, &[(1, 0, &blob)]).results,
        vec![CKR_ACTION_PROHIBITED]
    );
    // The refused blob was not accepted: with the policy back on, it inserts.
    o.sim
        .set_partition_policy(TARGET, PARTITION_POLICY_SECRET_KEY_CLONING, true)
        .unwrap();
    assert_eq!(o.insert(0, &[(1, 0, &blob)]).results, vec![CKR_OK]);
    // Private keys: policy 0.
    let (_, private) = o
        .sim
        .generate_key_pair(
            o.source,
            &Mechanism::EcKeyPairGen,
            &[Attribute::bytes(CKA_EC_PARAMS, P256_EC_PARAMS.to_vec())],
            &[Attribute::bool(CKA_SIGN, true)],
        )
        .unwrap();
    o.sim
        .set_partition_policy(SOURCE, PARTITION_POLICY_PRIVATE_KEY_CLONING, false)
        .unwrap();
    let out = o.extract(0, &[(CK_CRYPTOKI_ELEMENT, private, 64_000)]);
    assert_eq!(out.results, vec![CKR_ACTION_PROHIBITED]);
}

#[test]
fn ckr_cpv4_msg_error() {
    let o = Objects::new();
    let blob = o.blob(o.key);
    let mut flipped = blob.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let inserted = o.insert(
        CKF_CONTINUE_ON_ERR,
        &[
            (1, 0, b"not a blob"),
            (1, 0, &flipped),
            (1, 0, &blob),
            (1, 0, &blob),
        ],
    );
    // The last is the same blob again: once stored, its sequence number is a replay... in
    // the same call the OUID check finds it first.
    assert_eq!(
        inserted.results,
        vec![
            CKR_CPV4_MSG_ERROR,
            CKR_CPV4_MSG_ERROR,
            CKR_OK,
            CKR_FAILED_TO_CLONE_AN_OBJECT
        ]
    );
    assert_eq!(
        o.insert(0, &[(1, 0, &blob)]).results,
        vec![CKR_CPV4_MSG_ERROR]
    );
    // Register A29: an object too large for a blob.
    let big = o
        .sim
        .create_object(
            o.source,
            &[
                Attribute::ulong(CKA_CLASS, CKO_DATA),
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bytes(CKA_VALUE, vec![7; 20_000]),
            ],
        )
        .unwrap();
    let out = o.extract(0, &[(CK_CRYPTOKI_ELEMENT, big, 64_000)]);
    assert_eq!(out.results, vec![CKR_CPV4_MSG_ERROR]);
}

#[test]
fn ckr_buffer_too_small() {
    let o = Objects::new();
    let out = o.extract(
        CKF_CONTINUE_ON_ERR,
        &[
            (CK_CRYPTOKI_ELEMENT, o.key, 10),
            (CK_CRYPTOKI_ELEMENT, o.key, 64_000),
        ],
    );
    assert_eq!(out.results, vec![CKR_BUFFER_TOO_SMALL, CKR_OK]);
    assert_eq!(out.lengths[0], out.lengths[1], "the needed size is written");
    // No sequence number was used by the short buffer: the blob made is number 0.
    let blob = out.blobs[1].clone().unwrap();
    assert_eq!(&blob[27..35], &0u64.to_be_bytes());
}

#[test]
fn ckr_failed_to_clone_an_object() {
    // Register A30: an object with the same CKA_OUID exists on the partition.
    let o = Objects::new();
    let blob = o.blob(o.key);
    assert_eq!(o.insert(0, &[(1, 0, &blob)]).results, vec![CKR_OK]);
    let second = o.blob(o.key); // the same object, a new blob (a new sequence number)
    let inserted = o.insert(0, &[(1, 0, &second)]);
    assert_eq!(inserted.results, vec![CKR_FAILED_TO_CLONE_AN_OBJECT]);
    assert_eq!(inserted.handles, vec![0]);
    let mut found = Vec::new();
    o.sim.find_objects_init(o.target, &[]).unwrap();
    found.extend(o.sim.find_objects(o.target, 100).unwrap());
    o.sim.find_objects_final(o.target).unwrap();
    assert_eq!(found.len(), 1, "one clone, not two");
    // In a batch, the clash ends the call there: the object before it is stored, the one
    // after it not attempted.
    let other = o
        .sim
        .generate_key(
            o.source,
            &Mechanism::AesKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 32),
                Attribute::bool(CKA_TOKEN, true),
            ],
        )
        .unwrap();
    let (other_blob, third) = (o.blob(other), o.blob(o.key));
    let after = o.blob(other);
    let batch = o.insert(0, &[(1, 0, &other_blob), (1, 0, &third), (1, 0, &after)]);
    assert_eq!(
        batch.results,
        vec![
            CKR_OK,
            CKR_FAILED_TO_CLONE_AN_OBJECT,
            CKR_CLONE_NOT_ATTEMPTED
        ]
    );
    assert_eq!(batch.rv, CKR_FAILED_TO_CLONE_AN_OBJECT);
    // Not accepted: the numbers stay free (the refusal is not a replay). With the first clone
    // gone, the refused blob inserts.
    for handle in found {
        o.sim.destroy_object(o.target, handle).unwrap();
    }
    assert_eq!(o.insert(0, &[(1, 0, &second)]).results, vec![CKR_OK]);
}

#[test]
fn two_processes_inserting_one_object_store_it_once() {
    // Two simulators on one home (as two processes) insert blobs of one object at once: the
    // OUID check is in the transaction that stores it, so one stores it and the other gets
    // CKR_FAILED_TO_CLONE_AN_OBJECT (register A30), never a failed call.
    for _ in 0..15 {
        let o = Objects::new();
        let blobs = [o.blob(o.key), o.blob(o.key)];
        let home = o.sim.home().to_path_buf();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let threads: Vec<_> = blobs
            .into_iter()
            .map(|blob| {
                let (home, uid, confirm, barrier) = (
                    home.clone(),
                    o.uid.clone(),
                    o.confirm.clone(),
                    barrier.clone(),
                );
                std::thread::spawn(move || {
                    let sim = open(&home);
                    let target = login(&sim, TARGET, CKU_USER);
                    let items = [InsertItem {
                        storage_type: 1,
                        object_type: CK_CRYPTOKI_ELEMENT,
                        blob: &blob,
                    }];
                    barrier.wait();
                    sim.cpv4_insert(target, &uid, &confirm, 0, &items)
                        .map(|inserted| inserted.results)
                        .map_err(|error| error.rv())
                })
            })
            .collect();
        let mut results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        results.sort();
        assert_eq!(
            results,
            vec![Ok(vec![CKR_OK]), Ok(vec![CKR_FAILED_TO_CLONE_AN_OBJECT])]
        );
    }
}

#[test]
fn storage_types_keep_the_source_token_attribute() {
    // Register A5: storage types 0 to 3 are accepted and do not change the clone.
    let o = Objects::new();
    let session_key = o
        .sim
        .generate_key(
            o.source,
            &Mechanism::GenericSecretKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 32),
                Attribute::bool(CKA_TOKEN, false),
            ],
        )
        .unwrap();
    let token_blob = o.blob(o.key);
    let session_blob = o.blob(session_key);
    let inserted = o.insert(0, &[(3, 0, &token_blob), (1, 0, &session_blob)]);
    assert_eq!(inserted.results, vec![CKR_OK, CKR_OK]);
    assert!(
        inserted.handles[0] < luna_sim::PARAM_OBJECT_BASE,
        "a token object"
    );
    assert!(
        inserted.handles[1] >= luna_sim::SESSION_OBJECT_BASE,
        "a session object"
    );
    let blob = o.blob(o.key);
    assert_eq!(
        o.insert(0, &[(4, 0, &blob)]).results,
        vec![CKR_ARGUMENTS_BAD]
    );
}

#[test]
fn the_legacy_clone_copies_each_object_with_its_ouid_and_the_clones_work() {
    let (_dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let objects = sample_objects(&sim, source);
    let before: Vec<_> = objects
        .iter()
        .map(|o| all_attributes(&sim, source, *o))
        .collect();
    let clones: Vec<_> = objects
        .iter()
        .map(|&object| {
            sim.clone_object(target, source, CK_CRYPTOKI_ELEMENT, object)
                .unwrap()
        })
        .collect();
    for (original, clone) in before.iter().zip(&clones) {
        assert_eq!(
            original,
            &all_attributes(&sim, target, *clone),
            "CKA_OUID included"
        );
    }
    assert!(
        clones[5] >= luna_sim::SESSION_OBJECT_BASE,
        "the session key stays one"
    );
    let gcm = Mechanism::AesGcm(GcmParams {
        iv: vec![9; 12],
        aad: vec![],
        tag_bits: 128,
    });
    sim.encrypt_init(source, &gcm, objects[0]).unwrap();
    let ciphertext = sim.encrypt(source, b"legacy").unwrap();
    sim.decrypt_init(target, &gcm, clones[0]).unwrap();
    assert_eq!(
        sim.decrypt(target, &ciphertext).unwrap().as_slice(),
        b"legacy"
    );
    sim.sign_init(target, &Mechanism::EcdsaHash(HashAlg::Sha256), clones[2])
        .unwrap();
    let signature = sim.sign(target, b"signed by the clone").unwrap();
    sim.verify_init(source, &Mechanism::EcdsaHash(HashAlg::Sha256), objects[1])
        .unwrap();
    sim.verify(source, b"signed by the clone", &signature)
        .unwrap();
    // Once is enough: the OUID exists on the target now.
    assert_rv(
        sim.clone_object(target, source, CK_CRYPTOKI_ELEMENT, objects[0]),
        CKR_FAILED_TO_CLONE_AN_OBJECT,
    );
    let after: Vec<_> = objects
        .iter()
        .map(|o| all_attributes(&sim, source, *o))
        .collect();
    assert_eq!(after, before, "the source is unchanged");
}

#[test]
fn the_legacy_clone_refuses_what_the_policies_and_domains_refuse() {
    let (dir, sim) = fresh();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let key = sim
        .generate_key(
            source,
            &Mechanism::AesKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 32),
                Attribute::bool(CKA_TOKEN, true),
            ],
        )
        .unwrap();
    assert_rv(
        sim.clone_object(target, source, CK_PARAM_ELEMENT, key),
        CKR_OBJECT_TYPE_INVALID,
    );
    assert_rv(
        sim.clone_object(target, source, CK_CRYPTOKI_ELEMENT, 4242),
        CKR_OBJECT_HANDLE_INVALID,
    );
    // Legacy cloning off on either partition, or cloning off on either device.
    sim.set_protocol_enabled(TARGET, false, false).unwrap();
    assert_rv(
        sim.clone_object(target, source, 0, key),
        CKR_PROTOCOL_DISABLED,
    );
    sim.set_protocol_enabled(TARGET, false, true).unwrap();
    sim.set_hsm_policy(DEFAULT_DEVICE_SERIALS[0], HSM_POLICY_ALLOW_CLONING, false)
        .unwrap();
    assert_rv(
        sim.clone_object(target, source, 0, key),
        CKR_PROTOCOL_DISABLED,
    );
    sim.set_hsm_policy(DEFAULT_DEVICE_SERIALS[0], HSM_POLICY_ALLOW_CLONING, true)
        .unwrap();
    // Policy 4 off on the target.
    sim.set_partition_policy(TARGET, PARTITION_POLICY_SECRET_KEY_CLONING, false)
        .unwrap();
    assert_rv(
        sim.clone_object(target, source, 0, key),
        CKR_ACTION_PROHIBITED,
    );
    sim.set_partition_policy(TARGET, PARTITION_POLICY_SECRET_KEY_CLONING, true)
        .unwrap();
    // Not a Crypto Officer on the source.
    let other = open(dir.path());
    let so_source = login(&other, SOURCE, CKU_SO);
    let other_target = login(&other, TARGET, CKU_USER);
    assert_rv(
        other.clone_object(other_target, so_source, 0, key),
        CKR_USER_NOT_AUTHORIZED,
    );
    // No cloning domain in common: the target's only domain is replaced by another.
    let admin = open(dir.path());
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
    assert_rv(
        sim.clone_object(target, source, 0, key),
        CKR_SESSION_NEGOTIATION_NO_PSK,
    );
}

#[test]
fn the_smk_clones_and_replaces_the_targets() {
    let o = Objects::new();
    let source_smk = o.sim.smk(SOURCE).unwrap();
    let target_smk = o.sim.smk(TARGET).unwrap();
    assert_ne!(source_smk.ouid, target_smk.ouid);
    // A data object passed as a parameter object, and the SMK as a PKCS#11 object: refused.
    let out = o.extract(
        CKF_CONTINUE_ON_ERR,
        &[
            (CK_PARAM_ELEMENT, o.key, 64_000),
            (CK_CRYPTOKI_ELEMENT, source_smk.handle, 64_000),
            (CK_PARAM_ELEMENT, source_smk.handle, 64_000),
        ],
    );
    assert_eq!(
        out.results,
        vec![CKR_OBJECT_TYPE_INVALID, CKR_OBJECT_TYPE_INVALID, CKR_OK]
    );
    let blob = out.blobs[2].clone().unwrap();
    let inserted = o.insert(0, &[(0, CK_PARAM_ELEMENT, &blob)]);
    assert_eq!(inserted.results, vec![CKR_OK]);
    let cloned = o.sim.smk(TARGET).unwrap();
    assert_eq!(cloned.ouid, source_smk.ouid);
    assert_eq!(cloned.secret, source_smk.secret);
    assert_eq!(inserted.handles, vec![cloned.handle]);
    // The same SMK again: its OUID is the target's now.
    let again = o.extract(0, &[(CK_PARAM_ELEMENT, source_smk.handle, 64_000)]);
    let again = again.blobs[0].clone().unwrap();
    assert_eq!(
        o.insert(0, &[(0, CK_PARAM_ELEMENT, &again)]).results,
        vec![CKR_FAILED_TO_CLONE_AN_OBJECT]
    );
    assert_eq!(o.sim.smk(TARGET).unwrap().secret, source_smk.secret);
}

/// A template attribute's value inside the simulator: the canonical attribute list.
fn nested(attributes: &[Attribute]) -> Vec<u8> {
    cpv4_wire::AttributeList::new(
        attributes
            .iter()
            .map(|a| cpv4_wire::Attribute {
                ty: a.kind,
                value: a.value(),
            })
            .collect(),
    )
    .unwrap()
    .encode()
}

/// Register A81: the target checks what it inserts as an object it could hold as it is. Every
/// kind of object the token makes passes that check unchanged: RSA (with per-use
/// authentication), Ed25519 and P-384 pairs, DES3, a key with wrap and unwrap templates, a
/// public key the Partition SO trusted, a certificate with real fields.
#[test]
fn every_kind_of_object_the_token_makes_clones_whole() {
    let (_dir, sim) = fresh();
    let token = || Attribute::bool(CKA_TOKEN, true);
    let user = login(&sim, SOURCE, CKU_USER);
    let trusted = sim
        .create_object(
            user,
            &[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                Attribute::bytes(CKA_VALUE, vec![5; 32]),
                Attribute::bool(CKA_WRAP, true),
                // Public, so the Partition SO sees it.
                Attribute::bool(CKA_PRIVATE, false),
                token(),
            ],
        )
        .unwrap();
    sim.logout(user).unwrap();
    let so = login(&sim, SOURCE, CKU_SO);
    sim.set_attribute_value(so, trusted, &[Attribute::bool(CKA_TRUSTED, true)])
        .unwrap();
    sim.logout(so).unwrap();
    let source = login(&sim, SOURCE, CKU_USER);
    let target = login(&sim, TARGET, CKU_USER);
    let pair = |mechanism: &Mechanism, public: Vec<Attribute>, private: Vec<Attribute>| {
        sim.generate_key_pair(source, mechanism, &public, &private)
            .unwrap()
    };
    let (rsa_public, rsa_private) = pair(
        &Mechanism::RsaPkcsKeyPairGen,
        vec![Attribute::ulong(CKA_MODULUS_BITS, 1024), token()],
        vec![Attribute::bool(CKA_ALWAYS_AUTHENTICATE, true), token()],
    );
    let (ed_public, ed_private) = pair(
        &Mechanism::EdwardsKeyPairGen,
        vec![
            Attribute::bytes(CKA_EC_PARAMS, vec![0x06, 0x03, 0x2B, 0x65, 0x70]),
            token(),
        ],
        vec![token()],
    );
    let (p384_public, p384_private) = pair(
        &Mechanism::EcKeyPairGen,
        vec![
            Attribute::bytes(
                CKA_EC_PARAMS,
                vec![0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22],
            ),
            token(),
        ],
        vec![Attribute::bool(CKA_SENSITIVE, false), token()],
    );
    let des3 = sim
        .generate_key(source, &Mechanism::Des3KeyGen, &[token()])
        .unwrap();
    let templated = sim
        .generate_key(
            source,
            &Mechanism::AesKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 16),
                Attribute::raw(
                    CKA_WRAP_TEMPLATE,
                    nested(&[Attribute::ulong(CKA_KEY_TYPE, CKK_AES)]),
                ),
                Attribute::raw(
                    CKA_UNWRAP_TEMPLATE,
                    nested(&[Attribute::bool(CKA_SENSITIVE, true)]),
                ),
                token(),
            ],
        )
        .unwrap();
    // A real X.509 certificate: the default manufacturer root's.
    let root_certificate = sim.manufacturer_roots().unwrap()[0]
        .certificate_der()
        .to_vec();
    let make_certificate = || {
        sim.create_object(
            source,
            &[
                Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE),
                Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
                Attribute::bytes(CKA_VALUE, root_certificate.clone()),
                token(),
            ],
        )
        .unwrap()
    };
    let certificate = make_certificate();
    // The same certificate with its subject and serial cleared after it was made: the token
    // holds the empty fields as set (it fills them from the DER only when the object is made),
    // and so must its clone.
    let cleared = make_certificate();
    sim.set_attribute_value(
        source,
        cleared,
        &[
            Attribute::bytes(CKA_SUBJECT, Vec::new()),
            Attribute::bytes(CKA_SERIAL_NUMBER, Vec::new()),
        ],
    )
    .unwrap();
    assert!(read(&sim, source, cleared, CKA_SUBJECT).is_empty());
    assert!(!read(&sim, source, cleared, CKA_ISSUER).is_empty());
    let objects = [
        trusted,
        rsa_public,
        rsa_private,
        ed_public,
        ed_private,
        p384_public,
        p384_private,
        des3,
        templated,
        certificate,
        cleared,
    ];
    let before: Vec<_> = objects
        .iter()
        .map(|o| all_attributes(&sim, source, *o))
        .collect();
    let clones = migrate(&sim, source, target, &objects);
    for (original, clone) in before.iter().zip(&clones) {
        assert_eq!(original, &all_attributes(&sim, target, *clone));
    }
    // The history came along: the generated keys are local, always sensitive where they are
    // sensitive; the created one is neither.
    let flag = |object, kind| read(&sim, target, object, kind);
    assert_eq!(flag(clones[2], CKA_LOCAL), vec![1]);
    assert_eq!(flag(clones[0], CKA_LOCAL), vec![0]);
    assert_eq!(flag(clones[6], CKA_ALWAYS_SENSITIVE), vec![0]);
    assert_eq!(flag(clones[2], CKA_ALWAYS_SENSITIVE), vec![1]);
    assert!(flag(clones[10], CKA_SUBJECT).is_empty());
    assert!(flag(clones[10], CKA_SERIAL_NUMBER).is_empty());
    assert_eq!(
        flag(clones[9], CKA_SUBJECT),
        read(&sim, source, certificate, CKA_SUBJECT)
    );
}
