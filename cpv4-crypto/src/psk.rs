//! Cloning-domain pre-shared keys.
//!
//! A domain's PSK is derived once, when the domain is added, from its KCV (the domain secret)
//! with a deliberately slow function, Argon2id, so that a PSK id or LEET tag captured from an
//! Offer gives no cheap dictionary attack on a typed domain secret. Offers carry either the
//! [`psk_id`](DomainPsk::psk_id) (the same in every session) or a per-session
//! [`leet_tag`](DomainPsk::leet_tag) (unlinkable across sessions).

use core::fmt::{self, Write as _};

use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::CryptoRng;
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::secret::{Secret32, hmac_sha256, to_array};

/// Argon2id memory cost in KiB of [`DomainParams::CURRENT`] (64 MiB).
pub const ARGON2_M_COST_KIB: u32 = 65_536;
/// Argon2id number of passes of [`DomainParams::CURRENT`].
pub const ARGON2_T_COST: u32 = 3;
/// Argon2id parallelism of [`DomainParams::CURRENT`].
pub const ARGON2_P_COST: u32 = 1;
/// Argon2id salt of [`DomainParams::CURRENT`]. It is fixed because every partition of a
/// domain must derive the same PSK from the typed secret alone (on Luna the secret is the only
/// value the partitions share); see `docs/protocol.md`, section 5, for what that lets an
/// offline attacker do.
pub const ARGON2_SALT: &[u8; 16] = b"cpv4-domain-psk2";
/// The parameters of protocol version 1 (m = 19 MiB, t = 2, salt "cpv4-domain-psk1"), kept so
/// that a domain derived with them can be re-derived.
pub const V1_PARAMS: DomainParams = DomainParams {
    m_cost_kib: 19_456,
    t_cost: 2,
    p_cost: 1,
    salt: *b"cpv4-domain-psk1",
};
/// Secrets shorter than this many bytes are flagged as guessable by [`weak_secret`].
pub const MIN_STRONG_SECRET_LEN: usize = 16;
/// Length of a domain secret made by [`DomainPsk::generate_secret`]: 32 random bytes, shown as
/// 64 hexadecimal characters (typed secrets may have up to 128).
pub const GENERATED_SECRET_LEN: usize = 32;
/// HMAC message prefix of an Offer's PSK binder (followed by SHA-256 of the binder input).
pub const BINDER_LABEL: &[u8] = b"cpv4 offer binder";
/// HMAC message of the PSK id.
pub const PSK_ID_LABEL: &[u8] = b"cpv4 psk id";
/// HMAC message prefix of a LEET tag (followed by the initiator nonce).
pub const LEET_LABEL: &[u8] = b"cpv4 leet";
/// Length of a PSK id in bytes.
pub const PSK_ID_LEN: usize = 16;

/// How a domain's PSK is derived from its secret: stored with the domain, so a later release
/// can raise the cost for new domains while existing domains keep theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainParams {
    /// Argon2id memory cost in KiB.
    pub m_cost_kib: u32,
    /// Argon2id passes.
    pub t_cost: u32,
    /// Argon2id parallelism.
    pub p_cost: u32,
    /// Argon2id salt.
    pub salt: [u8; 16],
}

impl DomainParams {
    /// The parameters new domains get: Argon2id, m = 64 MiB, t = 3, p = 1 (more than three
    /// times the OWASP minimum of m = 19 MiB, t = 2), salt [`ARGON2_SALT`].
    pub const CURRENT: Self = Self {
        m_cost_kib: ARGON2_M_COST_KIB,
        t_cost: ARGON2_T_COST,
        p_cost: ARGON2_P_COST,
        salt: *ARGON2_SALT,
    };

    /// Length of [`DomainParams::to_bytes`].
    pub const ENCODED_LEN: usize = 1 + 12 + 16;
    const FORMAT: u8 = 1;

    /// A fixed-size encoding for storage: format 1, the three costs (big-endian u32), the salt.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        let fields = [self.m_cost_kib, self.t_cost, self.p_cost];
        let mut bytes = vec![Self::FORMAT];
        fields
            .iter()
            .for_each(|value| bytes.extend_from_slice(&value.to_be_bytes()));
        bytes.extend_from_slice(&self.salt);
        out.copy_from_slice(&bytes);
        out
    }

    /// Decodes [`DomainParams::to_bytes`]; `None` for another length, format or invalid costs.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (&format, rest) = bytes.split_first()?;
        if format != Self::FORMAT || rest.len() != Self::ENCODED_LEN - 1 {
            return None;
        }
        let (costs, salt) = rest.split_at(12);
        let word = |i: usize| -> Option<u32> {
            Some(u32::from_be_bytes(
                costs.get(i * 4..i * 4 + 4)?.try_into().ok()?,
            ))
        };
        let params = Self {
            m_cost_kib: word(0)?,
            t_cost: word(1)?,
            p_cost: word(2)?,
            salt: salt.try_into().ok()?,
        };
        params.argon2_params().ok()?;
        Some(params)
    }

    fn argon2_params(&self) -> Result<Params, argon2::Error> {
        Params::new(
            self.m_cost_kib,
            self.t_cost,
            self.p_cost,
            Some(Secret32::LEN),
        )
    }
}

impl Default for DomainParams {
    fn default() -> Self {
        Self::CURRENT
    }
}

/// Why a typed domain secret is easy to guess, if it is: shorter than
/// [`MIN_STRONG_SECRET_LEN`] bytes. Such secrets are accepted (Luna takes 1 to 128
/// characters), but tools should warn: a captured Offer lets an attacker test guesses offline
/// at the cost of one Argon2id per guess (`docs/protocol.md`, section 5).
#[must_use]
pub fn weak_secret(kcv: &[u8]) -> Option<&'static str> {
    (kcv.len() < MIN_STRONG_SECRET_LEN).then_some(
        "the domain secret is shorter than 16 bytes: an attacker holding one captured Offer can \
         test guesses offline; prefer a generated secret",
    )
}

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
    /// Derives the PSK from a domain KCV with [`DomainParams::CURRENT`].
    ///
    /// # Errors
    ///
    /// [`PskError::EmptyKcv`] for an empty KCV, [`PskError::Kdf`] if Argon2 fails.
    pub fn derive(kcv: &[u8]) -> Result<Self, PskError> {
        Self::derive_with(kcv, &DomainParams::CURRENT)
    }

    /// Derives the PSK from a domain KCV with Argon2id (version 0x13, 32-byte output) under
    /// `params`. Slow on purpose: with the current parameters, 64 MiB and a few hundred
    /// milliseconds in an optimised build. It runs once, when the domain is added.
    ///
    /// # Errors
    ///
    /// [`PskError::EmptyKcv`] for an empty KCV, [`PskError::Kdf`] if Argon2 fails or refuses
    /// the parameters.
    pub fn derive_with(kcv: &[u8], params: &DomainParams) -> Result<Self, PskError> {
        if kcv.is_empty() {
            return Err(PskError::EmptyKcv);
        }
        let argon = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            params.argon2_params().map_err(PskError::Kdf)?,
        );
        let mut out = [0u8; 32];
        let result = argon.hash_password_into(kcv, &params.salt, &mut out);
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

    /// The binder of an Offer entry naming this domain: HMAC-SHA256(psk, "cpv4 offer binder"
    /// || SHA-256(binder input)), where the binder input is the Offer with an empty binder
    /// list.
    #[must_use]
    pub fn binder(&self, binder_input_hash: &[u8; 32]) -> [u8; 32] {
        hmac_sha256(self.as_bytes(), &[BINDER_LABEL, binder_input_hash])
    }

    /// Whether `binder` is this domain's binder for the Offer (constant time).
    #[must_use]
    pub fn binder_matches(&self, binder_input_hash: &[u8; 32], binder: &[u8; 32]) -> Choice {
        self.binder(binder_input_hash).ct_eq(binder)
    }

    /// Whether `id` is this domain's PSK id, as a [`Choice`] for constant-time selection.
    #[must_use]
    pub fn psk_id_choice(&self, id: &[u8; PSK_ID_LEN]) -> Choice {
        self.psk_id().ct_eq(id)
    }

    /// Whether `tag` is this domain's LEET tag for `nonce_i`, as a [`Choice`].
    #[must_use]
    pub fn leet_tag_choice(&self, nonce_i: &[u8; 32], tag: &[u8; 32]) -> Choice {
        self.leet_tag(nonce_i).ct_eq(tag)
    }

    /// A random, high-entropy domain secret: [`GENERATED_SECRET_LEN`] random bytes as lower-case
    /// hexadecimal text (64 characters, within Luna's 1 to 128), so it can be typed or pasted
    /// on every partition of the domain.
    pub fn generate_secret<R: CryptoRng + ?Sized>(rng: &mut R) -> Zeroizing<String> {
        let bytes = Secret32::generate(rng);
        let mut text = Zeroizing::new(String::with_capacity(2 * GENERATED_SECRET_LEN));
        for byte in bytes.expose_secret() {
            // The capacity is reserved above, so the text is never reallocated (no stray copy).
            let _ = write!(text, "{byte:02x}");
        }
        text
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
