//! The properties the fuzz targets check, shared with the test that replays the checked-in
//! corpus on stable Rust. Not part of the public API.
//!
//! Each check decodes arbitrary bytes and, when they decode, asserts the value is canonical:
//! encoding it gives back exactly the input. A panic here is a bug.

use bytes::Bytes;

use crate::{Accept, AttributeList, Confirm, KeyBlob, ObjectEncoding, Offer};

/// Decodes an Offer; if it decodes, it must re-encode to the same bytes.
pub fn offer(data: &[u8]) {
    if let Ok(offer) = Offer::decode(data) {
        assert_eq!(
            offer.encode().ok().as_deref(),
            Some(data),
            "Offer is not canonical"
        );
    }
}

/// Decodes an Accept; if it decodes, it must re-encode to the same bytes.
pub fn accept(data: &[u8]) {
    if let Ok(accept) = Accept::decode(data) {
        assert_eq!(
            accept.encode().ok().as_deref(),
            Some(data),
            "Accept is not canonical"
        );
    }
}

/// Decodes a Confirm; if it decodes, it must re-encode to the same bytes.
pub fn confirm(data: &[u8]) {
    if let Ok(confirm) = Confirm::decode(data) {
        assert_eq!(
            confirm.encode().ok().as_deref(),
            Some(data),
            "Confirm is not canonical"
        );
    }
}

/// Decodes a key blob; if it decodes, it must re-encode to the same bytes.
pub fn blob(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    if let Ok(blob) = KeyBlob::decode(&input) {
        assert_eq!(blob.encode().ok(), Some(input), "key blob is not canonical");
    }
}

/// Decodes an attribute list in both encodings, each both ways; where it decodes, it must
/// re-encode to the same bytes, and its other encoding must decode to the same list.
pub fn attributes(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    for (encoding, other) in [
        (
            ObjectEncoding::AttributeList,
            ObjectEncoding::CompactAttributeList,
        ),
        (
            ObjectEncoding::CompactAttributeList,
            ObjectEncoding::AttributeList,
        ),
    ] {
        let shared = AttributeList::decode_as(&input, encoding);
        let borrowed = AttributeList::decode_borrowed_as(data, encoding);
        assert_eq!(
            shared.is_ok(),
            borrowed.is_ok(),
            "the two attribute decoders disagree"
        );
        if let Ok(list) = shared {
            assert_eq!(
                list.encode_as(encoding),
                data,
                "attribute list is not canonical"
            );
            let converted = Bytes::from(list.encode_as(other));
            assert_eq!(
                AttributeList::decode_as(&converted, other).ok(),
                Some(list),
                "the other encoding does not give back the same list"
            );
        }
    }
}

/// The round-trip target: the first byte picks the decoder, the rest is its input.
pub fn round_trip(data: &[u8]) {
    let Some((selector, input)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => offer(input),
        1 => accept(input),
        2 => confirm(input),
        3 => blob(input),
        _ => attributes(input),
    }
}

/// A property check over arbitrary input bytes.
pub type Check = fn(&[u8]);

/// Every target: its name and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("offer", offer),
    ("accept", accept),
    ("confirm", confirm),
    ("blob", blob),
    ("attributes", attributes),
    ("round_trip", round_trip),
];
