//! The stored form of a token object: one row of `objects` (schema version 4), its clear
//! attributes in one blob (`public`) and its sealed ones in another (`sealed`), so storing or
//! loading an object is one row, whatever its number of attributes.
//!
//! A blob is a format byte ([`FORMAT`]) then entries `type (u64, big-endian) || length (u32,
//! big-endian) || value`, in strictly ascending type order, nothing after the last. Parsing is
//! strict: any other byte string is [`SimError::Corrupt`]. A sealed entry's value is the
//! attribute sealed with `StorageKey::seal` under `attribute_aad(object id, type)`, as the
//! attribute rows of schema versions 1 to 3 were, so upgrading a store moves sealed values
//! without opening them.

use cpv4_wire::consts::{
    CKA_CLASS, CKA_ID, CKA_LABEL, CKA_OUID, CKA_PRIVATE, CkAttributeType, CkObjectClass,
};

use crate::error::{SimError, SimResult};
use crate::store::keys::{StorageKey, attribute_aad};
use crate::token::attrs::{AttrMap, decode_ulong, ulong_to_u64};

/// The first byte of every attribute blob.
pub(crate) const FORMAT: u8 = 1;
const TYPE_LEN: usize = 8;
const LENGTH_LEN: usize = 4;

/// Encodes `entries` (in ascending type order, as an [`AttrMap`] iterates).
pub(crate) fn encode<'a>(
    entries: impl IntoIterator<Item = (CkAttributeType, &'a [u8])>,
) -> SimResult<Vec<u8>> {
    let mut out = vec![FORMAT];
    let mut last: Option<u64> = None;
    for (kind, value) in entries {
        let kind = ulong_to_u64(kind);
        if last.is_some_and(|last| kind <= last) {
            return Err(SimError::Internal("attribute entries out of order"));
        }
        last = Some(kind);
        let length =
            u32::try_from(value.len()).map_err(|_| SimError::Internal("attribute too long"))?;
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(value);
    }
    Ok(out)
}

/// Parses a blob made by [`encode`]: its entries, borrowing their values.
pub(crate) fn decode(blob: &[u8]) -> SimResult<Vec<(CkAttributeType, &[u8])>> {
    let corrupt = |what: &str| SimError::Corrupt(format!("stored attributes: {what}"));
    let Some((&format, mut rest)) = blob.split_first() else {
        return Err(corrupt("empty"));
    };
    if format != FORMAT {
        return Err(corrupt("unknown format"));
    }
    let mut entries = Vec::new();
    let mut last: Option<u64> = None;
    while !rest.is_empty() {
        let (kind, after) = rest
            .split_first_chunk::<TYPE_LEN>()
            .ok_or_else(|| corrupt("truncated type"))?;
        let (length, after) = after
            .split_first_chunk::<LENGTH_LEN>()
            .ok_or_else(|| corrupt("truncated length"))?;
        let kind = u64::from_be_bytes(*kind);
        if last.is_some_and(|last| kind <= last) {
            return Err(corrupt("types not ascending"));
        }
        last = Some(kind);
        let length = usize::try_from(u32::from_be_bytes(*length))
            .map_err(|_| corrupt("length too large"))?;
        if after.len() < length {
            return Err(corrupt("truncated value"));
        }
        let (value, after) = after.split_at(length);
        let kind = CkAttributeType::try_from(kind).map_err(|_| corrupt("type too large"))?;
        entries.push((kind, value));
        rest = after;
    }
    Ok(entries)
}

/// The two blobs of object `id`: its clear attributes and its sealed ones (the key material
/// of secret and private keys, `super::is_sealed`), each sealed bound to `id` and its type.
pub(crate) fn encode_object(
    key: &StorageKey,
    id: i64,
    class: Option<CkObjectClass>,
    attrs: &AttrMap,
) -> SimResult<(Vec<u8>, Vec<u8>)> {
    let mut sealed = Vec::new();
    for (kind, value) in attrs.iter() {
        if super::is_sealed(class, kind) {
            sealed.push((
                kind,
                key.seal(&attribute_aad(id, ulong_to_u64(kind)), value)?,
            ));
        }
    }
    let public = encode(
        attrs
            .iter()
            .filter(|(kind, _)| !super::is_sealed(class, *kind)),
    )?;
    let sealed = encode(sealed.iter().map(|(kind, value)| (*kind, value.as_slice())))?;
    Ok((public, sealed))
}

/// The indexed columns of an object's row (`class`, `label`, `ckid`, `ouid`, `private`), as
/// its clear attributes give them: what an insert writes and what a check expects.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Columns<'a> {
    pub(crate) class: i64,
    pub(crate) label: &'a [u8],
    pub(crate) ckid: &'a [u8],
    pub(crate) ouid: &'a [u8],
    pub(crate) private: bool,
}

impl<'a> Columns<'a> {
    pub(crate) fn of(attrs: &'a AttrMap) -> Self {
        Self {
            class: attrs.ulong(CKA_CLASS).map_or(-1, super::ulong_to_sql),
            label: attrs.get(CKA_LABEL).unwrap_or_default(),
            ckid: attrs.get(CKA_ID).unwrap_or_default(),
            ouid: attrs.get(CKA_OUID).unwrap_or_default(),
            private: attrs.is(CKA_PRIVATE),
        }
    }

    /// Whether `row`'s columns from `first` on (`class, label, ckid, ouid, private`) are these.
    pub(crate) fn match_row(
        &self,
        row: &rusqlite::Row<'_>,
        first: usize,
    ) -> rusqlite::Result<bool> {
        Ok(row.get::<_, i64>(first)? == self.class
            && row.get::<_, Vec<u8>>(first + 1)? == self.label
            && row.get::<_, Vec<u8>>(first + 2)? == self.ckid
            && row.get::<_, Vec<u8>>(first + 3)? == self.ouid
            && row.get::<_, bool>(first + 4)? == self.private)
    }
}

/// What is wrong with row `id` when its indexed columns differ from its attributes (a
/// damaged store, or one object's blob copied onto another's row).
pub(crate) fn columns_differ(id: i64) -> String {
    format!("object {id}: its indexed columns differ from its attributes")
}

/// Entries of a blob: each type with its value.
pub(crate) type Entries<'a> = Vec<(CkAttributeType, &'a [u8])>;

/// Parses the two blobs of object `id` and checks that each entry is in its own: in `sealed`
/// exactly the attributes [`super::is_sealed`] names for the class the clear blob gives, so
/// no key material is ever read from the clear blob. Anything else is [`SimError::Corrupt`].
pub(crate) fn decode_blobs<'a>(
    id: i64,
    public: &'a [u8],
    sealed: &'a [u8],
) -> SimResult<(Entries<'a>, Entries<'a>)> {
    let in_object = |error: SimError| match error {
        SimError::Corrupt(what) => SimError::Corrupt(format!("object {id}: {what}")),
        other => other,
    };
    let public = decode(public).map_err(in_object)?;
    let sealed = decode(sealed).map_err(in_object)?;
    let class = public
        .iter()
        .find(|(kind, _)| *kind == CKA_CLASS)
        .and_then(|(_, value)| decode_ulong(value));
    let misplaced = public
        .iter()
        .find(|(kind, _)| super::is_sealed(class, *kind))
        .or_else(|| {
            sealed
                .iter()
                .find(|(kind, _)| !super::is_sealed(class, *kind))
        });
    if let Some((kind, _)) = misplaced {
        return Err(SimError::Corrupt(format!(
            "object {id}: attribute 0x{kind:X} is in the wrong blob"
        )));
    }
    Ok((public, sealed))
}

/// The attributes of object `id` from its two blobs, opening the sealed ones with `key`. An
/// entry in the wrong blob ([`decode_blobs`]), or a sealed value that does not open, is
/// [`SimError::Corrupt`].
pub(crate) fn decode_object(
    key: &StorageKey,
    id: i64,
    public: &[u8],
    sealed: &[u8],
) -> SimResult<AttrMap> {
    let (public, sealed) = decode_blobs(id, public, sealed)?;
    let mut attrs = attr_map(&public);
    for (kind, value) in sealed {
        let plain = key.open(&attribute_aad(id, ulong_to_u64(kind)), value)?;
        attrs.set_slice(kind, &plain);
    }
    Ok(attrs)
}

/// The clear attributes of an object (what a find compares, without opening anything).
pub(crate) fn decode_public(public: &[u8]) -> SimResult<AttrMap> {
    Ok(attr_map(&decode(public)?))
}

/// `entries` as an attribute map (their values copied).
pub(crate) fn attr_map(entries: &Entries<'_>) -> AttrMap {
    let mut attrs =
        AttrMap::with_capacity(entries.len(), entries.iter().map(|(_, v)| v.len()).sum());
    for (kind, value) in entries {
        attrs.set_slice(*kind, value);
    }
    attrs
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use cpv4_wire::consts::{CKA_VALUE, CKO_DATA, CKO_SECRET_KEY};

    use super::*;

    #[test]
    fn entries_round_trip_and_only_their_encoding_parses() {
        let entries: Vec<(CkAttributeType, &[u8])> = vec![
            (0, b"".as_slice()),
            (3, b"abc"),
            (0x8000_0001, &[0xff; 300]),
        ];
        let blob = encode(entries.iter().copied()).unwrap();
        assert_eq!(decode(&blob).unwrap(), entries);
        assert_eq!(decode(&[FORMAT]).unwrap(), vec![]);
        // Every truncation, a trailing byte, another format and entries out of order fail.
        for cut in 0..blob.len() {
            if cut != 0 && decode(&blob[..cut]).is_ok() {
                // A cut on an entry boundary is a shorter valid list, never the same one.
                assert_ne!(decode(&blob[..cut]).unwrap(), entries);
            }
        }
        assert!(decode(&[]).is_err());
        assert!(matches!(decode(&[2]), Err(SimError::Corrupt(_))));
        let mut trailing = blob.clone();
        trailing.push(0);
        assert!(matches!(decode(&trailing), Err(SimError::Corrupt(_))));
        let twice = [FORMAT, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0];
        let mut repeated = twice.to_vec();
        repeated.extend_from_slice(&twice[1..]);
        assert!(matches!(decode(&repeated), Err(SimError::Corrupt(_))));
        assert!(encode([(3, b"".as_slice()), (3, b"")]).is_err());
    }

    #[test]
    fn an_object_keeps_its_key_material_sealed_and_bound_to_its_id() {
        let key = StorageKey::from_bytes([7; 32]);
        let mut attrs = AttrMap::new();
        attrs.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
        attrs.set(CKA_LABEL, b"aes".to_vec());
        attrs.set(CKA_VALUE, vec![0x5a; 32]);
        let class = Some(CKO_SECRET_KEY);
        let (public, sealed) = encode_object(&key, 9, class, &attrs).unwrap();
        assert!(!public.windows(32).any(|w| w == [0x5a; 32]));
        assert!(!sealed.windows(32).any(|w| w == [0x5a; 32]));
        assert_eq!(decode(&sealed).unwrap().len(), 1);
        let back = decode_object(&key, 9, &public, &sealed).unwrap();
        assert_eq!(back.get(CKA_VALUE), Some(&[0x5a; 32][..]));
        assert_eq!(back.len(), 3);
        // Under another object's id the sealed value does not open.
        assert!(matches!(
            decode_object(&key, 10, &public, &sealed),
            Err(SimError::Corrupt(_))
        ));
        // The clear blob alone holds no key material.
        assert_eq!(decode_public(&public).unwrap().get(CKA_VALUE), None);
        // A type in both blobs is refused.
        let both = encode(attrs.iter()).unwrap();
        assert!(matches!(
            decode_object(&key, 9, &both, &sealed),
            Err(SimError::Corrupt(_))
        ));
        // Key material in the clear blob (the storage key never involved) is refused, and so
        // is a clear attribute in the sealed blob, even one that opens.
        let empty = encode([]).unwrap();
        assert!(matches!(
            decode_object(&key, 9, &both, &empty),
            Err(SimError::Corrupt(what)) if what.contains("wrong blob")
        ));
        let label_sealed = key
            .seal(&attribute_aad(9, ulong_to_u64(CKA_LABEL)), b"aes")
            .unwrap();
        let (clear, _) = encode_object(&key, 9, class, &attrs).unwrap();
        let mut public_entries = decode(&clear).unwrap();
        public_entries.retain(|(kind, _)| *kind != CKA_LABEL);
        let without_label = encode(public_entries).unwrap();
        let mut sealed_entries = decode(&sealed).unwrap();
        sealed_entries.insert(0, (CKA_LABEL, label_sealed.as_slice()));
        let label_in_sealed = encode(sealed_entries).unwrap();
        assert!(matches!(
            decode_object(&key, 9, &without_label, &label_in_sealed),
            Err(SimError::Corrupt(what)) if what.contains("wrong blob")
        ));
        // An object whose class has no key material keeps nothing sealed.
        let mut data = AttrMap::new();
        data.set_ulong(CKA_CLASS, CKO_DATA);
        data.set(CKA_VALUE, vec![0x5a; 32]);
        let (public, sealed) = encode_object(&key, 9, Some(CKO_DATA), &data).unwrap();
        assert_eq!(decode(&sealed).unwrap().len(), 0);
        assert_eq!(decode_object(&key, 9, &public, &sealed).unwrap(), data);
    }
}
