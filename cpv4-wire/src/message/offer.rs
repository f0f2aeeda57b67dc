//! The Offer (step 2).

use crate::consts::cpv4::STEP_OFFER;
use crate::der_io::{self, DerWriter};
use crate::error::{ErrorKind, Format, WireError};
use crate::limits::MAX_MESSAGE_SIZE;

use super::common::{
    Algorithms, Binder, EphemeralKey, Nonce, PskOffer, RootId, check_roots, read_roots,
    read_version_and_step, write_version_and_step,
};
use crate::der_io::check_list;
use crate::limits::MAX_PSK_ENTRIES;

/// Step 2, initiator to responder: what the initiator supports, trusts and shares.
///
/// ```text
/// Offer ::= SEQUENCE {
///   version       INTEGER,              -- 1
///   step          INTEGER,              -- 2
///   nonce         OCTET STRING (32),
///   time          INTEGER,              -- initiator HSM time, seconds since 1970 (UTC)
///   algorithms    Algorithms,
///   trustedRoots  SEQUENCE OF OCTET STRING (32),
///   psk           PskOffer,
///   ephemeral     EphemeralKey,
///   binders       SEQUENCE OF OCTET STRING (32) }  -- one per PSK entry, in its order
/// ```
///
/// Each binder is a MAC, keyed by the PSK its entry names, over the Offer with an empty
/// binder list ([`Offer::binder_input`]): like TLS 1.3's PSK binders, it proves that whoever
/// made the Offer holds the PSK, and it covers every other field (time, nonce, lists,
/// ephemeral key), so a captured Offer cannot be re-stamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The initiator's nonce.
    pub nonce: Nonce,
    /// The initiator's HSM time, seconds since the Unix epoch.
    pub time: u64,
    /// What the initiator supports, in order of preference.
    pub algorithms: Algorithms,
    /// The roots the initiator trusts: the responder's chain must lead to one.
    pub trusted_roots: Vec<RootId>,
    /// The initiator's cloning domains.
    pub psk: PskOffer,
    /// The initiator's ephemeral public key.
    pub ephemeral: EphemeralKey,
    /// One binder per PSK entry, in the entries' order.
    pub binders: Vec<Binder>,
}

impl Offer {
    /// The step this message belongs to.
    pub const STEP: u32 = STEP_OFFER;

    /// Decodes an Offer, refusing anything that is not its one canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        der_io::decode_message(Format::Offer, bytes, MAX_MESSAGE_SIZE, |r| {
            read_version_and_step(r, STEP_OFFER)?;
            let offer = Self {
                nonce: der_io::fixed(r, "nonce")?,
                time: der_io::u64_field(r)?,
                algorithms: Algorithms::read(r)?,
                trusted_roots: read_roots(r)?,
                psk: PskOffer::read(r)?,
                ephemeral: EphemeralKey::read(r)?,
                binders: der_io::list(r, "binders", MAX_PSK_ENTRIES, |r| {
                    der_io::fixed(r, "binders")
                })?,
            };
            offer.check()?;
            Ok(offer)
        })
    }

    /// Encodes the Offer; refuses a value its decoder would refuse.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        self.check()
            .map_err(|kind| WireError::new(Format::Offer, kind))?;
        self.write(&self.binders)
    }

    /// What the binders cover: the Offer encoded with an empty binder list (every other
    /// field as it is). Refuses a value whose fields (binders aside) are invalid.
    pub fn binder_input(&self) -> Result<Vec<u8>, WireError> {
        self.check_fields()
            .map_err(|kind| WireError::new(Format::Offer, kind))?;
        self.write(&[])
    }

    fn write(&self, binders: &[Binder]) -> Result<Vec<u8>, WireError> {
        let mut w = DerWriter::default();
        w.sequence(|w| {
            write_version_and_step(w, STEP_OFFER);
            w.octets(&self.nonce).u64(self.time);
            self.algorithms.write(w);
            w.octets_list(&self.trusted_roots);
            self.psk.write(w);
            self.ephemeral.write(w);
            w.octets_list(binders);
        });
        der_io::finish_message(Format::Offer, w, MAX_MESSAGE_SIZE)
    }

    fn check_fields(&self) -> Result<(), ErrorKind> {
        self.algorithms.check()?;
        check_roots(&self.trusted_roots)?;
        self.psk.check()?;
        self.ephemeral.check()
    }

    fn check(&self) -> Result<(), ErrorKind> {
        self.check_fields()?;
        check_list("binders", &self.binders, MAX_PSK_ENTRIES)?;
        if self.binders.len() != self.psk.len() {
            return Err(ErrorKind::BadLength {
                field: "binders",
                expected: self.psk.len(),
                found: self.binders.len(),
            });
        }
        Ok(())
    }
}
