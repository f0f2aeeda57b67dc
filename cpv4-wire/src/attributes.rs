//! Object encodings 1 and 2: an object's attributes as a canonical list.
//!
//! ```text
//! AttributeList := Attribute*            -- strictly ascending type, at most 64 entries
//! Attribute     := type u64 | length u32 | value[length]   (big-endian)      -- encoding 1
//! Attribute     := step varint | length varint | value[length]              -- encoding 2
//! ```
//!
//! Encoding 2 is encoding 1 made dense: a varint is unsigned LEB128 in its shortest form, and
//! `step` is the first type itself, then each type less the previous one less one (the order
//! is strict, so a list cannot say a type twice). The 31 attributes of an AES key take 174
//! bytes instead of 475, and a key blob's body is wrapped in as many fewer AES-KWP rounds.
//!
//! Values take a platform-independent form ([`attribute_form`]), the same in both encodings: a
//! `CK_ULONG` is 8 bytes big-endian, a `CK_BBOOL` one byte 0 or 1, an array of attributes (the
//! wrap, unwrap and derive templates) an encoding-1 list of its own that holds no array of
//! attributes, anything else its bytes (at most 16 KiB).
//! `CKA_OUID` travels like any other attribute, so a clone keeps its source's OUID.

use bytes::{BufMut, Bytes};
use nom::{
    Parser,
    bytes::complete::take,
    number::complete::{be_u32, be_u64},
};

use crate::consts::cpv4::{ENCODING_ATTRIBUTE_LIST_V1, ENCODING_COMPACT_ATTRIBUTE_LIST};
use crate::consts::{AttributeForm, attribute_form};
use crate::error::{ErrorKind, Format, WireError};
use crate::limits::{MAX_ATTRIBUTE_COUNT, MAX_ATTRIBUTE_SIZE};

/// How a key blob's payload lays out the object's attributes (the negotiated encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectEncoding {
    /// Encoding 1: each type a `u64` and each length a `u32`, big-endian.
    AttributeList,
    /// Encoding 2: each type as its step from the previous one, and each length, as varints.
    CompactAttributeList,
}

impl ObjectEncoding {
    /// The encoding of identifier `id` (protocol.md 3.6), if this implementation knows it.
    pub fn from_id(id: u32) -> Option<Self> {
        match id {
            ENCODING_ATTRIBUTE_LIST_V1 => Some(Self::AttributeList),
            ENCODING_COMPACT_ATTRIBUTE_LIST => Some(Self::CompactAttributeList),
            _ => None,
        }
    }

    /// The encoding's identifier, as negotiated and as a key blob's header carries it.
    pub fn id(self) -> u32 {
        match self {
            Self::AttributeList => ENCODING_ATTRIBUTE_LIST_V1,
            Self::CompactAttributeList => ENCODING_COMPACT_ATTRIBUTE_LIST,
        }
    }
}

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

    /// The encoded list, in encoding 1 (the form of a template inside an attribute value).
    pub fn encode(&self) -> Vec<u8> {
        self.encode_as(ObjectEncoding::AttributeList)
    }

    /// The encoded list, in `encoding`. The buffer is sized exactly first, so it never grows:
    /// a growing `Vec` would free a copy of the values (key material) without wiping it.
    pub fn encode_as(&self, encoding: ObjectEncoding) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len(encoding));
        let mut previous: Option<u64> = None;
        for attribute in &self.attributes {
            let value = attribute.value.as_ref();
            match encoding {
                ObjectEncoding::AttributeList => {
                    out.put_u64(attribute.ty);
                    // Values are at most MAX_ATTRIBUTE_SIZE bytes (checked when the list was
                    // made).
                    out.put_u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
                }
                ObjectEncoding::CompactAttributeList => {
                    put_varint(&mut out, step(previous, attribute.ty));
                    put_varint(&mut out, len_u64(value));
                }
            }
            previous = Some(attribute.ty);
            out.put_slice(value);
        }
        out
    }

    /// The length of [`AttributeList::encode_as`]'s output.
    pub fn encoded_len(&self, encoding: ObjectEncoding) -> usize {
        let mut previous: Option<u64> = None;
        let mut len = 0usize;
        for attribute in &self.attributes {
            let value = attribute.value.as_ref();
            let header = match encoding {
                ObjectEncoding::AttributeList => 12,
                ObjectEncoding::CompactAttributeList => {
                    varint_len(step(previous, attribute.ty)) + varint_len(len_u64(value))
                }
            };
            previous = Some(attribute.ty);
            // At most 64 attributes of 16 KiB and 13 bytes each: no overflow.
            len = len.saturating_add(header + value.len());
        }
        len
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
            let attributes = parse(value, ObjectEncoding::AttributeList, |value| value)
                .map_err(|e| e.kind().clone())?;
            AttributeList { attributes }.check_at(true)
        }
        _ => Ok(()),
    }
}

fn error(kind: ErrorKind) -> WireError {
    WireError::new(Format::AttributeList, kind)
}

/// What encoding 2 writes for type `ty` after `previous`. Types are strictly ascending
/// (checked when the list was made).
fn step(previous: Option<u64>, ty: u64) -> u64 {
    previous.map_or(ty, |previous| ty.saturating_sub(previous).saturating_sub(1))
}

fn len_u64(value: &[u8]) -> u64 {
    u64::try_from(value.len()).unwrap_or(u64::MAX)
}

/// How many bytes `value` takes as a varint (as the encoder writes it).
fn varint_len(value: u64) -> usize {
    unsigned_varint::encode::u64(value, &mut unsigned_varint::encode::u64_buffer()).len()
}

fn put_varint(out: &mut Vec<u8>, value: u64) {
    let mut buffer = unsigned_varint::encode::u64_buffer();
    out.put_slice(unsigned_varint::encode::u64(value, &mut buffer));
}

/// Reads a varint in the one form its value has: the shortest, with no bit past 64.
fn varint<'a>(input: &'a [u8], field: &'static str) -> Result<(u64, &'a [u8]), ErrorKind> {
    let (value, rest) = unsigned_varint::decode::u64(input).map_err(|e| match e {
        unsigned_varint::decode::Error::Insufficient => ErrorKind::Truncated,
        _ => ErrorKind::NotCanonical { field },
    })?;
    // The decoder drops bits past 64 of a tenth byte: re-encoding finds them.
    let mut buffer = unsigned_varint::encode::u64_buffer();
    let shortest = unsigned_varint::encode::u64(value, &mut buffer);
    if input.get(..input.len() - rest.len()) != Some(shortest) {
        return Err(ErrorKind::NotCanonical { field });
    }
    Ok((value, rest))
}

/// Reads one entry's type and length; `previous` is the type of the entry before it.
fn entry_header(
    input: &[u8],
    encoding: ObjectEncoding,
    previous: Option<u64>,
) -> Result<(u64, usize, &[u8]), ErrorKind> {
    let (ty, len, rest) = match encoding {
        ObjectEncoding::AttributeList => {
            let (rest, (ty, len)) = (be_u64::<_, ()>, be_u32)
                .parse(input)
                .map_err(|_| ErrorKind::Truncated)?;
            (ty, u64::from(len), rest)
        }
        ObjectEncoding::CompactAttributeList => {
            let (step, rest) = varint(input, "attribute.type")?;
            let (len, rest) = varint(rest, "attribute.length")?;
            let ty = match previous {
                None => Some(step),
                Some(previous) => previous.checked_add(step).and_then(|ty| ty.checked_add(1)),
            };
            let ty = ty.ok_or(ErrorKind::InvalidValue {
                field: "attribute.type",
                value: step,
            })?;
            (ty, len, rest)
        }
    };
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > MAX_ATTRIBUTE_SIZE {
        return Err(ErrorKind::FieldTooLarge {
            field: "attribute.value",
            len,
            max: MAX_ATTRIBUTE_SIZE,
        });
    }
    Ok((ty, len, rest))
}

/// Parses entries, checking each length against the limit before taking it.
fn parse<'a, V>(
    mut input: &'a [u8],
    encoding: ObjectEncoding,
    mut value: impl FnMut(&'a [u8]) -> V,
) -> Result<Vec<Attribute<V>>, WireError> {
    let mut attributes: Vec<Attribute<V>> = Vec::new();
    while !input.is_empty() {
        if attributes.len() == MAX_ATTRIBUTE_COUNT {
            return Err(error(ErrorKind::TooMany {
                field: "attributes",
                max: MAX_ATTRIBUTE_COUNT,
            }));
        }
        let previous = attributes.last().map(|attribute| attribute.ty);
        let (ty, len, rest) = entry_header(input, encoding, previous).map_err(error)?;
        let (rest, bytes) = take::<_, _, ()>(len)
            .parse(rest)
            .map_err(|_| error(ErrorKind::Truncated))?;
        attributes.push(Attribute {
            ty,
            value: value(bytes),
        });
        input = rest;
    }
    Ok(attributes)
}

impl AttributeList<Bytes> {
    /// Decodes a list in encoding 1; the values share `input`'s buffer.
    pub fn decode(input: &Bytes) -> Result<Self, WireError> {
        Self::decode_as(input, ObjectEncoding::AttributeList)
    }

    /// Decodes a list in `encoding`; the values share `input`'s buffer.
    pub fn decode_as(input: &Bytes, encoding: ObjectEncoding) -> Result<Self, WireError> {
        let attributes = parse(input, encoding, |value| input.slice_ref(value))?;
        let list = Self { attributes };
        list.check().map_err(error)?;
        Ok(list)
    }
}

impl<'a> AttributeList<&'a [u8]> {
    /// Decodes a list in encoding 1 whose values borrow from `input`.
    pub fn decode_borrowed(input: &'a [u8]) -> Result<Self, WireError> {
        Self::decode_borrowed_as(input, ObjectEncoding::AttributeList)
    }

    /// Decodes a list in `encoding` whose values borrow from `input`.
    pub fn decode_borrowed_as(
        input: &'a [u8],
        encoding: ObjectEncoding,
    ) -> Result<Self, WireError> {
        let attributes = parse(input, encoding, |value| value)?;
        let list = Self { attributes };
        list.check().map_err(error)?;
        Ok(list)
    }
}
