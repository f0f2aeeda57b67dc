//! The key-blob envelope: a fixed header that the body's key is bound to, and the wrapped body.
//!
//! ```text
//! offset size field
//!      0    4 magic          "CPKB"
//!      4    1 version        2 (the protocol version)
//!      5    1 direction      1 = responder to initiator, 2 = initiator to responder
//!      6    1 elementType    0 = CK_CRYPTOKI_ELEMENT, 1 = CK_PARAM_ELEMENT
//!      7    4 encoding       the negotiated object encoding (1 or 2: `ObjectEncoding`)
//!     11   16 sessionUid
//!     27    8 sequence       per-direction sequence number, from 0
//!     35    4 bodyLength     16 or more, a multiple of 8, the blob at most 64,000 bytes
//!     39    n body           AES-256-KWP (RFC 5649) of the encoded object
//! ```
//!
//! All integers are big-endian. The first 35 bytes are the *header* ([`BlobHeader::to_bytes`]):
//! the key that wraps the body is derived from them, so changing any of them makes the body fail
//! to unwrap. Decoding shares the input buffer: the body is a slice of it, not a copy.

use bytes::{BufMut, Bytes, BytesMut};
use nom::{
    IResult, Parser,
    bytes::complete::{tag, take},
    number::complete::{be_u8, be_u32, be_u64},
};

use crate::consts::cpv4::{
    DIRECTION_INITIATOR_TO_RESPONDER, DIRECTION_RESPONDER_TO_INITIATOR, PROTOCOL_VERSION,
};
use crate::consts::{CK_CRYPTOKI_ELEMENT, CK_PARAM_ELEMENT, CkUlong};
use crate::error::{ErrorKind, Format, WireError};
use crate::limits::MAX_BLOB_SIZE;
use crate::message::SessionUid;

/// The magic that opens every key blob.
pub const BLOB_MAGIC: [u8; 4] = *b"CPKB";
/// Smallest body: AES-KWP of 1 to 8 bytes is 16 bytes.
pub const MIN_BODY_LEN: usize = 16;

/// Which way a blob travels within a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the responder (the source of `CA_MigrateKeys`) to the initiator (the target).
    ResponderToInitiator,
    /// From the initiator to the responder.
    InitiatorToResponder,
}

impl Direction {
    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Direction::ResponderToInitiator => DIRECTION_RESPONDER_TO_INITIATOR,
            Direction::InitiatorToResponder => DIRECTION_INITIATOR_TO_RESPONDER,
        }
    }

    /// The direction of a wire value, if it is one.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            DIRECTION_RESPONDER_TO_INITIATOR => Some(Direction::ResponderToInitiator),
            DIRECTION_INITIATOR_TO_RESPONDER => Some(Direction::InitiatorToResponder),
            _ => None,
        }
    }
}

/// The two element types CPv4 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElementType {
    /// An ordinary PKCS#11 object (`CK_CRYPTOKI_ELEMENT`).
    Cryptoki,
    /// A parameter object such as the SMK (`CK_PARAM_ELEMENT`).
    Param,
}

impl ElementType {
    /// The `objectType` value of the API.
    pub fn to_ulong(self) -> CkUlong {
        match self {
            ElementType::Cryptoki => CK_CRYPTOKI_ELEMENT,
            ElementType::Param => CK_PARAM_ELEMENT,
        }
    }

    /// The element type of an API `objectType`, if CPv4 carries it.
    pub fn from_ulong(value: CkUlong) -> Option<Self> {
        match value {
            CK_CRYPTOKI_ELEMENT => Some(ElementType::Cryptoki),
            CK_PARAM_ELEMENT => Some(ElementType::Param),
            _ => None,
        }
    }
}

/// The authenticated header of a key blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    /// Which way the blob travels.
    pub direction: Direction,
    /// What kind of element the body holds.
    pub element_type: ElementType,
    /// The negotiated object encoding of the body.
    pub encoding: u32,
    /// The session the blob belongs to.
    pub session_uid: SessionUid,
    /// The per-direction sequence number.
    pub sequence: u64,
}

impl BlobHeader {
    /// Length of the header in bytes.
    pub const LEN: usize = 35;

    /// The header's bytes: what the body's key is bound to.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        let mut buf = &mut out[..];
        buf.put_slice(&BLOB_MAGIC);
        buf.put_u8(blob_version());
        buf.put_u8(self.direction.to_u8());
        buf.put_u8(element_type_byte(self.element_type));
        buf.put_u32(self.encoding);
        buf.put_slice(self.session_uid.as_bytes());
        buf.put_u64(self.sequence);
        out
    }
}

fn blob_version() -> u8 {
    // The protocol version is small; it fits the header's one byte by construction.
    u8::try_from(PROTOCOL_VERSION).unwrap_or(u8::MAX)
}

fn element_type_byte(element_type: ElementType) -> u8 {
    match element_type {
        ElementType::Cryptoki => 0,
        ElementType::Param => 1,
    }
}

/// A key blob: header and wrapped body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBlob {
    /// The authenticated header.
    pub header: BlobHeader,
    /// The wrapped body (AES-256-KWP output).
    pub body: Bytes,
}

/// The raw fields of an envelope, before their values are checked.
struct RawEnvelope<'a> {
    version: u8,
    direction: u8,
    element_type: u8,
    encoding: u32,
    session_uid: &'a [u8],
    sequence: u64,
    body: &'a [u8],
}

fn raw_envelope(input: &[u8]) -> IResult<&[u8], RawEnvelope<'_>> {
    let (input, (_, version, direction, element_type, encoding, session_uid, sequence)) = (
        tag(&BLOB_MAGIC[..]),
        be_u8,
        be_u8,
        be_u8,
        be_u32,
        take(16usize),
        be_u64,
    )
        .parse(input)?;
    let (input, body_len) = be_u32(input)?;
    let (input, body) = take(body_len).parse(input)?;
    Ok((
        input,
        RawEnvelope {
            version,
            direction,
            element_type,
            encoding,
            session_uid,
            sequence,
            body,
        },
    ))
}

impl KeyBlob {
    /// Decodes a key blob; the body shares `input`'s buffer.
    pub fn decode(input: &Bytes) -> Result<Self, WireError> {
        let error = |kind| WireError::new(Format::BlobEnvelope, kind);
        if input.len() > MAX_BLOB_SIZE {
            return Err(error(ErrorKind::TooLarge {
                len: input.len(),
                max: MAX_BLOB_SIZE,
            }));
        }
        // A short input that matches the start of the magic is truncated, not foreign.
        let prefix = input.get(..BLOB_MAGIC.len()).unwrap_or(input);
        if !BLOB_MAGIC.starts_with(prefix) {
            return Err(error(ErrorKind::BadMagic));
        }
        let (rest, raw) = raw_envelope(input).map_err(|_| error(ErrorKind::Truncated))?;
        if !rest.is_empty() {
            return Err(error(ErrorKind::TrailingBytes(rest.len())));
        }
        if u32::from(raw.version) != PROTOCOL_VERSION {
            return Err(error(ErrorKind::UnsupportedVersion(raw.version.into())));
        }
        let direction =
            Direction::from_u8(raw.direction).ok_or(error(ErrorKind::InvalidValue {
                field: "direction",
                value: raw.direction.into(),
            }))?;
        let element_type = match raw.element_type {
            0 => ElementType::Cryptoki,
            1 => ElementType::Param,
            other => {
                return Err(error(ErrorKind::InvalidValue {
                    field: "elementType",
                    value: other.into(),
                }));
            }
        };
        check_body_len(raw.body.len()).map_err(error)?;
        let header = BlobHeader {
            direction,
            element_type,
            encoding: raw.encoding,
            session_uid: SessionUid::try_from(raw.session_uid).map_err(error)?,
            sequence: raw.sequence,
        };
        Ok(Self {
            header,
            body: input.slice_ref(raw.body),
        })
    }

    /// Encodes the blob; refuses a body its decoder would refuse.
    pub fn encode(&self) -> Result<Bytes, WireError> {
        check_body_len(self.body.len())
            .map_err(|kind| WireError::new(Format::BlobEnvelope, kind))?;
        let mut out = BytesMut::with_capacity(Self::encoded_len(self.body.len()));
        out.put_slice(&self.header.to_bytes());
        // check_body_len bounds the body far below u32::MAX.
        out.put_u32(u32::try_from(self.body.len()).unwrap_or(u32::MAX));
        out.put_slice(&self.body);
        Ok(out.freeze())
    }

    /// The encoded size of a blob whose body is `body_len` bytes.
    pub fn encoded_len(body_len: usize) -> usize {
        BlobHeader::LEN + 4 + body_len
    }

    /// The largest body a blob may carry.
    pub const MAX_BODY_LEN: usize = MAX_BLOB_SIZE - BlobHeader::LEN - 4;
}

fn check_body_len(len: usize) -> Result<(), ErrorKind> {
    if len > KeyBlob::MAX_BODY_LEN {
        return Err(ErrorKind::FieldTooLarge {
            field: "body",
            len,
            max: KeyBlob::MAX_BODY_LEN,
        });
    }
    if len < MIN_BODY_LEN || len % 8 != 0 {
        return Err(ErrorKind::InvalidValue {
            field: "bodyLength",
            value: len as u64,
        });
    }
    Ok(())
}
