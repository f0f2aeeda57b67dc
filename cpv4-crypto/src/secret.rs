//! A fixed-size zeroizing secret and small helpers shared by the other modules.

use core::fmt;

use hmac::digest::Key;
use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A 32-byte secret (a key, a PSK, a shared secret).
///
/// The bytes are wiped when the value is dropped, `Debug` never prints them, and equality is
/// decided in constant time.
///
/// ```
/// use cpv4_crypto::Secret32;
///
/// let key = Secret32::from_bytes([7; 32]);
/// assert_eq!(format!("{key:?}"), "Secret32([REDACTED])");
/// assert_eq!(key.expose_secret(), &[7; 32]);
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret32([u8; 32]);

impl Secret32 {
    /// Length of the secret in bytes.
    pub const LEN: usize = 32;

    /// Wraps `bytes`. The caller's copy is not wiped: pass a value it no longer needs.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Copies a 32-byte slice; `None` when `bytes` has another length.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(array))
    }

    /// Draws a fresh random secret from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Borrows the secret bytes.
    #[must_use]
    pub const fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for Secret32 {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret32([REDACTED])")
    }
}

impl ConstantTimeEq for Secret32 {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for Secret32 {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for Secret32 {}

/// HMAC-SHA256 under a 32-byte key over the concatenation of `parts`.
///
/// The key is zero-padded to the 64-byte block, which is exactly what HMAC does with a short
/// key (RFC 2104), so this uses the infallible `KeyInit::new`.
///
/// The MAC state (the key-dependent inner and outer SHA-256 states and the block buffer) is
/// wiped when `mac` is dropped: `sha2`'s `zeroize` feature wipes `Sha256VarCore` on drop and
/// `block-buffer`'s (enabled by `hmac/zeroize` through `digest/zeroize`) wipes the buffer.
/// Not reachable from here: `hmac` 0.13's `HmacCore::new_from_slice` XORs the key with the
/// pads in a local block that it does not wipe.
pub(crate) fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    // why: the padded key is built in place in the very `Key` array that `KeyInit::new`
    // borrows; converting a `[u8; 64]` with `.into()` made a second, unwiped copy.
    let mut block = Zeroizing::new(Key::<Hmac<Sha256>>::default());
    for (dst, src) in block.iter_mut().zip(key.iter()) {
        *dst = *src;
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Copies `src` into a fixed-size array, zero-filling or truncating; used only where the length
/// is known from the type that produced `src`.
pub(crate) fn to_array<const N: usize>(src: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (dst, byte) in out.iter_mut().zip(src) {
        *dst = *byte;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn padded_key_hmac_equals_plain_hmac() {
        let key = [0x5au8; 32];
        let ours = hmac_sha256(&key, &[b"ab", b"c"]);
        let mut plain = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        plain.update(b"abc");
        let expected: [u8; 32] = plain.finalize().into_bytes().into();
        assert_eq!(ours, expected);
    }

    #[test]
    fn rfc4231_case_1_through_helper_shape() {
        // RFC 4231 test case 1 uses a 20-byte key; padding it with zeros to 32 bytes gives the
        // same HMAC (both are zero-padded to the block), so the helper reproduces the vector.
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        let tag = hmac_sha256(&key, &[b"Hi There"]);
        assert_eq!(
            hex(&tag),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn secret_debug_is_redacted_and_eq_works() {
        let a = Secret32::from_bytes([0xab; 32]);
        let b = Secret32::from_slice(&[0xab; 32]).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, Secret32::from_bytes([0xac; 32]));
        assert!(Secret32::from_slice(&[0; 31]).is_none());
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("ab"), "{dbg}");
        assert!(!dbg.contains("171"), "{dbg}");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
