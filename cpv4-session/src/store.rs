//! Where a device's negotiation and session records live: the [`Store`] and [`Txn`] traits the
//! engine ([`crate::SessionTable`]) runs on, and [`MemoryStore`], the in-memory store.
//!
//! The engine reads and changes records only through a [`Txn`], inside
//! [`Store::atomically`]: one call's records are read and written as one atomic step, and the
//! engine touches only the records its call names, the counts, and the records that expired.
//! A store that keeps one sealed row per record (luna-sim's database) implements these traits
//! over its rows, with [`crate::Record::seal`] and [`crate::Record::open`] for the rows' contents, so the
//! cost of a call does not grow with the number of records and two processes never lose each
//! other's changes.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use cpv4_wire::SessionUid;

use crate::SessionError;
use crate::records::{AwaitingConfirm, PendingOffer, Role, Session};
use crate::table::PartitionId;

/// How many tombstones each partition keeps; its oldest are dropped first. Each partition has
/// its own budget, so no partition can push out another's.
pub const MAX_TOMBSTONES: usize = 1024;

/// What a tombstone names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Name {
    /// An initiator's pending Offer, by its hash.
    Offer([u8; 32]),
    /// A responder's answered Offer, by its hash.
    Answered([u8; 32]),
    /// A negotiation or session, by its UID.
    Uid(SessionUid),
}

/// What a tombstone buries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A negotiation (pending or awaiting the Confirm).
    Negotiation,
    /// An established session.
    Session,
}

/// A tombstone: a name that was swept or closed, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone {
    /// What it buries.
    pub name: Name,
    /// The kind of record it was.
    pub kind: Kind,
    /// When it was buried (HSM time).
    pub at: u64,
}

/// A live record, by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordRef {
    /// An initiator's pending Offer, by its hash.
    Pending(PartitionId, [u8; 32]),
    /// A responder's negotiation awaiting the Confirm, by its UID.
    Awaiting(PartitionId, SessionUid),
    /// A session, by its UID.
    Session(PartitionId, SessionUid),
}

/// How many live records of each class a partition (or a device) holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Pending negotiations and negotiations awaiting their Confirm.
    pub negotiations: usize,
    /// Established sessions.
    pub sessions: usize,
}

/// One atomic view of a device's records, as the engine reads and changes them in one call.
/// Getters return copies; the engine writes a changed record back with a `put`.
pub trait Txn {
    /// The pending negotiation of an Offer (initiator).
    fn pending(
        &self,
        partition: PartitionId,
        hash: &[u8; 32],
    ) -> Result<Option<PendingOffer>, SessionError>;
    /// The negotiation awaiting its Confirm (responder).
    fn awaiting(
        &self,
        partition: PartitionId,
        uid: SessionUid,
    ) -> Result<Option<AwaitingConfirm>, SessionError>;
    /// A session.
    fn session(
        &self,
        partition: PartitionId,
        uid: SessionUid,
    ) -> Result<Option<Session>, SessionError>;
    /// The UID of the live record a role made from an Offer (by its hash), if any.
    fn uid_by_offer(
        &self,
        partition: PartitionId,
        hash: &[u8; 32],
        role: Role,
    ) -> Result<Option<SessionUid>, SessionError>;
    /// The kind of the newest tombstone of `name` on the partition, if any.
    fn tombstone(&self, partition: PartitionId, name: Name) -> Result<Option<Kind>, SessionError>;
    /// The live records of a partition.
    fn counts(&self, partition: PartitionId) -> Result<Counts, SessionError>;
    /// The live records of the device.
    fn device_counts(&self) -> Result<Counts, SessionError>;
    /// Every live record whose expiry is at or before `now`.
    fn expired(&self, now: u64) -> Result<Vec<RecordRef>, SessionError>;

    /// Stores a pending negotiation, replacing one of the same key.
    fn put_pending(
        &mut self,
        partition: PartitionId,
        hash: [u8; 32],
        record: PendingOffer,
    ) -> Result<(), SessionError>;
    /// Stores a negotiation awaiting its Confirm, replacing one of the same key.
    fn put_awaiting(
        &mut self,
        partition: PartitionId,
        uid: SessionUid,
        record: AwaitingConfirm,
    ) -> Result<(), SessionError>;
    /// Stores a session, replacing one of the same key.
    fn put_session(
        &mut self,
        partition: PartitionId,
        uid: SessionUid,
        record: Session,
    ) -> Result<(), SessionError>;
    /// Deletes a live record; returns the hash of the Offer it was made from and its role
    /// (for its tombstones), or `None` if there was none.
    fn remove(&mut self, record: RecordRef) -> Result<Option<([u8; 32], Role)>, SessionError>;
    /// Adds a tombstone (replacing an older one of the same name) and drops the partition's
    /// oldest beyond [`MAX_TOMBSTONES`].
    fn bury(&mut self, partition: PartitionId, tombstone: Tombstone) -> Result<(), SessionError>;
}

/// Where a device's records live.
pub trait Store {
    /// Runs `f` on the records as one atomic, **serializable** step (no other step may read or
    /// write the device's records in between: a lock, or SQLite's `BEGIN IMMEDIATE`) and
    /// commits what it changed, whatever `f` returns (a refused call still sweeps). A storage
    /// failure inside `f` must roll the whole step back. An error here is the store's own.
    fn atomically<R>(&self, f: impl FnOnce(&mut dyn Txn) -> R) -> Result<R, SessionError>;
}

/// A device's records in memory: a [`Store`] for one process (or, with
/// [`crate::SessionTable::to_bytes`], one image of the whole table).
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub(crate) state: Mutex<MemoryState>,
}

impl MemoryStore {
    pub(crate) fn lock(&self) -> MutexGuard<'_, MemoryState> {
        // A panic while the lock is held cannot leave a record half-changed (records are
        // replaced whole), so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    fn atomically<R>(&self, f: impl FnOnce(&mut dyn Txn) -> R) -> Result<R, SessionError> {
        Ok(f(&mut *self.lock()))
    }
}

#[derive(Debug, Default)]
pub(crate) struct MemoryState {
    pub(crate) pending: HashMap<(PartitionId, [u8; 32]), PendingOffer>,
    pub(crate) awaiting: HashMap<(PartitionId, SessionUid), AwaitingConfirm>,
    pub(crate) sessions: HashMap<(PartitionId, SessionUid), Session>,
    /// Offer hash -> UID of the record made from it, per partition and role.
    by_offer: HashMap<(PartitionId, [u8; 32], Role), SessionUid>,
    /// Every record by its expiry time, so a sweep touches only what expired.
    expiries: BTreeSet<(u64, RecordRef)>,
    pub(crate) tombstones: HashMap<PartitionId, VecDeque<Tombstone>>,
    counts: HashMap<PartitionId, Counts>,
    total: Counts,
}

impl MemoryState {
    fn count(&mut self, partition: PartitionId, change: impl Fn(&mut Counts)) {
        change(self.counts.entry(partition).or_default());
        change(&mut self.total);
        if self.counts.get(&partition) == Some(&Counts::default()) {
            self.counts.remove(&partition);
        }
    }

    /// Refuses a set of records that no sequence of calls makes: one UID both a negotiation
    /// and a session, a live record whose name is also buried, two records made from one
    /// Offer. Rows are sealed one by one, so a store could otherwise be given such a mix.
    pub(crate) fn check_consistent(&self) -> Result<(), SessionError> {
        let corrupt = |what| Err(SessionError::StateCorrupt(what));
        let buried = |partition: PartitionId, name: Name| {
            self.tombstones
                .get(&partition)
                .is_some_and(|list| list.iter().any(|t| t.name == name))
        };
        for (partition, uid) in self.awaiting.keys() {
            if self.sessions.contains_key(&(*partition, *uid)) {
                return corrupt("one UID is both a negotiation and a session");
            }
        }
        for (partition, uid) in self.awaiting.keys().chain(self.sessions.keys()) {
            if buried(*partition, Name::Uid(*uid)) {
                return corrupt("a live record's UID is also buried");
            }
        }
        for (partition, hash) in self.pending.keys() {
            if buried(*partition, Name::Offer(*hash)) {
                return corrupt("a pending Offer is also buried");
            }
        }
        for ((partition, _), awaiting) in &self.awaiting {
            if buried(*partition, Name::Answered(awaiting.offer_hash)) {
                return corrupt("a live negotiation's Offer is also buried");
            }
        }
        if self.by_offer.len() != self.awaiting.len() + self.sessions.len() {
            return corrupt("two records were made from one Offer");
        }
        Ok(())
    }

    pub(crate) fn is_live(&self, record: RecordRef) -> bool {
        self.expiry_of(record).is_some()
    }

    fn expiry_of(&self, record: RecordRef) -> Option<u64> {
        match record {
            RecordRef::Pending(p, hash) => self.pending.get(&(p, hash)).map(PendingOffer::expires),
            RecordRef::Awaiting(p, uid) => {
                self.awaiting.get(&(p, uid)).map(AwaitingConfirm::expires)
            }
            RecordRef::Session(p, uid) => self.sessions.get(&(p, uid)).map(Session::expires),
        }
    }

    /// Takes a record's index entries out, before it is replaced or removed.
    fn unindex(&mut self, record: RecordRef) -> Option<([u8; 32], Role)> {
        let expires = self.expiry_of(record)?;
        self.expiries.remove(&(expires, record));
        let (partition, made_from) = match record {
            RecordRef::Pending(..) => return Some(([0; 32], Role::Initiator)),
            RecordRef::Awaiting(p, uid) => (
                p,
                self.awaiting
                    .get(&(p, uid))
                    .map(|a| (a.offer_hash, Role::Responder, uid)),
            ),
            RecordRef::Session(p, uid) => (
                p,
                self.sessions
                    .get(&(p, uid))
                    .map(|s| (s.offer_hash, s.role, uid)),
            ),
        };
        let (hash, role, uid) = made_from?;
        if self.by_offer.get(&(partition, hash, role)) == Some(&uid) {
            self.by_offer.remove(&(partition, hash, role));
        }
        Some((hash, role))
    }
}

impl Txn for MemoryState {
    fn pending(
        &self,
        partition: PartitionId,
        hash: &[u8; 32],
    ) -> Result<Option<PendingOffer>, SessionError> {
        self.pending
            .get(&(partition, *hash))
            .map(PendingOffer::duplicate)
            .transpose()
    }

    fn awaiting(
        &self,
        partition: PartitionId,
        uid: SessionUid,
    ) -> Result<Option<AwaitingConfirm>, SessionError> {
        Ok(self.awaiting.get(&(partition, uid)).cloned())
    }

    fn session(
        &self,
        partition: PartitionId,
        uid: SessionUid,
    ) -> Result<Option<Session>, SessionError> {
        Ok(self.sessions.get(&(partition, uid)).cloned())
    }

    fn uid_by_offer(
        &self,
        partition: PartitionId,
        hash: &[u8; 32],
        role: Role,
    ) -> Result<Option<SessionUid>, SessionError> {
        Ok(self.by_offer.get(&(partition, *hash, role)).copied())
    }

    fn tombstone(&self, partition: PartitionId, name: Name) -> Result<Option<Kind>, SessionError> {
        Ok(self
            .tombstones
            .get(&partition)
            .and_then(|list| list.iter().rev().find(|t| t.name == name))
            .map(|t| t.kind))
    }

    fn counts(&self, partition: PartitionId) -> Result<Counts, SessionError> {
        Ok(self.counts.get(&partition).copied().unwrap_or_default())
    }

    fn device_counts(&self) -> Result<Counts, SessionError> {
        Ok(self.total)
    }

    fn expired(&self, now: u64) -> Result<Vec<RecordRef>, SessionError> {
        Ok(self
            .expiries
            .iter()
            .take_while(|(expires, _)| *expires <= now)
            .map(|(_, record)| *record)
            .collect())
    }

    fn put_pending(
        &mut self,
        partition: PartitionId,
        hash: [u8; 32],
        record: PendingOffer,
    ) -> Result<(), SessionError> {
        let key = RecordRef::Pending(partition, hash);
        if self.unindex(key).is_none() {
            self.count(partition, |c| c.negotiations += 1);
        }
        self.expiries.insert((record.expires(), key));
        self.pending.insert((partition, hash), record);
        Ok(())
    }

    fn put_awaiting(
        &mut self,
        partition: PartitionId,
        uid: SessionUid,
        record: AwaitingConfirm,
    ) -> Result<(), SessionError> {
        let key = RecordRef::Awaiting(partition, uid);
        if self.unindex(key).is_none() {
            self.count(partition, |c| c.negotiations += 1);
        }
        self.expiries.insert((record.expires(), key));
        self.by_offer
            .insert((partition, record.offer_hash, Role::Responder), uid);
        self.awaiting.insert((partition, uid), record);
        Ok(())
    }

    fn put_session(
        &mut self,
        partition: PartitionId,
        uid: SessionUid,
        record: Session,
    ) -> Result<(), SessionError> {
        let key = RecordRef::Session(partition, uid);
        if self.unindex(key).is_none() {
            self.count(partition, |c| c.sessions += 1);
        }
        self.expiries.insert((record.expires(), key));
        self.by_offer
            .insert((partition, record.offer_hash, record.role), uid);
        self.sessions.insert((partition, uid), record);
        Ok(())
    }

    fn remove(&mut self, record: RecordRef) -> Result<Option<([u8; 32], Role)>, SessionError> {
        let Some(made_from) = self.unindex(record) else {
            return Ok(None);
        };
        match record {
            RecordRef::Pending(p, hash) => {
                self.pending.remove(&(p, hash));
                self.count(p, |c| c.negotiations -= 1);
            }
            RecordRef::Awaiting(p, uid) => {
                self.awaiting.remove(&(p, uid));
                self.count(p, |c| c.negotiations -= 1);
            }
            RecordRef::Session(p, uid) => {
                self.sessions.remove(&(p, uid));
                self.count(p, |c| c.sessions -= 1);
            }
        }
        Ok(Some(made_from))
    }

    fn bury(&mut self, partition: PartitionId, tombstone: Tombstone) -> Result<(), SessionError> {
        let list = self.tombstones.entry(partition).or_default();
        list.retain(|t| t.name != tombstone.name);
        list.push_back(tombstone);
        while list.len() > MAX_TOMBSTONES {
            list.pop_front();
        }
        Ok(())
    }
}
