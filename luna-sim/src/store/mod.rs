//! The SQLite store: schema and migrations, write transactions with fault injection, the
//! keyring of per-device storage keys, and persistence of token objects.
//!
//! Durability: the database runs in WAL mode with `synchronous = FULL`, so every committed
//! transaction is on disk when `COMMIT` returns (NORMAL would survive a process crash, which
//! is what the crash tests exercise, but could lose the last transactions on power loss; a
//! simulated HSM should not lose a key that a call reported as stored). Every write
//! transaction starts with `BEGIN IMMEDIATE`, so writers of several processes queue on the
//! busy timeout instead of failing on a lock upgrade.

pub(crate) mod faults;
pub(crate) mod integrity;
pub(crate) mod keys;
pub(crate) mod object_row;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cpv4_wire::consts::{CKA_CLASS, CkAttributeType, CkObjectClass, CkUlong};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{SimError, SimResult};
use crate::session::table::{ObjectHandle, PARAM_OBJECT_BASE, SlotId};
use crate::store::faults::FaultState;
use crate::store::keys::StorageKey;
use crate::token::attrs::AttrMap;

/// The database file inside the simulator home.
pub const DB_FILE: &str = "luna-sim.db";
/// The newest schema version this build writes.
pub const SCHEMA_VERSION: i64 = 5;
/// How long a call waits for another process's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements each connection keeps. The fixed statements are about 60; a find adds
/// one per combination of the columns its template names and the caller's privacy (at most
/// 64), the CPv4 record counts a few, so 256 keeps the hot ones from evicting each other.
const STATEMENT_CACHE: usize = 256;

/// WAL pages after which a commit checkpoints them into the database (SQLite's default is
/// 1,000). Durability does not depend on it (every commit syncs the WAL); a checkpoint syncs
/// the database file, which costs more the larger the store, so fewer of them keep the time
/// per object of a 1,000,000-key migration near that of a small one (docs/benchmarks.md). The
/// WAL grows to about 32 MiB between checkpoints, and its file keeps that size until the last
/// connection to the home closes.
const WAL_CHECKPOINT_PAGES: u32 = 8192;

/// One schema migration: SQL, or code where the rows must be rewritten.
enum Migration {
    Sql(&'static str),
    Code(fn(&Connection) -> SimResult<()>),
}

/// Schema migrations: entry `i` upgrades a store from version `i` to `i + 1`.
const MIGRATIONS: &[Migration] = &[
    Migration::Sql(MIGRATION_V1),
    Migration::Sql(MIGRATION_V2),
    Migration::Sql(MIGRATION_V3),
    Migration::Code(migrate_v4),
    Migration::Sql(MIGRATION_V5),
];

/// Version 5: the objects of a slot in id order through an index, so a find whose template
/// names none of the indexed columns streams its rows instead of sorting the whole slot.
const MIGRATION_V5: &str = "CREATE INDEX objects_slot ON objects (slot);";

/// Version 4: a token object is one row. Its attributes move from one row each in
/// `attributes` into two blobs of its `objects` row (`object_row`): the clear ones in
/// `public`, the sealed ones in `sealed`, still sealed as they were (nothing is opened). The
/// indexed columns (class, label, id, OUID, privacy) stay. A store is refused and left at
/// version 3 if an object's attribute rows are not all there, one is sealed or clear against
/// its class's rule, its indexed columns differ from its attributes, or an attribute row
/// belongs to no object.
fn migrate_v4(conn: &Connection) -> SimResult<()> {
    conn.execute_batch(
        "ALTER TABLE objects ADD COLUMN public BLOB NOT NULL DEFAULT x'01';
         ALTER TABLE objects ADD COLUMN sealed BLOB NOT NULL DEFAULT x'01';",
    )?;
    let mut objects = conn.prepare("SELECT id, attr_count FROM objects ORDER BY id")?;
    let mut attributes =
        conn.prepare("SELECT type, value, sealed FROM attributes WHERE object_id = ?1")?;
    let mut update = conn.prepare("UPDATE objects SET public = ?2, sealed = ?3 WHERE id = ?1")?;
    let mut columns =
        conn.prepare("SELECT class, label, ckid, ouid, private FROM objects WHERE id = ?1")?;
    let ids = objects
        .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    for (id, count) in ids {
        let mut public = Vec::new();
        let mut sealed = Vec::new();
        let mut rows = attributes.query([id])?;
        while let Some(row) = rows.next()? {
            let entry = (sql_to_ulong(row.get(0)?), row.get::<_, Vec<u8>>(1)?);
            if row.get::<_, bool>(2)? {
                sealed.push(entry);
            } else {
                public.push(entry);
            }
        }
        // In the ascending order of the types as CK_ULONGs (SQL would order a type of 2^63 or
        // more, stored negative, first).
        public.sort_unstable_by_key(|(kind, _)| *kind);
        sealed.sort_unstable_by_key(|(kind, _)| *kind);
        let refused = |why: &str| {
            SimError::Corrupt(format!("object {id} {why}; the store stays at version 3"))
        };
        if i64::try_from(public.len() + sealed.len()).ok() != Some(count) {
            return Err(refused("lacks attributes"));
        }
        let encode = |entries: &[(CkAttributeType, Vec<u8>)]| {
            object_row::encode(
                entries
                    .iter()
                    .map(|(kind, value)| (*kind, value.as_slice())),
            )
        };
        let (public, sealed) = (encode(&public)?, encode(&sealed)?);
        // What version 4 reads back must be what version 3 held: each attribute in its own
        // blob, the indexed columns as the clear attributes say.
        let (clear, _) = object_row::decode_blobs(id, &public, &sealed)
            .map_err(|_| refused("has an attribute sealed against its class's rule"))?;
        let clear_attrs = object_row::attr_map(&clear);
        let agrees = columns.query_row([id], |row| {
            object_row::Columns::of(&clear_attrs).match_row(row, 0)
        })?;
        if !agrees {
            return Err(refused(
                "has indexed columns that differ from its attributes",
            ));
        }
        update.execute(params![id, public, sealed])?;
    }
    let orphans: i64 = conn.query_row(
        "SELECT COUNT(*) FROM attributes WHERE object_id NOT IN (SELECT id FROM objects)",
        [],
        |row| row.get(0),
    )?;
    if orphans != 0 {
        return Err(SimError::Corrupt(format!(
            "{orphans} attribute rows belong to no object; the store stays at version 3"
        )));
    }
    conn.execute_batch(
        "DROP TABLE attributes;
         ALTER TABLE objects DROP COLUMN attr_count;",
    )?;
    Ok(())
}

/// Version 3: the CPv4 engine's records, one row per pending negotiation, negotiation,
/// session and tombstone of a device, each sealed whole (`cpv4_session::Record::seal`) with its
/// identity (kind, partition, name) as associated data; beside it, the clear columns the
/// engine's lookups need (expiry, the Offer a record was made from, a tombstone's order),
/// bound into the seal. See `luna-sim/src/cpv4/store.rs`.
const MIGRATION_V3: &str = "
CREATE TABLE cpv4_records (
    device_serial TEXT NOT NULL,
    kind INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    name BLOB NOT NULL,
    expires_at INTEGER,
    offer_hash BLOB,
    role INTEGER,
    ordinal INTEGER,
    sealed BLOB NOT NULL,
    PRIMARY KEY (device_serial, kind, partition, name)
) WITHOUT ROWID;
CREATE INDEX cpv4_records_expiry ON cpv4_records (device_serial, expires_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX cpv4_records_offer ON cpv4_records (device_serial, partition, offer_hash, role)
    WHERE offer_hash IS NOT NULL;
CREATE INDEX cpv4_records_tombstones ON cpv4_records (device_serial, partition, ordinal)
    WHERE kind = 4;
";

/// Version 2: each domain keeps the parameters its PSK was derived with
/// (`cpv4_crypto::psk::DomainParams::to_bytes`); NULL for a domain of version 1, derived with
/// `cpv4_crypto::psk::V1_PARAMS`.
const MIGRATION_V2: &str = "ALTER TABLE domains ADD COLUMN kdf_params BLOB;";

const MIGRATION_V1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE roots (
    id INTEGER PRIMARY KEY,
    common_name TEXT NOT NULL,
    cert_der BLOB NOT NULL,
    key_sealed BLOB NOT NULL
);
CREATE TABLE devices (
    serial TEXT PRIMARY KEY,
    firmware TEXT NOT NULL,
    clock_set INTEGER NOT NULL,
    clock_offset INTEGER NOT NULL,
    root_id INTEGER NOT NULL REFERENCES roots(id),
    cert_der BLOB NOT NULL,
    key_sealed BLOB NOT NULL
);
CREATE TABLE device_trust (
    device_serial TEXT NOT NULL REFERENCES devices(serial),
    root_id INTEGER NOT NULL REFERENCES roots(id),
    PRIMARY KEY (device_serial, root_id)
) WITHOUT ROWID;
CREATE TABLE hsm_policies (
    device_serial TEXT NOT NULL REFERENCES devices(serial),
    policy INTEGER NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (device_serial, policy)
) WITHOUT ROWID;
CREATE TABLE partitions (
    slot INTEGER PRIMARY KEY,
    device_serial TEXT NOT NULL REFERENCES devices(serial),
    label TEXT NOT NULL,
    serial TEXT NOT NULL UNIQUE,
    cpv4_enabled INTEGER NOT NULL,
    cpv3_enabled INTEGER NOT NULL,
    cert_der BLOB NOT NULL,
    key_sealed BLOB NOT NULL
);
CREATE TABLE partition_policies (
    slot INTEGER NOT NULL REFERENCES partitions(slot),
    policy INTEGER NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (slot, policy)
) WITHOUT ROWID;
CREATE TABLE pins (
    slot INTEGER NOT NULL REFERENCES partitions(slot),
    role INTEGER NOT NULL,
    hash BLOB,
    failures INTEGER NOT NULL,
    PRIMARY KEY (slot, role)
) WITHOUT ROWID;
CREATE TABLE domains (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slot INTEGER NOT NULL REFERENCES partitions(slot),
    label BLOB,
    psk_sealed BLOB NOT NULL,
    is_primary INTEGER NOT NULL
);
CREATE UNIQUE INDEX domains_slot_label ON domains (slot, label);
CREATE TABLE param_objects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slot INTEGER NOT NULL REFERENCES partitions(slot),
    kind TEXT NOT NULL,
    ouid BLOB NOT NULL,
    secret_sealed BLOB NOT NULL,
    UNIQUE (slot, kind)
);
CREATE TABLE objects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slot INTEGER NOT NULL REFERENCES partitions(slot),
    class INTEGER NOT NULL,
    label BLOB NOT NULL,
    ckid BLOB NOT NULL,
    ouid BLOB NOT NULL,
    private INTEGER NOT NULL,
    attr_count INTEGER NOT NULL
);
CREATE INDEX objects_slot_label ON objects (slot, label);
CREATE INDEX objects_slot_ckid ON objects (slot, ckid);
CREATE INDEX objects_slot_class ON objects (slot, class);
CREATE UNIQUE INDEX objects_slot_ouid ON objects (slot, ouid);
CREATE TABLE attributes (
    object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
    type INTEGER NOT NULL,
    value BLOB NOT NULL,
    sealed INTEGER NOT NULL,
    PRIMARY KEY (object_id, type)
) WITHOUT ROWID;
CREATE INDEX attributes_type_value ON attributes (type, value);
";

/// Creates the database file readable by its owner only, before SQLite does: SQLite gives its
/// `-wal` and `-shm` files the database's permissions, so they are private too.
fn create_private(path: &Path) -> SimResult<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?;
    Ok(())
}

/// Opens (creating if needed) the database of `home` with the simulator's settings, and
/// brings its schema to [`SCHEMA_VERSION`].
pub(crate) fn open_connection(home: &Path) -> SimResult<Connection> {
    let path = home.join(DB_FILE);
    create_private(&path)?;
    let conn = Connection::open(&path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // The hot paths use more distinct statements than rusqlite's default cache of 16 holds.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    enable_wal(&conn)?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES};"
    ))?;
    migrate(&conn)?;
    Ok(conn)
}

/// Puts the database in WAL mode (a no-op once it is). SQLite does not call the busy handler
/// while another connection is switching a new database to WAL, so a first open that races
/// another gets "database is locked" at once; the switch is retried within [`BUSY_TIMEOUT`].
fn enable_wal(conn: &Connection) -> SimResult<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        // journal_mode returns a row, so it is queried rather than executed.
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| {
            row.get::<_, String>(0)
        }) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => return Err(SimError::Store(format!("journal mode {mode}, not WAL"))),
            Err(rusqlite::Error::SqliteFailure(failure, _))
                if failure.code == rusqlite::ErrorCode::DatabaseBusy
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// The schema version of a database (0 for an empty one).
pub(crate) fn schema_version(conn: &Connection) -> SimResult<i64> {
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')",
        [],
        |row| row.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    let version: Option<i64> =
        conn.query_row("SELECT MAX(version) FROM schema_version", [], |row| {
            row.get(0)
        })?;
    Ok(version.unwrap_or(0))
}

/// Applies every migration the database lacks, in one immediate transaction.
fn migrate(conn: &Connection) -> SimResult<()> {
    // A read first: an up-to-date store needs no write lock.
    let found = schema_version(conn)?;
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    if found > SCHEMA_VERSION {
        return Err(SimError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| -> SimResult<()> {
        // Another process may have migrated while we waited for the lock.
        let found = schema_version(conn)?;
        if found > SCHEMA_VERSION {
            return Err(SimError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
        let start = usize::try_from(found)
            .map_err(|_| SimError::Corrupt("negative schema version".into()))?;
        for migration in MIGRATIONS.iter().skip(start) {
            match migration {
                Migration::Sql(sql) => conn.execute_batch(sql)?,
                Migration::Code(code) => code(conn)?,
            }
        }
        conn.execute("DELETE FROM schema_version", [])?;
        conn.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [SCHEMA_VERSION],
        )?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            conn.execute_batch("COMMIT")?;
            Ok(())
        }
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(err)
        }
    }
}

/// Runs `body` in one `BEGIN IMMEDIATE` transaction: committed if it succeeds, rolled back if
/// it fails or if the fault plan makes this write fail.
pub(crate) fn write<T>(
    conn: &mut Connection,
    faults: &mut FaultState,
    body: impl FnOnce(&Transaction<'_>) -> SimResult<T>,
) -> SimResult<T> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = body(&tx)?;
    if faults.next_write_fails() {
        tx.rollback()?;
        return Err(SimError::InjectedFault(faults.writes));
    }
    tx.commit()?;
    Ok(value)
}

/// The per-device storage keys of a home, loaded on first use. Keys never change once
/// created, so caching them cannot go stale.
#[derive(Debug)]
pub(crate) struct Keyring {
    home: PathBuf,
    devices: HashMap<String, StorageKey>,
    slot_device: HashMap<i64, String>,
    manufacturer: Option<StorageKey>,
}

impl Keyring {
    pub(crate) fn new(home: &Path) -> Self {
        Self {
            home: home.to_path_buf(),
            devices: HashMap::new(),
            slot_device: HashMap::new(),
            manufacturer: None,
        }
    }

    /// The key file of a device.
    pub(crate) fn device_key_path(&self, serial: &str) -> PathBuf {
        self.home.join(format!("device-{serial}.key"))
    }

    /// The storage key of device `serial`, creating its file if `create`.
    pub(crate) fn device(&mut self, serial: &str, create: bool) -> SimResult<&StorageKey> {
        if !self.devices.contains_key(serial) {
            let path = self.device_key_path(serial);
            let key = if create {
                StorageKey::load_or_create(&path)?
            } else {
                StorageKey::load(&path)?.ok_or_else(|| {
                    SimError::Corrupt(format!("missing key file {}", path.display()))
                })?
            };
            self.devices.insert(serial.to_owned(), key);
        }
        self.devices
            .get(serial)
            .ok_or(SimError::Internal("keyring lookup"))
    }

    /// The storage key of the device holding `slot`.
    pub(crate) fn slot(&mut self, conn: &Connection, slot: i64) -> SimResult<&StorageKey> {
        if let std::collections::hash_map::Entry::Vacant(entry) = self.slot_device.entry(slot) {
            let serial: String = conn
                .query_row(
                    "SELECT device_serial FROM partitions WHERE slot = ?1",
                    [slot],
                    |row| row.get(0),
                )
                .optional()?
                .ok_or(SimError::SlotIdInvalid)?;
            entry.insert(serial);
        }
        let serial = self
            .slot_device
            .get(&slot)
            .cloned()
            .ok_or(SimError::Internal("keyring slot lookup"))?;
        self.device(&serial, false)
    }

    /// The key that seals manufacturer root keys (`manufacturer.key`).
    pub(crate) fn manufacturer(&mut self, create: bool) -> SimResult<&StorageKey> {
        if self.manufacturer.is_none() {
            let path = self.home.join("manufacturer.key");
            let key = if create {
                StorageKey::load_or_create(&path)?
            } else {
                StorageKey::load(&path)?.ok_or_else(|| {
                    SimError::Corrupt(format!("missing key file {}", path.display()))
                })?
            };
            self.manufacturer = Some(key);
        }
        self.manufacturer
            .as_ref()
            .ok_or(SimError::Internal("keyring manufacturer lookup"))
    }
}

/// Whether an attribute of an object of `class` is sealed (encrypted) at rest: the key
/// material of every secret and private key (`token::objects::SECRET_ATTRIBUTES`).
pub(crate) fn is_sealed(class: Option<CkObjectClass>, kind: CkAttributeType) -> bool {
    crate::token::objects::is_secret(class, kind)
}

/// SQLite stores integers as `i64`: attribute types and other `CK_ULONG` values are stored
/// with the same bits.
#[allow(clippy::cast_possible_wrap, clippy::unnecessary_cast)]
pub(crate) const fn ulong_to_sql(value: CkUlong) -> i64 {
    value as u64 as i64
}

/// The inverse of [`ulong_to_sql`].
#[allow(
    clippy::cast_sign_loss,
    clippy::cast_possible_truncation,
    clippy::unnecessary_cast
)]
pub(crate) const fn sql_to_ulong(value: i64) -> CkUlong {
    value as u64 as CkUlong
}

/// Inserts a token object; returns its row id (the object handle). One row, whatever its
/// number of attributes; its sealed values are bound to that id, so the id is taken before
/// the row is written: the next of the table's `AUTOINCREMENT` counter, which never gives
/// the id of a deleted object again.
pub(crate) fn insert_object(
    tx: &Transaction<'_>,
    key: &StorageKey,
    slot: i64,
    attrs: &AttrMap,
) -> SimResult<i64> {
    let id: i64 = tx
        .prepare_cached(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'objects'), 0),
                        COALESCE((SELECT MAX(id) FROM objects), 0)) + 1",
        )?
        .query_row([], |row| row.get(0))?;
    let (public, sealed) = object_row::encode_object(key, id, attrs.ulong(CKA_CLASS), attrs)?;
    let columns = object_row::Columns::of(attrs);
    let mut insert = tx.prepare_cached(
        "INSERT INTO objects (id, slot, class, label, ckid, ouid, private, public, sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let inserted = insert.execute(params![
        id,
        slot,
        columns.class,
        columns.label,
        columns.ckid,
        columns.ouid,
        columns.private,
        public,
        sealed,
    ]);
    match inserted {
        Ok(_) => Ok(id),
        Err(rusqlite::Error::SqliteFailure(err, _))
            if err.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(SimError::Corrupt("duplicate CKA_OUID".into()))
        }
        Err(err) => Err(err.into()),
    }
}

/// Replaces every attribute of token object `id` (after a successful set-attribute).
pub(crate) fn update_object(
    tx: &Transaction<'_>,
    key: &StorageKey,
    id: i64,
    attrs: &AttrMap,
) -> SimResult<()> {
    let (public, sealed) = object_row::encode_object(key, id, attrs.ulong(CKA_CLASS), attrs)?;
    let columns = object_row::Columns::of(attrs);
    let changed = tx
        .prepare_cached(
            "UPDATE objects SET label = ?2, ckid = ?3, private = ?4, public = ?5, sealed = ?6
         WHERE id = ?1",
        )?
        .execute(params![
            id,
            columns.label,
            columns.ckid,
            columns.private,
            public,
            sealed,
        ])?;
    if changed == 0 {
        return Err(SimError::ObjectHandleInvalid);
    }
    Ok(())
}

/// Deletes token object `id`; `false` if it did not exist.
pub(crate) fn delete_object(tx: &Transaction<'_>, id: i64) -> SimResult<bool> {
    Ok(tx.execute("DELETE FROM objects WHERE id = ?1", [id])? > 0)
}

pub(crate) const STORED_OBJECT_SQL: &str =
    "SELECT slot, class, label, ckid, ouid, private, public, sealed FROM objects WHERE id = ?1";

/// Token object `id` as stored: its slot, indexed columns and two blobs, read by one
/// statement (so one snapshot), or `None` if there is no such object.
pub(crate) fn stored_object(conn: &Connection, id: i64) -> SimResult<Option<StoredObject>> {
    Ok(conn
        .prepare_cached(STORED_OBJECT_SQL)?
        .query_row([id], |row| {
            Ok(StoredObject {
                slot: row.get(0)?,
                class: row.get(1)?,
                label: row.get(2)?,
                ckid: row.get(3)?,
                ouid: row.get(4)?,
                private: row.get(5)?,
                public: row.get(6)?,
                sealed: row.get(7)?,
            })
        })
        .optional()?)
}

/// A token object's row: its slot, its indexed columns, its clear and sealed attribute blobs.
pub(crate) struct StoredObject {
    pub(crate) slot: i64,
    class: i64,
    label: Vec<u8>,
    ckid: Vec<u8>,
    ouid: Vec<u8>,
    private: bool,
    public: Vec<u8>,
    sealed: Vec<u8>,
}

impl StoredObject {
    /// The object's attributes as its blobs hold them, whatever its indexed columns say: for
    /// destroying a damaged row, which its permissions still govern.
    pub(crate) fn attributes_as_stored(&self, key: &StorageKey, id: i64) -> SimResult<AttrMap> {
        object_row::decode_object(key, id, &self.public, &self.sealed)
    }

    /// The object's attributes, its sealed values opened with `key` (the slot's storage key).
    /// A row whose indexed columns differ from its attributes (a damaged store, or one blob
    /// copied onto another object) is [`SimError::Corrupt`].
    pub(crate) fn attributes(&self, key: &StorageKey, id: i64) -> SimResult<AttrMap> {
        let attrs = self.attributes_as_stored(key, id)?;
        let columns = object_row::Columns {
            class: self.class,
            label: &self.label,
            ckid: &self.ckid,
            ouid: &self.ouid,
            private: self.private,
        };
        if object_row::Columns::of(&attrs) != columns {
            return Err(SimError::Corrupt(object_row::columns_differ(id)));
        }
        Ok(attrs)
    }
}

/// Reads token object `id`'s attributes, unsealing sealed values with `key`.
pub(crate) fn load_attributes(conn: &Connection, key: &StorageKey, id: i64) -> SimResult<AttrMap> {
    stored_object(conn, id)?
        .ok_or(SimError::ObjectHandleInvalid)?
        .attributes(key, id)
}

pub(crate) const OUID_STORED_SQL: &str =
    "SELECT EXISTS (SELECT 1 FROM objects WHERE slot = ?1 AND ouid = ?2)";

/// Whether a token object of `slot` has `ouid` (the unique index `objects_slot_ouid`).
pub(crate) fn ouid_stored(conn: &Connection, slot: i64, ouid: &[u8]) -> SimResult<bool> {
    Ok(conn
        .prepare_cached(OUID_STORED_SQL)?
        .query_row(params![slot, ouid], |row| row.get(0))?)
}

/// Reads a `meta` value.
pub(crate) fn meta_get(conn: &Connection, key: &str) -> SimResult<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

/// Writes a `meta` value.
pub(crate) fn meta_set(tx: &Transaction<'_>, key: &str, value: &[u8]) -> SimResult<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// The slot id as stored.
pub(crate) fn slot_sql(slot: SlotId) -> SimResult<i64> {
    i64::try_from(slot).map_err(|_| SimError::SlotIdInvalid)
}

/// The handle of a token object.
pub(crate) fn token_handle(id: i64) -> SimResult<ObjectHandle> {
    let handle = CkUlong::try_from(id).map_err(|_| SimError::Internal("object id"))?;
    if handle >= PARAM_OBJECT_BASE {
        return Err(SimError::Internal("token object ids exhausted"));
    }
    Ok(handle)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;
    use cpv4_wire::consts::{CKA_LABEL, CKA_OUID};

    /// The statements every CPv4 call and every find run are prepared once. SQLite 3.54
    /// prepares a statement again whenever its parameters are bound anew (which a statement
    /// from rusqlite's cache is, on every use) if its plan depends on a bound value, as an
    /// `ORDER BY`, a join or a bound `LIMIT` beside `col = ?` makes it: the profile of the
    /// migration found that costing more than the queries themselves.
    #[test]
    fn hot_statements_are_prepared_once() {
        use cpv4_wire::consts::{
            CK_CRYPTOKI_ELEMENT, CKA_CLASS, CKA_ENCRYPT, CKA_ID, CKA_KEY_TYPE, CKA_TOKEN,
            CKA_VALUE, CKK_AES, CKO_SECRET_KEY, CKR_OK, CKU_USER,
        };
        use rusqlite::StatementStatus;

        use crate::token::attrs::AttrMap;
        use crate::{Attribute, MigrationItem, Simulator};

        let dir = tempfile::tempdir().unwrap();
        let sim = Simulator::open(dir.path()).unwrap();
        let source = sim.open_session(0, true).unwrap();
        sim.login(source, CKU_USER, b"co-pin").unwrap();
        let target = sim.open_session(1, true).unwrap();
        sim.login(target, CKU_USER, b"co-pin").unwrap();
        let value = |i: u64| {
            let mut value = [0x5a_u8; 32];
            value[..8].copy_from_slice(&i.to_be_bytes());
            value.to_vec()
        };
        let label = b"hot".to_vec();
        let finds: Vec<Vec<Attribute>> = vec![
            vec![],
            vec![Attribute::bytes(CKA_LABEL, label.clone())],
            vec![Attribute::bytes(CKA_LABEL, vec![])],
            vec![Attribute::bytes(CKA_ID, b"id".to_vec())],
            vec![Attribute::bytes(CKA_OUID, vec![1; 12])],
            vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY)],
            vec![Attribute::bool(CKA_ENCRYPT, true)],
            vec![Attribute::bytes(CKA_VALUE, value(0))],
        ];
        for round in 0..3_u64 {
            let templates: Vec<_> = (0..4)
                .map(|i| {
                    vec![
                        Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                        Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                        Attribute::bool(CKA_TOKEN, true),
                        Attribute::bytes(CKA_LABEL, label.clone()),
                        Attribute::bytes(CKA_VALUE, value(round * 10 + i)),
                    ]
                })
                .collect();
            let mut items: Vec<_> = sim
                .create_objects(source, &templates)
                .unwrap()
                .into_iter()
                .map(|handle| MigrationItem::new(CK_CRYPTOKI_ELEMENT, handle))
                .collect();
            assert_eq!(sim.migrate_keys(source, target, 0, &mut items), CKR_OK);
            for template in &finds {
                sim.find_objects_init(target, template).unwrap();
                sim.find_objects(target, 100).unwrap();
                sim.find_objects_final(target).unwrap();
            }
        }
        let mut hot: Vec<String> = [
            crate::device::api::PARTITION_POLICIES_SQL,
            crate::device::api::DEVICE_SLOTS_SQL,
            crate::device::api::TRUSTED_ROOTS_SQL,
            crate::device::api::ATTESTATION_CHAIN_SQL,
            crate::cpv4::DEVICE_ROOT_SQL,
            crate::device::domains::DOMAIN_ROWS_SQL,
            STORED_OBJECT_SQL,
            OUID_STORED_SQL,
        ]
        .map(str::to_owned)
        .to_vec();
        hot.extend([
            crate::cpv4::store::count_sql(
                true,
                "1, 2",
                cpv4_session::MAX_NEGOTIATIONS_PER_PARTITION,
            ),
            crate::cpv4::store::count_sql(true, "3", cpv4_session::MAX_SESSIONS_PER_PARTITION),
            crate::cpv4::store::count_sql(false, "3", cpv4_session::MAX_SESSIONS_PER_DEVICE),
            crate::cpv4::store::count_sql(false, "1, 2", cpv4_session::MAX_NEGOTIATIONS_PER_DEVICE),
        ]);
        for template in &finds {
            let template = AttrMap::from_template(template).unwrap();
            hot.push(crate::token::api::find_query(1, &template, true).0);
        }
        let inner = sim.lock();
        for sql in &hot {
            let stmt = inner.conn.prepare_cached(sql).unwrap();
            assert!(
                stmt.get_status(StatementStatus::Run) >= 3,
                "ran on every round: {sql}"
            );
            assert_eq!(
                stmt.get_status(StatementStatus::RePrepare),
                0,
                "prepared again: {sql}"
            );
        }
    }

    #[test]
    fn a_connection_syncs_every_commit_and_checkpoints_at_its_own_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(dir.path()).unwrap();
        let pragma = |name: &str| -> i64 {
            conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
                .unwrap()
        };
        assert_eq!(pragma("synchronous"), 2, "FULL");
        assert_eq!(
            pragma("wal_autocheckpoint"),
            i64::from(WAL_CHECKPOINT_PAGES)
        );
    }

    #[test]
    fn migration_from_an_empty_database_reaches_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            assert_eq!(schema_version(&conn).unwrap(), 0);
        }
        let conn = open_connection(dir.path()).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('objects', 'domains', 'cpv4_records')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(tables, 3);
        // Version 4 keeps an object's attributes in its row: there is no attribute table.
        let attributes: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'attributes'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(attributes, 0);
        // Reopening an up-to-date store changes nothing.
        drop(conn);
        let conn = open_connection(dir.path()).unwrap();
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn a_version_1_store_keeps_its_domains_and_gains_their_derivation_parameters() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch(MIGRATION_V1).unwrap();
            // A bare domain row is enough here: no partition row for it to refer to.
            conn.execute_batch(
                "PRAGMA foreign_keys = OFF;
                 CREATE TABLE schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version VALUES (1);
                 INSERT INTO domains (slot, label, psk_sealed, is_primary)
                     VALUES (1, x'6f6c64', x'00', 1);",
            )
            .unwrap();
        }
        let conn = open_connection(dir.path()).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
        // The domain of version 1 is still there; NULL parameters mean V1_PARAMS.
        let params: Option<Vec<u8>> = conn
            .query_row(
                "SELECT kdf_params FROM domains WHERE label = x'6f6c64'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(params, None);
    }

    /// A store of version 3: objects 1 and 5 of slot 0 with their attribute rows (object 5's
    /// value sealed under `key`), AUTOINCREMENT's counter at 7 (objects 6 and 7 deleted), and
    /// `attribute_rows_of_5` of object 5's four attribute rows.
    fn version_3_store(home: &Path, key: &StorageKey, attribute_rows_of_5: usize) {
        use cpv4_wire::consts::{CKA_VALUE, CKO_DATA, CKO_SECRET_KEY};
        let conn = Connection::open(home.join(DB_FILE)).unwrap();
        for sql in [MIGRATION_V1, MIGRATION_V2, MIGRATION_V3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (3);
             INSERT INTO roots VALUES (1, 'r', x'', x'');
             INSERT INTO devices VALUES ('d', 'f', 0, 0, 1, x'', x'');
             INSERT INTO partitions VALUES (0, 'd', 'p', 's', 1, 0, x'', x'');",
        )
        .unwrap();
        let insert_object = |id: i64, class, label: &[u8], count: i64| {
            conn.execute(
                "INSERT INTO objects (id, slot, class, label, ckid, ouid, private, attr_count)
                 VALUES (?1, 0, ?2, ?3, x'', ?4, 0, ?5)",
                params![id, ulong_to_sql(class), label, vec![id as u8; 12], count],
            )
            .unwrap();
        };
        let insert_attribute = |id: i64, kind, value: &[u8], sealed: bool| {
            conn.execute(
                "INSERT INTO attributes (object_id, type, value, sealed) VALUES (?1, ?2, ?3, ?4)",
                params![id, ulong_to_sql(kind), value, sealed],
            )
            .unwrap();
        };
        insert_object(1, CKO_DATA, b"data", 3);
        insert_attribute(1, CKA_CLASS, &CKO_DATA.to_be_bytes(), false);
        insert_attribute(1, CKA_LABEL, b"data", false);
        insert_attribute(1, CKA_OUID, &[1; 12], false);
        insert_object(5, CKO_SECRET_KEY, b"key", 4);
        let rows: [(CkAttributeType, Vec<u8>, bool); 4] = [
            (CKA_CLASS, CKO_SECRET_KEY.to_be_bytes().to_vec(), false),
            (CKA_LABEL, b"key".to_vec(), false),
            (CKA_OUID, vec![5; 12], false),
            (
                CKA_VALUE,
                key.seal(&keys::attribute_aad(5, CKA_VALUE), &[0x5a; 32])
                    .unwrap(),
                true,
            ),
        ];
        for (kind, value, sealed) in rows.iter().take(attribute_rows_of_5) {
            insert_attribute(5, *kind, value, *sealed);
        }
        conn.execute(
            "UPDATE sqlite_sequence SET seq = 7 WHERE name = 'objects'",
            [],
        )
        .unwrap();
    }

    #[test]
    fn a_version_3_store_keeps_its_objects_in_one_row_each_and_never_reuses_an_id() {
        use cpv4_wire::consts::CKA_VALUE;
        let dir = tempfile::tempdir().unwrap();
        let key = StorageKey::from_bytes([3; 32]);
        version_3_store(dir.path(), &key, 4);
        let conn = open_connection(dir.path()).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
        let data = load_attributes(&conn, &key, 1).unwrap();
        assert_eq!((data.len(), data.get(CKA_LABEL)), (3, Some(&b"data"[..])));
        // The sealed value moved without being opened, and opens under its id as before.
        let secret = load_attributes(&conn, &key, 5).unwrap();
        assert_eq!(secret.len(), 4);
        assert_eq!(secret.get(CKA_VALUE), Some(&[0x5a; 32][..]));
        let stored: Vec<u8> = conn
            .query_row("SELECT sealed FROM objects WHERE id = 5", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert!(!stored.windows(32).any(|w| w == [0x5a; 32]));
        // The next object is 8: the ids of deleted objects 6 and 7 are not given again.
        let tx = Connection::unchecked_transaction(&conn).unwrap();
        let mut attrs = AttrMap::new();
        attrs.set(CKA_OUID, vec![8; 12]);
        assert_eq!(insert_object(&tx, &key, 0, &attrs).unwrap(), 8);
    }

    #[test]
    fn a_version_3_store_with_an_object_missing_attribute_rows_stays_at_version_3() {
        let dir = tempfile::tempdir().unwrap();
        let key = StorageKey::from_bytes([3; 32]);
        version_3_store(dir.path(), &key, 3);
        let err = open_connection(dir.path()).unwrap_err();
        assert!(
            matches!(&err, SimError::Corrupt(why) if why.contains("object 5")),
            "{err:?}"
        );
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), 3);
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM attributes", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 6);
    }

    #[test]
    fn a_version_3_store_whose_rows_disagree_stays_at_version_3() {
        for (damage, why) in [
            (
                "PRAGMA foreign_keys = OFF;
                 INSERT INTO attributes (object_id, type, value, sealed) VALUES (9, 3, x'', 0)",
                "1 attribute rows belong to no object",
            ),
            (
                "UPDATE objects SET private = 1 WHERE id = 1",
                "object 1 has indexed columns",
            ),
            (
                "UPDATE objects SET label = x'00' WHERE id = 5",
                "object 5 has indexed columns",
            ),
            // Key material stored clear, and a clear attribute stored sealed.
            (
                "UPDATE attributes SET sealed = 0 WHERE object_id = 5 AND type = 17",
                "object 5 has an attribute sealed against",
            ),
            (
                "UPDATE attributes SET sealed = 1 WHERE object_id = 1 AND type = 3",
                "object 1 has an attribute sealed against",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let key = StorageKey::from_bytes([3; 32]);
            version_3_store(dir.path(), &key, 4);
            Connection::open(dir.path().join(DB_FILE))
                .unwrap()
                .execute_batch(damage)
                .unwrap();
            let err = open_connection(dir.path()).unwrap_err();
            assert!(
                matches!(&err, SimError::Corrupt(said) if said.contains(why)),
                "{damage}: {err:?}"
            );
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            assert_eq!(schema_version(&conn).unwrap(), 3, "{damage}");
        }
    }

    #[test]
    fn a_version_3_attribute_type_of_2_63_or_more_migrates_in_unsigned_order() {
        // Stored as a negative SQL integer, so SQL would order it first.
        let dir = tempfile::tempdir().unwrap();
        let key = StorageKey::from_bytes([3; 32]);
        version_3_store(dir.path(), &key, 4);
        let high: CkAttributeType = (1 << 63) | 1;
        let damaged = Connection::open(dir.path().join(DB_FILE)).unwrap();
        damaged
            .execute("UPDATE objects SET attr_count = 4 WHERE id = 1", [])
            .unwrap();
        damaged
            .execute(
                "INSERT INTO attributes (object_id, type, value, sealed) VALUES (1, ?1, x'00', 0)",
                [ulong_to_sql(high)],
            )
            .unwrap();
        drop(damaged);
        let conn = open_connection(dir.path()).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
        let data = load_attributes(&conn, &key, 1).unwrap();
        assert_eq!(data.get(high), Some(&[0][..]));
        assert_eq!(data.iter().last().map(|(kind, _)| kind), Some(high));
    }

    #[test]
    fn a_newer_schema_is_refused_as_device_error() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version VALUES (99);",
            )
            .unwrap();
        }
        let err = open_connection(dir.path()).unwrap_err();
        assert_eq!(
            err,
            SimError::SchemaTooNew {
                found: 99,
                supported: SCHEMA_VERSION
            }
        );
        assert_eq!(err.rv(), cpv4_wire::consts::CKR_DEVICE_ERROR);
    }

    #[test]
    fn ulong_sql_round_trip_keeps_vendor_bits() {
        let kind: CkUlong = 0x8000_0005;
        assert_eq!(sql_to_ulong(ulong_to_sql(kind)), kind);
        assert_eq!(sql_to_ulong(ulong_to_sql(CkUlong::MAX)), CkUlong::MAX);
    }

    #[cfg(unix)]
    #[test]
    fn the_database_and_its_wal_are_private_to_their_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let conn = super::open_connection(dir.path()).unwrap();
        conn.execute_batch("CREATE TABLE probe (x); INSERT INTO probe VALUES (1);")
            .unwrap();
        for name in [
            super::DB_FILE.to_string(),
            format!("{}-wal", super::DB_FILE),
        ] {
            let mode = std::fs::metadata(dir.path().join(&name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }
}
