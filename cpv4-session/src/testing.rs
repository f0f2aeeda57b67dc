//! Test fixtures (enabled by the `testing` feature; not a stable API): a manufacturer root,
//! two devices, partition policies, a driver for a whole negotiation between two tables, and
//! the entry points of the fuzz targets.
//!
//! Fixtures fail loudly: they unwrap, because a fixture that cannot be built is a broken test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::new_without_default,
    missing_docs
)]

use crate::{ContinueInput, HsmTime, Identity, Policy, PskMode, SessionError, SessionTable};
use cpv4_crypto::attest::{DeviceIdentity, ManufacturerRoot, PartitionIdentity, ValidityPeriod};
use cpv4_crypto::psk::DomainPsk;
use cpv4_wire::SessionUid;
use cpv4_wire::consts::{CkRv, rv_display};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The HSM time at which the tests run (2027-01-15).
pub const NOW: u64 = 1_800_000_000;
pub const T: HsmTime = HsmTime::At(NOW);
/// Partitions of the initiator's and the responder's devices.
pub const TARGET: u64 = 1;
pub const SOURCE: u64 = 7;

pub fn at(offset: u64) -> HsmTime {
    HsmTime::At(NOW + offset)
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn validity() -> ValidityPeriod {
    ValidityPeriod::new(NOW - 365 * 86_400, NOW + 10 * 365 * 86_400)
}

pub fn shared_domain() -> DomainPsk {
    DomainPsk::from_bytes([0x5A; 32])
}

/// A manufacturer with two devices.
pub struct Fixture {
    pub root: ManufacturerRoot,
    pub initiator_device: DeviceIdentity,
    pub responder_device: DeviceIdentity,
    pub rng: ChaCha20Rng,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_root_validity(validity())
    }

    pub fn with_root_validity(root_validity: ValidityPeriod) -> Self {
        let mut rng = rng(1);
        let root = ManufacturerRoot::generate(&mut rng, "Test Root", root_validity).unwrap();
        let initiator_device =
            DeviceIdentity::issue(&root, &mut rng, "150001", validity()).unwrap();
        let responder_device =
            DeviceIdentity::issue(&root, &mut rng, "150002", validity()).unwrap();
        Self {
            root,
            initiator_device,
            responder_device,
            rng,
        }
    }

    fn identity(&mut self, initiator: bool, validity: ValidityPeriod) -> Identity {
        let device = if initiator {
            &self.initiator_device
        } else {
            &self.responder_device
        };
        let partition =
            PartitionIdentity::issue(device, &mut self.rng, "partition", validity).unwrap();
        Identity {
            chain: vec![
                partition.certificate_der().to_vec(),
                device.certificate_der().to_vec(),
            ],
            partition,
            root: self.root.root_id(),
        }
    }

    pub fn policy(&mut self, initiator: bool) -> Policy {
        self.policy_with_validity(initiator, validity())
    }

    pub fn policy_with_validity(&mut self, initiator: bool, validity: ValidityPeriod) -> Policy {
        Policy {
            cpv4_enabled: true,
            algorithms: Policy::default_algorithms(),
            trusted_roots: vec![self.root.trusted_root()],
            identity: self.identity(initiator, validity),
            domains: vec![shared_domain()],
            psk_mode: PskMode::default(),
        }
    }

    pub fn initiator(&mut self) -> Policy {
        self.policy(true)
    }

    pub fn responder(&mut self) -> Policy {
        self.policy(false)
    }
}

/// Both sides of one migration: two devices' tables and their partitions' policies.
pub struct Pair {
    pub fixture: Fixture,
    pub initiator: Policy,
    pub responder: Policy,
    pub target: SessionTable,
    pub source: SessionTable,
    pub rng: ChaCha20Rng,
}

/// The messages of one negotiation.
pub struct Exchange {
    pub offer: Vec<u8>,
    pub accept: Vec<u8>,
    pub uid: SessionUid,
    pub confirm: Vec<u8>,
}

impl Pair {
    pub fn new() -> Self {
        let mut fixture = Fixture::new();
        let initiator = fixture.initiator();
        let responder = fixture.responder();
        Self::from_parts(fixture, initiator, responder)
    }

    pub fn from_parts(fixture: Fixture, initiator: Policy, responder: Policy) -> Self {
        Self {
            fixture,
            initiator,
            responder,
            target: SessionTable::new(),
            source: SessionTable::new(),
            rng: rng(2),
        }
    }

    pub fn start(&mut self) -> Vec<u8> {
        self.target
            .start(TARGET, &self.initiator, T, &mut self.rng)
            .unwrap()
    }

    pub fn respond(&mut self, offer: &[u8]) -> Result<(Vec<u8>, SessionUid), SessionError> {
        let out = self.source.continue_negotiation(
            SOURCE,
            &self.responder,
            T,
            &mut self.rng,
            ContinueInput {
                step: 2,
                message: offer,
                uid: None,
            },
        )?;
        assert_eq!((out.step, out.status.value()), (3, 1));
        Ok((out.output, out.uid))
    }

    pub fn confirm(&mut self, accept: &[u8], uid: SessionUid) -> Result<Vec<u8>, SessionError> {
        let out = self.target.continue_negotiation(
            TARGET,
            &self.initiator,
            T,
            &mut self.rng,
            ContinueInput {
                step: 3,
                message: accept,
                uid: Some(uid.as_bytes()),
            },
        )?;
        assert_eq!((out.step, out.status.value(), out.uid), (4, 2, uid));
        Ok(out.output)
    }

    pub fn deliver(
        &mut self,
        uid: SessionUid,
        confirm: &[u8],
    ) -> Result<cpv4_crypto::attest::PeerIdentity, SessionError> {
        self.source
            .deliver_confirm(SOURCE, &self.responder, T, uid.as_bytes(), confirm)
    }

    /// A key blob of `payload` sealed by the responder (source) in session `uid`.
    pub fn source_blob(&self, uid: SessionUid, payload: &[u8]) -> bytes::Bytes {
        self.source
            .seal(
                SOURCE,
                &self.responder,
                T,
                uid.as_bytes(),
                cpv4_wire::ElementType::Cryptoki,
                payload,
            )
            .unwrap()
    }

    /// Steps 1 to 3: both sides negotiated, the responder not yet confirmed.
    pub fn negotiate(&mut self) -> Exchange {
        let offer = self.start();
        let (accept, uid) = self.respond(&offer).unwrap();
        let confirm = self.confirm(&accept, uid).unwrap();
        Exchange {
            offer,
            accept,
            uid,
            confirm,
        }
    }

    /// Steps 1 to 4: a session on both sides.
    pub fn establish(&mut self) -> Exchange {
        let exchange = self.negotiate();
        self.deliver(exchange.uid, &exchange.confirm).unwrap();
        exchange
    }
}

/// Recomputes an Offer's binders under `domains`, as a relay that holds the domain PSK (a
/// rogue member of the domain) could after changing the Offer; returns the encoding.
pub fn rebind(offer: &mut cpv4_wire::Offer, domains: &[DomainPsk]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let hash: [u8; 32] = Sha256::digest(offer.binder_input().unwrap()).into();
    offer.binders = domains.iter().map(|d| d.binder(&hash)).collect();
    offer.encode().unwrap()
}

/// Asserts that `result` failed with `expected`, naming both codes on failure.
#[track_caller]
pub fn assert_rv<T: std::fmt::Debug>(result: Result<T, SessionError>, expected: CkRv) {
    match result {
        Ok(value) => panic!("expected {}, got Ok({value:?})", rv_display(expected)),
        Err(error) => assert_eq!(
            error.rv(),
            expected,
            "expected {}, got {} ({error})",
            rv_display(expected),
            rv_display(error.rv())
        ),
    }
}

/// A Confirm in raw DER with a given chain (the encoder refuses an empty one).
pub fn raw_confirm(uid: &SessionUid, chain: &[&[u8]]) -> Vec<u8> {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            len if len < 0x80 => out.push(len as u8),
            len if len <= 0xFF => out.extend([0x81, len as u8]),
            len => out.extend([0x82, (len >> 8) as u8, len as u8]),
        }
        out.extend_from_slice(content);
        out
    }
    let certs: Vec<u8> = chain.iter().flat_map(|c| tlv(0x04, c)).collect();
    let tbs = [
        tlv(0x02, &[cpv4_wire::consts::cpv4::PROTOCOL_VERSION as u8]),
        tlv(0x02, &[4]),
        tlv(0x04, uid.as_bytes()),
        tlv(0x30, &certs),
    ]
    .concat();
    tlv(
        0x30,
        &[tlv(0x30, &tbs), tlv(0x04, &[0; 64]), tlv(0x04, &[0; 32])].concat(),
    )
}

impl Fixture {
    /// A fixture of another manufacturer (another root key).
    pub fn new_other_root() -> Self {
        let mut rng = rng(77);
        let root = ManufacturerRoot::generate(&mut rng, "Other Root", validity()).unwrap();
        let initiator_device =
            DeviceIdentity::issue(&root, &mut rng, "250001", validity()).unwrap();
        let responder_device =
            DeviceIdentity::issue(&root, &mut rng, "250002", validity()).unwrap();
        Self {
            root,
            initiator_device,
            responder_device,
            rng,
        }
    }
}

/// Entry points of the state-machine fuzz targets (`fuzz/fuzz_targets/session_*.rs`), shared
/// with the test that replays their corpus. Each feeds arbitrary bytes to one engine entry in
/// a fixed, fully negotiated scenario and checks that nothing but the genuine message is ever
/// accepted (no forgery), and that nothing panics.
pub mod fuzz {
    use std::sync::OnceLock;

    use cpv4_crypto::Secret32;
    use cpv4_wire::ElementType;

    use super::*;

    /// The key the scenario's tables are saved under.
    pub const STATE_KEY: [u8; 32] = [0x4B; 32];

    /// One negotiation, captured at each step.
    pub struct Scenario {
        pub pair: Pair,
        pub exchange: Exchange,
        /// The initiator's table after Start (pending Offer), saved.
        pub target_after_start: Vec<u8>,
        /// The responder's table awaiting the Confirm, saved.
        pub source_awaiting_confirm: Vec<u8>,
        /// The initiator's table with an established session, saved.
        pub target_established: Vec<u8>,
        /// A genuine blob of the session, responder to initiator.
        pub blob: Vec<u8>,
    }

    fn key() -> Secret32 {
        Secret32::from_bytes(STATE_KEY)
    }

    /// The scenario, built once per process (deterministic).
    pub fn scenario() -> &'static Scenario {
        static SCENARIO: OnceLock<Scenario> = OnceLock::new();
        SCENARIO.get_or_init(|| {
            let mut pair = Pair::new();
            let offer = pair.start();
            let target_after_start = pair.target.to_bytes(&key(), &mut rng(11)).unwrap();
            let (accept, uid) = pair.respond(&offer).unwrap();
            let source_awaiting_confirm = pair.source.to_bytes(&key(), &mut rng(11)).unwrap();
            let confirm = pair.confirm(&accept, uid).unwrap();
            let target_established = pair.target.to_bytes(&key(), &mut rng(11)).unwrap();
            pair.deliver(uid, &confirm).unwrap();
            let blob = pair
                .source
                .seal(
                    SOURCE,
                    &pair.responder,
                    T,
                    uid.as_bytes(),
                    ElementType::Cryptoki,
                    b"fuzz",
                )
                .unwrap()
                .to_vec();
            let exchange = Exchange {
                offer,
                accept,
                uid,
                confirm,
            };
            Scenario {
                pair,
                exchange,
                target_after_start,
                source_awaiting_confirm,
                target_established,
                blob,
            }
        })
    }

    fn restore(image: &[u8]) -> SessionTable {
        SessionTable::from_bytes(image, &key()).unwrap()
    }

    /// The responder answering arbitrary Offer bytes.
    pub fn offer(data: &[u8]) {
        let s = scenario();
        let table = SessionTable::new();
        let input = ContinueInput {
            step: 2,
            message: data,
            uid: None,
        };
        if let Ok(out) =
            table.continue_negotiation(SOURCE, &s.pair.responder, T, &mut rng(9), input)
        {
            assert!(
                cpv4_wire::Accept::decode(&out.output).is_ok(),
                "an Accept that does not decode"
            );
        }
    }

    /// The initiator receiving arbitrary Accept bytes for its pending Offer.
    pub fn accept(data: &[u8]) {
        let s = scenario();
        let table = restore(&s.target_after_start);
        let uid = s.exchange.uid;
        let input = ContinueInput {
            step: 3,
            message: data,
            uid: Some(uid.as_bytes()),
        };
        let result = table.continue_negotiation(TARGET, &s.pair.initiator, T, &mut rng(9), input);
        assert_eq!(
            result.is_ok(),
            data == s.exchange.accept,
            "Accept accepted iff genuine"
        );
    }

    /// The responder receiving arbitrary Confirm bytes for its negotiation.
    pub fn confirm(data: &[u8]) {
        let s = scenario();
        let table = restore(&s.source_awaiting_confirm);
        let result = table.deliver_confirm(
            SOURCE,
            &s.pair.responder,
            T,
            s.exchange.uid.as_bytes(),
            data,
        );
        assert_eq!(
            result.is_ok(),
            data == s.exchange.confirm,
            "Confirm accepted iff genuine"
        );
    }

    /// The initiator opening arbitrary blob bytes in its session.
    pub fn blob(data: &[u8]) {
        let s = scenario();
        let table = restore(&s.target_established);
        let result = table.open(
            TARGET,
            &s.pair.initiator,
            T,
            s.exchange.uid.as_bytes(),
            data,
        );
        assert_eq!(
            result.is_ok(),
            data == s.blob,
            "key blob opened iff genuine"
        );
    }

    /// Restoring a session table from arbitrary bytes; what restores must save and restore.
    pub fn state(data: &[u8]) {
        if let Ok(table) = SessionTable::from_bytes(data, &key()) {
            let saved = table.to_bytes(&key(), &mut rng(11)).unwrap();
            let again = SessionTable::from_bytes(&saved, &key()).unwrap();
            assert_eq!(again.counts(), table.counts());
        }
    }

    /// A property check over arbitrary bytes.
    pub type Check = fn(&[u8]);

    /// Every state-machine target: its name and its check.
    pub const TARGETS: &[(&str, Check)] = &[
        ("session_offer", offer),
        ("session_accept", accept),
        ("session_confirm", confirm),
        ("session_blob", blob),
        ("session_state", state),
    ];

    /// The seed inputs of each target: the genuine message of its step.
    pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
        let s = scenario();
        vec![
            ("session_offer", s.exchange.offer.clone()),
            ("session_accept", s.exchange.accept.clone()),
            ("session_confirm", s.exchange.confirm.clone()),
            ("session_blob", s.blob.clone()),
            ("session_state", s.target_established.clone()),
        ]
    }
}
