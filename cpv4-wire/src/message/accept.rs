//! The Accept (step 3).

use der::Reader;

use crate::consts::cpv4::STEP_ACCEPT;
use crate::der_io::{self, DResult, DerWriter};
use crate::error::{ErrorKind, Format, WireError};
use crate::limits::MAX_MESSAGE_SIZE;

use super::common::{
    EphemeralKey, Mac, Nonce, PskSelection, RootId, SessionUid, Signature, TranscriptHash,
    check_chain, check_roots, read_chain, read_roots, read_version_and_step,
    write_version_and_step,
};

/// What the responder selected from the Offer.
///
/// ```text
/// Selection ::= SEQUENCE { suite INTEGER, kdf INTEGER, encoding INTEGER,
///                          duration INTEGER, chainMechanism INTEGER }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    /// The selected suite.
    pub suite: u32,
    /// The selected key-derivation function.
    pub kdf: u32,
    /// The selected object encoding.
    pub encoding: u32,
    /// The selected session duration, in seconds (at least 1).
    pub duration: u32,
    /// The selected chain attestation mechanism.
    pub chain_mechanism: u32,
}

impl Selection {
    fn check(&self) -> Result<(), ErrorKind> {
        if self.duration == 0 {
            return Err(ErrorKind::InvalidValue {
                field: "duration",
                value: 0,
            });
        }
        Ok(())
    }

    fn write(&self, w: &mut DerWriter) {
        w.sequence(|w| {
            w.u32(self.suite)
                .u32(self.kdf)
                .u32(self.encoding)
                .u32(self.duration)
                .u32(self.chain_mechanism);
        });
    }

    fn read<'a, R: Reader<'a>>(r: &mut R) -> DResult<Self> {
        r.sequence(|r| {
            Ok(Self {
                suite: der_io::u32_field(r)?,
                kdf: der_io::u32_field(r)?,
                encoding: der_io::u32_field(r)?,
                duration: der_io::u32_field(r)?,
                chain_mechanism: der_io::u32_field(r)?,
            })
        })
    }
}

/// The signed part of the Accept.
///
/// ```text
/// AcceptTbs ::= SEQUENCE {
///   version       INTEGER,             -- 1
///   step          INTEGER,             -- 3
///   offerHash     OCTET STRING (32),   -- SHA-256 of the Offer answered
///   sessionUid    OCTET STRING (16),
///   nonce         OCTET STRING (32),
///   time          INTEGER,             -- responder HSM time, seconds since 1970 (UTC)
///   selection     Selection,
///   root          OCTET STRING (32),   -- the initiator-trusted root its chain leads to
///   psk           PskSelection,
///   trustedRoots  SEQUENCE OF OCTET STRING (32),
///   ephemeral     EphemeralKey,
///   chain         SEQUENCE OF OCTET STRING }  -- 1..4 DER certificates, leaf first
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptTbs {
    /// SHA-256 of the Offer this Accept answers: how the initiator finds its negotiation.
    pub offer_hash: TranscriptHash,
    /// The new session's identifier, made by the responder.
    pub session_uid: SessionUid,
    /// The responder's nonce.
    pub nonce: Nonce,
    /// The responder's HSM time, seconds since the Unix epoch.
    pub time: u64,
    /// The responder's selections.
    pub selection: Selection,
    /// The root (one the initiator trusts) that the responder's chain leads to.
    pub root: RootId,
    /// The PSK matched.
    pub psk: PskSelection,
    /// The roots the responder trusts: the initiator's chain must lead to one.
    pub trusted_roots: Vec<RootId>,
    /// The responder's ephemeral public key.
    pub ephemeral: EphemeralKey,
    /// The responder's attestation chain, leaf (partition certificate) first.
    pub chain: Vec<Vec<u8>>,
}

impl AcceptTbs {
    /// The DER of the signed part, as signed by the responder.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        self.check()
            .map_err(|kind| WireError::new(Format::Accept, kind))?;
        let mut w = DerWriter::default();
        self.write(&mut w);
        Ok(w.into_vec())
    }

    fn check(&self) -> Result<(), ErrorKind> {
        self.selection.check()?;
        check_roots(&self.trusted_roots)?;
        self.ephemeral.check()?;
        check_chain(&self.chain)
    }

    fn write(&self, w: &mut DerWriter) {
        w.sequence(|w| {
            write_version_and_step(w, STEP_ACCEPT);
            w.octets(&self.offer_hash)
                .octets(self.session_uid.as_bytes())
                .octets(&self.nonce)
                .u64(self.time);
            self.selection.write(w);
            w.octets(&self.root);
            self.psk.write(w);
            w.octets_list(&self.trusted_roots);
            self.ephemeral.write(w);
            w.octets_list(&self.chain);
        });
    }

    fn read<'a, R: Reader<'a>>(r: &mut R) -> DResult<Self> {
        r.sequence(|r| {
            read_version_and_step(r, STEP_ACCEPT)?;
            let tbs = Self {
                offer_hash: der_io::fixed(r, "offerHash")?,
                session_uid: SessionUid(der_io::fixed(r, "sessionUid")?),
                nonce: der_io::fixed(r, "nonce")?,
                time: der_io::u64_field(r)?,
                selection: Selection::read(r)?,
                root: der_io::fixed(r, "root")?,
                psk: PskSelection::read(r)?,
                trusted_roots: read_roots(r)?,
                ephemeral: EphemeralKey::read(r)?,
                chain: read_chain(r)?,
            };
            tbs.check()?;
            Ok(tbs)
        })
    }
}

/// Step 3, responder to initiator: the selections, the responder's identity and proof.
///
/// ```text
/// Accept ::= SEQUENCE {
///   tbs        AcceptTbs,
///   signature  OCTET STRING (64),  -- ECDSA P-256 r || s by the responder's partition key
///   mac        OCTET STRING (32) } -- key-confirmation MAC
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accept {
    /// The signed part.
    pub tbs: AcceptTbs,
    /// The responder's signature over the transcript.
    pub signature: Signature,
    /// The responder's key-confirmation MAC.
    pub mac: Mac,
}

impl Accept {
    /// The step this message belongs to.
    pub const STEP: u32 = STEP_ACCEPT;

    /// Decodes an Accept, refusing anything that is not its one canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        der_io::decode_message(Format::Accept, bytes, MAX_MESSAGE_SIZE, |r| {
            Ok(Self {
                tbs: AcceptTbs::read(r)?,
                signature: der_io::fixed(r, "signature")?,
                mac: der_io::fixed(r, "mac")?,
            })
        })
    }

    /// Encodes the Accept; refuses a value its decoder would refuse.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let error = |kind| WireError::new(Format::Accept, kind);
        self.tbs.check().map_err(error)?;
        let mut w = DerWriter::default();
        w.sequence(|w| {
            self.tbs.write(w);
            w.octets(&self.signature).octets(&self.mac);
        });
        der_io::finish_message(Format::Accept, w, MAX_MESSAGE_SIZE)
    }
}
