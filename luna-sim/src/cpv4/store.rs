//! The CPv4 engine's records in the simulator home's database: a `cpv4_session::Store` whose
//! every call is one `BEGIN IMMEDIATE` transaction, one row per record (table `cpv4_records`,
//! added in schema version 3), so processes sharing a home share negotiations and sessions and
//! never lose each other's changes, and a call reads only the rows it names, the expired rows and
//! counts bounded by the caps.
//!
//! Beside each sealed record the row keeps clear index columns (its expiry, the Offer it was
//! made from and its role, a tombstone's order). They are bound into the record's seal as
//! associated data, so a changed column makes the record refuse to open
//! (`CKR_DEVICE_ERROR`) wherever the engine uses it. Counts are counted from the rows
//! themselves, never kept apart.

use std::cell::RefCell;

use cpv4_crypto::Secret32;
use cpv4_session::store::{Counts, Kind, Name, RecordRef, Tombstone};
use cpv4_session::{
    AwaitingConfirm, MAX_NEGOTIATIONS_PER_DEVICE, MAX_NEGOTIATIONS_PER_PARTITION,
    MAX_SESSIONS_PER_DEVICE, MAX_SESSIONS_PER_PARTITION, MAX_TOMBSTONES, PendingOffer, Record,
    RecordId, RecordKind, Role, SealedRecord, Session, SessionError, Store, Txn,
};
use cpv4_wire::SessionUid;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::SimError;
use crate::sim::Simulator;
use crate::store::keys::os_rng;

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

fn partition_u64(partition: i64) -> Result<u64, SessionError> {
    u64::try_from(partition).map_err(|_| SessionError::StateCorrupt("partition id"))
}

fn partition_sql(partition: u64) -> Result<i64, SessionError> {
    i64::try_from(partition).map_err(|_| SessionError::StateCorrupt("partition id"))
}

/// The records of one device, for the engine.
pub(crate) struct SqlStore<'s> {
    pub(crate) sim: &'s Simulator,
    pub(crate) device: String,
    /// Every transaction is rolled back (size queries).
    pub(crate) dry_run: bool,
}

impl Store for SqlStore<'_> {
    fn atomically<R>(&self, f: impl FnOnce(&mut dyn Txn) -> R) -> Result<R, SessionError> {
        let mut inner = self.sim.lock();
        // A storage error inside the call rolls the whole call back: no transition is ever
        // half stored.
        let body = |tx: &Transaction<'_>, keyring: &mut crate::store::Keyring| {
            let key = keyring.device(&self.device, false)?.secret();
            with_txn(tx, &self.device, &key, f)
        };
        let result = if self.dry_run {
            inner.rolled_back(body)
        } else {
            inner.write(body)
        };
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

    /// Runs `run` on the cached statement of `sql`.
    fn cached<T>(
        &self,
        sql: &str,
        run: impl FnOnce(&mut rusqlite::CachedStatement<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, SessionError> {
        self.check(
            self.tx
                .prepare_cached(sql)
                .and_then(|mut stmt| run(&mut stmt)),
        )
    }

    fn get(&self, id: RecordId) -> Result<Option<Record>, SessionError> {
        let partition = partition_sql(id.partition)?;
        let row: Option<(Vec<u8>, Index)> = self.cached(
            // The kind is written into the SQL, not bound: SQLite re-prepares a statement
            // whenever a value it planned a partial index with (`kind = 4`) changes.
            &format!(
                "SELECT sealed, expires_at, offer_hash, role, ordinal FROM cpv4_records
                 WHERE device_serial = ?1 AND kind = {} AND partition = ?2 AND name = ?3",
                kind_code(id.kind)
            ),
            |stmt| {
                stmt.query_row(params![self.device, partition, &id.name], |row| {
                    Ok((
                        row.get(0)?,
                        Index {
                            expires_at: row.get(1)?,
                            offer_hash: row.get(2)?,
                            role: row.get(3)?,
                            ordinal: row.get(4)?,
                        },
                    ))
                })
                .optional()
            },
        )?;
        row.map(|(sealed, index)| {
            Record::open_bound(&SealedRecord { id, sealed }, &index.bound(), &self.key)
        })
        .transpose()
    }

    /// Live rows of `kinds`, of one partition or (`None`) of the device, counted up to `limit`:
    /// the engine compares counts with its caps, so counting further is never needed.
    fn count(
        &self,
        partition: Option<u64>,
        kinds: &str,
        limit: usize,
    ) -> Result<usize, SessionError> {
        let sql = count_sql(partition.is_some(), kinds, limit);
        let count: i64 = match partition {
            Some(partition) => {
                let partition = partition_sql(partition)?;
                self.cached(&sql, |stmt| {
                    stmt.query_row(params![self.device, partition], |row| row.get(0))
                })?
            }
            None => self.cached(&sql, |stmt| {
                stmt.query_row(params![self.device], |row| row.get(0))
            })?,
        };
        Ok(usize::try_from(count).unwrap_or(0))
    }

    fn put(
        &mut self,
        record: RecordRef,
        value: Record,
        expires: u64,
        made_from: Option<([u8; 32], Role)>,
    ) -> Result<(), SessionError> {
        let id = RecordId::of(record);
        let partition = partition_sql(id.partition)?;
        let (offer_hash, role) = match made_from {
            Some((hash, role)) => (Some(hash.to_vec()), Some(role_code(role))),
            None => (None, None),
        };
        let index = Index {
            expires_at: Some(i64::try_from(expires).unwrap_or(i64::MAX)),
            offer_hash,
            role,
            ordinal: None,
        };
        let sealed = value.seal_bound(id.clone(), &index.bound(), &self.key, &mut os_rng())?;
        let Index {
            expires_at: expires,
            offer_hash,
            role,
            ..
        } = index;
        self.cached(
            "INSERT OR REPLACE INTO cpv4_records
                 (device_serial, kind, partition, name, expires_at, offer_hash, role, ordinal, sealed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)",
            |stmt| {
                stmt.execute(params![
                    self.device,
                    kind_code(id.kind),
                    partition,
                    &id.name,
                    expires,
                    offer_hash,
                    role,
                    sealed.sealed
                ])
            },
        )?;
        Ok(())
    }
}

/// The clear index columns of a row, bound into its seal.
struct Index {
    expires_at: Option<i64>,
    offer_hash: Option<Vec<u8>>,
    role: Option<i64>,
    ordinal: Option<i64>,
}

impl Index {
    fn bound(&self) -> Vec<u8> {
        let mut out = b"cpv4 row index".to_vec();
        for value in [self.expires_at, self.role, self.ordinal] {
            match value {
                Some(value) => {
                    out.push(1);
                    out.extend_from_slice(&value.to_be_bytes());
                }
                None => out.push(0),
            }
        }
        match &self.offer_hash {
            Some(hash) => {
                out.push(u8::try_from(hash.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(hash);
            }
            None => out.push(0),
        }
        out
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
        let Some(name) = name else {
            return Ok(None);
        };
        let uid = SessionUid::try_from(name.as_slice())
            .map_err(|_| SessionError::StateCorrupt("a record name is not a UID"))?;
        // The row's index columns are bound into its seal: opening it checks them.
        let made_from = match role {
            Role::Responder => match self.awaiting(partition_u64(partition)?, uid)? {
                Some(awaiting) => Some((awaiting.offer_hash(), Role::Responder)),
                None => self
                    .session(partition_u64(partition)?, uid)?
                    .map(|s| (s.offer_hash(), s.role())),
            },
            Role::Initiator => self
                .session(partition_u64(partition)?, uid)?
                .map(|s| (s.offer_hash(), s.role())),
        };
        if made_from != Some((*hash, role)) {
            return Err(SessionError::StateCorrupt(
                "an index column does not match its record",
            ));
        }
        Ok(Some(uid))
    }

    fn tombstone(&self, partition: u64, name: Name) -> Result<Option<Kind>, SessionError> {
        Ok(match self.get(RecordId::of_tombstone(partition, &name))? {
            Some(Record::Tombstone(tombstone, _)) => Some(tombstone.kind),
            _ => None,
        })
    }

    fn counts(&self, partition: u64) -> Result<Counts, SessionError> {
        Ok(Counts {
            negotiations: self.count(Some(partition), "1, 2", MAX_NEGOTIATIONS_PER_PARTITION)?,
            sessions: self.count(Some(partition), "3", MAX_SESSIONS_PER_PARTITION)?,
        })
    }

    fn device_counts(&self) -> Result<Counts, SessionError> {
        Ok(Counts {
            negotiations: self.count(None, "1, 2", MAX_NEGOTIATIONS_PER_DEVICE)?,
            sessions: self.count(None, "3", MAX_SESSIONS_PER_DEVICE)?,
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
        // What the record was made from comes from its seal, not from the clear columns.
        let made_from = match self.get(id.clone())? {
            None => return Ok(None),
            Some(Record::Pending(_)) => ([0; 32], Role::Initiator),
            Some(Record::Negotiation(awaiting)) => (awaiting.offer_hash(), Role::Responder),
            Some(Record::Session(session)) => (session.offer_hash(), session.role()),
            Some(Record::Tombstone(..)) => return Ok(None),
        };
        let partition = partition_sql(id.partition)?;
        self.cached(
            &format!(
                "DELETE FROM cpv4_records
                 WHERE device_serial = ?1 AND kind = {} AND partition = ?2 AND name = ?3",
                kind_code(id.kind)
            ),
            |stmt| stmt.execute(params![self.device, partition, &id.name]),
        )?;
        Ok(Some(made_from))
    }

    fn bury(&mut self, partition: u64, tombstone: Tombstone) -> Result<(), SessionError> {
        let id = RecordId::of_tombstone(partition, &tombstone.name);
        let p = partition_sql(partition)?;
        let ordinal: i64 = self.check(self.tx.query_row(
            "SELECT COALESCE(MAX(ordinal), 0) + 1 FROM cpv4_records
             WHERE device_serial = ?1 AND partition = ?2 AND kind = 4",
            params![self.device, p],
            |row| row.get(0),
        ))?;
        let index = Index {
            expires_at: None,
            offer_hash: None,
            role: None,
            ordinal: Some(ordinal),
        };
        let sealed = Record::Tombstone(tombstone, u64::try_from(ordinal).unwrap_or(0)).seal_bound(
            id.clone(),
            &index.bound(),
            &self.key,
            &mut os_rng(),
        )?;
        self.check(self.tx.execute(
            "INSERT OR REPLACE INTO cpv4_records
                 (device_serial, kind, partition, name, expires_at, offer_hash, role, ordinal, sealed)
             VALUES (?1, 4, ?2, ?3, NULL, NULL, NULL, ?4, ?5)",
            params![self.device, p, &id.name, ordinal, sealed.sealed],
        ))?;
        // The partition keeps its newest MAX_TOMBSTONES.
        if self.count(Some(partition), "4", MAX_TOMBSTONES + 1)? > MAX_TOMBSTONES {
            self.check(self.tx.execute(
                "DELETE FROM cpv4_records WHERE device_serial = ?1 AND partition = ?2
                 AND kind = 4 AND ordinal = (SELECT MIN(ordinal) FROM cpv4_records
                     WHERE device_serial = ?1 AND partition = ?2 AND kind = 4)",
                params![self.device, p],
            ))?;
        }
        Ok(())
    }
}

/// The SQL counting the live rows of `kinds` (a literal list of kind codes) of one partition
/// (`?2`) or of the device, up to `limit`. The limit is in the SQL, not bound (each caller's is
/// a constant): a bound LIMIT makes SQLite prepare the statement again on every run.
pub(crate) fn count_sql(of_partition: bool, kinds: &str, limit: usize) -> String {
    let partition = if of_partition {
        " AND partition = ?2"
    } else {
        ""
    };
    format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM cpv4_records
         WHERE device_serial = ?1{partition} AND kind IN ({kinds}) LIMIT {limit})"
    )
}
