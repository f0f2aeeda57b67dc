//! What a partition is and allows: the local policy passed to every call, and the HSM time.

use cpv4_crypto::attest::{PartitionIdentity, RootId, TrustedRoot};
use cpv4_crypto::psk::DomainPsk;
use cpv4_wire::Algorithms;
use cpv4_wire::consts::cpv4::{
    CHAIN_X509_ECDSA_P256_SHA256, DEFAULT_SESSION_DURATION_SECS, ENCODING_ATTRIBUTE_LIST_V1,
    ENCODING_COMPACT_ATTRIBUTE_LIST, KDF_HKDF_SHA256, KDF_HKDF_SHA384,
    SUITE_P256_ECDSA_SHA256_AES256_KWP,
};

use crate::SessionError;

/// The HSM time of the device making a call: set (seconds since the Unix epoch) or never set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HsmTime {
    /// The HSM SO never set the clock: every CPv4 call reports `CKR_TIME_NOT_INITIALIZED`.
    Unset,
    /// The HSM time, seconds since the Unix epoch.
    At(u64),
}

impl HsmTime {
    pub(crate) fn get(self) -> Result<u64, SessionError> {
        match self {
            HsmTime::Unset => Err(SessionError::TimeNotInitialized("the HSM clock is not set")),
            HsmTime::At(now) => Ok(now),
        }
    }
}

/// How the initiator presents its cloning domains in the Offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PskMode {
    /// Stable PSK ids (mode 1): Offers of one domain are linkable, and a precomputed table of
    /// guessed secrets' ids matches a captured Offer by lookup.
    Ids,
    /// LEET tags bound to the Offer's nonce, unlinkable across sessions (mode 2): the default.
    #[default]
    LeetTags,
}

/// A partition's attestation identity: its signing key and its chain (leaf first, root not
/// included), and the root the chain leads to.
#[derive(Debug)]
pub struct Identity {
    /// The partition's key and certificate.
    pub partition: PartitionIdentity,
    /// The chain presented to peers: the partition certificate, then the device certificate.
    pub chain: Vec<Vec<u8>>,
    /// The manufacturer root the chain leads to.
    pub root: RootId,
}

/// A partition's local policy: passed by value of reference to every engine call, so the
/// engine itself holds no configuration.
#[derive(Debug)]
pub struct Policy {
    /// CPv4 enabled on the partition (and cloning allowed on the HSM).
    pub cpv4_enabled: bool,
    /// What the partition offers and accepts, each list in order of preference.
    pub algorithms: Algorithms,
    /// The manufacturer roots the partition trusts.
    pub trusted_roots: Vec<TrustedRoot>,
    /// The partition's attestation identity.
    pub identity: Identity,
    /// The partition's cloning domains (primary first).
    pub domains: Vec<DomainPsk>,
    /// How the initiator presents its domains.
    pub psk_mode: PskMode,
}

/// The identifiers this implementation speaks, by kind.
pub mod supported {
    use super::*;

    /// Suites.
    pub const SUITES: &[u32] = &[SUITE_P256_ECDSA_SHA256_AES256_KWP];
    /// Key-derivation functions.
    pub const KDFS: &[u32] = &[KDF_HKDF_SHA384, KDF_HKDF_SHA256];
    /// Object encodings, the compact list first.
    pub const ENCODINGS: &[u32] = &[ENCODING_COMPACT_ATTRIBUTE_LIST, ENCODING_ATTRIBUTE_LIST_V1];
    /// Chain attestation mechanisms.
    pub const CHAIN_MECHANISMS: &[u32] = &[CHAIN_X509_ECDSA_P256_SHA256];
}

impl Policy {
    /// Everything this implementation supports, strongest first, with the default duration.
    pub fn default_algorithms() -> Algorithms {
        Algorithms {
            suites: supported::SUITES.to_vec(),
            kdfs: supported::KDFS.to_vec(),
            encodings: supported::ENCODINGS.to_vec(),
            durations: vec![DEFAULT_SESSION_DURATION_SECS],
            chain_mechanisms: supported::CHAIN_MECHANISMS.to_vec(),
        }
    }

    pub(crate) fn root_ids(&self) -> Vec<[u8; 32]> {
        self.trusted_roots
            .iter()
            .map(|root| *root.id().as_bytes())
            .collect()
    }
}

/// The first entry of `offered` (the initiator's preference order) that `ours` lists and this
/// implementation supports (`supported` = `None` for durations, where any value is supported).
pub(crate) fn select(offered: &[u32], ours: &[u32], supported: Option<&[u32]>) -> Option<u32> {
    offered
        .iter()
        .copied()
        .find(|id| ours.contains(id) && supported.is_none_or(|known| known.contains(id)))
}
