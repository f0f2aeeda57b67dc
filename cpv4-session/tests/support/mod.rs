//! Fixtures: a manufacturer root, two devices, partition policies, and a driver for a whole
//! negotiation between two tables.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cpv4_crypto::attest::{DeviceIdentity, ManufacturerRoot, PartitionIdentity, ValidityPeriod};
use cpv4_crypto::psk::DomainPsk;
use cpv4_session::{ContinueInput, HsmTime, Identity, Policy, PskMode, SessionError, SessionTable};
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
            psk_mode: PskMode::Ids,
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

    pub fn deliver(&mut self, uid: SessionUid, confirm: &[u8]) -> Result<(), SessionError> {
        self.source
            .deliver_confirm(SOURCE, &self.responder, T, uid.as_bytes(), confirm)
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
        tlv(0x02, &[1]),
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
