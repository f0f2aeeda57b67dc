//! A persistent, crash-safe simulated Thales Luna HSM.
//!
//! The [`Simulator`] is what a PKCS#11 module calls 1:1: it holds the devices (HSMs),
//! partitions (slots), roles, policies, cloning domains and token objects of a *home*
//! directory in one SQLite database, and, in memory, what a PKCS#11 library instance holds:
//! sessions, login state, session objects and active operations. Every call returns
//! `Result<_, SimError>`, and [`SimError::rv`] is the one mapping to PKCS#11 return codes.
//!
//! ```
//! use cpv4_wire::consts::*;
//! use luna_sim::{Attribute, Mechanism, Simulator, GcmParams, provision};
//! # fn main() -> Result<(), luna_sim::SimError> {
//! let home = tempfile::tempdir().map_err(|e| luna_sim::SimError::Io(e.to_string()))?;
//! let sim = Simulator::open(home.path())?; // provisions the default layout
//! let session = sim.open_session(0, true)?;
//! sim.login(session, CKU_USER, provision::DEFAULT_CO_PIN.as_bytes())?;
//! let key = sim.generate_key(
//!     session,
//!     &Mechanism::AesKeyGen,
//!     &[Attribute::ulong(CKA_VALUE_LEN, 32), Attribute::bytes(CKA_LABEL, b"k".to_vec())],
//! )?;
//! let gcm = Mechanism::AesGcm(GcmParams { iv: vec![0; 12], aad: vec![], tag_bits: 128 });
//! sim.encrypt_init(session, &gcm, key)?;
//! let ciphertext = sim.encrypt(session, b"hello")?;
//! sim.decrypt_init(session, &gcm, key)?;
//! assert_eq!(sim.decrypt(session, &ciphertext)?.as_slice(), b"hello"); // wiped on drop
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod ck;
mod cpv4;
mod device;
mod error;
pub mod mechanisms;
mod session;
mod sim;
mod store;
mod token;

pub use cpv4::{
    ExtractItem, Extracted, InsertItem, Inserted, MIN_CPV4_FIRMWARE, SimEndpoint, SimLegacy,
};
pub use cpv4_migrate::MigrationItem;
pub use cpv4_session::{ContinueOutput, PeerIdentity};
pub use device::api::{DeviceInfo, MANUFACTURER_ID, MODEL, PartitionInfo, SlotInfo, TokenInfo};
pub use device::clock::{Clock, ClockState, SharedClock, SystemClock, TestClock};
pub use device::domains::{
    DomainEntry, DomainLabel, MAX_DOMAIN_LABEL_LEN, MAX_DOMAINS, MAX_KCV_LEN, ParamObject,
};
pub use device::provision;
pub use device::records::CERT_VALIDITY;
pub use error::{SimError, SimResult};
pub use mechanisms::{
    CipherStep, Fitted, GcmParams, HashAlg, Mechanism, MechanismInfo, OaepParams, OperationKind,
    PssParams,
};
pub use session::auth::{MAX_PIN_FAILURES, MAX_PIN_LEN, MIN_PIN_LEN, Role};
pub use session::table::{
    ObjectHandle, PARAM_OBJECT_BASE, SESSION_OBJECT_BASE, SessionHandle, SessionInfo, SlotId,
};
pub use sim::{HOME_ENV, SimOptions, Simulator, default_home};
pub use store::faults::{FAULTS_ENV, FaultPlan};
pub use store::integrity::IntegrityReport;
pub use store::{DB_FILE, SCHEMA_VERSION};
pub use token::api::{AttributeValue, attribute_values_rv};
pub use token::attrs::Attribute;
pub use token::objects::{OUID_LEN, P256_EC_PARAMS};
