//! The air-gapped relay: `cpv4 relay step ...` runs one step of a migration on one host, reads
//! the peer's output from a file and writes its own to another, relying on the HSMs to keep
//! the negotiation and session between runs (section 9 of docs/protocol.md). The steps, in
//! order, alternating between the target's host (T) and the source's (S):
//!
//! 1. T `offer`: Start; writes the Offer.
//! 2. S `accept`: Continue on the Offer; writes the Accept and the session UID.
//! 3. T `confirm`: Continue on the Accept; writes the Confirm.
//! 4. S `extract`: the selected objects, the first call carrying the Confirm; writes the blobs
//!    and closes the source's session.
//! 5. T `insert`: inserts the blobs; closes the target's session.
//!
//! A file starts with a few lines of text saying what it holds, its session and the command
//! that consumes it, then the relay's frames (section 13), each with its CRCs: a damaged or
//! truncated file is refused whole, before any object is inserted.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use cpv4_migrate::relay::{Response, decode_response, read_frame};
use cpv4_migrate::{Continued, Extraction, SessionUid};
use cpv4_wire::consts::{
    CK_CRYPTOKI_ELEMENT, CKF_CONTINUE_ON_ERR, CKR_OK, CKR_SESSION_ID_INVALID, LUNA_STORAGE_DEFAULT,
};
use luna_ffi::client::rv_label;

use crate::hex::encode as hex;
use crate::hsm::{CliError, CliResult, Context, Hsm, Session};
use crate::migrate::Selection;

const MAGIC: &str = "cpv4 relay file, version 1";
/// Objects per extract call: the relay's batch, so that each call's blobs fit one frame.
const BATCH: usize = cpv4_migrate::relay::BATCH_OBJECTS;

/// What a step file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    Offer,
    Accept,
    Confirm,
    Blobs,
}

impl Holds {
    fn name(self) -> &'static str {
        match self {
            Self::Offer => "offer",
            Self::Accept => "accept",
            Self::Confirm => "confirm",
            Self::Blobs => "blobs",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Offer, Self::Accept, Self::Confirm, Self::Blobs]
            .into_iter()
            .find(|h| h.name() == text)
    }

    /// The step that consumes a file of this kind, and on which side.
    fn consumer(self) -> (&'static str, &'static str) {
        match self {
            Self::Offer => ("accept", "source"),
            Self::Accept => ("confirm", "target"),
            Self::Confirm => ("extract", "source"),
            Self::Blobs => ("insert", "target"),
        }
    }
}

/// The steps.
#[derive(Debug, Subcommand)]
pub enum StepCommand {
    /// Step 1, on the target's host: start a negotiation.
    #[command(after_help = "Example:\n  cpv4 relay step offer --slot 1 --out 1-offer.cpv4")]
    Offer {
        /// The target slot.
        #[arg(long)]
        slot: u64,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Step 2, on the source's host: answer the Offer.
    #[command(
        after_help = "Example:\n  cpv4 relay step accept --slot 0 --in 1-offer.cpv4 --out 2-accept.cpv4"
    )]
    Accept(StepIo),
    /// Step 3, on the target's host: confirm the Accept.
    #[command(
        after_help = "Example:\n  cpv4 relay step confirm --slot 1 --in 2-accept.cpv4 --out 3-confirm.cpv4"
    )]
    Confirm(StepIo),
    /// Step 4, on the source's host: extract the selected objects.
    #[command(
        after_help = "Example:\n  cpv4 relay step extract --slot 0 --in 3-confirm.cpv4 --out 4-blobs.cpv4 --all"
    )]
    Extract {
        #[command(flatten)]
        io: StepIo,
        /// Select objects by label.
        #[arg(long)]
        label: Option<String>,
        /// Select every object of the source.
        #[arg(long, conflicts_with = "label")]
        all: bool,
    },
    /// Step 5, on the target's host: insert the blobs.
    #[command(after_help = "Example:\n  cpv4 relay step insert --slot 1 --in 4-blobs.cpv4")]
    Insert {
        /// The target slot.
        #[arg(long)]
        slot: u64,
        /// The blobs file.
        #[arg(long = "in")]
        input: PathBuf,
    },
}

/// A step's slot and files.
#[derive(Debug, Args)]
pub struct StepIo {
    /// The slot.
    #[arg(long)]
    slot: u64,
    /// The peer's file.
    #[arg(long = "in")]
    input: PathBuf,
    /// The file to write.
    #[arg(long)]
    out: PathBuf,
}

/// A file being written: the header, then frames.
struct StepFile {
    out: BufWriter<std::fs::File>,
    path: PathBuf,
}

impl StepFile {
    fn create(path: &Path, holds: Holds, uid: Option<&SessionUid>, next: &str) -> CliResult<Self> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| CliError::new(format!("cannot create {}: {e}", path.display())))?;
        let mut step = Self {
            out: BufWriter::new(file),
            path: path.to_path_buf(),
        };
        let session = uid.map_or_else(|| "none yet".to_owned(), |uid| hex(&uid.0));
        step.write(
            format!(
                "{MAGIC}\nholds: {}\nsession: {session}\nnext: {next}\n--\n",
                holds.name()
            )
            .as_bytes(),
        )?;
        Ok(step)
    }

    fn write(&mut self, bytes: &[u8]) -> CliResult<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", self.path.display())))
    }

    fn frame(&mut self, response: &Response) -> CliResult<()> {
        self.write(&response.encode())
    }

    fn finish(mut self) -> CliResult<()> {
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all())
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", self.path.display())))
    }
}

fn unhex(text: &str) -> Option<[u8; 16]> {
    crate::hex::decode(text)?.try_into().ok()
}

/// A file being read: its header checked, then its frames.
struct Input {
    reader: BufReader<std::fs::File>,
    path: PathBuf,
    uid: Option<SessionUid>,
}

impl Input {
    fn open(path: &Path, wanted: Holds) -> CliResult<Self> {
        let bad = |why: &str| CliError::new(format!("{}: {why}", path.display()));
        let damaged = |why: &str| {
            CliError::new(format!(
                "{}: {why} (not a cpv4 relay file, or one whose header is damaged)",
                path.display()
            ))
        };
        let file = std::fs::File::open(path)
            .map_err(|e| CliError::new(format!("cannot open {}: {e}", path.display())))?;
        let mut reader = BufReader::new(file);
        let mut lines = Vec::new();
        for _ in 0..5 {
            let mut line = Vec::new();
            reader
                .by_ref()
                .take(256)
                .read_until(b'\n', &mut line)
                .map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))?;
            let text = String::from_utf8(line).map_err(|_| bad("not a cpv4 relay file"))?;
            lines.push(text.trim_end_matches('\n').to_owned());
        }
        let [magic, holds, session, next, end] = lines.as_slice() else {
            return Err(bad("not a cpv4 relay file"));
        };
        if magic != MAGIC || end != "--" || !next.starts_with("next: ") {
            return Err(bad("not a cpv4 relay file, or one damaged in its header"));
        }
        let holds = holds
            .strip_prefix("holds: ")
            .and_then(Holds::parse)
            .ok_or_else(|| damaged("its header names no known step"))?;
        if holds != wanted {
            let (step, side) = holds.consumer();
            return Err(bad(&format!(
                "this file holds the {}: it is the input of `cpv4 relay step {step}` on the {side}'s host, not of this step",
                holds.name()
            )));
        }
        let uid = match session.strip_prefix("session: ") {
            Some("none yet") => None,
            Some(text) => {
                Some(SessionUid(unhex(text).ok_or_else(|| {
                    bad("its session UID is not 32 hex digits")
                })?))
            }
            None => return Err(damaged("its header has no session line")),
        };
        Ok(Self {
            reader,
            path: path.to_path_buf(),
            uid,
        })
    }

    /// The next frame, `None` at the end of the file.
    fn next(&mut self) -> CliResult<Option<Response>> {
        let frame = read_frame(&mut self.reader).map_err(|e| {
            CliError::new(format!(
                "{}: {e} (the file is damaged or truncated; nothing was done: copy it again)",
                self.path.display()
            ))
        })?;
        frame
            .map(|bytes| {
                decode_response(&bytes).map_err(|e| {
                    CliError::new(format!(
                        "{}: {e} (the file is damaged; nothing was done: copy it again)",
                        self.path.display()
                    ))
                })
            })
            .transpose()
    }

    /// The one frame of a single-message file.
    fn only(mut self) -> CliResult<Response> {
        let first = self.next()?.ok_or_else(|| {
            CliError::new(format!(
                "{}: the file holds no message",
                self.path.display()
            ))
        })?;
        if self.next()?.is_some() {
            return Err(CliError::new(format!(
                "{}: more than one message in a file that holds one",
                self.path.display()
            )));
        }
        Ok(first)
    }

    fn session(&self) -> CliResult<SessionUid> {
        self.uid.ok_or_else(|| {
            CliError::new(format!(
                "{}: the file names no session",
                self.path.display()
            ))
        })
    }
}

/// Explains a session code in terms of the files.
fn session_error(what: &str, rv: u64, uid: &SessionUid) -> CliError {
    let mut err = CliError::call(what, rv);
    if rv == CKR_SESSION_ID_INVALID || rv == cpv4_wire::consts::CKR_SESSION_ID_EXPIRED {
        err.what = format!(
            "{what}: session {} is not open on this slot (a file of another session, one closed already, or expired: start again with `cpv4 relay step offer`)",
            hex(&uid.0)
        );
    }
    err
}

fn continued(response: Response, path: &Path) -> CliResult<Continued> {
    match response {
        Response::Continued(c) => Ok(c),
        _ => Err(CliError::new(format!(
            "{}: not the message this step expects",
            path.display()
        ))),
    }
}

fn officer(hsm: &Hsm, slot: u64) -> CliResult<Session<'_>> {
    hsm.officer_session(slot)
}

/// Runs one step.
pub fn run(hsm: &Hsm, command: StepCommand) -> CliResult<()> {
    match command {
        StepCommand::Offer { slot, out } => {
            let session = officer(hsm, slot)?;
            let offer = hsm
                .module
                .cpv4_start(session.handle)
                .or_fail(|| format!("starting a negotiation on slot {slot}"))?;
            let next = format!(
                "cpv4 relay step accept --slot SOURCE --in {} --out 2-accept.cpv4",
                out.display()
            );
            let mut file = StepFile::create(&out, Holds::Offer, None, &next)?;
            file.frame(&Response::Message(offer))?;
            file.finish()?;
            out!(
                "wrote the Offer to {}; next, on the source's host: {next}",
                out.display()
            );
        }
        StepCommand::Accept(io) => {
            let input = Input::open(&io.input, Holds::Offer)?;
            let Response::Message(offer) = input.only()? else {
                return Err(CliError::new(format!(
                    "{}: not an Offer",
                    io.input.display()
                )));
            };
            let session = officer(hsm, io.slot)?;
            let accept = hsm
                .module
                .cpv4_continue(session.handle, 2, &offer, None)
                .or_fail(|| format!("answering the Offer on slot {}", io.slot))?;
            let next = format!(
                "cpv4 relay step confirm --slot TARGET --in {} --out 3-confirm.cpv4",
                io.out.display()
            );
            let mut file = StepFile::create(&io.out, Holds::Accept, Some(&accept.uid), &next)?;
            file.frame(&Response::Continued(accept.clone()))?;
            file.finish()?;
            out!(
                "wrote the Accept of session {} to {}; next, on the target's host: {next}",
                hex(&accept.uid.0),
                io.out.display()
            );
        }
        StepCommand::Confirm(io) => {
            let input = Input::open(&io.input, Holds::Accept)?;
            let uid = input.session()?;
            let accept = continued(input.only()?, &io.input)?;
            if accept.uid != uid {
                return Err(CliError::new(format!(
                    "{}: its header and its message name different sessions",
                    io.input.display()
                )));
            }
            let session = officer(hsm, io.slot)?;
            let confirm = hsm
                .module
                .cpv4_continue(session.handle, 3, &accept.output, Some(&uid))
                .map_err(|rv| {
                    session_error(&format!("confirming on slot {}", io.slot), rv, &uid)
                })?;
            let next = format!(
                "cpv4 relay step extract --slot SOURCE --in {} --out 4-blobs.cpv4 --all",
                io.out.display()
            );
            let mut file = StepFile::create(&io.out, Holds::Confirm, Some(&uid), &next)?;
            file.frame(&Response::Continued(confirm))?;
            file.finish()?;
            out!(
                "wrote the Confirm to {}; next, on the source's host: {next}",
                io.out.display()
            );
        }
        StepCommand::Extract { io, label, all } => {
            if !all && label.is_none() {
                return Err(CliError::new("say which objects: --label or --all"));
            }
            let input = Input::open(&io.input, Holds::Confirm)?;
            let uid = input.session()?;
            let confirm = continued(input.only()?, &io.input)?;
            let selection = Selection {
                label,
                ..Selection::default()
            };
            let source = officer(hsm, io.slot)?;
            let finder = officer(hsm, io.slot)?;
            let next = format!(
                "cpv4 relay step insert --slot TARGET --in {}",
                io.out.display()
            );
            let mut file = StepFile::create(&io.out, Holds::Blobs, Some(&uid), &next)?;
            let mut first = Some(confirm.output);
            let (mut extracted, mut failed) = (0u64, 0u64);
            let mut failure = None;
            hsm.module
                .find_each(finder.handle, &selection.template(), BATCH, |chunk| {
                    let objects: Vec<(u64, u64)> =
                        chunk.iter().map(|&h| (CK_CRYPTOKI_ELEMENT, h)).collect();
                    let input = first.take().unwrap_or_default();
                    match hsm.module.cpv4_extract(
                        source.handle,
                        &uid,
                        &input,
                        CKF_CONTINUE_ON_ERR,
                        &objects,
                    ) {
                        Ok(batch) => {
                            for (handle, rv) in chunk.iter().zip(&batch.results) {
                                if *rv == CKR_OK {
                                    extracted += 1;
                                } else {
                                    failed += 1;
                                    if let Err(err) = crate::hsm::write_line(format_args!(
                                        "{handle:>8} not extracted: {}",
                                        rv_label(*rv)
                                    )) {
                                        failure = Some(err);
                                    }
                                }
                            }
                            let kept: Vec<(u64, Option<Vec<u8>>)> = batch
                                .results
                                .iter()
                                .copied()
                                .zip(batch.blobs)
                                .filter(|(rv, _)| *rv == CKR_OK)
                                .collect();
                            let (results, blobs) = kept.into_iter().unzip();
                            if let Err(err) =
                                file.frame(&Response::Extraction(Extraction { results, blobs }))
                            {
                                failure = Some(err);
                            }
                            Ok(())
                        }
                        Err(rv) => Err(rv),
                    }
                })
                .map_err(|rv| {
                    session_error(&format!("extracting on slot {}", io.slot), rv, &uid)
                })?;
            if let Some(err) = failure {
                return Err(err);
            }
            file.finish()?;
            // Everything is out: the source's side of the session is done.
            let _ = hsm.module.cpv4_close(source.handle, &uid);
            out!(
                "wrote {extracted} key blobs to {} ({failed} objects not extracted); next, on the target's host: {next}",
                io.out.display()
            );
        }
        StepCommand::Insert { slot, input } => {
            let mut file = Input::open(&input, Holds::Blobs)?;
            let uid = file.session()?;
            // The whole file is checked before anything is inserted: a damaged or truncated
            // one inserts nothing.
            let mut batches = 0usize;
            while let Some(frame) = file.next()? {
                if !matches!(frame, Response::Extraction(_)) {
                    return Err(CliError::new(format!(
                        "{}: not a blobs file",
                        input.display()
                    )));
                }
                batches += 1;
            }
            let mut file = Input::open(&input, Holds::Blobs)?;
            let session = officer(hsm, slot)?;
            let (mut inserted, mut failed) = (0u64, 0u64);
            for _ in 0..batches {
                let Some(Response::Extraction(batch)) = file.next()? else {
                    return Err(CliError::new(format!(
                        "{}: changed while it was read",
                        input.display()
                    )));
                };
                let blobs: Vec<(u64, u64, &[u8])> = batch
                    .blobs
                    .iter()
                    .flatten()
                    .map(|blob| (CK_CRYPTOKI_ELEMENT, LUNA_STORAGE_DEFAULT, blob.as_slice()))
                    .collect();
                if blobs.is_empty() {
                    continue;
                }
                let done = hsm
                    .module
                    .cpv4_insert(session.handle, &uid, CKF_CONTINUE_ON_ERR, &blobs)
                    .map_err(|rv| session_error(&format!("inserting on slot {slot}"), rv, &uid))?;
                for (rv, handle) in done.results.iter().zip(&done.handles) {
                    if *rv == CKR_OK {
                        inserted += 1;
                    } else {
                        failed += 1;
                        out!("blob not inserted: {} (handle {handle})", rv_label(*rv));
                    }
                }
            }
            let _ = hsm.module.cpv4_close(session.handle, &uid);
            out!(
                "inserted {inserted} objects on slot {slot} ({failed} refused); session {} closed",
                hex(&uid.0)
            );
            if failed > 0 {
                return Err(CliError::new(format!("{failed} blobs were not inserted")));
            }
        }
    }
    Ok(())
}
