//! Helpers shared by the interop tests: the built module, temporary simulator homes,
//! running one scenario per process, and the rule for missing tools.
#![allow(dead_code, clippy::panic, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Calls an exported function of the rlib.
#[allow(unused_macros)]
macro_rules! call {
    ($function:ident($($arg:expr),* $(,)?)) => {{
        // SAFETY: every pointer argument is NULL or points to a live local of the right type
        // and size, as the function's contract requires.
        unsafe { $function($($arg),*) }
    }};
}

/// A visible test that runs the ignored `$child` in a fresh process and home.
#[allow(unused_macros)]
macro_rules! scenario {
    ($visible:ident, $child:ident, $body:block) => {
        #[test]
        fn $visible() {
            common::run_scenario(stringify!($child), common::home().path());
        }

        #[test]
        #[ignore = "runs in a child process of its visible test"]
        fn $child() {
            assert!(common::in_scenario(), "run through its parent test");
            $body
        }
    };
}

/// The development PIN of the Crypto Officer in luna-sim's default layout.
pub const CO_PIN: &str = "co-pin";
/// The development PIN of the Partition SO.
pub const SO_PIN: &str = "so-pin";
/// The development PIN of the Crypto User.
pub const CU_PIN: &str = "cu-pin";

/// The package directory (`luna-ffi/`).
pub fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The built module, `target/<profile>/libluna_ffi.so` (beside the test binary's `deps/`).
/// Cargo builds it with the test binaries (the library is a cdylib too); if it is missing,
/// it is built with `cargo build -p luna-ffi`.
pub fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps directory");
    let candidates = [
        deps.join("libluna_ffi.so"),
        deps.parent()
            .map(|p| p.join("libluna_ffi.so"))
            .unwrap_or_default(),
    ];
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return found.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "luna-ffi"])
        .current_dir(package_dir())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p luna-ffi failed");
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .expect("libluna_ffi.so after cargo build")
}

/// A fresh simulator home (provisioned with the default layout on first use).
pub fn home() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary simulator home")
}

/// Runs the ignored test `name` of this test binary in a child process with
/// `LUNA_SIM_HOME=home`, so each scenario has its own library state; fails if the child
/// fails, else returns what it printed.
pub fn run_scenario(name: &str, home: &Path) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let output = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            name,
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LUNA_SIM_HOME", home)
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "scenario {name} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout.into_owned()
}

/// Whether the scenario runs as a child of [`run_scenario`] (it has its own home).
pub fn in_scenario() -> bool {
    std::env::var_os("LUNA_SIM_HOME").is_some()
}

/// Whether `program` can be started (`program args` exits, whatever its status).
pub fn tool_present(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).output().is_ok()
}

/// For a tool a test needs: `true` if present. If missing, the test fails when `CI` is set
/// and otherwise prints a loud skip notice and returns `false`.
pub fn require_tool(what: &str, present: bool, install: &str) -> bool {
    if present {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} is missing on CI (install: {install})");
    }
    eprintln!(
        "\n**********\nSKIPPED: {what} is missing (install: {install}); CI fails here\n**********\n"
    );
    false
}

/// Runs a command, failing with its output if it fails.
pub fn run_ok(command: &mut Command) -> Output {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(
        output.status.success(),
        "{shown} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
