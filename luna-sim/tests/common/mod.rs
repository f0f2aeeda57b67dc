//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use cpv4_wire::consts::*;
use luna_sim::provision::{DEFAULT_CO_PIN, DEFAULT_CU_PIN, DEFAULT_SO_PIN};
use luna_sim::{Attribute, SessionHandle, SimOptions, Simulator, SlotId};

/// Opens a simulator on `home` driven by the test clock `clock`.
pub fn open_at(home: &Path, clock: &luna_sim::TestClock) -> Simulator {
    Simulator::open_with(
        home,
        SimOptions {
            clock: std::sync::Arc::new(clock.clone()),
            ..SimOptions::default()
        },
    )
    .unwrap()
}

/// A random number below `n` (the moments at which crash tests kill their children).
pub fn random_below(n: u64) -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    u64::from_le_bytes(bytes) % n
}

/// Kills a child at random moments of its writes, paced by the child itself, so the number of
/// batches a child gets through before its kill does not depend on the machine's speed. The
/// child prints `open` once it starts writing and `committed N` after each committed batch.
pub struct Killer {
    /// How long the child's last observed batch took.
    pace: std::time::Duration,
}

impl Default for Killer {
    fn default() -> Self {
        Self {
            pace: std::time::Duration::from_millis(50),
        }
    }
}

impl Killer {
    /// Runs `command`, lets it commit zero or one batch, then kills it with SIGKILL a random
    /// part of a batch's time later (so at most about two batches per run). Returns whether
    /// the child had exited before the kill.
    pub fn run(&mut self, command: &mut std::process::Command) -> bool {
        use std::io::BufRead;
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // The `open` line, then zero or one `committed` line.
        let mut running = lines.next().is_some();
        let mut mark = std::time::Instant::now();
        for _ in 0..random_below(2) {
            running = running && lines.next().is_some();
            if running {
                self.pace = mark.elapsed();
                mark = std::time::Instant::now();
            }
        }
        if running {
            let pace = u64::try_from(self.pace.as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            std::thread::sleep(std::time::Duration::from_micros(random_below(pace)));
        }
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap_or(());
        child.wait().unwrap();
        finished
    }
}

/// Opens a simulator on `home` with no faults from the environment.
pub fn open(home: &Path) -> Simulator {
    Simulator::open_with(home, SimOptions::default()).unwrap()
}

/// A fresh provisioned home.
pub fn fresh() -> (tempfile::TempDir, Simulator) {
    let dir = tempfile::tempdir().unwrap();
    let sim = open(dir.path());
    (dir, sim)
}

/// A read-write session logged in as `user`.
pub fn login(sim: &Simulator, slot: SlotId, user: CkUserType) -> SessionHandle {
    let session = sim.open_session(slot, true).unwrap();
    let pin = match user {
        CKU_SO => DEFAULT_SO_PIN,
        CKU_USER => DEFAULT_CO_PIN,
        _ => DEFAULT_CU_PIN,
    };
    sim.login(session, user, pin.as_bytes()).unwrap();
    session
}

/// A CPv4 session from `source` to `target`, negotiated and confirmed on both sides (flow
/// steps 1 to 4): its UID.
pub fn confirmed_session(sim: &Simulator, source: SessionHandle, target: SessionHandle) -> Vec<u8> {
    let offer = sim.cpv4_start(target, &[]).unwrap();
    let accept = sim.cpv4_continue(source, 2, &offer, None).unwrap();
    let confirm = sim
        .cpv4_continue(target, 3, &accept.output, Some(accept.uid.as_bytes()))
        .unwrap();
    sim.cpv4_deliver_confirm(source, accept.uid.as_bytes(), &confirm.output)
        .unwrap();
    accept.uid.as_bytes().to_vec()
}

/// A template for an AES token key with a known value.
pub fn aes_template(label: &str, value: &[u8], sensitive: bool) -> Vec<Attribute> {
    vec![
        Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
        Attribute::bool(CKA_TOKEN, true),
        Attribute::bool(CKA_SENSITIVE, sensitive),
        Attribute::bytes(CKA_LABEL, label.as_bytes().to_vec()),
        Attribute::bytes(CKA_VALUE, value.to_vec()),
    ]
}

/// The bytes of a readable attribute.
pub fn read(
    sim: &Simulator,
    session: SessionHandle,
    object: u64,
    kind: CkAttributeType,
) -> Vec<u8> {
    match sim
        .get_attribute_value(session, object as _, &[kind])
        .unwrap()
        .pop()
    {
        Some(luna_sim::AttributeValue::Value(v)) => v.to_vec(),
        other => panic!("attribute 0x{kind:X} not readable: {other:?}"),
    }
}
