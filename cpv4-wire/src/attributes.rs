//! Object encoding 1: an object's attributes as a canonical list.
//!
//! ```text
//! AttributeList := Attribute*            -- strictly ascending type, at most 64 entries
//! Attribute     := type u64 | length u32 | value[length]   (big-endian)
//! ```
//!
//! Values take a platform-independent form ([`attribute_form`]): a `CK_ULONG` is 8 bytes
//! big-endian, a `CK_BBOOL` one byte 0 or 1, an array of attributes (the wrap, unwrap and
//! derive templates) an attribute list of its own that holds no array of attributes, anything
//! else its bytes (at most 16 KiB).
//! `CKA_OUID` travels like any other attribute, so a clone keeps its source's OUID.

use bytes::{BufMut, Bytes};
use nom::{
    IResult, Parser,
    bytes::complete::take,
    number::complete::{be_u32, be_u64},
};

use crate::consts::{AttributeForm, attribute_form};
use crate::error::{ErrorKind, Format, WireError};
use crate::limits::{MAX_ATTRIBUTE_COUNT, MAX_ATTRIBUTE_SIZE};

/// One attribute: its type and its value in wire form.
///
/// `Debug` shows `CK_ULONG` and `CK_BBOOL` values but only the length of byte values, which
/// may be key material (`CKA_VALUE` of a secret or private key).
#[derive(Clone, PartialEq, Eq)]
pub struct Attribute<V = Bytes> {
    /// The attribute type (`CKA_*`).
    pub ty: u64,
    /// The value in wire form.
    pub value: V,
}

impl<V: AsRef<[u8]>> core::fmt::Debug for Attribute<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut out = f.debug_struct("Attribute");
        out.field("ty", &format_args!("0x{:X}", self.ty));
        let value = self.value.as_ref();
        let form = crate::consts::CkAttributeType::try_from(self.ty)
            .map_or(AttributeForm::Bytes, attribute_form);
        match (form, value) {
            (AttributeForm::Ulong, _) if value.len() == 8 => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(value);
                out.field("value", &u64::from_be_bytes(bytes))
            }
            (AttributeForm::Bool, [byte]) => out.field("value", &(*byte != 0)),
            _ => out.field("len", &value.len()),
        };
        out.finish()
    }
}

impl<V: AsRef<[u8]>> Attribute<V> {
    /// Checks the value against its type's form, as a list does for each of its attributes
    /// (for an array of attributes: a list of its own, with no array inside).
    pub fn check(&self) -> Result<(), WireError> {
        check_value(self.ty, self.value.as_ref(), false).map_err(error)
    }
}

impl Attribute<Bytes> {
    /// A `CK_ULONG` attribute.
    pub fn ulong(ty: u64, value: u64) -> Self {
        Self {
            ty,
            value: Bytes::copy_from_slice(&value.to_be_bytes()),
        }
    }

    /// A `CK_BBOOL` attribute.
    pub fn bool(ty: u64, value: bool) -> Self {
        Self {
            ty,
            value: Bytes::copy_from_slice(&[u8::from(value)]),
        }
    }

    /// A byte-string attribute.
    pub fn bytes(ty: u64, value: impl Into<Bytes>) -> Self {
        Self {
            ty,
            value: value.into(),
        }
    }
}

/// An object's attributes, in ascending type order.
///
/// `V` is [`Bytes`] when decoded with [`AttributeList::decode`] (values share the input buffer)
/// and `&[u8]` with [`AttributeList::decode_borrowed`] (for plaintext key material held in a
/// zeroizing buffer that the caller owns).
#[derive(Clone, PartialEq, Eq)]
pub struct AttributeList<V = Bytes> {
    attributes: Vec<Attribute<V>>,
}

impl<V: AsRef<[u8]>> core::fmt::Debug for AttributeList<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(&self.attributes).finish()
    }
}

impl<V: AsRef<[u8]>> AttributeList<V> {
    /// A list from attributes in any order; refuses duplicates, bad value forms and lists past
    /// the limits.
    pub fn new(mut attributes: Vec<Attribute<V>>) -> Result<Self, WireError> {
        attributes.sort_by_key(|attribute| attribute.ty);
        let list = Self { attributes };
        list.check().map_err(error)?;
        Ok(list)
    }

    /// The attributes, in ascending type order.
    pub fn attributes(&self) -> &[Attribute<V>] {
        &self.attributes
    }

    /// The value of attribute `ty`, in wire form.
    pub fn get(&self, ty: impl Into<u64>) -> Option<&[u8]> {
        let ty = ty.into();
        self.attributes
            .binary_search_by_key(&ty, |attribute| attribute.ty)
            .ok()
            .and_then(|index| self.attributes.get(index))
            .map(|attribute| attribute.value.as_ref())
    }

    /// The value of a `CK_ULONG` attribute.
    pub fn get_ulong(&self, ty: impl Into<u64>) -> Option<u64> {
        self.get(ty)
            .and_then(|value| <[u8; 8]>::try_from(value).ok())
            .map(u64::from_be_bytes)
    }

    /// The value of a `CK_BBOOL` attribute.
    pub fn get_bool(&self, ty: impl Into<u64>) -> Option<bool> {
        match self.get(ty) {
            Some([0]) => Some(false),
            Some([1]) => Some(true),
            _ => None,
        }
    }

    /// The encoded list.
    pub fn encode(&self) -> Vec<u8> {
        let len = self
            .attributes
            .iter()
            .map(|a| 12 + a.value.as_ref().len())
            .sum();
        let mut out = Vec::with_capacity(len);
        for attribute in &self.attributes {
            let value = attribute.value.as_ref();
            out.put_u64(attribute.ty);
            // Values are at most MAX_ATTRIBUTE_SIZE bytes (checked when the list was made).
            out.put_u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
            out.put_slice(value);
        }
        out
    }

    fn check(&self) -> Result<(), ErrorKind> {
        self.check_at(false)
    }

    /// Checks the list; `nested` for the list inside an array attribute, which may not hold
    /// another.
    fn check_at(&self, nested: bool) -> Result<(), ErrorKind> {
        if self.attributes.len() > MAX_ATTRIBUTE_COUNT {
            return Err(ErrorKind::TooMany {
                field: "attributes",
                max: MAX_ATTRIBUTE_COUNT,
            });
        }
        let mut previous: Option<u64> = None;
        for attribute in &self.attributes {
            match previous {
                Some(ty) if ty == attribute.ty => {
                    return Err(ErrorKind::Duplicate {
                        field: "attributes",
                    });
                }
                Some(ty) if ty > attribute.ty => {
                    return Err(ErrorKind::OutOfOrder {
                        field: "attributes",
                    });
                }
                _ => {}
            }
            previous = Some(attribute.ty);
            check_value(attribute.ty, attribute.value.as_ref(), nested)?;
        }
        Ok(())
    }
}

fn check_value(ty: u64, value: &[u8], nested: bool) -> Result<(), ErrorKind> {
    if value.len() > MAX_ATTRIBUTE_SIZE {
        return Err(ErrorKind::FieldTooLarge {
            field: "attribute.value",
            len: value.len(),
            max: MAX_ATTRIBUTE_SIZE,
        });
    }
    // Attribute types past the platform's CK_ULONG have no PKCS#11 meaning: keep them as bytes.
    let form =
        crate::consts::CkAttributeType::try_from(ty).map_or(AttributeForm::Bytes, attribute_form);
    match form {
        AttributeForm::Ulong if value.len() != 8 => Err(ErrorKind::BadLength {
            field: "attribute.value",
            expected: 8,
            found: value.len(),
        }),
        AttributeForm::Bool if value.len() != 1 => Err(ErrorKind::BadLength {
            field: "attribute.value",
            expected: 1,
            found: value.len(),
        }),
        AttributeForm::UlongArray if value.len() % 8 != 0 => Err(ErrorKind::BadLength {
            field: "attribute.value",
            expected: value.len() / 8 * 8,
            found: value.len(),
        }),
        AttributeForm::Bool if !matches!(value, [0] | [1]) => Err(ErrorKind::InvalidValue {
            field: "attribute.value",
            value: value.first().copied().unwrap_or_default().into(),
        }),
        AttributeForm::AttributeArray if nested => Err(ErrorKind::InvalidValue {
            field: "attribute.value",
            value: ty,
        }),
        AttributeForm::AttributeArray => {
            let attributes = parse(value, |value| value).map_err(|e| e.kind().clone())?;
            AttributeList { attributes }.check_at(true)
        }
        _ => Ok(()),
    }
}

fn error(kind: ErrorKind) -> WireError {
    WireError::new(Format::AttributeList, kind)
}

fn entry(input: &[u8]) -> IResult<&[u8], (u64, &[u8])> {
    let (input, (ty, len)) = (be_u64, be_u32).parse(input)?;
    let (input, value) = take(len).parse(input)?;
    Ok((input, (ty, value)))
}

/// Parses entries, checking each length against the limit before taking it.
fn parse<'a, V>(
    mut input: &'a [u8],
    mut value: impl FnMut(&'a [u8]) -> V,
) -> Result<Vec<Attribute<V>>, WireError> {
    let mut attributes = Vec::new();
    while !input.is_empty() {
        if attributes.len() == MAX_ATTRIBUTE_COUNT {
            return Err(error(ErrorKind::TooMany {
                field: "attributes",
                max: MAX_ATTRIBUTE_COUNT,
            }));
        }
        if let Ok((_, (_, len))) = (be_u64::<_, ()>, be_u32).parse(input) {
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if len > MAX_ATTRIBUTE_SIZE {
                return Err(error(ErrorKind::FieldTooLarge {
                    field: "attribute.value",
                    len,
                    max: MAX_ATTRIBUTE_SIZE,
                }));
            }
        }
        let (rest, (ty, bytes)) = entry(input).map_err(|_| error(ErrorKind::Truncated))?;
        attributes.push(Attribute {
            ty,
            value: value(bytes),
        });
        input = rest;
    }
    Ok(attributes)
}

impl AttributeList<Bytes> {
    /// Decodes a list; the values share `input`'s buffer.
    pub fn decode(input: &Bytes) -> Result<Self, WireError> {
        let attributes = parse(input, |value| input.slice_ref(value))?;
        let list = Self { attributes };
        list.check().map_err(error)?;
        Ok(list)
    }
}

impl<'a> AttributeList<&'a [u8]> {
    /// Decodes a list whose values borrow from `input`.
    pub fn decode_borrowed(input: &'a [u8]) -> Result<Self, WireError> {
        let attributes = parse(input, |value| value)?;
        let list = Self { attributes };
        list.check().map_err(error)?;
        Ok(list)
    }
}
