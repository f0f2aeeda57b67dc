//! Two hosts: `cpv4 migrate --to-remote` with `cpv4 relay --serve` on another simulator home as
//! its child, and relays that die, truncate or damage the stream on the way.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

const CPV4: &str = env!("CARGO_BIN_EXE_cpv4");

fn cpv4(home: &Path, args: &[&str]) -> Output {
    Command::new(CPV4)
        .args(args)
        .env("LUNA_SIM_HOME", home)
        .env_remove("LUNA_SIM_FAULTS")
        .env_remove("CPV4_MODULE")
        .env_remove("CPV4_PIN")
        .output()
        .unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The OUIDs of the objects of `slot` in `home`.
fn ouids(home: &Path, slot: &str) -> BTreeSet<String> {
    json(&cpv4(home, &["objects", "--slot", slot, "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["ouid"].as_str().unwrap().to_owned())
        .collect()
}

/// The live negotiations and sessions HSM `serial` of `home` holds (`cpv4 sim status`).
fn held(home: &Path, serial: &str) -> (u64, u64) {
    let status = String::from_utf8(cpv4(home, &["sim", "status"]).stdout).unwrap();
    let mut lines = status
        .lines()
        .skip_while(|l| !l.starts_with(&format!("HSM {serial}:")));
    lines
        .next()
        .unwrap_or_else(|| panic!("no HSM {serial}: {status}"));
    let held = lines.next().unwrap();
    let counts = held.split_once("held:").map_or("", |(_, counts)| counts);
    let numbers: Vec<u64> = counts
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        held.contains("negotiations") && numbers.len() == 3,
        "{held}"
    );
    (numbers[0], numbers[1])
}

/// The command that serves slot 1 of `home`, with a filter in front of it or behind it.
fn serve(home: &Path, before: &str, after: &str) -> String {
    format!(
        "{before} env LUNA_SIM_HOME='{}' '{CPV4}' relay --serve --slot 1 {after}",
        home.display()
    )
}

fn migrate_remote(source: &Path, command: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "migrate",
        "--from",
        "0",
        "--to-remote",
        command,
        "--all",
        "--json",
    ];
    args.extend_from_slice(extra);
    cpv4(source, &args)
}

#[test]
fn a_thousand_objects_cross_two_homes_through_a_relay_child() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("host-a"), dir.path().join("host-b"));
    let made = cpv4(
        &a,
        &[
            "keygen", "--slot", "0", "--kind", "aes", "--label", "k", "--count", "1000",
        ],
    );
    assert!(made.status.success());
    let out = migrate_remote(&a, &serve(&b, "", ""), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["summary"]["cloned"], 1000);
    assert_eq!(report["summary"]["failed"], 0);
    let source = ouids(&a, "0");
    assert_eq!(source.len(), 1000);
    // Every object is on the other home's target, under its own OUID, and only there.
    assert_eq!(ouids(&b, "1"), source);
    assert!(ouids(&a, "1").is_empty());
    // A second run finds everything there.
    let again = json(&migrate_remote(&a, &serve(&b, "", ""), &[]));
    assert_eq!(again["summary"]["present"], 1000);
    assert_eq!(again["summary"]["cloned"], 0);
}

/// A filter that passes its stdin to its stdout as it comes: MODE `flip` flips the byte at
/// offset K, `cut` stops (and exits) after K bytes, `stall` passes nothing until its input
/// ends.
const FILTER: &str = "import os,sys\nmode=sys.argv[1];k=int(sys.argv[2]);n=0\nwhile True:\n b=os.read(0,65536)\n if not b: break\n if mode=='stall': continue\n b=bytearray(b)\n if mode=='flip' and n<=k<n+len(b): b[k-n]^=0x5A\n if mode=='cut': b=b[:max(0,k-n)]\n n+=len(b)\n v=memoryview(b)\n while v: v=v[os.write(1,v):]\n if mode=='cut' and n>=k: break\n";

fn filter(mode: &str, at: usize) -> String {
    format!("python3 -c \"{FILTER}\" {mode} {at}")
}

fn flip(at: usize) -> String {
    filter("flip", at)
}

/// Runs a damaged relay, then checks the target holds whole batches only and that a sound
/// relay completes the migration. Returns how many objects the damaged run stored.
fn damaged_then_repaired(filter_before: &str, filter_after: &str) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(
        cpv4(
            &a,
            &[
                "keygen", "--slot", "0", "--kind", "generic", "--label", "g", "--count", "60"
            ]
        )
        .status
        .success()
    );
    // A peer whose answers stop while it lives is noticed by the timeout.
    let damaged = migrate_remote(
        &a,
        &serve(&b, filter_before, filter_after),
        &["--batch", "20", "--relay-timeout", "3"],
    );
    let stderr = String::from_utf8_lossy(&damaged.stderr);
    assert_eq!(
        damaged.status.code(),
        Some(1),
        "{filter_before} / {filter_after}: {stderr}"
    );
    assert!(stderr.contains("relay"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The JSON document is whole, and says why it stopped.
    let report = json(&damaged);
    assert!(
        report["error"].as_str().unwrap().contains("relay"),
        "{report}"
    );
    let stored = ouids(&b, "1").len();
    assert_eq!(
        stored % 20,
        0,
        "{filter_before} / {filter_after}: {stored} objects, not whole batches"
    );
    // The source's side closed what it had made; the target holds at most the one
    // negotiation or session of the run, which its HSM ends by its own rules (expiry).
    let (negotiations, sessions) = held(&a, "150001");
    assert_eq!(
        (negotiations, sessions),
        (0, 0),
        "{filter_before} / {filter_after}: the source kept state"
    );
    let (negotiations, sessions) = held(&b, "150002");
    assert!(
        negotiations + sessions <= 1,
        "{filter_before} / {filter_after}: the target holds {negotiations} + {sessions}"
    );
    let repaired = migrate_remote(&a, &serve(&b, "", ""), &[]);
    assert_eq!(
        repaired.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&repaired.stderr)
    );
    let report = json(&repaired);
    assert_eq!(report["summary"]["present"], stored);
    assert_eq!(report["summary"]["cloned"], 60 - stored);
    assert_eq!(ouids(&b, "1"), ouids(&a, "0"));
    stored
}

#[test]
fn a_peer_that_dies_mid_stream_leaves_whole_batches_and_a_rerun_completes() {
    // The peer's input ends after N bytes: it sees a truncated frame and exits.
    let mut stored = Vec::new();
    for cut in [10, 2_500, 8_000, 12_000] {
        stored.push(damaged_then_repaired(
            &format!("{} |", filter("cut", cut)),
            "",
        ));
    }
    // The cuts fall before the first insert and between two of them (the requests of 60
    // generic secrets are about 13,200 bytes).
    assert_eq!(stored.first(), Some(&0));
    assert!(stored.iter().any(|&n| n > 0 && n < 60), "{stored:?}");
    // The answers end after N bytes: the client sees a truncated frame.
    for cut in [10, 3_000] {
        damaged_then_repaired("", &format!("| {}", filter("cut", cut)));
    }
}

#[test]
fn a_damaged_request_or_answer_is_caught_and_a_rerun_completes() {
    for at in [3, 40, 1_500, 5_000] {
        damaged_then_repaired(&format!("{} |", flip(at)), "");
    }
    for at in [3, 60, 1_000] {
        damaged_then_repaired("", &format!("| {}", flip(at)));
    }
}

#[test]
fn a_command_that_is_not_a_relay_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    assert!(
        cpv4(
            &a,
            &["keygen", "--slot", "0", "--kind", "aes", "--label", "x"]
        )
        .status
        .success()
    );
    for command in ["true", "cat", "echo hello", "exit 3"] {
        let out = migrate_remote(&a, command, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.contains("did not answer as a `cpv4 relay --serve`"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn a_silent_peer_fails_the_run_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(
        cpv4(
            &a,
            &["keygen", "--slot", "0", "--kind", "aes", "--label", "x"]
        )
        .status
        .success()
    );
    let command = serve(&b, &format!("{} |", filter("stall", 0)), "");
    let out = cpv4(
        &a,
        &[
            "migrate",
            "--from",
            "0",
            "--to-remote",
            &command,
            "--all",
            "--relay-timeout",
            "1",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no answer for 1 s"), "{stderr}");
}

/// Runs one `cpv4 relay step` in `dir` on `home`; a separate process each time.
fn step(home: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(CPV4)
        .args(["relay", "step"])
        .args(args)
        .current_dir(dir)
        .env("LUNA_SIM_HOME", home)
        .env_remove("LUNA_SIM_FAULTS")
        .output()
        .unwrap()
}

fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Steps 1 to 4 between `a` (source, slot 0) and `b` (target, slot 1), the files in `dir`.
fn negotiate_and_extract(a: &Path, b: &Path, dir: &Path) {
    ok(step(
        b,
        dir,
        &["offer", "--slot", "1", "--out", "1-offer.cpv4"],
    ));
    ok(step(
        a,
        dir,
        &[
            "accept",
            "--slot",
            "0",
            "--in",
            "1-offer.cpv4",
            "--out",
            "2-accept.cpv4",
        ],
    ));
    ok(step(
        b,
        dir,
        &[
            "confirm",
            "--slot",
            "1",
            "--in",
            "2-accept.cpv4",
            "--out",
            "3-confirm.cpv4",
        ],
    ));
    ok(step(
        a,
        dir,
        &[
            "extract",
            "--slot",
            "0",
            "--in",
            "3-confirm.cpv4",
            "--out",
            "4-blobs.cpv4",
            "--all",
        ],
    ));
}

#[test]
fn the_file_steps_carry_a_thousand_objects_each_step_a_separate_process() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, files) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("files"),
    );
    std::fs::create_dir(&files).unwrap();
    assert!(
        cpv4(
            &a,
            &[
                "keygen", "--slot", "0", "--kind", "aes", "--label", "f", "--count", "1000"
            ]
        )
        .status
        .success()
    );
    negotiate_and_extract(&a, &b, &files);
    let header = std::fs::read(files.join("4-blobs.cpv4")).unwrap();
    let header = String::from_utf8_lossy(&header[..200]);
    assert!(
        header.starts_with("cpv4 relay file, version 1\nholds: blobs\nsession: "),
        "{header}"
    );
    assert!(header.contains("next: cpv4 relay step insert"), "{header}");
    let inserted = ok(step(
        &b,
        &files,
        &["insert", "--slot", "1", "--in", "4-blobs.cpv4"],
    ));
    assert!(
        String::from_utf8_lossy(&inserted.stdout)
            .contains("inserted 1000 objects on slot 1 (0 refused)")
    );
    assert_eq!(ouids(&b, "1"), ouids(&a, "0"));
    // The session is closed: the same file again is refused with what to do.
    let again = step(
        &b,
        &files,
        &["insert", "--slot", "1", "--in", "4-blobs.cpv4"],
    );
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("is not open on this slot") && stderr.contains("relay step offer"),
        "{stderr}"
    );
    assert_eq!(ouids(&b, "1").len(), 1000);
}

#[test]
fn damaged_truncated_or_misplaced_step_files_are_refused_and_insert_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, files) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("files"),
    );
    std::fs::create_dir(&files).unwrap();
    assert!(
        cpv4(
            &a,
            &[
                "keygen", "--slot", "0", "--kind", "generic", "--label", "d", "--count", "300"
            ]
        )
        .status
        .success()
    );
    negotiate_and_extract(&a, &b, &files);
    let good = std::fs::read(files.join("4-blobs.cpv4")).unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(files.join(name), bytes).unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in [0, 10, 60, good.len() / 3, good.len() - 1] {
        cases.push((format!("cut-{cut}"), good[..cut].to_vec()));
    }
    for at in [5, 30, good.len() / 2, good.len() - 2] {
        let mut damaged = good.clone();
        damaged[at] ^= 0x20;
        cases.push((format!("flip-{at}"), damaged));
    }
    let mut longer = good.clone();
    longer.extend_from_slice(b"trailing");
    cases.push(("longer".into(), longer));
    for (name, bytes) in &cases {
        write(name, bytes);
        let out = step(&b, &files, &["insert", "--slot", "1", "--in", name]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(
            stderr.contains("damaged")
                || stderr.contains("truncated")
                || stderr.contains("not a cpv4 relay file")
                || stderr.contains("is not open on this slot")
                || stderr.contains("no message"),
            "{name}: {stderr}"
        );
        assert!(ouids(&b, "1").is_empty(), "{name}: objects were inserted");
    }
    // A file of another step is refused with the step it belongs to.
    let misplaced = step(
        &b,
        &files,
        &["insert", "--slot", "1", "--in", "3-confirm.cpv4"],
    );
    let stderr = String::from_utf8_lossy(&misplaced.stderr);
    assert!(stderr.contains("this file holds the confirm: it is the input of `cpv4 relay step extract` on the source's host"), "{stderr}");
    // A file of another session.
    let other = good.clone();
    let text = String::from_utf8_lossy(&other[..100]).into_owned();
    let uid_at = text.find("session: ").unwrap() + "session: ".len();
    let mut other = other;
    other[uid_at..uid_at + 32].copy_from_slice(b"00112233445566778899aabbccddeeff");
    write("other-session", &other);
    let refused = step(
        &b,
        &files,
        &["insert", "--slot", "1", "--in", "other-session"],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("session 00112233445566778899aabbccddeeff is not open on this slot"),
        "{stderr}"
    );
    assert!(ouids(&b, "1").is_empty());
    // The intact file still inserts everything, once.
    ok(step(
        &b,
        &files,
        &["insert", "--slot", "1", "--in", "4-blobs.cpv4"],
    ));
    assert_eq!(ouids(&b, "1"), ouids(&a, "0"));
}

#[test]
fn the_relay_refuses_the_source_itself_and_passes_on_no_pin() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    assert!(
        cpv4(
            &a,
            &["keygen", "--slot", "0", "--kind", "aes", "--label", "x"]
        )
        .status
        .success()
    );
    let itself = format!(
        "env LUNA_SIM_HOME='{}' '{CPV4}' relay --serve --slot 0",
        a.display()
    );
    let out = migrate_remote(&a, &itself, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        json(&out)["error"]
            .as_str()
            .unwrap()
            .contains("the source itself")
    );
    let dump = dir.path().join("environment");
    let out = Command::new(CPV4)
        .args([
            "migrate",
            "--from",
            "0",
            "--to-remote",
            &format!("env > '{}'; true", dump.display()),
            "--all",
        ])
        .env("LUNA_SIM_HOME", &a)
        .env("CPV4_PIN", "co-pin")
        .env("CPV4_SO_PIN", "so-pin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let environment = std::fs::read_to_string(&dump).unwrap();
    assert!(
        !environment.contains("CPV4_PIN") && !environment.contains("co-pin"),
        "{environment}"
    );
    assert!(!environment.contains("so-pin"), "{environment}");
}
