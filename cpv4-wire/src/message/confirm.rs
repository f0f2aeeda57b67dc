//! The Confirm (step 4).

use der::Reader;

use crate::consts::cpv4::STEP_CONFIRM;
use crate::der_io::{self, DResult, DerWriter};
use crate::error::{Format, WireError};
use crate::limits::MAX_MESSAGE_SIZE;

use super::common::{
    Mac, SessionUid, Signature, check_chain, read_chain, read_version_and_step,
    write_version_and_step,
};

/// The signed part of the Confirm.
///
/// ```text
/// ConfirmTbs ::= SEQUENCE {
///   version     INTEGER,             -- 1
///   step        INTEGER,             -- 4
///   sessionUid  OCTET STRING (16),
///   chain       SEQUENCE OF OCTET STRING }  -- 1..4 DER certificates, leaf first
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmTbs {
    /// The session being confirmed.
    pub session_uid: SessionUid,
    /// The initiator's attestation chain, leaf (partition certificate) first.
    pub chain: Vec<Vec<u8>>,
}

impl ConfirmTbs {
    /// The DER of the signed part, as signed by the initiator.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        check_chain(&self.chain).map_err(|kind| WireError::new(Format::Confirm, kind))?;
        let mut w = DerWriter::default();
        self.write(&mut w);
        Ok(w.into_vec())
    }

    fn write(&self, w: &mut DerWriter) {
        w.sequence(|w| {
            write_version_and_step(w, STEP_CONFIRM);
            w.octets(self.session_uid.as_bytes())
                .octets_list(&self.chain);
        });
    }

    fn read<'a, R: Reader<'a>>(r: &mut R) -> DResult<Self> {
        r.sequence(|r| {
            read_version_and_step(r, STEP_CONFIRM)?;
            Ok(Self {
                session_uid: SessionUid(der_io::fixed(r, "sessionUid")?),
                chain: read_chain(r)?,
            })
        })
    }
}

/// Step 4, initiator to responder: the initiator's identity and proof.
///
/// ```text
/// Confirm ::= SEQUENCE {
///   tbs        ConfirmTbs,
///   signature  OCTET STRING (64),  -- ECDSA P-256 r || s by the initiator's partition key
///   mac        OCTET STRING (32) } -- key-confirmation MAC
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// The signed part.
    pub tbs: ConfirmTbs,
    /// The initiator's signature over the transcript.
    pub signature: Signature,
    /// The initiator's key-confirmation MAC.
    pub mac: Mac,
}

impl Confirm {
    /// The step this message belongs to.
    pub const STEP: u32 = STEP_CONFIRM;

    /// Decodes a Confirm, refusing anything that is not its one canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        der_io::decode_message(Format::Confirm, bytes, MAX_MESSAGE_SIZE, |r| {
            Ok(Self {
                tbs: ConfirmTbs::read(r)?,
                signature: der_io::fixed(r, "signature")?,
                mac: der_io::fixed(r, "mac")?,
            })
        })
    }

    /// Encodes the Confirm; refuses a value its decoder would refuse.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let error = |kind| WireError::new(Format::Confirm, kind);
        check_chain(&self.tbs.chain).map_err(error)?;
        let mut w = DerWriter::default();
        w.sequence(|w| {
            self.tbs.write(w);
            w.octets(&self.signature).octets(&self.mac);
        });
        der_io::finish_message(Format::Confirm, w, MAX_MESSAGE_SIZE)
    }
}
