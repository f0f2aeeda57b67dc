//! `integrity_check`: SQLite's own check plus the simulator's invariants.

use rusqlite::Connection;

use crate::error::{SimError, SimResult};
use crate::sim::Simulator;
use crate::store::keys::{attribute_aad, record_aad};
use crate::store::{Keyring, object_row};
use crate::token::attrs::ulong_to_u64;
use crate::token::objects::OUID_LEN;

/// The result of [`Simulator::integrity_check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrityReport {
    /// Token objects in the store.
    pub objects: u64,
    /// Attribute values in the store (clear and sealed).
    pub attributes: u64,
    /// Sealed values that were decrypted.
    pub sealed_values: u64,
    /// Cloning domains in the store.
    pub domains: u64,
    /// Every problem found; empty when the store is sound.
    pub problems: Vec<String>,
}

impl IntegrityReport {
    /// Whether no problem was found.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn count(conn: &Connection, sql: &str) -> SimResult<u64> {
    let n: i64 = conn.query_row(sql, [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn check(conn: &Connection, keyring: &mut Keyring, report: &mut IntegrityReport) -> SimResult<()> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
        let row = row?;
        if row != "ok" {
            report.problems.push(format!("sqlite: {row}"));
        }
    }
    report.objects = count(conn, "SELECT COUNT(*) FROM objects")?;
    report.domains = count(conn, "SELECT COUNT(*) FROM domains")?;
    check_objects(conn, keyring, report)?;
    let mut stmt =
        conn.prepare("SELECT slot, COUNT(*) FROM objects GROUP BY slot, ouid HAVING COUNT(*) > 1")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
        let (slot, n) = row?;
        report
            .problems
            .push(format!("slot {slot}: {n} objects share one CKA_OUID"));
    }
    let bad_ouids = count(
        conn,
        &format!("SELECT COUNT(*) FROM objects WHERE length(ouid) != {OUID_LEN}"),
    )?;
    if bad_ouids > 0 {
        report
            .problems
            .push(format!("{bad_ouids} objects with a malformed CKA_OUID"));
    }

    let mut stmt = conn.prepare(
        "SELECT slot, COUNT(*), SUM(is_primary), SUM(label IS NULL) FROM domains GROUP BY slot",
    )?;
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })? {
        let (slot, n, primaries, unlabelled) = row?;
        if n > 3 {
            report.problems.push(format!("slot {slot}: {n} domains"));
        }
        if primaries != 1 {
            report
                .problems
                .push(format!("slot {slot}: {primaries} primary domains"));
        }
        if unlabelled > 1 {
            report
                .problems
                .push(format!("slot {slot}: {unlabelled} unlabelled domains"));
        }
    }
    let mut stmt = conn.prepare("SELECT id, slot, psk_sealed FROM domains")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (id, slot, sealed): (i64, i64, Vec<u8>) = (row.get(0)?, row.get(1)?, row.get(2)?);
        if keyring
            .slot(conn, slot)?
            .open(&record_aad("domains", &id.to_be_bytes(), "psk"), &sealed)
            .is_err()
        {
            report
                .problems
                .push(format!("domain {id}: PSK does not decrypt"));
        }
    }
    let missing_smk = count(
        conn,
        "SELECT COUNT(*) FROM partitions p WHERE NOT EXISTS
         (SELECT 1 FROM param_objects s WHERE s.slot = p.slot AND s.kind = 'smk')",
    )?;
    if missing_smk > 0 {
        report
            .problems
            .push(format!("{missing_smk} partitions without an SMK"));
    }
    // Rows that refer to a row no longer there (possible only with foreign keys off).
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (table, rowid, parent): (String, Option<i64>, String) =
            (row.get(0)?, row.get(1)?, row.get(2)?);
        let rowid = rowid.map_or_else(|| "a row".to_owned(), |id| format!("row {id}"));
        report.problems.push(format!(
            "{table} {rowid}: refers to a missing row of {parent}"
        ));
    }
    Ok(())
}

/// Every object row: its id is a token object handle, its cells have their types, its blobs
/// parse, its sealed values open under its slot's key, and its indexed columns say what its
/// attributes say.
fn check_objects(
    conn: &Connection,
    keyring: &mut Keyring,
    report: &mut IntegrityReport,
) -> SimResult<()> {
    let mut stmt = conn.prepare(
        "SELECT id, slot, class, label, ckid, ouid, private, public, sealed FROM objects ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        // The row id: always an integer.
        let id: i64 = row.get(0)?;
        if crate::store::token_handle(id).is_err() || id == 0 {
            report.problems.push(format!(
                "object {id}: its id is not a token object handle (1 to {})",
                crate::PARAM_OBJECT_BASE - 1
            ));
            continue;
        }
        // Each cell read as its column's type: one of another type is a problem of the row.
        let cells = (|| -> rusqlite::Result<(i64, Vec<u8>, Vec<u8>)> {
            row.get::<_, i64>(2)?;
            row.get::<_, Vec<u8>>(3)?;
            row.get::<_, Vec<u8>>(4)?;
            row.get::<_, Vec<u8>>(5)?;
            row.get::<_, bool>(6)?;
            Ok((row.get(1)?, row.get(7)?, row.get(8)?))
        })();
        let (slot, public, sealed) = match cells {
            Ok(cells) => cells,
            Err(
                rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..),
            ) => {
                report.problems.push(format!(
                    "object {id}: a column holds a value of the wrong type"
                ));
                continue;
            }
            Err(other) => return Err(other.into()),
        };
        let (public, sealed) = match object_row::decode_blobs(id, &public, &sealed) {
            Ok(blobs) => blobs,
            Err(SimError::Corrupt(what)) => {
                report.problems.push(what);
                continue;
            }
            Err(other) => return Err(other),
        };
        report.attributes += (public.len() + sealed.len()) as u64;
        let key = match keyring.slot(conn, slot) {
            Ok(key) => key,
            Err(SimError::SlotIdInvalid) => {
                report
                    .problems
                    .push(format!("object {id}: its slot {slot} is no partition"));
                continue;
            }
            Err(other) => return Err(other),
        };
        for (kind, value) in &sealed {
            match key.open(&attribute_aad(id, ulong_to_u64(*kind)), value) {
                Ok(_) => report.sealed_values += 1,
                Err(_) => report.problems.push(format!(
                    "object {id}: attribute 0x{kind:X} does not decrypt"
                )),
            }
        }
        let clear = object_row::attr_map(&public);
        let agrees = object_row::Columns::of(&clear).match_row(row, 2)?;
        if !agrees {
            report.problems.push(object_row::columns_differ(id));
        }
    }
    Ok(())
}

impl Simulator {
    /// Checks the store: `PRAGMA integrity_check`, then that every object's attributes parse
    /// and agree with its indexed columns, every sealed value decrypts, OUIDs are
    /// well-formed and unique per partition, every partition has an SMK and at most three
    /// domains with exactly one primary and at most one unlabelled, and every domain PSK
    /// decrypts. Runs in one read transaction (a consistent snapshot).
    ///
    /// # Errors
    ///
    /// Store errors; problems found are reported in the [`IntegrityReport`], not as errors.
    pub fn integrity_check(&self) -> SimResult<IntegrityReport> {
        let mut inner = self.lock();
        let crate::sim::Inner { conn, keyring, .. } = &mut *inner;
        let tx = conn.transaction()?;
        let mut report = IntegrityReport::default();
        check(&tx, keyring, &mut report)?;
        tx.commit()?;
        Ok(report)
    }
}
