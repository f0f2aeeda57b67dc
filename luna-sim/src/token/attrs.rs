//! Attributes: typed constructors and accessors over the platform-independent value form.
//!
//! Values are kept in the form of the CPv4 attribute lists (both encodings): a `CK_ULONG`
//! attribute is 8 bytes big-endian, a `CK_BBOOL` is 1 byte (0 or 1), anything else is its bytes
//! (see [`cpv4_wire::consts::attribute_form`]). The C module converts from and to the native
//! `CK_ATTRIBUTE` representation at its boundary.

use std::fmt;

use cpv4_wire::consts::{AttributeForm, CKA_VALUE, CkAttributeType, CkUlong, attribute_form};
use zeroize::Zeroizing;

use crate::error::{SimError, SimResult};

/// One attribute of a template or an object. The value is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute type (`CKA_*`).
    pub kind: CkAttributeType,
    value: Zeroizing<Vec<u8>>,
}

impl Attribute {
    /// A `CK_ULONG` attribute.
    #[must_use]
    pub fn ulong(kind: CkAttributeType, value: CkUlong) -> Self {
        Self::raw(kind, ulong_to_u64(value).to_be_bytes().to_vec())
    }

    /// A `CK_BBOOL` attribute.
    #[must_use]
    pub fn bool(kind: CkAttributeType, value: bool) -> Self {
        Self::raw(kind, vec![u8::from(value)])
    }

    /// A byte-string attribute.
    #[must_use]
    pub fn bytes(kind: CkAttributeType, value: impl Into<Vec<u8>>) -> Self {
        Self::raw(kind, value.into())
    }

    /// An attribute whose value is already in the platform-independent form.
    #[must_use]
    pub fn raw(kind: CkAttributeType, value: Vec<u8>) -> Self {
        Self {
            kind,
            value: Zeroizing::new(value),
        }
    }

    /// The value in the platform-independent form.
    #[must_use]
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The value as a `CK_ULONG`, if it has that form.
    #[must_use]
    pub fn as_ulong(&self) -> Option<CkUlong> {
        decode_ulong(&self.value)
    }

    /// The value as a `CK_BBOOL`, if it has that form.
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        decode_bool(&self.value)
    }

    /// Checks that the value has the form its type requires.
    pub(crate) fn check_form(&self) -> SimResult<()> {
        check_form(self.kind, &self.value)
    }
}

/// Checks that `value` has the form attribute type `kind` requires.
pub(crate) fn check_form(kind: CkAttributeType, value: &[u8]) -> SimResult<()> {
    let ok = match attribute_form(kind) {
        AttributeForm::Ulong => decode_ulong(value).is_some(),
        AttributeForm::Bool => decode_bool(value).is_some(),
        AttributeForm::UlongArray => value.len().is_multiple_of(8),
        // CK_ULONG is 32 bits on some platforms: the widening is not useless there.
        #[allow(clippy::useless_conversion)]
        AttributeForm::AttributeArray => cpv4_wire::Attribute {
            ty: u64::from(kind),
            value,
        }
        .check()
        .is_ok(),
        AttributeForm::Bytes => true,
    };
    if ok {
        Ok(())
    } else {
        Err(SimError::AttributeValueInvalid(kind))
    }
}

impl fmt::Debug for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Attribute");
        s.field("kind", &format_args!("0x{:X}", self.kind));
        match attribute_form(self.kind) {
            AttributeForm::Ulong => s.field("value", &self.as_ulong()),
            AttributeForm::Bool => s.field("value", &self.as_bool()),
            AttributeForm::UlongArray => s.field("count", &(self.value.len() / 8)),
            // A template may hold key material too: only the length is shown.
            AttributeForm::AttributeArray => s.field("len", &self.value.len()),
            // Byte values may be key material: only the length is shown.
            AttributeForm::Bytes => s.field("len", &self.value.len()),
        };
        s.finish()
    }
}

/// Widens a `CK_ULONG` (32 bits on some platforms, 64 on Linux) to `u64`.
#[allow(clippy::useless_conversion)]
pub(crate) fn ulong_to_u64(value: CkUlong) -> u64 {
    u64::from(value)
}

pub(crate) fn decode_ulong(value: &[u8]) -> Option<CkUlong> {
    let bytes: [u8; 8] = value.try_into().ok()?;
    CkUlong::try_from(u64::from_be_bytes(bytes)).ok()
}

pub(crate) fn decode_bool(value: &[u8]) -> Option<bool> {
    match value {
        [0] => Some(false),
        [1] => Some(true),
        _ => None,
    }
}

/// An object's attributes, by type, in ascending type order. Every value lives in one buffer,
/// wiped on drop: an object is built, checked, encoded and dropped several times on its way
/// through a clone, and one allocation per object (rather than one per attribute, and a tree
/// node per few) is most of what that costs.
#[derive(Default)]
pub(crate) struct AttrMap {
    /// Each type with the start and length of its value in `bytes`, sorted by type.
    entries: Vec<(CkAttributeType, usize, usize)>,
    bytes: Zeroizing<Vec<u8>>,
    /// Bytes of `bytes` that no entry uses any more (values replaced or removed).
    unused: usize,
}

/// The smallest buffer a map grows to: most objects fit.
const MIN_BYTES: usize = 256;

impl fmt::Debug for AttrMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(k, _, _)| format!("0x{k:X}")))
            .finish()
    }
}

impl Clone for AttrMap {
    fn clone(&self) -> Self {
        self.compacted()
    }
}

impl PartialEq for AttrMap {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for AttrMap {}

impl AttrMap {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `count` attributes whose values take `bytes` bytes.
    pub(crate) fn with_capacity(count: usize, bytes: usize) -> Self {
        Self {
            entries: Vec::with_capacity(count),
            bytes: Zeroizing::new(Vec::with_capacity(bytes)),
            unused: 0,
        }
    }

    pub(crate) fn from_template(template: &[Attribute]) -> SimResult<Self> {
        let mut map = Self::with_capacity(
            template.len(),
            template.iter().map(|attr| attr.value.len()).sum(),
        );
        for attr in template {
            attr.check_form()?;
            if map.contains(attr.kind) {
                return Err(SimError::TemplateInconsistent);
            }
            map.set_slice(attr.kind, &attr.value);
        }
        Ok(map)
    }

    fn position(&self, kind: CkAttributeType) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&kind, |(k, _, _)| *k)
    }

    fn value_at(&self, start: usize, len: usize) -> &[u8] {
        // Every range was made by `append` within `bytes`.
        self.bytes
            .get(start..start.saturating_add(len))
            .unwrap_or_default()
    }

    pub(crate) fn get(&self, kind: CkAttributeType) -> Option<&[u8]> {
        let index = self.position(kind).ok()?;
        let (_, start, len) = *self.entries.get(index)?;
        Some(self.value_at(start, len))
    }

    pub(crate) fn contains(&self, kind: CkAttributeType) -> bool {
        self.position(kind).is_ok()
    }

    pub(crate) fn ulong(&self, kind: CkAttributeType) -> Option<CkUlong> {
        self.get(kind).and_then(decode_ulong)
    }

    pub(crate) fn flag(&self, kind: CkAttributeType) -> Option<bool> {
        self.get(kind).and_then(decode_bool)
    }

    /// A flag that defaults to `false` when absent.
    pub(crate) fn is(&self, kind: CkAttributeType) -> bool {
        self.flag(kind).unwrap_or(false)
    }

    /// Sets `kind` to `value`; `value` is wiped as it drops.
    pub(crate) fn set(&mut self, kind: CkAttributeType, value: Vec<u8>) {
        let value = Zeroizing::new(value);
        self.set_slice(kind, &value);
    }

    /// Sets `kind` to a copy of `value`.
    pub(crate) fn set_slice(&mut self, kind: CkAttributeType, value: &[u8]) {
        if self.entries.last().is_none_or(|(last, _, _)| *last < kind) {
            // Decoding adds the types in ascending order: each goes at the end.
            let start = self.append(value);
            self.entries.push((kind, start, value.len()));
            return;
        }
        match self.position(kind) {
            Ok(index) => {
                let Some(&(_, start, len)) = self.entries.get(index) else {
                    return;
                };
                if len == value.len() {
                    if let Some(old) = self.bytes.get_mut(start..start + len) {
                        old.copy_from_slice(value);
                    }
                    return;
                }
                let start = self.append(value);
                if let Some(entry) = self.entries.get_mut(index) {
                    *entry = (kind, start, value.len());
                }
                self.unused += len;
                self.compact_if_wasteful();
            }
            Err(index) => {
                let start = self.append(value);
                self.entries.insert(index, (kind, start, value.len()));
            }
        }
    }

    /// Removes `kind` (its value is wiped with the buffer, or when the buffer is compacted).
    pub(crate) fn remove(&mut self, kind: CkAttributeType) {
        if let Ok(index) = self.position(kind) {
            let (_, _, len) = self.entries.remove(index);
            self.unused += len;
            self.compact_if_wasteful();
        }
    }

    /// Copies `value` to the end of the buffer, returning where it starts.
    fn append(&mut self, value: &[u8]) -> usize {
        let start = self.bytes.len();
        if self.bytes.capacity() - start < value.len() {
            // A vector that grows in place frees its old buffer unwiped: the values move to a
            // new buffer, and the old one is wiped as it drops.
            let capacity = (start + value.len())
                .max(2 * self.bytes.capacity())
                .max(MIN_BYTES);
            let mut grown = Zeroizing::new(Vec::with_capacity(capacity));
            grown.extend_from_slice(&self.bytes);
            self.bytes = grown;
        }
        self.bytes.extend_from_slice(value);
        start
    }

    /// Bounds the bytes that replaced and removed values leave behind, whatever the number of
    /// changes a map sees.
    fn compact_if_wasteful(&mut self) {
        if self.unused > MIN_BYTES && self.unused > self.bytes.len() - self.unused {
            *self = self.compacted();
        }
    }

    /// The same attributes in a buffer of exactly their size.
    fn compacted(&self) -> Self {
        let mut copy = Self::with_capacity(self.entries.len(), self.bytes.len() - self.unused);
        for (kind, value) in self.iter() {
            let start = copy.append(value);
            copy.entries.push((kind, start, value.len()));
        }
        copy
    }

    pub(crate) fn set_ulong(&mut self, kind: CkAttributeType, value: CkUlong) {
        self.set_slice(kind, &ulong_to_u64(value).to_be_bytes());
    }

    pub(crate) fn set_bool(&mut self, kind: CkAttributeType, value: bool) {
        self.set_slice(kind, &[u8::from(value)]);
    }

    /// Sets `kind` to `value` unless it is present.
    pub(crate) fn default_bool(&mut self, kind: CkAttributeType, value: bool) {
        if !self.contains(kind) {
            self.set_bool(kind, value);
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (CkAttributeType, &[u8])> {
        self.entries
            .iter()
            .map(|&(kind, start, len)| (kind, self.value_at(start, len)))
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The bytes of the values, together.
    pub(crate) fn size(&self) -> usize {
        self.bytes.len() - self.unused
    }

    /// The key value (`CKA_VALUE`), or an error naming it missing.
    pub(crate) fn value(&self) -> SimResult<&[u8]> {
        self.get(CKA_VALUE)
            .ok_or(SimError::Corrupt("key without CKA_VALUE".into()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use cpv4_wire::consts::{CKA_CLASS, CKA_LABEL, CKA_TOKEN};

    use super::*;

    #[test]
    fn values_use_the_wire_form_and_debug_hides_bytes() {
        let class = Attribute::ulong(CKA_CLASS, 4);
        assert_eq!(class.value(), &[0, 0, 0, 0, 0, 0, 0, 4]);
        assert_eq!(class.as_ulong(), Some(4));
        assert_eq!(Attribute::bool(CKA_TOKEN, true).value(), &[1]);
        let secret = Attribute::bytes(CKA_VALUE, b"topsecret".to_vec());
        assert!(!format!("{secret:?}").contains("topsecret"));
        assert_eq!(
            Attribute::bytes(CKA_TOKEN, vec![7]).check_form(),
            Err(SimError::AttributeValueInvalid(CKA_TOKEN))
        );
    }

    #[test]
    fn duplicate_template_entries_are_inconsistent() {
        let template = [
            Attribute::bytes(CKA_LABEL, b"a".to_vec()),
            Attribute::bytes(CKA_LABEL, b"b".to_vec()),
        ];
        assert_eq!(
            AttrMap::from_template(&template).err(),
            Some(SimError::TemplateInconsistent)
        );
    }

    /// A change the map model test applies.
    #[derive(Debug, Clone)]
    enum Change {
        Set(CkAttributeType, Vec<u8>),
        Remove(CkAttributeType),
    }

    fn change() -> impl proptest::strategy::Strategy<Value = Change> {
        use proptest::prelude::*;
        // Few types, so that values are often replaced, with lengths that differ or not.
        let kind = 0..12 as CkAttributeType;
        prop_oneof![
            3 => (kind.clone(), proptest::collection::vec(any::<u8>(), 0..300))
                .prop_map(|(k, v)| Change::Set(k, v)),
            1 => kind.prop_map(Change::Remove),
        ]
    }

    proptest::proptest! {
        /// The map behaves as an ordered map of its values whatever the changes, its clone
        /// and equality are those of its contents, and the bytes left by replaced and removed
        /// values stay bounded.
        #[test]
        fn the_map_is_an_ordered_map_of_its_values(
            changes in proptest::collection::vec(change(), 0..200)
        ) {
            let mut map = AttrMap::new();
            let mut model = std::collections::BTreeMap::new();
            for change in changes {
                match change {
                    Change::Set(kind, value) => {
                        map.set(kind, value.clone());
                        model.insert(kind, value);
                    }
                    Change::Remove(kind) => {
                        map.remove(kind);
                        model.remove(&kind);
                    }
                }
                let live: usize = model.values().map(Vec::len).sum();
                proptest::prop_assert!(map.bytes.len() <= 2 * live + 2 * MIN_BYTES + 300);
                proptest::prop_assert_eq!(map.unused + live, map.bytes.len());
            }
            let expected: Vec<(CkAttributeType, &[u8])> =
                model.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            proptest::prop_assert_eq!(map.iter().collect::<Vec<_>>(), expected);
            proptest::prop_assert_eq!(map.len(), model.len());
            for kind in 0..12 {
                proptest::prop_assert_eq!(map.get(kind), model.get(&kind).map(Vec::as_slice));
            }
            let copy = map.clone();
            proptest::prop_assert_eq!(copy.bytes.len(), copy.bytes.capacity());
            proptest::prop_assert_eq!(copy.unused, 0);
            proptest::prop_assert_eq!(&copy, &map);
        }
    }

    #[test]
    fn maps_with_the_same_attributes_are_equal_however_they_were_built() {
        let mut built = AttrMap::new();
        built.set(CKA_LABEL, b"first label".to_vec());
        built.set_ulong(CKA_CLASS, 4);
        built.set(CKA_LABEL, b"key".to_vec());
        let mut direct = AttrMap::with_capacity(2, 11);
        direct.set_ulong(CKA_CLASS, 4);
        direct.set_slice(CKA_LABEL, b"key");
        assert_eq!(built, direct);
        direct.set_slice(CKA_LABEL, b"kez");
        assert_ne!(built, direct);
    }
}
