//! Key-blob body sealing.
//!
//! A key blob is `header || body`. The header (built by the protocol layer: magic, version,
//! session UID, direction, sequence number, element type, encoding) travels in the clear; the
//! body is the payload wrapped with AES-256-KWP (RFC 5649) under a key bound to the header:
//!
//! ```text
//! k_blob = HKDF-SHA256-Expand(PRK = direction_key, info = "cpv4 blob" || SHA-256(header), 32)
//! body   = AES-256-KWP(k_blob, payload)
//! ```
//!
//! Changing any bit of the header changes `k_blob`, and changing any bit of the body breaks
//! KWP's integrity check, so [`open`] fails on both.

use aes_kw::KwpAes256;
use hkdf::Hkdf;
use hmac::KeyInit;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::secret::Secret32;

/// HKDF-Expand info prefix of the blob key (followed by SHA-256 of the header).
pub const BLOB_LABEL: &[u8] = b"cpv4 blob";
/// Smallest payload, in bytes.
pub const MIN_PAYLOAD_LEN: usize = 1;
/// Largest payload, in bytes.
pub const MAX_PAYLOAD_LEN: usize = 63_000;
/// Size of the KWP integrity block that the body adds to the padded payload.
const KWP_OVERHEAD: usize = 8;

/// Errors of blob sealing and opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum BlobError {
    /// The payload is empty or longer than [`MAX_PAYLOAD_LEN`].
    #[error("payload length {0} is outside 1..=63000")]
    PayloadLength(usize),
    /// The body cannot be a KWP output of an allowed payload (length not a multiple of 8,
    /// shorter than 16 or longer than the largest sealed payload).
    #[error("body length {0} is not a valid sealed length")]
    BodyLength(usize),
    /// The body does not unwrap under the key derived from the direction key and header: a
    /// changed header or body, or another key.
    #[error("blob integrity check failed")]
    Integrity,
    /// Key derivation or wrapping failed internally (not expected).
    #[error("blob key derivation failed")]
    Internal,
}

/// The body length that [`seal`] produces for a payload of `payload_len` bytes: the payload
/// padded to a multiple of 8, plus 8.
#[must_use]
pub const fn sealed_len(payload_len: usize) -> usize {
    payload_len
        .div_ceil(8)
        .saturating_mul(8)
        .saturating_add(KWP_OVERHEAD)
}

fn blob_kwp(direction_key: &Secret32, header: &[u8]) -> Result<KwpAes256, BlobError> {
    let hk =
        Hkdf::<Sha256>::from_prk(direction_key.expose_secret()).map_err(|_| BlobError::Internal)?;
    let header_hash = Sha256::digest(header);
    let mut k_blob = Zeroizing::new([0u8; 32]);
    hk.expand_multi_info(&[BLOB_LABEL, header_hash.as_slice()], &mut k_blob[..])
        .map_err(|_| BlobError::Internal)?;
    KwpAes256::new_from_slice(&k_blob[..]).map_err(|_| BlobError::Internal)
}

/// Seals `payload` (1..=63000 bytes) for the blob whose header is `header`.
///
/// # Errors
///
/// [`BlobError::PayloadLength`] for a payload outside the allowed lengths.
pub fn seal(direction_key: &Secret32, header: &[u8], payload: &[u8]) -> Result<Vec<u8>, BlobError> {
    if !(MIN_PAYLOAD_LEN..=MAX_PAYLOAD_LEN).contains(&payload.len()) {
        return Err(BlobError::PayloadLength(payload.len()));
    }
    let kwp = blob_kwp(direction_key, header)?;
    let mut body = vec![0u8; sealed_len(payload.len())];
    let written = kwp
        .wrap_key(payload, &mut body)
        .map_err(|_| BlobError::Internal)?
        .len();
    body.truncate(written);
    Ok(body)
}

/// Opens a body sealed by [`seal`] with the same direction key and header.
///
/// # Errors
///
/// [`BlobError::BodyLength`] for a length that no allowed payload seals to;
/// [`BlobError::Integrity`] when the header, the body or the key differ from sealing.
pub fn open(
    direction_key: &Secret32,
    header: &[u8],
    body: &[u8],
) -> Result<Zeroizing<Vec<u8>>, BlobError> {
    let len = body.len();
    if len % 8 != 0 || len < sealed_len(MIN_PAYLOAD_LEN) || len > sealed_len(MAX_PAYLOAD_LEN) {
        return Err(BlobError::BodyLength(len));
    }
    let kwp = blob_kwp(direction_key, header)?;
    let mut payload = Zeroizing::new(vec![0u8; len - KWP_OVERHEAD]);
    let payload_len = kwp
        .unwrap_key(body, &mut payload)
        .map_err(|_| BlobError::Integrity)?
        .len();
    if !(MIN_PAYLOAD_LEN..=MAX_PAYLOAD_LEN).contains(&payload_len) {
        return Err(BlobError::Integrity);
    }
    payload.truncate(payload_len);
    Ok(payload)
}
