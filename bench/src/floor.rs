//! The physical floor of moving one key: what no implementation can skip. One AES-KWP wrap
//! and unwrap of a 32-byte key under an AES-256 key (the cipher work of a clone), and one
//! row written to SQLite inside a batched transaction (the durable write of the target), in
//! WAL mode with `synchronous=FULL` and a checkpoint every 8,192 pages, as the simulator
//! stores its objects.

use std::time::Instant;

use aes_kw::KeyInit;

use crate::{BenchResult, emit};

/// How many keys each floor figure is averaged over.
const ROUNDS: u32 = 100_000;
/// Rows per transaction, as the simulator batches the objects of one migration.
const BATCH: u32 = 1_000;
/// The size of the stored row: about what the simulator stores for an AES key.
const ROW_BYTES: usize = 512;

fn wrap_and_unwrap() -> BenchResult<f64> {
    let kek = aes_kw::KwpAes256::new_from_slice(&[0x4b; 32]).map_err(|e| e.to_string())?;
    let key = [0x5a_u8; 32];
    let mut wrapped = [0u8; 48];
    let mut unwrapped = [0u8; 40];
    let started = Instant::now();
    for round in 0..ROUNDS {
        let mut input = key;
        input[..4].copy_from_slice(&round.to_be_bytes());
        let out = kek
            .wrap_key(&input, &mut wrapped)
            .map_err(|e| format!("wrap: {e}"))?;
        let back = kek
            .unwrap_key(out, &mut unwrapped)
            .map_err(|e| format!("unwrap: {e}"))?;
        std::hint::black_box(back);
    }
    Ok(started.elapsed().as_secs_f64() / f64::from(ROUNDS))
}

fn stored_row() -> BenchResult<f64> {
    let dir = tempfile::tempdir().map_err(|e| format!("scratch dir: {e}"))?;
    let mut db = rusqlite::Connection::open(dir.path().join("floor.db"))
        .map_err(|e| format!("sqlite: {e}"))?;
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=8192; \
         CREATE TABLE objects (id INTEGER PRIMARY KEY, body BLOB NOT NULL);",
    )
    .map_err(|e| format!("sqlite: {e}"))?;
    let body = vec![0x33_u8; ROW_BYTES];
    let started = Instant::now();
    for _ in 0..ROUNDS / BATCH {
        let tx = db.transaction().map_err(|e| format!("sqlite: {e}"))?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO objects (body) VALUES (?1)")
                .map_err(|e| format!("sqlite: {e}"))?;
            for _ in 0..BATCH {
                insert
                    .execute([&body])
                    .map_err(|e| format!("sqlite: {e}"))?;
            }
        }
        tx.commit().map_err(|e| format!("sqlite: {e}"))?;
    }
    Ok(started.elapsed().as_secs_f64() / f64::from(ROUNDS))
}

/// `floor`: the seconds per key of each part of the floor.
///
/// # Errors
///
/// A failing cipher or database call.
pub fn measure() -> BenchResult<()> {
    let wrap = wrap_and_unwrap()?;
    let row = stored_row()?;
    emit(&[
        ("wrap_unwrap_seconds", format!("{wrap:.9}")),
        ("row_seconds", format!("{row:.9}")),
        ("seconds", format!("{:.9}", wrap + row)),
    ]);
    Ok(())
}
