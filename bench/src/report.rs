//! Runs every measurement, each in a child of its own, and writes them up as Markdown.

use std::fmt::Write as _;
use std::path::Path;

use crate::tokens::KeyKind;
use crate::{BenchResult, Figures, Options, in_child};

fn seconds(figures: &Figures, key: &str) -> BenchResult<f64> {
    figures
        .get(key)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("a child reported no {key}"))
}

fn kib(figures: &Figures, key: &str) -> BenchResult<u64> {
    figures
        .get(key)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("a child reported no {key}"))
}

/// Fills a fresh simulator home with `count` keys and migrates them all in one
/// `CA_MigrateKeys`; returns the child's figures.
fn ours(options: &Options, kind: KeyKind, count: u64) -> BenchResult<Figures> {
    let home = tempfile::tempdir().map_err(|e| format!("scratch home: {e}"))?;
    let count_text = count.to_string();
    in_child(
        &[
            "fill",
            &home.path().display().to_string(),
            kind.name(),
            &count_text,
        ],
        &[],
    )?;
    in_child(
        &["migrate", &options.ours.display().to_string()],
        &[("LUNA_SIM_HOME", home.path())],
    )
}

fn softhsm_env(dir: &Path) -> BenchResult<std::path::PathBuf> {
    crate::softhsm::configure(dir)
}

fn softhsm(options: &Options, kind: KeyKind, count: u64) -> BenchResult<Figures> {
    let dir = tempfile::tempdir().map_err(|e| format!("scratch dir: {e}"))?;
    let conf = softhsm_env(dir.path())?;
    in_child(
        &[
            "softhsm-migrate",
            &options.softhsm.display().to_string(),
            kind.name(),
            &count.to_string(),
        ],
        &[("SOFTHSM2_CONF", conf.as_path())],
    )
}

fn per_object(figures: &Figures) -> BenchResult<f64> {
    let objects = seconds(figures, "objects")?;
    Ok(seconds(figures, "seconds")? / objects)
}

/// Every measurement, as the Markdown of `docs/benchmarks.md`'s migration part.
///
/// # Errors
///
/// The first measurement that fails.
pub fn measure_all(options: &Options) -> BenchResult<String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Migration against SoftHSMv2\n\nProduced by `cargo xtask bench`. This project's \
         token moves keys with one `CA_MigrateKeys`; SoftHSMv2, which has no cloning, with a \
         `C_WrapKey` on one token and a `C_UnwrapKey` on another (`CKM_AES_KEY_WRAP_PAD` under \
         a shared AES-256 key), key by key. Both are driven through their C ABI by the same \
         harness (`bench/`); only the moving is timed, not filling the source.\n"
    );
    let _ = writeln!(
        out,
        "| keys | this project, per key | SoftHSMv2, per key | ratio |\n|---|---|---|---|"
    );
    for (kind, count) in [
        (KeyKind::Aes256, 10_000),
        (KeyKind::Rsa2048, 1_000),
        (KeyKind::EcP256, 1_000),
    ] {
        let mine = per_object(&ours(options, kind, count)?)?;
        let theirs = per_object(&softhsm(options, kind, count)?)?;
        let _ = writeln!(
            out,
            "| {count} {} | {:.2} µs | {:.2} µs | **{:.0}×** |",
            kind.name(),
            mine * 1e6,
            theirs * 1e6,
            theirs / mine
        );
    }

    let _ = writeln!(
        out,
        "\n## Growth and memory\n\nAES-256 keys, one `CA_MigrateKeys` each; the peak is the \
         harness process's `VmHWM` after the call less its `VmRSS` before it (the caller's \
         `CK_OBJECT_MIGRATION_DATA` array is allocated before).\n\n\
         | keys | per key | against 1000 keys | peak added |\n|---|---|---|---|"
    );
    let mut base = None;
    let mut size = 1_000;
    while size <= options.largest {
        let figures = ours(options, KeyKind::Aes256, size)?;
        let each = per_object(&figures)?;
        let base = *base.get_or_insert(each);
        let _ = writeln!(
            out,
            "| {size} | {:.2} µs | {:.2} | {} MiB |",
            each * 1e6,
            each / base,
            kib(&figures, "peak_added_kib")? / 1024
        );
        size *= 10;
    }

    let floor = in_child(&["floor"], &[])?;
    let migrate = per_object(&ours(options, KeyKind::Aes256, 10_000)?)?;
    let _ = writeln!(
        out,
        "\n## Against the floor\n\nThe floor of one key: an AES-KWP wrap and unwrap of 32 \
         bytes ({:.2} µs) and one 512-byte SQLite row in a batched WAL transaction with \
         `synchronous=FULL` ({:.2} µs). Migrating 10 000 AES-256 keys takes {:.2} µs per key: \
         **{:.1}×** the floor.",
        seconds(&floor, "wrap_unwrap_seconds")? * 1e6,
        seconds(&floor, "row_seconds")? * 1e6,
        migrate * 1e6,
        migrate / seconds(&floor, "seconds")?
    );

    let count = 10_000_u64;
    let home = tempfile::tempdir().map_err(|e| format!("scratch home: {e}"))?;
    in_child(
        &[
            "fill",
            &home.path().display().to_string(),
            "aes256",
            &count.to_string(),
        ],
        &[],
    )?;
    let mine = in_child(
        &["find", &options.ours.display().to_string(), &count.to_string()],
        &[("LUNA_SIM_HOME", home.path())],
    )?;
    let dir = tempfile::tempdir().map_err(|e| format!("scratch dir: {e}"))?;
    let conf = softhsm_env(dir.path())?;
    let theirs = in_child(
        &[
            "softhsm-find",
            &options.softhsm.display().to_string(),
            &count.to_string(),
        ],
        &[("SOFTHSM2_CONF", conf.as_path())],
    )?;
    let (mine, theirs) = (
        seconds(&mine, "seconds_per_find")?,
        seconds(&theirs, "seconds_per_find")?,
    );
    let _ = writeln!(
        out,
        "\n## Finding one key by label among {count}\n\n| this project | SoftHSMv2 | ratio \
         |\n|---|---|---|\n| {:.2} µs | {:.2} µs | **{:.0}×** |",
        mine * 1e6,
        theirs * 1e6,
        theirs / mine
    );
    let _ = &options.cli;
    let _ = &options.criterion;
    Ok(out)
}
