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

/// Writes an array attribute's `value` (an attribute list) into the caller's nested template,
/// under `C_GetAttributeValue`'s rules one level down: a NULL `pValue` gets the nested
/// template's size; one too small gets `CK_UNAVAILABLE_INFORMATION`; otherwise each nested
/// entry gets its type and, as an outer entry would, its value or its length. Returns whether
/// everything fit.
///
/// # Safety
///
/// A non-NULL `entry.pValue` is writable for `entry.ulValueLen` bytes, and its entries' non-NULL
/// `pValue`s for their `ulValueLen` bytes.
pub(crate) unsafe fn write_array(entry: &mut CK_ATTRIBUTE, value: &[u8]) -> FfiResult<bool> {
    let list = cpv4_wire::AttributeList::decode_borrowed(value)
        .map_err(|_| Error::Partial(CKR_ATTRIBUTE_VALUE_INVALID))?;
    let count = list.attributes().len();
    let needed = array_len(count)?;
    if entry.pValue.is_null() {
        entry.ulValueLen = needed;
        return Ok(true);
    }
    if entry.ulValueLen < needed {
        entry.ulValueLen = CK_UNAVAILABLE_INFORMATION;
        return Ok(false);
    }
    // SAFETY: forwarded from this function's contract: `pValue` holds at least `count` entries.
    let nested =
        unsafe { args::slice_mut(entry.pValue.cast::<CK_ATTRIBUTE>(), args::ulong(count)?) }?;
    let mut complete = true;
    for (slot, attribute) in nested.iter_mut().zip(list.attributes()) {
        let kind = CK_ATTRIBUTE_TYPE::try_from(attribute.ty)
            .map_err(|_| Error::Partial(CKR_ATTRIBUTE_VALUE_INVALID))?;
        slot.type_ = kind;
        let native = to_native(kind, attribute.value)?;
        let len = args::ulong(native.len())?;
        if slot.pValue.is_null() {
            slot.ulValueLen = len;
        } else if slot.ulValueLen >= len {
            // SAFETY: the caller guarantees `pValue` is writable for `ulValueLen` bytes, and
            // `native.len() <= ulValueLen`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    native.as_ptr(),
                    slot.pValue.cast::<u8>(),
                    native.len(),
                );
            }
            slot.ulValueLen = len;
        } else {
            slot.ulValueLen = CK_UNAVAILABLE_INFORMATION;
            complete = false;
        }
    }
    entry.ulValueLen = needed;
    Ok(complete)
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
        // Written by `write_array`, never as bytes.
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
