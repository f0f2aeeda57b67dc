//! Persistence of a [`SessionTable`], one sealed record per negotiation, session and tombstone.
//!
//! Every field of a record is sealed whole (`cpv4_crypto::sealed`: AES-256-GCM under a key
//! derived from the device's storage key) with the record's identity as associated data, so a
//! stored record can be neither read nor changed, nor passed off as another record, without the
//! key: a changed record is refused with [`SessionError::StateCorrupt`]
//! (`CKR_DEVICE_ERROR`). A store keeps one [`SealedRecord`] per row (its
//! [`RecordId`] is the row's key); [`SessionTable::to_bytes`] is the same records in one image.
//!
//! ```text
//! identity := "cpv4 record 2" kind:u8 partition:u64 name_len:u8 name
//! image    := "CPST" version:u8 count:u32 (id_len:u32 identity sealed_len:u32 sealed)*
//! ```

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::{Buf, BufMut};
use cpv4_crypto::Secret32;
use cpv4_crypto::attest::PeerIdentity;
use cpv4_crypto::ecdh::EphemeralSecret;
use cpv4_crypto::schedule::SessionKeys;
use cpv4_crypto::sealed;
use cpv4_wire::{Selection, SessionUid};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::SessionError;
use crate::records::{AwaitingConfirm, PendingOffer, Role, SeqSet, Session};
use crate::store::{Kind, MemoryStore, Name, RecordRef, Tombstone, Txn};
use crate::table::{PartitionId, SessionTable};

const MAGIC: &[u8; 4] = b"CPST";
const VERSION: u8 = 2;
const IDENTITY_LABEL: &[u8] = b"cpv4 record 2";
/// Records per image: the caps of the table bound a real one far below this.
const MAX_RECORDS: usize = 1 << 20;

/// What a persisted record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// An initiator's pending Offer (named by the Offer's hash).
    Pending,
    /// A responder's negotiation awaiting the Confirm (named by the UID).
    Negotiation,
    /// An established session (named by the UID).
    Session,
    /// A tombstone (named by what it buries).
    Tombstone,
}

impl RecordKind {
    fn tag(self) -> u8 {
        match self {
            RecordKind::Pending => 1,
            RecordKind::Negotiation => 2,
            RecordKind::Session => 3,
            RecordKind::Tombstone => 4,
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        Some(match tag {
            1 => RecordKind::Pending,
            2 => RecordKind::Negotiation,
            3 => RecordKind::Session,
            4 => RecordKind::Tombstone,
            _ => return None,
        })
    }
}

/// The identity of a persisted record: its kind, partition and name. It is the associated data
/// of the record's seal, and a store's key for the row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId {
    /// What the record holds.
    pub kind: RecordKind,
    /// The partition it belongs to.
    pub partition: PartitionId,
    /// Its name: an Offer hash (32 bytes), a UID (16 bytes), or for a tombstone a tag byte
    /// (1 pending Offer, 2 answered Offer, 3 UID) and the buried name.
    pub name: Vec<u8>,
}

impl RecordId {
    /// The identity as bytes (the seal's associated data).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = IDENTITY_LABEL.to_vec();
        out.put_u8(self.kind.tag());
        out.put_u64(self.partition);
        // Names are at most 33 bytes.
        out.put_u8(u8::try_from(self.name.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.name);
        out
    }

    /// Parses [`RecordId::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SessionError> {
        let mut r = Reader {
            input: bytes
                .strip_prefix(IDENTITY_LABEL)
                .ok_or_else(|| corrupt("not a record identity"))?,
        };
        let kind = RecordKind::from_tag(r.u8()?).ok_or_else(|| corrupt("unknown record kind"))?;
        let partition = r.u64()?;
        let len = usize::from(r.u8()?);
        r.need(len)?;
        let name = r.input.get(..len).unwrap_or_default().to_vec();
        r.input.advance(len);
        r.end()?;
        Ok(Self {
            kind,
            partition,
            name,
        })
    }
}

/// One record, sealed: what a store keeps per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRecord {
    /// The record's identity.
    pub id: RecordId,
    /// Its sealed contents (`cpv4_crypto::sealed`), bound to `id`.
    pub sealed: Vec<u8>,
}

fn corrupt(what: &'static str) -> SessionError {
    SessionError::StateCorrupt(what)
}

#[derive(Default)]
struct Writer {
    out: Zeroizing<Vec<u8>>,
}

impl Writer {
    fn bytes(&mut self, bytes: &[u8]) {
        // Records hold messages of at most 32 KiB and sets of ranges: far below u32::MAX.
        self.out
            .put_u32(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        self.out.extend_from_slice(bytes);
    }

    fn count(&mut self, count: usize) {
        self.out.put_u32(u32::try_from(count).unwrap_or(u32::MAX));
    }
}

struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    fn need(&self, len: usize) -> Result<(), SessionError> {
        if self.input.remaining() < len {
            Err(corrupt("truncated session state"))
        } else {
            Ok(())
        }
    }

    fn u8(&mut self) -> Result<u8, SessionError> {
        self.need(1)?;
        Ok(self.input.get_u8())
    }

    fn u32(&mut self) -> Result<u32, SessionError> {
        self.need(4)?;
        Ok(self.input.get_u32())
    }

    fn u64(&mut self) -> Result<u64, SessionError> {
        self.need(8)?;
        Ok(self.input.get_u64())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SessionError> {
        self.need(N)?;
        let mut out = [0u8; N];
        self.input.copy_to_slice(&mut out);
        Ok(out)
    }

    fn bytes(&mut self) -> Result<&'a [u8], SessionError> {
        let len = usize::try_from(self.u32()?).map_err(|_| corrupt("length"))?;
        self.need(len)?;
        let (head, tail) = self.input.split_at(len);
        self.input = tail;
        Ok(head)
    }

    fn text(&mut self) -> Result<String, SessionError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| corrupt("text"))
    }

    /// A count, bounded by what the remaining input could hold (`min_size` bytes per entry).
    fn count(&mut self, min_size: usize) -> Result<usize, SessionError> {
        let count = usize::try_from(self.u32()?).map_err(|_| corrupt("count"))?;
        if count.saturating_mul(min_size) > self.input.remaining() {
            return Err(corrupt("count beyond the input"));
        }
        Ok(count)
    }

    fn end(&self) -> Result<(), SessionError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(corrupt("trailing bytes"))
        }
    }
}

fn put_selection(w: &mut Writer, s: &Selection) {
    for value in [s.suite, s.kdf, s.encoding, s.duration, s.chain_mechanism] {
        w.out.put_u32(value);
    }
}

fn get_selection(r: &mut Reader<'_>) -> Result<Selection, SessionError> {
    Ok(Selection {
        suite: r.u32()?,
        kdf: r.u32()?,
        encoding: r.u32()?,
        duration: r.u32()?,
        chain_mechanism: r.u32()?,
    })
}

fn keys_from(bytes: &[u8]) -> Result<Box<SessionKeys>, SessionError> {
    SessionKeys::from_slice(bytes)
        .map(Box::new)
        .ok_or(corrupt("session keys of a wrong size"))
}

fn put_peer(w: &mut Writer, peer: &PeerIdentity) {
    w.bytes(peer.hsm_serial.as_bytes());
    w.bytes(peer.partition.as_bytes());
    w.out.extend_from_slice(&peer.leaf_spki_sha256);
}

fn get_peer(r: &mut Reader<'_>) -> Result<PeerIdentity, SessionError> {
    Ok(PeerIdentity {
        hsm_serial: r.text()?,
        partition: r.text()?,
        leaf_spki_sha256: r.array()?,
    })
}

fn uid_name(name: &[u8]) -> Result<SessionUid, SessionError> {
    SessionUid::try_from(name).map_err(|_| corrupt("a record name is not a UID"))
}

fn hash_name(name: &[u8]) -> Result<[u8; 32], SessionError> {
    name.try_into()
        .map_err(|_| corrupt("a record name is not a hash"))
}

fn tombstone_name(name: &Name) -> Vec<u8> {
    match name {
        Name::Offer(hash) => [&[1][..], hash].concat(),
        Name::Answered(hash) => [&[2][..], hash].concat(),
        Name::Uid(uid) => [&[3][..], uid.as_bytes()].concat(),
    }
}

fn name_from(bytes: &[u8]) -> Result<Name, SessionError> {
    match bytes.split_first() {
        Some((1, hash)) => Ok(Name::Offer(hash_name(hash)?)),
        Some((2, hash)) => Ok(Name::Answered(hash_name(hash)?)),
        Some((3, uid)) => Ok(Name::Uid(uid_name(uid)?)),
        _ => Err(corrupt("unknown tombstone name")),
    }
}

/// One record, open: what a store seals into one row ([`Record::seal`]) and gets back
/// ([`Record::open`]).
#[derive(Debug)]
pub enum Record {
    /// An initiator's pending negotiation.
    Pending(PendingOffer),
    /// A responder's negotiation awaiting its Confirm.
    Negotiation(AwaitingConfirm),
    /// An established session.
    Session(Session),
    /// A tombstone, with its position among its partition's tombstones (oldest first).
    Tombstone(Tombstone, u64),
}

impl RecordId {
    /// The identity of a live record.
    pub fn of(record: RecordRef) -> Self {
        let (kind, partition, name) = match record {
            RecordRef::Pending(p, hash) => (RecordKind::Pending, p, hash.to_vec()),
            RecordRef::Awaiting(p, uid) => (RecordKind::Negotiation, p, uid.as_bytes().to_vec()),
            RecordRef::Session(p, uid) => (RecordKind::Session, p, uid.as_bytes().to_vec()),
        };
        Self {
            kind,
            partition,
            name,
        }
    }

    /// The identity of a tombstone.
    pub fn of_tombstone(partition: PartitionId, name: &Name) -> Self {
        Self {
            kind: RecordKind::Tombstone,
            partition,
            name: tombstone_name(name),
        }
    }

    /// The live record this identity names (`None` for a tombstone).
    pub fn record_ref(&self) -> Result<Option<RecordRef>, SessionError> {
        Ok(Some(match self.kind {
            RecordKind::Pending => RecordRef::Pending(self.partition, hash_name(&self.name)?),
            RecordKind::Negotiation => RecordRef::Awaiting(self.partition, uid_name(&self.name)?),
            RecordKind::Session => RecordRef::Session(self.partition, uid_name(&self.name)?),
            RecordKind::Tombstone => return Ok(None),
        }))
    }
}

impl Record {
    fn kind(&self) -> RecordKind {
        match self {
            Record::Pending(_) => RecordKind::Pending,
            Record::Negotiation(_) => RecordKind::Negotiation,
            Record::Session(_) => RecordKind::Session,
            Record::Tombstone(..) => RecordKind::Tombstone,
        }
    }

    /// Seals the record whole for `id` under `key`.
    ///
    /// # Errors
    ///
    /// [`SessionError::StateCorrupt`] if `id` is of another kind than the record, or the seal
    /// fails.
    pub fn seal<R: CryptoRng + ?Sized>(
        &self,
        id: RecordId,
        key: &Secret32,
        rng: &mut R,
    ) -> Result<SealedRecord, SessionError> {
        self.seal_bound(id, &[], key, rng)
    }

    /// As [`Record::seal`], also binding `bound` (associated data after the identity): a
    /// store binds the clear index columns it keeps beside the row (expiry, the Offer the
    /// record was made from, a tombstone's order), so a changed index column makes the record
    /// refuse to open.
    ///
    /// # Errors
    ///
    /// As [`Record::seal`].
    pub fn seal_bound<R: CryptoRng + ?Sized>(
        &self,
        id: RecordId,
        bound: &[u8],
        key: &Secret32,
        rng: &mut R,
    ) -> Result<SealedRecord, SessionError> {
        if id.kind != self.kind() {
            return Err(corrupt("a record sealed under an identity of another kind"));
        }
        let mut w = Writer::default();
        match self {
            Record::Pending(record) => {
                w.out.put_u64(record.created);
                w.bytes(&record.offer);
                w.out
                    .extend_from_slice(record.ephemeral.to_secret().expose_secret());
            }
            Record::Negotiation(record) => {
                w.out.put_u64(record.created);
                w.out.extend_from_slice(&record.offer_hash);
                w.bytes(&record.offer);
                w.bytes(&record.accept);
                put_selection(&mut w, &record.selection);
                w.count(record.listed_roots.len());
                record
                    .listed_roots
                    .iter()
                    .for_each(|root| w.out.extend_from_slice(root));
                w.out.extend_from_slice(&record.keys.to_bytes()[..]);
            }
            Record::Session(session) => {
                w.out.put_u8(match session.role {
                    Role::Initiator => 1,
                    Role::Responder => 2,
                });
                w.out.put_u32(session.encoding);
                w.out.put_u64(session.established);
                w.out.put_u64(session.duration);
                w.out.put_u64(session.next_send);
                w.count(session.received.ranges().len());
                for (start, end) in session.received.ranges() {
                    w.out.put_u64(*start);
                    w.out.put_u64(*end);
                }
                w.out.extend_from_slice(&session.offer_hash);
                match session.confirm_hash {
                    Some(hash) => {
                        w.out.put_u8(1);
                        w.out.extend_from_slice(&hash);
                    }
                    None => w.out.put_u8(0),
                }
                put_peer(&mut w, &session.peer);
                w.out.extend_from_slice(&session.keys.to_bytes()[..]);
            }
            Record::Tombstone(tombstone, ordinal) => {
                w.out.put_u8(match tombstone.kind {
                    Kind::Negotiation => 1,
                    Kind::Session => 2,
                });
                w.out.put_u64(tombstone.at);
                w.out.put_u64(*ordinal);
            }
        }
        let aad = [id.to_bytes().as_slice(), bound].concat();
        let sealed = sealed::seal(key, &aad, &w.out, rng)
            .map_err(|_| corrupt("a record could not be sealed"))?;
        Ok(SealedRecord { id, sealed })
    }

    /// Opens a record sealed by [`Record::seal`] under `key`. A record that was changed,
    /// truncated, renamed or sealed under another key is refused
    /// ([`SessionError::StateCorrupt`]), never trusted.
    pub fn open(record: &SealedRecord, key: &Secret32) -> Result<Self, SessionError> {
        Self::open_bound(record, &[], key)
    }

    /// Opens a record sealed by [`Record::seal_bound`] with the same `bound`.
    ///
    /// # Errors
    ///
    /// As [`Record::open`].
    pub fn open_bound(
        record: &SealedRecord,
        bound: &[u8],
        key: &Secret32,
    ) -> Result<Self, SessionError> {
        let aad = [record.id.to_bytes().as_slice(), bound].concat();
        let plain = sealed::open(key, &aad, &record.sealed)
            .map_err(|_| corrupt("a record does not authenticate (changed, or another key)"))?;
        let mut r = Reader { input: &plain };
        let name = &record.id.name;
        Ok(match record.id.kind {
            RecordKind::Pending => {
                hash_name(name)?;
                let created = r.u64()?;
                let offer = r.bytes()?.to_vec();
                let scalar = Secret32::from_bytes(r.array()?);
                let ephemeral = EphemeralSecret::from_secret(&scalar)
                    .ok_or(corrupt("an ephemeral key does not restore"))?;
                r.end()?;
                Record::Pending(PendingOffer {
                    offer,
                    ephemeral,
                    created,
                })
            }
            RecordKind::Negotiation => {
                uid_name(name)?;
                let created = r.u64()?;
                let offer_hash = r.array()?;
                let offer = r.bytes()?.to_vec();
                let accept = r.bytes()?.to_vec();
                let selection = get_selection(&mut r)?;
                let listed_roots = (0..r.count(32)?)
                    .map(|_| r.array::<32>())
                    .collect::<Result<Vec<_>, _>>()?;
                let keys = keys_from(r.input)?;
                Record::Negotiation(AwaitingConfirm {
                    offer,
                    offer_hash,
                    accept,
                    selection,
                    listed_roots,
                    keys,
                    created,
                })
            }
            RecordKind::Session => {
                uid_name(name)?;
                let role = match r.u8()? {
                    1 => Role::Initiator,
                    2 => Role::Responder,
                    _ => return Err(corrupt("unknown role")),
                };
                let encoding = r.u32()?;
                let established = r.u64()?;
                let duration = r.u64()?;
                let next_send = r.u64()?;
                let ranges = (0..r.count(16)?)
                    .map(|_| Ok((r.u64()?, r.u64()?)))
                    .collect::<Result<Vec<_>, SessionError>>()?;
                let received =
                    SeqSet::from_ranges(ranges).ok_or(corrupt("a malformed sequence set"))?;
                let offer_hash = r.array()?;
                let confirm_hash = match r.u8()? {
                    0 => None,
                    1 => Some(r.array()?),
                    _ => return Err(corrupt("a malformed confirm hash")),
                };
                let peer = get_peer(&mut r)?;
                let keys = keys_from(r.input)?;
                Record::Session(Session {
                    role,
                    keys,
                    encoding,
                    established,
                    duration,
                    next_send,
                    received,
                    offer_hash,
                    confirm_hash,
                    peer,
                })
            }
            RecordKind::Tombstone => {
                let name = name_from(name)?;
                let kind = match r.u8()? {
                    1 => Kind::Negotiation,
                    2 => Kind::Session,
                    _ => return Err(corrupt("unknown tombstone kind")),
                };
                let at = r.u64()?;
                let ordinal = r.u64()?;
                r.end()?;
                Record::Tombstone(Tombstone { name, kind, at }, ordinal)
            }
        })
    }
}

impl SessionTable<MemoryStore> {
    /// Every record of the table, each sealed whole under `key` with its identity as
    /// associated data, in a deterministic order (tombstones last, oldest first).
    pub fn export_records<R: CryptoRng + ?Sized>(
        &self,
        key: &Secret32,
        rng: &mut R,
    ) -> Result<Vec<SealedRecord>, SessionError> {
        let state = self.store.lock();
        let mut records = Vec::new();
        let mut pending: Vec<_> = state.pending.keys().copied().collect();
        pending.sort_unstable();
        for (partition, hash) in pending {
            if let Some(record) = state.pending.get(&(partition, hash)) {
                let record = Record::Pending(record.duplicate()?);
                let id = RecordId::of(RecordRef::Pending(partition, hash));
                records.push(record.seal(id, key, rng)?);
            }
        }
        let mut awaiting: Vec<_> = state.awaiting.iter().collect();
        awaiting.sort_by_key(|(k, _)| **k);
        for ((partition, uid), record) in awaiting {
            let id = RecordId::of(RecordRef::Awaiting(*partition, *uid));
            records.push(Record::Negotiation(record.clone()).seal(id, key, rng)?);
        }
        let mut sessions: Vec<_> = state.sessions.iter().collect();
        sessions.sort_by_key(|(k, _)| **k);
        for ((partition, uid), session) in sessions {
            let id = RecordId::of(RecordRef::Session(*partition, *uid));
            records.push(Record::Session(session.clone()).seal(id, key, rng)?);
        }
        let mut partitions: Vec<_> = state.tombstones.keys().copied().collect();
        partitions.sort_unstable();
        for partition in partitions {
            let list = state.tombstones.get(&partition).into_iter().flatten();
            for (ordinal, tombstone) in list.enumerate() {
                let id = RecordId::of_tombstone(partition, &tombstone.name);
                let ordinal = u64::try_from(ordinal).unwrap_or(u64::MAX);
                records.push(Record::Tombstone(*tombstone, ordinal).seal(id, key, rng)?);
            }
        }
        Ok(records)
    }

    /// Restores a table from records made by [`SessionTable::export_records`] under the same
    /// `key`. A record that was changed, truncated, renamed or sealed under another key is
    /// refused ([`SessionError::StateCorrupt`]), never trusted; so is a set of records that no
    /// sequence of calls makes.
    pub fn import_records<I: IntoIterator<Item = SealedRecord>>(
        records: I,
        key: &Secret32,
    ) -> Result<Self, SessionError> {
        let table = Self::new();
        let mut tombstones: HashMap<PartitionId, Vec<(u64, Tombstone)>> = HashMap::new();
        {
            let mut state = table.store.lock();
            for sealed in records {
                let record = Record::open(&sealed, key)?;
                let partition = sealed.id.partition;
                let live = sealed.id.record_ref()?;
                if let Some(live) = live
                    && state.is_live(live)
                {
                    return Err(corrupt("a record appears twice"));
                }
                match (record, live) {
                    (Record::Pending(record), Some(RecordRef::Pending(_, hash))) => {
                        state.put_pending(partition, hash, record)?;
                    }
                    (Record::Negotiation(record), Some(RecordRef::Awaiting(_, uid))) => {
                        state.put_awaiting(partition, uid, record)?;
                    }
                    (Record::Session(record), Some(RecordRef::Session(_, uid))) => {
                        state.put_session(partition, uid, record)?;
                    }
                    (Record::Tombstone(tombstone, ordinal), None) => {
                        tombstones
                            .entry(partition)
                            .or_default()
                            .push((ordinal, tombstone));
                    }
                    _ => return Err(corrupt("a record of another kind than its identity")),
                }
            }
            for (partition, mut list) in tombstones {
                list.sort_by_key(|(ordinal, _)| *ordinal);
                let ordinals: HashSet<u64> = list.iter().map(|(ordinal, _)| *ordinal).collect();
                let names: HashSet<Name> = list.iter().map(|(_, t)| t.name).collect();
                if ordinals.len() != list.len() || names.len() != list.len() {
                    return Err(corrupt("a tombstone appears twice"));
                }
                if list.len() > crate::MAX_TOMBSTONES {
                    return Err(corrupt("more tombstones than a partition keeps"));
                }
                let list: VecDeque<_> = list.into_iter().map(|(_, t)| t).collect();
                state.tombstones.insert(partition, list);
            }
            state.check_consistent()?;
        }
        Ok(table)
    }

    /// The table as one image: its [`SealedRecord`]s, each sealed under `key`.
    pub fn to_bytes<R: CryptoRng + ?Sized>(
        &self,
        key: &Secret32,
        rng: &mut R,
    ) -> Result<Vec<u8>, SessionError> {
        let records = self.export_records(key, rng)?;
        let mut out = MAGIC.to_vec();
        out.put_u8(VERSION);
        out.put_u32(u32::try_from(records.len()).unwrap_or(u32::MAX));
        for record in records {
            let id = record.id.to_bytes();
            for part in [&id[..], &record.sealed[..]] {
                out.put_u32(u32::try_from(part.len()).unwrap_or(u32::MAX));
                out.extend_from_slice(part);
            }
        }
        Ok(out)
    }

    /// Restores a table saved by [`SessionTable::to_bytes`] with the same `key`. An empty
    /// input is an empty table.
    pub fn from_bytes(bytes: &[u8], key: &Secret32) -> Result<Self, SessionError> {
        if bytes.is_empty() {
            return Ok(Self::new());
        }
        let mut r = Reader { input: bytes };
        if r.array::<4>()? != *MAGIC {
            return Err(corrupt("not a session table image"));
        }
        if r.u8()? != VERSION {
            return Err(corrupt("unknown session table version"));
        }
        let count = r.count(8)?;
        if count > MAX_RECORDS {
            return Err(corrupt("too many records"));
        }
        let mut records = Vec::with_capacity(count);
        for _ in 0..count {
            let id = RecordId::from_bytes(r.bytes()?)?;
            let sealed = r.bytes()?.to_vec();
            records.push(SealedRecord { id, sealed });
        }
        r.end()?;
        Self::import_records(records, key)
    }
}
