//! `p11-bench`: the harness of `cargo xtask bench`.
//!
//! One program drives both tokens through their C ABI (this project's `libluna_ffi.so` and
//! SoftHSMv2's `libsofthsm2.so`, each loaded by path with [`luna_ffi::client::Module`]), so a
//! comparison measures the tokens, not two different clients. Each measurement runs in a child
//! process of its own (`p11-bench child ...`), with its own simulator home or SoftHSM token
//! directory, so its peak memory is its own and nothing it leaves behind reaches the next.
//!
//! ```text
//! p11-bench run --ours LIB --softhsm LIB --cli CPV4 --criterion DIR --out FILE [--largest N]
//! p11-bench child MEASUREMENT ARGS...      # one measurement; prints `result key=value ...`
//! ```
//!
//! What is set up (the objects to migrate or find) is not timed; what is timed is named with
//! each figure in the report.
#![forbid(unsafe_code)]

mod floor;
mod report;
mod softhsm;
mod tokens;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The results of one child: its `key=value` pairs.
pub type Figures = BTreeMap<String, String>;

/// A failure of the harness, as text for the operator.
pub type BenchResult<T> = Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(args.get(1..).unwrap_or_default()),
        Some("child") => child(args.get(1..).unwrap_or_default()),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("p11-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: p11-bench run --ours LIB --softhsm LIB --cli CPV4 --criterion DIR \
                     --out FILE [--largest N] | p11-bench child MEASUREMENT ARGS...";

/// The options of `run`.
#[derive(Debug, Clone)]
pub struct Options {
    /// This project's module.
    pub ours: PathBuf,
    /// SoftHSMv2's module.
    pub softhsm: PathBuf,
    /// The `cpv4` command line (for the relay).
    pub cli: PathBuf,
    /// criterion's output directory (`target/criterion`), for the handshake figures.
    pub criterion: PathBuf,
    /// Where the report goes.
    pub out: PathBuf,
    /// The largest object count of the growth series.
    pub largest: u64,
}

fn option(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn required(args: &[String], name: &str) -> BenchResult<String> {
    option(args, name).ok_or_else(|| format!("{name} is required\n{USAGE}"))
}

fn run(args: &[String]) -> BenchResult<()> {
    let options = Options {
        ours: required(args, "--ours")?.into(),
        softhsm: required(args, "--softhsm")?.into(),
        cli: required(args, "--cli")?.into(),
        criterion: required(args, "--criterion")?.into(),
        out: required(args, "--out")?.into(),
        largest: option(args, "--largest")
            .map(|n| n.parse().map_err(|_| format!("--largest {n}: not a count")))
            .transpose()?
            .unwrap_or(1_000_000),
    };
    let report = report::measure_all(&options)?;
    std::fs::write(&options.out, report)
        .map_err(|e| format!("cannot write {}: {e}", options.out.display()))?;
    eprintln!("p11-bench: wrote {}", options.out.display());
    Ok(())
}

/// Runs `p11-bench child ARGS` in a fresh process with `env`, and returns its figures.
///
/// # Errors
///
/// The child's failure, with its standard error.
pub fn in_child(args: &[&str], env: &[(&str, &Path)]) -> BenchResult<Figures> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find the harness: {e}"))?;
    eprintln!("p11-bench: child {}", args.join(" "));
    let output = Command::new(me)
        .arg("child")
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .output()
        .map_err(|e| format!("cannot start a child: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "child {} failed ({}): {}{}",
            args.join(" "),
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let mut figures = Figures::new();
    for line in stdout.lines() {
        let Some(pairs) = line.strip_prefix("result ") else {
            continue;
        };
        for pair in pairs.split_whitespace() {
            if let Some((key, value)) = pair.split_once('=') {
                figures.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    Ok(figures)
}

/// Prints the figures of a child for its parent.
pub fn emit(pairs: &[(&str, String)]) {
    let line: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("result {}", line.join(" "));
}

/// The peak and current resident memory of this process, in KiB (`VmHWM`, `VmRSS`).
///
/// # Errors
///
/// When `/proc/self/status` cannot be read (not Linux).
pub fn memory_kib() -> BenchResult<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| format!("no {name} in /proc/self/status"))
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

fn count_arg(args: &[String], index: usize) -> BenchResult<u64> {
    let text = args.get(index).ok_or(USAGE)?;
    text.parse().map_err(|_| format!("{text}: not a count"))
}

fn path_arg(args: &[String], index: usize) -> BenchResult<PathBuf> {
    Ok(args.get(index).ok_or(USAGE)?.into())
}

fn kind_arg(args: &[String], index: usize) -> BenchResult<tokens::KeyKind> {
    tokens::KeyKind::parse(args.get(index).ok_or(USAGE)?)
}

fn child(args: &[String]) -> BenchResult<()> {
    match args.first().map(String::as_str) {
        // fill HOME KIND COUNT: COUNT keys on the source partition of a simulator home.
        Some("fill") => tokens::fill(&path_arg(args, 1)?, kind_arg(args, 2)?, count_arg(args, 3)?),
        // migrate LIB: CA_MigrateKeys of every key of the source partition (LUNA_SIM_HOME).
        Some("migrate") => tokens::migrate(&path_arg(args, 1)?),
        // find LIB COUNT: finds by label among COUNT keys (LUNA_SIM_HOME).
        Some("find") => tokens::find(&path_arg(args, 1)?, count_arg(args, 2)?),
        // softhsm-migrate LIB KIND COUNT: wrap on one token, unwrap on the other (SOFTHSM2_CONF).
        Some("softhsm-migrate") => {
            softhsm::migrate(&path_arg(args, 1)?, kind_arg(args, 2)?, count_arg(args, 3)?)
        }
        // softhsm-find LIB COUNT: finds by label among COUNT keys (SOFTHSM2_CONF).
        Some("softhsm-find") => softhsm::find(&path_arg(args, 1)?, count_arg(args, 2)?),
        // floor: AES-KWP of one 32-byte key and one SQLite row in a batched transaction.
        Some("floor") => floor::measure(),
        _ => Err(USAGE.to_owned()),
    }
}
