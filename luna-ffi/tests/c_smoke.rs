//! A C program compiled against the generated header (`include/luna_cpv4.h`) loads the module
//! with `dlopen` and runs a whole session (`tests/c/smoke.c`), and the CPv4 extensions
//! (`tests/c/cpv4.c`).
// Test helpers, like tests, fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;

/// Builds `tests/c/{name}.c` against the header (`-Wall -Wextra -Werror`) and runs it on the
/// built module in a fresh home; its standard output, or `None` without a C compiler.
fn build_and_run(name: &str) -> Option<String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    if !common::require_tool(
        "a C compiler (cc)",
        common::tool_present(&cc, &["--version"]),
        "apt-get install gcc",
    ) {
        return None;
    }
    let dir = common::home();
    let exe = dir.path().join(name);
    let package = common::package_dir();
    common::run_ok(
        Command::new(&cc)
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE"])
            .arg("-I")
            .arg(package.join("include"))
            .arg(package.join(format!("tests/c/{name}.c")))
            .arg("-o")
            .arg(&exe)
            .arg("-ldl"),
    );
    let home = common::home();
    let output = common::run_ok(
        Command::new(&exe)
            .arg(common::library())
            .env("LUNA_SIM_HOME", home.path()),
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn a_c_program_built_against_the_header_runs_a_session() {
    let Some(stdout) = build_and_run("smoke") else {
        return;
    };
    assert!(stdout.contains("slot 0: source"), "{stdout}");
    assert!(stdout.contains("smoke: OK"), "{stdout}");
}

#[test]
fn a_c_program_runs_the_cpv4_flow_migrate_keys_clone_object_and_the_domain_calls() {
    let Some(stdout) = build_and_run("cpv4") else {
        return;
    };
    assert!(stdout.contains("cpv4: OK"), "{stdout}");
}
