//! Field types shared by the messages.

use core::fmt;

use der::{Reader, asn1::ObjectIdentifier};

use crate::consts::cpv4::{PROTOCOL_VERSION, PSK_MODE_ID, PSK_MODE_LEET};
use crate::der_io::{self, DResult, DerWriter, check_list, check_size};
use crate::error::ErrorKind;
use crate::limits::{
    MAX_CERTIFICATE_SIZE, MAX_CHAIN_LENGTH, MAX_EPHEMERAL_POINT_SIZE, MAX_OFFERED_ALGORITHMS,
    MAX_OID_SIZE, MAX_PSK_ENTRIES, MAX_TRUSTED_ROOTS,
};

/// A 32-byte random nonce.
pub type Nonce = [u8; 32];
/// SHA-256 of a trusted root's SubjectPublicKeyInfo.
pub type RootId = [u8; 32];
/// A cloning domain's PSK id (16 bytes, stable per domain).
pub type PskId = [u8; 16];
/// A cloning domain's LEET tag for one Offer (32 bytes).
pub type LeetTag = [u8; 32];
/// An Offer's PSK binder: a MAC keyed by one entry's PSK over the whole Offer (32 bytes).
pub type Binder = [u8; 32];
/// An ECDSA P-256 signature as `r || s`.
pub type Signature = [u8; 64];
/// A key-confirmation MAC (HMAC-SHA256).
pub type Mac = [u8; 32];
/// A SHA-256 transcript hash.
pub type TranscriptHash = [u8; 32];

/// The 16-byte identifier of a negotiated session, made by the responder.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionUid(pub [u8; 16]);

impl SessionUid {
    /// The identifier's bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for SessionUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for SessionUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionUid({self})")
    }
}

impl TryFrom<&[u8]> for SessionUid {
    type Error = ErrorKind;

    fn try_from(bytes: &[u8]) -> Result<Self, ErrorKind> {
        <[u8; 16]>::try_from(bytes)
            .map(SessionUid)
            .map_err(|_| ErrorKind::BadLength {
                field: "sessionUid",
                expected: 16,
                found: bytes.len(),
            })
    }
}

/// What one side supports, each list in order of preference (most preferred first).
///
/// Identifiers this implementation does not know are allowed: a peer may support more. The
/// responder selects from what both know, and reports `NO_ALGS`, `NO_KDF`... when nothing is
/// common.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Algorithms {
    /// Suites (ECDH group + signature + wrap).
    pub suites: Vec<u32>,
    /// Key-derivation functions.
    pub kdfs: Vec<u32>,
    /// Object encodings.
    pub encodings: Vec<u32>,
    /// Session durations in seconds, each at least 1.
    pub durations: Vec<u32>,
    /// Chain attestation mechanisms.
    pub chain_mechanisms: Vec<u32>,
}

impl Algorithms {
    pub(crate) fn check(&self) -> Result<(), ErrorKind> {
        check_list("suites", &self.suites, MAX_OFFERED_ALGORITHMS)?;
        check_list("kdfs", &self.kdfs, MAX_OFFERED_ALGORITHMS)?;
        check_list("encodings", &self.encodings, MAX_OFFERED_ALGORITHMS)?;
        check_list("durations", &self.durations, MAX_OFFERED_ALGORITHMS)?;
        if self.durations.contains(&0) {
            return Err(ErrorKind::InvalidValue {
                field: "durations",
                value: 0,
            });
        }
        check_list(
            "chainMechanisms",
            &self.chain_mechanisms,
            MAX_OFFERED_ALGORITHMS,
        )
    }

    pub(crate) fn write(&self, w: &mut DerWriter) {
        w.sequence(|w| {
            w.u32_list(&self.suites)
                .u32_list(&self.kdfs)
                .u32_list(&self.encodings)
                .u32_list(&self.durations)
                .u32_list(&self.chain_mechanisms);
        });
    }

    pub(crate) fn read<'a, R: Reader<'a>>(r: &mut R) -> DResult<Self> {
        r.sequence(|r| {
            let ids = |r: &mut _, field| {
                der_io::list(r, field, MAX_OFFERED_ALGORITHMS, |r| der_io::u32_field(r))
            };
            Ok(Self {
                suites: ids(r, "suites")?,
                kdfs: ids(r, "kdfs")?,
                encodings: ids(r, "encodings")?,
                durations: ids(r, "durations")?,
                chain_mechanisms: ids(r, "chainMechanisms")?,
            })
        })
    }
}

/// An ephemeral public key: its key type and curve (object identifiers) and the encoded point.
///
/// The wire format only bounds the sizes; `cpv4-crypto` checks the type, the curve and the
/// point (`CKR_SESSION_NEGOTIATION_NO_EPHEMERAL_KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EphemeralKey {
    /// Key type, e.g. id-ecPublicKey (1.2.840.10045.2.1).
    pub key_type: ObjectIdentifier,
    /// Curve, e.g. prime256v1 (1.2.840.10045.3.1.7).
    pub curve: ObjectIdentifier,
    /// The encoded point (SEC1), 1 to 133 bytes.
    pub point: Vec<u8>,
}

impl EphemeralKey {
    pub(crate) fn check(&self) -> Result<(), ErrorKind> {
        for oid in [&self.key_type, &self.curve] {
            check_size("ephemeral.oid", oid.as_bytes(), MAX_OID_SIZE)?;
        }
        if self.point.is_empty() {
            return Err(ErrorKind::Empty {
                field: "ephemeral.point",
            });
        }
        check_size("ephemeral.point", &self.point, MAX_EPHEMERAL_POINT_SIZE)
    }

    pub(crate) fn write(&self, w: &mut DerWriter) {
        w.sequence(|w| {
            w.oid(&self.key_type).oid(&self.curve).octets(&self.point);
        });
    }

    pub(crate) fn read<'a, R: Reader<'a>>(r: &mut R) -> DResult<Self> {
        r.sequence(|r| {
            let key = Self {
                key_type: der_io::oid(r)?,
                curve: der_io::oid(r)?,
                point: der_io::octets(r, "ephemeral.point", MAX_EPHEMERAL_POINT_SIZE)?.to_vec(),
            };
            key.check()?;
            Ok(key)
        })
    }
}

/// The PSK material of an Offer: the initiator's cloning domains, as stable ids or as LEET tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PskOffer {
    /// PSK ids (mode 1).
    Ids(Vec<PskId>),
    /// LEET tags (mode 2), one per domain, bound to the Offer's nonce.
    LeetTags(Vec<LeetTag>),
}

impl PskOffer {
    /// The number of entries.
    pub fn len(&self) -> usize {
        match self {
            PskOffer::Ids(ids) => ids.len(),
            PskOffer::LeetTags(tags) => tags.len(),
        }
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn check(&self) -> Result<(), ErrorKind> {
        match self {
            PskOffer::Ids(ids) => check_list("psk", ids, MAX_PSK_ENTRIES),
            PskOffer::LeetTags(tags) => check_list("psk", tags, MAX_PSK_ENTRIES),
        }
    }

    pub(crate) fn write(&self, w: &mut DerWriter) {
        w.sequence(|w| match self {
            PskOffer::Ids(ids) => {
                w.u32(PSK_MODE_ID).octets_list(ids);
            }
            PskOffer::LeetTags(tags) => {
                w.u32(PSK_MODE_LEET).octets_list(tags);
            }
        });
    }

    pub(crate) fn read<'a, R: Reader<'a>>(r: &mut R) -> DResult<Self> {
        r.sequence(|r| {
            let offer = match der_io::u32_field(r)? {
                PSK_MODE_ID => Self::Ids(der_io::list(r, "psk", MAX_PSK_ENTRIES, |r| {
                    der_io::fixed(r, "psk")
                })?),
                PSK_MODE_LEET => Self::LeetTags(der_io::list(r, "psk", MAX_PSK_ENTRIES, |r| {
                    der_io::fixed(r, "psk")
                })?),
                mode => {
                    return Err(ErrorKind::InvalidValue {
                        field: "psk.mode",
                        value: mode.into(),
                    }
                    .into());
                }
            };
            offer.check()?;
            Ok(offer)
        })
    }
}

/// The PSK the responder matched: an id from the Offer, or the LEET tag it matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PskSelection {
    /// The matched PSK id (mode 1).
    Id(PskId),
    /// The matched LEET tag (mode 2).
    LeetTag(LeetTag),
}

impl PskSelection {
    pub(crate) fn write(&self, w: &mut DerWriter) {
        w.sequence(|w| match self {
            PskSelection::Id(id) => {
                w.u32(PSK_MODE_ID).octets(id);
            }
            PskSelection::LeetTag(tag) => {
                w.u32(PSK_MODE_LEET).octets(tag);
            }
        });
    }

    pub(crate) fn read<'a, R: Reader<'a>>(r: &mut R) -> DResult<Self> {
        r.sequence(|r| match der_io::u32_field(r)? {
            PSK_MODE_ID => Ok(Self::Id(der_io::fixed(r, "psk")?)),
            PSK_MODE_LEET => Ok(Self::LeetTag(der_io::fixed(r, "psk")?)),
            mode => Err(ErrorKind::InvalidValue {
                field: "psk.mode",
                value: mode.into(),
            }
            .into()),
        })
    }
}

pub(crate) fn check_roots(roots: &[RootId]) -> Result<(), ErrorKind> {
    check_list("trustedRoots", roots, MAX_TRUSTED_ROOTS)
}

pub(crate) fn read_roots<'a, R: Reader<'a>>(r: &mut R) -> DResult<Vec<RootId>> {
    let roots = der_io::list(r, "trustedRoots", MAX_TRUSTED_ROOTS, |r| {
        der_io::fixed(r, "trustedRoots")
    })?;
    check_roots(&roots)?;
    Ok(roots)
}

/// An attestation chain: 1 to [`MAX_CHAIN_LENGTH`] DER certificates, leaf first.
pub(crate) fn check_chain(chain: &[Vec<u8>]) -> Result<(), ErrorKind> {
    if chain.is_empty() {
        return Err(ErrorKind::Empty { field: "chain" });
    }
    if chain.len() > MAX_CHAIN_LENGTH {
        return Err(ErrorKind::TooMany {
            field: "chain",
            max: MAX_CHAIN_LENGTH,
        });
    }
    for certificate in chain {
        if certificate.is_empty() {
            return Err(ErrorKind::Empty {
                field: "chain.certificate",
            });
        }
        check_size("chain.certificate", certificate, MAX_CERTIFICATE_SIZE)?;
    }
    Ok(())
}

pub(crate) fn read_chain<'a, R: Reader<'a>>(r: &mut R) -> DResult<Vec<Vec<u8>>> {
    let chain = der_io::list(r, "chain", MAX_CHAIN_LENGTH, |r| {
        Ok(der_io::octets(r, "chain.certificate", MAX_CERTIFICATE_SIZE)?.to_vec())
    })?;
    check_chain(&chain)?;
    Ok(chain)
}

/// Reads and checks the version and step that open every message.
pub(crate) fn read_version_and_step<'a>(r: &mut impl Reader<'a>, step: u32) -> DResult<()> {
    let version = der_io::u32_field(r)?;
    if version != PROTOCOL_VERSION {
        return Err(ErrorKind::UnsupportedVersion(version).into());
    }
    let found = der_io::u32_field(r)?;
    if found != step {
        return Err(ErrorKind::WrongStep {
            expected: step,
            found,
        }
        .into());
    }
    Ok(())
}

pub(crate) fn write_version_and_step(w: &mut DerWriter, step: u32) {
    w.u32(PROTOCOL_VERSION).u32(step);
}
