//! Key schedule, confirmation MACs and domain PSKs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{assert_redacted, counting};
use cpv4_crypto::Secret32;
use cpv4_crypto::ecdh::SharedSecret;
use cpv4_crypto::psk::{DomainPsk, PskError};
use cpv4_crypto::schedule::{Kdf, SessionKeys, confirmation_mac, verify_confirmation_mac};

fn keys(kdf: Kdf, psk: u8, th: u8) -> SessionKeys {
    SessionKeys::derive(
        kdf,
        &SharedSecret::from_bytes([1; 32]),
        &DomainPsk::from_bytes([psk; 32]),
        &[3; 32],
        &[4; 32],
        &[th; 32],
    )
    .unwrap()
}

fn all(keys: &SessionKeys) -> [[u8; 32]; 4] {
    [
        *keys.confirm_initiator.expose_secret(),
        *keys.confirm_responder.expose_secret(),
        *keys.initiator_to_responder.expose_secret(),
        *keys.responder_to_initiator.expose_secret(),
    ]
}

#[test]
fn kdf_ids() {
    assert_eq!(Kdf::from_id(1), Some(Kdf::HkdfSha256));
    assert_eq!(Kdf::from_id(2), Some(Kdf::HkdfSha384));
    for id in [0, 3, u32::MAX] {
        assert_eq!(Kdf::from_id(id), None);
    }
    for kdf in Kdf::ALL {
        assert_eq!(Kdf::from_id(kdf.id()), Some(kdf));
    }
    assert_eq!(Kdf::HkdfSha256.id(), 1);
    assert_eq!(Kdf::HkdfSha384.id(), 2);
}

#[test]
fn keys_are_distinct_and_depend_on_every_input() {
    let base = keys(Kdf::HkdfSha256, 2, 5);
    let k = all(&base);
    for i in 0..4 {
        for j in 0..i {
            assert_ne!(k[i], k[j]);
        }
    }
    assert_ne!(all(&keys(Kdf::HkdfSha384, 2, 5)), k);
    assert_ne!(all(&keys(Kdf::HkdfSha256, 9, 5)), k);
    assert_ne!(all(&keys(Kdf::HkdfSha256, 2, 6)), k);
    let derive = |ss: u8, ni: u8, nr: u8| {
        all(&SessionKeys::derive(
            Kdf::HkdfSha256,
            &SharedSecret::from_bytes([ss; 32]),
            &DomainPsk::from_bytes([2; 32]),
            &[ni; 32],
            &[nr; 32],
            &[5; 32],
        )
        .unwrap())
    };
    assert_eq!(derive(1, 3, 4), k);
    assert_ne!(derive(7, 3, 4), k);
    assert_ne!(derive(1, 7, 4), k);
    assert_ne!(derive(1, 3, 7), k);
    // Swapping the nonces changes the keys (the roles are bound).
    assert_ne!(derive(1, 4, 3), k);
}

#[test]
fn session_keys_serialize() {
    let keys = keys(Kdf::HkdfSha384, 2, 5);
    let bytes = keys.to_bytes();
    assert_eq!(bytes.len(), SessionKeys::SERIALIZED_LEN);
    assert_eq!(&bytes[..32], keys.confirm_initiator.expose_secret());
    assert_eq!(&bytes[96..], keys.responder_to_initiator.expose_secret());
    assert_eq!(SessionKeys::from_bytes(&bytes), keys);
    assert_eq!(SessionKeys::from_slice(&bytes[..]).unwrap(), keys);
    assert!(SessionKeys::from_slice(&bytes[..127]).is_none());
    assert!(SessionKeys::from_slice(&[0u8; 129]).is_none());
}

#[test]
fn confirmation_mac_verifies_in_both_directions_only_with_the_right_key() {
    let keys = keys(Kdf::HkdfSha256, 2, 5);
    let data = b"accept message";
    let mac = confirmation_mac(&keys.confirm_responder, data);
    assert!(verify_confirmation_mac(&keys.confirm_responder, data, &mac));
    assert!(!verify_confirmation_mac(
        &keys.confirm_initiator,
        data,
        &mac
    ));
    assert!(!verify_confirmation_mac(
        &keys.confirm_responder,
        b"other",
        &mac
    ));
    for bit in 0..256 {
        let mut flipped = mac;
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(!verify_confirmation_mac(
            &keys.confirm_responder,
            data,
            &flipped
        ));
    }
}

#[test]
fn psk_id_and_leet_tags() {
    let psk = DomainPsk::from_bytes(counting(0x20));
    let other = DomainPsk::from_bytes(counting(0x21));
    let id = psk.psk_id();
    assert_eq!(id, psk.psk_id());
    assert_ne!(id, other.psk_id());
    assert!(psk.matches_psk_id(&id));
    assert!(!other.matches_psk_id(&id));

    let (n1, n2) = ([1u8; 32], [2u8; 32]);
    let tag = psk.leet_tag(&n1);
    assert_ne!(tag, psk.leet_tag(&n2), "tags are unlinkable across nonces");
    assert_ne!(tag, other.leet_tag(&n1));
    assert!(psk.matches_leet_tag(&n1, &tag));
    assert!(!psk.matches_leet_tag(&n2, &tag));
    assert!(!other.matches_leet_tag(&n1, &tag));
    let mut flipped = tag;
    flipped[31] ^= 0x80;
    assert!(!psk.matches_leet_tag(&n1, &flipped));
}

#[test]
fn psk_derivation() {
    // Same KCV, same PSK (every HSM of the domain derives it alone); another KCV, another PSK.
    let a = DomainPsk::derive(b"domain secret").unwrap();
    assert_eq!(a, DomainPsk::derive(b"domain secret").unwrap());
    assert_ne!(a, DomainPsk::derive(b"domain secreT").unwrap());
    assert_eq!(DomainPsk::from_bytes(*a.as_bytes()), a);
    assert_eq!(DomainPsk::derive(b""), Err(PskError::EmptyKcv));
}

#[test]
fn debug_output_hides_secrets() {
    let keys = keys(Kdf::HkdfSha256, 2, 5);
    let debug = format!("{keys:?}");
    assert_eq!(debug, "SessionKeys { .. }");
    for key in all(&keys) {
        assert_redacted(&debug, &key);
    }
    let psk = DomainPsk::from_bytes(counting(0x20));
    let debug = format!("{psk:?}");
    assert_eq!(debug, "DomainPsk([REDACTED])");
    assert_redacted(&debug, psk.as_bytes());
    let secret = Secret32::from_bytes(counting(0x90));
    assert_redacted(&format!("{secret:?}"), secret.expose_secret());
    assert_redacted(
        &format!("{:?}", keys.confirm_initiator),
        keys.confirm_initiator.expose_secret(),
    );
}
