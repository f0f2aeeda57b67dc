//! Key-blob body sealing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use cpv4_crypto::Secret32;
use cpv4_crypto::blob::{self, BlobError, MAX_PAYLOAD_LEN, sealed_len};

fn key(byte: u8) -> Secret32 {
    Secret32::from_bytes([byte; 32])
}

const HEADER: &[u8] = b"CPV4 header: magic, version, uid, direction, seq, type, encoding";

#[test]
fn round_trip_at_every_boundary() {
    for len in [
        1,
        2,
        7,
        8,
        9,
        15,
        16,
        17,
        100,
        4096,
        MAX_PAYLOAD_LEN - 1,
        MAX_PAYLOAD_LEN,
    ] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let body = blob::seal(&key(1), HEADER, &payload).unwrap();
        assert_eq!(body.len(), sealed_len(len), "length {len}");
        assert_eq!(body.len() % 8, 0);
        assert!(body.len() >= len + 8 && body.len() < len + 16);
        let opened = blob::open(&key(1), HEADER, &body).unwrap();
        assert_eq!(opened.as_slice(), payload.as_slice(), "length {len}");
    }
    // An empty header is a header too.
    let body = blob::seal(&key(1), b"", b"x").unwrap();
    assert_eq!(blob::open(&key(1), b"", &body).unwrap().as_slice(), b"x");
}

#[test]
fn payload_length_limits() {
    assert_eq!(
        blob::seal(&key(1), HEADER, b""),
        Err(BlobError::PayloadLength(0))
    );
    let big = vec![0u8; MAX_PAYLOAD_LEN + 1];
    assert_eq!(
        blob::seal(&key(1), HEADER, &big),
        Err(BlobError::PayloadLength(MAX_PAYLOAD_LEN + 1))
    );
}

#[test]
fn body_length_checks() {
    for len in [0, 8, 15, 17, 23, sealed_len(MAX_PAYLOAD_LEN) + 8] {
        assert_eq!(
            blob::open(&key(1), HEADER, &vec![0u8; len]).unwrap_err(),
            BlobError::BodyLength(len),
            "length {len}"
        );
    }
    let body = blob::seal(&key(1), HEADER, &[5u8; 40]).unwrap();
    assert_eq!(
        blob::open(&key(1), HEADER, &body[..body.len() - 8]).unwrap_err(),
        BlobError::Integrity
    );
    let mut longer = body.clone();
    longer.extend_from_slice(&[0u8; 8]);
    assert_eq!(
        blob::open(&key(1), HEADER, &longer).unwrap_err(),
        BlobError::Integrity
    );
}

#[test]
fn every_bit_flip_of_header_and_body_fails() {
    // One short payload (single-block KWP) and one multi-block payload.
    for payload in [
        b"short".as_slice(),
        b"a payload that spans several KWP semiblocks".as_slice(),
    ] {
        let body = blob::seal(&key(1), HEADER, payload).unwrap();
        for bit in 0..HEADER.len() * 8 {
            let mut header = HEADER.to_vec();
            header[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                blob::open(&key(1), &header, &body).unwrap_err(),
                BlobError::Integrity,
                "header bit {bit}"
            );
        }
        for bit in 0..body.len() * 8 {
            let mut tampered = body.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                blob::open(&key(1), HEADER, &tampered).unwrap_err(),
                BlobError::Integrity,
                "body bit {bit}"
            );
        }
        // Header one byte longer or shorter.
        assert!(blob::open(&key(1), &HEADER[1..], &body).is_err());
        assert!(blob::open(&key(1), &[HEADER, b"x"].concat(), &body).is_err());
        // Another direction key.
        assert_eq!(
            blob::open(&key(2), HEADER, &body).unwrap_err(),
            BlobError::Integrity
        );
    }
}

#[test]
fn sealing_is_deterministic_and_key_and_header_bound() {
    let a = blob::seal(&key(1), HEADER, b"payload").unwrap();
    assert_eq!(a, blob::seal(&key(1), HEADER, b"payload").unwrap());
    assert_ne!(a, blob::seal(&key(2), HEADER, b"payload").unwrap());
    assert_ne!(a, blob::seal(&key(1), b"other header", b"payload").unwrap());
}
