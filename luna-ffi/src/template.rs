//! Attribute templates: native `CK_ATTRIBUTE` arrays to the simulator's [`Attribute`]s and
//! back. The simulator keeps values in the platform-independent form (`CK_ULONG` as 8 bytes
//! big-endian, `CK_BBOOL` as one byte 0 or 1, an array of attributes as an attribute list of
//! its own, see `cpv4_wire::consts::attribute_form`); the C side uses native `CK_ULONG`s and,
//! for the wrap, unwrap and derive templates, a nested `CK_ATTRIBUTE` array whose `ulValueLen`
//! is its size in bytes.

use cpv4_wire::consts::{
    AttributeForm, CK_UNAVAILABLE_INFORMATION, CKR_ATTRIBUTE_VALUE_INVALID, attribute_form,
};
use luna_sim::{Attribute, SimError};
use zeroize::Zeroizing;

use crate::args;

use crate::guard::{Error, FfiResult};
use crate::types::{CK_ATTRIBUTE, CK_ATTRIBUTE_TYPE, CK_ULONG};

/// Reads a template of `count` attributes.
///
/// # Safety
///
/// A non-NULL `template` must point to `count` readable `CK_ATTRIBUTE`s whose non-NULL
/// `pValue`s are readable for `ulValueLen` bytes (for an array attribute, a readable nested
/// template of `ulValueLen / sizeof(CK_ATTRIBUTE)` entries, under the same contract).
pub(crate) unsafe fn read(
    template: *const CK_ATTRIBUTE,
    count: CK_ULONG,
) -> FfiResult<Vec<Attribute>> {
    // SAFETY: forwarded from this function's contract.
    let entries = unsafe { args::slice(template, count) }?;
    entries
        .iter()
        // SAFETY: forwarded from this function's contract.
        .map(|entry| unsafe { read_entry(entry, true) })
        .collect()
}

/// The size of a nested template of `count` entries, as its `ulValueLen`.
fn array_len(count: usize) -> FfiResult<CK_ULONG> {
    args::ulong(count.saturating_mul(size_of::<CK_ATTRIBUTE>()))
}

/// One attribute of a template. An array attribute holds a nested template only at the top
/// (`outer`): one inside a nested template is `CKR_ATTRIBUTE_VALUE_INVALID`.
///
/// # Safety
///
/// As [`read`], for one entry.
// CK_ULONG is 32 bits on some platforms: the widening to u64 is not useless there.
#[allow(clippy::useless_conversion)]
unsafe fn read_entry(entry: &CK_ATTRIBUTE, outer: bool) -> FfiResult<Attribute> {
    let invalid = || Error::Sim(SimError::AttributeValueInvalid(entry.type_));
    if attribute_form(entry.type_) != AttributeForm::AttributeArray {
        // SAFETY: forwarded from this function's contract.
        let value =
            unsafe { args::slice(entry.pValue.cast::<u8>().cast_const(), entry.ulValueLen) }?;
        return from_native(entry.type_, value);
    }
    let size = array_len(1)?;
    if !outer || !entry.ulValueLen.is_multiple_of(size) {
        return Err(invalid());
    }
    // SAFETY: forwarded from this function's contract: `ulValueLen / size` readable entries.
    let nested = unsafe {
        args::slice(
            entry.pValue.cast::<CK_ATTRIBUTE>().cast_const(),
            entry.ulValueLen / size,
        )
    }?;
    let inner = nested
        .iter()
        // SAFETY: forwarded from this function's contract.
        .map(|nested| unsafe { read_entry(nested, false) })
        .collect::<FfiResult<Vec<_>>>()?;
    // The canonical list (ascending types, no duplicates), borrowing the wiped values.
    let list = cpv4_wire::AttributeList::new(
        inner
            .iter()
            .map(|a| cpv4_wire::Attribute {
                ty: u64::from(a.kind),
                value: a.value(),
            })
            .collect(),
    )
    .map_err(|_| invalid())?;
    Ok(Attribute::raw(entry.type_, list.encode()))
}

/// What `C_GetAttributeValue` puts in one entry, worked out before anything is written, so the
/// regions it will write can be checked first: the rules of PKCS#11 for one entry, the same one
/// level down in a nested template.
pub(crate) enum Fill {
    /// The attribute is sensitive, invalid or has no value: `CK_UNAVAILABLE_INFORMATION`.
    Unavailable,
    /// A NULL `pValue` asks for the length: `ulValueLen` only.
    Len(CK_ULONG),
    /// `pValue` is too short: `CK_UNAVAILABLE_INFORMATION`, and the call is
    /// `CKR_BUFFER_TOO_SMALL`.
    TooSmall,
    /// The native value, copied into `pValue` (wiped when dropped: it may be a key's value).
    Value(Zeroizing<Vec<u8>>),
    /// A nested template, filled entry by entry: the caller's entry (with the type it gets)
    /// and its fill.
    Nested(Vec<(CK_ATTRIBUTE, Fill)>),
}

impl Fill {
    /// The fill of `entry` with `value` (`None`: unavailable).
    ///
    /// # Safety
    ///
    /// For an array attribute, a non-NULL `entry.pValue` is readable for `entry.ulValueLen`
    /// bytes.
    pub(crate) unsafe fn of(entry: &CK_ATTRIBUTE, value: Option<&[u8]>) -> FfiResult<Self> {
        let Some(value) = value else {
            return Ok(Self::Unavailable);
        };
        if attribute_form(entry.type_) != AttributeForm::AttributeArray {
            let native = Zeroizing::new(to_native(entry.type_, value)?);
            let needed = args::ulong(native.len())?;
            return Ok(if entry.pValue.is_null() {
                Self::Len(needed)
            } else if entry.ulValueLen < needed {
                Self::TooSmall
            } else {
                Self::Value(native)
            });
        }
        let list = cpv4_wire::AttributeList::decode_borrowed(value)
            .map_err(|_| Error::Partial(CKR_ATTRIBUTE_VALUE_INVALID))?;
        let count = list.attributes().len();
        let needed = array_len(count)?;
        if entry.pValue.is_null() {
            return Ok(Self::Len(needed));
        }
        if entry.ulValueLen < needed {
            return Ok(Self::TooSmall);
        }
        // SAFETY: forwarded from this function's contract: `pValue` holds at least `count`
        // entries. Only shared references exist while fills are worked out.
        let nested = unsafe {
            args::slice(
                entry.pValue.cast_const().cast::<CK_ATTRIBUTE>(),
                args::ulong(count)?,
            )
        }?;
        let fills = nested
            .iter()
            .zip(list.attributes())
            .map(|(slot, attribute)| {
                let kind = CK_ATTRIBUTE_TYPE::try_from(attribute.ty)
                    .map_err(|_| Error::Partial(CKR_ATTRIBUTE_VALUE_INVALID))?;
                let slot = CK_ATTRIBUTE {
                    type_: kind,
                    ..*slot
                };
                // A nested entry is never an array itself (`Attribute::check`).
                if attribute_form(kind) == AttributeForm::AttributeArray {
                    return Err(Error::Partial(CKR_ATTRIBUTE_VALUE_INVALID));
                }
                // SAFETY: not an array attribute: nothing is read through `pValue`.
                let fill = unsafe { Self::of(&slot, Some(attribute.value)) }?;
                Ok((slot, fill))
            })
            .collect::<FfiResult<_>>()?;
        Ok(Self::Nested(fills))
    }

    /// Whether everything fit (no entry, here or nested, is too small).
    pub(crate) fn fits(&self) -> bool {
        match self {
            Self::TooSmall => false,
            Self::Nested(fills) => fills.iter().all(|(_, fill)| fill.fits()),
            Self::Unavailable | Self::Len(_) | Self::Value(_) => true,
        }
    }

    /// The regions this fill writes through `entry.pValue`: the value's bytes, or the nested
    /// entries and what they write in turn. Nothing for a length, or for what does not fit.
    pub(crate) fn regions(&self, entry: &CK_ATTRIBUTE, out: &mut Vec<args::Region>) {
        match self {
            Self::Value(native) => {
                out.push(args::region(
                    entry.pValue.cast_const().cast::<u8>(),
                    native.len(),
                ));
            }
            Self::Nested(fills) => {
                out.push(args::region(
                    entry.pValue.cast_const().cast::<CK_ATTRIBUTE>(),
                    fills.len(),
                ));
                for (slot, fill) in fills {
                    fill.regions(slot, out);
                }
            }
            Self::Unavailable | Self::Len(_) | Self::TooSmall => {}
        }
    }

    /// Writes the fill into `entry`.
    ///
    /// # Safety
    ///
    /// The regions of [`Fill::regions`] are writable and overlap neither each other nor
    /// `entry`.
    pub(crate) unsafe fn write(self, entry: &mut CK_ATTRIBUTE) -> FfiResult<()> {
        match self {
            Self::Unavailable | Self::TooSmall => entry.ulValueLen = CK_UNAVAILABLE_INFORMATION,
            Self::Len(len) => entry.ulValueLen = len,
            Self::Value(native) => {
                // SAFETY: the caller guarantees the region of `native.len()` bytes at `pValue`
                // writable, overlapping nothing else written.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        native.as_ptr(),
                        entry.pValue.cast::<u8>(),
                        native.len(),
                    );
                }
                entry.ulValueLen = args::ulong(native.len())?;
            }
            Self::Nested(fills) => {
                let count = fills.len();
                // SAFETY: the caller guarantees the region of `count` entries at `pValue`
                // writable, overlapping nothing else written.
                let nested = unsafe {
                    args::slice_mut(entry.pValue.cast::<CK_ATTRIBUTE>(), args::ulong(count)?)
                }?;
                for (slot, (filled, fill)) in nested.iter_mut().zip(fills) {
                    *slot = filled;
                    // SAFETY: forwarded from this function's contract, one level down.
                    unsafe { fill.write(slot) }?;
                }
                entry.ulValueLen = array_len(count)?;
            }
        }
        Ok(())
    }
}

/// One attribute from its native value.
// CK_ULONG is 32 bits on some platforms: the widening to u64 is not useless there.
#[allow(clippy::useless_conversion)]
pub(crate) fn from_native(kind: CK_ATTRIBUTE_TYPE, value: &[u8]) -> FfiResult<Attribute> {
    let invalid = || Error::Sim(SimError::AttributeValueInvalid(kind));
    Ok(match attribute_form(kind) {
        AttributeForm::Ulong => {
            let bytes: [u8; size_of::<CK_ULONG>()] = value.try_into().map_err(|_| invalid())?;
            Attribute::ulong(kind, CK_ULONG::from_ne_bytes(bytes))
        }
        AttributeForm::Bool => match value {
            [byte] => Attribute::bool(kind, *byte != 0),
            _ => return Err(invalid()),
        },
        AttributeForm::UlongArray => {
            let mut wire = Vec::with_capacity(value.len());
            for chunk in value.chunks(size_of::<CK_ULONG>()) {
                let bytes: [u8; size_of::<CK_ULONG>()] = chunk.try_into().map_err(|_| invalid())?;
                wire.extend_from_slice(&u64::from(CK_ULONG::from_ne_bytes(bytes)).to_be_bytes());
            }
            Attribute::bytes(kind, wire)
        }
        AttributeForm::Bytes => Attribute::bytes(kind, value.to_vec()),
        // A nested template is read by `read_entry`, never as bytes.
        AttributeForm::AttributeArray => return Err(invalid()),
    })
}

/// The native value of an attribute given in the platform-independent form.
pub(crate) fn to_native(kind: CK_ATTRIBUTE_TYPE, value: &[u8]) -> FfiResult<Vec<u8>> {
    Ok(match attribute_form(kind) {
        AttributeForm::Ulong => {
            let bytes: [u8; 8] = value
                .try_into()
                .map_err(|_| Error::Partial(CKR_ATTRIBUTE_VALUE_INVALID))?;
            CK_ULONG::from(u64::from_be_bytes(bytes))
                .to_ne_bytes()
                .to_vec()
        }
        AttributeForm::UlongArray => {
            let mut native = Vec::with_capacity(value.len());
            for chunk in value.chunks(8) {
                let bytes: [u8; 8] = chunk
                    .try_into()
                    .map_err(|_| Error::Partial(CKR_ATTRIBUTE_VALUE_INVALID))?;
                native.extend_from_slice(&CK_ULONG::from(u64::from_be_bytes(bytes)).to_ne_bytes());
            }
            native
        }
        AttributeForm::Bool | AttributeForm::Bytes => value.to_vec(),
        // Written by `Fill::write`, never as bytes.
        AttributeForm::AttributeArray => return Err(Error::Partial(CKR_ATTRIBUTE_VALUE_INVALID)),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use cpv4_wire::consts::{CKA_CLASS, CKA_LABEL, CKA_TOKEN, CKO_SECRET_KEY};

    use super::*;

    #[test]
    fn ulongs_are_native_at_the_boundary_and_big_endian_inside() {
        let native = CKO_SECRET_KEY.to_ne_bytes();
        let attr = from_native(CKA_CLASS, &native).unwrap();
        assert_eq!(attr.as_ulong(), Some(CKO_SECRET_KEY));
        assert_eq!(to_native(CKA_CLASS, attr.value()).unwrap(), native.to_vec());
        assert_eq!(from_native(CKA_TOKEN, &[1]).unwrap().as_bool(), Some(true));
        assert_eq!(from_native(CKA_LABEL, b"x").unwrap().value(), b"x");
        assert!(from_native(CKA_CLASS, &[1, 2]).is_err());
        assert!(from_native(CKA_TOKEN, &[]).is_err());
    }
}
