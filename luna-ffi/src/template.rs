//! Attribute templates: native `CK_ATTRIBUTE` arrays to the simulator's [`Attribute`]s and
//! back. The simulator keeps values in the platform-independent form (`CK_ULONG` as 8 bytes
//! big-endian, `CK_BBOOL` as one byte 0 or 1, see `cpv4_wire::consts::attribute_form`); the C
//! side uses native `CK_ULONG`s.

use cpv4_wire::consts::{AttributeForm, CKR_ATTRIBUTE_VALUE_INVALID, attribute_form};
use luna_sim::{Attribute, SimError};

use crate::args;
use crate::guard::{Error, FfiResult};
use crate::types::{CK_ATTRIBUTE, CK_ATTRIBUTE_TYPE, CK_ULONG};

/// Reads a template of `count` attributes.
///
/// # Safety
///
/// A non-NULL `template` must point to `count` readable `CK_ATTRIBUTE`s whose non-NULL
/// `pValue`s are readable for `ulValueLen` bytes.
pub(crate) unsafe fn read(
    template: *const CK_ATTRIBUTE,
    count: CK_ULONG,
) -> FfiResult<Vec<Attribute>> {
    // SAFETY: forwarded from this function's contract.
    let entries = unsafe { args::slice(template, count) }?;
    entries
        .iter()
        .map(|entry| {
            // SAFETY: forwarded from this function's contract.
            let value =
                unsafe { args::slice(entry.pValue.cast::<u8>().cast_const(), entry.ulValueLen) }?;
            from_native(entry.type_, value)
        })
        .collect()
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
