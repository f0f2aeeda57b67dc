//! Shared test helpers: proptest strategies for every wire type, valid sample values, and a tiny
//! raw DER builder for crafting invalid messages.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use bytes::Bytes;
use cpv4_wire::consts::{CKA_CLASS, CKA_LABEL, CKA_OUID, CKA_TOKEN, CKA_VALUE};
use cpv4_wire::message::{Mac, Signature};
use cpv4_wire::{
    Accept, AcceptTbs, Algorithms, Attribute, AttributeList, BlobHeader, Confirm, ConfirmTbs,
    Direction, ElementType, EphemeralKey, KeyBlob, Offer, PskOffer, PskSelection, Selection,
    SessionUid,
};
use der::asn1::ObjectIdentifier;
use proptest::collection::vec;
use proptest::prelude::*;

pub const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

// ---- sample values ------------------------------------------------------------------------

pub fn sample_ephemeral() -> EphemeralKey {
    let mut point = vec![4u8];
    point.extend_from_slice(&[0x11; 64]);
    EphemeralKey {
        key_type: EC_PUBLIC_KEY,
        curve: PRIME256V1,
        point,
    }
}

pub fn sample_algorithms() -> Algorithms {
    Algorithms {
        suites: vec![1],
        kdfs: vec![2, 1],
        encodings: vec![1],
        durations: vec![3600, 600],
        chain_mechanisms: vec![1],
    }
}

pub fn sample_offer() -> Offer {
    Offer {
        nonce: [0xA1; 32],
        time: 1_790_000_000,
        algorithms: sample_algorithms(),
        trusted_roots: vec![[0xB2; 32]],
        psk: PskOffer::Ids(vec![[0xC3; 16]]),
        ephemeral: sample_ephemeral(),
        binders: vec![[0xD4; 32]],
    }
}

pub fn sample_accept() -> Accept {
    Accept {
        tbs: AcceptTbs {
            offer_hash: [0x0F; 32],
            session_uid: SessionUid([0x5E; 16]),
            nonce: [0xA2; 32],
            time: 1_790_000_001,
            selection: Selection {
                suite: 1,
                kdf: 2,
                encoding: 1,
                duration: 3600,
                chain_mechanism: 1,
            },
            root: [0xB2; 32],
            psk: PskSelection::Id([0xC3; 16]),
            trusted_roots: vec![[0xB3; 32], [0xB4; 32]],
            ephemeral: sample_ephemeral(),
            chain: vec![vec![0x30, 0x03, 0x02, 0x01, 0x01], vec![0x30, 0x00]],
        },
        signature: [0x51; 64],
        mac: [0x4D; 32],
    }
}

pub fn sample_confirm() -> Confirm {
    Confirm {
        tbs: ConfirmTbs {
            session_uid: SessionUid([0x5E; 16]),
            chain: vec![vec![0x30, 0x00]],
        },
        signature: [0x52; 64],
        mac: [0x4E; 32],
    }
}

pub fn sample_blob() -> KeyBlob {
    KeyBlob {
        header: BlobHeader {
            direction: Direction::ResponderToInitiator,
            element_type: ElementType::Cryptoki,
            encoding: 1,
            session_uid: SessionUid([0x5E; 16]),
            sequence: 7,
        },
        body: Bytes::from(vec![0xEE; 40]),
    }
}

pub fn sample_attributes() -> AttributeList {
    AttributeList::new(vec![
        Attribute::ulong(CKA_CLASS, 4),
        Attribute::bool(CKA_TOKEN, true),
        Attribute::bytes(CKA_LABEL, &b"key"[..]),
        Attribute::bytes(CKA_VALUE, vec![0x42; 32]),
        Attribute::bytes(CKA_OUID, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    ])
    .unwrap()
}

// ---- strategies ---------------------------------------------------------------------------

fn unique<T: PartialEq + Clone>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn ids(max: usize) -> impl Strategy<Value = Vec<u32>> {
    vec(any::<u32>(), 0..=max).prop_map(unique)
}

fn durations() -> impl Strategy<Value = Vec<u32>> {
    vec(1..=u32::MAX, 0..=16).prop_map(unique)
}

pub fn algorithms() -> impl Strategy<Value = Algorithms> {
    (ids(16), ids(16), ids(16), durations(), ids(16)).prop_map(
        |(suites, kdfs, encodings, durations, chain_mechanisms)| Algorithms {
            suites,
            kdfs,
            encodings,
            durations,
            chain_mechanisms,
        },
    )
}

fn oid() -> impl Strategy<Value = ObjectIdentifier> {
    (0u32..=2, 0u32..=39, vec(any::<u32>(), 0..6)).prop_map(|(first, second, rest)| {
        let mut arcs = vec![first, second];
        arcs.extend(rest);
        ObjectIdentifier::from_arcs(arcs).unwrap()
    })
}

pub fn ephemeral() -> impl Strategy<Value = EphemeralKey> {
    (oid(), oid(), vec(any::<u8>(), 1..=133)).prop_map(|(key_type, curve, point)| EphemeralKey {
        key_type,
        curve,
        point,
    })
}

fn roots() -> impl Strategy<Value = Vec<[u8; 32]>> {
    vec(any::<[u8; 32]>(), 0..=16).prop_map(unique)
}

pub fn psk_offer() -> impl Strategy<Value = PskOffer> {
    prop_oneof![
        vec(any::<[u8; 16]>(), 0..=8).prop_map(|ids| PskOffer::Ids(unique(ids))),
        vec(any::<[u8; 32]>(), 0..=8).prop_map(|tags| PskOffer::LeetTags(unique(tags))),
    ]
}

pub fn offer() -> impl Strategy<Value = Offer> {
    (
        any::<[u8; 32]>(),
        any::<u64>(),
        algorithms(),
        roots(),
        psk_offer(),
        ephemeral(),
    )
        .prop_map(|(nonce, time, algorithms, trusted_roots, psk, ephemeral)| {
            // One binder per entry, distinct (the lists refuse duplicates).
            let binders = (0..psk.len()).map(|i| [i as u8; 32]).collect();
            Offer {
                nonce,
                time,
                algorithms,
                trusted_roots,
                psk,
                ephemeral,
                binders,
            }
        })
}

fn chain() -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(vec(any::<u8>(), 1..=600), 1..=4)
}

fn signature_and_mac() -> impl Strategy<Value = (Signature, Mac)> {
    (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>())
        .prop_map(|(r, s, mac)| ([r, s].concat().try_into().unwrap(), mac))
}

pub fn accept() -> impl Strategy<Value = Accept> {
    let selection = (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        1..=u32::MAX,
        any::<u32>(),
    )
        .prop_map(
            |(suite, kdf, encoding, duration, chain_mechanism)| Selection {
                suite,
                kdf,
                encoding,
                duration,
                chain_mechanism,
            },
        );
    let psk = prop_oneof![
        any::<[u8; 16]>().prop_map(PskSelection::Id),
        any::<[u8; 32]>().prop_map(PskSelection::LeetTag),
    ];
    let ids = (
        any::<[u8; 32]>(),
        any::<[u8; 16]>(),
        any::<[u8; 32]>(),
        any::<u64>(),
    );
    (
        ids,
        selection,
        any::<[u8; 32]>(),
        psk,
        roots(),
        ephemeral(),
        chain(),
        signature_and_mac(),
    )
        .prop_map(
            |(
                (offer_hash, uid, nonce, time),
                selection,
                root,
                psk,
                trusted_roots,
                ephemeral,
                chain,
                (signature, mac),
            )| Accept {
                tbs: AcceptTbs {
                    offer_hash,
                    session_uid: SessionUid(uid),
                    nonce,
                    time,
                    selection,
                    root,
                    psk,
                    trusted_roots,
                    ephemeral,
                    chain,
                },
                signature,
                mac,
            },
        )
}

pub fn confirm() -> impl Strategy<Value = Confirm> {
    (any::<[u8; 16]>(), chain(), signature_and_mac()).prop_map(|(uid, chain, (signature, mac))| {
        Confirm {
            tbs: ConfirmTbs {
                session_uid: SessionUid(uid),
                chain,
            },
            signature,
            mac,
        }
    })
}

pub fn blob() -> impl Strategy<Value = KeyBlob> {
    let direction = prop_oneof![
        Just(Direction::ResponderToInitiator),
        Just(Direction::InitiatorToResponder)
    ];
    let element = prop_oneof![Just(ElementType::Cryptoki), Just(ElementType::Param)];
    (
        direction,
        element,
        any::<u32>(),
        any::<[u8; 16]>(),
        any::<u64>(),
        2usize..=64,
        any::<u8>(),
    )
        .prop_map(
            |(direction, element_type, encoding, uid, sequence, blocks, fill)| KeyBlob {
                header: BlobHeader {
                    direction,
                    element_type,
                    encoding,
                    session_uid: SessionUid(uid),
                    sequence,
                },
                body: Bytes::from(vec![fill; blocks * 8]),
            },
        )
}

pub fn attribute_list() -> impl Strategy<Value = AttributeList> {
    let attribute = prop_oneof![
        (any::<u64>(), vec(any::<u8>(), 0..64))
            .prop_map(|(ty, value)| Attribute::bytes(ty | 0x1_0000_0000, value)),
        any::<u64>().prop_map(|value| Attribute::ulong(CKA_CLASS, value)),
        any::<bool>().prop_map(|value| Attribute::bool(CKA_TOKEN, value)),
        vec(any::<u8>(), 0..64).prop_map(|value| Attribute::bytes(CKA_VALUE, value)),
    ];
    vec(attribute, 0..=20).prop_map(|attributes| {
        let mut seen = Vec::new();
        let attributes = attributes
            .into_iter()
            .filter(|a| {
                let new = !seen.contains(&a.ty);
                seen.push(a.ty);
                new
            })
            .collect();
        AttributeList::new(attributes).unwrap()
    })
}

// ---- raw DER, for crafting what the encoders refuse to make ----------------------------------

pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

pub fn seq(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &items.concat())
}

pub fn int(value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(7);
    let mut content = bytes[first..].to_vec();
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    tlv(0x02, &content)
}

pub fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(0x04, bytes)
}

pub fn oid_der(oid: &ObjectIdentifier) -> Vec<u8> {
    tlv(0x06, oid.as_bytes())
}

pub fn ints(values: &[u64]) -> Vec<u8> {
    seq(&values.iter().map(|v| int(*v)).collect::<Vec<_>>())
}

/// The fields of the sample Offer as raw DER, in order, so a test can change one.
pub fn offer_fields() -> Vec<Vec<u8>> {
    let ephemeral = sample_ephemeral();
    vec![
        int(2),
        int(2),
        octets(&[0xA1; 32]),
        int(1_790_000_000),
        seq(&[
            ints(&[1]),
            ints(&[2, 1]),
            ints(&[1]),
            ints(&[3600, 600]),
            ints(&[1]),
        ]),
        seq(&[octets(&[0xB2; 32])]),
        seq(&[int(1), seq(&[octets(&[0xC3; 16])])]),
        seq(&[
            oid_der(&ephemeral.key_type),
            oid_der(&ephemeral.curve),
            octets(&ephemeral.point),
        ]),
        seq(&[octets(&[0xD4; 32])]),
    ]
}

/// The fields of the sample Confirm's signed part as raw DER, in order.
pub fn confirm_tbs_fields() -> Vec<Vec<u8>> {
    vec![
        int(2),
        int(4),
        octets(&[0x5E; 16]),
        seq(&[octets(&[0x30, 0x00])]),
    ]
}

pub fn confirm_from(tbs_fields: &[Vec<u8>]) -> Vec<u8> {
    seq(&[seq(tbs_fields), octets(&[0x52; 64]), octets(&[0x4E; 32])])
}
