//! The default layout provisioned in an empty home (documented in the README).

use cpv4_crypto::psk::DomainPsk;

use crate::device::clock::ClockState;
use rand_chacha::rand_core::SeedableRng;
use rusqlite::Connection;

use crate::device::records::{
    NewPins, insert_device, insert_domain, insert_partition, insert_root,
};
use crate::error::{SimError, SimResult};
use crate::store::faults::FaultState;
use crate::store::{self, Keyring, slot_sql};

/// Serial numbers of the two default HSMs.
pub const DEFAULT_DEVICE_SERIALS: [&str; 2] = ["150001", "150002"];
/// Firmware of the default HSMs.
pub const DEFAULT_FIRMWARE: &str = "7.8.4";
/// Labels of the default partitions (slot 0 on the first HSM, slot 1 on the second).
pub const DEFAULT_PARTITION_LABELS: [&str; 2] = ["source", "target"];
/// Common name of the default manufacturer root.
pub const DEFAULT_ROOT_NAME: &str = "Luna Simulated Manufacturer Root 1";
/// The seed of the default manufacturer root's key. Every Luna HSM chains to one
/// manufacturer root, so every simulator home makes the same one: HSMs of separate homes, or
/// of separate hosts, attest to each other out of the box (register A53). The seed is
/// public, so a simulated attestation proves nothing against someone who reads this source;
/// roots added with `Simulator::add_manufacturer_root` are random.
pub const SHARED_ROOT_SEED: [u8; 32] = *b"luna-sim shared manufacturer rt1";
/// The label of the default cloning domain.
pub const DEFAULT_DOMAIN_LABEL: &str = "default-domain";
/// KCV (domain secret) of the default cloning domain. Only its PSK is stored.
pub const DEFAULT_DOMAIN_KCV: &str = "default-domain-secret";
/// Development PIN of the Partition SO.
pub const DEFAULT_SO_PIN: &str = "so-pin";
/// Development PIN of the Crypto Officer (`CKU_USER`).
pub const DEFAULT_CO_PIN: &str = "co-pin";
/// Development PIN of the Crypto User (`CKU_CRYPTO_USER`).
pub const DEFAULT_CU_PIN: &str = "cu-pin";

const PROVISIONED: &str = "provisioned";

/// Provisions the default layout unless the store was provisioned before. Runs in one write
/// transaction that re-checks the marker, so processes racing on an empty home provision once.
pub(crate) fn ensure_default(
    conn: &mut Connection,
    keyring: &mut Keyring,
    faults: &mut FaultState,
) -> SimResult<()> {
    if store::meta_get(conn, PROVISIONED)?.is_some() {
        return Ok(());
    }
    let psk = DomainPsk::derive(DEFAULT_DOMAIN_KCV.as_bytes())
        .map_err(|_| SimError::Internal("PSK derivation"))?;
    store::write(conn, faults, |tx| {
        if store::meta_get(tx, PROVISIONED)?.is_some() {
            return Ok(());
        }
        let mut shared = rand_chacha::ChaCha20Rng::from_seed(SHARED_ROOT_SEED);
        let (root_row, _) = insert_root(tx, keyring, DEFAULT_ROOT_NAME, &mut shared)?;
        for (serial, label) in DEFAULT_DEVICE_SERIALS.iter().zip(DEFAULT_PARTITION_LABELS) {
            insert_device(
                tx,
                keyring,
                serial,
                DEFAULT_FIRMWARE,
                root_row,
                ClockState::Set { offset_secs: 0 },
            )?;
            let pins = NewPins {
                so: DEFAULT_SO_PIN.as_bytes(),
                officer: Some(DEFAULT_CO_PIN.as_bytes()),
                user: Some(DEFAULT_CU_PIN.as_bytes()),
            };
            let slot = insert_partition(tx, keyring, serial, label, &pins)?;
            insert_domain(
                tx,
                keyring,
                slot_sql(slot)?,
                Some(DEFAULT_DOMAIN_LABEL.as_bytes()),
                &psk,
                true,
            )?;
        }
        store::meta_set(tx, PROVISIONED, b"1")
    })
}
