//! # cpv4-wire
//!
//! The constants, messages and encodings of a CPv4-style key-cloning protocol between two
//! (simulated) Thales Luna HSM partitions, as specified in the project's `docs/protocol.md`.
//!
//! - [`consts`]: every PKCS#11 and Luna vendor value the project uses (return codes,
//!   mechanisms, attributes, element and storage types, flags) and the protocol's identifiers.
//! - [`message`]: the three negotiation messages ([`Offer`], [`Accept`], [`Confirm`]) in
//!   canonical DER.
//! - [`blob`]: the key-blob envelope ([`KeyBlob`]).
//! - [`attributes`]: the object attribute list ([`AttributeList`], encodings 1 and 2).
//! - [`limits`]: the documented limits every decoder enforces.
//!
//! Decoders are strict (one encoding per value), bounded (they refuse oversized input before
//! allocating for it) and never panic; their [`WireError`] names what was wrong and the
//! PKCS#11 return code it is reported as. This crate does no cryptography and no I/O.
//!
//! ```
//! use cpv4_wire::{Confirm, ConfirmTbs, SessionUid};
//!
//! let confirm = Confirm {
//!     tbs: ConfirmTbs { session_uid: SessionUid([7; 16]), chain: vec![vec![0x30, 0x00]] },
//!     signature: [1; 64],
//!     mac: [2; 32],
//! };
//! let bytes = confirm.encode()?;
//! assert_eq!(Confirm::decode(&bytes)?, confirm);
//!
//! // A message of another step is refused, with the code the API reports.
//! let error = cpv4_wire::Offer::decode(&bytes).unwrap_err();
//! assert_eq!(error.rv(), cpv4_wire::consts::CKR_SESSION_NEGOTIATION_INVALID);
//! # Ok::<(), cpv4_wire::WireError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attributes;
pub mod blob;
pub mod consts;
mod der_io;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod limits;
pub mod message;

pub use attributes::{Attribute, AttributeList, ObjectEncoding};
pub use blob::{BlobHeader, Direction, ElementType, KeyBlob};
pub use error::{ErrorKind, Format, WireError};
pub use message::{
    Accept, AcceptTbs, Algorithms, Confirm, ConfirmTbs, EphemeralKey, Offer, PskOffer,
    PskSelection, Selection, SessionUid,
};
