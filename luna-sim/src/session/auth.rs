//! Roles and PINs: salted, stretched PIN hashes and the lockout rule.
//!
//! PINs are hashed with Argon2id, a 16-byte random salt, and deliberately cheap parameters
//! (256 KiB, one pass): this is a simulator whose development PINs are public, and every test
//! logs in many times. The stored form is `salt (16) || hash (32)`.

use argon2::{Algorithm, Argon2, Params, Version};
use cpv4_wire::consts::{CKU_CRYPTO_USER, CKU_SO, CKU_USER, CkUserType};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{SimError, SimResult};
use crate::store::keys::fill_random;

/// Shortest PIN accepted.
pub const MIN_PIN_LEN: usize = 4;
/// Longest PIN accepted.
pub const MAX_PIN_LEN: usize = 64;
/// Consecutive failed logins after which a role is locked (`CKR_PIN_LOCKED`).
pub const MAX_PIN_FAILURES: i64 = 10;

const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;
const ARGON2_M_KIB: u32 = 256;
const ARGON2_T: u32 = 1;

/// A partition role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The Partition Security Officer (`CKU_SO`).
    So,
    /// The Crypto Officer (`CKU_USER`).
    CryptoOfficer,
    /// The Crypto User (`CKU_CRYPTO_USER`): may use keys, not create or change them.
    CryptoUser,
}

impl Role {
    /// The role of a PKCS#11 user type.
    ///
    /// # Errors
    ///
    /// [`SimError::UserTypeInvalid`] for any other user type.
    pub const fn from_user_type(user: CkUserType) -> SimResult<Self> {
        match user {
            CKU_SO => Ok(Self::So),
            CKU_USER => Ok(Self::CryptoOfficer),
            CKU_CRYPTO_USER => Ok(Self::CryptoUser),
            _ => Err(SimError::UserTypeInvalid),
        }
    }

    /// The PKCS#11 user type.
    #[must_use]
    pub const fn user_type(self) -> CkUserType {
        match self {
            Self::So => CKU_SO,
            Self::CryptoOfficer => CKU_USER,
            Self::CryptoUser => CKU_CRYPTO_USER,
        }
    }

    /// The role's code in the store.
    pub(crate) const fn code(self) -> i64 {
        match self {
            Self::So => 0,
            Self::CryptoOfficer => 1,
            Self::CryptoUser => 2,
        }
    }

    /// Whether the role may see and use private objects.
    pub(crate) const fn is_user(self) -> bool {
        matches!(self, Self::CryptoOfficer | Self::CryptoUser)
    }
}

fn argon2() -> SimResult<Argon2<'static>> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, 1, Some(HASH_LEN))
        .map_err(|_| SimError::Internal("argon2 parameters"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks a new PIN's length.
pub(crate) fn check_pin_len(pin: &[u8]) -> SimResult<()> {
    if (MIN_PIN_LEN..=MAX_PIN_LEN).contains(&pin.len()) {
        Ok(())
    } else {
        Err(SimError::PinLenRange)
    }
}

/// Hashes a PIN with a fresh salt.
pub(crate) fn hash_pin(pin: &[u8]) -> SimResult<Vec<u8>> {
    check_pin_len(pin)?;
    let mut salt = [0u8; SALT_LEN];
    fill_random(&mut salt)?;
    let mut hash = Zeroizing::new([0u8; HASH_LEN]);
    argon2()?
        .hash_password_into(pin, &salt, hash.as_mut())
        .map_err(|_| SimError::Internal("argon2"))?;
    let mut out = salt.to_vec();
    out.extend_from_slice(hash.as_ref());
    Ok(out)
}

/// Whether `pin` matches a stored hash (constant-time comparison).
pub(crate) fn verify_pin(stored: &[u8], pin: &[u8]) -> SimResult<bool> {
    if stored.len() != SALT_LEN + HASH_LEN {
        return Err(SimError::Corrupt("PIN hash has a bad length".into()));
    }
    let (salt, expected) = stored.split_at(SALT_LEN);
    let mut hash = Zeroizing::new([0u8; HASH_LEN]);
    argon2()?
        .hash_password_into(pin, salt, hash.as_mut())
        .map_err(|_| SimError::Internal("argon2"))?;
    Ok(hash.as_ref().ct_eq(expected).into())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    #[test]
    fn pin_hashes_are_salted_and_verify() {
        let a = hash_pin(b"co-pin").unwrap();
        let b = hash_pin(b"co-pin").unwrap();
        assert_ne!(a, b);
        assert!(verify_pin(&a, b"co-pin").unwrap());
        assert!(!verify_pin(&a, b"co-pim").unwrap());
        assert_eq!(hash_pin(b"abc"), Err(SimError::PinLenRange));
    }

    #[test]
    fn user_types_map_to_roles() {
        assert_eq!(Role::from_user_type(CKU_CRYPTO_USER), Ok(Role::CryptoUser));
        assert_eq!(Role::from_user_type(2), Err(SimError::UserTypeInvalid));
        assert_eq!(Role::So.user_type(), CKU_SO);
    }
}
