//! Small strict readers and a writer for the DER messages. Every length is checked against its
//! limit from the header, before the value is read or anything is allocated for it.

use der::{Decode, Encode, Header, Length, Reader, SliceReader, Tag, asn1::ObjectIdentifier};

use crate::error::{DecodeFailure, ErrorKind, Format, WireError};

pub(crate) type DResult<T> = Result<T, DecodeFailure>;

/// Runs `f` over the whole of `bytes` (one top-level SEQUENCE), refusing trailing bytes.
pub(crate) fn decode_message<T>(
    format: Format,
    bytes: &[u8],
    max: usize,
    f: impl FnOnce(&mut SliceReader<'_>) -> DResult<T>,
) -> Result<T, WireError> {
    let run = || -> DResult<T> {
        if bytes.len() > max {
            return Err(ErrorKind::TooLarge {
                len: bytes.len(),
                max,
            }
            .into());
        }
        let mut reader = SliceReader::new(bytes)?;
        let value = reader.sequence(|r| f(r))?;
        let remaining = reader.remaining_len();
        if !remaining.is_zero() {
            return Err(ErrorKind::TrailingBytes(to_usize(remaining)).into());
        }
        Ok(value)
    };
    run().map_err(|failure| WireError::new(format, failure.0))
}

/// The bytes of an encoded message, refused if they pass the format's size limit.
pub(crate) fn finish_message(
    format: Format,
    writer: DerWriter,
    max: usize,
) -> Result<Vec<u8>, WireError> {
    let bytes = writer.into_vec();
    if bytes.len() > max {
        return Err(WireError::new(
            format,
            ErrorKind::TooLarge {
                len: bytes.len(),
                max,
            },
        ));
    }
    Ok(bytes)
}

fn to_usize(length: Length) -> usize {
    usize::try_from(u32::from(length)).unwrap_or(usize::MAX)
}

pub(crate) fn u32_field<'a>(r: &mut impl Reader<'a>) -> DResult<u32> {
    Ok(u32::decode(r)?)
}

pub(crate) fn u64_field<'a>(r: &mut impl Reader<'a>) -> DResult<u64> {
    Ok(u64::decode(r)?)
}

/// An OCTET STRING of at most `max` bytes.
pub(crate) fn octets<'a>(
    r: &mut impl Reader<'a>,
    field: &'static str,
    max: usize,
) -> DResult<&'a [u8]> {
    let header = Header::decode(r)?;
    header.tag().assert_eq(Tag::OctetString)?;
    let len = to_usize(header.length());
    if len > max {
        return Err(ErrorKind::FieldTooLarge { field, len, max }.into());
    }
    Ok(r.read_slice(header.length())?)
}

/// An OCTET STRING of exactly `N` bytes.
pub(crate) fn fixed<'a, const N: usize>(
    r: &mut impl Reader<'a>,
    field: &'static str,
) -> DResult<[u8; N]> {
    let header = Header::decode(r)?;
    header.tag().assert_eq(Tag::OctetString)?;
    let found = to_usize(header.length());
    if found != N {
        return Err(ErrorKind::BadLength {
            field,
            expected: N,
            found,
        }
        .into());
    }
    let mut out = [0u8; N];
    r.read_into(&mut out)?;
    Ok(out)
}

pub(crate) fn oid<'a>(r: &mut impl Reader<'a>) -> DResult<ObjectIdentifier> {
    Ok(ObjectIdentifier::decode(r)?)
}

/// A SEQUENCE OF at most `max` items, each read by `item`.
pub(crate) fn list<'a, R: Reader<'a>, T>(
    r: &mut R,
    field: &'static str,
    max: usize,
    mut item: impl FnMut(&mut R) -> DResult<T>,
) -> DResult<Vec<T>> {
    r.sequence(|r| {
        let mut items = Vec::new();
        while !r.is_finished() {
            if items.len() == max {
                return Err(ErrorKind::TooMany { field, max }.into());
            }
            items.push(item(r)?);
        }
        Ok(items)
    })
}

/// Checks a list against its limit and for duplicates (lists are at most a few dozen entries).
pub(crate) fn check_list<T: PartialEq>(
    field: &'static str,
    items: &[T],
    max: usize,
) -> Result<(), ErrorKind> {
    if items.len() > max {
        return Err(ErrorKind::TooMany { field, max });
    }
    for (i, item) in items.iter().enumerate() {
        if items.iter().skip(i + 1).any(|other| other == item) {
            return Err(ErrorKind::Duplicate { field });
        }
    }
    Ok(())
}

/// Checks a variable-length byte field against its limit.
pub(crate) fn check_size(field: &'static str, bytes: &[u8], max: usize) -> Result<(), ErrorKind> {
    if bytes.len() > max {
        return Err(ErrorKind::FieldTooLarge {
            field,
            len: bytes.len(),
            max,
        });
    }
    Ok(())
}

/// Builds DER: each call appends one field; `sequence` wraps a nested SEQUENCE.
#[derive(Default)]
pub(crate) struct DerWriter {
    buf: Vec<u8>,
}

impl DerWriter {
    pub(crate) fn u32(&mut self, value: u32) -> &mut Self {
        self.encodable(&value)
    }

    pub(crate) fn u64(&mut self, value: u64) -> &mut Self {
        self.encodable(&value)
    }

    pub(crate) fn octets(&mut self, bytes: &[u8]) -> &mut Self {
        self.header(Tag::OctetString, bytes.len());
        self.buf.extend_from_slice(bytes);
        self
    }

    pub(crate) fn oid(&mut self, value: &ObjectIdentifier) -> &mut Self {
        self.encodable(value)
    }

    pub(crate) fn sequence(&mut self, body: impl FnOnce(&mut DerWriter)) -> &mut Self {
        let mut inner = DerWriter::default();
        body(&mut inner);
        self.header(Tag::Sequence, inner.buf.len());
        self.buf.extend_from_slice(&inner.buf);
        self
    }

    pub(crate) fn u32_list(&mut self, values: &[u32]) -> &mut Self {
        self.sequence(|w| {
            for value in values {
                w.u32(*value);
            }
        })
    }

    pub(crate) fn octets_list<B: AsRef<[u8]>>(&mut self, values: &[B]) -> &mut Self {
        self.sequence(|w| {
            for value in values {
                w.octets(value.as_ref());
            }
        })
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    fn header(&mut self, tag: Tag, len: usize) {
        // Lengths are bounded by the message limits (checked before encoding), far below the
        // 256 MiB where DER lengths stop fitting der's `Length`.
        let length = u32::try_from(len).map(Length::new).unwrap_or(Length::MAX);
        self.encodable(&Header::new(tag, length));
    }

    fn encodable(&mut self, value: &impl Encode) -> &mut Self {
        // Encoding integers, OIDs and headers into a Vec cannot fail for bounded values.
        let _ = value.encode_to_vec(&mut self.buf);
        self
    }
}
