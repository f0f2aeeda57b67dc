//! The device's CPv4 engine: the low-level cloning calls of the API text (Start, Continue,
//! the Confirm delivery of the first Extract or Insert, CloseSession) on a partition, through
//! the PKCS#11 session that makes them, on top of `cpv4-session`.
//!
//! Everything the protocol needs comes from the device, never from the caller: the role of
//! the session (Crypto Officer, register A26), HSM policy 7, the partition's CPv4 enablement and
//! policy 42, the firmware version (7.8.0 or later), the device clock, the partition's
//! attestation identity, trust store and cloning domains. The negotiation and session records
//! live in the home's database ([`store`]), so any process that opens the home continues what
//! another started.

mod endpoint;
mod objects;
pub(crate) mod store;

pub use endpoint::{SimEndpoint, SimLegacy};
pub use objects::{ExtractItem, Extracted, InsertItem, Inserted};

use cpv4_crypto::attest::RootId;
use cpv4_crypto::psk::DomainPsk;
use cpv4_session::{
    ContinueInput, ContinueOutput, HsmTime, Identity, PeerIdentity, Policy, PskMode, SessionTable,
};
use cpv4_wire::consts::*;
use rusqlite::OptionalExtension;

use crate::error::{SimError, SimResult};
use crate::session::table::{SessionHandle, SlotId};
use crate::sim::Simulator;
use crate::store::keys::os_rng;

use self::store::SqlStore;

/// The oldest firmware that speaks CPv4 (the API text: "Requires minimum Luna HSM Firmware
/// 7.8.0").
pub const MIN_CPV4_FIRMWARE: (u32, u32, u32) = (7, 8, 0);

/// Whether a firmware version string (`"7.8.4"`) is at least `min`; an unparsable version is
/// not.
fn firmware_at_least(version: &str, min: (u32, u32, u32)) -> bool {
    let mut parts = version.split('.').map(str::parse::<u32>);
    let mut next = || parts.next().unwrap_or(Ok(0));
    match (next(), next(), next()) {
        (Ok(major), Ok(minor), Ok(patch)) => (major, minor, patch) >= min,
        _ => false,
    }
}

/// Whether CPv4 runs on a partition: HSM policy 7, the partition's CPv4 switch, the firmware,
/// and policy 42 ("Allow CPv1"), which forces the legacy protocol (A46).
fn cpv4_on(
    device: &crate::device::api::DeviceInfo,
    partition: &crate::device::api::PartitionInfo,
) -> bool {
    device.cloning_allowed
        && partition.cpv4_enabled
        && !partition.policy(PARTITION_POLICY_LEGACY_CLONING_ONLY)
        && firmware_at_least(&device.firmware, MIN_CPV4_FIRMWARE)
}

/// The certificate of the manufacturer root that certified a device (every CPv4 call).
/// A subquery, not a join: a join would be prepared again on every run.
pub(crate) const DEVICE_ROOT_SQL: &str =
    "SELECT cert_der FROM roots WHERE id = (SELECT root_id FROM devices WHERE serial = ?1)";

/// One CPv4 call's view of its partition.
struct Context {
    slot: SlotId,
    device: String,
    partition: crate::device::api::PartitionInfo,
    policy: Policy,
    now: HsmTime,
}

impl crate::sim::Inner {
    /// Whether an object of the partition (a token object, or a session object of this
    /// library instance) has `ouid`.
    pub(crate) fn ouid_exists(&self, slot: SlotId, ouid: &[u8]) -> SimResult<bool> {
        Ok(
            crate::store::ouid_stored(&self.conn, crate::store::slot_sql(slot)?, ouid)?
                || self.session_ouid_exists(slot, ouid),
        )
    }

    /// Whether a session object of this library instance in `slot` has `ouid`.
    pub(crate) fn session_ouid_exists(&self, slot: SlotId, ouid: &[u8]) -> bool {
        self.sessions
            .objects
            .values()
            .any(|object| object.slot == slot && object.attrs.get(CKA_OUID) == Some(ouid))
    }
}

impl Simulator {
    /// The checks of protocol.md 7.1, steps 1, 3 and 4 (step 2, the call's own arguments, is
    /// the caller's), and the partition's policy for the engine.
    fn cpv4_context(&self, session: SessionHandle) -> SimResult<Context> {
        let view = self.lock().session(session)?;
        view.require_officer()?;
        let slot = view.slot;
        let partition = self.partition_info(slot)?;
        let device = self.device_info(&partition.device_serial)?;
        let enabled = cpv4_on(&device, &partition);
        let now = match self.device_time(&device.serial) {
            Ok(now) => HsmTime::At(u64::try_from(now).unwrap_or(0)),
            Err(SimError::TimeNotInitialized) => HsmTime::Unset,
            Err(other) => return Err(other),
        };
        let domains: Vec<DomainPsk> = self
            .domain_psks(slot)?
            .into_iter()
            .map(|entry| entry.psk)
            .collect();
        let policy = Policy {
            cpv4_enabled: enabled,
            algorithms: Policy::default_algorithms(),
            trusted_roots: self.trusted_roots(&device.serial)?,
            identity: Identity {
                partition: self.partition_identity(slot)?,
                chain: self.attestation_chain(slot)?,
                root: self.device_root(&device.serial)?,
            },
            domains,
            psk_mode: PskMode::default(),
        };
        Ok(Context {
            slot,
            device: device.serial,
            partition,
            policy,
            now,
        })
    }

    /// The manufacturer root that certified a device.
    fn device_root(&self, serial: &str) -> SimResult<RootId> {
        let mut inner = self.lock();
        let der: Vec<u8> = inner
            .conn
            .prepare_cached(DEVICE_ROOT_SQL)?
            .query_row([serial], |row| row.get(0))
            .optional()?
            .ok_or_else(|| SimError::UnknownDevice(serial.to_owned()))?;
        inner.roots.parse(&der).map(|root| root.id())
    }

    fn cpv4_table(&self, device: &str) -> SessionTable<SqlStore<'_>> {
        SessionTable::with_store(SqlStore {
            sim: self,
            device: device.to_owned(),
            dry_run: false,
        })
    }

    /// A table whose every transaction is rolled back: it computes what a call would produce
    /// and changes nothing (size queries, register A28).
    fn cpv4_dry_table(&self, device: &str) -> SessionTable<SqlStore<'_>> {
        SessionTable::with_store(SqlStore {
            sim: self,
            device: device.to_owned(),
            dry_run: true,
        })
    }

    /// Whether CPv4 runs on the partition of `session` (HSM policy 7, the partition's CPv4
    /// switch and policy 42, the firmware): what a client checks before choosing the
    /// protocol of a migration. Like every cloning call it needs the Crypto Officer, so a
    /// migration with the wrong role fails before it makes any state.
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`, `CKR_USER_NOT_LOGGED_IN`, `CKR_USER_NOT_AUTHORIZED`; store
    /// errors.
    pub fn cpv4_enabled(&self, session: SessionHandle) -> SimResult<bool> {
        let view = self.lock().session(session)?;
        view.require_officer()?;
        let partition = self.partition_info(view.slot)?;
        let device = self.device_info(&partition.device_serial)?;
        Ok(cpv4_on(&device, &partition))
    }

    /// The size of the Offer that [`Simulator::cpv4_start`] would produce now, with the same
    /// checks and errors, changing nothing: no negotiation is created and nothing is swept
    /// (the size query of Start). Offers of one partition all have one size (fixed-size
    /// fields, the partition's own chain and domains).
    ///
    /// # Errors
    ///
    /// As [`Simulator::cpv4_start`].
    pub fn cpv4_start_size(&self, session: SessionHandle, input: &[u8]) -> SimResult<usize> {
        let context = self.cpv4_context(session)?;
        if !input.is_empty() {
            return Err(SimError::ArgumentsBad("Start takes no input with CPv4"));
        }
        self.cpv4_dry_table(&context.device)
            .start(context.slot, &context.policy, context.now, &mut os_rng())
            .map(|offer| offer.len())
            .map_err(SimError::Cpv4)
    }

    /// The size of the output that [`Simulator::cpv4_continue`] would produce now for this
    /// input, with the same checks and errors, changing nothing (the size query of Continue;
    /// the session UID output is always 16 bytes).
    ///
    /// # Errors
    ///
    /// As [`Simulator::cpv4_continue`].
    pub fn cpv4_continue_size(
        &self,
        session: SessionHandle,
        step: CkUlong,
        input: &[u8],
        uid: Option<&[u8]>,
    ) -> SimResult<usize> {
        let context = self.cpv4_context(session)?;
        self.cpv4_dry_table(&context.device)
            .continue_negotiation(
                context.slot,
                &context.policy,
                context.now,
                &mut os_rng(),
                ContinueInput {
                    step,
                    message: input,
                    uid,
                },
            )
            .map(|output| output.output.len())
            .map_err(SimError::Cpv4)
    }

    /// `CA_MigrationStartSessionNegotiation` (flow step 1) on the initiator: the Offer
    /// (`step` = 2). `input` is reserved and must be empty (register A10).
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`, `CKR_USER_NOT_LOGGED_IN`, `CKR_USER_NOT_AUTHORIZED` (not
    /// the Crypto Officer), `CKR_ARGUMENTS_BAD` (a non-empty input), `CKR_PROTOCOL_DISABLED`,
    /// `CKR_TIME_NOT_INITIALIZED`, `CKR_DEVICE_MEMORY` (too many live negotiations).
    pub fn cpv4_start(&self, session: SessionHandle, input: &[u8]) -> SimResult<Vec<u8>> {
        let context = self.cpv4_context(session)?;
        if !input.is_empty() {
            return Err(SimError::ArgumentsBad("Start takes no input with CPv4"));
        }
        self.cpv4_table(&context.device)
            .start(context.slot, &context.policy, context.now, &mut os_rng())
            .map_err(SimError::Cpv4)
    }

    /// `CA_MigrationContinueSessionNegotiation` (flow steps 2 and 3): the responder answers an
    /// Offer (`step` = 2) with an Accept and a new UID; the initiator answers the Accept
    /// (`step` = 3, with its UID) with the Confirm and learns the verified peer.
    ///
    /// # Errors
    ///
    /// The session and protocol codes of [`Simulator::cpv4_start`], and every negotiation code
    /// of protocol.md sections 7.2 and 7.3.
    pub fn cpv4_continue(
        &self,
        session: SessionHandle,
        step: CkUlong,
        input: &[u8],
        uid: Option<&[u8]>,
    ) -> SimResult<ContinueOutput> {
        let context = self.cpv4_context(session)?;
        self.cpv4_table(&context.device)
            .continue_negotiation(
                context.slot,
                &context.policy,
                context.now,
                &mut os_rng(),
                ContinueInput {
                    step,
                    message: input,
                    uid,
                },
            )
            .map_err(SimError::Cpv4)
    }

    /// The `input` of the first `CA_Extract` or `CA_Insert` of a session: on the responder the
    /// Confirm that completes its negotiation, on the initiator its own Confirm again. Returns
    /// the verified peer.
    ///
    /// # Errors
    ///
    /// As protocol.md section 7.4.
    pub fn cpv4_deliver_confirm(
        &self,
        session: SessionHandle,
        uid: &[u8],
        confirm: &[u8],
    ) -> SimResult<PeerIdentity> {
        let context = self.cpv4_context(session)?;
        self.cpv4_table(&context.device)
            .deliver_confirm(context.slot, &context.policy, context.now, uid, confirm)
            .map_err(SimError::Cpv4)
    }

    /// Abandons the pending negotiation this partition's Start made for `offer` (register
    /// A51): what a client does when the peer refused the Offer.
    ///
    /// # Errors
    ///
    /// The session and protocol codes of [`Simulator::cpv4_start`];
    /// `CKR_SESSION_NEGOTIATION_INVALID` for an Offer this partition never made.
    pub fn cpv4_abandon(&self, session: SessionHandle, offer: &[u8]) -> SimResult<()> {
        let context = self.cpv4_context(session)?;
        self.cpv4_table(&context.device)
            .abandon(context.slot, &context.policy, context.now, offer)
            .map_err(SimError::Cpv4)
    }

    /// [`Simulator::cpv4_start`] for a caller's buffer of `capacity` bytes: an Offer that does
    /// not fit is abandoned at once and its size returned as `Err`, so the call leaves no
    /// negotiation (the size query said less than this call made: the partition's domains
    /// changed in between).
    ///
    /// # Errors
    ///
    /// As [`Simulator::cpv4_start`].
    pub fn cpv4_start_within(
        &self,
        session: SessionHandle,
        input: &[u8],
        capacity: usize,
    ) -> SimResult<Result<Vec<u8>, usize>> {
        let offer = self.cpv4_start(session, input)?;
        if offer.len() <= capacity {
            return Ok(Ok(offer));
        }
        self.cpv4_abandon(session, &offer)?;
        Ok(Err(offer.len()))
    }

    /// [`Simulator::cpv4_continue`] for a caller's buffer of `capacity` bytes: an output that
    /// does not fit closes the negotiation or session the call made (the caller starts over)
    /// and its size is returned as `Err`.
    ///
    /// # Errors
    ///
    /// As [`Simulator::cpv4_continue`].
    pub fn cpv4_continue_within(
        &self,
        session: SessionHandle,
        step: CkUlong,
        input: &[u8],
        uid: Option<&[u8]>,
        capacity: usize,
    ) -> SimResult<Result<ContinueOutput, usize>> {
        let output = self.cpv4_continue(session, step, input, uid)?;
        if output.output.len() <= capacity {
            return Ok(Ok(output));
        }
        self.cpv4_close(session, &output.uid.0)?;
        Ok(Err(output.output.len()))
    }

    /// `CA_MigrationCloseSession` (flow step 6).
    ///
    /// # Errors
    ///
    /// The session and protocol codes of [`Simulator::cpv4_start`]; `CKR_ARGUMENTS_BAD` for a
    /// UID not of 16 bytes; `CKR_SESSION_ID_INVALID` for a UID this partition never knew
    /// (register A2).
    pub fn cpv4_close(&self, session: SessionHandle, uid: &[u8]) -> SimResult<()> {
        let context = self.cpv4_context(session)?;
        self.cpv4_table(&context.device)
            .close(context.slot, &context.policy, context.now, uid)
            .map_err(SimError::Cpv4)
    }

    /// How many live negotiations and sessions a device's partitions hold, and tombstones:
    /// `(negotiations, sessions, tombstones)` over the whole device.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn cpv4_counts(&self, serial: &str) -> SimResult<(u64, u64, u64)> {
        let inner = self.lock();
        let count = |kinds: &str| -> SimResult<u64> {
            let count: i64 = inner.conn.query_row(
                &format!(
                    "SELECT COUNT(*) FROM cpv4_records WHERE device_serial = ?1 AND kind IN ({kinds})"
                ),
                [serial],
                |row| row.get(0),
            )?;
            Ok(u64::try_from(count).unwrap_or(0))
        };
        Ok((count("1, 2")?, count("3")?, count("4")?))
    }
}

#[cfg(test)]
mod tests {
    use super::firmware_at_least;

    #[test]
    fn cpv4_needs_firmware_7_8_0_or_later() {
        for (version, ok) in [
            ("7.8.0", true),
            ("7.8.4", true),
            ("7.9", true),
            ("8", true),
            ("7.7.2", false),
            ("6.10.9", false),
            ("seven", false),
            ("", false),
        ] {
            assert_eq!(firmware_at_least(version, (7, 8, 0)), ok, "{version}");
        }
    }
}
