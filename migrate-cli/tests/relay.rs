//! Two hosts: `cpv4 migrate --to-remote` with `cpv4 relay serve` on another simulator home as
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

/// The command that serves slot 1 of `home`, with a filter in front of it or behind it.
fn serve(home: &Path, before: &str, after: &str) -> String {
    format!(
        "{before} env LUNA_SIM_HOME='{}' '{CPV4}' relay serve --slot 1 {after}",
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
    for cut in [10, 2_500, 20_000, 30_000] {
        stored.push(damaged_then_repaired(
            &format!("{} |", filter("cut", cut)),
            "",
        ));
    }
    // The cuts fall before the first insert and between two of them.
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
            stderr.contains("did not answer as a `cpv4 relay serve`"),
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
