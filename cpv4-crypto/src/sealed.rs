//! Sealing of persisted protocol state: a record is encrypted and authenticated whole under a
//! device's storage key, with the record's identity as associated data, so a stored record can
//! be neither read nor changed, nor moved to another identity, without the key.
//!
//! ```text
//! sealed  := nonce (12 random bytes) || AES-256-GCM(k_state, nonce, plaintext, aad = identity)
//! k_state := HKDF-SHA256(ikm = storage key, salt = none, info = "cpv4 sealed state")
//! ```
//!
//! The state key is derived from the storage key (never used as is), so the same storage key
//! can serve other purposes of a device without two uses sharing a key.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::Secret32;

/// HKDF info of the state key.
pub const STATE_KEY_LABEL: &[u8] = b"cpv4 sealed state";
/// Length of the random nonce that starts a sealed record.
pub const NONCE_LEN: usize = 12;
/// Length of the GCM tag that ends a sealed record.
pub const TAG_LEN: usize = 16;

/// Why a sealed record could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The record was changed, belongs to another identity, or was sealed under another key.
    #[error("the sealed record does not authenticate")]
    Unauthentic,
    /// The record is shorter than a nonce and a tag.
    #[error("the sealed record is truncated")]
    Truncated,
    /// The cipher refused the input (longer than GCM allows).
    #[error("the record cannot be sealed")]
    TooLarge,
}

fn cipher(storage_key: &Secret32) -> Aes256Gcm {
    let mut key = Zeroizing::new([0u8; 32]);
    // A 32-byte output is far below HKDF-SHA256's limit: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, storage_key.expose_secret())
        .expand(STATE_KEY_LABEL, key.as_mut());
    Aes256Gcm::new(&(*key).into())
}

/// The length of the sealed form of a `plaintext_len`-byte record.
#[must_use]
pub const fn sealed_len(plaintext_len: usize) -> usize {
    NONCE_LEN + plaintext_len + TAG_LEN
}

/// Seals `plaintext` for `identity` under `storage_key`, with a fresh nonce from `rng`.
///
/// # Errors
///
/// [`SealError::TooLarge`] if the cipher refuses the input.
pub fn seal<R: CryptoRng + ?Sized>(
    storage_key: &Secret32,
    identity: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let body = cipher(storage_key)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: identity,
            },
        )
        .map_err(|_| SealError::TooLarge)?;
    Ok([&nonce[..], &body].concat())
}

/// Opens a record sealed by [`seal`] for the same `identity` and `storage_key`.
///
/// # Errors
///
/// [`SealError::Truncated`] for an input shorter than a nonce and a tag,
/// [`SealError::Unauthentic`] for anything that does not authenticate.
pub fn open(
    storage_key: &Secret32,
    identity: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::Truncated);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Truncated)?;
    cipher(storage_key)
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: body,
                aad: identity,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| SealError::Unauthentic)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn a_record_opens_only_unchanged_under_its_identity_and_key() {
        let key = Secret32::from_bytes([3; 32]);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let sealed = seal(&key, b"session 1", b"record bytes", &mut rng).unwrap();
        assert_eq!(sealed.len(), sealed_len(12));
        assert_eq!(
            open(&key, b"session 1", &sealed).unwrap().as_slice(),
            b"record bytes"
        );
        assert_eq!(
            open(&key, b"session 2", &sealed),
            Err(SealError::Unauthentic)
        );
        let other = Secret32::from_bytes([4; 32]);
        assert_eq!(
            open(&other, b"session 1", &sealed),
            Err(SealError::Unauthentic)
        );
        for i in 0..sealed.len() * 8 {
            let mut flipped = sealed.clone();
            flipped[i / 8] ^= 1 << (i % 8);
            assert_eq!(
                open(&key, b"session 1", &flipped),
                Err(SealError::Unauthentic)
            );
        }
        assert_eq!(
            open(&key, b"session 1", &sealed[..27]),
            Err(SealError::Truncated)
        );
    }
}
