//! Devices (HSMs) and partitions: records, policies, clocks, attestation identities and
//! trust stores, token and slot information.

use cpv4_crypto::attest::{
    DeviceIdentity, ManufacturerRoot, PartitionIdentity, RootId, TrustedRoot,
};
use cpv4_wire::consts::*;
use rusqlite::{OptionalExtension, params};

use crate::store::keys::os_rng;
use zeroize::Zeroizing;

use crate::device::clock::ClockState;
use crate::device::records::{
    HSM_POLICIES, NewPins, PARTITION_POLICIES, insert_device, insert_partition, insert_root,
    load_device_identity, load_root, root_row,
};
use crate::error::{SimError, SimResult};
use crate::session::auth::{self, MAX_PIN_FAILURES, MAX_PIN_LEN, MIN_PIN_LEN, Role};
use crate::session::table::{SessionHandle, SlotId};
use crate::sim::{Inner, Simulator};
use crate::store::keys::record_aad;
use crate::store::slot_sql;

// Statements of every CPv4 call, without an ORDER BY, a join or a bound LIMIT beside `col = ?`:
// each makes SQLite prepare the statement again whenever it is bound anew, as a statement from
// rusqlite's cache is on every use (`store::tests::hot_statements_are_prepared_once`);
// subqueries do not.
pub(crate) const PARTITION_POLICIES_SQL: &str =
    "SELECT policy, value FROM partition_policies WHERE slot = ?1";
pub(crate) const DEVICE_SLOTS_SQL: &str = "SELECT slot FROM partitions WHERE device_serial = ?1";
pub(crate) const TRUSTED_ROOTS_SQL: &str = "SELECT id, cert_der FROM roots
     WHERE id IN (SELECT root_id FROM device_trust WHERE device_serial = ?1)";
pub(crate) const ATTESTATION_CHAIN_SQL: &str = "SELECT p.cert_der,
     (SELECT d.cert_der FROM devices d WHERE d.serial = p.device_serial)
     FROM partitions p WHERE p.slot = ?1";

/// Manufacturer id reported in token and slot information.
pub const MANUFACTURER_ID: &str = "Thales (simulated)";
/// Model reported in token information.
pub const MODEL: &str = "Luna K7 (sim)";

/// A device (HSM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Serial number.
    pub serial: String,
    /// Firmware version, e.g. `"7.8.4"`.
    pub firmware: String,
    /// The clock state.
    pub clock: ClockState,
    /// HSM policy 7: cloning allowed.
    pub cloning_allowed: bool,
    /// HSM policy 57: the clock follows host time.
    pub sync_with_host_time: bool,
    /// The device's partitions.
    pub slots: Vec<SlotId>,
}

/// A partition (slot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Slot id.
    pub slot: SlotId,
    /// Partition (token) label.
    pub label: String,
    /// Partition serial number.
    pub serial: String,
    /// Serial of the device holding it.
    pub device_serial: String,
    /// CPv4 enabled.
    pub cpv4_enabled: bool,
    /// CPv3 / legacy cloning enabled.
    pub cpv3_enabled: bool,
    /// `(policy number, on)` for each partition policy.
    pub policies: Vec<(CkUlong, bool)>,
}

impl PartitionInfo {
    /// Whether partition policy `policy` is on.
    #[must_use]
    pub fn policy(&self, policy: CkUlong) -> bool {
        self.policies.iter().any(|(p, on)| *p == policy && *on)
    }
}

/// Information for `CK_SLOT_INFO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotInfo {
    /// Slot description.
    pub description: String,
    /// Manufacturer.
    pub manufacturer_id: &'static str,
    /// `CKF_*` slot flags.
    pub flags: CkFlags,
    /// Firmware version (major, minor).
    pub firmware_version: (u8, u8),
}

/// Information for `CK_TOKEN_INFO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Token label.
    pub label: String,
    /// Manufacturer.
    pub manufacturer_id: &'static str,
    /// Model.
    pub model: &'static str,
    /// Partition serial number.
    pub serial_number: String,
    /// `CKF_*` token flags.
    pub flags: CkFlags,
    /// Sessions this library instance has open on the token.
    pub session_count: CkUlong,
    /// Of which read-write.
    pub rw_session_count: CkUlong,
    /// Longest PIN.
    pub max_pin_len: CkUlong,
    /// Shortest PIN.
    pub min_pin_len: CkUlong,
    /// Hardware version (major, minor).
    pub hardware_version: (u8, u8),
    /// Firmware version (major, minor).
    pub firmware_version: (u8, u8),
    /// Device time (seconds since the Unix epoch), `None` if the clock is not set.
    pub utc_time: Option<i64>,
}

/// Parses `"7.8.4"` into (7, 8).
fn firmware_major_minor(firmware: &str) -> (u8, u8) {
    let mut parts = firmware.split('.').map(|p| p.parse::<u8>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn clock_state(set: bool, offset: i64) -> ClockState {
    if set {
        ClockState::Set {
            offset_secs: offset,
        }
    } else {
        ClockState::NotSet
    }
}

impl Inner {
    pub(crate) fn partition_info(&self, slot: SlotId) -> SimResult<PartitionInfo> {
        let sql = slot_sql(slot)?;
        let (label, serial, device_serial, cpv4, cpv3): (String, String, String, bool, bool) = self
            .conn
            .prepare_cached(
                "SELECT label, serial, device_serial, cpv4_enabled, cpv3_enabled FROM partitions WHERE slot = ?1",
            )?
            .query_row([sql], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?
            .ok_or(SimError::SlotIdInvalid)?;
        let mut stmt = self.conn.prepare_cached(PARTITION_POLICIES_SQL)?;
        let mut policies = stmt
            .query_map([sql], |r| {
                Ok((crate::store::sql_to_ulong(r.get(0)?), r.get::<_, bool>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        // Sorted here rather than by ORDER BY, which would re-prepare the statement each time.
        policies.sort_unstable_by_key(|(policy, _)| *policy);
        Ok(PartitionInfo {
            slot,
            label,
            serial,
            device_serial,
            cpv4_enabled: cpv4,
            cpv3_enabled: cpv3,
            policies,
        })
    }

    pub(crate) fn device_info(&self, serial: &str) -> SimResult<DeviceInfo> {
        let (firmware, set, offset): (String, bool, i64) = self
            .conn
            .prepare_cached(
                "SELECT firmware, clock_set, clock_offset FROM devices WHERE serial = ?1",
            )?
            .query_row([serial], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?
            .ok_or_else(|| SimError::UnknownDevice(serial.to_owned()))?;
        let policy = |p: CkUlong| -> SimResult<bool> {
            Ok(self
                .conn
                .prepare_cached(
                    "SELECT value FROM hsm_policies WHERE device_serial = ?1 AND policy = ?2",
                )?
                .query_row(params![serial, crate::store::ulong_to_sql(p)], |r| r.get(0))
                .optional()?
                .unwrap_or(false))
        };
        let mut stmt = self.conn.prepare_cached(DEVICE_SLOTS_SQL)?;
        let mut slots = stmt
            .query_map([serial], |r| r.get::<_, i64>(0))?
            .map(|s| SlotId::try_from(s?).map_err(|_| SimError::Internal("slot id")))
            .collect::<SimResult<Vec<_>>>()?;
        slots.sort_unstable();
        Ok(DeviceInfo {
            serial: serial.to_owned(),
            firmware,
            clock: clock_state(set, offset),
            cloning_allowed: policy(HSM_POLICY_ALLOW_CLONING)?,
            sync_with_host_time: policy(HSM_POLICY_SYNC_HOST_TIME)?,
            slots,
        })
    }

    pub(crate) fn pin_failures(&self, slot: i64, role: Role) -> SimResult<(bool, i64)> {
        let (hash, failures): (Option<Vec<u8>>, i64) = self
            .conn
            .query_row(
                "SELECT hash, failures FROM pins WHERE slot = ?1 AND role = ?2",
                params![slot, role.code()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or((None, 0));
        Ok((hash.is_some(), failures))
    }
}

impl Simulator {
    /// Every slot (partition), across devices, in slot order.
    ///
    /// # Errors
    ///
    /// [`SimError::Store`] if the store fails.
    pub fn slots(&self) -> SimResult<Vec<SlotId>> {
        let inner = self.lock();
        let mut stmt = inner
            .conn
            .prepare_cached("SELECT slot FROM partitions ORDER BY slot")?;
        let slots = stmt
            .query_map([], |r| r.get::<_, i64>(0))?
            .map(|s| SlotId::try_from(s?).map_err(|_| SimError::Internal("slot id")))
            .collect::<SimResult<Vec<_>>>()?;
        Ok(slots)
    }

    /// Every device serial, sorted.
    ///
    /// # Errors
    ///
    /// [`SimError::Store`] if the store fails.
    pub fn device_serials(&self) -> SimResult<Vec<String>> {
        let inner = self.lock();
        let mut stmt = inner
            .conn
            .prepare_cached("SELECT serial FROM devices ORDER BY serial")?;
        let serials = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(serials)
    }

    /// A device's information.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownDevice`] for an unknown serial.
    pub fn device_info(&self, serial: &str) -> SimResult<DeviceInfo> {
        self.lock().device_info(serial)
    }

    /// A partition's information.
    ///
    /// # Errors
    ///
    /// [`SimError::SlotIdInvalid`] for an unknown slot.
    pub fn partition_info(&self, slot: SlotId) -> SimResult<PartitionInfo> {
        self.lock().partition_info(slot)
    }

    /// The device time of `serial` (seconds since the Unix epoch): host time plus the
    /// device's offset, or host time while HSM policy 57 is on.
    ///
    /// # Errors
    ///
    /// [`SimError::TimeNotInitialized`] if the clock was never set;
    /// [`SimError::UnknownDevice`].
    pub fn device_time(&self, serial: &str) -> SimResult<i64> {
        let info = self.device_info(serial)?;
        let now = self.clock.now();
        match info.clock {
            ClockState::NotSet => Err(SimError::TimeNotInitialized),
            ClockState::Set { .. } if info.sync_with_host_time => Ok(now),
            ClockState::Set { offset_secs } => Ok(now.saturating_add(offset_secs)),
        }
    }

    /// The device time of the device holding `slot` (see [`Simulator::device_time`]).
    ///
    /// # Errors
    ///
    /// As [`Simulator::device_time`]; [`SimError::SlotIdInvalid`].
    pub fn slot_time(&self, slot: SlotId) -> SimResult<i64> {
        let serial = self.partition_info(slot)?.device_serial;
        self.device_time(&serial)
    }

    /// Sets a device's clock to `unix_time` (as the HSM SO does). While HSM policy 57 is on
    /// the device follows host time and the offset takes effect only when it is turned off.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownDevice`]; store errors.
    pub fn set_device_time(&self, serial: &str, unix_time: i64) -> SimResult<()> {
        let offset = unix_time.saturating_sub(self.clock.now());
        let mut inner = self.lock();
        inner.write(|tx, _| {
            let changed = tx.execute(
                "UPDATE devices SET clock_set = 1, clock_offset = ?2 WHERE serial = ?1",
                params![serial, offset],
            )?;
            if changed == 0 {
                return Err(SimError::UnknownDevice(serial.to_owned()));
            }
            Ok(())
        })
    }

    /// Returns a device's clock to the never-set state ([`ClockState::NotSet`]) and turns HSM
    /// policy 57 off, as on a factory-fresh HSM.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownDevice`]; store errors.
    pub fn reset_device_clock(&self, serial: &str) -> SimResult<()> {
        let mut inner = self.lock();
        inner.write(|tx, _| {
            let changed = tx.execute(
                "UPDATE devices SET clock_set = 0, clock_offset = 0 WHERE serial = ?1",
                [serial],
            )?;
            if changed == 0 {
                return Err(SimError::UnknownDevice(serial.to_owned()));
            }
            tx.execute(
                "UPDATE hsm_policies SET value = 0 WHERE device_serial = ?1 AND policy = ?2",
                params![
                    serial,
                    crate::store::ulong_to_sql(HSM_POLICY_SYNC_HOST_TIME)
                ],
            )?;
            Ok(())
        })
    }

    /// Turns HSM policy 7 (cloning) or 57 (sync with host time) on or off. Turning 57 on sets
    /// a never-set clock (to host time).
    ///
    /// # Errors
    ///
    /// [`SimError::ArgumentsBad`] for another policy number; [`SimError::UnknownDevice`].
    pub fn set_hsm_policy(&self, serial: &str, policy: CkUlong, on: bool) -> SimResult<()> {
        if !HSM_POLICIES.contains(&policy) {
            return Err(SimError::ArgumentsBad("unknown HSM policy"));
        }
        let mut inner = self.lock();
        inner.write(|tx, _| {
            let changed = tx.execute(
                "UPDATE hsm_policies SET value = ?3 WHERE device_serial = ?1 AND policy = ?2",
                params![serial, crate::store::ulong_to_sql(policy), on],
            )?;
            if changed == 0 {
                return Err(SimError::UnknownDevice(serial.to_owned()));
            }
            if policy == HSM_POLICY_SYNC_HOST_TIME && on {
                tx.execute(
                    "UPDATE devices SET clock_set = 1, clock_offset = 0 WHERE serial = ?1 AND clock_set = 0",
                    [serial],
                )?;
            }
            Ok(())
        })
    }

    /// Turns partition policy 0, 4, 42 or 44 on or off.
    ///
    /// # Errors
    ///
    /// [`SimError::ArgumentsBad`] for another policy number; [`SimError::SlotIdInvalid`].
    pub fn set_partition_policy(&self, slot: SlotId, policy: CkUlong, on: bool) -> SimResult<()> {
        if !PARTITION_POLICIES.contains(&policy) {
            return Err(SimError::ArgumentsBad("unknown partition policy"));
        }
        let sql = slot_sql(slot)?;
        let mut inner = self.lock();
        inner.write(|tx, _| {
            let changed = tx.execute(
                "UPDATE partition_policies SET value = ?3 WHERE slot = ?1 AND policy = ?2",
                params![sql, crate::store::ulong_to_sql(policy), on],
            )?;
            if changed == 0 {
                return Err(SimError::SlotIdInvalid);
            }
            Ok(())
        })
    }

    /// `CA_SetHSMPolicy`: sets HSM policy 7 or 57 (value 0 or 1) of the HSM that holds the
    /// session's partition. On Luna the HSM SO does this; the simulator has no HSM SO
    /// session, so the Partition SO of a partition on that HSM stands in (register A50).
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`, `CKR_USER_NOT_LOGGED_IN`, `CKR_USER_NOT_AUTHORIZED` (not
    /// the SO), `CKR_ARGUMENTS_BAD` (another policy, or a value other than 0 and 1).
    pub fn set_hsm_policy_in_session(
        &self,
        session: SessionHandle,
        policy: CkUlong,
        value: CkUlong,
    ) -> SimResult<()> {
        let view = self.lock().session(session)?;
        view.require_so()?;
        let on = policy_value(value)?;
        let serial = self.partition_info(view.slot)?.device_serial;
        self.set_hsm_policy(&serial, policy, on)
    }

    /// `CA_SetTokenPolicies`: sets partition policies (ids and values, 0 or 1) of `slot`, all
    /// or none, as the Partition SO of that slot.
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`, `CKR_USER_NOT_LOGGED_IN`, `CKR_USER_NOT_AUTHORIZED` (not
    /// the SO, or the SO of another slot), `CKR_ARGUMENTS_BAD` (an unknown policy or a value
    /// other than 0 and 1; nothing is changed).
    pub fn set_partition_policies_in_session(
        &self,
        session: SessionHandle,
        slot: SlotId,
        policies: &[(CkUlong, CkUlong)],
    ) -> SimResult<()> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        view.require_so()?;
        if view.slot != slot {
            return Err(SimError::UserNotAuthorized);
        }
        let mut values = Vec::with_capacity(policies.len());
        for &(policy, value) in policies {
            if !PARTITION_POLICIES.contains(&policy) {
                return Err(SimError::ArgumentsBad("unknown partition policy"));
            }
            values.push((policy, policy_value(value)?));
        }
        let sql = slot_sql(slot)?;
        inner.write(|tx, _| {
            for (policy, on) in values {
                tx.execute(
                    "UPDATE partition_policies SET value = ?3 WHERE slot = ?1 AND policy = ?2",
                    params![sql, crate::store::ulong_to_sql(policy), on],
                )?;
            }
            Ok(())
        })
    }

    /// Enables or disables CPv4 (`cpv4`) or the legacy protocols (`!cpv4`) on a partition.
    ///
    /// # Errors
    ///
    /// [`SimError::SlotIdInvalid`]; store errors.
    pub fn set_protocol_enabled(&self, slot: SlotId, cpv4: bool, on: bool) -> SimResult<()> {
        let sql = slot_sql(slot)?;
        let column = if cpv4 { "cpv4_enabled" } else { "cpv3_enabled" };
        let mut inner = self.lock();
        inner.write(|tx, _| {
            let changed = tx.execute(
                &format!("UPDATE partitions SET {column} = ?2 WHERE slot = ?1"),
                params![sql, on],
            )?;
            if changed == 0 {
                return Err(SimError::SlotIdInvalid);
            }
            Ok(())
        })
    }

    /// Creates a new manufacturer root; devices do not trust it until
    /// [`Simulator::set_root_trusted`].
    ///
    /// # Errors
    ///
    /// [`SimError::ArgumentsBad`] for an invalid common name; store errors.
    pub fn add_manufacturer_root(&self, common_name: &str) -> SimResult<RootId> {
        let mut inner = self.lock();
        inner.write(|tx, keyring| {
            insert_root(tx, keyring, common_name, &mut os_rng()).map(|(_, id)| id)
        })
    }

    /// Every manufacturer root (with its key), in creation order.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn manufacturer_roots(&self) -> SimResult<Vec<ManufacturerRoot>> {
        let mut inner = self.lock();
        let Inner { conn, keyring, .. } = &mut *inner;
        let rows = conn
            .prepare("SELECT id FROM roots ORDER BY id")?
            .query_map([], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|row| load_root(conn, keyring, row))
            .collect()
    }

    /// Adds `root` to, or removes it from, device `serial`'s trust store.
    ///
    /// # Errors
    ///
    /// [`SimError::ArgumentsBad`] for an unknown root, [`SimError::UnknownDevice`].
    pub fn set_root_trusted(&self, serial: &str, root: RootId, trusted: bool) -> SimResult<()> {
        let mut inner = self.lock();
        inner.device_info(serial)?;
        inner.write(|tx, _| {
            let row = root_row(tx, root)?;
            if trusted {
                tx.execute(
                    "INSERT OR IGNORE INTO device_trust (device_serial, root_id) VALUES (?1, ?2)",
                    params![serial, row],
                )?;
            } else {
                tx.execute(
                    "DELETE FROM device_trust WHERE device_serial = ?1 AND root_id = ?2",
                    params![serial, row],
                )?;
            }
            Ok(())
        })
    }

    /// The roots device `serial` trusts.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownDevice`]; [`SimError::Corrupt`] for an unparsable stored root.
    pub fn trusted_roots(&self, serial: &str) -> SimResult<Vec<TrustedRoot>> {
        let mut inner = self.lock();
        inner.device_info(serial)?;
        let Inner { conn, roots, .. } = &mut *inner;
        let mut stmt = conn.prepare_cached(TRUSTED_ROOTS_SQL)?;
        let mut certs = stmt
            .query_map([serial], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        certs.sort_unstable_by_key(|(id, _)| *id);
        certs.iter().map(|(_, der)| roots.parse(der)).collect()
    }

    /// A device's attestation identity (its CA certificate and key).
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownDevice`]; [`SimError::Corrupt`].
    pub fn device_identity(&self, serial: &str) -> SimResult<DeviceIdentity> {
        let mut inner = self.lock();
        let Inner { conn, keyring, .. } = &mut *inner;
        load_device_identity(conn, keyring, serial)
    }

    /// A partition's attestation identity (leaf certificate and signing key).
    ///
    /// # Errors
    ///
    /// [`SimError::SlotIdInvalid`]; [`SimError::Corrupt`].
    pub fn partition_identity(&self, slot: SlotId) -> SimResult<PartitionIdentity> {
        let sql = slot_sql(slot)?;
        let mut inner = self.lock();
        let Inner { conn, keyring, .. } = &mut *inner;
        let (cert, sealed): (Vec<u8>, Vec<u8>) = conn
            .query_row(
                "SELECT cert_der, key_sealed FROM partitions WHERE slot = ?1",
                [sql],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or(SimError::SlotIdInvalid)?;
        let key: Zeroizing<Vec<u8>> = keyring.slot(conn, sql)?.open(
            &record_aad("partitions", &sql.to_be_bytes(), "key"),
            &sealed,
        )?;
        PartitionIdentity::from_parts(&cert, &key)
            .map_err(|_| SimError::Corrupt("partition key".into()))
    }

    /// A partition's attestation chain, leaf first, root not included: `[partition
    /// certificate, device certificate]`.
    ///
    /// # Errors
    ///
    /// [`SimError::SlotIdInvalid`].
    pub fn attestation_chain(&self, slot: SlotId) -> SimResult<Vec<Vec<u8>>> {
        let sql = slot_sql(slot)?;
        let inner = self.lock();
        let (partition, device): (Vec<u8>, Option<Vec<u8>>) = inner
            .conn
            .prepare_cached(ATTESTATION_CHAIN_SQL)?
            .query_row([sql], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or(SimError::SlotIdInvalid)?;
        // No device row: possible only in a store edited with foreign keys off.
        let device = device.ok_or_else(|| {
            SimError::Corrupt(format!("partition {slot}: its device is not in the store"))
        })?;
        Ok(vec![partition, device])
    }

    /// Adds a device (clock not set, HSM policy 7 on, 57 off) certified by `root`, which it
    /// also trusts.
    ///
    /// # Errors
    ///
    /// [`SimError::ArgumentsBad`] for an existing serial or unknown root; store errors.
    pub fn add_device(&self, serial: &str, firmware: &str, root: RootId) -> SimResult<()> {
        let mut inner = self.lock();
        if inner.device_info(serial).is_ok() {
            return Err(SimError::ArgumentsBad("device serial exists"));
        }
        inner.write(|tx, keyring| {
            let row = root_row(tx, root)?;
            insert_device(tx, keyring, serial, firmware, row, ClockState::NotSet)
        })
    }

    /// Adds an initialized partition to device `serial` with Partition SO PIN `so_pin`, no
    /// Crypto Officer or Crypto User PIN, no cloning domain, policies 0, 4 and 44 on, CPv4
    /// and legacy cloning enabled. Returns its slot.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownDevice`], [`SimError::PinLenRange`]; store errors.
    pub fn add_partition(&self, serial: &str, label: &str, so_pin: &[u8]) -> SimResult<SlotId> {
        auth::check_pin_len(so_pin)?;
        let mut inner = self.lock();
        inner.device_info(serial)?;
        let pins = NewPins {
            so: so_pin,
            officer: None,
            user: None,
        };
        inner.write(|tx, keyring| insert_partition(tx, keyring, serial, label, &pins))
    }

    /// Information for `CK_SLOT_INFO`.
    ///
    /// # Errors
    ///
    /// [`SimError::SlotIdInvalid`].
    pub fn slot_info(&self, slot: SlotId) -> SimResult<SlotInfo> {
        let inner = self.lock();
        let partition = inner.partition_info(slot)?;
        let device = inner.device_info(&partition.device_serial)?;
        Ok(SlotInfo {
            description: format!("Luna simulated HSM {} slot {slot}", device.serial),
            manufacturer_id: MANUFACTURER_ID,
            flags: CKF_TOKEN_PRESENT | CKF_HW_SLOT,
            firmware_version: firmware_major_minor(&device.firmware),
        })
    }

    /// Information for `CK_TOKEN_INFO`.
    ///
    /// # Errors
    ///
    /// [`SimError::SlotIdInvalid`].
    pub fn token_info(&self, slot: SlotId) -> SimResult<TokenInfo> {
        let now = self.clock.now();
        let inner = self.lock();
        let partition = inner.partition_info(slot)?;
        let device = inner.device_info(&partition.device_serial)?;
        let sql = slot_sql(slot)?;
        let (_, so_failures) = inner.pin_failures(sql, Role::So)?;
        let (officer_set, officer_failures) = inner.pin_failures(sql, Role::CryptoOfficer)?;
        let mut flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED | CKF_CLOCK_ON_TOKEN;
        if officer_set {
            flags |= CKF_USER_PIN_INITIALIZED;
        }
        flags |= pin_count_flags(
            officer_failures,
            [
                CKF_USER_PIN_COUNT_LOW,
                CKF_USER_PIN_FINAL_TRY,
                CKF_USER_PIN_LOCKED,
            ],
        );
        flags |= pin_count_flags(
            so_failures,
            [
                CKF_SO_PIN_COUNT_LOW,
                CKF_SO_PIN_FINAL_TRY,
                CKF_SO_PIN_LOCKED,
            ],
        );
        let sessions: Vec<_> = inner
            .sessions
            .sessions
            .values()
            .filter(|s| s.slot == slot)
            .collect();
        let count = |n: usize| CkUlong::try_from(n).unwrap_or(CkUlong::MAX);
        let utc_time = match device.clock {
            ClockState::NotSet => None,
            ClockState::Set { .. } if device.sync_with_host_time => Some(now),
            ClockState::Set { offset_secs } => Some(now.saturating_add(offset_secs)),
        };
        Ok(TokenInfo {
            label: partition.label,
            manufacturer_id: MANUFACTURER_ID,
            model: MODEL,
            serial_number: partition.serial,
            flags,
            session_count: count(sessions.len()),
            rw_session_count: count(sessions.iter().filter(|s| s.read_write).count()),
            max_pin_len: count(MAX_PIN_LEN),
            min_pin_len: count(MIN_PIN_LEN),
            hardware_version: (7, 0),
            firmware_version: firmware_major_minor(&device.firmware),
            utc_time,
        })
    }
}

/// A policy value of the vendor calls: 0 (off) or 1 (on).
fn policy_value(value: CkUlong) -> SimResult<bool> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(SimError::ArgumentsBad("a policy value is 0 or 1")),
    }
}

/// The token flags of a PIN after `failures` wrong entries since the last right one: "count
/// low" after any, "final try" when one more locks it, "locked" from the limit on (each alone,
/// as PKCS#11 describes the states). `flags` is `[count low, final try, locked]`.
fn pin_count_flags(failures: i64, [count_low, final_try, locked]: [CkFlags; 3]) -> CkFlags {
    if failures >= MAX_PIN_FAILURES {
        locked
    } else if failures == MAX_PIN_FAILURES - 1 {
        count_low | final_try
    } else if failures > 0 {
        count_low
    } else {
        0
    }
}
