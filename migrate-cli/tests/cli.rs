//! The `cpv4` binary as a user runs it: quickstart on an empty home, migrations with JSON
//! output, resumption after an injected failure, and a module loaded by path.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CPV4: &str = env!("CARGO_BIN_EXE_cpv4");

/// `cpv4 ARGS` with the simulator home `home` and nothing else configured.
fn cpv4(home: &Path, args: &[&str]) -> Output {
    Command::new(CPV4)
        .args(args)
        .env("LUNA_SIM_HOME", home)
        .env_remove("LUNA_SIM_FAULTS")
        .env_remove("CPV4_MODULE")
        .env_remove("CPV4_PIN")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}

#[test]
fn quickstart_runs_twice_on_an_empty_home_with_nothing_configured() {
    let home = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(CPV4)
            .arg("quickstart")
            .env("HOME", home.path())
            .env_remove("LUNA_SIM_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("LUNA_SIM_FAULTS")
            .env_remove("CPV4_MODULE")
            .env_remove("CPV4_PIN")
            .output()
            .unwrap()
    };
    let first = run();
    let text = stdout(&first);
    assert!(
        first.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(text.contains("6 cloned now with CA_MigrateKeys"), "{text}");
    for proof in [
        "decrypted on the target (AES-GCM)",
        "verified on the target (HMAC-SHA256)",
        "signed on the target, verified on the source (ECDSA P-256)",
        "signed on the source, verified on the target (ECDSA P-256)",
        "same CKA_VALUE on both partitions",
    ] {
        assert!(text.contains(proof), "missing {proof:?}: {text}");
    }
    assert_eq!(text.matches("created, cloned now").count(), 6, "{text}");
    assert!(
        text.contains("Verified peer: partition \"target\", serial 150002001"),
        "{text}"
    );
    let state = home.path().join(".local/share/luna-sim");
    assert!(
        text.contains(&format!("State: the simulator home {}", state.display())),
        "{text}"
    );
    assert!(state.join(luna_sim::DB_FILE).is_file());
    let next: Vec<&str> = text
        .split("Try next:\n")
        .nth(1)
        .unwrap()
        .lines()
        .filter(|line| line.trim_start().starts_with("cpv4 "))
        .collect();
    assert_eq!(next.len(), 3, "{text}");

    let second = run();
    let text = stdout(&second);
    assert!(second.status.success(), "{text}");
    assert!(text.contains("0 cloned now"), "{text}");
    assert_eq!(
        text.matches("reused, clone already on the target").count(),
        6,
        "{text}"
    );
    assert!(
        text.contains(
            "This run reused 6 existing source objects and found 6 clones already on the target."
        ),
        "{text}"
    );
    assert!(text.contains("made no negotiation"), "{text}");
}

/// The `status` of each object of a JSON migration report.
fn statuses(report: &serde_json::Value) -> Vec<String> {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn migrate_json_reports_each_object_and_a_second_run_clones_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    assert!(
        cpv4(
            home,
            &[
                "keygen", "--slot", "0", "--kind", "aes", "--label", "app", "--count", "12"
            ]
        )
        .status
        .success()
    );
    let dry = cpv4(
        home,
        &[
            "migrate",
            "--from",
            "0",
            "--to",
            "1",
            "--all",
            "--dry-run",
            "--json",
        ],
    );
    assert_eq!(dry.status.code(), Some(0));
    let report = json(&dry);
    assert_eq!(statuses(&report), vec!["would-clone"; 12]);
    assert_eq!(report["summary"]["would_clone"], 12);
    // A dry run clones nothing.
    let listed = json(&cpv4(home, &["objects", "--slot", "1", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 0);

    let first = cpv4(
        home,
        &[
            "migrate", "--from", "0", "--to", "1", "--label", "app-3", "--json",
        ],
    );
    assert_eq!(first.status.code(), Some(0));
    let report = json(&first);
    let objects = report["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["label"], "app-3");
    assert_eq!(objects[0]["status"], "cloned");
    assert_eq!(objects[0]["rv"], "CKR_OK");
    assert!(objects[0]["source_handle"].as_u64().unwrap() > 0);
    assert!(objects[0]["target_handle"].as_u64().unwrap() > 0);

    let all = cpv4(
        home,
        &[
            "migrate", "--from", "0", "--to", "1", "--all", "--batch", "5", "--json",
        ],
    );
    assert_eq!(all.status.code(), Some(0));
    let report = json(&all);
    let mut seen = statuses(&report);
    seen.sort();
    assert_eq!(seen.iter().filter(|s| *s == "cloned").count(), 11);
    assert_eq!(seen.iter().filter(|s| *s == "present").count(), 1);
    assert_eq!(report["summary"]["cloned"], 11);
    assert_eq!(report["summary"]["present"], 1);
    let listed = json(&cpv4(home, &["objects", "--slot", "1", "--json"]));
    assert_eq!(
        listed.as_array().unwrap().len(),
        12,
        "no duplicates on the target"
    );
}

#[test]
fn migrate_refuses_a_run_without_a_selection_and_the_same_slot() {
    let dir = tempfile::tempdir().unwrap();
    let none = cpv4(dir.path(), &["migrate", "--from", "0", "--to", "1"]);
    assert_eq!(none.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&none.stderr).contains("--label, --id, --class, or --all"));
    let same = cpv4(
        dir.path(),
        &["migrate", "--from", "0", "--to", "0", "--all"],
    );
    assert_eq!(same.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&same.stderr).contains("same slot"));
    let bad = cpv4(
        dir.path(),
        &["migrate", "--from", "0", "--to", "7", "--all"],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("CKR_SLOT_ID_INVALID"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// A store failure injected at every write of a migration in turn: each failed run leaves
/// only whole clones, and the next run completes it without a duplicate. Needs the binary built
/// with fault injection (the test command's build, `cargo xtask ci`).
#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs --features migrate-cli/fault-injection"
)]
fn a_migration_interrupted_at_any_write_completes_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    assert!(
        cpv4(
            &base,
            &[
                "keygen", "--slot", "0", "--kind", "generic", "--label", "k", "--count", "7"
            ]
        )
        .status
        .success()
    );
    let mut partial = 0;
    for n in 1..=40 {
        let home = dir.path().join(format!("run-{n}"));
        copy_dir(&base, &home);
        let failed = Command::new(CPV4)
            .args([
                "migrate", "--from", "0", "--to", "1", "--all", "--batch", "3", "--json",
            ])
            .env("LUNA_SIM_HOME", &home)
            .env("LUNA_SIM_FAULTS", format!("fail_write={n}"))
            .output()
            .unwrap();
        let listed = json(&cpv4(&home, &["objects", "--slot", "1", "--json"]));
        let stored = listed.as_array().unwrap().len();
        assert!(stored <= 7, "n={n}: {stored} objects");
        let rerun = cpv4(
            &home,
            &["migrate", "--from", "0", "--to", "1", "--all", "--json"],
        );
        assert_eq!(rerun.status.code(), Some(0), "n={n}: {}", stdout(&rerun));
        let report = json(&rerun);
        assert_eq!(report["summary"]["present"], stored, "n={n}");
        assert_eq!(report["summary"]["cloned"], 7 - stored, "n={n}");
        let listed = json(&cpv4(&home, &["objects", "--slot", "1", "--json"]));
        assert_eq!(
            listed.as_array().unwrap().len(),
            7,
            "n={n}: duplicates or losses"
        );
        if !failed.status.success() && stored > 0 {
            partial += 1;
        }
        std::fs::remove_dir_all(&home).unwrap();
    }
    assert!(partial > 0, "no injected failure fell between two batches");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// The crate's `.so`, built if this test run did not build it.
fn library() -> PathBuf {
    let exe = PathBuf::from(CPV4);
    let dir = exe.parent().unwrap();
    let candidates = [dir.join("libluna_ffi.so"), dir.join("deps/libluna_ffi.so")];
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return found.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "luna-ffi"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success());
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .expect("libluna_ffi.so")
}

#[test]
fn a_module_loaded_by_path_migrates_like_the_builtin_one() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let module = library();
    let with_module = |args: &[&str]| {
        Command::new(CPV4)
            .arg("--module")
            .arg(&module)
            .args(args)
            .env("LUNA_SIM_HOME", home)
            .env("CPV4_PIN", "co-pin")
            .env_remove("LUNA_SIM_FAULTS")
            .output()
            .unwrap()
    };
    assert!(
        with_module(&["keygen", "--slot", "0", "--kind", "ec", "--label", "pair"])
            .status
            .success()
    );
    let out = with_module(&["migrate", "--from", "0", "--to", "1", "--all", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(
        report["summary"]["cloned"], 2,
        "the public and the private key"
    );
    // A wrong PIN is the module's code with advice, not a crash.
    let wrong = Command::new(CPV4)
        .arg("--module")
        .arg(&module)
        .args(["objects", "--slot", "0"])
        .env("LUNA_SIM_HOME", home)
        .env("CPV4_PIN", "not-the-pin")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("CKR_PIN_INCORRECT") && stderr.contains("check the PIN"),
        "{stderr}"
    );
    // No module at the path: a clear message.
    let missing = Command::new(CPV4)
        .args(["--module", "/nonexistent/libnothing.so", "slots"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot open the module"));
}

#[test]
fn a_closed_stdout_ends_the_command_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(CPV4)
        .arg("quickstart")
        .env("LUNA_SIM_HOME", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
}

#[test]
fn every_command_has_help_with_an_example() {
    for command in [
        vec!["quickstart"],
        vec!["slots"],
        vec!["objects"],
        vec!["keygen"],
        vec!["migrate"],
        vec!["domain", "add"],
        vec!["domain", "list"],
        vec!["domain", "relabel"],
        vec!["domain", "delete"],
        vec!["sim", "init"],
        vec!["sim", "status"],
        vec!["sim", "policy"],
        vec!["sim", "clock"],
        vec!["sim", "reset"],
        vec!["completions"],
        vec!["relay"],
        vec!["relay", "step", "offer"],
        vec!["relay", "step", "accept"],
        vec!["relay", "step", "confirm"],
        vec!["relay", "step", "extract"],
        vec!["relay", "step", "insert"],
    ] {
        let output = Command::new(CPV4)
            .args(&command)
            .arg("--help")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{command:?}");
        assert!(
            text.contains("Example"),
            "{command:?} has no example: {text}"
        );
    }
    let bash = Command::new(CPV4)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bash.stdout).contains("cpv4"));
}

#[test]
fn the_progress_bar_is_drawn_on_a_terminal_and_not_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    assert!(
        cpv4(
            home,
            &[
                "keygen", "--slot", "0", "--kind", "aes", "--label", "p", "--count", "50"
            ]
        )
        .status
        .success()
    );
    // Piped: no bar on stderr, only the summary on stdout.
    let piped = cpv4(
        home,
        &["migrate", "--from", "0", "--to", "1", "--all", "--dry-run"],
    );
    assert_eq!(piped.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(
        !stderr.contains("objects") && !stderr.contains("ETA"),
        "{stderr}"
    );
    // On a terminal (util-linux `script` gives the command a pty): the bar with its rate and ETA.
    let command = format!("'{CPV4}' migrate --from 0 --to 1 --all");
    let tty = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("LUNA_SIM_HOME", home)
        .env_remove("LUNA_SIM_FAULTS")
        .output()
        .expect("util-linux `script` (package bsdutils) runs the pty test");
    assert!(tty.status.success());
    let screen = String::from_utf8_lossy(&tty.stdout);
    assert!(
        screen.contains("/50 objects") && screen.contains("/s") && screen.contains("ETA"),
        "{screen}"
    );
    assert!(screen.contains("50 selected: 50 cloned"), "{screen}");
}

#[test]
fn domains_are_added_listed_relabelled_and_deleted_and_a_generated_secret_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let secret = dir.path().join("team.secret");
    let out = cpv4(
        &home,
        &[
            "domain",
            "add",
            "--slot",
            "0",
            "--label",
            "team",
            "--generate",
            "--secret-file",
            secret.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let hex_secret = std::fs::read_to_string(&secret).unwrap();
    assert_eq!(hex_secret.len(), 64);
    assert!(
        !stdout(&out).contains(&hex_secret),
        "a secret written to a file is not printed"
    );
    // The same secret on the target partition: a domain the two share.
    assert!(
        cpv4(
            &home,
            &[
                "domain",
                "add",
                "--slot",
                "1",
                "--label",
                "team",
                "--secret-file",
                secret.to_str().unwrap()
            ]
        )
        .status
        .success()
    );
    let listed = stdout(&cpv4(&home, &["domain", "list", "--slot", "1"]));
    assert!(
        listed.contains("default-domain  (primary)") && listed.contains("team"),
        "{listed}"
    );
    // Not overwritten: a second --generate into the same file is refused before any change.
    let twice = cpv4(
        &home,
        &[
            "domain",
            "add",
            "--slot",
            "0",
            "--label",
            "again",
            "--generate",
            "--secret-file",
            secret.to_str().unwrap(),
        ],
    );
    assert_eq!(twice.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), hex_secret);
    assert!(!stdout(&cpv4(&home, &["domain", "list", "--slot", "0"])).contains("again"));
    // A generated secret the HSM refuses (its label exists) leaves no file behind.
    let fresh = dir.path().join("fresh.secret");
    let refused = cpv4(
        &home,
        &[
            "domain",
            "add",
            "--slot",
            "0",
            "--label",
            "team",
            "--generate",
            "--secret-file",
            fresh.to_str().unwrap(),
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("CKR_DOMAIN_LABEL_ALREADY_EXISTS"));
    assert!(!fresh.exists());
    assert!(
        cpv4(
            &home,
            &[
                "domain",
                "relabel",
                "--slot",
                "1",
                "--label",
                "team",
                "--new-label",
                "team-b"
            ]
        )
        .status
        .success()
    );
    assert!(
        cpv4(
            &home,
            &["domain", "delete", "--slot", "1", "--label", "team-b"]
        )
        .status
        .success()
    );
    let listed = stdout(&cpv4(&home, &["domain", "list", "--slot", "1"]));
    assert!(!listed.contains("team"), "{listed}");
    // Shown once when no file is given.
    let shown = cpv4(
        &home,
        &[
            "domain",
            "add",
            "--slot",
            "0",
            "--label",
            "shown",
            "--generate",
        ],
    );
    assert!(stdout(&shown).contains("shown only now"));
}

#[test]
fn sim_policies_stage_the_error_paths_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    assert!(
        cpv4(
            home,
            &["keygen", "--slot", "0", "--kind", "aes", "--label", "x"]
        )
        .status
        .success()
    );
    // CPv4 off on the target and the legacy protocol off too: nothing can clone.
    assert!(
        cpv4(home, &["sim", "policy", "--slot", "1", "--cpv4", "--off"])
            .status
            .success()
    );
    let status = stdout(&cpv4(home, &["sim", "status"]));
    assert!(
        status.contains("slot 1 \"target\" serial 150002001: CPv4 off"),
        "{status}"
    );
    // HSM policy 7 off on the source's HSM.
    assert!(
        cpv4(
            home,
            &["sim", "policy", "--hsm", "150001", "--policy", "7", "--off"]
        )
        .status
        .success()
    );
    let refused = cpv4(home, &["migrate", "--from", "0", "--to", "1", "--all"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_ne!(refused.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("CKR_PROTOCOL_DISABLED")
            || stdout(&refused).contains("CKR_PROTOCOL_DISABLED"),
        "{stderr}"
    );
    assert!(
        cpv4(
            home,
            &["sim", "policy", "--hsm", "150001", "--policy", "7", "--on"]
        )
        .status
        .success()
    );
    assert!(
        cpv4(home, &["sim", "policy", "--slot", "1", "--cpv4", "--on"])
            .status
            .success()
    );
    assert_eq!(
        cpv4(home, &["migrate", "--from", "0", "--to", "1", "--all"])
            .status
            .code(),
        Some(0)
    );
    // An unset clock on the target's HSM.
    assert!(
        cpv4(
            home,
            &["keygen", "--slot", "0", "--kind", "aes", "--label", "y"]
        )
        .status
        .success()
    );
    assert!(
        cpv4(home, &["sim", "clock", "--hsm", "150002", "--unset"])
            .status
            .success()
    );
    assert!(stdout(&cpv4(home, &["sim", "status"])).contains("clock not set"));
    let unset = cpv4(
        home,
        &["migrate", "--from", "0", "--to", "1", "--label", "y"],
    );
    let text = format!(
        "{}{}",
        stdout(&unset),
        String::from_utf8_lossy(&unset.stderr)
    );
    assert!(
        text.contains("CKR_TIME_NOT_INITIALIZED") || text.contains("CKR_PROTOCOL_DISABLED"),
        "{text}"
    );
    // Reset needs --yes.
    assert_eq!(cpv4(home, &["sim", "reset"]).status.code(), Some(2));
    assert!(home.join(luna_sim::DB_FILE).exists());
    assert!(cpv4(home, &["sim", "reset", "--yes"]).status.success());
    assert!(!home.exists());
}

/// Defects an attack review of the command found, each reproduced here.
#[test]
fn sim_reset_deletes_only_a_simulator_home_and_only_what_the_simulator_made() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("important");
    std::fs::create_dir(&plain).unwrap();
    std::fs::write(plain.join("f"), b"data").unwrap();
    // Looking at a directory that is not a home makes nothing in it.
    let status = cpv4(&plain, &["sim", "status"]);
    assert_eq!(status.status.code(), Some(2));
    assert!(!plain.join(luna_sim::DB_FILE).exists());
    // Zero keys is a usage error, not a silent success.
    assert_eq!(
        cpv4(
            &plain,
            &[
                "keygen", "--slot", "0", "--kind", "aes", "--label", "z", "--count", "0"
            ]
        )
        .status
        .code(),
        Some(2)
    );
    let refused = cpv4(&plain, &["sim", "reset", "--yes"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not a simulator home"));
    assert_eq!(std::fs::read(plain.join("f")).unwrap(), b"data");
    // A home with a file of the user's in it: the simulator's files go, the user's stays.
    let home = dir.path().join("home");
    assert!(cpv4(&home, &["sim", "init"]).status.success());
    std::fs::write(home.join("notes.txt"), b"mine").unwrap();
    assert!(cpv4(&home, &["sim", "reset", "--yes"]).status.success());
    let left: Vec<_> = std::fs::read_dir(&home)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("notes.txt")]);
}

#[test]
fn the_development_pin_fallback_never_spends_a_changed_pins_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    {
        let sim = luna_sim::Simulator::open(home).unwrap();
        let session = sim.open_session(0, true).unwrap();
        sim.login(session, cpv4_wire::consts::CKU_USER, b"co-pin")
            .unwrap();
        sim.set_pin(session, b"co-pin", b"a-changed-pin").unwrap();
    }
    for _ in 0..12 {
        let out = cpv4(home, &["objects", "--slot", "0"]);
        assert_ne!(out.status.code(), Some(0));
        assert!(cpv4(home, &["sim", "status"]).status.success());
    }
    let works = Command::new(CPV4)
        .args(["objects", "--slot", "0"])
        .env("LUNA_SIM_HOME", home)
        .env("CPV4_PIN", "a-changed-pin")
        .output()
        .unwrap();
    assert!(
        works.status.success(),
        "{}",
        String::from_utf8_lossy(&works.stderr)
    );
}

#[test]
fn a_generated_secret_that_cannot_be_shown_is_not_added() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(CPV4)
        .args([
            "domain",
            "add",
            "--slot",
            "0",
            "--label",
            "lost",
            "--generate",
        ])
        .env("LUNA_SIM_HOME", home)
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!stdout(&cpv4(home, &["domain", "list", "--slot", "0"])).contains("lost"));
}

#[test]
fn without_continue_on_error_a_migration_stops_at_the_first_failure_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    assert!(
        cpv4(
            home,
            &["keygen", "--slot", "0", "--kind", "ec", "--label", "e"]
        )
        .status
        .success()
    );
    assert!(
        cpv4(
            home,
            &[
                "keygen", "--slot", "0", "--kind", "aes", "--label", "a", "--count", "3"
            ]
        )
        .status
        .success()
    );
    // Partition policy 4 off on the target: private keys may not be cloned to it.
    assert!(
        cpv4(
            home,
            &["sim", "policy", "--slot", "1", "--policy", "4", "--off"]
        )
        .status
        .success()
    );
    let out = cpv4(
        home,
        &[
            "migrate", "--from", "0", "--to", "1", "--all", "--batch", "1", "--json",
        ],
    );
    let report = json(&out);
    let objects = report["objects"].as_array().unwrap();
    let first_failure = objects
        .iter()
        .position(|o| o["status"] == "failed")
        .expect("an object failed");
    assert_eq!(
        objects.len(),
        first_failure + 1,
        "objects after the failure were attempted: {report}"
    );
    assert_eq!(
        report["summary"]["failed"].as_u64().unwrap()
            + report["summary"]["cloned"].as_u64().unwrap(),
        5
    );
    assert_ne!(out.status.code(), Some(0));
    // With --continue-on-error everything else is attempted.
    let all = json(&cpv4(
        home,
        &[
            "migrate",
            "--from",
            "0",
            "--to",
            "1",
            "--all",
            "--batch",
            "1",
            "--continue-on-error",
            "--json",
        ],
    ));
    assert_eq!(all["objects"].as_array().unwrap().len(), 5);
}

#[test]
fn with_json_every_outcome_is_one_json_document_and_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    for args in [
        vec!["migrate", "--from", "0", "--to", "1", "--json"],
        vec![
            "migrate", "--from", "0", "--to", "1", "--id", "zz", "--json",
        ],
        vec!["migrate", "--from", "0", "--to", "0", "--all", "--json"],
    ] {
        let out = cpv4(home, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(json(&out)["error"].is_string(), "{args:?}");
    }
    let out = cpv4(home, &["objects", "--slot", "7", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        json(&out)["error"]
            .as_str()
            .unwrap()
            .contains("CKR_SLOT_ID_INVALID")
    );
    let module = Command::new(CPV4)
        .args([
            "--module",
            "/nonexistent.so",
            "migrate",
            "--from",
            "0",
            "--to",
            "1",
            "--all",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        json(&module)["error"]
            .as_str()
            .unwrap()
            .contains("cannot open the module")
    );
    // A PIN file that is no PIN is refused at once, not read to the end.
    let zero = Command::new(CPV4)
        .args(["objects", "--slot", "0", "--pin-file", "/dev/zero"])
        .env("LUNA_SIM_HOME", home)
        .output()
        .unwrap();
    assert_eq!(zero.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("larger than 4096 bytes"));
    // Completions into a closed pipe: no panic.
    let mut child = Command::new(CPV4)
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let done = child.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&done.stderr).contains("panicked"));
    assert_ne!(done.status.code(), Some(101));
}
