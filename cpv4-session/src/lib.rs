//! # cpv4-session
//!
//! The CPv4 key-cloning negotiation as a sans-IO engine: bytes, the current HSM time and a
//! random source in; bytes and outcomes out. No sockets, files or clocks inside, so every
//! expiry and error path is testable deterministically (in the style of rustls and
//! quinn-proto).
//!
//! One [`SessionTable`] holds a device's state: the initiator's pending negotiations, the
//! responder's negotiations awaiting a Confirm, and the established sessions, each of one
//! partition, with the expiry, sweep, cap and tombstone rules of the project's
//! `docs/protocol.md`. Every call takes the partition's [`Policy`] (suites, KDFs, durations,
//! roots, identity, domains, CPv4 enabled) and the device's [`HsmTime`].
//!
//! The table runs on a [`Store`]: [`MemoryStore`] by default, or any store that keeps one
//! [`SealedRecord`] per negotiation, session and tombstone (each sealed whole under the
//! device's storage key with [`Record::seal`]) and implements [`Txn`] over its rows, so that
//! processes share sessions, as on a real HSM, and a call touches only its own records.

//! Errors are [`SessionError`]s; [`SessionError::rv`] gives the PKCS#11 return code.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod handshake;
mod persist;
mod policy;
mod records;
pub mod store;
mod table;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;

pub use cpv4_crypto::attest::PeerIdentity;
pub use error::SessionError;
pub use persist::{Record, RecordId, RecordKind, SealedRecord};
pub use policy::{HsmTime, Identity, Policy, PskMode, supported};
pub use records::{AwaitingConfirm, PendingOffer, Role, Session};
pub use store::{MAX_TOMBSTONES, MemoryStore, Store, Txn};
pub use table::{
    ContinueInput, ContinueOutput, LiveSession, MAX_NEGOTIATIONS_PER_DEVICE,
    MAX_NEGOTIATIONS_PER_PARTITION, MAX_SESSIONS_PER_DEVICE, MAX_SESSIONS_PER_PARTITION,
    OpenedBlob, PartitionId, SequenceBatch, SequenceToken, SessionTable, Status,
    accept_sequence_in,
};
