//! The `cryptoki` crate drives the built `libluna_ffi.so`: slots, login, AES key generation,
//! AES-GCM and AES-CBC-PAD, an EC P-256 key pair, ECDSA signatures, SHA-256; and, with the
//! raw `CA_MigrateKeys` symbol, a migration of every object class whose clones work.
//!
//! The library state is per process, so each scenario runs in its own child process (the
//! ignored `scenario_*` tests, re-run by the visible tests) with its own `LUNA_SIM_HOME`.
// Test helpers, like tests, fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

/// DER of the prime256v1 OID (`CKA_EC_PARAMS`).
const P256: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

fn open() -> (Pkcs11, Session) {
    assert!(common::in_scenario(), "run through its parent test");
    let pkcs11 = Pkcs11::new(common::library()).unwrap();
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slots = pkcs11.get_slots_with_token().unwrap();
    assert_eq!(slots.len(), 2, "the default layout has two partitions");
    let labels: Vec<String> = slots
        .iter()
        .map(|s| pkcs11.get_token_info(*s).unwrap().label().to_string())
        .collect();
    assert_eq!(labels, ["source", "target"]);
    let session = pkcs11.open_rw_session(slots[0]).unwrap();
    session
        .login(UserType::User, Some(&AuthPin::new(common::CO_PIN.into())))
        .unwrap();
    (pkcs11, session)
}

fn rv(err: Error) -> RvError {
    match err {
        Error::Pkcs11(rv, _) => rv,
        other => panic!("not a PKCS#11 error: {other:?}"),
    }
}

#[test]
fn aes_key_generation_and_aes_gcm() {
    common::run_scenario("scenario_aes_gcm", common::home().path());
}

#[test]
#[ignore = "runs in a child process of aes_key_generation_and_aes_gcm"]
fn scenario_aes_gcm() {
    let (pkcs11, session) = open();
    let key = session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(32.into()),
                Attribute::Token(true),
                Attribute::Label(b"gcm key".to_vec()),
            ],
        )
        .unwrap();
    let attrs = session
        .get_attributes(key, &[AttributeType::Class, AttributeType::ValueLen])
        .unwrap();
    assert!(attrs.contains(&Attribute::Class(ObjectClass::SECRET_KEY)));
    assert!(attrs.contains(&Attribute::ValueLen(32.into())));

    let plaintext = b"attack at dawn, with 31 bytes!!";
    let mut iv = [7u8; 12];
    let aad = b"header";
    let gcm = GcmParams::new(&mut iv, aad, 128.into()).unwrap();
    let ciphertext = session
        .encrypt(&Mechanism::AesGcm(gcm), key, plaintext)
        .unwrap();
    assert_eq!(ciphertext.len(), plaintext.len() + 16);
    let gcm = GcmParams::new(&mut iv, aad, 128.into()).unwrap();
    let decrypted = session
        .decrypt(&Mechanism::AesGcm(gcm), key, &ciphertext)
        .unwrap();
    assert_eq!(decrypted, plaintext);

    let mut tampered = ciphertext.clone();
    tampered[0] ^= 1;
    let gcm = GcmParams::new(&mut iv, aad, 128.into()).unwrap();
    let err = session
        .decrypt(&Mechanism::AesGcm(gcm), key, &tampered)
        .unwrap_err();
    assert_eq!(rv(err), RvError::EncryptedDataInvalid);

    let cbc = Mechanism::AesCbcPad([9; 16]);
    let ciphertext = session.encrypt(&cbc, key, plaintext).unwrap();
    assert_eq!(ciphertext.len(), 32);
    assert_eq!(session.decrypt(&cbc, key, &ciphertext).unwrap(), plaintext);

    let found = session
        .find_objects(&[Attribute::Label(b"gcm key".to_vec())])
        .unwrap();
    assert_eq!(found, vec![key]);
    drop(session);
    pkcs11.finalize().unwrap();
}

#[test]
fn ec_p256_key_pair_and_ecdsa() {
    common::run_scenario("scenario_ecdsa", common::home().path());
}

#[test]
#[ignore = "runs in a child process of ec_p256_key_pair_and_ecdsa"]
fn scenario_ecdsa() {
    let (pkcs11, session) = open();
    let (public, private) = session
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(P256.to_vec()), Attribute::Verify(true)],
            &[Attribute::Sign(true), Attribute::Token(true)],
        )
        .unwrap();
    let point = session
        .get_attributes(public, &[AttributeType::EcPoint])
        .unwrap();
    assert!(matches!(&point[..], [Attribute::EcPoint(p)] if p.len() == 67));

    let data = b"sign me";
    let signature = session
        .sign(&Mechanism::EcdsaSha256, private, data)
        .unwrap();
    assert_eq!(signature.len(), 64);
    session
        .verify(&Mechanism::EcdsaSha256, public, data, &signature)
        .unwrap();
    let err = session
        .verify(&Mechanism::EcdsaSha256, public, b"other data", &signature)
        .unwrap_err();
    assert_eq!(rv(err), RvError::SignatureInvalid);

    // CKM_ECDSA over a digest made by the module itself.
    let digest = session.digest(&Mechanism::Sha256, data).unwrap();
    assert_eq!(digest.len(), 32);
    let signature = session.sign(&Mechanism::Ecdsa, private, &digest).unwrap();
    session
        .verify(&Mechanism::Ecdsa, public, &digest, &signature)
        .unwrap();

    // The private value never leaves: reading it is refused.
    let value = session
        .get_attributes(private, &[AttributeType::Value])
        .unwrap();
    assert!(value.is_empty(), "a sensitive CKA_VALUE is not returned");
    drop(session);
    pkcs11.finalize().unwrap();
}

#[test]
fn wrong_pin_and_crypto_user() {
    common::run_scenario("scenario_pins", common::home().path());
}

#[test]
#[ignore = "runs in a child process of wrong_pin_and_crypto_user"]
fn scenario_pins() {
    assert!(common::in_scenario(), "run through its parent test");
    let pkcs11 = Pkcs11::new(common::library()).unwrap();
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = pkcs11.get_slots_with_token().unwrap()[1];
    let session = pkcs11.open_rw_session(slot).unwrap();
    let err = session
        .login(UserType::User, Some(&AuthPin::new("wrong-pin".into())))
        .unwrap_err();
    assert_eq!(rv(err), RvError::PinIncorrect);
    session
        .login(UserType::User, Some(&AuthPin::new(common::CO_PIN.into())))
        .unwrap();
    session.logout().unwrap();
    session
        .login(UserType::So, Some(&AuthPin::new(common::SO_PIN.into())))
        .unwrap();
    let err = session
        .generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into())])
        .unwrap_err();
    // The Partition SO may not use keys: Luna's CKR_USER_NOT_AUTHORIZED.
    assert_eq!(
        rv(err),
        RvError::VendorDefined(cpv4_wire::consts::CKR_USER_NOT_AUTHORIZED)
    );
    drop(session);
    pkcs11.finalize().unwrap();
}

/// `CA_MigrateKeys` from the module, resolved by name as a Luna application resolves it.
type MigrateKeys = unsafe extern "C" fn(
    luna_ffi::types::CK_SESSION_HANDLE,
    luna_ffi::types::CK_SESSION_HANDLE,
    luna_ffi::types::CK_ULONG,
    luna_ffi::types::CK_ULONG,
    *mut luna_ffi::types::CK_OBJECT_MIGRATION_DATA,
) -> luna_ffi::types::CK_RV;

#[test]
fn cryptoki_and_the_raw_ca_symbols_migrate_every_object_class_and_the_clones_work() {
    common::run_scenario("scenario_migrate", common::home().path());
}

#[test]
#[ignore = "runs in a child process of its visible test"]
#[allow(unsafe_code)]
fn scenario_migrate() {
    use luna_ffi::types::CK_OBJECT_MIGRATION_DATA;

    let (pkcs11, source) = open();
    let slots = pkcs11.get_slots_with_token().unwrap();
    let target = pkcs11.open_rw_session(slots[1]).unwrap();
    target
        .login(UserType::User, Some(&AuthPin::new(common::CO_PIN.into())))
        .unwrap();
    let aes = source
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(32.into()),
                Attribute::Token(true),
                Attribute::Extractable(false),
            ],
        )
        .unwrap();
    let (public, private) = source
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::EcParams(P256.to_vec()),
                Attribute::Verify(true),
                Attribute::Token(true),
            ],
            &[Attribute::Sign(true), Attribute::Token(true)],
        )
        .unwrap();
    let certificate = source
        .create_object(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(cryptoki::object::CertificateType::X_509),
            Attribute::Token(true),
            Attribute::Value(vec![0x30, 0x03, 0x02, 0x01, 0x01]),
        ])
        .unwrap();
    let data = source
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Value(b"some data".to_vec()),
        ])
        .unwrap();
    let objects = [aes, public, private, certificate, data];
    let mut migration: Vec<CK_OBJECT_MIGRATION_DATA> = objects
        .iter()
        .map(|object| CK_OBJECT_MIGRATION_DATA {
            objectType: cpv4_wire::consts::CK_CRYPTOKI_ELEMENT,
            sourceHandle: object.handle(),
            ..CK_OBJECT_MIGRATION_DATA::default()
        })
        .collect();
    // SAFETY: the module is the one cryptoki loaded (the same library instance); the symbol
    // has the signature of `MigrateKeys` (the generated header), and the array holds as many
    // elements as the count says.
    let rv = unsafe {
        let module = libloading::Library::new(common::library()).unwrap();
        let migrate: libloading::Symbol<'_, MigrateKeys> = module.get(b"CA_MigrateKeys").unwrap();
        migrate(
            source.handle(),
            target.handle(),
            0,
            migration.len() as _,
            migration.as_mut_ptr(),
        )
    };
    assert_eq!(rv, cpv4_wire::consts::CKR_OK);
    let clones: Vec<cryptoki::object::ObjectHandle> = migration
        .iter()
        .map(|item| {
            assert_eq!(item.rv, cpv4_wire::consts::CKR_OK);
            // SAFETY: a handle the module returned for the target session.
            unsafe { cryptoki::object::ObjectHandle::new_from_raw(item.targetHandle) }
        })
        .collect();
    // Every readable attribute matches, CKA_OUID included.
    let readable = [
        AttributeType::Class,
        AttributeType::Token,
        AttributeType::Label,
        AttributeType::KeyType,
        AttributeType::EcPoint,
        AttributeType::EcParams,
        AttributeType::Value,
        AttributeType::Extractable,
        AttributeType::VendorDefined(cpv4_wire::consts::CKA_OUID),
    ];
    for (object, clone) in objects.iter().zip(&clones) {
        let wanted: Vec<AttributeType> = readable
            .iter()
            .copied()
            .filter(|kind| {
                source
                    .get_attribute_info(*object, &[*kind])
                    .is_ok_and(|info| {
                        matches!(info[..], [cryptoki::object::AttributeInfo::Available(_)])
                    })
            })
            .collect();
        assert!(wanted.contains(&AttributeType::VendorDefined(cpv4_wire::consts::CKA_OUID)));
        assert_eq!(
            source.get_attributes(*object, &wanted).unwrap(),
            target.get_attributes(*clone, &wanted).unwrap()
        );
    }
    // The clones work: what the source encrypted or signed, the target decrypts or verifies,
    // and the reverse.
    let mut iv = [3u8; 12];
    let gcm = GcmParams::new(&mut iv, &[], 128.into()).unwrap();
    let ciphertext = source
        .encrypt(&Mechanism::AesGcm(gcm), aes, b"migrated")
        .unwrap();
    let gcm = GcmParams::new(&mut iv, &[], 128.into()).unwrap();
    assert_eq!(
        target
            .decrypt(&Mechanism::AesGcm(gcm), clones[0], &ciphertext)
            .unwrap(),
        b"migrated"
    );
    let signature = target
        .sign(&Mechanism::EcdsaSha256, clones[2], b"by the clone")
        .unwrap();
    source
        .verify(&Mechanism::EcdsaSha256, public, b"by the clone", &signature)
        .unwrap();
    let signature = source
        .sign(&Mechanism::EcdsaSha256, private, b"by the source")
        .unwrap();
    target
        .verify(
            &Mechanism::EcdsaSha256,
            clones[1],
            b"by the source",
            &signature,
        )
        .unwrap();
    drop(pkcs11);
}
