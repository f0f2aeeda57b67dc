//! `cpv4 migrate` between two slots of one module: the selected objects, in batches through
//! `CA_MigrateKeys`, skipping those whose `CKA_OUID` the target already holds (so a second
//! run after an interruption clones only what is missing).

use std::io::Write;

use cpv4_wire::consts::{
    CK_CRYPTOKI_ELEMENT, CKA_CLASS, CKA_ID, CKA_LABEL, CKA_OUID, CKF_CONTINUE_ON_ERR,
    CKR_CLONE_NOT_ATTEMPTED, CKR_OK,
};
use luna_ffi::client::{Attr, rv_label, ulong_value};
use luna_ffi::types::{CK_OBJECT_HANDLE, CK_OBJECT_MIGRATION_DATA, CK_RV};
use serde::Serialize;

use crate::hsm::{CliError, CliResult, Context, Session};

/// Objects per `CA_MigrateKeys` call (and per find chunk): memory is bounded by a batch.
pub const BATCH: usize = 1_000;

/// Which objects to migrate.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `CKA_LABEL`.
    pub label: Option<String>,
    /// `CKA_ID`.
    pub id: Option<Vec<u8>>,
    /// `CKA_CLASS`.
    pub class: Option<u64>,
}

impl Selection {
    /// The find template.
    pub fn template(&self) -> Vec<Attr> {
        let mut template = Vec::new();
        if let Some(label) = &self.label {
            template.push(Attr::bytes(CKA_LABEL, label.as_bytes().to_vec()));
        }
        if let Some(id) = &self.id {
            template.push(Attr::bytes(CKA_ID, id.clone()));
        }
        if let Some(class) = self.class {
            template.push(Attr::ulong(CKA_CLASS, class));
        }
        template
    }
}

/// How to migrate.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Go on past an object that fails.
    pub continue_on_error: bool,
    /// Say what would be cloned, clone nothing.
    pub dry_run: bool,
    /// Objects per `CA_MigrateKeys` call.
    pub batch: usize,
}

/// What became of one object.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectResult {
    /// The handle on the source.
    pub source_handle: CK_OBJECT_HANDLE,
    /// The handle on the target (the clone, or the object already there), if any.
    pub target_handle: Option<CK_OBJECT_HANDLE>,
    /// The object's label.
    pub label: String,
    /// `cloned`, `present` (already on the target), `would-clone` (dry run) or `failed`.
    pub status: &'static str,
    /// The object's `CK_RV` name.
    pub rv: String,
}

/// The counts of a migration.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    /// Objects selected on the source.
    pub selected: u64,
    /// Cloned by this run.
    pub cloned: u64,
    /// Already on the target.
    pub present: u64,
    /// Would be cloned (dry run).
    pub would_clone: u64,
    /// Failed or not attempted.
    pub failed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            continue_on_error: false,
            dry_run: false,
            batch: BATCH,
        }
    }
}

impl Summary {
    /// The exit code: 0 if every selected object is on the target (or would be), 3 if some
    /// are, 4 if none.
    pub fn exit_code(&self) -> u8 {
        let done = self.cloned + self.present + self.would_clone;
        if self.failed == 0 {
            0
        } else if done > 0 {
            3
        } else {
            4
        }
    }
}

/// Receives each object's result as it is known.
pub trait Report {
    /// Before the first batch: how many objects were selected.
    fn start(&mut self, selected: u64);
    /// One object's result.
    fn object(&mut self, result: &ObjectResult) -> CliResult<()>;
}

fn label_of(session: &Session<'_>, handle: CK_OBJECT_HANDLE) -> CliResult<String> {
    let label = session
        .hsm
        .module
        .attribute(session.handle, handle, CKA_LABEL)
        .or_fail(|| format!("reading the label of object {handle}"))?;
    Ok(label
        .map(|l| String::from_utf8_lossy(&l).into_owned())
        .unwrap_or_default())
}

/// Where the objects go: a slot of this module, or a relay's peer.
pub trait Target {
    /// The target's handle of the object with each OUID, if it holds one.
    fn lookup(&mut self, ouids: &[Vec<u8>]) -> CliResult<Vec<Option<CK_OBJECT_HANDLE>>>;

    /// Migrates `items` from `source`, filling each item's handle and code. The inner
    /// `Err` is the call's code; the outer one a failure that ends the run (a lost relay).
    fn migrate(
        &mut self,
        source: &Session<'_>,
        flags: u64,
        items: &mut [CK_OBJECT_MIGRATION_DATA],
    ) -> CliResult<Result<(), CK_RV>>;
}

/// A slot of the same module: `CA_MigrateKeys`.
pub struct LocalTarget<'s, 'h> {
    /// The target session.
    pub session: &'s Session<'h>,
}

impl Target for LocalTarget<'_, '_> {
    fn lookup(&mut self, ouids: &[Vec<u8>]) -> CliResult<Vec<Option<CK_OBJECT_HANDLE>>> {
        let target = self.session;
        ouids
            .iter()
            .map(|ouid| {
                let found = target
                    .hsm
                    .module
                    .find(target.handle, &[Attr::bytes(CKA_OUID, ouid.clone())])
                    .or_fail(|| "looking up an object's OUID on the target".to_owned())?;
                Ok(found.first().copied())
            })
            .collect()
    }

    fn migrate(
        &mut self,
        source: &Session<'_>,
        flags: u64,
        items: &mut [CK_OBJECT_MIGRATION_DATA],
    ) -> CliResult<Result<(), CK_RV>> {
        Ok(source
            .hsm
            .module
            .migrate_keys(source.handle, self.session.handle, flags, items))
    }
}

/// Migrates the selected objects of `source` (searched through `finder`, a second session
/// on the source slot so the search stays open while batches migrate) to `target`.
pub fn run(
    finder: &Session<'_>,
    source: &Session<'_>,
    target: &mut dyn Target,
    selection: &Selection,
    options: Options,
    report: &mut dyn Report,
) -> CliResult<Summary> {
    let module = &source.hsm.module;
    let template = selection.template();
    let mut summary = Summary::default();
    module
        .find_each(finder.handle, &template, options.batch, |chunk| {
            summary.selected += chunk.len() as u64;
            Ok(())
        })
        .or_fail(|| "searching the source".to_owned())?;
    report.start(summary.selected);
    let mut stop: Option<CliError> = None;
    module
        .find_each(finder.handle, &template, options.batch, |chunk| {
            if stop.is_some() {
                return Ok(());
            }
            let outcome = migrate_handles(source, target, chunk, options, report, &mut summary);
            match outcome {
                Ok(true) => {}
                Ok(false) => stop = Some(CliError::new("stopped at the first object that failed")),
                // Any error of a batch ends the run as an error (a lost relay, a closed
                // output, a failed call), unlike an object that failed.
                Err(err) => stop = Some(CliError { fatal: true, ..err }),
            }
            Ok(())
        })
        .or_fail(|| "searching the source".to_owned())?;
    // Objects of the batches after a stop were not attempted.
    let done = summary.cloned + summary.present + summary.would_clone + summary.failed;
    summary.failed += summary.selected.saturating_sub(done);
    match stop {
        Some(err) if err.rv.is_some() || err.fatal => Err(err),
        _ => Ok(summary),
    }
}

/// Migrates the objects `chunk` of the source (at most [`BATCH`] for bounded memory),
/// skipping those already on the target; `false` if an object failed and the run must stop.
pub fn migrate_handles(
    source: &Session<'_>,
    target: &mut dyn Target,
    chunk: &[CK_OBJECT_HANDLE],
    options: Options,
    report: &mut dyn Report,
    summary: &mut Summary,
) -> CliResult<bool> {
    let module = &source.hsm.module;
    let flags = if options.continue_on_error {
        CKF_CONTINUE_ON_ERR
    } else {
        0
    };
    let mut described = Vec::with_capacity(chunk.len());
    for &handle in chunk {
        let label = label_of(source, handle)?;
        let ouid = module
            .attribute(source.handle, handle, CKA_OUID)
            .or_fail(|| format!("reading the OUID of object {handle}"))?;
        described.push((handle, label, ouid.map(|o| o.to_vec()).unwrap_or_default()));
    }
    let ouids: Vec<Vec<u8>> = described.iter().map(|d| d.2.clone()).collect();
    let present = target.lookup(&ouids)?;
    let mut pending: Vec<(CK_OBJECT_HANDLE, String)> = Vec::with_capacity(chunk.len());
    for ((handle, label, ouid), present) in described.into_iter().zip(present) {
        match present.filter(|_| !ouid.is_empty()) {
            Some(target_handle) => {
                summary.present += 1;
                report.object(&ObjectResult {
                    source_handle: handle,
                    target_handle: Some(target_handle),
                    label,
                    status: "present",
                    rv: rv_label(CKR_OK),
                })?;
            }
            None => pending.push((handle, label)),
        }
    }
    if pending.is_empty() {
        return Ok(true);
    }
    if options.dry_run {
        for (handle, label) in pending {
            summary.would_clone += 1;
            report.object(&ObjectResult {
                source_handle: handle,
                target_handle: None,
                label,
                status: "would-clone",
                rv: rv_label(CKR_CLONE_NOT_ATTEMPTED),
            })?;
        }
        return Ok(true);
    }
    let mut items: Vec<CK_OBJECT_MIGRATION_DATA> = pending
        .iter()
        .map(|&(handle, _)| CK_OBJECT_MIGRATION_DATA {
            objectType: CK_CRYPTOKI_ELEMENT,
            sourceHandle: handle,
            targetHandle: 0,
            rv: CKR_CLONE_NOT_ATTEMPTED,
        })
        .collect();
    let call = target.migrate(source, flags, &mut items)?;
    let mut all_ok = true;
    for (item, (handle, label)) in items.iter().zip(pending) {
        let ok = item.rv == CKR_OK;
        all_ok &= ok;
        if ok {
            summary.cloned += 1;
        } else {
            summary.failed += 1;
        }
        report.object(&ObjectResult {
            source_handle: handle,
            target_handle: ok.then_some(item.targetHandle),
            label,
            status: if ok { "cloned" } else { "failed" },
            rv: rv_label(item.rv),
        })?;
    }
    match call {
        // CA_MigrateKeys reports failed objects in their results: without
        // --continue-on-error the run stops here too.
        Ok(()) => Ok(all_ok || options.continue_on_error),
        // Per-object codes were reported; a call that failed without naming an object is
        // the run's error.
        Err(rv)
            if items
                .iter()
                .all(|i| i.rv == CKR_OK || i.rv == CKR_CLONE_NOT_ATTEMPTED) =>
        {
            Err(CliError::call("migrating a batch", rv))
        }
        Err(_) => Ok(all_ok || options.continue_on_error),
    }
}

/// A report as a progress bar on a terminal (none when stderr is not one) and lines of text.
pub struct TextReport {
    bar: indicatif::ProgressBar,
    verbose: bool,
}

impl TextReport {
    /// `verbose` prints a line per object; otherwise only failures.
    pub fn new(verbose: bool) -> Self {
        Self {
            bar: indicatif::ProgressBar::hidden(),
            verbose,
        }
    }
}

impl Report for TextReport {
    fn start(&mut self, selected: u64) {
        // ProgressBar::new draws on stderr only when it is a terminal.
        self.bar = indicatif::ProgressBar::new(selected);
        self.bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} objects  {per_sec}  ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    }

    fn object(&mut self, result: &ObjectResult) -> CliResult<()> {
        self.bar.inc(1);
        if self.verbose || result.status == "failed" {
            return self.bar.suspend(|| {
                crate::hsm::write_line(format_args!(
                    "{:>8} {:<12} {:<24} {}",
                    result.source_handle,
                    result.status,
                    result.rv,
                    crate::admin::printable(&result.label)
                ))
            });
        }
        Ok(())
    }
}

impl Drop for TextReport {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A report as one JSON document on stdout, written as the objects go: `{"objects": [...],
/// "summary": {...}}`.
pub struct JsonReport {
    first: bool,
}

impl JsonReport {
    /// Opens the document.
    pub fn new() -> CliResult<Self> {
        print_raw("{\"objects\":[")?;
        Ok(Self { first: true })
    }

    /// Closes the document with the summary, or with the error that stopped the run (the
    /// document stays valid JSON either way).
    pub fn finish(self, summary: Option<&Summary>, error: Option<&CliError>) -> CliResult<()> {
        let tail = match (summary, error) {
            (Some(summary), _) => format!(
                "\"summary\":{}",
                serde_json::to_string(summary).map_err(|e| CliError::new(e.to_string()))?
            ),
            (None, error) => format!(
                "\"error\":{}",
                serde_json::to_string(&error.map(ToString::to_string))
                    .map_err(|e| CliError::new(e.to_string()))?
            ),
        };
        print_raw(&format!("],{tail}}}\n"))
    }
}

fn print_raw(text: &str) -> CliResult<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                CliError::new("")
            } else {
                CliError::new(format!("writing the output: {e}"))
            }
        })
}

impl Report for JsonReport {
    fn start(&mut self, _selected: u64) {}

    fn object(&mut self, result: &ObjectResult) -> CliResult<()> {
        let text = serde_json::to_string(result).map_err(|e| CliError::new(e.to_string()))?;
        let separator = if self.first { "" } else { "," };
        self.first = false;
        print_raw(&format!("{separator}{text}"))
    }
}

/// Reads a `CK_ULONG` attribute of an object, if it has one.
pub fn ulong_attribute(
    session: &Session<'_>,
    handle: CK_OBJECT_HANDLE,
    type_: u64,
) -> CliResult<Option<u64>> {
    let value = session
        .hsm
        .module
        .attribute(session.handle, handle, type_)
        .or_fail(|| format!("reading attribute 0x{type_:X} of object {handle}"))?;
    Ok(value.and_then(|v| ulong_value(&v)))
}
