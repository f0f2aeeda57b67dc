//! Cryptography of the CPv4 key-cloning protocol simulator.
//!
//! - [`attest`]: attestation chains (manufacturer root -> device -> partition, ECDSA P-256 /
//!   SHA-256 X.509 certificates), chain verification and transcript signatures.
//! - [`ecdh`]: ephemeral ECDH on P-256 and validation of the peer's ephemeral key.
//! - [`schedule`]: the key schedule (HKDF-SHA256 or HKDF-SHA384) and key-confirmation MACs.
//! - [`blob`]: sealing of key-blob bodies (AES-256-KWP under a header-bound key).
//! - [`psk`]: cloning-domain PSKs (Argon2id from the KCV), PSK ids, LEET tags and Offer
//!   binders.
//! - [`sealed`]: whole-record sealing of persisted protocol state (AES-256-GCM).
//!
//! No function reads a clock or does I/O: time is a parameter (seconds since the Unix epoch)
//! and randomness comes from a caller's [`rand_core::CryptoRng`]. Secret types wipe
//! themselves on drop and never print their bytes.
//!
//! # Example
//!
//! A whole exchange between an initiator and a responder of one cloning domain:
//!
//! ```
//! use cpv4_crypto::attest::{
//!     DeviceIdentity, ManufacturerRoot, PartitionIdentity, ValidityPeriod, verify_chain,
//!     verify_signature,
//! };
//! use cpv4_crypto::ecdh::{EphemeralSecret, ID_EC_PUBLIC_KEY, PRIME256V1, parse_peer_key};
//! use cpv4_crypto::psk::DomainPsk;
//! use cpv4_crypto::schedule::{Kdf, SessionKeys, confirmation_mac, verify_confirmation_mac};
//! use cpv4_crypto::blob;
//! # use rand_chacha::ChaCha20Rng;
//! # use rand_core::SeedableRng;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mut rng = ChaCha20Rng::seed_from_u64(1);
//! let now = 1_750_000_000;
//! let validity = ValidityPeriod::new(now - 3600, now + 86_400);
//!
//! // Attestation: root -> device -> partition, and the responder checks the chain.
//! let root = ManufacturerRoot::generate(&mut rng, "Example Root", validity)?;
//! let device = DeviceIdentity::issue(&root, &mut rng, "150123", validity)?;
//! let partition = PartitionIdentity::issue(&device, &mut rng, "partition 1", validity)?;
//! let chain = [partition.certificate_der(), device.certificate_der()];
//! let verified = verify_chain(&chain, &[root.trusted_root()], now)?;
//! assert_eq!(verified.root_id(), root.root_id());
//! let signature = partition.sign(b"transcript");
//! verify_signature(verified.leaf_key(), b"transcript", &signature)?;
//!
//! // Ephemeral ECDH.
//! let eph_i = EphemeralSecret::generate(&mut rng);
//! let eph_r = EphemeralSecret::generate(&mut rng);
//! let peer_r = parse_peer_key(&ID_EC_PUBLIC_KEY, &PRIME256V1, &eph_r.public_point())?;
//! let peer_i = parse_peer_key(&ID_EC_PUBLIC_KEY, &PRIME256V1, &eph_i.public_point())?;
//!
//! // Key schedule (the PSK would normally come from `DomainPsk::derive(kcv)`, once).
//! let psk = DomainPsk::from_bytes([9; 32]);
//! let (nonce_i, nonce_r, transcript_hash) = ([1; 32], [2; 32], [3; 32]);
//! let keys_i = SessionKeys::derive(
//!     Kdf::HkdfSha256, &eph_i.diffie_hellman(&peer_r), &psk, &nonce_i, &nonce_r, &transcript_hash,
//! )?;
//! let keys_r = SessionKeys::derive(
//!     Kdf::HkdfSha256, &eph_r.diffie_hellman(&peer_i), &psk, &nonce_i, &nonce_r, &transcript_hash,
//! )?;
//! let mac = confirmation_mac(&keys_r.confirm_responder, b"accept");
//! assert!(verify_confirmation_mac(&keys_i.confirm_responder, b"accept", &mac));
//!
//! // A key blob from responder (source) to initiator (target).
//! let header = b"example header";
//! let body = blob::seal(&keys_r.responder_to_initiator, header, b"key attributes")?;
//! let payload = blob::open(&keys_i.responder_to_initiator, header, &body)?;
//! assert_eq!(payload.as_slice(), b"key attributes");
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attest;
pub mod blob;
pub mod ecdh;
pub mod psk;
pub mod schedule;
pub mod sealed;
mod secret;

pub use secret::Secret32;
