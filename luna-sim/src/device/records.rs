//! Creating the device records: manufacturer roots, devices, partitions and their cloning
//! domains and SMKs. Provisioning and the admin API call these inside their write
//! transaction; nothing here touches the in-memory simulator state.

use cpv4_crypto::attest::{
    DeviceIdentity, ManufacturerRoot, PartitionIdentity, RootId, TrustedRoot, ValidityPeriod,
};
use cpv4_crypto::psk::DomainPsk;
use cpv4_wire::consts::*;
use rusqlite::{OptionalExtension, Transaction, params};
use zeroize::Zeroizing;

use crate::device::clock::ClockState;
use crate::error::{SimError, SimResult};
use crate::session::auth::{self, Role};
use crate::session::table::SlotId;
use crate::store::Keyring;
use crate::store::keys::{fill_random, os_rng, record_aad};
use crate::token::objects::OUID_LEN;

/// Validity of every certificate the simulator issues: 2020-01-01 to 2050-01-01.
pub const CERT_VALIDITY: ValidityPeriod = ValidityPeriod::new(1_577_836_800, 2_524_608_000);
/// The HSM policies a device has.
pub const HSM_POLICIES: &[CkUlong] = &[HSM_POLICY_ALLOW_CLONING, HSM_POLICY_SYNC_HOST_TIME];
/// The partition policies a partition has.
pub const PARTITION_POLICIES: &[CkUlong] = &[
    PARTITION_POLICY_PRIVATE_KEY_CLONING,
    PARTITION_POLICY_SECRET_KEY_CLONING,
    PARTITION_POLICY_LEGACY_CLONING_ONLY,
    PARTITION_POLICY_EXTENDED_DOMAIN_MANAGEMENT,
];

pub(crate) fn insert_root<R: rand_core::CryptoRng + ?Sized>(
    tx: &Transaction<'_>,
    keyring: &mut Keyring,
    common_name: &str,
    rng: &mut R,
) -> SimResult<(i64, RootId)> {
    let root = ManufacturerRoot::generate(rng, common_name, CERT_VALIDITY)
        .map_err(|_| SimError::ArgumentsBad("invalid root common name"))?;
    let id = root.root_id();
    let key = keyring.manufacturer(true)?;
    let sealed = key.seal(
        &record_aad("roots", id.as_bytes(), "key"),
        root.secret_key_bytes().expose_secret(),
    )?;
    tx.execute(
        "INSERT INTO roots (common_name, cert_der, key_sealed) VALUES (?1, ?2, ?3)",
        params![common_name, root.certificate_der(), sealed],
    )?;
    Ok((tx.last_insert_rowid(), id))
}

pub(crate) fn load_root(
    tx: &rusqlite::Connection,
    keyring: &mut Keyring,
    row: i64,
) -> SimResult<ManufacturerRoot> {
    let (cert, sealed): (Vec<u8>, Vec<u8>) = tx
        .query_row(
            "SELECT cert_der, key_sealed FROM roots WHERE id = ?1",
            [row],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or(SimError::ArgumentsBad("unknown root"))?;
    let trusted =
        TrustedRoot::from_der(&cert).map_err(|_| SimError::Corrupt("root certificate".into()))?;
    let key = keyring.manufacturer(false)?.open(
        &record_aad("roots", trusted.id().as_bytes(), "key"),
        &sealed,
    )?;
    ManufacturerRoot::from_parts(&cert, &key).map_err(|_| SimError::Corrupt("root key".into()))
}

pub(crate) fn root_row(conn: &rusqlite::Connection, id: RootId) -> SimResult<i64> {
    let mut stmt = conn.prepare("SELECT id, cert_der FROM roots")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
    for row in rows {
        let (row, cert) = row?;
        if TrustedRoot::from_der(&cert).is_ok_and(|t| t.id() == id) {
            return Ok(row);
        }
    }
    Err(SimError::ArgumentsBad("unknown root"))
}

pub(crate) fn insert_device(
    tx: &Transaction<'_>,
    keyring: &mut Keyring,
    serial: &str,
    firmware: &str,
    root_row: i64,
    clock: ClockState,
) -> SimResult<()> {
    let root = load_root(tx, keyring, root_row)?;
    let device = DeviceIdentity::issue(&root, &mut os_rng(), serial, CERT_VALIDITY)
        .map_err(|_| SimError::ArgumentsBad("invalid device serial"))?;
    let sealed = keyring.device(serial, true)?.seal(
        &record_aad("devices", serial.as_bytes(), "key"),
        device.secret_key_bytes().expose_secret(),
    )?;
    let (set, offset) = match clock {
        ClockState::NotSet => (false, 0),
        ClockState::Set { offset_secs } => (true, offset_secs),
    };
    tx.execute(
        "INSERT INTO devices (serial, firmware, clock_set, clock_offset, root_id, cert_der, key_sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![serial, firmware, set, offset, root_row, device.certificate_der(), sealed],
    )?;
    tx.execute(
        "INSERT INTO device_trust (device_serial, root_id) VALUES (?1, ?2)",
        params![serial, root_row],
    )?;
    for policy in HSM_POLICIES {
        let on = *policy == HSM_POLICY_ALLOW_CLONING || set;
        tx.execute(
            "INSERT INTO hsm_policies (device_serial, policy, value) VALUES (?1, ?2, ?3)",
            params![serial, crate::store::ulong_to_sql(*policy), on],
        )?;
    }
    Ok(())
}

pub(crate) fn load_device_identity(
    conn: &rusqlite::Connection,
    keyring: &mut Keyring,
    serial: &str,
) -> SimResult<DeviceIdentity> {
    let (cert, sealed): (Vec<u8>, Vec<u8>) = conn
        .query_row(
            "SELECT cert_der, key_sealed FROM devices WHERE serial = ?1",
            [serial],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| SimError::UnknownDevice(serial.to_owned()))?;
    let key = keyring
        .device(serial, false)?
        .open(&record_aad("devices", serial.as_bytes(), "key"), &sealed)?;
    DeviceIdentity::from_parts(&cert, &key).map_err(|_| SimError::Corrupt("device key".into()))
}

/// The kind name of the SMK parameter object.
pub(crate) const SMK_KIND: &str = "smk";

/// PINs of a new partition (`None`: that role's PIN is not initialized).
pub(crate) struct NewPins<'a> {
    pub(crate) so: &'a [u8],
    pub(crate) officer: Option<&'a [u8]>,
    pub(crate) user: Option<&'a [u8]>,
}

pub(crate) fn insert_partition(
    tx: &Transaction<'_>,
    keyring: &mut Keyring,
    device_serial: &str,
    label: &str,
    pins: &NewPins<'_>,
) -> SimResult<SlotId> {
    let slot: i64 = tx.query_row(
        "SELECT COALESCE(MAX(slot) + 1, 0) FROM partitions",
        [],
        |r| r.get(0),
    )?;
    let index: i64 = tx.query_row(
        "SELECT COUNT(*) + 1 FROM partitions WHERE device_serial = ?1",
        [device_serial],
        |r| r.get(0),
    )?;
    let serial = format!("{device_serial}{index:03}");
    let device = load_device_identity(tx, keyring, device_serial)?;
    let identity = PartitionIdentity::issue(&device, &mut os_rng(), &serial, CERT_VALIDITY)
        .map_err(|_| SimError::ArgumentsBad("invalid partition name"))?;
    let sealed = keyring.device(device_serial, false)?.seal(
        &record_aad("partitions", &slot.to_be_bytes(), "key"),
        identity.secret_key_bytes().expose_secret(),
    )?;
    tx.execute(
        "INSERT INTO partitions (slot, device_serial, label, serial, cpv4_enabled, cpv3_enabled, cert_der, key_sealed)
         VALUES (?1, ?2, ?3, ?4, 1, 1, ?5, ?6)",
        params![slot, device_serial, label, serial, identity.certificate_der(), sealed],
    )?;
    for policy in PARTITION_POLICIES {
        let on = *policy != PARTITION_POLICY_LEGACY_CLONING_ONLY;
        tx.execute(
            "INSERT INTO partition_policies (slot, policy, value) VALUES (?1, ?2, ?3)",
            params![slot, crate::store::ulong_to_sql(*policy), on],
        )?;
    }
    for (role, pin) in [
        (Role::So, Some(pins.so)),
        (Role::CryptoOfficer, pins.officer),
        (Role::CryptoUser, pins.user),
    ] {
        let hash = pin.map(auth::hash_pin).transpose()?;
        tx.execute(
            "INSERT INTO pins (slot, role, hash, failures) VALUES (?1, ?2, ?3, 0)",
            params![slot, role.code(), hash],
        )?;
    }
    insert_smk(tx, keyring, slot)?;
    SlotId::try_from(slot).map_err(|_| SimError::Internal("slot id"))
}

/// Inserts a domain; `primary` demotes the current primary.
pub(crate) fn insert_domain(
    tx: &Transaction<'_>,
    keyring: &mut Keyring,
    slot: i64,
    label: Option<&[u8]>,
    psk: &DomainPsk,
    primary: bool,
) -> SimResult<()> {
    if primary {
        tx.execute("UPDATE domains SET is_primary = 0 WHERE slot = ?1", [slot])?;
    }
    // Every PSK is derived with the current parameters (`DomainPsk::derive`); they are kept
    // with the domain so a later release can raise them without breaking this one.
    let kdf_params = cpv4_crypto::psk::DomainParams::CURRENT.to_bytes();
    tx.execute(
        "INSERT INTO domains (slot, label, psk_sealed, is_primary, kdf_params) \
         VALUES (?1, ?2, x'', ?3, ?4)",
        params![slot, label, primary, &kdf_params[..]],
    )?;
    let id = tx.last_insert_rowid();
    let sealed = keyring.slot(tx, slot)?.seal(
        &record_aad("domains", &id.to_be_bytes(), "psk"),
        psk.as_bytes(),
    )?;
    tx.execute(
        "UPDATE domains SET psk_sealed = ?2 WHERE id = ?1",
        params![id, sealed],
    )?;
    Ok(())
}

/// Creates the SMK parameter object of a new partition.
pub(crate) fn insert_smk(tx: &Transaction<'_>, keyring: &mut Keyring, slot: i64) -> SimResult<()> {
    let mut ouid = [0u8; OUID_LEN];
    fill_random(&mut ouid)?;
    let mut secret = Zeroizing::new([0u8; 32]);
    fill_random(secret.as_mut())?;
    let sealed = keyring.slot(tx, slot)?.seal(
        &record_aad("param_objects", &slot.to_be_bytes(), SMK_KIND),
        secret.as_ref(),
    )?;
    tx.execute(
        "INSERT INTO param_objects (slot, kind, ouid, secret_sealed) VALUES (?1, ?2, ?3, ?4)",
        params![slot, SMK_KIND, ouid.as_slice(), sealed],
    )?;
    Ok(())
}
