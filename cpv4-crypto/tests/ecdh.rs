//! Ephemeral ECDH and peer-key validation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{assert_redacted, rng, unhex};
use cpv4_crypto::ecdh::{
    EphemeralSecret, ID_EC_PUBLIC_KEY, NoEphemeralKey, POINT_LEN, PRIME256V1, parse_peer_key,
};
use der::asn1::ObjectIdentifier;

fn parse(point: &[u8]) -> Result<cpv4_crypto::ecdh::PeerPublicKey, NoEphemeralKey> {
    parse_peer_key(&ID_EC_PUBLIC_KEY, &PRIME256V1, point)
}

#[test]
fn oids_have_their_standard_values() {
    assert_eq!(ID_EC_PUBLIC_KEY.to_string(), "1.2.840.10045.2.1");
    assert_eq!(PRIME256V1.to_string(), "1.2.840.10045.3.1.7");
}

#[test]
fn both_sides_derive_the_same_secret() {
    let mut rng = rng(1);
    let a = EphemeralSecret::generate(&mut rng);
    let b = EphemeralSecret::generate(&mut rng);
    let point_a = a.public_point();
    let point_b = b.public_point();
    assert_eq!(point_a.len(), POINT_LEN);
    assert_eq!(point_a[0], 0x04);
    assert_ne!(point_a, point_b);
    let peer_a = parse(&point_a).unwrap();
    let peer_b = parse(&point_b).unwrap();
    assert_eq!(peer_a.to_point(), point_a);
    assert_eq!(peer_a, a.public_key());
    let ab = a.diffie_hellman(&peer_b);
    let ba = b.diffie_hellman(&peer_a);
    assert_eq!(ab.expose_secret(), ba.expose_secret());
    assert_ne!(ab.expose_secret(), &[0u8; 32]);
    // A third party gets another secret.
    let c = EphemeralSecret::generate(&mut rng);
    assert_ne!(
        c.diffie_hellman(&peer_b).expose_secret(),
        ab.expose_secret()
    );
}

#[test]
fn known_point_is_accepted() {
    // The P-256 base point G.
    let g = unhex(
        "04 6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296
            4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
    );
    assert_eq!(parse(&g).unwrap().to_point().as_slice(), g.as_slice());
}

#[test]
fn every_refusal_case() {
    let mut rng = rng(2);
    let good = EphemeralSecret::generate(&mut rng).public_point();
    assert!(parse(&good).is_ok());

    let rsa = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    let x25519 = ObjectIdentifier::new_unwrap("1.3.101.110");
    let secp384r1 = ObjectIdentifier::new_unwrap("1.3.132.0.34");
    let secp256k1 = ObjectIdentifier::new_unwrap("1.3.132.0.10");
    for key_type in [rsa, x25519, PRIME256V1] {
        assert_eq!(
            parse_peer_key(&key_type, &PRIME256V1, &good).unwrap_err(),
            NoEphemeralKey::WrongKeyType
        );
    }
    for curve in [secp384r1, secp256k1, ID_EC_PUBLIC_KEY] {
        assert_eq!(
            parse_peer_key(&ID_EC_PUBLIC_KEY, &curve, &good).unwrap_err(),
            NoEphemeralKey::WrongCurve
        );
    }

    // Identity (SEC1 encodes the point at infinity as the single byte 0x00).
    assert_eq!(parse(&[0x00]).unwrap_err(), NoEphemeralKey::Identity);

    // Compressed form of the same (valid) point.
    let mut compressed = vec![0x02 | (good[64] & 1)];
    compressed.extend_from_slice(&good[1..33]);
    assert!(
        p256::PublicKey::from_sec1_bytes(&compressed).is_ok(),
        "test point is valid"
    );
    assert_eq!(parse(&compressed).unwrap_err(), NoEphemeralKey::BadEncoding);
    // Hybrid forms (0x06 / 0x07) and other tags with 65 bytes.
    for tag in [0x00, 0x02, 0x03, 0x05, 0x06, 0x07, 0xff] {
        let mut p = good;
        p[0] = tag;
        assert_eq!(
            parse(&p).unwrap_err(),
            NoEphemeralKey::BadEncoding,
            "tag {tag:#x}"
        );
    }
    // Wrong lengths.
    for len in [0, 1, 33, 64, 66, 97] {
        let mut p = good.to_vec();
        p.resize(len, 0);
        assert_eq!(
            parse(&p).unwrap_err(),
            NoEphemeralKey::BadEncoding,
            "length {len}"
        );
    }
    // Not on the curve: each single-bit change of y (and of x) of a valid point.
    for bit in 0..512 {
        let mut p = good;
        p[1 + bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            parse(&p).unwrap_err(),
            NoEphemeralKey::NotOnCurve,
            "bit {bit}"
        );
    }
    // Coordinates out of the field, and (0, 0).
    let mut all_ones = [0xffu8; 65];
    all_ones[0] = 0x04;
    assert_eq!(parse(&all_ones).unwrap_err(), NoEphemeralKey::NotOnCurve);
    let mut zero = [0u8; 65];
    zero[0] = 0x04;
    assert_eq!(parse(&zero).unwrap_err(), NoEphemeralKey::NotOnCurve);
}

#[test]
fn debug_output_hides_secrets() {
    let mut rng = rng(3);
    let a = EphemeralSecret::generate(&mut rng);
    let b = EphemeralSecret::generate(&mut rng);
    assert_eq!(format!("{a:?}"), "EphemeralSecret { .. }");
    let shared = a.diffie_hellman(&b.public_key());
    let debug = format!("{shared:?}");
    assert_eq!(debug, "SharedSecret([REDACTED])");
    assert_redacted(&debug, shared.expose_secret());
}

#[test]
fn ephemeral_secret_survives_export_and_restore() {
    let mut rng = rng(99);
    let original = cpv4_crypto::ecdh::EphemeralSecret::generate(&mut rng);
    let restored = cpv4_crypto::ecdh::EphemeralSecret::from_secret(&original.to_secret()).unwrap();
    assert_eq!(restored.public_point(), original.public_point());
    let peer = cpv4_crypto::ecdh::EphemeralSecret::generate(&mut rng).public_key();
    assert_eq!(
        restored.diffie_hellman(&peer).expose_secret(),
        original.diffie_hellman(&peer).expose_secret()
    );
    assert!(
        cpv4_crypto::ecdh::EphemeralSecret::from_secret(&cpv4_crypto::Secret32::from_bytes(
            [0; 32]
        ))
        .is_none()
    );
    assert!(
        cpv4_crypto::ecdh::EphemeralSecret::from_secret(&cpv4_crypto::Secret32::from_bytes(
            [0xFF; 32]
        ))
        .is_none()
    );
}
