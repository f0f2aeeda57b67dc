//! Objects, attribute rules, finds, storage at rest and cryptographic operations.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{aes_template, fresh, login, open, read};
use cpv4_wire::consts::*;
use luna_sim::ck::CK_UNAVAILABLE_INFORMATION;
use luna_sim::{
    Attribute, AttributeValue, GcmParams, HashAlg, Mechanism, OUID_LEN, P256_EC_PARAMS,
    SessionHandle, SimError, Simulator, attribute_values_rv,
};

fn gcm(tag_bits: u64) -> Mechanism {
    Mechanism::AesGcm(GcmParams {
        iv: vec![7; 12],
        aad: b"header".to_vec(),
        tag_bits,
    })
}

fn ec_pair(sim: &Simulator, session: SessionHandle) -> (u64, u64) {
    sim.generate_key_pair(
        session,
        &Mechanism::EcKeyPairGen,
        &[
            Attribute::bytes(CKA_EC_PARAMS, P256_EC_PARAMS.to_vec()),
            Attribute::bool(CKA_TOKEN, true),
        ],
        &[
            Attribute::bool(CKA_TOKEN, true),
            Attribute::bytes(CKA_LABEL, b"ec".to_vec()),
        ],
    )
    .unwrap()
}

#[test]
fn sensitive_key_value_is_attribute_sensitive_with_unavailable_length() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let key = sim
        .create_object(co, &aes_template("s", &[9; 32], true))
        .unwrap();
    let values = sim
        .get_attribute_value(co, key, &[CKA_LABEL, CKA_VALUE, CKA_EC_POINT])
        .unwrap();
    assert_eq!(
        values[0],
        AttributeValue::Value(zeroize::Zeroizing::new(b"s".to_vec()))
    );
    assert_eq!(values[1], AttributeValue::Sensitive);
    assert_eq!(values[1].len_or_unavailable(), CK_UNAVAILABLE_INFORMATION);
    assert_eq!(values[2], AttributeValue::TypeInvalid);
    assert_eq!(attribute_values_rv(&values), CKR_ATTRIBUTE_SENSITIVE);
    assert_eq!(
        attribute_values_rv(&values[2..]),
        CKR_ATTRIBUTE_TYPE_INVALID
    );
    assert_eq!(attribute_values_rv(&values[..1]), CKR_OK);
    // A non-sensitive, extractable key reveals its value; an unextractable one does not.
    let open_key = sim
        .create_object(co, &aes_template("o", &[8; 16], false))
        .unwrap();
    assert_eq!(read(&sim, co, open_key, CKA_VALUE), vec![8; 16]);
    sim.set_attribute_value(co, open_key, &[Attribute::bool(CKA_EXTRACTABLE, false)])
        .unwrap();
    assert_eq!(
        sim.get_attribute_value(co, open_key, &[CKA_VALUE]).unwrap()[0],
        AttributeValue::Sensitive
    );
}

#[test]
fn read_only_attributes_are_attribute_read_only() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let key = sim
        .create_object(co, &aes_template("k", &[9; 16], false))
        .unwrap();
    for attr in [
        Attribute::ulong(CKA_CLASS, CKO_DATA),
        Attribute::bytes(CKA_VALUE, vec![1; 16]),
        Attribute::bool(CKA_LOCAL, true),
        Attribute::bytes(CKA_OUID, vec![0; 12]),
        Attribute::bool(CKA_TOKEN, false),
    ] {
        let kind = attr.kind;
        assert_eq!(
            sim.set_attribute_value(co, key, &[attr]).unwrap_err().rv(),
            CKR_ATTRIBUTE_READ_ONLY,
            "0x{kind:X}"
        );
    }
    // CKA_SENSITIVE only goes false -> true, CKA_EXTRACTABLE only true -> false.
    sim.set_attribute_value(co, key, &[Attribute::bool(CKA_SENSITIVE, true)])
        .unwrap();
    assert_eq!(
        sim.set_attribute_value(co, key, &[Attribute::bool(CKA_SENSITIVE, false)])
            .unwrap_err()
            .rv(),
        CKR_ATTRIBUTE_READ_ONLY
    );
    sim.set_attribute_value(co, key, &[Attribute::bool(CKA_EXTRACTABLE, false)])
        .unwrap();
    assert_eq!(
        sim.set_attribute_value(co, key, &[Attribute::bool(CKA_EXTRACTABLE, true)])
            .unwrap_err()
            .rv(),
        CKR_ATTRIBUTE_READ_ONLY
    );
    // History attributes keep telling the truth: the value was once known.
    assert_eq!(read(&sim, co, key, CKA_ALWAYS_SENSITIVE), vec![0]);
    assert_eq!(read(&sim, co, key, CKA_NEVER_EXTRACTABLE), vec![0]);
    // Relabelling persists and is indexed.
    sim.set_attribute_value(co, key, &[Attribute::bytes(CKA_LABEL, b"renamed".to_vec())])
        .unwrap();
    assert_eq!(
        sim.find_all(co, &[Attribute::bytes(CKA_LABEL, b"renamed".to_vec())])
            .unwrap(),
        vec![key]
    );
    // Crypto users may not modify.
    let cu_sim = open(sim.home());
    let cu = login(&cu_sim, 0, CKU_CRYPTO_USER);
    assert_eq!(
        cu_sim
            .set_attribute_value(cu, key, &[Attribute::bytes(CKA_LABEL, b"x".to_vec())])
            .unwrap_err()
            .rv(),
        CKR_USER_NOT_AUTHORIZED
    );
    assert_eq!(
        cu_sim.destroy_object(cu, key).unwrap_err().rv(),
        CKR_USER_NOT_AUTHORIZED
    );
}

#[test]
fn generated_keys_maintain_local_always_sensitive_never_extractable() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let key = sim
        .generate_key(
            co,
            &Mechanism::AesKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 24),
                Attribute::bool(CKA_EXTRACTABLE, false),
                Attribute::bool(CKA_TOKEN, true),
            ],
        )
        .unwrap();
    assert_eq!(read(&sim, co, key, CKA_LOCAL), vec![1]);
    assert_eq!(read(&sim, co, key, CKA_ALWAYS_SENSITIVE), vec![1]);
    assert_eq!(read(&sim, co, key, CKA_NEVER_EXTRACTABLE), vec![1]);
    assert_eq!(
        read(&sim, co, key, CKA_KEY_GEN_MECHANISM),
        Attribute::ulong(CKA_KEY_GEN_MECHANISM, CKM_AES_KEY_GEN).value()
    );
    assert_eq!(
        read(&sim, co, key, CKA_VALUE_LEN),
        24u64.to_be_bytes().to_vec()
    );
    assert_eq!(read(&sim, co, key, CKA_OUID).len(), OUID_LEN);
    assert_eq!(
        sim.generate_key(
            co,
            &Mechanism::AesKeyGen,
            &[Attribute::ulong(CKA_VALUE_LEN, 20)]
        )
        .unwrap_err()
        .rv(),
        CKR_KEY_SIZE_RANGE
    );
    assert_eq!(
        sim.generate_key(co, &Mechanism::AesKeyGen, &[])
            .unwrap_err()
            .rv(),
        CKR_TEMPLATE_INCOMPLETE
    );
    assert_eq!(
        sim.generate_key(
            co,
            &Mechanism::Digest(HashAlg::Sha256),
            &[Attribute::ulong(CKA_VALUE_LEN, 16)]
        )
        .unwrap_err()
        .rv(),
        CKR_MECHANISM_INVALID
    );
    assert_eq!(
        sim.create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_AES)
            ]
        )
        .unwrap_err()
        .rv(),
        CKR_TEMPLATE_INCOMPLETE
    );
    assert_eq!(
        sim.create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_DATA),
                Attribute::bool(CKA_LOCAL, true)
            ]
        )
        .unwrap_err()
        .rv(),
        CKR_ATTRIBUTE_READ_ONLY
    );
}

#[test]
fn ouids_are_unique_and_copies_get_their_own() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let key = sim
        .create_object(co, &aes_template("k", &[1; 16], false))
        .unwrap();
    let copy = sim
        .copy_object(co, key, &[Attribute::bytes(CKA_LABEL, b"copy".to_vec())])
        .unwrap();
    assert_ne!(
        read(&sim, co, key, CKA_OUID),
        read(&sim, co, copy, CKA_OUID)
    );
    assert_eq!(read(&sim, co, copy, CKA_VALUE), vec![1; 16]);
    let locked = sim
        .copy_object(
            co,
            key,
            &[
                Attribute::bool(CKA_COPYABLE, false),
                Attribute::bool(CKA_DESTROYABLE, false),
            ],
        )
        .unwrap();
    assert_eq!(
        sim.copy_object(co, locked, &[]).unwrap_err().rv(),
        CKR_ACTION_PROHIBITED
    );
    assert_eq!(
        sim.destroy_object(co, locked).unwrap_err().rv(),
        CKR_ACTION_PROHIBITED
    );
    sim.destroy_object(co, copy).unwrap();
    assert_eq!(
        sim.destroy_object(co, copy).unwrap_err().rv(),
        CKR_OBJECT_HANDLE_INVALID
    );
    let frozen = sim
        .copy_object(co, key, &[Attribute::bool(CKA_MODIFIABLE, false)])
        .unwrap();
    assert_eq!(
        sim.set_attribute_value(co, frozen, &[Attribute::bytes(CKA_LABEL, b"x".to_vec())])
            .unwrap_err()
            .rv(),
        CKR_ACTION_PROHIBITED
    );
}

#[test]
fn find_matches_token_and_session_objects_and_hides_private_ones() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let mut templates = Vec::new();
    for i in 0..5u8 {
        templates.push(vec![
            Attribute::ulong(CKA_CLASS, CKO_DATA),
            Attribute::bool(CKA_TOKEN, true),
            Attribute::bytes(CKA_LABEL, format!("data-{i}").into_bytes()),
            Attribute::bytes(CKA_APPLICATION, b"app".to_vec()),
            Attribute::bytes(CKA_VALUE, vec![i; 4]),
        ]);
    }
    let handles = sim.create_objects(co, &templates).unwrap();
    let session_obj = sim
        .create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_DATA),
                Attribute::bytes(CKA_APPLICATION, b"app".to_vec()),
            ],
        )
        .unwrap();
    let secret = sim
        .create_object(co, &aes_template("secret", &[1; 16], true))
        .unwrap();
    assert_eq!(
        sim.find_all(co, &[Attribute::bytes(CKA_LABEL, b"data-3".to_vec())])
            .unwrap(),
        vec![handles[3]]
    );
    let apps = sim
        .find_all(co, &[Attribute::bytes(CKA_APPLICATION, b"app".to_vec())])
        .unwrap();
    assert_eq!(apps.len(), 6);
    assert!(apps.contains(&session_obj));
    assert_eq!(
        sim.find_all(co, &[Attribute::bytes(CKA_VALUE, vec![2; 4])])
            .unwrap(),
        vec![handles[2]]
    );
    assert_eq!(
        sim.find_all(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::bytes(CKA_VALUE, vec![1; 16])
            ]
        )
        .unwrap(),
        Vec::<u64>::new(),
        "the sensitive key {secret} cannot be found by its value (register A55)"
    );
    // Paging through results.
    sim.find_objects_init(co, &[Attribute::ulong(CKA_CLASS, CKO_DATA)])
        .unwrap();
    assert_eq!(
        sim.find_objects_init(co, &[]).unwrap_err().rv(),
        CKR_OPERATION_ACTIVE
    );
    assert_eq!(sim.find_objects(co, 4).unwrap().len(), 4);
    assert_eq!(sim.find_objects(co, 4).unwrap().len(), 2);
    assert!(sim.find_objects(co, 4).unwrap().is_empty());
    sim.find_objects_final(co).unwrap();
    assert_eq!(
        sim.find_objects(co, 1).unwrap_err().rv(),
        CKR_OPERATION_NOT_INITIALIZED
    );
    // The private key is invisible without a user login; public data objects are not.
    let other = open(sim.home());
    let public = other.open_session(0, false).unwrap();
    let all = other.find_all(public, &[]).unwrap();
    assert_eq!(all.len(), 5);
    assert!(!all.contains(&secret));
    assert_eq!(
        other
            .get_attribute_value(public, secret, &[CKA_LABEL])
            .unwrap_err()
            .rv(),
        CKR_OBJECT_HANDLE_INVALID
    );
    // Token objects have the same handle in another instance; the other slot sees none.
    assert_eq!(all, handles);
    let slot1 = login(&sim, 1, CKU_USER);
    assert!(sim.find_all(slot1, &[]).unwrap().is_empty());
    assert_eq!(
        sim.get_attribute_value(slot1, handles[0], &[CKA_LABEL])
            .unwrap_err()
            .rv(),
        CKR_OBJECT_HANDLE_INVALID
    );
}

#[test]
fn find_by_label_or_id_uses_an_index_not_a_scan() {
    let (_dir, sim) = fresh();
    for template in [
        vec![Attribute::bytes(CKA_LABEL, b"k".to_vec())],
        vec![Attribute::bytes(CKA_ID, b"id".to_vec())],
        vec![
            Attribute::bytes(CKA_LABEL, b"k".to_vec()),
            Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
        ],
        vec![Attribute::bytes(CKA_APPLICATION, b"app".to_vec())],
        vec![],
        vec![Attribute::bytes(CKA_VALUE, vec![0x5a; 32])],
        vec![
            Attribute::bytes(CKA_LABEL, b"k".to_vec()),
            Attribute::bool(CKA_SIGN, true),
        ],
    ] {
        let plan = sim.explain_find(0, &template).unwrap();
        assert!(!plan.is_empty());
        assert!(
            plan.iter().any(|line| line.contains("USING INDEX")
                || line.contains("USING COVERING INDEX")
                || line.contains("USING PRIMARY KEY")),
            "{plan:?}"
        );
        for line in &plan {
            assert!(!line.starts_with("SCAN"), "full scan in {plan:?}");
            // Rows come in id order from the index: no sort holding the slot's rows.
            assert!(!line.contains("TEMP B-TREE"), "a sort in {plan:?}");
        }
    }
    // A template naming no indexed column walks the slot's index (schema version 5).
    for template in [
        vec![],
        vec![Attribute::bytes(CKA_APPLICATION, b"app".to_vec())],
    ] {
        let plan = sim.explain_find(0, &template).unwrap();
        assert!(plan.iter().any(|l| l.contains("objects_slot ")), "{plan:?}");
    }
    let plan = sim
        .explain_find(0, &[Attribute::bytes(CKA_LABEL, b"k".to_vec())])
        .unwrap();
    assert!(
        plan.iter().any(|l| l.contains("objects_slot_label")),
        "{plan:?}"
    );
    let plan = sim
        .explain_find(0, &[Attribute::bytes(CKA_ID, b"id".to_vec())])
        .unwrap();
    assert!(
        plan.iter().any(|l| l.contains("objects_slot_ckid")),
        "{plan:?}"
    );
}

/// The bytes of the store file and, if present, its `-wal` and `-shm` files.
fn store_files(home: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    let db = std::fs::read(home.join(luna_sim::DB_FILE)).unwrap();
    let wal = std::fs::read(home.join(format!("{}-wal", luna_sim::DB_FILE))).unwrap_or_default();
    (db, wal)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// While the simulator is open, the new objects are in the write-ahead log (SQLite moves them
/// into the `.db` file at a checkpoint, at the latest on close): both files are scanned then,
/// and the `.db` again after closing. The audit found the WAL scanned only after closing, when
/// SQLite had already removed it.
#[test]
fn key_values_are_encrypted_at_rest_and_labels_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let value = *b"AT-REST-SECRET-VALUE-32-BYTES-!!";
    let sim = open(dir.path());
    let co = login(&sim, 0, CKU_USER);
    sim.create_object(co, &aes_template("VISIBLE-LABEL-MARKER", &value, false))
        .unwrap();
    let (_, private) = sim
        .generate_key_pair(
            co,
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::ulong(CKA_MODULUS_BITS, 1024),
                Attribute::bool(CKA_TOKEN, true),
            ],
            &[
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bool(CKA_SENSITIVE, false),
            ],
        )
        .unwrap();
    let prime = read(&sim, co, private, CKA_PRIME_1);
    assert_eq!(
        sim.find_all(co, &[Attribute::bytes(CKA_VALUE, value.to_vec())])
            .unwrap()
            .len(),
        1
    );
    let check = |bytes: &[u8], what: &str| {
        assert!(!contains(bytes, &value), "{what}: a key value in the clear");
        assert!(
            !contains(bytes, &value[..16]),
            "{what}: half a key value in the clear"
        );
        assert!(
            !contains(bytes, &prime),
            "{what}: an RSA prime in the clear"
        );
        assert!(
            !contains(bytes, luna_sim::provision::DEFAULT_DOMAIN_KCV.as_bytes()),
            "{what}: the KCV is stored"
        );
    };
    let (db, wal) = store_files(dir.path());
    assert!(!wal.is_empty(), "the WAL holds the new objects while open");
    assert!(
        contains(&wal, b"VISIBLE-LABEL-MARKER"),
        "the scan must see the plain attributes of the new objects in the WAL"
    );
    check(&db, "open .db");
    check(&wal, "open -wal");
    drop(sim);
    let (db, _) = store_files(dir.path());
    assert!(
        contains(&db, b"VISIBLE-LABEL-MARKER"),
        "after closing, the objects are in the .db"
    );
    check(&db, "closed .db");
}

#[test]
fn aes_gcm_round_trip_single_and_multi_part() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let key = sim
        .generate_key(
            co,
            &Mechanism::AesKeyGen,
            &[Attribute::ulong(CKA_VALUE_LEN, 32)],
        )
        .unwrap();
    let msg = b"the quick brown fox jumps over the lazy dog".to_vec();
    for tag_bits in [96, 128] {
        sim.encrypt_init(co, &gcm(tag_bits), key).unwrap();
        assert_eq!(
            sim.encrypt_len(co, Some(msg.len()), true).unwrap(),
            msg.len() + tag_bits as usize / 8
        );
        let single = sim.encrypt(co, &msg).unwrap();
        assert_eq!(single.len(), msg.len() + tag_bits as usize / 8);
        sim.encrypt_init(co, &gcm(tag_bits), key).unwrap();
        let mut multi = sim.encrypt_update(co, &msg[..10]).unwrap();
        multi.extend(sim.encrypt_update(co, &msg[10..]).unwrap());
        multi.extend(sim.encrypt_final(co).unwrap());
        assert_eq!(multi, single);
        sim.decrypt_init(co, &gcm(tag_bits), key).unwrap();
        assert_eq!(*sim.decrypt(co, &single).unwrap(), msg);
        let mut tampered = single.clone();
        tampered[0] ^= 1;
        sim.decrypt_init(co, &gcm(tag_bits), key).unwrap();
        assert_eq!(
            sim.decrypt(co, &tampered).unwrap_err().rv(),
            CKR_ENCRYPTED_DATA_INVALID
        );
    }
    assert_eq!(
        sim.encrypt_init(co, &gcm(48), key).unwrap_err().rv(),
        CKR_MECHANISM_PARAM_INVALID
    );
}

#[test]
fn aes_cbc_pad_round_trip_single_and_multi_part() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let key = sim
        .create_object(co, &aes_template("cbc", &[4; 16], true))
        .unwrap();
    let mech = Mechanism::block(CKM_AES_CBC_PAD, &[1; 16]).unwrap();
    let msg: Vec<u8> = (0..45).collect();
    sim.encrypt_init(co, &mech, key).unwrap();
    let single = sim.encrypt(co, &msg).unwrap();
    assert_eq!(single.len(), 48);
    sim.encrypt_init(co, &mech, key).unwrap();
    let first = sim.encrypt_update(co, &msg[..20]).unwrap();
    assert_eq!(first.len(), 16);
    let mut multi = first;
    multi.extend(sim.encrypt_update(co, &msg[20..]).unwrap());
    multi.extend(sim.encrypt_final(co).unwrap());
    assert_eq!(multi, single);
    sim.decrypt_init(co, &mech, key).unwrap();
    let mut plain = sim.decrypt_update(co, &single[..32]).unwrap().to_vec();
    plain.extend_from_slice(&sim.decrypt_update(co, &single[32..]).unwrap());
    plain.extend_from_slice(&sim.decrypt_final(co).unwrap());
    assert_eq!(plain, msg);
    sim.decrypt_init(co, &mech, key).unwrap();
    assert_eq!(
        sim.decrypt(co, &single[..40]).unwrap_err().rv(),
        CKR_ENCRYPTED_DATA_LEN_RANGE
    );
}

#[test]
fn operation_active_and_operation_not_initialized() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let key = sim
        .create_object(co, &aes_template("k", &[4; 16], true))
        .unwrap();
    assert_eq!(
        sim.encrypt_update(co, b"x").unwrap_err().rv(),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(
        sim.decrypt_final(co).unwrap_err().rv(),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(
        sim.sign(co, b"x").unwrap_err().rv(),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(
        sim.digest_final(co).unwrap_err().rv(),
        CKR_OPERATION_NOT_INITIALIZED
    );
    sim.encrypt_init(co, &gcm(128), key).unwrap();
    assert_eq!(
        sim.encrypt_init(co, &gcm(128), key).unwrap_err().rv(),
        CKR_OPERATION_ACTIVE
    );
    // Other kinds are independent.
    sim.decrypt_init(co, &gcm(128), key).unwrap();
    sim.digest_init(co, &Mechanism::Digest(HashAlg::Sha256))
        .unwrap();
    assert_eq!(
        sim.digest_init(co, &Mechanism::Digest(HashAlg::Sha256))
            .unwrap_err()
            .rv(),
        CKR_OPERATION_ACTIVE
    );
    // A single-part call ends the operation.
    sim.encrypt(co, b"data").unwrap();
    assert_eq!(
        sim.encrypt(co, b"data").unwrap_err().rv(),
        CKR_OPERATION_NOT_INITIALIZED
    );
    // Logging out ends every operation.
    sim.logout(co).unwrap();
    assert_eq!(
        sim.decrypt_final(co).unwrap_err().rv(),
        CKR_OPERATION_NOT_INITIALIZED
    );
    // Key checks.
    sim.login(co, CKU_USER, b"co-pin").unwrap();
    assert_eq!(
        sim.encrypt_init(co, &gcm(128), 424_242).unwrap_err().rv(),
        CKR_KEY_HANDLE_INVALID
    );
    sim.set_attribute_value(co, key, &[Attribute::bool(CKA_ENCRYPT, false)])
        .unwrap();
    assert_eq!(
        sim.encrypt_init(co, &gcm(128), key).unwrap_err().rv(),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
    assert_eq!(
        sim.encrypt_init(co, &Mechanism::Digest(HashAlg::Sha256), key)
            .unwrap_err()
            .rv(),
        CKR_MECHANISM_INVALID
    );
}

#[test]
fn ecdsa_sign_verify_round_trip_raw_and_sha256() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let (public, private) = ec_pair(&sim, co);
    assert_eq!(
        read(&sim, co, public, CKA_EC_PARAMS),
        P256_EC_PARAMS.to_vec()
    );
    assert_eq!(read(&sim, co, public, CKA_EC_POINT).len(), 67);
    assert_eq!(
        sim.get_attribute_value(co, private, &[CKA_VALUE]).unwrap()[0],
        AttributeValue::Sensitive
    );
    let hash = [0x42u8; 32];
    sim.sign_init(co, &Mechanism::Ecdsa, private).unwrap();
    assert_eq!(sim.sign_len(co).unwrap(), 64);
    let sig = sim.sign(co, &hash).unwrap();
    assert_eq!(sig.len(), 64);
    sim.verify_init(co, &Mechanism::Ecdsa, public).unwrap();
    sim.verify(co, &hash, &sig).unwrap();
    sim.verify_init(co, &Mechanism::Ecdsa, public).unwrap();
    assert_eq!(
        sim.verify(co, &[0x43; 32], &sig).unwrap_err().rv(),
        CKR_SIGNATURE_INVALID
    );
    sim.verify_init(co, &Mechanism::Ecdsa, public).unwrap();
    assert_eq!(
        sim.verify(co, &hash, &sig[..63]).unwrap_err().rv(),
        CKR_SIGNATURE_LEN_RANGE
    );
    // CKM_ECDSA is single-part.
    sim.sign_init(co, &Mechanism::Ecdsa, private).unwrap();
    assert_eq!(
        sim.sign_update(co, &hash).unwrap_err().rv(),
        CKR_FUNCTION_NOT_SUPPORTED
    );
    // ECDSA with SHA-256, multi-part sign, single-part verify; the raw mechanism agrees.
    let msg = b"message to sign in parts";
    sim.sign_init(co, &Mechanism::EcdsaHash(HashAlg::Sha256), private)
        .unwrap();
    sim.sign_update(co, &msg[..7]).unwrap();
    sim.sign_update(co, &msg[7..]).unwrap();
    let sig = sim.sign_final(co).unwrap();
    sim.verify_init(co, &Mechanism::EcdsaHash(HashAlg::Sha256), public)
        .unwrap();
    sim.verify(co, msg, &sig).unwrap();
    sim.digest_init(co, &Mechanism::Digest(HashAlg::Sha256))
        .unwrap();
    let digest = sim.digest(co, msg).unwrap();
    sim.verify_init(co, &Mechanism::Ecdsa, public).unwrap();
    sim.verify(co, &digest, &sig).unwrap();
    // A public key cannot sign.
    assert_eq!(
        sim.sign_init(co, &Mechanism::Ecdsa, public)
            .unwrap_err()
            .rv(),
        CKR_KEY_TYPE_INCONSISTENT
    );
    // The Crypto User may use the keys.
    let cu_sim = open(sim.home());
    let cu = login(&cu_sim, 0, CKU_CRYPTO_USER);
    cu_sim
        .sign_init(cu, &Mechanism::EcdsaHash(HashAlg::Sha256), private)
        .unwrap();
    let sig = cu_sim.sign(cu, msg).unwrap();
    cu_sim
        .verify_init(cu, &Mechanism::EcdsaHash(HashAlg::Sha256), public)
        .unwrap();
    cu_sim.verify(cu, msg, &sig).unwrap();
}

#[test]
fn unsupported_curve_is_curve_not_supported() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    // secp192k1: a named curve this token does not offer.
    let secp192k1 = vec![0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x1F];
    let err = sim
        .generate_key_pair(
            co,
            &Mechanism::EcKeyPairGen,
            &[Attribute::bytes(CKA_EC_PARAMS, secp192k1)],
            &[],
        )
        .unwrap_err();
    assert_eq!(err.rv(), CKR_CURVE_NOT_SUPPORTED);
    let err = sim
        .generate_key_pair(
            co,
            &Mechanism::EcKeyPairGen,
            &[Attribute::bytes(CKA_EC_PARAMS, vec![0x30])],
            &[],
        )
        .unwrap_err();
    assert_eq!(err.rv(), CKR_DOMAIN_PARAMS_INVALID);
}

#[test]
fn hmac_sign_verify_round_trip_single_and_multi_part() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    // RFC 4231 test case 2.
    let key = sim
        .create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
                Attribute::bytes(CKA_VALUE, b"Jefe".to_vec()),
            ],
        )
        .unwrap();
    let msg = b"what do ya want for nothing?";
    let expected = hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    sim.sign_init(co, &Mechanism::Hmac(HashAlg::Sha256), key)
        .unwrap();
    assert_eq!(sim.sign(co, msg).unwrap(), expected);
    sim.sign_init(co, &Mechanism::Hmac(HashAlg::Sha256), key)
        .unwrap();
    sim.sign_update(co, &msg[..5]).unwrap();
    sim.sign_update(co, &msg[5..]).unwrap();
    assert_eq!(sim.sign_final(co).unwrap(), expected);
    sim.verify_init(co, &Mechanism::Hmac(HashAlg::Sha256), key)
        .unwrap();
    sim.verify_update(co, msg).unwrap();
    sim.verify_final(co, &expected).unwrap();
    sim.verify_init(co, &Mechanism::Hmac(HashAlg::Sha256), key)
        .unwrap();
    let mut bad = expected.clone();
    bad[31] ^= 1;
    assert_eq!(
        sim.verify(co, msg, &bad).unwrap_err().rv(),
        CKR_SIGNATURE_INVALID
    );
}

#[test]
fn sha256_known_answer_single_and_multi_part() {
    let (_dir, sim) = fresh();
    let session = sim.open_session(0, false).unwrap();
    let expected = hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sim.digest_init(session, &Mechanism::Digest(HashAlg::Sha256))
        .unwrap();
    assert_eq!(sim.digest(session, b"abc").unwrap(), expected);
    sim.digest_init(session, &Mechanism::Digest(HashAlg::Sha256))
        .unwrap();
    sim.digest_update(session, b"a").unwrap();
    sim.digest_update(session, b"bc").unwrap();
    assert_eq!(sim.digest_final(session).unwrap(), expected);
    assert_eq!(sim.generate_random(session, 33).unwrap().len(), 33);
}

#[test]
fn kwp_wrap_unwrap_round_trip_and_unextractable_is_key_unextractable() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let kek = sim
        .generate_key(
            co,
            &Mechanism::AesKeyGen,
            &[Attribute::ulong(CKA_VALUE_LEN, 32)],
        )
        .unwrap();
    let secret = sim
        .create_object(co, &aes_template("wrapped", &[0x5A; 24], true))
        .unwrap();
    for mech in [Mechanism::AesKeyWrapKwp, Mechanism::AesKeyWrapPad] {
        let wrapped = sim.wrap_key(co, &mech, kek, secret).unwrap();
        assert_eq!(wrapped.len(), 32);
        let unwrapped = sim
            .unwrap_key(
                co,
                &mech,
                kek,
                &wrapped,
                &[
                    Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                    Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                    Attribute::bool(CKA_SENSITIVE, false),
                ],
            )
            .unwrap();
        assert_eq!(read(&sim, co, unwrapped, CKA_VALUE), vec![0x5A; 24]);
        assert_eq!(read(&sim, co, unwrapped, CKA_LOCAL), vec![0]);
        let mut bad = wrapped.clone();
        bad[3] ^= 1;
        let err = sim
            .unwrap_key(
                co,
                &mech,
                kek,
                &bad,
                &[
                    Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                    Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                ],
            )
            .unwrap_err();
        assert_eq!(err.rv(), CKR_WRAPPED_KEY_INVALID);
    }
    // EC private keys travel as PKCS#8 and still sign for the same public key.
    let (public, private) = ec_pair(&sim, co);
    let wrapped = sim
        .wrap_key(co, &Mechanism::AesKeyWrapKwp, kek, private)
        .unwrap();
    let restored = sim
        .unwrap_key(
            co,
            &Mechanism::AesKeyWrapKwp,
            kek,
            &wrapped,
            &[Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY)],
        )
        .unwrap();
    sim.sign_init(co, &Mechanism::EcdsaHash(HashAlg::Sha256), restored)
        .unwrap();
    let sig = sim.sign(co, b"m").unwrap();
    sim.verify_init(co, &Mechanism::EcdsaHash(HashAlg::Sha256), public)
        .unwrap();
    sim.verify(co, b"m", &sig).unwrap();
    // Unextractable keys are refused.
    sim.set_attribute_value(co, secret, &[Attribute::bool(CKA_EXTRACTABLE, false)])
        .unwrap();
    assert_eq!(
        sim.wrap_key(co, &Mechanism::AesKeyWrapKwp, kek, secret)
            .unwrap_err()
            .rv(),
        CKR_KEY_UNEXTRACTABLE
    );
    assert_eq!(
        sim.wrap_key(co, &Mechanism::AesKeyWrapKwp, 999_999, secret)
            .unwrap_err()
            .rv(),
        CKR_WRAPPING_KEY_HANDLE_INVALID
    );
    assert_eq!(
        sim.wrap_key(co, &Mechanism::AesKeyWrapKwp, public, secret)
            .unwrap_err()
            .rv(),
        CKR_WRAPPING_KEY_TYPE_INCONSISTENT
    );
}

#[test]
fn integrity_check_of_a_used_store_is_clean() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    sim.create_objects(
        co,
        &(0..20)
            .map(|i| aes_template(&format!("k{i}"), &[i as u8; 16], true))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let report = sim.integrity_check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.objects, 20);
    assert_eq!(report.sealed_values, 20);
    assert_eq!(report.domains, 2);
}

fn data_object(label: &str, private: bool, token: bool) -> Vec<Attribute> {
    vec![
        Attribute::ulong(CKA_CLASS, CKO_DATA),
        Attribute::bool(CKA_TOKEN, token),
        Attribute::bool(CKA_PRIVATE, private),
        Attribute::bytes(CKA_LABEL, label.as_bytes().to_vec()),
        Attribute::bytes(CKA_APPLICATION, b"app".to_vec()),
        Attribute::bytes(CKA_VALUE, b"v".to_vec()),
    ]
}

/// Edits the store of `home` behind the simulator's back (as damage or a hostile edit would).
fn damage(home: &std::path::Path, sql: &str) {
    rusqlite::Connection::open(home.join(luna_sim::DB_FILE))
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}

/// A fresh home whose slot 0 holds one token object made from `template`, the simulator
/// closed again (so the store can be edited behind its back).
fn home_with_one_object(template: &[Attribute]) -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let sim = open(dir.path());
    let co = login(&sim, 0, CKU_USER);
    let handle = sim.create_object(co, template).unwrap();
    (dir, handle)
}

#[test]
fn a_find_by_an_empty_value_matches_only_objects_that_hold_the_attribute() {
    // A data object has no CKA_ID; its row's id column is empty, as that of a key whose
    // CKA_ID is empty: the find compares the attribute, not only the column.
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let token_data = sim
        .create_object(co, &data_object("d", false, true))
        .unwrap();
    let session_data = sim
        .create_object(co, &data_object("s", false, false))
        .unwrap();
    let key = sim
        .create_object(co, &aes_template("k", &[7; 16], true))
        .unwrap();
    assert_eq!(
        sim.get_attribute_value(co, token_data, &[CKA_ID]).unwrap(),
        vec![AttributeValue::TypeInvalid]
    );
    let empty_id = [Attribute::bytes(CKA_ID, vec![])];
    assert_eq!(sim.find_all(co, &empty_id).unwrap(), vec![key]);
    let data_by_empty_id = [
        Attribute::ulong(CKA_CLASS, CKO_DATA),
        Attribute::bytes(CKA_ID, vec![]),
    ];
    assert_eq!(sim.find_all(co, &data_by_empty_id).unwrap(), vec![]);
    let data = [Attribute::ulong(CKA_CLASS, CKO_DATA)];
    assert_eq!(
        sim.find_all(co, &data).unwrap(),
        vec![token_data, session_data]
    );
}

#[test]
fn a_row_whose_columns_lie_is_refused_where_read_and_reported_by_the_integrity_check() {
    let dir = tempfile::tempdir().unwrap();
    let (hidden, relabelled, copied, source);
    {
        let sim = open(dir.path());
        let co = login(&sim, 0, CKU_USER);
        hidden = sim
            .create_object(co, &data_object("hidden", true, true))
            .unwrap();
        relabelled = sim
            .create_object(co, &data_object("real", false, true))
            .unwrap();
        copied = sim
            .create_object(co, &data_object("aaaa", false, true))
            .unwrap();
        source = sim
            .create_object(co, &data_object("bbbb", false, true))
            .unwrap();
    }
    damage(
        dir.path(),
        &format!(
            "UPDATE objects SET private = 0 WHERE id = {hidden};
             UPDATE objects SET label = CAST('fake' AS BLOB) WHERE id = {relabelled};
             UPDATE objects SET public = (SELECT public FROM objects WHERE id = {source})
                 WHERE id = {copied};"
        ),
    );
    let sim = open(dir.path());
    let public = sim.open_session(0, false).unwrap();
    // Without a login, a find that reads the rows refuses the private object's lying row
    // rather than return it.
    let by_application = [Attribute::bytes(CKA_APPLICATION, b"app".to_vec())];
    assert!(matches!(
        sim.find_all(public, &by_application),
        Err(SimError::Corrupt(_))
    ));
    let co = login(&sim, 0, CKU_USER);
    for handle in [hidden, relabelled, copied] {
        assert!(
            matches!(
                sim.get_attribute_value(co, handle, &[CKA_LABEL]),
                Err(SimError::Corrupt(said)) if said.contains("indexed columns differ")
            ),
            "object {handle} read as if whole"
        );
    }
    assert_eq!(
        sim.get_attribute_value(co, source, &[CKA_LABEL]).unwrap(),
        vec![AttributeValue::Value(b"bbbb".to_vec().into())],
        "the object whose blob was copied is untouched"
    );
    let mut problems = sim.integrity_check().unwrap().problems;
    problems.sort();
    let mut expected: Vec<String> = [hidden, relabelled, copied]
        .iter()
        .map(|id| format!("object {id}: its indexed columns differ from its attributes"))
        .collect();
    expected.sort();
    assert_eq!(problems, expected);
    // The damaged rows can be removed, found by their columns, under their own permissions;
    // then the slot's finds work again.
    let fake = [Attribute::bytes(CKA_LABEL, b"fake".to_vec())];
    assert_eq!(sim.find_all(co, &fake).unwrap(), vec![relabelled]);
    for handle in [hidden, relabelled, copied] {
        sim.destroy_object(co, handle).unwrap();
    }
    assert!(sim.integrity_check().unwrap().is_ok());
    assert_eq!(sim.find_all(co, &by_application).unwrap(), vec![source]);
}

#[test]
fn the_integrity_check_reports_each_kind_of_damaged_row_without_failing() {
    for (sql, problem) in [
        (
            "UPDATE objects SET id = 9223372036854775807 WHERE id = ID",
            "object 9223372036854775807: its id is not a token object handle",
        ),
        (
            "UPDATE objects SET id = -5 WHERE id = ID",
            "object -5: its id is not a token object handle",
        ),
        (
            "UPDATE objects SET public = 'abc' WHERE id = ID",
            "object ID: a column holds a value of the wrong type",
        ),
        (
            "UPDATE objects SET private = x'01' WHERE id = ID",
            "object ID: a column holds a value of the wrong type",
        ),
        (
            "UPDATE objects SET public = substr(public, 1, length(public) - 1) WHERE id = ID",
            "object ID: stored attributes: truncated value",
        ),
        (
            "UPDATE objects SET sealed = x'01000000000000001100000000' WHERE id = ID",
            "object ID: attribute 0x11 is in the wrong blob",
        ),
    ] {
        let (dir, handle) = home_with_one_object(&data_object("x", false, true));
        damage(dir.path(), &sql.replace("ID", &handle.to_string()));
        let sim = open(dir.path());
        let problems = sim.integrity_check().unwrap().problems;
        let expected = problem.replace("ID", &handle.to_string());
        assert!(
            problems.len() == 1 && problems[0].starts_with(&expected),
            "{sql}: {problems:?}"
        );
    }
    // A sealed value that does not open.
    let (dir, key) = home_with_one_object(&aes_template("k", &[7; 16], true));
    {
        // The last byte of the sealed value (its GCM tag) flipped.
        let conn = rusqlite::Connection::open(dir.path().join(luna_sim::DB_FILE)).unwrap();
        let id = i64::try_from(key).unwrap();
        let mut sealed: Vec<u8> = conn
            .query_row("SELECT sealed FROM objects WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .unwrap();
        *sealed.last_mut().unwrap() ^= 1;
        conn.execute(
            "UPDATE objects SET sealed = ?2 WHERE id = ?1",
            rusqlite::params![id, sealed],
        )
        .unwrap();
    }
    let sim = open(dir.path());
    assert_eq!(
        sim.integrity_check().unwrap().problems,
        vec![format!("object {key}: attribute 0x11 does not decrypt")]
    );
    // A row that cannot be read cannot be destroyed either: its permissions are unknown.
    let co = login(&sim, 0, CKU_USER);
    assert!(matches!(
        sim.destroy_object(co, key),
        Err(SimError::Corrupt(_))
    ));
}

#[test]
fn the_integrity_check_reports_rows_that_refer_to_missing_rows() {
    let (dir, handle) = home_with_one_object(&data_object("x", false, true));
    // Possible only with foreign keys off: an object of a slot that is no partition, and a
    // partition whose device is gone.
    damage(
        dir.path(),
        &format!(
            "PRAGMA foreign_keys = OFF;
             UPDATE objects SET slot = 77 WHERE id = {handle};
             DELETE FROM devices WHERE serial = (SELECT device_serial FROM partitions WHERE slot = 1);"
        ),
    );
    let sim = open(dir.path());
    assert!(matches!(
        sim.attestation_chain(1),
        Err(SimError::Corrupt(said)) if said.contains("its device is not in the store")
    ));
    let problems = sim.integrity_check().unwrap().problems;
    for expected in [
        format!("object {handle}: its slot 77 is no partition"),
        format!("objects row {handle}: refers to a missing row of partitions"),
        "partitions row 1: refers to a missing row of devices".to_owned(),
    ] {
        assert!(
            problems.contains(&expected),
            "{expected} not in {problems:?}"
        );
    }
}

#[test]
fn a_generic_secret_shorter_than_16_bytes_has_no_check_value_to_read() {
    // Register A81: C_GetAttributeValue gives CKR_ATTRIBUTE_TYPE_INVALID for it.
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    for (len, check_value_len) in [(15, None), (16, Some(3))] {
        let key = sim
            .generate_key(
                co,
                &Mechanism::GenericSecretKeyGen,
                &[
                    Attribute::ulong(CKA_VALUE_LEN, len),
                    Attribute::bool(CKA_SENSITIVE, true),
                ],
            )
            .unwrap();
        let values = sim
            .get_attribute_value(co, key, &[CKA_CHECK_VALUE])
            .unwrap();
        match check_value_len {
            None => {
                assert_eq!(values, vec![AttributeValue::TypeInvalid]);
                assert_eq!(attribute_values_rv(&values), CKR_ATTRIBUTE_TYPE_INVALID);
            }
            Some(n) => {
                assert!(matches!(&values[..], [AttributeValue::Value(v)] if v.len() == n));
                assert_eq!(attribute_values_rv(&values), CKR_OK);
            }
        }
    }
}

#[test]
fn a_find_that_opens_rows_reads_one_snapshot_while_another_connection_deletes() {
    // A template naming CKA_VALUE selects ids, then opens each row: without one read
    // transaction around both, a row deleted in between fails the find.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_path_buf();
    {
        let sim = open(&home);
        let co = login(&sim, 0, CKU_USER);
        let templates: Vec<_> = (0..300)
            .map(|i| data_object(&format!("d{i}"), false, true))
            .collect();
        sim.create_objects(co, &templates).unwrap();
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (home, done) = (home.clone(), done.clone());
        std::thread::spawn(move || {
            let sim = open(&home);
            let co = login(&sim, 0, CKU_USER);
            let by_application = [Attribute::bytes(CKA_APPLICATION, b"app".to_vec())];
            for _ in 0..200 {
                let found = sim.find_all(co, &by_application).unwrap();
                sim.destroy_object(co, *found.last().unwrap()).unwrap();
                sim.create_object(co, &data_object("new", false, true))
                    .unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::Release);
        })
    };
    let sim = open(&home);
    let co = login(&sim, 0, CKU_USER);
    let by_value = [Attribute::bytes(CKA_VALUE, b"v".to_vec())];
    let mut finds = 0;
    while !done.load(std::sync::atomic::Ordering::Acquire) {
        // One snapshot: the rows it selected all open, and it sees the store between the
        // writer's delete and create (299 objects) or after both (300).
        let found = sim.find_all(co, &by_value).unwrap();
        assert!(matches!(found.len(), 299 | 300), "{}", found.len());
        finds += 1;
    }
    writer.join().unwrap();
    assert!(finds > 0);
}

#[test]
fn mechanism_list_has_sizes_and_flags() {
    let gcm = luna_sim::mechanisms::mechanism_info(CKM_AES_GCM).unwrap();
    assert_eq!((gcm.min_key_size, gcm.max_key_size), (16, 32));
    assert_ne!(gcm.flags & luna_sim::ck::CKF_ENCRYPT, 0);
    let ec = luna_sim::mechanisms::mechanism_info(CKM_EC_KEY_PAIR_GEN).unwrap();
    assert_eq!((ec.min_key_size, ec.max_key_size), (192, 521));
    let rsa = luna_sim::mechanisms::mechanism_info(CKM_RSA_PKCS).unwrap();
    assert_eq!((rsa.min_key_size, rsa.max_key_size), (1024, 4096));
    // As on a hardware token, every mechanism is done by the device.
    assert!(
        luna_sim::mechanisms::MECHANISMS
            .iter()
            .all(|m| m.flags & CKF_HW != 0)
    );
    assert_eq!(luna_sim::mechanisms::MECHANISMS.len(), 63);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Decrypted plaintext leaves the simulator in a buffer that wipes itself when dropped (the
/// audit found plain `Vec`s): the three decryption calls have that type.
#[test]
fn decrypted_plaintext_is_returned_in_self_wiping_buffers() {
    type Wiped = luna_sim::SimResult<zeroize::Zeroizing<Vec<u8>>>;
    let _single: fn(&Simulator, SessionHandle, &[u8]) -> Wiped = Simulator::decrypt;
    let _update: fn(&Simulator, SessionHandle, &[u8]) -> Wiped = Simulator::decrypt_update;
    let _final: fn(&Simulator, SessionHandle) -> Wiped = Simulator::decrypt_final;
}

/// A find by `CKA_VALUE` matches only keys whose value the caller could read: the audit found
/// that any logged-in user could confirm a guessed value of a sensitive or non-extractable key.
#[test]
fn a_find_by_value_never_matches_a_key_whose_value_cannot_be_read() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    for token in [true, false] {
        let key = |label: &str, value: u8, sensitive: bool, extractable: bool| {
            let mut template = aes_template(label, &[value; 32], sensitive);
            template.retain(|a| a.kind != CKA_TOKEN);
            template.push(Attribute::bool(CKA_TOKEN, token));
            template.push(Attribute::bool(CKA_EXTRACTABLE, extractable));
            sim.create_object(co, &template).unwrap()
        };
        let base = if token { 0x10 } else { 0x20 };
        let sensitive = key("sensitive", base, true, true);
        let locked = key("non-extractable", base + 1, false, false);
        let readable = key("readable", base + 2, false, true);
        let by_value = |value: u8| {
            sim.find_all(co, &[Attribute::bytes(CKA_VALUE, vec![value; 32])])
                .unwrap()
        };
        assert!(
            by_value(base).is_empty(),
            "token={token}: the sensitive key {sensitive} matched"
        );
        assert!(
            by_value(base + 1).is_empty(),
            "token={token}: the non-extractable key {locked} matched"
        );
        assert_eq!(by_value(base + 2), vec![readable], "token={token}");
        // With other attributes beside the value, the same.
        let with_class = sim
            .find_all(
                co,
                &[
                    Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                    Attribute::bytes(CKA_VALUE, vec![base; 32]),
                ],
            )
            .unwrap();
        assert!(with_class.is_empty(), "token={token}");
    }
}

/// Register A66: with nobody logged in, a session may create, copy, change, use and destroy
/// public objects (session ones, and token ones in a read-write session), as PKCS#11 and
/// Luna's documentation allow; private ones are `CKR_USER_NOT_LOGGED_IN`; the Crypto User and
/// the Partition SO still may not create objects.
#[test]
fn public_objects_without_login_and_private_ones_refused() {
    let (_dir, sim) = fresh();
    let public_session = sim.open_session(0, true).unwrap();
    let mut template = aes_template("public", &[4; 32], false);
    template.retain(|a| a.kind != CKA_TOKEN);
    template.push(Attribute::bool(CKA_PRIVATE, false));
    let key = sim.create_object(public_session, &template).unwrap();
    let mut token_template = template.clone();
    token_template.push(Attribute::bool(CKA_TOKEN, true));
    let token_key = sim.create_object(public_session, &token_template).unwrap();
    // Used without login: an HMAC with the public key.
    sim.sign_init(public_session, &Mechanism::Hmac(HashAlg::Sha256), key)
        .unwrap();
    assert_eq!(sim.sign(public_session, b"m").unwrap().len(), 32);
    sim.set_attribute_value(
        public_session,
        key,
        &[Attribute::bytes(CKA_LABEL, b"renamed".to_vec())],
    )
    .unwrap();
    let copy = sim.copy_object(public_session, key, &[]).unwrap();
    // A copy may not be made private without login.
    assert_eq!(
        sim.copy_object(public_session, key, &[Attribute::bool(CKA_PRIVATE, true)]),
        Err(SimError::UserNotLoggedIn)
    );
    let public_key = sim
        .generate_key(
            public_session,
            &Mechanism::AesKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 16),
                Attribute::bool(CKA_PRIVATE, false),
            ],
        )
        .unwrap();
    for object in [key, token_key, copy, public_key] {
        sim.destroy_object(public_session, object).unwrap();
    }
    // Private objects (a secret key is private by default) need the Crypto Officer.
    let mut private_template = aes_template("private", &[5; 32], false);
    private_template.retain(|a| a.kind != CKA_TOKEN);
    assert_eq!(
        sim.create_object(public_session, &private_template),
        Err(SimError::UserNotLoggedIn)
    );
    assert_eq!(
        sim.generate_key(
            public_session,
            &Mechanism::AesKeyGen,
            &[Attribute::ulong(CKA_VALUE_LEN, 16)],
        ),
        Err(SimError::UserNotLoggedIn)
    );
    // A read-only public session makes no token objects.
    let read_only = sim.open_session(0, false).unwrap();
    assert_eq!(
        sim.create_object(read_only, &token_template),
        Err(SimError::SessionReadOnly)
    );
    // The Crypto User and the Partition SO still may not create objects, public or not.
    for user in [CKU_CRYPTO_USER, CKU_SO] {
        let session = login(&sim, 1, user);
        assert_eq!(
            sim.create_object(session, &template),
            Err(SimError::UserNotAuthorized)
        );
        sim.logout(session).unwrap();
    }
}

/// A secret key with `extra` attributes; `Err` with the code if refused.
fn secret_key(
    sim: &Simulator,
    session: SessionHandle,
    value: &[u8],
    extra: &[Attribute],
) -> Result<u64, SimError> {
    let mut template = vec![
        Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
        Attribute::bytes(CKA_VALUE, value.to_vec()),
    ];
    template.extend_from_slice(extra);
    sim.create_object(session, &template)
}

fn mechanisms(list: &[CkMechanismType]) -> Vec<u8> {
    list.iter().flat_map(|m| m.to_be_bytes()).collect()
}

/// The v2.40 attributes beyond the first ones: dates, CKA_ALLOWED_MECHANISMS (enforced),
/// CKA_WRAP_WITH_TRUSTED and CKA_TRUSTED (enforced; only the Partition SO sets CKA_TRUSTED),
/// the recover flags, CKA_PUBLIC_KEY_INFO, and certificate fields from the DER (register A77).
#[test]
fn dates_allowed_mechanisms_trusted_wrapping_public_key_info_and_certificate_fields() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    // Dates: empty or YYYYMMDD, settable; anything else refused.
    let key = secret_key(
        &sim,
        co,
        &[1; 16],
        &[
            Attribute::bytes(CKA_START_DATE, b"20260101".to_vec()),
            Attribute::bytes(
                CKA_ALLOWED_MECHANISMS,
                mechanisms(&[CKM_AES_GCM, CKM_AES_ECB]),
            ),
        ],
    )
    .unwrap();
    assert_eq!(read(&sim, co, key, CKA_START_DATE), b"20260101");
    assert_eq!(read(&sim, co, key, CKA_END_DATE), b"");
    sim.set_attribute_value(
        co,
        key as _,
        &[Attribute::bytes(CKA_END_DATE, b"20361231".to_vec())],
    )
    .unwrap();
    assert_eq!(read(&sim, co, key, CKA_END_DATE), b"20361231");
    for bad in [&b"2026011"[..], b"20261301", b"20260100", b"2026010a"] {
        assert_eq!(
            secret_key(
                &sim,
                co,
                &[1; 16],
                &[Attribute::bytes(CKA_START_DATE, bad.to_vec())]
            ),
            Err(SimError::AttributeValueInvalid(CKA_START_DATE))
        );
    }
    // CKA_ALLOWED_MECHANISMS: other mechanisms are CKR_MECHANISM_INVALID; it cannot change.
    let cbc = Mechanism::block(CKM_AES_CBC_PAD, &[0; 16]).unwrap();
    assert_eq!(
        sim.encrypt_init(co, &cbc, key as _),
        Err(SimError::MechanismInvalid)
    );
    let ecb = Mechanism::without_params(CKM_AES_ECB).unwrap();
    sim.encrypt_init(co, &ecb, key as _).unwrap();
    sim.encrypt(co, &[0; 16]).unwrap();
    assert_eq!(
        read(&sim, co, key, CKA_ALLOWED_MECHANISMS),
        mechanisms(&[CKM_AES_GCM, CKM_AES_ECB])
    );
    assert_eq!(
        sim.set_attribute_value(
            co,
            key as _,
            &[Attribute::bytes(CKA_ALLOWED_MECHANISMS, Vec::new())]
        ),
        Err(SimError::AttributeReadOnly(CKA_ALLOWED_MECHANISMS))
    );
    assert_eq!(
        secret_key(
            &sim,
            co,
            &[1; 16],
            &[Attribute::bytes(CKA_ALLOWED_MECHANISMS, vec![0; 7])]
        ),
        Err(SimError::AttributeValueInvalid(CKA_ALLOWED_MECHANISMS))
    );
    // A wrapping key limited to another mechanism cannot wrap.
    let limited_kek = secret_key(
        &sim,
        co,
        &[2; 16],
        &[Attribute::bytes(
            CKA_ALLOWED_MECHANISMS,
            mechanisms(&[CKM_AES_KEY_WRAP]),
        )],
    )
    .unwrap();
    let extractable = secret_key(
        &sim,
        co,
        &[3; 16],
        &[Attribute::bool(CKA_EXTRACTABLE, true)],
    )
    .unwrap();
    assert_eq!(
        sim.wrap_key(
            co,
            &Mechanism::AesKeyWrapPad,
            limited_kek as _,
            extractable as _
        ),
        Err(SimError::MechanismInvalid)
    );
    sim.wrap_key(
        co,
        &Mechanism::AesKeyWrap,
        limited_kek as _,
        extractable as _,
    )
    .unwrap();

    // CKA_TRUSTED: nobody but the Partition SO sets it, not at creation, not the Crypto
    // Officer; the SO changes it alone, on the (public) objects it sees.
    assert_eq!(
        secret_key(&sim, co, &[6; 16], &[Attribute::bool(CKA_TRUSTED, true)]),
        Err(SimError::AttributeReadOnly(CKA_TRUSTED))
    );
    let public_kek = |value: u8| {
        sim.create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bool(CKA_PRIVATE, false),
                Attribute::bytes(CKA_VALUE, vec![value; 32]),
            ],
        )
        .unwrap()
    };
    let (trusted, untrusted) = (public_kek(5), public_kek(7));
    assert_eq!(
        sim.set_attribute_value(co, trusted, &[Attribute::bool(CKA_TRUSTED, true)]),
        Err(SimError::AttributeReadOnly(CKA_TRUSTED))
    );
    sim.logout(co).unwrap();
    let so = login(&sim, 0, CKU_SO);
    assert_eq!(
        sim.set_attribute_value(
            so,
            trusted,
            &[
                Attribute::bool(CKA_TRUSTED, true),
                Attribute::bytes(CKA_LABEL, b"x".to_vec())
            ]
        ),
        Err(SimError::UserNotAuthorized),
        "the SO changes CKA_TRUSTED alone"
    );
    sim.set_attribute_value(so, trusted, &[Attribute::bool(CKA_TRUSTED, true)])
        .unwrap();
    sim.logout(so).unwrap();
    sim.login(co, CKU_USER, luna_sim::provision::DEFAULT_CO_PIN.as_bytes())
        .unwrap();
    assert_eq!(read(&sim, co, trusted, CKA_TRUSTED), vec![1]);
    // CKA_WRAP_WITH_TRUSTED: only a CKA_TRUSTED key wraps it; once true it stays true.
    let guarded = secret_key(
        &sim,
        co,
        &[4; 16],
        &[
            Attribute::bool(CKA_EXTRACTABLE, true),
            Attribute::bool(CKA_WRAP_WITH_TRUSTED, true),
        ],
    )
    .unwrap();
    assert_eq!(
        sim.wrap_key(co, &Mechanism::AesKeyWrapPad, untrusted, guarded as _),
        Err(SimError::KeyNotWrappable)
    );
    sim.wrap_key(co, &Mechanism::AesKeyWrapPad, trusted, guarded as _)
        .unwrap();
    assert_eq!(
        sim.set_attribute_value(
            co,
            guarded as _,
            &[Attribute::bool(CKA_WRAP_WITH_TRUSTED, false)]
        ),
        Err(SimError::AttributeReadOnly(CKA_WRAP_WITH_TRUSTED))
    );

    // Recover flags read false; CKA_PUBLIC_KEY_INFO is the SubjectPublicKeyInfo, the same on
    // both halves, and maintained by the token.
    let (public, private) = sim
        .generate_key_pair(
            co,
            &Mechanism::EcKeyPairGen,
            &[Attribute::bytes(CKA_EC_PARAMS, P256_EC_PARAMS.to_vec())],
            &[],
        )
        .unwrap();
    assert_eq!(read(&sim, co, public, CKA_VERIFY_RECOVER), vec![0]);
    assert_eq!(read(&sim, co, private, CKA_SIGN_RECOVER), vec![0]);
    let info = read(&sim, co, public, CKA_PUBLIC_KEY_INFO);
    assert_eq!(info, read(&sim, co, private, CKA_PUBLIC_KEY_INFO));
    let point = read(&sim, co, public, CKA_EC_POINT);
    let mut expected = hex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
    expected.extend_from_slice(&point[2..]);
    assert_eq!(info, expected);
    let (ed_public, ed_private) = sim
        .generate_key_pair(
            co,
            &Mechanism::EdwardsKeyPairGen,
            &[Attribute::bytes(
                CKA_EC_PARAMS,
                vec![0x06, 0x03, 0x2B, 0x65, 0x70],
            )],
            &[],
        )
        .unwrap();
    let mut expected = hex("302a300506032b6570032100");
    expected.extend_from_slice(&read(&sim, co, ed_public, CKA_EC_POINT)[2..]);
    assert_eq!(read(&sim, co, ed_private, CKA_PUBLIC_KEY_INFO), expected);
    let (rsa_public, rsa_private) = sim
        .generate_key_pair(
            co,
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ulong(CKA_MODULUS_BITS, 1024)],
            &[],
        )
        .unwrap();
    let info = read(&sim, co, rsa_public, CKA_PUBLIC_KEY_INFO);
    assert!(info.starts_with(&hex("30819f300d06092a864886f70d010101050003818d00")));
    assert_eq!(info, read(&sim, co, rsa_private, CKA_PUBLIC_KEY_INFO));
    assert_eq!(
        sim.create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_EC),
                Attribute::bytes(CKA_EC_PARAMS, P256_EC_PARAMS.to_vec()),
                Attribute::bytes(CKA_EC_POINT, point),
                Attribute::bytes(CKA_PUBLIC_KEY_INFO, vec![0x30]),
            ],
        ),
        Err(SimError::AttributeReadOnly(CKA_PUBLIC_KEY_INFO))
    );

    // A certificate's subject, issuer and serial come from its DER when not given; a value
    // that does not parse is still stored.
    let der = hex(
        "308201213081c8a003020102020401234567300a06082a8648ce3d040302301a3118301606035504030c0f\
         6c756e612d73696d20697373756572301e170d3236303130313030303030305a170d33363031303130303030\
         30305a30183116301406035504030c0d6c756e612d73696d20746573743059301306072a8648ce3d020106\
         082a8648ce3d0301070342000426efcebd0ee9e34a669187e18b3a9122b2f733945b649cc9f9f921e9f9da\
         d81290238bde9cc7bb330d150c67704dd25ae7055205744b6f31bf4070745872d0e6300a06082a8648ce3d\
         04030203480030450221009ff011a619b72d0d1c12133576d2a52544060a17c2d4010ed9c4b69113e8051b\
         022009b96fa75171b7416a3a72ba895b76f420504a862362745e72d15cfd1e2d14ea",
    );
    let certificate = |value: Vec<u8>| {
        sim.create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE),
                Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
                Attribute::bytes(CKA_VALUE, value),
            ],
        )
        .unwrap() as u64
    };
    let cert = certificate(der);
    assert_eq!(
        read(&sim, co, cert, CKA_SUBJECT),
        hex("30183116301406035504030c0d6c756e612d73696d2074657374")
    );
    assert_eq!(
        read(&sim, co, cert, CKA_ISSUER),
        hex("301a3118301606035504030c0f6c756e612d73696d20697373756572")
    );
    assert_eq!(read(&sim, co, cert, CKA_SERIAL_NUMBER), hex("020401234567"));
    let junk = certificate(b"not a certificate".to_vec());
    assert_eq!(read(&sim, co, junk, CKA_SUBJECT), b"");
    assert_eq!(read(&sim, co, junk, CKA_VALUE), b"not a certificate");
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

#[test]
fn wrap_unwrap_and_derive_templates_are_kept_enforced_and_cloned() {
    use cpv4_migrate::MigrationItem;
    use luna_sim::mechanisms::EcdhParams;

    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let wrap_template = nested(&[
        Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
        Attribute::bool(CKA_EXTRACTABLE, true),
    ]);
    let unwrap_template = nested(&[
        Attribute::bool(CKA_SENSITIVE, true),
        Attribute::bytes(CKA_LABEL, b"unwrapped".to_vec()),
    ]);
    let kek = sim
        .generate_key(
            co,
            &Mechanism::AesKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 32),
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bool(CKA_WRAP, true),
                Attribute::bool(CKA_UNWRAP, true),
                Attribute::raw(CKA_WRAP_TEMPLATE, wrap_template.clone()),
                Attribute::raw(CKA_UNWRAP_TEMPLATE, unwrap_template.clone()),
            ],
        )
        .unwrap();
    assert_eq!(read(&sim, co, kek, CKA_WRAP_TEMPLATE), wrap_template);
    assert_eq!(read(&sim, co, kek, CKA_UNWRAP_TEMPLATE), unwrap_template);
    // Set when the key is made; read-only after.
    assert_eq!(
        sim.set_attribute_value(co, kek, &[Attribute::raw(CKA_WRAP_TEMPLATE, nested(&[]))]),
        Err(SimError::AttributeReadOnly(CKA_WRAP_TEMPLATE))
    );

    // Wrapping: an AES key matches the wrap template, a generic secret does not.
    let extractable = [
        Attribute::bool(CKA_EXTRACTABLE, true),
        Attribute::bool(CKA_SENSITIVE, false),
    ];
    let aes = sim
        .generate_key(
            co,
            &Mechanism::AesKeyGen,
            &[&extractable[..], &[Attribute::ulong(CKA_VALUE_LEN, 16)]].concat(),
        )
        .unwrap();
    let secret = sim
        .generate_key(
            co,
            &Mechanism::GenericSecretKeyGen,
            &[&extractable[..], &[Attribute::ulong(CKA_VALUE_LEN, 16)]].concat(),
        )
        .unwrap();
    let wrap = Mechanism::AesKeyWrapPad;
    let wrapped = sim.wrap_key(co, &wrap, kek, aes).unwrap();
    assert_eq!(
        sim.wrap_key(co, &wrap, kek, secret),
        Err(SimError::KeyNotWrappable)
    );

    // Unwrapping: the unwrap template is added to the caller's, whose values are then applied
    // as changes of the new object: what C_SetAttributeValue could change stands, else the
    // conflict is refused.
    let class = [
        Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
    ];
    let unwrapped = sim.unwrap_key(co, &wrap, kek, &wrapped, &class).unwrap();
    assert_eq!(read(&sim, co, unwrapped, CKA_LABEL), b"unwrapped");
    assert_eq!(read(&sim, co, unwrapped, CKA_SENSITIVE), [1]);
    let same = [
        &class[..],
        &[Attribute::bytes(CKA_LABEL, b"unwrapped".to_vec())],
    ]
    .concat();
    assert!(sim.unwrap_key(co, &wrap, kek, &wrapped, &same).is_ok());
    let conflict = [&class[..], &[Attribute::bool(CKA_SENSITIVE, false)]].concat();
    assert_eq!(
        sim.unwrap_key(co, &wrap, kek, &wrapped, &conflict),
        Err(SimError::TemplateInconsistent)
    );
    let relabelled = [
        &class[..],
        &[
            Attribute::bytes(CKA_LABEL, b"mine".to_vec()),
            Attribute::bool(CKA_EXTRACTABLE, false),
        ],
    ]
    .concat();
    let mine = sim
        .unwrap_key(co, &wrap, kek, &wrapped, &relabelled)
        .unwrap();
    assert_eq!(read(&sim, co, mine, CKA_LABEL), b"mine");
    assert_eq!(read(&sim, co, mine, CKA_SENSITIVE), [1]);
    assert_eq!(read(&sim, co, mine, CKA_EXTRACTABLE), [0]);
    // A template that makes the key unmodifiable admits no change at all.
    let fixed = sim
        .generate_key(
            co,
            &Mechanism::AesKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 32),
                Attribute::bool(CKA_WRAP, true),
                Attribute::bool(CKA_UNWRAP, true),
                Attribute::raw(
                    CKA_UNWRAP_TEMPLATE,
                    nested(&[
                        Attribute::bool(CKA_MODIFIABLE, false),
                        Attribute::bytes(CKA_LABEL, b"fixed".to_vec()),
                    ]),
                ),
            ],
        )
        .unwrap();
    let wrapped_by_fixed = sim.wrap_key(co, &wrap, fixed, aes).unwrap();
    let other_label = [
        &class[..],
        &[Attribute::bytes(CKA_LABEL, b"other".to_vec())],
    ]
    .concat();
    assert_eq!(
        sim.unwrap_key(co, &wrap, fixed, &wrapped_by_fixed, &other_label),
        Err(SimError::TemplateInconsistent)
    );
    let kept = sim
        .unwrap_key(co, &wrap, fixed, &wrapped_by_fixed, &class)
        .unwrap();
    assert_eq!(read(&sim, co, kept, CKA_LABEL), b"fixed");
    assert_eq!(read(&sim, co, kept, CKA_MODIFIABLE), [0]);

    // What a template may hold and where it may be: one level, on the classes PKCS#11 gives,
    // and no key material (it would be kept and read back in clear).
    assert_eq!(
        sim.generate_key(
            co,
            &Mechanism::AesKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 16),
                Attribute::raw(
                    CKA_WRAP_TEMPLATE,
                    nested(&[Attribute::bytes(CKA_VALUE, vec![0x11; 16])])
                ),
            ],
        ),
        Err(SimError::AttributeValueInvalid(CKA_WRAP_TEMPLATE))
    );
    let deep = nested(&[Attribute::raw(CKA_DERIVE_TEMPLATE, nested(&[]))]);
    assert_eq!(
        sim.generate_key(
            co,
            &Mechanism::AesKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 16),
                Attribute::raw(CKA_WRAP_TEMPLATE, deep)
            ],
        ),
        Err(SimError::AttributeValueInvalid(CKA_WRAP_TEMPLATE))
    );
    assert_eq!(
        sim.generate_key(
            co,
            &Mechanism::AesKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 16),
                Attribute::raw(CKA_UNWRAP_TEMPLATE, vec![1, 2, 3])
            ],
        ),
        Err(SimError::AttributeValueInvalid(CKA_UNWRAP_TEMPLATE))
    );
    let ec_params = Attribute::bytes(CKA_EC_PARAMS, luna_sim::P256_EC_PARAMS.to_vec());
    assert_eq!(
        sim.generate_key_pair(
            co,
            &Mechanism::EcKeyPairGen,
            &[
                ec_params.clone(),
                Attribute::raw(CKA_UNWRAP_TEMPLATE, nested(&[]))
            ],
            &[],
        ),
        Err(SimError::AttributeTypeInvalid(CKA_UNWRAP_TEMPLATE))
    );
    assert_eq!(
        sim.generate_key_pair(
            co,
            &Mechanism::EcKeyPairGen,
            std::slice::from_ref(&ec_params),
            &[Attribute::raw(CKA_WRAP_TEMPLATE, nested(&[]))],
        ),
        Err(SimError::AttributeTypeInvalid(CKA_WRAP_TEMPLATE))
    );
    // A token-maintained attribute in an unwrap template is refused when it is applied.
    let local = sim
        .generate_key(
            co,
            &Mechanism::AesKeyGen,
            &[
                Attribute::ulong(CKA_VALUE_LEN, 32),
                Attribute::bool(CKA_UNWRAP, true),
                Attribute::bool(CKA_WRAP, true),
                Attribute::raw(
                    CKA_UNWRAP_TEMPLATE,
                    nested(&[Attribute::bool(CKA_LOCAL, true)]),
                ),
            ],
        )
        .unwrap();
    let rewrapped = sim.wrap_key(co, &wrap, local, aes).unwrap();
    assert_eq!(
        sim.unwrap_key(co, &wrap, local, &rewrapped, &class),
        Err(SimError::AttributeReadOnly(CKA_LOCAL))
    );

    // Deriving: the derive template is added to the derived key's.
    let (_, base) = sim
        .generate_key_pair(
            co,
            &Mechanism::EcKeyPairGen,
            std::slice::from_ref(&ec_params),
            &[
                Attribute::bool(CKA_DERIVE, true),
                Attribute::raw(
                    CKA_DERIVE_TEMPLATE,
                    nested(&[Attribute::bool(CKA_EXTRACTABLE, false)]),
                ),
            ],
        )
        .unwrap();
    let (peer, _) = sim
        .generate_key_pair(co, &Mechanism::EcKeyPairGen, &[ec_params], &[])
        .unwrap();
    let point = read(&sim, co, peer, CKA_EC_POINT);
    let ecdh = Mechanism::Ecdh1Derive(EcdhParams::from_ck(CKD_NULL, vec![], point).unwrap());
    let derived_template = [
        Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
    ];
    let derived = sim.derive_key(co, &ecdh, base, &derived_template).unwrap();
    assert_eq!(read(&sim, co, derived, CKA_EXTRACTABLE), [0]);
    let conflict = [
        &derived_template[..],
        &[Attribute::bool(CKA_EXTRACTABLE, true)],
    ]
    .concat();
    assert_eq!(
        sim.derive_key(co, &ecdh, base, &conflict),
        Err(SimError::TemplateInconsistent)
    );

    // A clone keeps its templates, and they hold on the target.
    let target = login(&sim, 1, CKU_USER);
    let mut items = vec![MigrationItem::new(CK_CRYPTOKI_ELEMENT, kek as _)];
    assert_eq!(sim.migrate_keys(co, target, 0, &mut items), CKR_OK);
    assert_eq!(items[0].rv, CKR_OK);
    let clone = items[0].target_handle as u64;
    assert_eq!(read(&sim, target, clone, CKA_WRAP_TEMPLATE), wrap_template);
    let unwrapped = sim
        .unwrap_key(target, &wrap, clone, &wrapped, &class)
        .unwrap();
    assert_eq!(read(&sim, target, unwrapped, CKA_LABEL), b"unwrapped");
}

/// Register A82: an OUID is its object's creation time in milliseconds (the low 40 bits,
/// big-endian) and 7 random bytes, so objects made later have greater OUIDs, and two made in
/// the same millisecond still differ.
#[test]
fn an_ouid_is_its_creation_time_then_random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = luna_sim::TestClock::new(1_800_000_000);
    let sim = common::open_at(dir.path(), &clock);
    let session = login(&sim, 0, CKU_USER);
    let ouid_of = |label: &str, token: bool| {
        let mut template = aes_template(label, &[5; 32], true);
        template.retain(|a| a.kind != CKA_TOKEN);
        template.push(Attribute::bool(CKA_TOKEN, token));
        let handle = sim.create_object(session, &template).unwrap();
        read(&sim, session, handle, CKA_OUID)
    };
    let stamp = |seconds: i64| (seconds * 1000).to_be_bytes()[3..].to_vec();
    let first = ouid_of("first", true);
    let twin = ouid_of("twin", false);
    assert_eq!(first.len(), 12);
    assert_eq!(first[..5], stamp(1_800_000_000)[..]);
    assert_eq!(twin[..5], first[..5], "made in the same millisecond");
    assert_ne!(twin[5..], first[5..]);
    clock.advance(1);
    let later = ouid_of("later", true);
    assert_eq!(later[..5], stamp(1_800_000_001)[..]);
    assert!(later > first && later > twin);
}
