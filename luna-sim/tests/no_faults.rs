//! A build without the `fault-injection` feature (every shipped build: the PKCS#11 module,
//! the CLI) never reads `LUNA_SIM_FAULTS`: the audit found that an application inheriting the
//! variable could be made to fail every write, or abort. `cargo xtask ci` runs this test
//! without the feature before the rest of the tests, which run with it. In a build with the
//! feature this file has no test.
#![allow(clippy::unwrap_used, clippy::panic)]

#[cfg(not(feature = "fault-injection"))]
mod common;

/// In a child with `LUNA_SIM_FAULTS=fail_write=1,abort_after_objects=1`, opening a home and
/// storing a token object succeeds: neither the failing write nor the abort happens.
#[cfg(not(feature = "fault-injection"))]
#[test]
fn a_build_without_fault_injection_ignores_the_environment() {
    const CHILD: &str = "LUNA_SIM_NO_FAULTS_CHILD";
    if let Some(home) = std::env::var_os(CHILD) {
        let sim = luna_sim::Simulator::open(std::path::Path::new(&home)).unwrap();
        let session = common::login(&sim, 0, cpv4_wire::consts::CKU_USER);
        sim.create_object(session, &common::aes_template("k", &[1; 32], true))
            .unwrap();
        println!("stored");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_build_without_fault_injection_ignores_the_environment",
            "--nocapture",
        ])
        .env(CHILD, dir.path())
        .env(luna_sim::FAULTS_ENV, "fail_write=1,abort_after_objects=1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("stored"),
        "{}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}
