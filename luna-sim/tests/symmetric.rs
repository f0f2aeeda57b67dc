//! Symmetric mechanisms through the simulator, against the standards' published vectors:
//! AES ECB, CBC and CTR (SP 800-38A, appendix F), DES ECB and CBC (FIPS 81, appendix B), three-
//! key triple DES (SP 800-67, appendix B), AES-CMAC (RFC 4493) and triple-DES CMAC (SP 800-38B,
//! appendix D), HMAC truncated by `_GENERAL` (RFC 4231, test case 5), GCM with 12-, 8- and
//! 60-byte IVs (the GCM specification's test cases 4 to 6), AES key wrap (RFC 3394). Also DES
//! key generation and parity, the CTR counter space, and a cloned triple-DES key.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{fresh, login, read};
use cpv4_migrate::MigrationItem;
use cpv4_wire::consts::*;
use luna_sim::mechanisms::{CtrParams, HashAlg};
use luna_sim::{
    Attribute, CipherStep, Fitted, GcmParams, Mechanism, SessionHandle, SimError, Simulator,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A session secret key of `key_type` with a known value, usable for everything.
fn key(sim: &Simulator, session: SessionHandle, key_type: CkKeyType, value: &[u8]) -> u64 {
    sim.create_object(
        session,
        &[
            Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attribute::ulong(CKA_KEY_TYPE, key_type),
            Attribute::bytes(CKA_VALUE, value.to_vec()),
        ],
    )
    .unwrap()
}

/// Encrypts `plain` in one call and in two parts split everywhere; decrypts back the same two
/// ways; returns the ciphertext.
fn encrypt_all_ways(
    sim: &Simulator,
    session: SessionHandle,
    mechanism: &Mechanism,
    key: u64,
    plain: &[u8],
) -> Vec<u8> {
    let key = key as _;
    sim.encrypt_init(session, mechanism, key).unwrap();
    let cipher = sim.encrypt(session, plain).unwrap();
    for split in [0, 1, plain.len() / 2, plain.len()] {
        sim.encrypt_init(session, mechanism, key).unwrap();
        let mut out = sim.encrypt_update(session, &plain[..split]).unwrap();
        out.extend(sim.encrypt_update(session, &plain[split..]).unwrap());
        out.extend(sim.encrypt_final(session).unwrap());
        assert_eq!(out, cipher, "{mechanism:?} split at {split}");
        sim.decrypt_init(session, mechanism, key).unwrap();
        let mut back = sim
            .decrypt_update(session, &cipher[..split])
            .unwrap()
            .to_vec();
        back.extend(
            sim.decrypt_update(session, &cipher[split..])
                .unwrap()
                .iter(),
        );
        back.extend(sim.decrypt_final(session).unwrap().iter());
        assert_eq!(back, plain, "{mechanism:?} split at {split}");
    }
    sim.decrypt_init(session, mechanism, key).unwrap();
    assert_eq!(sim.decrypt(session, &cipher).unwrap().as_slice(), plain);
    cipher
}

fn mac(
    sim: &Simulator,
    session: SessionHandle,
    mechanism: &Mechanism,
    key: u64,
    data: &[u8],
) -> Vec<u8> {
    sim.sign_init(session, mechanism, key as _).unwrap();
    let tag = sim.sign(session, data).unwrap();
    sim.verify_init(session, mechanism, key as _).unwrap();
    assert_eq!(sim.verify(session, data, &tag), Ok(()));
    tag
}

const SP800_38A_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const SP800_38A_PLAIN: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51";

#[test]
fn aes_ecb_cbc_ctr_match_sp800_38a() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let plain = hex(SP800_38A_PLAIN);
    let aes128 = key(&sim, co, CKK_AES, &hex(SP800_38A_KEY));
    let ecb = Mechanism::without_params(CKM_AES_ECB).unwrap();
    // F.1.1 and F.1.5 (AES-256), first blocks.
    assert_eq!(
        encrypt_all_ways(&sim, co, &ecb, aes128, &plain[..16]),
        hex("3ad77bb40d7a3660a89ecaf32466ef97")
    );
    let aes256 = key(
        &sim,
        co,
        CKK_AES,
        &hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"),
    );
    assert_eq!(
        encrypt_all_ways(&sim, co, &ecb, aes256, &plain[..16]),
        hex("f3eed1bdb5d2a03c064b5a7e3db181f8")
    );
    // F.2.1: CBC-AES128.
    let cbc = Mechanism::block(CKM_AES_CBC, &hex("000102030405060708090a0b0c0d0e0f")).unwrap();
    assert_eq!(
        encrypt_all_ways(&sim, co, &cbc, aes128, &plain),
        hex("7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2")
    );
    // F.5.1: CTR-AES128, a full 128-bit counter.
    let block: [u8; 16] = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").try_into().unwrap();
    let ctr = Mechanism::AesCtr(CtrParams::from_ck(128, block).unwrap());
    assert_eq!(
        encrypt_all_ways(&sim, co, &ctr, aes128, &plain),
        hex("874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff")
    );
    // CTR is a stream: any length, output as long as the input.
    assert_eq!(
        encrypt_all_ways(&sim, co, &ctr, aes128, &plain[..21]),
        hex("874d6191b620e3261bef6864990db6ce 9806f66b79")
    );
}

#[test]
fn des_and_triple_des_match_fips81_and_sp800_67() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let now = b"Now is the time for all ";
    let des = key(&sim, co, CKK_DES, &hex("0123456789abcdef"));
    let ecb = Mechanism::without_params(CKM_DES_ECB).unwrap();
    assert_eq!(
        encrypt_all_ways(&sim, co, &ecb, des, now),
        hex("3fa40e8a984d4815 6a271787ab8883f9 893d51ec4b563b53")
    );
    let cbc = Mechanism::block(CKM_DES_CBC, &hex("1234567890abcdef")).unwrap();
    assert_eq!(
        encrypt_all_ways(&sim, co, &cbc, des, now),
        hex("e5c7cdde872bf27c 43e934008c389c0f 683788499a7c05f6")
    );
    let des3 = key(
        &sim,
        co,
        CKK_DES3,
        &hex("0123456789ABCDEF 23456789ABCDEF01 456789ABCDEF0123"),
    );
    let ecb3 = Mechanism::without_params(CKM_DES3_ECB).unwrap();
    assert_eq!(
        encrypt_all_ways(&sim, co, &ecb3, des3, b"The qufck brown fox jump"),
        hex("A826FD8CE53B855F CCE21C8112256FE6 68D5C05DD9B6B900")
    );
    // A two-key triple DES key K1 K2 is the three-key K1 K2 K1.
    let k1k2 = hex("0123456789ABCDEF 23456789ABCDEF01");
    let des2 = key(&sim, co, CKK_DES2, &k1k2);
    let mut k1k2k1 = k1k2.clone();
    k1k2k1.extend_from_slice(&k1k2[..8]);
    let as_des3 = key(&sim, co, CKK_DES3, &k1k2k1);
    let pad = Mechanism::block(CKM_DES3_CBC_PAD, &[7; 8]).unwrap();
    assert_eq!(
        encrypt_all_ways(&sim, co, &pad, des2, b"seventeen bytes!!"),
        encrypt_all_ways(&sim, co, &pad, as_des3, b"seventeen bytes!!")
    );
    // Check values: the first 3 bytes of the encrypted zero block.
    sim.encrypt_init(co, &ecb3, des3 as _).unwrap();
    let zero = sim.encrypt(co, &[0; 8]).unwrap();
    assert_eq!(read(&sim, co, des3, CKA_CHECK_VALUE), zero[..3]);
    // Whole blocks only without padding; a DES key does not take triple-DES mechanisms.
    sim.encrypt_init(co, &ecb3, des3 as _).unwrap();
    assert_eq!(sim.encrypt(co, &[0; 12]), Err(SimError::DataLenRange));
    assert_eq!(
        sim.encrypt_init(co, &ecb3, des as _),
        Err(SimError::KeyTypeInconsistent)
    );
    assert_eq!(
        Mechanism::block(CKM_DES3_CBC, &[0; 16]),
        Err(SimError::MechanismParamInvalid)
    );
    assert_eq!(
        Mechanism::without_params(CKM_DES3_CBC),
        Err(SimError::MechanismParamInvalid)
    );
}

#[test]
fn cmac_and_truncated_hmac_match_rfc4493_sp800_38b_and_rfc4231() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let aes = key(&sim, co, CKK_AES, &hex(SP800_38A_KEY));
    let cmac = Mechanism::without_params(CKM_AES_CMAC).unwrap();
    assert_eq!(
        mac(&sim, co, &cmac, aes, b""),
        hex("bb1d6929e95937287fa37d129b756746")
    );
    let plain = hex(SP800_38A_PLAIN);
    assert_eq!(
        mac(&sim, co, &cmac, aes, &plain[..16]),
        hex("070a16b46b4d4144f79bdd9dd04a287c")
    );
    let general = Mechanism::mac_general(CKM_AES_CMAC_GENERAL, 8).unwrap();
    assert_eq!(
        mac(&sim, co, &general, aes, &plain[..16]),
        hex("070a16b46b4d4144")
    );
    let des3 = key(
        &sim,
        co,
        CKK_DES3,
        &hex("8aa83bf8cbda1062 0bc1bf19fbb6cd58 bc313d4a371ca8b5"),
    );
    let cmac3 = Mechanism::without_params(CKM_DES3_CMAC).unwrap();
    assert_eq!(mac(&sim, co, &cmac3, des3, b""), hex("b7a688e122ffaf95"));
    assert_eq!(
        mac(&sim, co, &cmac3, des3, &hex("6bc1bee22e409f96")),
        hex("8e8f293136283797")
    );
    let secret = sim
        .create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
                Attribute::bytes(CKA_VALUE, vec![0x0c; 20]),
            ],
        )
        .unwrap() as u64;
    let hmac = Mechanism::mac_general(CKM_SHA256_HMAC_GENERAL, 16).unwrap();
    let tag = mac(&sim, co, &hmac, secret, b"Test With Truncation");
    assert_eq!(tag, hex("a3b6167473100ee06e0c796c2955552b"));
    // A tag of another length, or a changed one, is refused.
    sim.verify_init(co, &hmac, secret as _).unwrap();
    assert_eq!(
        sim.verify(co, b"Test With Truncation", &tag[..15]),
        Err(SimError::SignatureLenRange)
    );
    let mut bad = tag.clone();
    bad[15] ^= 1;
    sim.verify_init(co, &hmac, secret as _).unwrap();
    assert_eq!(
        sim.verify(co, b"Test With Truncation", &bad),
        Err(SimError::SignatureInvalid)
    );
    // Multi-part gives the same tag.
    sim.sign_init(co, &hmac, secret as _).unwrap();
    sim.sign_update(co, b"Test With ").unwrap();
    sim.sign_update(co, b"Truncation").unwrap();
    assert_eq!(sim.sign_final(co).unwrap(), tag);
    for (kind, len) in [
        (CKM_SHA256_HMAC_GENERAL, 0),
        (CKM_SHA256_HMAC_GENERAL, 33),
        (CKM_AES_CMAC_GENERAL, 17),
        (CKM_DES3_CMAC_GENERAL, 9),
    ] {
        assert_eq!(
            Mechanism::mac_general(kind, len),
            Err(SimError::MechanismParamInvalid)
        );
    }
    assert_eq!(
        Mechanism::mac_general(HashAlg::Sha1.hmac_general_mechanism(), 20)
            .map(|m| m.mechanism_type()),
        Ok(CKM_SHA_1_HMAC_GENERAL)
    );
}

#[test]
fn gcm_takes_any_iv_length_and_short_tags() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let k = key(&sim, co, CKK_AES, &hex("feffe9928665731c6d6a8f9467308308"));
    let plain = hex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let cases = [
        (
            "cafebabefacedbaddecaf888",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            "cafebabefacedbad",
            "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c7423
             73806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598",
            "3612d2e79e3b0785561be14aaca2fccb",
        ),
        (
            "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728
             c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
            "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca7
             01e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5",
            "619cc5aefffe0bfa462af43c1699d050",
        ),
    ];
    for (iv, cipher, tag) in cases {
        for tag_bits in [128u64, 120, 112, 104, 96, 64, 32] {
            let m = Mechanism::AesGcm(GcmParams {
                iv: hex(iv),
                aad: aad.clone(),
                tag_bits,
            });
            let mut expected = hex(cipher);
            expected.extend_from_slice(&hex(tag)[..tag_bits as usize / 8]);
            assert_eq!(encrypt_all_ways(&sim, co, &m, k, &plain), expected);
            let mut bad = expected.clone();
            *bad.last_mut().unwrap() ^= 1;
            sim.decrypt_init(co, &m, k as _).unwrap();
            assert_eq!(sim.decrypt(co, &bad), Err(SimError::EncryptedDataInvalid));
        }
    }
    let bad_tag = Mechanism::AesGcm(GcmParams {
        iv: vec![1; 12],
        aad: vec![],
        tag_bits: 48,
    });
    assert_eq!(
        sim.encrypt_init(co, &bad_tag, k as _),
        Err(SimError::MechanismParamInvalid)
    );
}

#[test]
fn ctr_refuses_data_beyond_its_counter_space_and_ends_the_operation() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let k = key(&sim, co, CKK_AES, &[4; 16]);
    let mut block = [0u8; 16];
    block[15] = 0xFF; // an 8-bit counter at its last value: one block left
    let m = Mechanism::AesCtr(CtrParams::from_ck(8, block).unwrap());
    sim.encrypt_init(co, &m, k as _).unwrap();
    assert_eq!(sim.encrypt_update(co, &[0; 16]).unwrap().len(), 16);
    assert_eq!(sim.encrypt_update(co, &[0; 1]), Err(SimError::DataLenRange));
    assert_eq!(
        sim.encrypt_final(co),
        Err(SimError::OperationNotInitialized)
    );
    sim.encrypt_init(co, &m, k as _).unwrap();
    assert_eq!(sim.encrypt(co, &[0; 17]), Err(SimError::DataLenRange));
    // Ciphertext beyond it is CKR_ENCRYPTED_DATA_LEN_RANGE.
    sim.decrypt_init(co, &m, k as _).unwrap();
    assert_eq!(
        sim.decrypt(co, &[0; 17]),
        Err(SimError::EncryptedDataLenRange)
    );
    // Below the wrap, the 8-bit counter gives what the full 128-bit one gives.
    block[15] = 0;
    let eight = Mechanism::AesCtr(CtrParams::from_ck(8, block).unwrap());
    let full = Mechanism::AesCtr(CtrParams::from_ck(128, block).unwrap());
    assert_eq!(
        encrypt_all_ways(&sim, co, &eight, k, &[3; 4096]),
        encrypt_all_ways(&sim, co, &full, k, &[3; 4096])
    );
    assert_eq!(
        CtrParams::from_ck(0, block),
        Err(SimError::MechanismParamInvalid)
    );
}

#[test]
fn des_keys_are_generated_with_parity_and_refused_without() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    for (mechanism, key_type, len) in [
        (CKM_DES_KEY_GEN, CKK_DES, 8u64),
        (CKM_DES2_KEY_GEN, CKK_DES2, 16),
        (CKM_DES3_KEY_GEN, CKK_DES3, 24),
    ] {
        let m = Mechanism::without_params(mechanism).unwrap();
        let extractable = [
            Attribute::bool(CKA_SENSITIVE, false),
            Attribute::bool(CKA_EXTRACTABLE, true),
        ];
        // Without CKA_VALUE_LEN, and with it at the key's length (register A67).
        for template in [
            extractable.to_vec(),
            [&extractable[..], &[Attribute::ulong(CKA_VALUE_LEN, len)]].concat(),
        ] {
            let k = sim.generate_key(co, &m, &template).unwrap() as u64;
            let value = read(&sim, co, k, CKA_VALUE);
            assert_eq!(value.len() as u64, len);
            assert!(value.iter().all(|b| b.count_ones() % 2 == 1), "odd parity");
            assert_eq!(
                read(&sim, co, k, CKA_KEY_TYPE),
                key_type.to_be_bytes().to_vec()
            );
            assert_eq!(read(&sim, co, k, CKA_CHECK_VALUE).len(), 3);
        }
        assert_eq!(
            sim.generate_key(co, &m, &[Attribute::ulong(CKA_VALUE_LEN, len + 8)]),
            Err(SimError::KeySizeRange)
        );
        // An imported key with a byte of even parity is refused, as PKCS#11 says.
        let mut value = vec![0x01; len as usize];
        value[3] = 0x03;
        assert_eq!(
            sim.create_object(
                co,
                &[
                    Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                    Attribute::ulong(CKA_KEY_TYPE, key_type),
                    Attribute::bytes(CKA_VALUE, value),
                ],
            ),
            Err(SimError::AttributeValueInvalid(CKA_VALUE))
        );
    }
}

#[test]
fn aes_key_wrap_matches_rfc3394_and_wraps_des_keys() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let kek = key(&sim, co, CKK_AES, &hex("000102030405060708090A0B0C0D0E0F"));
    let target = sim
        .create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                Attribute::bool(CKA_EXTRACTABLE, true),
                Attribute::bytes(CKA_VALUE, hex("00112233445566778899AABBCCDDEEFF")),
            ],
        )
        .unwrap();
    let kw = Mechanism::without_params(CKM_AES_KEY_WRAP).unwrap();
    let wrapped = sim.wrap_key(co, &kw, kek as _, target).unwrap();
    assert_eq!(
        wrapped,
        hex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")
    );
    let des3 = sim
        .generate_key(
            co,
            &Mechanism::Des3KeyGen,
            &[Attribute::bool(CKA_EXTRACTABLE, true)],
        )
        .unwrap();
    for m in [kw, Mechanism::AesKeyWrapPad] {
        let wrapped = sim.wrap_key(co, &m, kek as _, des3).unwrap();
        let back = sim
            .unwrap_key(
                co,
                &m,
                kek as _,
                &wrapped,
                &[
                    Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                    Attribute::ulong(CKA_KEY_TYPE, CKK_DES3),
                ],
            )
            .unwrap();
        assert_eq!(
            read(&sim, co, back as u64, CKA_CHECK_VALUE),
            read(&sim, co, des3 as u64, CKA_CHECK_VALUE)
        );
    }
    // Unwrapped DES material with a byte of even parity is refused like an imported one.
    let even = sim
        .create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
                Attribute::bool(CKA_EXTRACTABLE, true),
                Attribute::bytes(CKA_VALUE, vec![0x03; 24]),
            ],
        )
        .unwrap();
    let even_wrapped = sim
        .wrap_key(co, &Mechanism::AesKeyWrap, kek as _, even)
        .unwrap();
    assert_eq!(
        sim.unwrap_key(
            co,
            &Mechanism::AesKeyWrap,
            kek as _,
            &even_wrapped,
            &[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_DES3),
            ],
        ),
        Err(SimError::WrappedKeyInvalid)
    );
    // A wrapped key that fails the integrity check.
    let mut bad = wrapped;
    bad[0] ^= 1;
    assert_eq!(
        sim.unwrap_key(
            co,
            &Mechanism::AesKeyWrap,
            kek as _,
            &bad,
            &[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
            ],
        ),
        Err(SimError::WrappedKeyInvalid)
    );
}

#[test]
fn a_migrated_triple_des_key_works_on_the_target() {
    let (_dir, sim) = fresh();
    let source = login(&sim, 0, CKU_USER);
    let target = login(&sim, 1, CKU_USER);
    let des3 = sim
        .generate_key(
            source,
            &Mechanism::Des3KeyGen,
            &[
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bytes(CKA_LABEL, b"3des".to_vec()),
            ],
        )
        .unwrap();
    let mut items = vec![MigrationItem::new(CK_CRYPTOKI_ELEMENT, des3)];
    assert_eq!(sim.migrate_keys(source, target, 0, &mut items), CKR_OK);
    assert_eq!(items[0].rv, CKR_OK);
    let clone = items[0].target_handle;
    let m = Mechanism::block(CKM_DES3_CBC_PAD, &[1; 8]).unwrap();
    sim.encrypt_init(source, &m, des3).unwrap();
    let cipher = sim.encrypt(source, b"moved with CPv4").unwrap();
    sim.decrypt_init(target, &m, clone).unwrap();
    assert_eq!(
        sim.decrypt(target, &cipher).unwrap().as_slice(),
        b"moved with CPv4"
    );
    assert_eq!(
        read(&sim, target, clone as u64, CKA_CHECK_VALUE),
        read(&sim, source, des3 as u64, CKA_CHECK_VALUE)
    );
    assert_eq!(
        read(&sim, target, clone as u64, CKA_KEY_TYPE),
        CKK_DES3.to_be_bytes().to_vec()
    );
}

/// The update of a dual function runs both of its halves in one step of the simulator: the
/// decrypting one gives its plaintext to the digest, the encrypting one digests and then
/// encrypts, if its output fits. With a half missing, or a buffer too short, neither moves
/// (register A76).
#[test]
fn dual_updates_move_both_halves_or_neither() {
    use luna_sim::OperationKind::{Digest, Encrypt};
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let plain = hex(SP800_38A_PLAIN);
    let aes = key(&sim, co, CKK_AES, &hex(SP800_38A_KEY)) as _;
    let cbc = Mechanism::block(CKM_AES_CBC, &hex("000102030405060708090a0b0c0d0e0f")).unwrap();
    let sha256 = Mechanism::without_params(CKM_SHA256).unwrap();
    sim.digest_init(co, &sha256).unwrap();
    let digest = sim.digest(co, &plain).unwrap();
    sim.encrypt_init(co, &cbc, aes).unwrap();
    let cipher = sim.encrypt(co, &plain).unwrap();

    sim.decrypt_init(co, &cbc, aes).unwrap();
    let without_digest = sim.decrypt_update_then(co, Digest, &cipher).map(|_| ());
    assert_eq!(without_digest, Err(SimError::OperationNotInitialized));
    sim.digest_init(co, &sha256).unwrap();
    let back = sim.decrypt_update_then(co, Digest, &cipher).unwrap();
    assert_eq!(*back, plain, "the decryption moved on without its digest");
    assert!(sim.decrypt_final(co).unwrap().is_empty());
    assert_eq!(sim.digest_final(co).unwrap(), digest);

    sim.digest_init(co, &sha256).unwrap();
    let without_encryption = sim.update_then_encrypt(co, Digest, &plain, usize::MAX);
    assert_eq!(without_encryption, Err(SimError::OperationNotInitialized));
    sim.encrypt_init(co, &cbc, aes).unwrap();
    // An output that does not fit the caller's buffer moves neither half.
    let short = sim.update_then_encrypt(co, Digest, &plain, plain.len() - 1);
    assert_eq!(short, Ok(Fitted::Needs(plain.len())));
    let fits = sim.update_then_encrypt(co, Digest, &plain, plain.len());
    assert_eq!(fits, Ok(Fitted::Done(cipher.clone())));
    assert!(sim.encrypt_final(co).unwrap().is_empty());
    assert_eq!(
        sim.digest_final(co).unwrap(),
        digest,
        "the digest moved on alone"
    );
    // An operation that is no half of the call is refused before anything moves.
    sim.decrypt_init(co, &cbc, aes).unwrap();
    assert!(matches!(
        sim.decrypt_update_then(co, Encrypt, &cipher),
        Err(SimError::Internal(_))
    ));
    assert_eq!(*sim.decrypt_update(co, &cipher).unwrap(), plain);

    // A plain encryption step is taken only if its output fits, the length found under the
    // same lock: a short buffer leaves the operation where it was.
    sim.encrypt_init(co, &cbc, aes).unwrap();
    let short = sim.encrypt_fitting(co, CipherStep::Update(&plain), 16);
    assert_eq!(short, Ok(Fitted::Needs(plain.len())));
    let whole = sim.encrypt_fitting(co, CipherStep::Update(&plain), plain.len());
    assert_eq!(whole, Ok(Fitted::Done(cipher.clone())));
    let last = sim.encrypt_fitting(co, CipherStep::Final, 0);
    assert_eq!(last, Ok(Fitted::Done(Vec::new())));
}
