//! Cloning-domain pre-shared keys.
//!
//! A domain's PSK is derived once, when the domain is added, from its KCV (the domain secret)
//! with a deliberately slow function, Argon2id, so that a PSK id or LEET tag captured from an
//! Offer gives no cheap dictionary attack on a typed domain secret. Offers carry either the
//! [`psk_id`](DomainPsk::psk_id) (the same in every session) or a per-session
//! [`leet_tag`](DomainPsk::leet_tag) (unlinkable across sessions).

use core::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::secret::{Secret32, hmac_sha256, to_array};

/// Argon2id memory cost in KiB (19 MiB).
pub const ARGON2_M_COST_KIB: u32 = 19_456;
/// Argon2id number of passes.
pub const ARGON2_T_COST: u32 = 2;
/// Argon2id parallelism.
pub const ARGON2_P_COST: u32 = 1;
/// Fixed Argon2id salt (the PSK must be the same on every HSM of the domain).
pub const ARGON2_SALT: &[u8; 16] = b"cpv4-domain-psk1";
/// HMAC message of the PSK id.
pub const PSK_ID_LABEL: &[u8] = b"cpv4 psk id";
/// HMAC message prefix of a LEET tag (followed by the initiator nonce).
pub const LEET_LABEL: &[u8] = b"cpv4 leet";
/// Length of a PSK id in bytes.
pub const PSK_ID_LEN: usize = 16;

/// Errors of PSK derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PskError {
    /// The KCV is empty.
    #[error("the domain KCV is empty")]
    EmptyKcv,
    /// Argon2 refused the input (a KCV longer than 2^32 - 1 bytes) or could not run.
    #[error("Argon2id failed: {0}")]
    Kdf(argon2::Error),
}

/// A cloning domain's 32-byte PSK, mixed into the key schedule. Wiped on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct DomainPsk(Secret32);

impl DomainPsk {
    /// Derives the PSK from a domain KCV with Argon2id (m = 19456 KiB, t = 2, p = 1, salt
    /// [`ARGON2_SALT`], 32-byte output). Slow on purpose: about 19 MiB and tens of milliseconds
    /// in an optimised build.
    ///
    /// # Errors
    ///
    /// [`PskError::EmptyKcv`] for an empty KCV, [`PskError::Kdf`] if Argon2 fails.
    pub fn derive(kcv: &[u8]) -> Result<Self, PskError> {
        if kcv.is_empty() {
            return Err(PskError::EmptyKcv);
        }
        let params = Params::new(
            ARGON2_M_COST_KIB,
            ARGON2_T_COST,
            ARGON2_P_COST,
            Some(Secret32::LEN),
        )
        .map_err(PskError::Kdf)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut out = [0u8; 32];
        let result = argon.hash_password_into(kcv, ARGON2_SALT, &mut out);
        let psk = Self(Secret32::from_bytes(out));
        out.zeroize();
        result.map_err(PskError::Kdf)?;
        Ok(psk)
    }

    /// Restores a stored PSK.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Secret32::from_bytes(bytes))
    }

    /// The PSK bytes, for encrypted storage.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }

    /// The domain's PSK id: the first 16 bytes of HMAC-SHA256(psk, "cpv4 psk id").
    #[must_use]
    pub fn psk_id(&self) -> [u8; PSK_ID_LEN] {
        to_array(&hmac_sha256(self.as_bytes(), &[PSK_ID_LABEL]))
    }

    /// Whether `id` is this domain's PSK id (constant time).
    #[must_use]
    pub fn matches_psk_id(&self, id: &[u8; PSK_ID_LEN]) -> bool {
        self.psk_id().ct_eq(id).into()
    }

    /// The LEET tag for an Offer: HMAC-SHA256(psk, "cpv4 leet" || nonce_i).
    #[must_use]
    pub fn leet_tag(&self, nonce_i: &[u8; 32]) -> [u8; 32] {
        hmac_sha256(self.as_bytes(), &[LEET_LABEL, nonce_i])
    }

    /// Whether `tag` is this domain's LEET tag for `nonce_i` (constant time).
    #[must_use]
    pub fn matches_leet_tag(&self, nonce_i: &[u8; 32], tag: &[u8; 32]) -> bool {
        self.leet_tag(nonce_i).ct_eq(tag).into()
    }
}

impl fmt::Debug for DomainPsk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DomainPsk([REDACTED])")
    }
}
