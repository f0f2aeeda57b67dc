//! The three negotiation messages, in canonical DER.
//!
//! | API-flow step | message | made by | read by |
//! |---|---|---|---|
//! | 2 | [`Offer`] | `CA_MigrationStartSessionNegotiation` (initiator) | first Continue (responder) |
//! | 3 | [`Accept`] | first Continue (responder) | second Continue (initiator) |
//! | 4 | [`Confirm`] | second Continue (initiator) | first `CA_Extract` (responder) |
//!
//! Each message carries the protocol version and its step, and decoding checks both. Decoding
//! is strict: one encoding per value (DER), no trailing bytes, fixed-size fields of exactly their
//! size, lists within the limits of [`crate::limits`] and without duplicates. Encoding refuses a
//! value that its own decoder would refuse, so `decode(encode(v)) == v` for every value that
//! encodes, and `encode(decode(b)) == b` for every `b` that decodes.

mod accept;
mod common;
mod confirm;
mod offer;

pub use accept::{Accept, AcceptTbs, Selection};
pub use common::{
    Algorithms, Binder, EphemeralKey, LeetTag, Mac, Nonce, PskId, PskOffer, PskSelection, RootId,
    SessionUid, Signature, TranscriptHash,
};
pub use confirm::{Confirm, ConfirmTbs};
pub use offer::Offer;
