//! Decoding errors: what went wrong ([`ErrorKind`]), in which format ([`Format`]), and the
//! PKCS#11 return code it is reported as ([`WireError::rv`]).

use crate::consts::{
    CKR_CPV4_MSG_ERROR, CKR_SESSION_NEGOTIATION_INVALID, CKR_SESSION_NEGOTIATION_NO_ATTESTATION,
    CkRv,
};

/// The encoded format a decoder was reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Offer (step 2).
    Offer,
    /// The Accept (step 3).
    Accept,
    /// The Confirm (step 4).
    Confirm,
    /// A key-blob envelope.
    BlobEnvelope,
    /// An object attribute list (encoding 1 or 2).
    AttributeList,
}

/// What a decoder refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The DER is malformed or not canonical (wrong tag, bad length, non-minimal integer...).
    #[error("malformed DER: {0}")]
    Der(der::ErrorKind),
    /// The input ends before the value does.
    #[error("input is truncated")]
    Truncated,
    /// Bytes follow the end of the value.
    #[error("{0} trailing byte(s) after the value")]
    TrailingBytes(usize),
    /// The whole input is larger than the format allows.
    #[error("input of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The documented limit.
        max: usize,
    },
    /// A list has more entries than the format allows.
    #[error("{field}: more than {max} entries")]
    TooMany {
        /// The field.
        field: &'static str,
        /// The documented limit.
        max: usize,
    },
    /// A variable-length field is longer than the format allows.
    #[error("{field}: {len} bytes exceeds the limit of {max}")]
    FieldTooLarge {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The documented limit.
        max: usize,
    },
    /// A fixed-length field has the wrong length.
    #[error("{field}: expected {expected} bytes, found {found}")]
    BadLength {
        /// The field.
        field: &'static str,
        /// The required length.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A list holds the same value twice.
    #[error("{field}: duplicate entry")]
    Duplicate {
        /// The field.
        field: &'static str,
    },
    /// Entries that must be in ascending order are not.
    #[error("{field}: entries out of order")]
    OutOfOrder {
        /// The field.
        field: &'static str,
    },
    /// A field that may not be empty is empty.
    #[error("{field}: empty")]
    Empty {
        /// The field.
        field: &'static str,
    },
    /// The protocol version is not one this implementation speaks.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u32),
    /// The message carries another step than the one expected.
    #[error("wrong step: expected {expected}, found {found}")]
    WrongStep {
        /// The step this decoder reads.
        expected: u32,
        /// The step in the message.
        found: u32,
    },
    /// A field holds a value outside its set (an unknown PSK mode, direction or element type).
    #[error("{field}: invalid value {value}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// The key-blob magic is wrong.
    #[error("not a CPv4 key blob (bad magic)")]
    BadMagic,
    /// A varint is not the one form of its value: longer than needed, or with bits past 64.
    #[error("{field}: not the shortest varint of a 64-bit value")]
    NotCanonical {
        /// The field.
        field: &'static str,
    },
}

/// A decoding error: the format being read and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{format:?}: {kind}")]
pub struct WireError {
    format: Format,
    kind: ErrorKind,
}

impl WireError {
    /// An error of `kind` while reading `format`.
    pub fn new(format: Format, kind: ErrorKind) -> Self {
        Self { format, kind }
    }

    /// The format being decoded.
    pub fn format(&self) -> Format {
        self.format
    }

    /// What was wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The PKCS#11 return code this error is reported as.
    ///
    /// A negotiation message that does not decode is an "unexpected/invalid message" in the API
    /// text's words: `CKR_SESSION_NEGOTIATION_INVALID`. A key blob or attribute list that does
    /// not decode is `CKR_CPV4_MSG_ERROR`, and a message whose attestation chain is empty is
    /// `CKR_SESSION_NEGOTIATION_NO_ATTESTATION` (see the ambiguity register of
    /// `docs/protocol.md`).
    pub fn rv(&self) -> CkRv {
        match self.format {
            Format::Accept | Format::Confirm
                if self.kind == (ErrorKind::Empty { field: "chain" }) =>
            {
                CKR_SESSION_NEGOTIATION_NO_ATTESTATION
            }
            Format::Offer | Format::Accept | Format::Confirm => CKR_SESSION_NEGOTIATION_INVALID,
            Format::BlobEnvelope | Format::AttributeList => CKR_CPV4_MSG_ERROR,
        }
    }
}

/// Error used inside the DER decoders: a [`ErrorKind`] without a format yet. The public
/// `decode` functions attach the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeFailure(pub(crate) ErrorKind);

impl From<der::Error> for DecodeFailure {
    fn from(error: der::Error) -> Self {
        Self(match error.kind() {
            der::ErrorKind::TrailingData { remaining, .. } => ErrorKind::TrailingBytes(
                usize::try_from(u32::from(remaining)).unwrap_or(usize::MAX),
            ),
            der::ErrorKind::Incomplete { .. } => ErrorKind::Truncated,
            other => ErrorKind::Der(other),
        })
    }
}

impl From<ErrorKind> for DecodeFailure {
    fn from(kind: ErrorKind) -> Self {
        Self(kind)
    }
}
