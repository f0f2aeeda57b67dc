//! `luna-sim-load`: a load generator for a simulator home, used by the crash and concurrency
//! tests and handy for filling a store by hand.
//!
//! ```text
//! luna-sim-load batches HOME BATCHES BATCH_SIZE   # AES keys, one transaction per batch,
//!                                                  # resuming after the last complete batch
//! luna-sim-load mixed HOME TAG COUNT               # COUNT data objects, one per transaction,
//!                                                  # each found again by label right away
//! luna-sim-load cpv4-insert HOME SLOT DIR BATCH_SIZE # inserts DIR/batch-<n> files in order,
//!                                                  # one insert call each, resuming after the
//!                                                  # last batch stored
//! luna-sim-load cpv4 HOME SLOT STEP DIR            # one CPv4 step on SLOT as the Crypto
//!                                                  # Officer, its messages as files of DIR
//! ```
//!
//! The CPv4 steps: `start` writes `offer`; `respond` reads `offer`, writes `accept` and `uid`;
//! `confirm` reads `accept` and `uid`, writes `confirm`; `deliver` delivers `confirm`;
//! `extract` extracts every secret key of the slot into `blob-<n>`, carrying `confirm` (so it
//! is the session's first extract); `insert` inserts every `blob-<n>`; `close` closes `uid`;
//! `check-session` makes an extract of no object (which reports an expired or unknown
//! session). A refused step prints its code and exits with 2.
//!
//! `batches` and `cpv4-insert` print `open` once they start writing and `committed N` after
//! each batch they commit, so a crash test can time its kills by the child's own pace.
//!
//! The fault plan of `LUNA_SIM_FAULTS` applies. Batch `b` holds keys labelled `b<b>-<i>` with
//! `CKA_ID` = `batch-<b>` and the value [`key_value`]`(b, i)`, not sensitive, so a checker can
//! read it back.

use std::path::Path;
use std::process::ExitCode;

use cpv4_wire::consts::*;
use luna_sim::provision::DEFAULT_CO_PIN;
use luna_sim::{Attribute, SimError, Simulator};

/// The value of key `index` of batch `batch`.
fn key_value(batch: u32, index: u32) -> Vec<u8> {
    let mut value = Vec::with_capacity(16);
    value.extend_from_slice(&batch.to_be_bytes());
    value.extend_from_slice(&index.to_be_bytes());
    value.extend_from_slice(&[0x5A; 8]);
    value
}

fn batches(home: &Path, total: u32, size: u32) -> Result<(), SimError> {
    let sim = Simulator::open(home)?;
    let session = sim.open_session(0, true)?;
    sim.login(session, CKU_USER, DEFAULT_CO_PIN.as_bytes())?;
    let mut first = 0;
    while first < total {
        let id = format!("batch-{first}").into_bytes();
        if sim
            .find_all(session, &[Attribute::bytes(CKA_ID, id)])?
            .is_empty()
        {
            break;
        }
        first += 1;
    }
    println!("open");
    for batch in first..total {
        let templates: Vec<Vec<Attribute>> = (0..size)
            .map(|i| {
                vec![
                    Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                    Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                    Attribute::bool(CKA_TOKEN, true),
                    Attribute::bool(CKA_SENSITIVE, false),
                    Attribute::bytes(CKA_LABEL, format!("b{batch}-{i}").into_bytes()),
                    Attribute::bytes(CKA_ID, format!("batch-{batch}").into_bytes()),
                    Attribute::bytes(CKA_VALUE, key_value(batch, i)),
                ]
            })
            .collect();
        sim.create_objects(session, &templates)?;
        println!("committed {batch}");
    }
    Ok(())
}

fn mixed(home: &Path, tag: &str, count: u32) -> Result<(), SimError> {
    let sim = Simulator::open(home)?;
    let session = sim.open_session(0, true)?;
    sim.login(session, CKU_USER, DEFAULT_CO_PIN.as_bytes())?;
    for i in 0..count {
        let label = format!("{tag}-{i}").into_bytes();
        let handle = sim.create_object(
            session,
            &[
                Attribute::ulong(CKA_CLASS, CKO_DATA),
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bytes(CKA_LABEL, label.clone()),
                Attribute::bytes(CKA_APPLICATION, tag.as_bytes().to_vec()),
            ],
        )?;
        let found = sim.find_all(session, &[Attribute::bytes(CKA_LABEL, label)])?;
        if found != [handle] {
            return Err(SimError::Corrupt(format!("{tag}-{i}: found {found:?}")));
        }
        let mine = sim.find_all(
            session,
            &[Attribute::bytes(CKA_APPLICATION, tag.as_bytes().to_vec())],
        )?;
        if mine.len() != usize::try_from(i + 1).unwrap_or(usize::MAX) {
            return Err(SimError::Corrupt(format!(
                "{tag}: {} objects after {}",
                mine.len(),
                i + 1
            )));
        }
    }
    Ok(())
}

fn cpv4(home: &Path, slot: u64, step: &str, dir: &Path) -> Result<(), SimError> {
    let io = |e: std::io::Error| SimError::Io(e.to_string());
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(io);
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).map_err(io);
    let sim = Simulator::open(home)?;
    let session = sim.open_session(slot, true)?;
    sim.login(session, CKU_USER, DEFAULT_CO_PIN.as_bytes())?;
    match step {
        "start" => write("offer", &sim.cpv4_start(session, &[])?),
        "respond" => {
            let out = sim.cpv4_continue(session, 2, &read("offer")?, None)?;
            write("accept", &out.output)?;
            write("uid", out.uid.as_bytes())
        }
        "confirm" => {
            let uid = read("uid")?;
            let out = sim.cpv4_continue(session, 3, &read("accept")?, Some(&uid))?;
            write("confirm", &out.output)
        }
        "deliver" => sim
            .cpv4_deliver_confirm(session, &read("uid")?, &read("confirm")?)
            .map(drop),
        "extract" => {
            let keys = sim.find_all(session, &[Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY)])?;
            let items: Vec<_> = keys
                .iter()
                .map(|&handle| luna_sim::ExtractItem {
                    object_type: CK_CRYPTOKI_ELEMENT,
                    handle,
                    capacity: 64_000,
                })
                .collect();
            let out =
                sim.cpv4_extract(session, &read("uid")?, &read("confirm")?, 0, &items, false)?;
            for (n, blob) in out.blobs.iter().enumerate() {
                if let Some(blob) = blob {
                    write(&format!("blob-{n}"), blob)?;
                }
            }
            match out.rv {
                CKR_OK => Ok(()),
                _ => Err(SimError::Corrupt(format!("extract: {:?}", out.results))),
            }
        }
        "insert" => {
            let mut blobs = Vec::new();
            while let Ok(blob) = read(&format!("blob-{}", blobs.len())) {
                blobs.push(blob);
            }
            let items: Vec<_> = blobs
                .iter()
                .map(|blob| luna_sim::InsertItem {
                    storage_type: 1,
                    object_type: CK_CRYPTOKI_ELEMENT,
                    blob,
                })
                .collect();
            let out = sim.cpv4_insert(session, &read("uid")?, &[], 0, &items)?;
            match out.rv {
                CKR_OK => Ok(()),
                _ => Err(SimError::Corrupt(format!("insert: {:?}", out.results))),
            }
        }
        "close" => sim.cpv4_close(session, &read("uid")?),
        // The session's liveness, as an extract of no object sees it.
        "check-session" => sim
            .cpv4_extract(session, &read("uid")?, &[], 0, &[], false)
            .map(drop),
        _ => Err(SimError::ArgumentsBad("unknown CPv4 step")),
    }
}

/// The blobs of a batch file: each a big-endian u32 length and its bytes.
fn read_batch(bytes: &[u8]) -> Result<Vec<&[u8]>, SimError> {
    let mut blobs = Vec::new();
    let mut rest = bytes;
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = usize::try_from(u32::from_be_bytes(*len)).unwrap_or(usize::MAX);
        if tail.len() < len {
            return Err(SimError::Corrupt("truncated batch file".into()));
        }
        let (blob, tail) = tail.split_at(len);
        blobs.push(blob);
        rest = tail;
    }
    Ok(blobs)
}

fn cpv4_insert_batches(home: &Path, slot: u64, dir: &Path, size: usize) -> Result<(), SimError> {
    let io = |e: std::io::Error| SimError::Io(e.to_string());
    let sim = Simulator::open(home)?;
    let session = sim.open_session(slot, true)?;
    sim.login(session, CKU_USER, DEFAULT_CO_PIN.as_bytes())?;
    let uid = std::fs::read(dir.join("uid")).map_err(io)?;
    println!("open");
    for batch in 0.. {
        let Ok(bytes) = std::fs::read(dir.join(format!("batch-{batch}"))) else {
            break;
        };
        let id = format!("batch-{batch}").into_bytes();
        let stored = sim
            .find_all(session, &[Attribute::bytes(CKA_ID, id)])?
            .len();
        if stored == size {
            continue;
        }
        if stored != 0 {
            return Err(SimError::Corrupt(format!(
                "batch {batch}: {stored} objects"
            )));
        }
        let blobs = read_batch(&bytes)?;
        let items: Vec<_> = blobs
            .iter()
            .map(|blob| luna_sim::InsertItem {
                storage_type: 1,
                object_type: CK_CRYPTOKI_ELEMENT,
                blob,
            })
            .collect();
        let out = sim.cpv4_insert(session, &uid, &[], 0, &items)?;
        if out.rv != CKR_OK {
            return Err(SimError::Corrupt(format!(
                "batch {batch}: {:?}",
                out.results
            )));
        }
        println!("committed {batch}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |s: &String| s.parse::<u32>().ok();
    let result = match args.as_slice() {
        [mode, home, total, size] if mode == "batches" => match (number(total), number(size)) {
            (Some(total), Some(size)) => batches(Path::new(home), total, size),
            _ => Err(SimError::ArgumentsBad("numbers expected")),
        },
        [mode, home, tag, count] if mode == "mixed" => match number(count) {
            Some(count) => mixed(Path::new(home), tag, count),
            None => Err(SimError::ArgumentsBad("number expected")),
        },
        [mode, home, slot, dir, size] if mode == "cpv4-insert" => {
            match (number(slot), number(size)) {
                (Some(slot), Some(size)) => cpv4_insert_batches(
                    Path::new(home),
                    u64::from(slot),
                    Path::new(dir),
                    usize::try_from(size).unwrap_or(usize::MAX),
                ),
                _ => Err(SimError::ArgumentsBad("numbers expected")),
            }
        }
        [mode, home, slot, step, dir] if mode == "cpv4" => match number(slot) {
            Some(slot) => match cpv4(Path::new(home), u64::from(slot), step, Path::new(dir)) {
                // A refused CPv4 step: its code on stdout, exit 2 (a test reads both).
                Err(err) if !matches!(err, SimError::Io(_) | SimError::Corrupt(_)) => {
                    println!("{}", rv_display(err.rv()));
                    return ExitCode::from(2);
                }
                other => other,
            },
            None => Err(SimError::ArgumentsBad("number expected")),
        },
        _ => Err(SimError::ArgumentsBad(
            "usage: luna-sim-load batches HOME BATCHES SIZE | mixed HOME TAG COUNT | cpv4 HOME SLOT STEP DIR | cpv4-insert HOME SLOT DIR BATCH_SIZE",
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("luna-sim-load: {err} ({})", rv_display(err.rv()));
            ExitCode::FAILURE
        }
    }
}
