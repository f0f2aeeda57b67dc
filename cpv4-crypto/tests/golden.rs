//! Golden vectors of the crate's own formats. Each test renders its fixed inputs and the
//! outputs as text and compares it with `tests/golden/<name>.txt`, so that any change of the
//! key schedule, blob or PSK formats is noticed. Regenerate (only for a deliberate format
//! change) with `CPV4_UPDATE_GOLDEN=1 cargo test -p cpv4-crypto --test golden`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::fmt::Write as _;

use common::{check_golden, counting, hex};
use cpv4_crypto::Secret32;
use cpv4_crypto::blob;
use cpv4_crypto::ecdh::SharedSecret;
use cpv4_crypto::psk::DomainPsk;
use cpv4_crypto::schedule::{Kdf, SessionKeys, confirmation_mac};

#[test]
fn golden_key_schedule() {
    let shared_secret: [u8; 32] = counting(0x00);
    let psk: [u8; 32] = counting(0x20);
    let nonce_i: [u8; 32] = counting(0x40);
    let nonce_r: [u8; 32] = counting(0x60);
    let transcript_hash: [u8; 32] = counting(0x80);
    let mut out = String::new();
    writeln!(out, "shared_secret = {}", hex(&shared_secret)).unwrap();
    writeln!(out, "psk = {}", hex(&psk)).unwrap();
    writeln!(out, "nonce_i = {}", hex(&nonce_i)).unwrap();
    writeln!(out, "nonce_r = {}", hex(&nonce_r)).unwrap();
    writeln!(out, "transcript_hash = {}", hex(&transcript_hash)).unwrap();
    for kdf in [Kdf::HkdfSha256, Kdf::HkdfSha384] {
        let keys = SessionKeys::derive(
            kdf,
            &SharedSecret::from_bytes(shared_secret),
            &DomainPsk::from_bytes(psk),
            &nonce_i,
            &nonce_r,
            &transcript_hash,
        )
        .unwrap();
        let name = match kdf {
            Kdf::HkdfSha256 => "hkdf_sha256",
            Kdf::HkdfSha384 => "hkdf_sha384",
        };
        writeln!(out, "\n[{name}] kdf_id = {}", kdf.id()).unwrap();
        for (label, key) in [
            ("confirm_initiator", &keys.confirm_initiator),
            ("confirm_responder", &keys.confirm_responder),
            ("initiator_to_responder", &keys.initiator_to_responder),
            ("responder_to_initiator", &keys.responder_to_initiator),
        ] {
            writeln!(out, "{label} = {}", hex(key.expose_secret())).unwrap();
        }
        let mac = confirmation_mac(&keys.confirm_responder, b"cpv4 golden confirmation data");
        writeln!(
            out,
            "confirmation_mac(confirm_responder, \"cpv4 golden confirmation data\") = {}",
            hex(&mac)
        )
        .unwrap();
    }
    check_golden("schedule.txt", &out);
}

#[test]
fn golden_blob_sealing() {
    let key: [u8; 32] = counting(0xa0);
    let header = b"CPV4BLOB golden header: uid 0123456789abcdef, seq 1";
    let mut out = String::new();
    writeln!(out, "direction_key = {}", hex(&key)).unwrap();
    writeln!(out, "header = {}", hex(header)).unwrap();
    for payload in [
        b"7 bytes".as_slice(),
        b"exactly 16 bytes".as_slice(),
        b"a longer payload of forty-one bytes total".as_slice(),
    ] {
        let body = blob::seal(&Secret32::from_bytes(key), header, payload).unwrap();
        writeln!(out, "\npayload = {}", hex(payload)).unwrap();
        writeln!(out, "body = {}", hex(&body)).unwrap();
        let opened = blob::open(&Secret32::from_bytes(key), header, &body).unwrap();
        assert_eq!(opened.as_slice(), payload);
    }
    check_golden("blob.txt", &out);
}

/// The PSK values were cross-checked with the Argon2 reference implementation's command-line
/// tool (Debian package `argon2`):
/// `printf %s 'golden cloning domain secret' | argon2 cpv4-domain-psk2 -id -t 3 -k 65536 -p 1 -l 32 -r`
/// for the current parameters, and `... | argon2 cpv4-domain-psk1 -id -t 2 -k 19456 -p 1 -l 32 -r`
/// for those of protocol version 1 (a domain derived with them keeps its PSK).
#[test]
fn golden_psk() {
    let kcv = b"golden cloning domain secret";
    let psk = DomainPsk::derive(kcv).unwrap();
    let v1 = DomainPsk::derive_with(kcv, &cpv4_crypto::psk::V1_PARAMS).unwrap();
    let nonce_i: [u8; 32] = counting(0x40);
    let binder_input_hash: [u8; 32] = counting(0x80);
    let mut out = String::new();
    writeln!(out, "kcv = {}", hex(kcv)).unwrap();
    writeln!(
        out,
        "argon2id m=65536 t=3 p=1 salt = {}",
        hex(b"cpv4-domain-psk2")
    )
    .unwrap();
    writeln!(out, "psk = {}", hex(psk.as_bytes())).unwrap();
    writeln!(out, "psk_id = {}", hex(&psk.psk_id())).unwrap();
    writeln!(out, "nonce_i = {}", hex(&nonce_i)).unwrap();
    writeln!(out, "leet_tag = {}", hex(&psk.leet_tag(&nonce_i))).unwrap();
    writeln!(out, "binder_input_hash = {}", hex(&binder_input_hash)).unwrap();
    writeln!(out, "binder = {}", hex(&psk.binder(&binder_input_hash))).unwrap();
    writeln!(
        out,
        "v1: argon2id m=19456 t=2 p=1 salt = {}",
        hex(b"cpv4-domain-psk1")
    )
    .unwrap();
    writeln!(out, "v1 psk = {}", hex(v1.as_bytes())).unwrap();
    check_golden("psk.txt", &out);
}
