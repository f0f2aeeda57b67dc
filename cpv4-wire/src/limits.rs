//! The documented limits every decoder enforces. A value past a limit is refused before anything
//! is allocated for it, so hostile input cannot make a decoder allocate more than a small multiple
//! of its own size.

/// Largest negotiation message (Offer, Accept or Confirm) in bytes.
pub const MAX_MESSAGE_SIZE: usize = 32 * 1024;
/// Most entries in one offered list (suites, KDFs, encodings, durations, chain mechanisms).
pub const MAX_OFFERED_ALGORITHMS: usize = 16;
/// Most trusted roots one side may list.
pub const MAX_TRUSTED_ROOTS: usize = 16;
/// Most PSK ids or LEET tags in one Offer.
pub const MAX_PSK_ENTRIES: usize = 8;
/// Most certificates in an attestation chain (leaf first, the root itself not included).
pub const MAX_CHAIN_LENGTH: usize = 4;
/// Largest certificate in an attestation chain, in bytes.
pub const MAX_CERTIFICATE_SIZE: usize = 4096;
/// Largest encoded ephemeral public-key point (an uncompressed P-521 point).
pub const MAX_EPHEMERAL_POINT_SIZE: usize = 133;
/// Largest DER object identifier in an ephemeral key, in bytes of content.
pub const MAX_OID_SIZE: usize = 32;

/// Largest key blob (header and body). The vendor's own test sizes each blob buffer at
/// 64,000 bytes, so every blob we produce fits the buffers real applications allocate.
pub const MAX_BLOB_SIZE: usize = 64_000;
/// Most attributes in one encoded object.
pub const MAX_ATTRIBUTE_COUNT: usize = 64;
/// Largest single attribute value, in bytes.
pub const MAX_ATTRIBUTE_SIZE: usize = 16 * 1024;
