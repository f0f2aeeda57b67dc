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

#[allow(clippy::cast_precision_loss)]
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
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
    // The floor first, on a quiet disk: after the growth series the writeback of its
    // 1,000,000-key homes slowed the floor's row by half in one run.
    let floor = in_child(&["floor"], &[])?;
    let mut out = String::new();
    let _ = writeln!(out, "{}", machine());
    let _ = writeln!(
        out,
        "## Migration against SoftHSMv2\n\nProduced by `cargo xtask bench`. This project's \
         token moves keys with one `CA_MigrateKeys`; SoftHSMv2, which has no cloning, with a \
         `C_WrapKey` on one token and a `C_UnwrapKey` on another (`CKM_AES_KEY_WRAP_PAD` under \
         a shared AES-256 key), key by key. Both are driven through their C ABI by the same \
         harness (`bench/`); only the moving is timed, not filling the source. The AES keys are \
         distinct; the RSA and EC keys are copies of one generated key each, under their own \
         labels.\n"
    );
    let _ = writeln!(
        out,
        "| keys | this project | SoftHSMv2 | ratio |\n|---|---|---|---|"
    );
    let mut aes_per_key = f64::NAN;
    for (kind, count) in [
        (KeyKind::Aes256, 10_000),
        (KeyKind::Rsa2048, 1_000),
        (KeyKind::EcP256, 1_000),
    ] {
        let mine = per_object(&ours(options, kind, count)?)?;
        if kind == KeyKind::Aes256 {
            aes_per_key = mine;
        }
        let theirs = per_object(&softhsm(options, kind, count)?)?;
        let _ = writeln!(
            out,
            "| {count} {} | {:.0} keys/s ({:.1} µs each) | {:.0} keys/s ({:.1} µs each) | **{:.0}×** |",
            kind.name(),
            1.0 / mine,
            mine * 1e6,
            1.0 / theirs,
            theirs * 1e6,
            theirs / mine
        );
    }

    let _ = writeln!(
        out,
        "\n## Growth and memory\n\nAES-256 keys, one `CA_MigrateKeys` each, in a process of its \
         own. Max RSS is the process's `VmHWM` after the call; beyond the caller's arrays is \
         that less the process's memory before it made them (the module loaded, both sessions \
         logged in) and less the arrays themselves (the handles found and the \
         `CK_OBJECT_MIGRATION_DATA` array, 40 bytes a key).\n\n\
         | keys | per key | against 1000 keys | max RSS | beyond the caller's arrays | took |\n\
         |---|---|---|---|---|---|"
    );
    let mut base = None;
    let mut size = 1_000;
    while size <= options.largest {
        let figures = ours(options, KeyKind::Aes256, size)?;
        let each = per_object(&figures)?;
        let base = *base.get_or_insert(each);
        let _ = writeln!(
            out,
            "| {size} | {:.2} µs | {:.2} | {:.1} MiB | {:.1} MiB | {:.1} s |",
            each * 1e6,
            each / base,
            mib(kib(&figures, "peak_kib")?),
            mib(kib(&figures, "peak_kib")?
                .saturating_sub(kib(&figures, "loaded_kib")? + kib(&figures, "arrays_kib")?)),
            seconds(&figures, "seconds")?
        );
        size *= 10;
    }

    let migrate = per_object(&ours(options, KeyKind::Aes256, 10_000)?)?;
    let _ = writeln!(
        out,
        "\n## Against the floor\n\nThe floor of one key: an AES-KWP wrap and unwrap of 32 \
         bytes ({:.2} µs) and one 512-byte SQLite row in a batched WAL transaction with \
         `synchronous=FULL` and the simulator's checkpoint every 8,192 pages ({:.2} µs). Migrating 10 000 AES-256 keys takes {:.2} µs per key: \
         **{:.1}×** the floor.",
        seconds(&floor, "wrap_unwrap_seconds")? * 1e6,
        seconds(&floor, "row_seconds")? * 1e6,
        migrate * 1e6,
        migrate / seconds(&floor, "seconds")?
    );

    let find_ours = |count: u64| -> BenchResult<f64> {
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
        let figures = in_child(
            &[
                "find",
                &options.ours.display().to_string(),
                &count.to_string(),
            ],
            &[("LUNA_SIM_HOME", home.path())],
        )?;
        seconds(&figures, "seconds_per_find")
    };
    // SoftHSM's file store reads every object of the token on a search, so the comparison is
    // at the count it still fills and searches in minutes; ours is also shown at 100 000.
    let count = SOFTHSM_FIND_KEYS;
    let (mine, mine_large) = (find_ours(count)?, find_ours(FIND_KEYS)?);
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
    let theirs = seconds(&theirs, "seconds_per_find")?;
    let _ = writeln!(
        out,
        "\n## Finding one key by label\n\nA whole `C_FindObjectsInit`/`C_FindObjects`/\
         `C_FindObjectsFinal` with a `CKA_LABEL` template, {} searches spread over the keys.\n\n\
         | keys | this project | SoftHSMv2 | ratio |\n|---|---|---|---|\n\
         | {count} | {:.2} µs | {:.2} µs | **{:.0}×** |\n| {FIND_KEYS} | {:.2} µs | not run | |",
        crate::tokens::FINDS,
        mine * 1e6,
        theirs * 1e6,
        theirs / mine,
        mine_large * 1e6,
    );
    relay(options, &mut out, aes_per_key)?;
    handshake(options, &mut out)?;
    Ok(out)
}

/// The key count of the find comparison with SoftHSMv2.
const SOFTHSM_FIND_KEYS: u64 = 10_000;
/// The key count of the find on this project's token alone.
const FIND_KEYS: u64 = 100_000;

/// The machine and the versions of what is measured.
fn machine() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or_else(
            || "unknown CPU".to_owned(),
            |(_, name)| name.trim().to_owned(),
        );
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024 / 1024);
    let command = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map_or_else(
                || "unknown".to_owned(),
                |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
            )
    };
    format!(
        "Machine: {cpu}, {cores} cores, {memory} GiB. SoftHSMv2 {} (Debian `softhsm2`, file \
         object store); SQLite {} (bundled with rusqlite); {}; this project {}.\n",
        command("dpkg-query", &["-W", "-f=${Version}", "softhsm2"]),
        rusqlite::version(),
        command("rustc", &["--version"]),
        env!("CARGO_PKG_VERSION"),
    )
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
fn relay(options: &Options, out: &mut String, migrate_per_key: f64) -> BenchResult<()> {
    let serve = format!(
        "{} --pin-file {{pin}} relay --serve --slot 1",
        options.cli.display()
    );
    let local = time_cli(options, &["migrate", "--from", "0", "--to", "1", "--all"])?;
    let relayed = time_cli(
        options,
        &["migrate", "--from", "0", "--to-remote", &serve, "--all"],
    )?;
    let keys = RELAY_KEYS as f64;
    let _ = writeln!(
        out,
        "\n## The relay\n\n`cpv4 migrate --all` of {RELAY_KEYS} AES-256 keys, the whole command \
         timed (process start included): to the target slot in the same process, and through \
         `--to-remote` to a `cpv4 relay --serve` child over a pipe (the path `ssh` would \
         take, without the network). The last column compares each with one `CA_MigrateKeys` \
         of 10 000 AES-256 keys ({:.0} keys/s, the first table).\n\n\
         | path | keys/s | time | against `CA_MigrateKeys` |\n|---|---|---|---|\n\
         | local | {:.0} | {local:.2} s | {:.2}× slower |\n\
         | relayed | {:.0} | {relayed:.2} s | {:.2}× slower |",
        1.0 / migrate_per_key,
        keys / local,
        local / keys / migrate_per_key,
        keys / relayed,
        relayed / keys / migrate_per_key,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_mean_is_read_from_criterions_estimates() {
        let dir = tempfile::tempdir().unwrap();
        let bench = dir
            .path()
            .join("handshake")
            .join("full, both sides")
            .join("new");
        std::fs::create_dir_all(&bench).unwrap();
        std::fs::write(
            bench.join("estimates.json"),
            r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":2.9e6,
            "upper_bound":3.1e6},"point_estimate":3030012.5,"standard_error":1.0},
            "median":{"point_estimate":1.0}}"#,
        )
        .unwrap();
        let options = Options {
            ours: "x".into(),
            softhsm: "x".into(),
            cli: "x".into(),
            criterion: dir.path().into(),
            out: "x".into(),
            largest: 1,
        };
        let mean = criterion_mean(&options, "handshake", "full, both sides").unwrap();
        assert!((mean - 3_030_012.5).abs() < 1e-6, "{mean}");
        assert!(criterion_mean(&options, "handshake", "absent").is_err());
    }
}
