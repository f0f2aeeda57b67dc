//! Mechanisms: typed parameters and the mechanism list of `C_GetMechanismList/Info`.

mod api;
pub(crate) mod crypto;

use cpv4_wire::consts::*;

use crate::error::{SimError, SimResult};

/// The parameters of `CKM_AES_GCM` (`CK_GCM_PARAMS`, parsed by the C module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcmParams {
    /// The IV; this simulator supports 12 bytes (96 bits).
    pub iv: Vec<u8>,
    /// Additional authenticated data.
    pub aad: Vec<u8>,
    /// Tag length in bits: 96, 104, 112, 120 or 128.
    pub tag_bits: CkUlong,
}

/// A mechanism with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mechanism {
    /// `CKM_AES_KEY_GEN`.
    AesKeyGen,
    /// `CKM_GENERIC_SECRET_KEY_GEN`.
    GenericSecretKeyGen,
    /// `CKM_EC_KEY_PAIR_GEN` (P-256 only).
    EcKeyPairGen,
    /// `CKM_AES_GCM`.
    AesGcm(GcmParams),
    /// `CKM_AES_CBC_PAD` with its 16-byte IV.
    AesCbcPad {
        /// The IV.
        iv: [u8; 16],
    },
    /// `CKM_ECDSA`: the input is a hash; the signature is `r || s`.
    Ecdsa,
    /// `CKM_ECDSA_SHA256`.
    EcdsaSha256,
    /// `CKM_SHA256_HMAC`.
    Sha256Hmac,
    /// `CKM_SHA256`.
    Sha256,
    /// `CKM_AES_KEY_WRAP_PAD` (RFC 5649).
    AesKeyWrapPad,
    /// `CKM_AES_KEY_WRAP_KWP` (RFC 5649, the PKCS#11 3.0 name).
    AesKeyWrapKwp,
}

impl Mechanism {
    /// The mechanism type (`CKM_*`).
    #[must_use]
    pub const fn mechanism_type(&self) -> CkMechanismType {
        match self {
            Self::AesKeyGen => CKM_AES_KEY_GEN,
            Self::GenericSecretKeyGen => CKM_GENERIC_SECRET_KEY_GEN,
            Self::EcKeyPairGen => CKM_EC_KEY_PAIR_GEN,
            Self::AesGcm(_) => CKM_AES_GCM,
            Self::AesCbcPad { .. } => CKM_AES_CBC_PAD,
            Self::Ecdsa => CKM_ECDSA,
            Self::EcdsaSha256 => CKM_ECDSA_SHA256,
            Self::Sha256Hmac => CKM_SHA256_HMAC,
            Self::Sha256 => CKM_SHA256,
            Self::AesKeyWrapPad => CKM_AES_KEY_WRAP_PAD,
            Self::AesKeyWrapKwp => CKM_AES_KEY_WRAP_KWP,
        }
    }

    /// The mechanism of a type that takes no parameter.
    ///
    /// # Errors
    ///
    /// [`SimError::MechanismParamInvalid`] for `CKM_AES_GCM` and `CKM_AES_CBC_PAD` (build
    /// those variants with their parameters), [`SimError::MechanismInvalid`] for a mechanism
    /// this simulator does not implement.
    pub const fn without_params(kind: CkMechanismType) -> SimResult<Self> {
        Ok(match kind {
            CKM_AES_KEY_GEN => Self::AesKeyGen,
            CKM_GENERIC_SECRET_KEY_GEN => Self::GenericSecretKeyGen,
            CKM_EC_KEY_PAIR_GEN => Self::EcKeyPairGen,
            CKM_ECDSA => Self::Ecdsa,
            CKM_ECDSA_SHA256 => Self::EcdsaSha256,
            CKM_SHA256_HMAC => Self::Sha256Hmac,
            CKM_SHA256 => Self::Sha256,
            CKM_AES_KEY_WRAP_PAD => Self::AesKeyWrapPad,
            CKM_AES_KEY_WRAP_KWP => Self::AesKeyWrapKwp,
            CKM_AES_GCM | CKM_AES_CBC_PAD => return Err(SimError::MechanismParamInvalid),
            _ => return Err(SimError::MechanismInvalid),
        })
    }
}

/// What `C_GetMechanismInfo` reports for one mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MechanismInfo {
    /// The mechanism type.
    pub mechanism: CkMechanismType,
    /// Smallest key size (bytes for AES and generic secrets, bits for EC).
    pub min_key_size: CkUlong,
    /// Largest key size, same unit.
    pub max_key_size: CkUlong,
    /// `CKF_*` mechanism flags.
    pub flags: CkFlags,
}

/// Largest generic secret (HMAC key) in bytes.
pub const MAX_GENERIC_SECRET_LEN: CkUlong = 512;

const EC_FLAGS: CkFlags = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;

/// Every mechanism the simulator implements, in `CKM_*` order.
pub const MECHANISMS: &[MechanismInfo] = &[
    MechanismInfo {
        mechanism: CKM_SHA256,
        min_key_size: 0,
        max_key_size: 0,
        flags: CKF_DIGEST,
    },
    MechanismInfo {
        mechanism: CKM_SHA256_HMAC,
        min_key_size: 1,
        max_key_size: MAX_GENERIC_SECRET_LEN,
        flags: CKF_SIGN | CKF_VERIFY,
    },
    MechanismInfo {
        mechanism: CKM_GENERIC_SECRET_KEY_GEN,
        min_key_size: 1,
        max_key_size: MAX_GENERIC_SECRET_LEN,
        flags: CKF_GENERATE,
    },
    MechanismInfo {
        mechanism: CKM_EC_KEY_PAIR_GEN,
        min_key_size: 256,
        max_key_size: 256,
        flags: CKF_GENERATE_KEY_PAIR | EC_FLAGS,
    },
    MechanismInfo {
        mechanism: CKM_ECDSA,
        min_key_size: 256,
        max_key_size: 256,
        flags: CKF_SIGN | CKF_VERIFY | EC_FLAGS,
    },
    MechanismInfo {
        mechanism: CKM_ECDSA_SHA256,
        min_key_size: 256,
        max_key_size: 256,
        flags: CKF_SIGN | CKF_VERIFY | EC_FLAGS,
    },
    MechanismInfo {
        mechanism: CKM_AES_KEY_GEN,
        min_key_size: 16,
        max_key_size: 32,
        flags: CKF_GENERATE,
    },
    MechanismInfo {
        mechanism: CKM_AES_CBC_PAD,
        min_key_size: 16,
        max_key_size: 32,
        flags: CKF_ENCRYPT | CKF_DECRYPT,
    },
    MechanismInfo {
        mechanism: CKM_AES_GCM,
        min_key_size: 16,
        max_key_size: 32,
        flags: CKF_ENCRYPT | CKF_DECRYPT,
    },
    MechanismInfo {
        mechanism: CKM_AES_KEY_WRAP_PAD,
        min_key_size: 16,
        max_key_size: 32,
        flags: CKF_WRAP | CKF_UNWRAP,
    },
    MechanismInfo {
        mechanism: CKM_AES_KEY_WRAP_KWP,
        min_key_size: 16,
        max_key_size: 32,
        flags: CKF_WRAP | CKF_UNWRAP,
    },
];

/// The information of one mechanism.
///
/// # Errors
///
/// [`SimError::MechanismInvalid`] if the simulator does not implement it.
pub fn mechanism_info(mechanism: CkMechanismType) -> SimResult<MechanismInfo> {
    MECHANISMS
        .iter()
        .find(|info| info.mechanism == mechanism)
        .copied()
        .ok_or(SimError::MechanismInvalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_mechanism_has_info_and_a_type() {
        for info in MECHANISMS {
            assert_eq!(mechanism_info(info.mechanism), Ok(*info));
        }
        assert_eq!(mechanism_info(0x4242), Err(SimError::MechanismInvalid));
        assert_eq!(
            Mechanism::without_params(CKM_SHA256).map(|m| m.mechanism_type()),
            Ok(CKM_SHA256)
        );
        assert_eq!(
            Mechanism::without_params(CKM_AES_GCM),
            Err(SimError::MechanismParamInvalid)
        );
    }
}
