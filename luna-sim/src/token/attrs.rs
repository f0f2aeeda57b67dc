//! Attributes: typed constructors and accessors over the platform-independent value form.
//!
//! Values are kept in the form of the CPv4 attribute lists (both encodings): a `CK_ULONG`
//! attribute is 8 bytes big-endian, a `CK_BBOOL` is 1 byte (0 or 1), anything else is its bytes
//! (see [`cpv4_wire::consts::attribute_form`]). The C module converts from and to the native
//! `CK_ATTRIBUTE` representation at its boundary.

use std::collections::BTreeMap;
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

/// An object's attributes, by type. Values are wiped on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct AttrMap(BTreeMap<CkAttributeType, Zeroizing<Vec<u8>>>);

impl fmt::Debug for AttrMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.keys().map(|k| format!("0x{k:X}")))
            .finish()
    }
}

impl AttrMap {
    pub(crate) fn new() -> Self {
        Self(BTreeMap::new())
    }

    pub(crate) fn from_template(template: &[Attribute]) -> SimResult<Self> {
        let mut map = Self::new();
        for attr in template {
            attr.check_form()?;
            if map.0.insert(attr.kind, attr.value.clone()).is_some() {
                return Err(SimError::TemplateInconsistent);
            }
        }
        Ok(map)
    }

    pub(crate) fn get(&self, kind: CkAttributeType) -> Option<&[u8]> {
        self.0.get(&kind).map(|v| v.as_slice())
    }

    pub(crate) fn contains(&self, kind: CkAttributeType) -> bool {
        self.0.contains_key(&kind)
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

    pub(crate) fn set(&mut self, kind: CkAttributeType, value: Vec<u8>) {
        self.0.insert(kind, Zeroizing::new(value));
    }

    /// Removes `kind` (its value is wiped as it drops).
    pub(crate) fn remove(&mut self, kind: CkAttributeType) {
        self.0.remove(&kind);
    }

    pub(crate) fn set_ulong(&mut self, kind: CkAttributeType, value: CkUlong) {
        self.set(kind, ulong_to_u64(value).to_be_bytes().to_vec());
    }

    pub(crate) fn set_bool(&mut self, kind: CkAttributeType, value: bool) {
        self.set(kind, vec![u8::from(value)]);
    }

    /// Sets `kind` to `value` unless it is present.
    pub(crate) fn default_bool(&mut self, kind: CkAttributeType, value: bool) {
        if !self.contains(kind) {
            self.set_bool(kind, value);
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (CkAttributeType, &[u8])> {
        self.0.iter().map(|(k, v)| (*k, v.as_slice()))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
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
}
