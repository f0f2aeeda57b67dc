//! One test per rejection rule: each asserts the exact error and the return code it maps to.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use bytes::{BufMut, Bytes};
use cpv4_wire::consts::{
    CKA_CLASS, CKA_LABEL, CKA_TOKEN, CKR_CPV4_MSG_ERROR, CKR_SESSION_NEGOTIATION_INVALID,
};
use cpv4_wire::limits::*;
use cpv4_wire::{
    Accept, Attribute, AttributeList, Confirm, ErrorKind, Format, KeyBlob, ObjectEncoding, Offer,
    PskOffer, WireError,
};
use support::*;

fn offer_with(change: impl FnOnce(&mut Vec<Vec<u8>>)) -> Result<Offer, WireError> {
    let mut fields = offer_fields();
    change(&mut fields);
    Offer::decode(&seq(&fields))
}

fn kind<T: std::fmt::Debug>(result: Result<T, WireError>) -> ErrorKind {
    result.unwrap_err().kind().clone()
}

// ---- the raw builder agrees with the encoder ------------------------------------------------

#[test]
fn raw_builder_matches_the_encoder() {
    assert_eq!(seq(&offer_fields()), sample_offer().encode().unwrap());
    assert_eq!(
        confirm_from(&confirm_tbs_fields()),
        sample_confirm().encode().unwrap()
    );
}

// ---- framing --------------------------------------------------------------------------------

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = sample_offer().encode().unwrap();
    bytes.push(0);
    let error = Offer::decode(&bytes).unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::TrailingBytes(1));
    assert_eq!(error.format(), Format::Offer);
    assert_eq!(error.rv(), CKR_SESSION_NEGOTIATION_INVALID);

    let mut bytes = sample_accept().encode().unwrap();
    bytes.extend_from_slice(&[0, 0, 0]);
    assert_eq!(kind(Accept::decode(&bytes)), ErrorKind::TrailingBytes(3));
}

#[test]
fn trailing_bytes_inside_a_field_are_refused() {
    // An extra field after the ephemeral key, inside the Offer's SEQUENCE.
    let error = offer_with(|fields| fields.push(int(0))).unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::TrailingBytes(3));
}

#[test]
fn truncated_messages_are_refused() {
    let bytes = sample_confirm().encode().unwrap();
    for len in 0..bytes.len() {
        let error = Confirm::decode(&bytes[..len]).unwrap_err();
        assert_eq!(
            error.rv(),
            CKR_SESSION_NEGOTIATION_INVALID,
            "prefix of {len} bytes"
        );
    }
    assert_eq!(
        kind(Confirm::decode(&bytes[..bytes.len() - 1])),
        ErrorKind::Truncated
    );
}

#[test]
fn oversized_messages_are_refused_before_parsing() {
    let bytes = vec![0x30; MAX_MESSAGE_SIZE + 1];
    assert_eq!(
        kind(Offer::decode(&bytes)),
        ErrorKind::TooLarge {
            len: MAX_MESSAGE_SIZE + 1,
            max: MAX_MESSAGE_SIZE
        }
    );
}

#[test]
fn non_canonical_der_is_refused() {
    // Long-form length where the short form fits.
    let mut bytes = sample_confirm().encode().unwrap();
    let body = bytes.split_off(2);
    let mut long_form = vec![0x30, 0x81, bytes[1]];
    long_form.extend(body);
    assert!(matches!(
        kind(Confirm::decode(&long_form)),
        ErrorKind::Der(_)
    ));

    // An INTEGER with a superfluous leading zero byte.
    let error =
        offer_with(|fields| fields[3] = tlv(0x02, &[0x00, 0x6A, 0xB1, 0x9B, 0x80])).unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Der(_)), "{error}");
}

// ---- version and step -----------------------------------------------------------------------

#[test]
fn unknown_versions_are_refused() {
    assert_eq!(
        kind(offer_with(|f| f[0] = int(1))),
        ErrorKind::UnsupportedVersion(1)
    );
    let mut tbs = confirm_tbs_fields();
    tbs[0] = int(0);
    assert_eq!(
        kind(Confirm::decode(&confirm_from(&tbs))),
        ErrorKind::UnsupportedVersion(0)
    );
}

#[test]
fn the_step_travels_in_each_message_and_is_checked() {
    assert_eq!(
        kind(offer_with(|f| f[1] = int(3))),
        ErrorKind::WrongStep {
            expected: 2,
            found: 3
        }
    );
    let mut tbs = confirm_tbs_fields();
    tbs[1] = int(2);
    assert_eq!(
        kind(Confirm::decode(&confirm_from(&tbs))),
        ErrorKind::WrongStep {
            expected: 4,
            found: 2
        }
    );
    // A whole message of another step fails at the step (or the structure), never decodes.
    let confirm = sample_confirm().encode().unwrap();
    assert_eq!(
        Offer::decode(&confirm).unwrap_err().rv(),
        CKR_SESSION_NEGOTIATION_INVALID
    );
    assert_eq!(
        Accept::decode(&confirm).unwrap_err().rv(),
        CKR_SESSION_NEGOTIATION_INVALID
    );
}

// ---- fields ---------------------------------------------------------------------------------

#[test]
fn out_of_order_fields_are_refused() {
    // The trusted roots and the PSK material swapped.
    let error = offer_with(|fields| fields.swap(5, 6)).unwrap_err();
    assert_eq!(error.rv(), CKR_SESSION_NEGOTIATION_INVALID);
    assert!(
        matches!(
            error.kind(),
            ErrorKind::Der(_) | ErrorKind::BadLength { .. }
        ),
        "{error}"
    );
    // The nonce and the time swapped.
    let error = offer_with(|fields| fields.swap(2, 3)).unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Der(_)), "{error}");
}

#[test]
fn fixed_size_fields_must_have_their_size() {
    assert_eq!(
        kind(offer_with(|f| f[2] = octets(&[0; 31]))),
        ErrorKind::BadLength {
            field: "nonce",
            expected: 32,
            found: 31
        }
    );
    assert_eq!(
        kind(offer_with(|f| f[5] = seq(&[octets(&[0; 33])]))),
        ErrorKind::BadLength {
            field: "trustedRoots",
            expected: 32,
            found: 33
        }
    );
    let mut tbs = confirm_tbs_fields();
    tbs[2] = octets(&[0; 8]);
    assert_eq!(
        kind(Confirm::decode(&confirm_from(&tbs))),
        ErrorKind::BadLength {
            field: "sessionUid",
            expected: 16,
            found: 8
        }
    );
    let bad_mac = seq(&[
        seq(&confirm_tbs_fields()),
        octets(&[0; 64]),
        octets(&[0; 31]),
    ]);
    assert_eq!(
        kind(Confirm::decode(&bad_mac)),
        ErrorKind::BadLength {
            field: "mac",
            expected: 32,
            found: 31
        }
    );
}

#[test]
fn duplicate_list_entries_are_refused() {
    let algorithms = |suites: &[u64]| {
        seq(&[
            ints(suites),
            ints(&[1]),
            ints(&[1]),
            ints(&[3600]),
            ints(&[1]),
        ])
    };
    assert_eq!(
        kind(offer_with(|f| f[4] = algorithms(&[1, 2, 1]))),
        ErrorKind::Duplicate { field: "suites" }
    );
    assert_eq!(
        kind(offer_with(
            |f| f[5] = seq(&[octets(&[7; 32]), octets(&[7; 32])])
        )),
        ErrorKind::Duplicate {
            field: "trustedRoots"
        }
    );
    assert_eq!(
        kind(offer_with(
            |f| f[6] = seq(&[int(1), seq(&[octets(&[9; 16]), octets(&[9; 16])])])
        )),
        ErrorKind::Duplicate { field: "psk" }
    );
    // The encoder refuses the same value.
    let mut offer = sample_offer();
    offer.algorithms.kdfs = vec![1, 1];
    assert_eq!(kind(offer.encode()), ErrorKind::Duplicate { field: "kdfs" });
}

#[test]
fn an_offer_needs_exactly_one_distinct_binder_per_psk_entry() {
    // No binder for the one entry, two binders for it, a binder of the wrong size.
    assert_eq!(
        kind(offer_with(|f| f[8] = seq(&[]))),
        ErrorKind::BadLength {
            field: "binders",
            expected: 1,
            found: 0
        }
    );
    assert_eq!(
        kind(offer_with(
            |f| f[8] = seq(&[octets(&[1; 32]), octets(&[2; 32])])
        )),
        ErrorKind::BadLength {
            field: "binders",
            expected: 1,
            found: 2
        }
    );
    assert_eq!(
        kind(offer_with(|f| f[8] = seq(&[octets(&[1; 31])]))),
        ErrorKind::BadLength {
            field: "binders",
            expected: 32,
            found: 31
        }
    );
    let two_ids = seq(&[int(1), seq(&[octets(&[1; 16]), octets(&[2; 16])])]);
    assert_eq!(
        kind(offer_with(|f| {
            f[6] = two_ids;
            f[8] = seq(&[octets(&[3; 32]), octets(&[3; 32])]);
        })),
        ErrorKind::Duplicate { field: "binders" }
    );
    // The binder input is the Offer with an empty binder list, every other byte the same.
    let offer = sample_offer();
    let mut fields = offer_fields();
    fields[8] = seq(&[]);
    assert_eq!(offer.binder_input().unwrap(), seq(&fields));
    // The encoder refuses a count mismatch too.
    let mut offer = sample_offer();
    offer.binders.clear();
    assert!(matches!(
        kind(offer.encode()),
        ErrorKind::BadLength {
            field: "binders",
            ..
        }
    ));
}

#[test]
fn lists_past_their_limit_are_refused() {
    let many: Vec<u64> = (1..=MAX_OFFERED_ALGORITHMS as u64 + 1).collect();
    let algorithms = seq(&[
        ints(&many),
        ints(&[1]),
        ints(&[1]),
        ints(&[3600]),
        ints(&[1]),
    ]);
    assert_eq!(
        kind(offer_with(|f| f[4] = algorithms)),
        ErrorKind::TooMany {
            field: "suites",
            max: MAX_OFFERED_ALGORITHMS
        }
    );
    let roots: Vec<_> = (0..=MAX_TRUSTED_ROOTS as u8)
        .map(|i| octets(&[i; 32]))
        .collect();
    assert_eq!(
        kind(offer_with(|f| f[5] = seq(&roots))),
        ErrorKind::TooMany {
            field: "trustedRoots",
            max: MAX_TRUSTED_ROOTS
        }
    );
    let ids: Vec<_> = (0..=MAX_PSK_ENTRIES as u8)
        .map(|i| octets(&[i; 16]))
        .collect();
    assert_eq!(
        kind(offer_with(|f| f[6] = seq(&[int(1), seq(&ids)]))),
        ErrorKind::TooMany {
            field: "psk",
            max: MAX_PSK_ENTRIES
        }
    );
    let mut offer = sample_offer();
    offer.psk = PskOffer::LeetTags((0..=MAX_PSK_ENTRIES as u8).map(|i| [i; 32]).collect());
    assert_eq!(
        kind(offer.encode()),
        ErrorKind::TooMany {
            field: "psk",
            max: MAX_PSK_ENTRIES
        }
    );
}

#[test]
fn chains_past_their_limits_are_refused() {
    let certificate = octets(&[0x30, 0x00]);
    let mut tbs = confirm_tbs_fields();
    tbs[3] = seq(&vec![certificate; MAX_CHAIN_LENGTH + 1]);
    assert_eq!(
        kind(Confirm::decode(&confirm_from(&tbs))),
        ErrorKind::TooMany {
            field: "chain",
            max: MAX_CHAIN_LENGTH
        }
    );

    tbs[3] = seq(&[octets(&vec![0x30; MAX_CERTIFICATE_SIZE + 1])]);
    assert_eq!(
        kind(Confirm::decode(&confirm_from(&tbs))),
        ErrorKind::FieldTooLarge {
            field: "chain.certificate",
            len: MAX_CERTIFICATE_SIZE + 1,
            max: MAX_CERTIFICATE_SIZE
        }
    );

    tbs[3] = seq(&[]);
    assert_eq!(
        kind(Confirm::decode(&confirm_from(&tbs))),
        ErrorKind::Empty { field: "chain" }
    );

    let mut accept = sample_accept();
    accept.tbs.chain = vec![vec![0; MAX_CERTIFICATE_SIZE]; MAX_CHAIN_LENGTH];
    assert!(
        accept.encode().is_ok(),
        "a full chain of full-size certificates fits a message"
    );
}

#[test]
fn invalid_values_are_refused() {
    assert_eq!(
        kind(offer_with(|f| f[6] = seq(&[int(3), seq(&[])]))),
        ErrorKind::InvalidValue {
            field: "psk.mode",
            value: 3
        }
    );
    let algorithms = seq(&[ints(&[1]), ints(&[1]), ints(&[1]), ints(&[0]), ints(&[1])]);
    assert_eq!(
        kind(offer_with(|f| f[4] = algorithms)),
        ErrorKind::InvalidValue {
            field: "durations",
            value: 0
        }
    );
    let ephemeral = sample_ephemeral();
    let long_point = seq(&[
        oid_der(&ephemeral.key_type),
        oid_der(&ephemeral.curve),
        octets(&[4; MAX_EPHEMERAL_POINT_SIZE + 1]),
    ]);
    assert_eq!(
        kind(offer_with(|f| f[7] = long_point)),
        ErrorKind::FieldTooLarge {
            field: "ephemeral.point",
            len: MAX_EPHEMERAL_POINT_SIZE + 1,
            max: MAX_EPHEMERAL_POINT_SIZE
        }
    );
}

// ---- key-blob envelope ----------------------------------------------------------------------

fn blob_bytes() -> Vec<u8> {
    sample_blob().encode().unwrap().to_vec()
}

fn blob_kind(bytes: Vec<u8>) -> ErrorKind {
    let error = KeyBlob::decode(&Bytes::from(bytes)).unwrap_err();
    assert_eq!(error.format(), Format::BlobEnvelope);
    assert_eq!(error.rv(), CKR_CPV4_MSG_ERROR);
    error.kind().clone()
}

#[test]
fn blob_with_bad_magic_is_refused() {
    let mut bytes = blob_bytes();
    bytes[0] = b'X';
    assert_eq!(blob_kind(bytes), ErrorKind::BadMagic);
}

#[test]
fn truncated_blob_is_refused() {
    let bytes = blob_bytes();
    for len in 0..bytes.len() {
        assert_eq!(
            blob_kind(bytes[..len].to_vec()),
            ErrorKind::Truncated,
            "prefix of {len}"
        );
    }
}

#[test]
fn blob_with_trailing_bytes_is_refused() {
    let mut bytes = blob_bytes();
    bytes.extend_from_slice(&[0; 8]);
    assert_eq!(blob_kind(bytes), ErrorKind::TrailingBytes(8));
}

#[test]
fn oversized_blob_is_refused() {
    let mut bytes = blob_bytes();
    bytes.resize(MAX_BLOB_SIZE + 1, 0);
    assert_eq!(
        blob_kind(bytes),
        ErrorKind::TooLarge {
            len: MAX_BLOB_SIZE + 1,
            max: MAX_BLOB_SIZE
        }
    );

    let mut blob = sample_blob();
    blob.body = Bytes::from(vec![0; KeyBlob::MAX_BODY_LEN + 8]);
    assert!(matches!(
        blob.encode().unwrap_err().kind(),
        ErrorKind::FieldTooLarge { field: "body", .. }
    ));
    blob.body = Bytes::from(vec![0; KeyBlob::MAX_BODY_LEN - KeyBlob::MAX_BODY_LEN % 8]);
    assert!(blob.encode().unwrap().len() <= MAX_BLOB_SIZE);
}

#[test]
fn blob_header_values_are_checked() {
    let mut bytes = blob_bytes();
    bytes[4] = 1;
    assert_eq!(blob_kind(bytes), ErrorKind::UnsupportedVersion(1));
    let mut bytes = blob_bytes();
    bytes[5] = 3;
    assert_eq!(
        blob_kind(bytes),
        ErrorKind::InvalidValue {
            field: "direction",
            value: 3
        }
    );
    let mut bytes = blob_bytes();
    bytes[6] = 2;
    assert_eq!(
        blob_kind(bytes),
        ErrorKind::InvalidValue {
            field: "elementType",
            value: 2
        }
    );
}

#[test]
fn blob_body_must_be_a_key_wrap_output() {
    let mut blob = blob_bytes();
    blob.truncate(cpv4_wire::BlobHeader::LEN);
    let with_body = |len: usize| {
        let mut bytes = blob.clone();
        bytes.put_u32(len as u32);
        bytes.extend(vec![0; len]);
        bytes
    };
    assert_eq!(
        blob_kind(with_body(8)),
        ErrorKind::InvalidValue {
            field: "bodyLength",
            value: 8
        }
    );
    assert_eq!(
        blob_kind(with_body(20)),
        ErrorKind::InvalidValue {
            field: "bodyLength",
            value: 20
        }
    );
    assert!(KeyBlob::decode(&Bytes::from(with_body(16))).is_ok());
}

// ---- attribute lists ------------------------------------------------------------------------

fn entry(ty: impl Into<u64>, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u64(ty.into());
    out.put_u32(value.len() as u32);
    out.extend_from_slice(value);
    out
}

fn list_kind(bytes: Vec<u8>) -> ErrorKind {
    let error = AttributeList::decode(&Bytes::from(bytes)).unwrap_err();
    assert_eq!(error.format(), Format::AttributeList);
    assert_eq!(error.rv(), CKR_CPV4_MSG_ERROR);
    error.kind().clone()
}

#[test]
fn duplicate_attributes_are_refused() {
    let bytes = [entry(3u64, b"a"), entry(3u64, b"b")].concat();
    assert_eq!(
        list_kind(bytes),
        ErrorKind::Duplicate {
            field: "attributes"
        }
    );
    let made = AttributeList::new(vec![
        Attribute::bytes(CKA_LABEL, &b"a"[..]),
        Attribute::bytes(CKA_LABEL, &b"b"[..]),
    ]);
    assert_eq!(
        made.unwrap_err().kind(),
        &ErrorKind::Duplicate {
            field: "attributes"
        }
    );
}

#[test]
fn out_of_order_attributes_are_refused() {
    let bytes = [entry(3u64, b"a"), entry(2u64, &[1])].concat();
    assert_eq!(
        list_kind(bytes),
        ErrorKind::OutOfOrder {
            field: "attributes"
        }
    );
}

#[test]
fn too_many_attributes_are_refused() {
    let bytes: Vec<u8> = (0..=MAX_ATTRIBUTE_COUNT as u64)
        .flat_map(|i| entry(0x1000 + i, b""))
        .collect();
    assert_eq!(
        list_kind(bytes),
        ErrorKind::TooMany {
            field: "attributes",
            max: MAX_ATTRIBUTE_COUNT
        }
    );
}

#[test]
fn oversized_attribute_is_refused_before_it_is_read() {
    // Claims a huge value but carries none: refused on the length, not as truncated.
    let mut bytes = entry(CKA_LABEL, b"");
    bytes[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        list_kind(bytes),
        ErrorKind::FieldTooLarge {
            field: "attribute.value",
            len: u32::MAX as usize,
            max: MAX_ATTRIBUTE_SIZE
        }
    );
}

#[test]
fn truncated_attribute_list_is_refused() {
    let bytes = entry(CKA_LABEL, b"label");
    for len in 1..bytes.len() {
        assert_eq!(
            list_kind(bytes[..len].to_vec()),
            ErrorKind::Truncated,
            "prefix of {len}"
        );
    }
}

#[test]
fn attribute_values_take_their_platform_independent_form() {
    assert_eq!(
        list_kind(entry(CKA_CLASS, &[0, 0, 0, 4])),
        ErrorKind::BadLength {
            field: "attribute.value",
            expected: 8,
            found: 4
        }
    );
    assert_eq!(
        list_kind(entry(CKA_TOKEN, &[1, 0])),
        ErrorKind::BadLength {
            field: "attribute.value",
            expected: 1,
            found: 2
        }
    );
    assert_eq!(
        list_kind(entry(CKA_TOKEN, &[2])),
        ErrorKind::InvalidValue {
            field: "attribute.value",
            value: 2
        }
    );
    let list = sample_attributes();
    assert_eq!(list.get_ulong(CKA_CLASS), Some(4));
    assert_eq!(list.get_bool(CKA_TOKEN), Some(true));
    assert_eq!(list.get(CKA_LABEL), Some(&b"key"[..]));
}

#[test]
fn empty_attribute_list_is_valid() {
    let list = AttributeList::decode(&Bytes::new()).unwrap();
    assert!(list.attributes().is_empty());
}

#[test]
fn debug_output_shows_no_byte_values() {
    let secret = [0xC7u8; 32];
    let list = AttributeList::new(vec![
        Attribute::bytes(cpv4_wire::consts::CKA_VALUE, secret.to_vec()),
        Attribute::ulong(CKA_CLASS, 4),
        Attribute::bool(CKA_TOKEN, true),
    ])
    .unwrap();
    let debug = format!("{list:?}");
    assert!(
        debug.contains("len: 32") && debug.contains("value: 4") && debug.contains("value: true"),
        "{debug}"
    );
    assert!(
        !debug.contains("199"),
        "a secret byte (0xC7 = 199) leaked: {debug}"
    );
}

#[test]
fn attribute_arrays_hold_one_checked_level_of_attributes() {
    use cpv4_wire::consts::{CKA_DERIVE_TEMPLATE, CKA_SENSITIVE, CKA_WRAP_TEMPLATE};
    let inner = AttributeList::new(vec![
        Attribute::bool(CKA_TOKEN, true),
        Attribute::bool(CKA_SENSITIVE, true),
    ])
    .unwrap()
    .encode();
    let outer =
        AttributeList::new(vec![Attribute::bytes(CKA_WRAP_TEMPLATE, inner.clone())]).unwrap();
    let decoded = AttributeList::decode(&Bytes::from(outer.encode())).unwrap();
    assert_eq!(decoded, outer);
    // The inner list is checked as any list: a bad value form inside is refused...
    let mut bad_inner = inner.clone();
    let last = bad_inner.len() - 1;
    bad_inner[last] = 2;
    let bad = AttributeList::new(vec![Attribute::bytes(CKA_WRAP_TEMPLATE, bad_inner)]);
    assert!(matches!(
        bad.unwrap_err().kind(),
        ErrorKind::InvalidValue { .. }
    ));
    // ... and so is an array of attributes inside an array of attributes.
    let nested = AttributeList::new(vec![Attribute::bytes(CKA_DERIVE_TEMPLATE, inner)])
        .unwrap()
        .encode();
    let deep = AttributeList::new(vec![Attribute::bytes(CKA_WRAP_TEMPLATE, nested)]);
    assert!(matches!(
        deep.unwrap_err().kind(),
        ErrorKind::InvalidValue { value, .. } if *value == CKA_DERIVE_TEMPLATE
    ));
    // A truncated inner list is refused.
    let cut = AttributeList::new(vec![Attribute::bytes(CKA_WRAP_TEMPLATE, vec![0; 5])]);
    assert_eq!(cut.unwrap_err().kind(), &ErrorKind::Truncated);
}

// ---- the compact attribute list (encoding 2) -------------------------------------------------

fn compact_kind(bytes: &[u8]) -> ErrorKind {
    let error = AttributeList::decode_as(
        &Bytes::copy_from_slice(bytes),
        ObjectEncoding::CompactAttributeList,
    )
    .unwrap_err();
    assert_eq!(error.format(), Format::AttributeList);
    assert_eq!(error.rv(), CKR_CPV4_MSG_ERROR);
    let borrowed =
        AttributeList::decode_borrowed_as(bytes, ObjectEncoding::CompactAttributeList).unwrap_err();
    assert_eq!(borrowed, error, "the two decoders refuse alike");
    error.kind().clone()
}

#[test]
fn compact_lists_give_each_type_as_its_step_and_each_length_as_a_varint() {
    let list = AttributeList::new(vec![
        Attribute::ulong(CKA_CLASS, 4),
        Attribute::bool(CKA_TOKEN, true),
        Attribute::bytes(CKA_LABEL, &b"key"[..]),
        Attribute::bytes(0x8000_0005u64, vec![7; 200]),
    ])
    .unwrap();
    let mut expected = vec![0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 4]; // CKA_CLASS (0), 8 bytes
    expected.extend([0x00, 0x01, 0x01]); // CKA_TOKEN: 1 - 0 - 1 = step 0
    expected.extend([0x01, 0x03]); // CKA_LABEL: 3 - 1 - 1 = step 1
    expected.extend(b"key");
    // 0x8000_0005 - 3 - 1 = 0x8000_0001 in five bytes; 200 = 0xC8 in two.
    expected.extend([0x81, 0x80, 0x80, 0x80, 0x08, 0xC8, 0x01]);
    expected.extend([7; 200]);
    let compact = list.encode_as(ObjectEncoding::CompactAttributeList);
    assert_eq!(compact, expected);
    assert_eq!(
        AttributeList::decode_as(&Bytes::from(compact), ObjectEncoding::CompactAttributeList)
            .unwrap(),
        list
    );
    assert_eq!(
        ObjectEncoding::from_id(2),
        Some(ObjectEncoding::CompactAttributeList)
    );
    assert_eq!(
        ObjectEncoding::from_id(1),
        Some(ObjectEncoding::AttributeList)
    );
    assert_eq!(ObjectEncoding::from_id(3), None);
    assert_eq!(ObjectEncoding::CompactAttributeList.id(), 2);
}

#[test]
fn the_compact_encoder_never_grows_its_buffer_past_a_secret() {
    use cpv4_wire::consts::{CKA_ALLOWED_MECHANISMS, CKA_OUID, CKA_VALUE};
    // Steps of 5 and 10 bytes, after the 32-byte value: a buffer sized at 4 bytes of header an
    // attribute would have been reallocated here, leaving the value behind in freed memory.
    let list = AttributeList::new(vec![
        Attribute::ulong(CKA_CLASS, 4),
        Attribute::bytes(CKA_VALUE, vec![0xC7; 32]),
        Attribute::bytes(CKA_ALLOWED_MECHANISMS, Vec::new()),
        Attribute::bytes(CKA_OUID, vec![1; 12]),
        Attribute::bytes(0x8000_1000u64, Vec::new()),
        Attribute::bytes(0xFFFF_FFFF_0000_0000u64, Vec::new()),
        Attribute::bytes(u64::MAX, Vec::new()),
    ])
    .unwrap();
    let compact = list.encode_as(ObjectEncoding::CompactAttributeList);
    assert_eq!(
        compact.len(),
        list.encoded_len(ObjectEncoding::CompactAttributeList)
    );
    assert_eq!(compact.capacity(), compact.len());
    assert_eq!(
        AttributeList::decode_as(&Bytes::from(compact), ObjectEncoding::CompactAttributeList)
            .unwrap(),
        list
    );
}

#[test]
fn compact_varints_have_one_form() {
    let not_canonical = |field| ErrorKind::NotCanonical { field };
    // A type of 0 in two bytes, and a length of 1 in two bytes.
    assert_eq!(
        compact_kind(&[0x80, 0x00, 0x01, 0x00]),
        not_canonical("attribute.type")
    );
    assert_eq!(
        compact_kind(&[0x00, 0x81, 0x00, 0x00]),
        not_canonical("attribute.length")
    );
    // Ten bytes whose last carries bits past 64, and eleven bytes.
    let mut past_64 = vec![0xFF; 9];
    past_64.extend([0x03, 0x00]);
    assert_eq!(compact_kind(&past_64), not_canonical("attribute.type"));
    let mut eleven = vec![0xFF; 10];
    eleven.extend([0x01, 0x00]);
    assert_eq!(compact_kind(&eleven), not_canonical("attribute.type"));
    // u64::MAX itself is ten bytes ending in 0x01, and decodes (a byte value: not a CK_ULONG).
    let mut max = vec![0xFF; 9];
    max.extend([0x01, 0x01, 0xAB]);
    let list = AttributeList::decode_as(
        &Bytes::from(max.clone()),
        ObjectEncoding::CompactAttributeList,
    )
    .unwrap();
    assert_eq!(list.get(u64::MAX), Some(&[0xAB][..]));
    assert_eq!(list.encode_as(ObjectEncoding::CompactAttributeList), max);
}

#[test]
fn compact_lists_refuse_a_type_past_64_bits_an_oversized_value_and_a_cut() {
    // After u64::MAX, any step overflows.
    let mut after_max = vec![0xFF; 9];
    after_max.extend([0x01, 0x00, 0x00, 0x00]);
    assert_eq!(
        compact_kind(&after_max),
        ErrorKind::InvalidValue {
            field: "attribute.type",
            value: 0
        }
    );
    // A length past 16 KiB is refused from the header alone.
    assert_eq!(
        compact_kind(&[0x03, 0x81, 0x80, 0x01]),
        ErrorKind::FieldTooLarge {
            field: "attribute.value",
            len: 16_385,
            max: MAX_ATTRIBUTE_SIZE
        }
    );
    assert_eq!(compact_kind(&[0x03, 0x04, b'a']), ErrorKind::Truncated);
    assert_eq!(compact_kind(&[0x83]), ErrorKind::Truncated);
    assert_eq!(compact_kind(&[0x03]), ErrorKind::Truncated);
    // Value forms are checked as in encoding 1: a CK_BBOOL of 2.
    assert!(matches!(
        compact_kind(&[0x01, 0x01, 0x02]),
        ErrorKind::InvalidValue { .. }
    ));
    // 65 attributes are too many.
    let many: Vec<u8> = (0..65).flat_map(|_| [0x00, 0x00]).collect();
    assert_eq!(
        compact_kind(&many),
        ErrorKind::TooMany {
            field: "attributes",
            max: MAX_ATTRIBUTE_COUNT
        }
    );
}

#[test]
fn a_template_inside_a_compact_list_is_an_encoding_1_list() {
    use cpv4_wire::consts::{CKA_SENSITIVE, CKA_WRAP_TEMPLATE};
    let inner = AttributeList::new(vec![Attribute::bool(CKA_SENSITIVE, true)]).unwrap();
    let outer =
        AttributeList::new(vec![Attribute::bytes(CKA_WRAP_TEMPLATE, inner.encode())]).unwrap();
    let compact = outer.encode_as(ObjectEncoding::CompactAttributeList);
    let decoded =
        AttributeList::decode_as(&Bytes::from(compact), ObjectEncoding::CompactAttributeList)
            .unwrap();
    assert_eq!(decoded.get(CKA_WRAP_TEMPLATE), Some(&inner.encode()[..]));
    // The inner list in encoding 2 is refused: values keep one form in both encodings.
    let dense = AttributeList::new(vec![Attribute::bytes(
        CKA_WRAP_TEMPLATE,
        inner.encode_as(ObjectEncoding::CompactAttributeList),
    )]);
    assert!(dense.is_err());
}

#[test]
fn an_aes_keys_attributes_take_under_half_the_bytes_in_the_compact_list() {
    // The attributes of an AES-256 key as the simulator makes one (types and value sizes).
    let bools = [
        0x1u64, 0x2, 0x86, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x10a, 0x10c, 0x162, 0x163,
        0x164, 0x165, 0x170, 0x171, 0x172, 0x210,
    ];
    let mut attributes: Vec<Attribute> =
        bools.iter().map(|&ty| Attribute::bool(ty, true)).collect();
    for (ty, value) in [
        (0x0u64, 4u64),
        (0x100, 0x1f),
        (0x161, 32),
        (0x166, u64::MAX >> 1),
    ] {
        attributes.push(Attribute::ulong(ty, value));
    }
    for (ty, len) in [
        (0x3u64, 5usize),
        (0x11, 32),
        (0x90, 3),
        (0x102, 0),
        (0x110, 0),
        (0x111, 0),
        (0x4000_0600, 0),
        (0x8000_0005, 12),
    ] {
        attributes.push(Attribute::bytes(ty, vec![0x5A; len]));
    }
    let list = AttributeList::new(attributes).unwrap();
    let wide = list.encode().len();
    let compact = list.encode_as(ObjectEncoding::CompactAttributeList).len();
    assert_eq!((wide, compact), (475, 174), "31 attributes");
    assert!(2 * compact < wide);
}
