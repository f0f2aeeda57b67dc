//! The SHA family PKCS#11 mechanisms name: one enum for the five hashes, the mechanism types
//! of each family built on them (digest, HMAC, ECDSA, RSA PKCS #1 v1.5 and PSS), MGF1 names,
//! and a streaming digest.

use cpv4_wire::consts::*;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

/// A hash of the SHA family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-1.
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// Runs `$body` with the type alias `$d` bound to the `digest` type of `$alg`.
macro_rules! with_hash {
    ($alg:expr, $d:ident => $body:expr) => {
        match $alg {
            $crate::mechanisms::HashAlg::Sha1 => {
                type $d = sha1::Sha1;
                $body
            }
            $crate::mechanisms::HashAlg::Sha224 => {
                type $d = sha2::Sha224;
                $body
            }
            $crate::mechanisms::HashAlg::Sha256 => {
                type $d = sha2::Sha256;
                $body
            }
            $crate::mechanisms::HashAlg::Sha384 => {
                type $d = sha2::Sha384;
                $body
            }
            $crate::mechanisms::HashAlg::Sha512 => {
                type $d = sha2::Sha512;
                $body
            }
        }
    };
}
pub(crate) use with_hash;

impl HashAlg {
    /// Every hash, in PKCS#11's order.
    pub const ALL: [Self; 5] = [
        Self::Sha1,
        Self::Sha224,
        Self::Sha256,
        Self::Sha384,
        Self::Sha512,
    ];

    /// The output length in bytes.
    #[must_use]
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha224 => 28,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The digest mechanism (`CKM_SHA256`...), also the `hashAlg` of PSS and OAEP parameters.
    #[must_use]
    pub const fn digest_mechanism(self) -> CkMechanismType {
        match self {
            Self::Sha1 => CKM_SHA_1,
            Self::Sha224 => CKM_SHA224,
            Self::Sha256 => CKM_SHA256,
            Self::Sha384 => CKM_SHA384,
            Self::Sha512 => CKM_SHA512,
        }
    }

    /// The HMAC mechanism (`CKM_SHA256_HMAC`...).
    #[must_use]
    pub const fn hmac_mechanism(self) -> CkMechanismType {
        match self {
            Self::Sha1 => CKM_SHA_1_HMAC,
            Self::Sha224 => CKM_SHA224_HMAC,
            Self::Sha256 => CKM_SHA256_HMAC,
            Self::Sha384 => CKM_SHA384_HMAC,
            Self::Sha512 => CKM_SHA512_HMAC,
        }
    }

    /// The HMAC mechanism with a chosen length (`CKM_SHA256_HMAC_GENERAL`...).
    #[must_use]
    pub const fn hmac_general_mechanism(self) -> CkMechanismType {
        match self {
            Self::Sha1 => CKM_SHA_1_HMAC_GENERAL,
            Self::Sha224 => CKM_SHA224_HMAC_GENERAL,
            Self::Sha256 => CKM_SHA256_HMAC_GENERAL,
            Self::Sha384 => CKM_SHA384_HMAC_GENERAL,
            Self::Sha512 => CKM_SHA512_HMAC_GENERAL,
        }
    }

    /// The ECDSA-with-hash mechanism (`CKM_ECDSA_SHA256`...).
    #[must_use]
    pub const fn ecdsa_mechanism(self) -> CkMechanismType {
        match self {
            Self::Sha1 => CKM_ECDSA_SHA1,
            Self::Sha224 => CKM_ECDSA_SHA224,
            Self::Sha256 => CKM_ECDSA_SHA256,
            Self::Sha384 => CKM_ECDSA_SHA384,
            Self::Sha512 => CKM_ECDSA_SHA512,
        }
    }

    /// The RSA PKCS #1 v1.5 signature-with-hash mechanism (`CKM_SHA256_RSA_PKCS`...).
    #[must_use]
    pub const fn rsa_pkcs_mechanism(self) -> CkMechanismType {
        match self {
            Self::Sha1 => CKM_SHA1_RSA_PKCS,
            Self::Sha224 => CKM_SHA224_RSA_PKCS,
            Self::Sha256 => CKM_SHA256_RSA_PKCS,
            Self::Sha384 => CKM_SHA384_RSA_PKCS,
            Self::Sha512 => CKM_SHA512_RSA_PKCS,
        }
    }

    /// The RSA PSS signature-with-hash mechanism (`CKM_SHA256_RSA_PKCS_PSS`...).
    #[must_use]
    pub const fn rsa_pss_mechanism(self) -> CkMechanismType {
        match self {
            Self::Sha1 => CKM_SHA1_RSA_PKCS_PSS,
            Self::Sha224 => CKM_SHA224_RSA_PKCS_PSS,
            Self::Sha256 => CKM_SHA256_RSA_PKCS_PSS,
            Self::Sha384 => CKM_SHA384_RSA_PKCS_PSS,
            Self::Sha512 => CKM_SHA512_RSA_PKCS_PSS,
        }
    }

    /// The MGF1 function over this hash (`CKG_MGF1_SHA256`...).
    #[must_use]
    pub const fn mgf1(self) -> CkUlong {
        match self {
            Self::Sha1 => CKG_MGF1_SHA1,
            Self::Sha224 => CKG_MGF1_SHA224,
            Self::Sha256 => CKG_MGF1_SHA256,
            Self::Sha384 => CKG_MGF1_SHA384,
            Self::Sha512 => CKG_MGF1_SHA512,
        }
    }

    /// The hash whose `family` mechanism is `mechanism`.
    #[must_use]
    pub fn find(family: fn(Self) -> CkUlong, value: CkUlong) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| family(*alg) == value)
    }
}

/// The check value (`CKA_CHECK_VALUE`) PKCS#11 gives a generic secret key and a certificate:
/// the first 3 bytes of the SHA-1 hash of its `CKA_VALUE`.
pub(crate) fn sha1_check_value(value: &[u8]) -> [u8; 3] {
    match Sha1::digest(value).as_slice() {
        [a, b, c, ..] => [*a, *b, *c],
        // SHA-1 has 20 bytes; unreachable, and no panic if it were.
        _ => [0; 3],
    }
}

/// A streaming digest.
#[derive(Clone)]
pub(crate) enum Hasher {
    Sha1(Sha1),
    Sha224(Sha224),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    pub(crate) fn new(alg: HashAlg) -> Self {
        match alg {
            HashAlg::Sha1 => Self::Sha1(Sha1::new()),
            HashAlg::Sha224 => Self::Sha224(Sha224::new()),
            HashAlg::Sha256 => Self::Sha256(Sha256::new()),
            HashAlg::Sha384 => Self::Sha384(Sha384::new()),
            HashAlg::Sha512 => Self::Sha512(Sha512::new()),
        }
    }

    pub(crate) const fn alg(&self) -> HashAlg {
        match self {
            Self::Sha1(_) => HashAlg::Sha1,
            Self::Sha224(_) => HashAlg::Sha224,
            Self::Sha256(_) => HashAlg::Sha256,
            Self::Sha384(_) => HashAlg::Sha384,
            Self::Sha512(_) => HashAlg::Sha512,
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(data),
            Self::Sha224(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha224(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
            Self::Sha384(h) => h.finalize().to_vec(),
            Self::Sha512(h) => h.finalize().to_vec(),
        }
    }
}
