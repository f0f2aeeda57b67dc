//! The CPv4 key schedule.
//!
//! ```text
//! ikm = shared_secret (32 B) || psk (32 B)
//! prk = HKDF-Extract(salt = nonce_i (32 B) || nonce_r (32 B), ikm)
//! key = HKDF-Expand(prk, info = label || transcript_hash, 32)
//! ```
//!
//! with the negotiated [`Kdf`] (HKDF over SHA-256 or SHA-384) and one label per key
//! ([`LABEL_CONFIRM_INITIATOR`], [`LABEL_CONFIRM_RESPONDER`], [`LABEL_INITIATOR_TO_RESPONDER`],
//! [`LABEL_RESPONDER_TO_INITIATOR`]). Key confirmation is HMAC-SHA256 under a confirmation key
//! ([`confirmation_mac`]).

use core::fmt;

use hkdf::Hkdf;
use hmac::EagerHash;
use sha2::{Sha256, Sha384};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::ecdh::SharedSecret;
use crate::psk::DomainPsk;
use crate::secret::{Secret32, hmac_sha256, to_array};

/// HKDF-Expand label of the initiator's confirmation key.
pub const LABEL_CONFIRM_INITIATOR: &[u8] = b"cpv4 confirm initiator";
/// HKDF-Expand label of the responder's confirmation key.
pub const LABEL_CONFIRM_RESPONDER: &[u8] = b"cpv4 confirm responder";
/// HKDF-Expand label of the initiator-to-responder blob key.
pub const LABEL_INITIATOR_TO_RESPONDER: &[u8] = b"cpv4 key initiator to responder";
/// HKDF-Expand label of the responder-to-initiator blob key.
pub const LABEL_RESPONDER_TO_INITIATOR: &[u8] = b"cpv4 key responder to initiator";

/// A key-derivation function that the two sides can negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum Kdf {
    /// HKDF with HMAC-SHA256 (RFC 5869).
    HkdfSha256 = 1,
    /// HKDF with HMAC-SHA384 (RFC 5869).
    HkdfSha384 = 2,
}

impl Kdf {
    /// Every supported KDF, strongest first (the order of preference).
    pub const ALL: [Self; 2] = [Self::HkdfSha384, Self::HkdfSha256];

    /// The KDF with wire identifier `id`, if supported.
    #[must_use]
    pub const fn from_id(id: u32) -> Option<Self> {
        match id {
            1 => Some(Self::HkdfSha256),
            2 => Some(Self::HkdfSha384),
            _ => None,
        }
    }

    /// The wire identifier.
    #[must_use]
    pub const fn id(self) -> u32 {
        self as u32
    }
}

/// Errors of the key schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ScheduleError {
    /// HKDF-Expand refused the output length. Cannot happen with the fixed 32-byte keys (the
    /// limit is 255 hash lengths); kept so that the code has no panicking path.
    #[error("HKDF-Expand output length refused")]
    Expand,
}

/// The four session keys. Wiped on drop; `Debug` prints no key.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SessionKeys {
    /// Key of the initiator's key-confirmation MAC.
    pub confirm_initiator: Secret32,
    /// Key of the responder's key-confirmation MAC.
    pub confirm_responder: Secret32,
    /// Blob key for the initiator-to-responder direction.
    pub initiator_to_responder: Secret32,
    /// Blob key for the responder-to-initiator direction.
    pub responder_to_initiator: Secret32,
}

impl SessionKeys {
    /// Length of [`to_bytes`](Self::to_bytes)' output: the four keys in field order.
    pub const SERIALIZED_LEN: usize = 4 * Secret32::LEN;

    /// Runs the key schedule.
    ///
    /// # Errors
    ///
    /// [`ScheduleError::Expand`], which cannot happen (see there).
    pub fn derive(
        kdf: Kdf,
        shared_secret: &SharedSecret,
        psk: &DomainPsk,
        nonce_i: &[u8; 32],
        nonce_r: &[u8; 32],
        transcript_hash: &[u8; 32],
    ) -> Result<Self, ScheduleError> {
        let mut ikm = Zeroizing::new([0u8; 64]);
        // The salt is the two public nonces: nothing to wipe.
        let mut salt = [0u8; 64];
        let (ikm_ss, ikm_psk) = ikm.split_at_mut(32);
        ikm_ss.copy_from_slice(shared_secret.expose_secret());
        ikm_psk.copy_from_slice(psk.as_bytes());
        let (salt_i, salt_r) = salt.split_at_mut(32);
        salt_i.copy_from_slice(nonce_i);
        salt_r.copy_from_slice(nonce_r);
        match kdf {
            Kdf::HkdfSha256 => derive_with::<Sha256>(&salt, &ikm[..], transcript_hash),
            Kdf::HkdfSha384 => derive_with::<Sha384>(&salt, &ikm[..], transcript_hash),
        }
    }

    /// Serializes the four keys (confirm initiator, confirm responder, initiator to responder,
    /// responder to initiator), for encrypted persistence.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<[u8; Self::SERIALIZED_LEN]> {
        let mut out = Zeroizing::new([0u8; Self::SERIALIZED_LEN]);
        let keys = [
            &self.confirm_initiator,
            &self.confirm_responder,
            &self.initiator_to_responder,
            &self.responder_to_initiator,
        ];
        for (chunk, key) in out.chunks_exact_mut(Secret32::LEN).zip(keys) {
            chunk.copy_from_slice(key.expose_secret());
        }
        out
    }

    /// Restores keys serialized by [`to_bytes`](Self::to_bytes).
    #[must_use]
    pub fn from_bytes(bytes: &[u8; Self::SERIALIZED_LEN]) -> Self {
        // why: each key goes from `bytes` straight into its `Secret32`. Destructuring a
        // `Zeroizing<[[u8; 32]; 4]>` copied the four keys into plain locals that were never
        // wiped (only the `Zeroizing` original was).
        let key = |i: usize| {
            let chunk = bytes.get(i * Secret32::LEN..(i + 1) * Secret32::LEN);
            Secret32::from_bytes(to_array(chunk.unwrap_or_default()))
        };
        Self {
            confirm_initiator: key(0),
            confirm_responder: key(1),
            initiator_to_responder: key(2),
            responder_to_initiator: key(3),
        }
    }

    /// Restores keys from a slice; `None` unless it is [`SERIALIZED_LEN`](Self::SERIALIZED_LEN)
    /// bytes long.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: &[u8; Self::SERIALIZED_LEN] = bytes.try_into().ok()?;
        Some(Self::from_bytes(array))
    }
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKeys { .. }")
    }
}

fn derive_with<H: EagerHash>(
    salt: &[u8; 64],
    ikm: &[u8],
    transcript_hash: &[u8; 32],
) -> Result<SessionKeys, ScheduleError> {
    // why: `Hkdf::new` is `extract` with the PRK thrown away as a plain array, unwiped; take
    // it here and wipe it. `hk` itself (HMAC states keyed by the PRK) is wiped on drop by
    // `sha2`'s `zeroize` feature. Not reachable from here: `hkdf` 0.13 keeps each HMAC output
    // block of `expand_multi_info` (the OKM, and for SHA-384 its unused 16 bytes) in unwiped
    // locals.
    let (prk, hk) = Hkdf::<H>::extract(Some(salt), ikm);
    drop(Zeroizing::new(prk));
    let expand = |label: &[u8]| -> Result<Secret32, ScheduleError> {
        let mut okm = Zeroizing::new([0u8; 32]);
        expand_into(&hk, &[label, transcript_hash], &mut okm[..])?;
        Ok(Secret32::from_bytes(*okm))
    };
    Ok(SessionKeys {
        confirm_initiator: expand(LABEL_CONFIRM_INITIATOR)?,
        confirm_responder: expand(LABEL_CONFIRM_RESPONDER)?,
        initiator_to_responder: expand(LABEL_INITIATOR_TO_RESPONDER)?,
        responder_to_initiator: expand(LABEL_RESPONDER_TO_INITIATOR)?,
    })
}

/// HKDF-Expand of the concatenated `info` parts into `okm`.
fn expand_into<H: EagerHash>(
    hk: &Hkdf<H>,
    info: &[&[u8]],
    okm: &mut [u8],
) -> Result<(), ScheduleError> {
    hk.expand_multi_info(info, okm)
        .map_err(|_| ScheduleError::Expand)
}

/// The key-confirmation MAC: HMAC-SHA256(`key`, `data`).
#[must_use]
pub fn confirmation_mac(key: &Secret32, data: &[u8]) -> [u8; 32] {
    hmac_sha256(key.expose_secret(), &[data])
}

/// Checks a key-confirmation MAC in constant time.
#[must_use]
pub fn verify_confirmation_mac(key: &Secret32, data: &[u8], mac: &[u8; 32]) -> bool {
    confirmation_mac(key, data).ct_eq(mac).into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 5869 appendix A, test cases 1 to 3 (HKDF-SHA256), through the extract and expand
    /// calls that the key schedule makes.
    #[test]
    fn rfc5869_sha256_cases_1_to_3() {
        let cases = [
            (
                "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
                "000102030405060708090a0b0c",
                "f0f1f2f3f4f5f6f7f8f9",
                "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf\
                 34007208d5b887185865",
            ),
            (
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
                 202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\
                 404142434445464748494a4b4c4d4e4f",
                "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f\
                 808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f\
                 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
                "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf\
                 d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef\
                 f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
                "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
                "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c\
                 59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71\
                 cc30c58179ec3e87c14c01d5c1f3434f1d87",
            ),
            (
                "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
                "",
                "",
                "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
                "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d\
                 9d201395faa4b61a96c8",
            ),
        ];
        for (ikm, salt, info, prk, okm) in cases {
            let (ikm, salt, info) = (unhex(ikm), unhex(salt), unhex(info));
            let (prk_out, hk) = Hkdf::<Sha256>::extract(Some(&salt), &ikm);
            assert_eq!(prk_out.as_slice(), unhex(prk).as_slice());
            let expected = unhex(&okm.replace(' ', ""));
            let mut out = vec![0u8; expected.len()];
            // Split the info in two parts, as the schedule passes label and hash separately.
            let (a, b) = info.split_at(info.len() / 2);
            expand_into(&hk, &[a, b], &mut out).unwrap();
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn expand_refuses_too_long_output() {
        let hk = Hkdf::<Sha256>::new(None, b"ikm");
        let mut out = vec![0u8; 255 * 32 + 1];
        assert_eq!(
            expand_into(&hk, &[b"x"], &mut out),
            Err(ScheduleError::Expand)
        );
    }
}
