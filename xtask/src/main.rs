//! Project automation, run as `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks: formatting, clippy with warnings denied, all tests, docs with
//!   warnings denied, a type check of the fuzz targets, and that the publishable crates
//!   package.
//! - `fuzz TARGET [--seconds N]`: runs one cargo-fuzz target of `fuzz/` (see `fuzz/README.md`).
//! - `fuzz-list`: lists the fuzz targets.
//! - `bench [--largest N] [--out FILE]`: the benchmarks of `docs/benchmarks.md`: criterion's
//!   handshake bench, then the `p11-bench` harness against SoftHSMv2 (`softhsm2` must be
//!   installed) and the floor, written up as Markdown into `docs/benchmarks.md` between its
//!   report markers (with `--out FILE`, into that file instead).
//! - `codegen`: regenerates the C header `luna-ffi/include/luna_cpv4.h` from the Rust
//!   definitions (cbindgen) and the constant tables of `cpv4_wire::consts`.
#![forbid(unsafe_code)]

#[path = "../../luna-ffi/codegen/header.rs"]
mod luna_ffi_header;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Crates published on crates.io: `cargo package` must succeed for each.
const PUBLISHED: &[&str] = &["cpv4-wire", "cpv4-crypto", "cpv4-session", "cpv4-migrate"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("fuzz") => fuzz(args.get(1..).unwrap_or_default()),
        Some("fuzz-list") => fuzz_list(),
        Some("codegen") => codegen(),
        Some("bench") => bench(args.get(1..).unwrap_or_default()),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask ci | fuzz TARGET [--seconds N] | fuzz-list | codegen | \
                     bench [--largest N] [--out FILE]";

/// Where Debian's `softhsm2` puts its module; `SOFTHSM2_MODULE` names another.
const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// `cargo xtask bench`: release builds of the module, the command line and the harness;
/// criterion's handshake bench; then the harness, which measures both tokens and the floor
/// in children of its own and writes the report.
fn bench(args: &[String]) -> Result<(), String> {
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let softhsm = std::env::var("SOFTHSM2_MODULE").unwrap_or_else(|_| SOFTHSM_MODULE.to_owned());
    if !Path::new(&softhsm).exists() {
        return Err(format!(
            "SoftHSMv2, the baseline, is not at {softhsm}: `apt-get install softhsm2`, or name \
             its module in SOFTHSM2_MODULE"
        ));
    }
    run(
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "luna-ffi",
            "-p",
            "migrate-cli",
            "-p",
            "p11-bench",
        ],
        &[],
    )?;
    run(
        "cargo",
        &[
            "bench",
            "-p",
            "cpv4-session",
            "--bench",
            "handshake",
            "--",
            "--warm-up-time",
            "2",
            "--measurement-time",
            "8",
            "handshake",
        ],
        &[],
    )?;
    let release = root().join("target").join("release");
    let out = option("--out").map_or_else(
        || root().join("target").join("bench-report.md"),
        PathBuf::from,
    );
    let largest = option("--largest").unwrap_or_else(|| "1000000".to_owned());
    let path = |p: &Path| p.display().to_string();
    run(
        &path(&release.join("p11-bench")),
        &[
            "run",
            "--ours",
            &path(&release.join("libluna_ffi.so")),
            "--softhsm",
            &softhsm,
            "--cli",
            &path(&release.join("cpv4")),
            "--criterion",
            &path(&root().join("target").join("criterion")),
            "--out",
            &path(&out),
            "--largest",
            &largest,
        ],
        &[],
    )?;
    if option("--out").is_none() {
        splice_report(&out, &root().join("docs").join("benchmarks.md"))?;
    }
    Ok(())
}

/// The markers between which `docs/benchmarks.md` holds the last `cargo xtask bench` report.
const REPORT_BEGIN: &str = "<!-- begin: written by `cargo xtask bench` -->";
const REPORT_END: &str = "<!-- end: written by `cargo xtask bench` -->";

/// Puts the report into `docs` between the markers, leaving the rest of the page as it is.
fn splice_report(report: &Path, docs: &Path) -> Result<(), String> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let (report, page) = (read(report)?, read(docs)?);
    let (Some((before, _)), Some((_, after))) =
        (page.split_once(REPORT_BEGIN), page.split_once(REPORT_END))
    else {
        return Err(format!(
            "{}: the report markers are missing",
            docs.display()
        ));
    };
    let page = format!(
        "{before}{REPORT_BEGIN}\n\n{}\n\n{REPORT_END}{after}",
        report.trim()
    );
    std::fs::write(docs, page).map_err(|e| format!("{}: {e}", docs.display()))?;
    eprintln!("xtask: wrote the report into {}", docs.display());
    Ok(())
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Runs a command in the repository root, failing with its description if it fails.
fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let shown = format!("{program} {}", args.join(" "));
    eprintln!("xtask: running `{shown}`");
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot start `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// The features of the test command's build: fault injection from `LUNA_SIM_FAULTS`, which
/// no shipped build has.
const FAULT_FEATURES: &str = "luna-sim/fault-injection,migrate-cli/fault-injection";

fn ci() -> Result<(), String> {
    run("cargo", &["fmt", "--all", "--check"], &[])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--features",
            FAULT_FEATURES,
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    // A build without fault injection ignores LUNA_SIM_FAULTS (the shipped library's case);
    // the workspace's tests then run with it, as the crash and error-path tests need.
    run(
        "cargo",
        &["test", "-p", "luna-sim", "--test", "no_faults"],
        &[],
    )?;
    run(
        "cargo",
        &["test", "--workspace", "--features", FAULT_FEATURES],
        &[],
    )?;
    // The fuzz crate is outside the workspace (libFuzzer's instrumentation needs nightly flags
    // only `cargo fuzz` passes); type-check its targets here so an API change cannot break one
    // unseen. It shares the workspace's target directory, so dependencies build once.
    run(
        "cargo",
        &[
            "check",
            "--manifest-path",
            "fuzz/Cargo.toml",
            "--bins",
            "--locked",
            "--target-dir",
            "target",
        ],
        &[],
    )?;
    run(
        "cargo",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    // One invocation for all of them: cargo then resolves their dependencies on each other
    // from the packages it is making, before any is on crates.io.
    let mut package = vec!["package", "--quiet", "--allow-dirty"];
    for krate in PUBLISHED {
        package.extend(["--package", krate]);
    }
    run("cargo", &package, &[])?;
    eprintln!("xtask: ci passed");
    Ok(())
}

fn fuzz_targets() -> Result<Vec<String>, String> {
    let dir = root().join("fuzz/fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    targets.sort();
    Ok(targets)
}

fn fuzz_list() -> Result<(), String> {
    fuzz_targets()?
        .iter()
        .for_each(|target| println!("{target}"));
    Ok(())
}

/// `cargo fuzz` needs nightly compiler flags (`-Zsanitizer`, coverage instrumentation). On a
/// stable toolchain `RUSTC_BOOTSTRAP=1` unlocks them for this build only.
fn fuzz(args: &[String]) -> Result<(), String> {
    let target = args.first().ok_or(USAGE)?;
    if !fuzz_targets()?.contains(target) {
        return Err(format!(
            "unknown fuzz target `{target}` (see `cargo xtask fuzz-list`)"
        ));
    }
    let seconds = match args.get(1..) {
        Some([flag, value]) if flag == "--seconds" => value
            .parse::<u64>()
            .map_err(|_| format!("--seconds: not a number: {value}"))?,
        Some([]) => 60,
        _ => return Err(USAGE.to_string()),
    };
    let corpus = format!("corpus/{target}");
    let max_time = format!("-max_total_time={seconds}");
    let status = Command::new("cargo")
        .args(["fuzz", "run", "--release", target, &corpus, "--"])
        .args([
            max_time.as_str(),
            "-print_final_stats=1",
            "-timeout=10",
            "-rss_limit_mb=2048",
        ])
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(root().join("fuzz"))
        .status()
        .map_err(|e| {
            format!("cannot start cargo fuzz (install it: `cargo install cargo-fuzz`): {e}")
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("fuzz target `{target}` failed ({status})"))
    }
}

/// Writes the C header of luna-ffi (see `luna-ffi/codegen/header.rs`).
fn codegen() -> Result<(), String> {
    let text = luna_ffi_header::generate(&root())?;
    let path = root().join(luna_ffi_header::HEADER);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_report_replaces_only_what_lies_between_the_markers() {
        let dir = tempfile::tempdir().unwrap();
        let (report, docs) = (dir.path().join("report.md"), dir.path().join("docs.md"));
        std::fs::write(&report, "## New\n\nfigures\n").unwrap();
        std::fs::write(
            &docs,
            format!("# Title\n\n{REPORT_BEGIN}\n\nold figures\n\n{REPORT_END}\n\n## Kept\n"),
        )
        .unwrap();
        splice_report(&report, &docs).unwrap();
        let page = std::fs::read_to_string(&docs).unwrap();
        assert_eq!(
            page,
            format!("# Title\n\n{REPORT_BEGIN}\n\n## New\n\nfigures\n\n{REPORT_END}\n\n## Kept\n")
        );
        std::fs::write(&docs, "no markers").unwrap();
        assert!(splice_report(&report, &docs).is_err());
        assert_eq!(std::fs::read_to_string(&docs).unwrap(), "no markers");
    }
}
