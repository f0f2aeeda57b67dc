//! Property tests: every value round-trips, and every byte string that decodes is canonical
//! (re-encoding it gives back the same bytes).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use bytes::Bytes;
use cpv4_wire::{Accept, AttributeList, Confirm, KeyBlob, ObjectEncoding, Offer};
use proptest::prelude::*;
use support::*;

/// Applies up to four byte edits (overwrite, insert or delete) to `bytes`.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(position, value, op) in edits {
        if bytes.is_empty() {
            bytes.push(value);
            continue;
        }
        let at = position % bytes.len();
        match op % 3 {
            0 => bytes[at] = value,
            1 => bytes.insert(at, value),
            _ => {
                bytes.remove(at);
            }
        }
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    proptest::collection::vec(any::<(usize, u8, u8)>(), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn offer_round_trips(offer in offer()) {
        let bytes = offer.encode().unwrap();
        prop_assert_eq!(Offer::decode(&bytes).unwrap(), offer);
    }

    #[test]
    fn accept_round_trips(accept in accept()) {
        let bytes = accept.encode().unwrap();
        prop_assert_eq!(Accept::decode(&bytes).unwrap(), accept);
    }

    #[test]
    fn confirm_round_trips(confirm in confirm()) {
        let bytes = confirm.encode().unwrap();
        prop_assert_eq!(Confirm::decode(&bytes).unwrap(), confirm);
    }

    #[test]
    fn blob_round_trips(blob in blob()) {
        let bytes = blob.encode().unwrap();
        prop_assert_eq!(bytes.len(), KeyBlob::encoded_len(blob.body.len()));
        prop_assert_eq!(KeyBlob::decode(&bytes).unwrap(), blob);
    }

    #[test]
    fn attribute_list_round_trips(list in attribute_list()) {
        let bytes = Bytes::from(list.encode());
        prop_assert_eq!(&AttributeList::decode(&bytes).unwrap(), &list);
        let borrowed = AttributeList::decode_borrowed(&bytes).unwrap();
        prop_assert_eq!(borrowed.encode(), list.encode());
    }

    #[test]
    fn compact_attribute_list_round_trips(list in attribute_list()) {
        let compact = ObjectEncoding::CompactAttributeList;
        let bytes = Bytes::from(list.encode_as(compact));
        prop_assert_eq!(&AttributeList::decode_as(&bytes, compact).unwrap(), &list);
        let borrowed = AttributeList::decode_borrowed_as(&bytes, compact).unwrap();
        prop_assert_eq!(borrowed.encode_as(compact), bytes.to_vec());
    }

    #[test]
    fn the_encoders_size_their_buffer_exactly(list in attribute_list()) {
        // A buffer that grew would have freed a copy of the values without wiping it.
        for encoding in [ObjectEncoding::AttributeList, ObjectEncoding::CompactAttributeList] {
            let bytes = list.encode_as(encoding);
            prop_assert_eq!(bytes.len(), list.encoded_len(encoding));
            prop_assert_eq!(bytes.capacity(), bytes.len());
        }
    }

    #[test]
    fn mutated_offers_that_decode_are_canonical(offer in offer(), edits in edits()) {
        let bytes = mutate(offer.encode().unwrap(), &edits);
        if let Ok(decoded) = Offer::decode(&bytes) {
            prop_assert_eq!(decoded.encode().unwrap(), bytes);
        }
    }

    #[test]
    fn mutated_accepts_that_decode_are_canonical(accept in accept(), edits in edits()) {
        let bytes = mutate(accept.encode().unwrap(), &edits);
        if let Ok(decoded) = Accept::decode(&bytes) {
            prop_assert_eq!(decoded.encode().unwrap(), bytes);
        }
    }

    #[test]
    fn mutated_confirms_that_decode_are_canonical(confirm in confirm(), edits in edits()) {
        let bytes = mutate(confirm.encode().unwrap(), &edits);
        if let Ok(decoded) = Confirm::decode(&bytes) {
            prop_assert_eq!(decoded.encode().unwrap(), bytes);
        }
    }

    #[test]
    fn mutated_blobs_that_decode_are_canonical(blob in blob(), edits in edits()) {
        let bytes = Bytes::from(mutate(blob.encode().unwrap().to_vec(), &edits));
        if let Ok(decoded) = KeyBlob::decode(&bytes) {
            prop_assert_eq!(decoded.encode().unwrap(), bytes);
        }
    }

    #[test]
    fn mutated_attribute_lists_that_decode_are_canonical(list in attribute_list(), edits in edits()) {
        let bytes = Bytes::from(mutate(list.encode(), &edits));
        if let Ok(decoded) = AttributeList::decode(&bytes) {
            prop_assert_eq!(decoded.encode(), bytes.to_vec());
        }
    }

    #[test]
    fn mutated_compact_attribute_lists_that_decode_are_canonical(list in attribute_list(), edits in edits()) {
        let compact = ObjectEncoding::CompactAttributeList;
        let bytes = Bytes::from(mutate(list.encode_as(compact), &edits));
        if let Ok(decoded) = AttributeList::decode_as(&bytes, compact) {
            prop_assert_eq!(decoded.encode_as(compact), bytes.to_vec());
        }
    }

    #[test]
    fn arbitrary_bytes_that_decode_are_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(offer) = Offer::decode(&bytes) {
            prop_assert_eq!(offer.encode().unwrap(), bytes.clone());
        }
        if let Ok(accept) = Accept::decode(&bytes) {
            prop_assert_eq!(accept.encode().unwrap(), bytes.clone());
        }
        if let Ok(confirm) = Confirm::decode(&bytes) {
            prop_assert_eq!(confirm.encode().unwrap(), bytes.clone());
        }
        let shared = Bytes::from(bytes.clone());
        if let Ok(blob) = KeyBlob::decode(&shared) {
            prop_assert_eq!(blob.encode().unwrap(), shared.clone());
        }
        if let Ok(list) = AttributeList::decode(&shared) {
            prop_assert_eq!(list.encode(), bytes.clone());
        }
        let compact = ObjectEncoding::CompactAttributeList;
        if let Ok(list) = AttributeList::decode_as(&shared, compact) {
            prop_assert_eq!(list.encode_as(compact), bytes);
        }
    }
}

#[test]
fn decoded_values_share_the_input_buffer() {
    let blob = sample_blob().encode().unwrap();
    let decoded = KeyBlob::decode(&blob).unwrap();
    let range = blob.as_ptr_range();
    assert!(
        range.contains(&decoded.body.as_ptr()),
        "the body must be a slice of the input"
    );

    let list = Bytes::from(sample_attributes().encode());
    let decoded = AttributeList::decode(&list).unwrap();
    let range = list.as_ptr_range();
    for attribute in decoded.attributes().iter().filter(|a| !a.value.is_empty()) {
        assert!(range.contains(&attribute.value.as_ptr()));
    }
}
