//! The engine over a store that keeps one sealed row per record, as luna-sim's database does:
//! every row is a `SealedRecord` (its identity the key, its contents sealed whole), beside the
//! clear index columns a database would keep (expiry, the Offer it was made from). A whole
//! migration, the expiry rules and a replay run through it, and every row stays sealed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use cpv4_crypto::Secret32;
use cpv4_session::store::{Counts, Kind, Name, RecordRef, Tombstone};
use cpv4_session::testing::*;
use cpv4_session::{
    AwaitingConfirm, ContinueInput, MAX_TOMBSTONES, PendingOffer, Record, RecordId, RecordKind,
    Role, SealedRecord, Session, SessionError, SessionTable, Store, Txn,
};
use cpv4_wire::consts::*;
use cpv4_wire::{ElementType, SessionUid};
use rand_chacha::ChaCha20Rng;

/// One row: the sealed record and the clear columns an index needs.
struct Row {
    sealed: SealedRecord,
    expires: u64,
    made_from: Option<([u8; 32], Role)>,
    ordinal: u64,
}

struct Rows {
    rows: BTreeMap<RecordId, Row>,
    key: Secret32,
    rng: ChaCha20Rng,
    next_ordinal: u64,
}

/// A store of sealed rows; `atomically` is a lock (a database would use a transaction).
struct RowStore(Mutex<Rows>);

impl RowStore {
    fn new() -> Self {
        Self(Mutex::new(Rows {
            rows: BTreeMap::new(),
            key: Secret32::from_bytes([0x42; 32]),
            rng: rng(77),
            next_ordinal: 0,
        }))
    }

    fn rows(&self) -> Vec<SealedRecord> {
        let rows = self.0.lock().unwrap();
        rows.rows.values().map(|row| row.sealed.clone()).collect()
    }
}

impl Store for RowStore {
    fn atomically<R>(&self, f: impl FnOnce(&mut dyn Txn) -> R) -> Result<R, SessionError> {
        Ok(f(&mut *self.0.lock().unwrap()))
    }
}

impl Rows {
    fn get(&self, id: &RecordId) -> Result<Option<Record>, SessionError> {
        self.rows
            .get(id)
            .map(|row| Record::open(&row.sealed, &self.key))
            .transpose()
    }

    fn put(
        &mut self,
        record: RecordRef,
        value: Record,
        expires: u64,
        made_from: Option<([u8; 32], Role)>,
    ) -> Result<(), SessionError> {
        let id = RecordId::of(record);
        let sealed = value.seal(id.clone(), &self.key, &mut self.rng)?;
        let row = Row {
            sealed,
            expires,
            made_from,
            ordinal: 0,
        };
        self.rows.insert(id, row);
        Ok(())
    }

    fn live(&self) -> impl Iterator<Item = (&RecordId, &Row)> {
        self.rows
            .iter()
            .filter(|(id, _)| id.kind != RecordKind::Tombstone)
    }
}

impl Txn for Rows {
    fn pending(&self, p: u64, hash: &[u8; 32]) -> Result<Option<PendingOffer>, SessionError> {
        Ok(
            match self.get(&RecordId::of(RecordRef::Pending(p, *hash)))? {
                Some(Record::Pending(record)) => Some(record),
                _ => None,
            },
        )
    }

    fn awaiting(&self, p: u64, uid: SessionUid) -> Result<Option<AwaitingConfirm>, SessionError> {
        Ok(
            match self.get(&RecordId::of(RecordRef::Awaiting(p, uid)))? {
                Some(Record::Negotiation(record)) => Some(record),
                _ => None,
            },
        )
    }

    fn session(&self, p: u64, uid: SessionUid) -> Result<Option<Session>, SessionError> {
        Ok(match self.get(&RecordId::of(RecordRef::Session(p, uid)))? {
            Some(Record::Session(record)) => Some(record),
            _ => None,
        })
    }

    fn uid_by_offer(
        &self,
        p: u64,
        hash: &[u8; 32],
        role: Role,
    ) -> Result<Option<SessionUid>, SessionError> {
        // A database would query an index on (partition, offer hash, role).
        Ok(self.live().find_map(|(id, row)| {
            (id.partition == p && row.made_from == Some((*hash, role)))
                .then(|| SessionUid::try_from(id.name.as_slice()).unwrap())
        }))
    }

    fn tombstone(&self, p: u64, name: Name) -> Result<Option<Kind>, SessionError> {
        Ok(match self.get(&RecordId::of_tombstone(p, &name))? {
            Some(Record::Tombstone(tombstone, _)) => Some(tombstone.kind),
            _ => None,
        })
    }

    fn counts(&self, p: u64) -> Result<Counts, SessionError> {
        let mut counts = Counts::default();
        for (id, _) in self.live().filter(|(id, _)| id.partition == p) {
            match id.kind {
                RecordKind::Session => counts.sessions += 1,
                _ => counts.negotiations += 1,
            }
        }
        Ok(counts)
    }

    fn device_counts(&self) -> Result<Counts, SessionError> {
        let mut counts = Counts::default();
        for (id, _) in self.live() {
            match id.kind {
                RecordKind::Session => counts.sessions += 1,
                _ => counts.negotiations += 1,
            }
        }
        Ok(counts)
    }

    fn expired(&self, now: u64) -> Result<Vec<RecordRef>, SessionError> {
        let mut out = Vec::new();
        for (id, row) in self.live() {
            if row.expires <= now {
                out.extend(id.record_ref()?);
            }
        }
        Ok(out)
    }

    fn put_pending(
        &mut self,
        p: u64,
        hash: [u8; 32],
        record: PendingOffer,
    ) -> Result<(), SessionError> {
        let expires = record.expires();
        self.put(
            RecordRef::Pending(p, hash),
            Record::Pending(record),
            expires,
            None,
        )
    }

    fn put_awaiting(
        &mut self,
        p: u64,
        uid: SessionUid,
        record: AwaitingConfirm,
    ) -> Result<(), SessionError> {
        let (expires, made_from) = (record.expires(), (record.offer_hash(), Role::Responder));
        self.put(
            RecordRef::Awaiting(p, uid),
            Record::Negotiation(record),
            expires,
            Some(made_from),
        )
    }

    fn put_session(
        &mut self,
        p: u64,
        uid: SessionUid,
        record: Session,
    ) -> Result<(), SessionError> {
        let (expires, made_from) = (record.expires(), (record.offer_hash(), record.role()));
        self.put(
            RecordRef::Session(p, uid),
            Record::Session(record),
            expires,
            Some(made_from),
        )
    }

    fn remove(&mut self, record: RecordRef) -> Result<Option<([u8; 32], Role)>, SessionError> {
        Ok(self
            .rows
            .remove(&RecordId::of(record))
            .map(|row| row.made_from.unwrap_or(([0; 32], Role::Initiator))))
    }

    fn bury(&mut self, p: u64, tombstone: Tombstone) -> Result<(), SessionError> {
        let id = RecordId::of_tombstone(p, &tombstone.name);
        let ordinal = self.next_ordinal;
        self.next_ordinal += 1;
        let sealed =
            Record::Tombstone(tombstone, ordinal).seal(id.clone(), &self.key, &mut self.rng)?;
        self.rows.insert(
            id,
            Row {
                sealed,
                expires: u64::MAX,
                made_from: None,
                ordinal,
            },
        );
        // Keep the partition's newest MAX_TOMBSTONES.
        let mut mine: Vec<_> = self
            .rows
            .iter()
            .filter(|(id, _)| id.kind == RecordKind::Tombstone && id.partition == p)
            .map(|(id, row)| (row.ordinal, id.clone()))
            .collect();
        mine.sort_unstable();
        let excess = mine.len().saturating_sub(MAX_TOMBSTONES);
        for (_, id) in mine.into_iter().take(excess) {
            self.rows.remove(&id);
        }
        Ok(())
    }
}

struct RowPair {
    pair: Pair,
    target: SessionTable<RowStore>,
    source: SessionTable<RowStore>,
}

impl RowPair {
    fn new() -> Self {
        Self {
            pair: Pair::new(),
            target: SessionTable::with_store(RowStore::new()),
            source: SessionTable::with_store(RowStore::new()),
        }
    }

    fn continue_at(
        &mut self,
        on_source: bool,
        offset: u64,
        step: u64,
        message: &[u8],
        uid: Option<&[u8]>,
    ) -> Result<cpv4_session::ContinueOutput, SessionError> {
        let (table, partition, policy) = if on_source {
            (&self.source, SOURCE, &self.pair.responder)
        } else {
            (&self.target, TARGET, &self.pair.initiator)
        };
        table.continue_negotiation(
            partition,
            policy,
            at(offset),
            &mut self.pair.rng,
            ContinueInput { step, message, uid },
        )
    }
}

#[test]
fn a_migration_runs_over_sealed_rows() {
    let mut p = RowPair::new();
    let offer = p
        .target
        .start(TARGET, &p.pair.initiator, T, &mut p.pair.rng)
        .unwrap();
    let accept = p.continue_at(true, 0, 2, &offer, None).unwrap();
    // A replay is answered from the row.
    assert_eq!(p.continue_at(true, 0, 2, &offer, None).unwrap(), accept);
    let confirm = p
        .continue_at(false, 0, 3, &accept.output, Some(accept.uid.as_bytes()))
        .unwrap();
    let uid = accept.uid.as_bytes();
    p.source
        .deliver_confirm(SOURCE, &p.pair.responder, T, uid, &confirm.output)
        .unwrap();
    for (i, object) in [&b"first key"[..], b"second key", b"third key"]
        .iter()
        .enumerate()
    {
        let blob = p
            .source
            .seal(
                SOURCE,
                &p.pair.responder,
                T,
                uid,
                ElementType::Cryptoki,
                object,
            )
            .unwrap();
        let opened = p
            .target
            .open(TARGET, &p.pair.initiator, T, uid, &blob)
            .unwrap();
        assert_eq!(
            (opened.payload.as_slice(), opened.token.sequence()),
            (*object, i as u64)
        );
        p.target
            .accept_sequence(&p.pair.initiator, T, opened.token)
            .unwrap();
        assert_rv(
            p.target.open(TARGET, &p.pair.initiator, T, uid, &blob),
            CKR_CPV4_MSG_ERROR,
        );
    }
    // Every row is sealed: none holds the session's duration, its UID or a payload in the
    // clear, and each opens only under its own identity.
    for store in [p.source.store(), p.target.store()] {
        for row in store.rows() {
            for needle in [&3600u64.to_be_bytes()[..], uid, b"first key"] {
                assert!(!row.sealed.windows(needle.len()).any(|w| w == needle));
            }
            let mut moved = row.clone();
            moved.id.partition += 1;
            assert_rv(
                Record::open(&moved, &Secret32::from_bytes([0x42; 32])),
                CKR_DEVICE_ERROR,
            );
        }
    }
    p.source.close(SOURCE, &p.pair.responder, T, uid).unwrap();
    p.target.close(TARGET, &p.pair.initiator, T, uid).unwrap();
    // Closed: one tombstone row per name, no live row left.
    let kinds: Vec<_> = p.source.store().rows().iter().map(|r| r.id.kind).collect();
    assert_eq!(kinds, vec![RecordKind::Tombstone, RecordKind::Tombstone]);
    p.source.close(SOURCE, &p.pair.responder, T, uid).unwrap();
}

#[test]
fn expiry_rules_hold_over_sealed_rows() {
    let mut p = RowPair::new();
    let offer = p
        .target
        .start(TARGET, &p.pair.initiator, T, &mut p.pair.rng)
        .unwrap();
    let accept = p.continue_at(true, 0, 2, &offer, None).unwrap();
    let uid = accept.uid;
    // The negotiation past 10 minutes: expired first, then (swept) not started.
    assert_rv(
        p.continue_at(false, 600, 3, &accept.output, Some(uid.as_bytes())),
        CKR_SESSION_NEGOTIATION_EXPIRED,
    );
    assert_rv(
        p.continue_at(false, 601, 3, &accept.output, Some(uid.as_bytes())),
        CKR_SESSION_NEGOTIATION_NOT_STARTED,
    );
    // A session past its duration: expired, then invalid.
    let offer = p
        .target
        .start(TARGET, &p.pair.initiator, at(700), &mut p.pair.rng)
        .unwrap();
    let accept = p.continue_at(true, 700, 2, &offer, None).unwrap();
    let confirm = p
        .continue_at(false, 700, 3, &accept.output, Some(accept.uid.as_bytes()))
        .unwrap();
    let uid = accept.uid.as_bytes();
    p.source
        .deliver_confirm(SOURCE, &p.pair.responder, at(700), uid, &confirm.output)
        .unwrap();
    let extract = |p: &RowPair, offset| {
        p.source.seal(
            SOURCE,
            &p.pair.responder,
            at(offset),
            uid,
            ElementType::Cryptoki,
            b"k",
        )
    };
    extract(&p, 4299).unwrap();
    assert_rv(extract(&p, 4300), CKR_SESSION_ID_EXPIRED);
    assert_rv(extract(&p, 4301), CKR_SESSION_ID_INVALID);
}
