//! Runs every measurement, each in a child of its own, and writes them up as Markdown.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

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
        &[
            "find",
            &options.ours.display().to_string(),
            &count.to_string(),
        ],
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
    relay(options, &mut out)?;
    handshake(options, &mut out)?;
    Ok(out)
}

/// How many keys the relay figure moves.
const RELAY_KEYS: u64 = 10_000;

/// Runs the `cpv4` command line on a fresh home of [`RELAY_KEYS`] AES-256 keys with `args`,
/// and returns its wall-clock seconds (process start included).
fn time_cli(options: &Options, args: &[&str]) -> BenchResult<f64> {
    let home = tempfile::tempdir().map_err(|e| format!("scratch home: {e}"))?;
    in_child(
        &[
            "fill",
            &home.path().display().to_string(),
            "aes256",
            &RELAY_KEYS.to_string(),
        ],
        &[],
    )?;
    let pin = home.path().join("pin");
    std::fs::write(&pin, luna_sim::provision::DEFAULT_CO_PIN)
        .map_err(|e| format!("{}: {e}", pin.display()))?;
    let pin = pin.display().to_string();
    let args: Vec<String> = args.iter().map(|a| a.replace("{pin}", &pin)).collect();
    eprintln!("p11-bench: cpv4 {}", args.join(" "));
    let started = Instant::now();
    let output = Command::new(&options.cli)
        .args(["--pin-file", &pin])
        .args(&args)
        .env("LUNA_SIM_HOME", home.path())
        .env("CPV4_MODULE", &options.ours)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", options.cli.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!(
            "cpv4 {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(seconds)
}

/// The relay against a local run of the same command line.
fn relay(options: &Options, out: &mut String) -> BenchResult<()> {
    let serve = format!(
        "{} --pin-file {{pin}} relay --serve --slot 1",
        options.cli.display()
    );
    let local = time_cli(options, &["migrate", "--from", "0", "--to", "1", "--all"])?;
    let relayed = time_cli(
        options,
        &["migrate", "--from", "0", "--to-remote", &serve, "--all"],
    )?;
    let _ = writeln!(
        out,
        "\n## The relay\n\n`cpv4 migrate --all` of {RELAY_KEYS} AES-256 keys, the whole command \
         timed (process start included): to the target slot of the same process, and through \
         `--to-remote` to a `cpv4 relay --serve` child over a pipe (the path `ssh` would \
         take, without the network).\n\n| local | relayed | ratio |\n|---|---|---|\n\
         | {local:.2} s | {relayed:.2} s | **{:.2}×** |",
        relayed / local
    );
    Ok(())
}

/// The mean of a criterion benchmark, in nanoseconds, from its `new/estimates.json`.
fn criterion_mean(options: &Options, group: &str, bench: &str) -> BenchResult<f64> {
    let path = options
        .criterion
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (run the criterion bench first)", path.display()))?;
    let after_mean = text
        .split_once("\"mean\"")
        .and_then(|(_, rest)| rest.split_once("\"point_estimate\":"))
        .map(|(_, rest)| rest.trim_start())
        .ok_or_else(|| format!("{}: no mean point estimate", path.display()))?;
    let number: String = after_mean
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        .collect();
    number
        .parse()
        .map_err(|_| format!("{}: the mean is not a number", path.display()))
}

/// The handshake against the P-256 work it cannot avoid, from the criterion run
/// `cargo xtask bench` makes before this harness.
fn handshake(options: &Options, out: &mut String) -> BenchResult<()> {
    let full = criterion_mean(options, "handshake", "full, both sides")?;
    let floor = criterion_mean(options, "handshake", "sum of its p256 operations")?;
    let _ = writeln!(
        out,
        "\n## The handshake\n\ncriterion's `handshake/full, both sides` against \
         `handshake/sum of its p256 operations` (cpv4-session), in the same run:\n\n\
         | full, both sides | sum of its P-256 operations | ratio |\n|---|---|---|\n\
         | {:.3} ms | {:.3} ms | **{:.2}×** |",
        full / 1e6,
        floor / 1e6,
        full / floor
    );
    Ok(())
}
