//! The records a device keeps per partition: pending negotiations (initiator), negotiations
//! awaiting the Confirm (responder) and sessions, plus the set of received sequence numbers.

use cpv4_crypto::attest::PeerIdentity;
use cpv4_crypto::ecdh::EphemeralSecret;
use cpv4_crypto::schedule::SessionKeys;
use cpv4_wire::Selection;
use cpv4_wire::consts::cpv4::NEGOTIATION_LIFETIME_SECS;

/// Which side of the negotiation a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Called Start; the target of `CA_MigrateKeys`.
    Initiator,
    /// Made the session UID; the source of `CA_MigrateKeys`.
    Responder,
}

/// Initiator: an Offer sent, waiting for its Accept. Keyed by the Offer's hash. Opaque: a
/// store keeps it sealed ([`crate::Record`]).
#[derive(Debug)]
pub struct PendingOffer {
    pub(crate) offer: Vec<u8>,
    pub(crate) ephemeral: EphemeralSecret,
    pub(crate) created: u64,
}

impl PendingOffer {
    /// A copy, for the cryptography that runs outside the table's lock.
    pub(crate) fn duplicate(&self) -> Result<Self, crate::SessionError> {
        let ephemeral = EphemeralSecret::from_secret(&self.ephemeral.to_secret()).ok_or(
            crate::SessionError::StateCorrupt("a pending ephemeral key does not restore"),
        )?;
        Ok(Self {
            offer: self.offer.clone(),
            ephemeral,
            created: self.created,
        })
    }

    /// When it expires (HSM time): 600 s after Start.
    pub fn expires(&self) -> u64 {
        self.created.saturating_add(NEGOTIATION_LIFETIME_SECS)
    }
}

/// Responder: an Accept sent, waiting for the Confirm. Keyed by the UID; the Offer's hash
/// finds it again when the same Offer is replayed (the stored Accept is the answer).
#[derive(Debug, Clone)]
pub struct AwaitingConfirm {
    pub(crate) offer: Vec<u8>,
    pub(crate) offer_hash: [u8; 32],
    pub(crate) accept: Vec<u8>,
    pub(crate) selection: Selection,
    pub(crate) listed_roots: Vec<[u8; 32]>,
    /// Boxed, so the table's hash maps move a pointer, never the key bytes (a move would
    /// leave an unwiped copy behind).
    pub(crate) keys: Box<SessionKeys>,
    pub(crate) created: u64,
}

impl AwaitingConfirm {
    /// When it expires (HSM time): 600 s after the responder's Continue.
    pub fn expires(&self) -> u64 {
        self.created.saturating_add(NEGOTIATION_LIFETIME_SECS)
    }
}

/// An established session. Keyed by the UID.
#[derive(Debug, Clone)]
pub struct Session {
    pub(crate) role: Role,
    /// Boxed, so the table's hash maps move a pointer, never the key bytes (a move would
    /// leave an unwiped copy behind).
    pub(crate) keys: Box<SessionKeys>,
    pub(crate) encoding: u32,
    pub(crate) established: u64,
    pub(crate) duration: u64,
    /// Next sequence number to send.
    pub(crate) next_send: u64,
    /// Sequence numbers accepted from the peer.
    pub(crate) received: SeqSet,
    /// The hash of the Offer the session was negotiated from (both roles).
    pub(crate) offer_hash: [u8; 32],
    /// Initiator only: the hash of its own Confirm.
    pub(crate) confirm_hash: Option<[u8; 32]>,
    /// The verified peer partition.
    pub(crate) peer: PeerIdentity,
}

impl AwaitingConfirm {
    /// The hash of the Offer it answers (`TH_offer`).
    pub fn offer_hash(&self) -> [u8; 32] {
        self.offer_hash
    }
}

impl Session {
    /// When it expires (HSM time): its negotiated duration after confirmation.
    pub fn expires(&self) -> u64 {
        self.established.saturating_add(self.duration)
    }

    pub(crate) fn expired(&self, now: u64) -> bool {
        now >= self.expires()
    }

    /// The hash of the Offer it was negotiated from (`TH_offer`).
    pub fn offer_hash(&self) -> [u8; 32] {
        self.offer_hash
    }

    /// Which side of the negotiation it is.
    pub fn role(&self) -> Role {
        self.role
    }
}

/// A set of `u64` kept as sorted, disjoint, non-adjacent half-open ranges: sequence numbers
/// usually arrive in order, so a session of any size stays a handful of ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SeqSet {
    ranges: Vec<(u64, u64)>,
}

impl SeqSet {
    pub(crate) fn contains(&self, value: u64) -> bool {
        let index = self.ranges.partition_point(|(_, end)| *end <= value);
        self.ranges
            .get(index)
            .is_some_and(|(start, _)| *start <= value)
    }

    /// Adds `value`; false if it was already there. `u64::MAX` is never a sequence number
    /// (senders stop before it), so it is refused.
    pub(crate) fn insert(&mut self, value: u64) -> bool {
        if value == u64::MAX || self.contains(value) {
            return false;
        }
        let end = value.saturating_add(1);
        let index = self
            .ranges
            .partition_point(|(_, range_end)| *range_end < value);
        // Ranges at `index` and after start after `value`, except one that ends exactly at it.
        let joins_left = self
            .ranges
            .get(index)
            .is_some_and(|(_, range_end)| *range_end == value);
        let right = if joins_left { index + 1 } else { index };
        let joins_right = self
            .ranges
            .get(right)
            .is_some_and(|(start, _)| *start == end);
        match (joins_left, joins_right) {
            (true, true) => {
                let merged_end = self.ranges.get(right).map_or(end, |(_, e)| *e);
                if let Some(range) = self.ranges.get_mut(index) {
                    range.1 = merged_end;
                }
                self.ranges.remove(right);
            }
            (true, false) => {
                if let Some(range) = self.ranges.get_mut(index) {
                    range.1 = end;
                }
            }
            (false, true) => {
                if let Some(range) = self.ranges.get_mut(right) {
                    range.0 = value;
                }
            }
            (false, false) => self.ranges.insert(index, (value, end)),
        }
        true
    }

    pub(crate) fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// Restores a set from ranges, refusing any that are empty, unsorted or touching.
    pub(crate) fn from_ranges(ranges: Vec<(u64, u64)>) -> Option<Self> {
        let valid = ranges.iter().all(|(start, end)| start < end)
            && ranges
                .windows(2)
                .all(|pair| matches!(pair, [a, b] if a.1 < b.0));
        valid.then_some(Self { ranges })
    }
}

#[cfg(test)]
mod tests {
    use super::SeqSet;

    #[test]
    fn seq_set_merges_and_refuses_repeats() {
        let mut set = SeqSet::default();
        for value in [5, 3, 4, 0, 1, 9, 2, 7] {
            assert!(set.insert(value), "{value}");
        }
        assert_eq!(set.ranges(), &[(0, 6), (7, 8), (9, 10)]);
        for value in [0, 5, 7, 9] {
            assert!(!set.insert(value));
            assert!(set.contains(value));
        }
        assert!(!set.contains(6) && !set.contains(8) && !set.contains(10));
        assert!(set.insert(8));
        assert_eq!(set.ranges(), &[(0, 6), (7, 10)]);
        assert!(set.insert(6));
        assert_eq!(set.ranges(), &[(0, 10)]);
    }

    #[test]
    fn seq_set_from_ranges_refuses_malformed_ranges() {
        assert!(SeqSet::from_ranges(vec![(0, 2), (3, 4)]).is_some());
        assert!(SeqSet::from_ranges(vec![(0, 2), (2, 4)]).is_none());
        assert!(SeqSet::from_ranges(vec![(3, 4), (0, 2)]).is_none());
        assert!(SeqSet::from_ranges(vec![(1, 1)]).is_none());
    }
}
