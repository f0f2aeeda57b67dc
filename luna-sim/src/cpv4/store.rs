//! The CPv4 engine's records in the simulator home's database: a `cpv4_session::Store` whose
//! every call is one `BEGIN IMMEDIATE` transaction, one row per record (table `cpv4_records`,
//! schema version 3), so processes sharing a home share negotiations and sessions and never
//! lose each other's changes, and a call reads only the rows it names, the expired rows and
//! the counts.

use std::cell::RefCell;

use cpv4_crypto::Secret32;
use cpv4_session::store::{Counts, Kind, Name, RecordRef, Tombstone};
use cpv4_session::{
    AwaitingConfirm, MAX_TOMBSTONES, PendingOffer, Record, RecordId, RecordKind, Role,
    SealedRecord, Session, SessionError, Store, Txn,
};
use cpv4_wire::SessionUid;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::SimError;
use crate::keys::os_rng;
use crate::sim::Simulator;

fn kind_code(kind: RecordKind) -> i64 {
    match kind {
        RecordKind::Pending => 1,
        RecordKind::Negotiation => 2,
        RecordKind::Session => 3,
        RecordKind::Tombstone => 4,
    }
}

fn kind_from(code: i64) -> Option<RecordKind> {
    Some(match code {
        1 => RecordKind::Pending,
        2 => RecordKind::Negotiation,
        3 => RecordKind::Session,
        4 => RecordKind::Tombstone,
        _ => return None,
    })
}

fn role_code(role: Role) -> i64 {
    match role {
        Role::Initiator => 1,
        Role::Responder => 2,
    }
}

fn partition_sql(partition: u64) -> Result<i64, SessionError> {
    i64::try_from(partition).map_err(|_| SessionError::StateCorrupt("partition id"))
}

/// The records of one device, for the engine.
pub(crate) struct SqlStore<'s> {
    pub(crate) sim: &'s Simulator,
    pub(crate) device: String,
}

impl Store for SqlStore<'_> {
    fn atomically<R>(&self, f: impl FnOnce(&mut dyn Txn) -> R) -> Result<R, SessionError> {
        let mut inner = self.sim.lock();
        // A storage error inside the call rolls the whole call back: no transition is ever
        // half stored.
        let result = inner.write(|tx, keyring| {
            let key = keyring.device(&self.device, false)?.secret();
            with_txn(tx, &self.device, &key, f)
        });
        result.map_err(|error| match error {
            SimError::Cpv4(error) => error,
            _ => SessionError::StateCorrupt("the simulator's store failed"),
        })
    }
}

/// Runs `f` on the CPv4 records of `device` inside the caller's transaction `tx` (an insert
/// call stores its objects and accepts their sequence numbers in one transaction). A storage
/// error inside `f` is returned as the transaction's error, so the caller rolls back.
pub(crate) fn with_txn<R>(
    tx: &Transaction<'_>,
    device: &str,
    key: &Secret32,
    f: impl FnOnce(&mut dyn Txn) -> R,
) -> Result<R, SimError> {
    let mut txn = SqlTxn {
        tx,
        device,
        key: key.clone(),
        failure: RefCell::new(None),
    };
    let value = f(&mut txn);
    match txn.failure.into_inner() {
        Some(error) => Err(error),
        None => Ok(value),
    }
}

struct SqlTxn<'t> {
    tx: &'t Transaction<'t>,
    device: &'t str,
    key: Secret32,
    failure: RefCell<Option<SimError>>,
}

impl SqlTxn<'_> {
    /// Records a storage error (the call then rolls back) and returns it as the engine's.
    fn check<T>(&self, result: Result<T, rusqlite::Error>) -> Result<T, SessionError> {
        result.map_err(|error| {
            self.failure
                .borrow_mut()
                .get_or_insert(SimError::Store(error.to_string()));
            SessionError::StateCorrupt("the simulator's store failed")
        })
    }

    fn get(&self, id: RecordId) -> Result<Option<Record>, SessionError> {
        let partition = partition_sql(id.partition)?;
        let sealed: Option<Vec<u8>> = self.check(
            self.tx
                .prepare_cached(
                    "SELECT sealed FROM cpv4_records
                     WHERE device_serial = ?1 AND kind = ?2 AND partition = ?3 AND name = ?4",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![self.device, kind_code(id.kind), partition, &id.name],
                        |row| row.get(0),
                    )
                    .optional()
                }),
        )?;
        sealed
            .map(|sealed| Record::open(&SealedRecord { id, sealed }, &self.key))
            .transpose()
    }

    fn exists(&self, id: &RecordId) -> Result<bool, SessionError> {
        let partition = partition_sql(id.partition)?;
        self.check(self.tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM cpv4_records
             WHERE device_serial = ?1 AND kind = ?2 AND partition = ?3 AND name = ?4)",
            params![self.device, kind_code(id.kind), partition, &id.name],
            |row| row.get(0),
        ))
    }

    fn add_counts(
        &self,
        partition: u64,
        negotiations: i64,
        sessions: i64,
        tombstones: i64,
    ) -> Result<(), SessionError> {
        let partition = partition_sql(partition)?;
        self.check(self.tx.execute(
            "INSERT INTO cpv4_counts (device_serial, partition, negotiations, sessions, tombstones)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (device_serial, partition) DO UPDATE SET
                 negotiations = negotiations + ?3, sessions = sessions + ?4,
                 tombstones = tombstones + ?5",
            params![self.device, partition, negotiations, sessions, tombstones],
        ))?;
        Ok(())
    }

    fn put(
        &mut self,
        record: RecordRef,
        value: Record,
        expires: u64,
        made_from: Option<([u8; 32], Role)>,
    ) -> Result<(), SessionError> {
        let id = RecordId::of(record);
        let is_new = !self.exists(&id)?;
        let sealed = value.seal(id.clone(), &self.key, &mut os_rng())?;
        let partition = partition_sql(id.partition)?;
        let expires = i64::try_from(expires).unwrap_or(i64::MAX);
        let (offer_hash, role) = match made_from {
            Some((hash, role)) => (Some(hash.to_vec()), Some(role_code(role))),
            None => (None, None),
        };
        self.check(self.tx.execute(
            "INSERT OR REPLACE INTO cpv4_records
                 (device_serial, kind, partition, name, expires_at, offer_hash, role, ordinal, sealed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)",
            params![
                self.device,
                kind_code(id.kind),
                partition,
                &id.name,
                expires,
                offer_hash,
                role,
                sealed.sealed
            ],
        ))?;
        if is_new {
            match id.kind {
                RecordKind::Session => self.add_counts(id.partition, 0, 1, 0)?,
                _ => self.add_counts(id.partition, 1, 0, 0)?,
            }
        }
        Ok(())
    }
}

impl Txn for SqlTxn<'_> {
    fn pending(
        &self,
        partition: u64,
        hash: &[u8; 32],
    ) -> Result<Option<PendingOffer>, SessionError> {
        Ok(
            match self.get(RecordId::of(RecordRef::Pending(partition, *hash)))? {
                Some(Record::Pending(record)) => Some(record),
                _ => None,
            },
        )
    }

    fn awaiting(
        &self,
        partition: u64,
        uid: SessionUid,
    ) -> Result<Option<AwaitingConfirm>, SessionError> {
        Ok(
            match self.get(RecordId::of(RecordRef::Awaiting(partition, uid)))? {
                Some(Record::Negotiation(record)) => Some(record),
                _ => None,
            },
        )
    }

    fn session(&self, partition: u64, uid: SessionUid) -> Result<Option<Session>, SessionError> {
        Ok(
            match self.get(RecordId::of(RecordRef::Session(partition, uid)))? {
                Some(Record::Session(record)) => Some(record),
                _ => None,
            },
        )
    }

    fn uid_by_offer(
        &self,
        partition: u64,
        hash: &[u8; 32],
        role: Role,
    ) -> Result<Option<SessionUid>, SessionError> {
        let partition = partition_sql(partition)?;
        let name: Option<Vec<u8>> = self.check(
            self.tx
                .prepare_cached(
                    "SELECT name FROM cpv4_records
                     WHERE device_serial = ?1 AND partition = ?2 AND offer_hash = ?3 AND role = ?4
                     LIMIT 1",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![self.device, partition, &hash[..], role_code(role)],
                        |row| row.get(0),
                    )
                    .optional()
                }),
        )?;
        name.map(|name| {
            SessionUid::try_from(name.as_slice())
                .map_err(|_| SessionError::StateCorrupt("a record name is not a UID"))
        })
        .transpose()
    }

    fn tombstone(&self, partition: u64, name: Name) -> Result<Option<Kind>, SessionError> {
        Ok(match self.get(RecordId::of_tombstone(partition, &name))? {
            Some(Record::Tombstone(tombstone, _)) => Some(tombstone.kind),
            _ => None,
        })
    }

    fn counts(&self, partition: u64) -> Result<Counts, SessionError> {
        let partition = partition_sql(partition)?;
        let counts: Option<(i64, i64)> = self.check(
            self.tx
                .query_row(
                    "SELECT negotiations, sessions FROM cpv4_counts
                     WHERE device_serial = ?1 AND partition = ?2",
                    params![self.device, partition],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional(),
        )?;
        let (negotiations, sessions) = counts.unwrap_or_default();
        Ok(Counts {
            negotiations: usize::try_from(negotiations).unwrap_or(usize::MAX),
            sessions: usize::try_from(sessions).unwrap_or(usize::MAX),
        })
    }

    fn device_counts(&self) -> Result<Counts, SessionError> {
        let (negotiations, sessions): (i64, i64) = self.check(self.tx.query_row(
            "SELECT COALESCE(SUM(negotiations), 0), COALESCE(SUM(sessions), 0) FROM cpv4_counts
             WHERE device_serial = ?1",
            [self.device],
            |row| Ok((row.get(0)?, row.get(1)?)),
        ))?;
        Ok(Counts {
            negotiations: usize::try_from(negotiations).unwrap_or(usize::MAX),
            sessions: usize::try_from(sessions).unwrap_or(usize::MAX),
        })
    }

    fn expired(&self, now: u64) -> Result<Vec<RecordRef>, SessionError> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let rows: Vec<(i64, i64, Vec<u8>)> = self.check(
            self.tx
                .prepare_cached(
                    "SELECT kind, partition, name FROM cpv4_records
                     WHERE device_serial = ?1 AND expires_at <= ?2",
                )
                .and_then(|mut stmt| {
                    stmt.query_map(params![self.device, now], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })?
                    .collect()
                }),
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (kind, partition, name) in rows {
            let id = RecordId {
                kind: kind_from(kind).ok_or(SessionError::StateCorrupt("unknown record kind"))?,
                partition: u64::try_from(partition)
                    .map_err(|_| SessionError::StateCorrupt("partition id"))?,
                name,
            };
            out.extend(id.record_ref()?);
        }
        Ok(out)
    }

    fn put_pending(
        &mut self,
        partition: u64,
        hash: [u8; 32],
        record: PendingOffer,
    ) -> Result<(), SessionError> {
        let expires = record.expires();
        self.put(
            RecordRef::Pending(partition, hash),
            Record::Pending(record),
            expires,
            None,
        )
    }

    fn put_awaiting(
        &mut self,
        partition: u64,
        uid: SessionUid,
        record: AwaitingConfirm,
    ) -> Result<(), SessionError> {
        let (expires, made_from) = (record.expires(), (record.offer_hash(), Role::Responder));
        self.put(
            RecordRef::Awaiting(partition, uid),
            Record::Negotiation(record),
            expires,
            Some(made_from),
        )
    }

    fn put_session(
        &mut self,
        partition: u64,
        uid: SessionUid,
        record: Session,
    ) -> Result<(), SessionError> {
        let (expires, made_from) = (record.expires(), (record.offer_hash(), record.role()));
        self.put(
            RecordRef::Session(partition, uid),
            Record::Session(record),
            expires,
            Some(made_from),
        )
    }

    fn remove(&mut self, record: RecordRef) -> Result<Option<([u8; 32], Role)>, SessionError> {
        let id = RecordId::of(record);
        let partition = partition_sql(id.partition)?;
        let made_from: Option<(Option<Vec<u8>>, Option<i64>)> = self.check(
            self.tx
                .query_row(
                    "DELETE FROM cpv4_records
                     WHERE device_serial = ?1 AND kind = ?2 AND partition = ?3 AND name = ?4
                     RETURNING offer_hash, role",
                    params![self.device, kind_code(id.kind), partition, &id.name],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional(),
        )?;
        let Some((hash, role)) = made_from else {
            return Ok(None);
        };
        match id.kind {
            RecordKind::Session => self.add_counts(id.partition, 0, -1, 0)?,
            _ => self.add_counts(id.partition, -1, 0, 0)?,
        }
        let hash: [u8; 32] = match hash {
            Some(hash) => hash
                .try_into()
                .map_err(|_| SessionError::StateCorrupt("an offer hash of a wrong size"))?,
            None => [0; 32],
        };
        let role = match role {
            Some(2) => Role::Responder,
            _ => Role::Initiator,
        };
        Ok(Some((hash, role)))
    }

    fn bury(&mut self, partition: u64, tombstone: Tombstone) -> Result<(), SessionError> {
        let id = RecordId::of_tombstone(partition, &tombstone.name);
        let is_new = !self.exists(&id)?;
        let p = partition_sql(partition)?;
        let ordinal: i64 = self.check(self.tx.query_row(
            "SELECT COALESCE(MAX(ordinal), 0) + 1 FROM cpv4_records
             WHERE device_serial = ?1 AND partition = ?2 AND kind = 4",
            params![self.device, p],
            |row| row.get(0),
        ))?;
        let sealed = Record::Tombstone(tombstone, u64::try_from(ordinal).unwrap_or(0)).seal(
            id.clone(),
            &self.key,
            &mut os_rng(),
        )?;
        self.check(self.tx.execute(
            "INSERT OR REPLACE INTO cpv4_records
                 (device_serial, kind, partition, name, expires_at, offer_hash, role, ordinal, sealed)
             VALUES (?1, 4, ?2, ?3, NULL, NULL, NULL, ?4, ?5)",
            params![self.device, p, &id.name, ordinal, sealed.sealed],
        ))?;
        if is_new {
            self.add_counts(partition, 0, 0, 1)?;
            let count: i64 = self.check(self.tx.query_row(
                "SELECT tombstones FROM cpv4_counts WHERE device_serial = ?1 AND partition = ?2",
                params![self.device, p],
                |row| row.get(0),
            ))?;
            // The partition keeps its newest MAX_TOMBSTONES.
            if usize::try_from(count).unwrap_or(0) > MAX_TOMBSTONES {
                self.check(self.tx.execute(
                    "DELETE FROM cpv4_records WHERE device_serial = ?1 AND partition = ?2
                     AND kind = 4 AND ordinal = (SELECT MIN(ordinal) FROM cpv4_records
                         WHERE device_serial = ?1 AND partition = ?2 AND kind = 4)",
                    params![self.device, p],
                ))?;
                self.add_counts(partition, 0, 0, -1)?;
            }
        }
        Ok(())
    }
}
