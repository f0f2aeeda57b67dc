//! Known-answer tests from RFCs for the primitives the crate builds on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use aes_kw::{KeyInit, KwpAes192, KwpAes256};
use common::{hex, unhex};
use cpv4_crypto::Secret32;
use cpv4_crypto::blob;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// RFC 5649 section 6: the 192-bit KEK examples, through the crate's KWP type.
#[test]
fn rfc5649_section6_vectors() {
    let kek = unhex("5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8");
    let kwp = KwpAes192::new_from_slice(&kek).unwrap();
    let cases = [
        (
            "c37b7e6492584340 bed1220780894115 5068f738",
            "138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a",
        ),
        ("466f7250617369", "afbeb0f07dfbf541 9200f2ccb50bb24f"),
    ];
    for (key, wrapped) in cases {
        let (key, wrapped) = (unhex(key), unhex(wrapped));
        let mut buf = vec![0u8; wrapped.len()];
        assert_eq!(kwp.wrap_key(&key, &mut buf).unwrap(), wrapped.as_slice());
        let mut out = vec![0u8; wrapped.len() - 8];
        assert_eq!(kwp.unwrap_key(&wrapped, &mut out).unwrap(), key.as_slice());
        let mut tampered = wrapped.clone();
        tampered[0] ^= 1;
        assert!(kwp.unwrap_key(&tampered, &mut out).is_err());
    }
}

/// The blob body is exactly AES-256-KWP under HMAC-SHA256(direction_key, "cpv4 blob" ||
/// SHA-256(header) || 0x01) (HKDF-Expand to 32 bytes, computed here with plain HMAC).
#[test]
fn blob_matches_independent_construction() {
    let key = [0x42u8; 32];
    let header = b"header bytes";
    for payload_len in [1usize, 7, 8, 9, 64, 1000] {
        let payload: Vec<u8> = (0..payload_len).map(|i| (i * 7) as u8).collect();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        mac.update(b"cpv4 blob");
        mac.update(&Sha256::digest(header));
        mac.update(&[1]);
        let k_blob = mac.finalize().into_bytes();
        let kwp = KwpAes256::new_from_slice(&k_blob).unwrap();
        let mut expected = vec![0u8; blob::sealed_len(payload_len)];
        kwp.wrap_key(&payload, &mut expected).unwrap();
        let body = blob::seal(&Secret32::from_bytes(key), header, &payload).unwrap();
        assert_eq!(hex(&body), hex(&expected), "payload length {payload_len}");
    }
}

/// HKDF-SHA256 and HKDF-SHA384 as used by the key schedule agree with a plain-HMAC
/// computation of RFC 5869 (one output block).
#[test]
fn schedule_matches_independent_hkdf() {
    use cpv4_crypto::ecdh::SharedSecret;
    use cpv4_crypto::psk::DomainPsk;
    use cpv4_crypto::schedule::{Kdf, SessionKeys};

    let ss = [0x11u8; 32];
    let psk = [0x22u8; 32];
    let (ni, nr, th) = ([0x33u8; 32], [0x44u8; 32], [0x55u8; 32]);
    let keys = SessionKeys::derive(
        Kdf::HkdfSha256,
        &SharedSecret::from_bytes(ss),
        &DomainPsk::from_bytes(psk),
        &ni,
        &nr,
        &th,
    )
    .unwrap();
    let mut extract = <Hmac<Sha256> as KeyInit>::new_from_slice(&[ni, nr].concat()).unwrap();
    extract.update(&[ss, psk].concat());
    let prk = extract.finalize().into_bytes();
    let expand = |label: &[u8]| {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&prk).unwrap();
        mac.update(label);
        mac.update(&th);
        mac.update(&[1]);
        mac.finalize().into_bytes().to_vec()
    };
    assert_eq!(
        keys.confirm_initiator.expose_secret().to_vec(),
        expand(b"cpv4 confirm initiator")
    );
    assert_eq!(
        keys.confirm_responder.expose_secret().to_vec(),
        expand(b"cpv4 confirm responder")
    );
    assert_eq!(
        keys.initiator_to_responder.expose_secret().to_vec(),
        expand(b"cpv4 key initiator to responder")
    );
    assert_eq!(
        keys.responder_to_initiator.expose_secret().to_vec(),
        expand(b"cpv4 key responder to initiator")
    );

    // SHA-384: same construction with HMAC-SHA384.
    let keys = SessionKeys::derive(
        Kdf::HkdfSha384,
        &SharedSecret::from_bytes(ss),
        &DomainPsk::from_bytes(psk),
        &ni,
        &nr,
        &th,
    )
    .unwrap();
    let (_, hk) = Hkdf::<sha2::Sha384>::extract(Some(&[ni, nr].concat()), &[ss, psk].concat());
    let mut okm = [0u8; 32];
    hk.expand(
        &[b"cpv4 key responder to initiator".as_slice(), &th].concat(),
        &mut okm,
    )
    .unwrap();
    assert_eq!(keys.responder_to_initiator.expose_secret(), &okm);
}

/// RFC 4231 test case 2 through the confirmation MAC (HMAC-SHA256), with the 4-byte key
/// zero-padded to 32 bytes (HMAC pads short keys with zeros, so the result is the same).
#[test]
fn rfc4231_case2_confirmation_mac() {
    let mut key = [0u8; 32];
    key[..4].copy_from_slice(b"Jefe");
    let mac = cpv4_crypto::schedule::confirmation_mac(
        &Secret32::from_bytes(key),
        b"what do ya want for nothing?",
    );
    assert_eq!(
        hex(&mac),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}
