//! Mechanisms: typed parameters and the mechanism list of `C_GetMechanismList/Info`.

mod api;
pub use api::{CipherStep, Fitted, OperationKind};
pub mod block;
pub(crate) mod crypto;
pub mod ec;
pub mod eddsa;
pub(crate) mod gcm;
pub(crate) mod hash;
pub(crate) mod mac;
pub(crate) mod rsa;

use cpv4_wire::consts::*;

use crate::error::{SimError, SimResult};
pub use block::{BlockMode, CipherFamily, CtrParams};
pub use hash::HashAlg;
pub(crate) use hash::{Hasher, with_hash};

/// The parameters of `CKM_AES_GCM` (`CK_GCM_PARAMS`, parsed by the C module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcmParams {
    /// The IV: 1 to 2^32 - 1 bytes (12 is the fast path).
    pub iv: Vec<u8>,
    /// Additional authenticated data.
    pub aad: Vec<u8>,
    /// Tag length in bits: 32, 64, 96, 104, 112, 120 or 128 (SP 800-38D; register A68).
    pub tag_bits: CkUlong,
}

/// The parameters of the RSA PSS mechanisms (`CK_RSA_PKCS_PSS_PARAMS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PssParams {
    /// The hash of the message (for `CKM_RSA_PKCS_PSS`, the hash the caller computed).
    pub hash: HashAlg,
    /// The hash of MGF1; it must be `hash` (register A58).
    pub mgf: HashAlg,
    /// The salt length in bytes.
    pub salt_len: usize,
}

impl PssParams {
    /// Parameters from their PKCS#11 values.
    ///
    /// # Errors
    ///
    /// [`SimError::MechanismParamInvalid`] for an unknown hash or MGF, an MGF over another
    /// hash than the message's (register A58), or a salt length that does not fit in memory.
    pub fn from_ck(hash_alg: CkMechanismType, mgf: CkUlong, salt_len: CkUlong) -> SimResult<Self> {
        let hash = HashAlg::find(HashAlg::digest_mechanism, hash_alg)
            .ok_or(SimError::MechanismParamInvalid)?;
        let mgf = HashAlg::find(HashAlg::mgf1, mgf).ok_or(SimError::MechanismParamInvalid)?;
        if mgf != hash {
            return Err(SimError::MechanismParamInvalid);
        }
        let salt_len = usize::try_from(salt_len).map_err(|_| SimError::MechanismParamInvalid)?;
        Ok(Self {
            hash,
            mgf,
            salt_len,
        })
    }
}

/// The parameters of `CKM_RSA_PKCS_OAEP` (`CK_RSA_PKCS_OAEP_PARAMS`).
#[derive(Clone, PartialEq, Eq)]
pub struct OaepParams {
    /// The hash of the label.
    pub hash: HashAlg,
    /// The hash of MGF1 (any of the five, independently of `hash`).
    pub mgf: HashAlg,
    /// The label (`pSourceData`), often empty.
    pub label: Vec<u8>,
}

impl std::fmt::Debug for OaepParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OaepParams")
            .field("hash", &self.hash)
            .field("mgf", &self.mgf)
            .field("label_len", &self.label.len())
            .finish()
    }
}

impl OaepParams {
    /// Parameters from their PKCS#11 values; `source` is `CKZ_DATA_SPECIFIED`, or 0 with an
    /// empty label (what several clients send).
    ///
    /// # Errors
    ///
    /// [`SimError::MechanismParamInvalid`] for an unknown hash, MGF or source.
    pub fn from_ck(
        hash_alg: CkMechanismType,
        mgf: CkUlong,
        source: CkUlong,
        label: Vec<u8>,
    ) -> SimResult<Self> {
        let hash = HashAlg::find(HashAlg::digest_mechanism, hash_alg)
            .ok_or(SimError::MechanismParamInvalid)?;
        let mgf = HashAlg::find(HashAlg::mgf1, mgf).ok_or(SimError::MechanismParamInvalid)?;
        if source != CKZ_DATA_SPECIFIED && !(source == 0 && label.is_empty()) {
            return Err(SimError::MechanismParamInvalid);
        }
        Ok(Self { hash, mgf, label })
    }
}

/// The parameters of `CKM_ECDH1_DERIVE` (`CK_ECDH1_DERIVE_PARAMS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcdhParams {
    /// The ANSI X9.63 KDF's hash, or `None` for `CKD_NULL` (the shared secret itself).
    pub kdf: Option<HashAlg>,
    /// The KDF's shared information (empty with `CKD_NULL`).
    pub shared_data: Vec<u8>,
    /// The other party's public point (SEC 1, bare or as a DER OCTET STRING).
    pub public_data: Vec<u8>,
}

impl EcdhParams {
    /// Parameters from their PKCS#11 values.
    ///
    /// # Errors
    ///
    /// [`SimError::MechanismParamInvalid`] for an unknown KDF, shared data with `CKD_NULL`, or
    /// no public data.
    pub fn from_ck(kdf: CkUlong, shared_data: Vec<u8>, public_data: Vec<u8>) -> SimResult<Self> {
        let kdf = match kdf {
            CKD_NULL if shared_data.is_empty() => None,
            CKD_SHA1_KDF => Some(HashAlg::Sha1),
            CKD_SHA224_KDF => Some(HashAlg::Sha224),
            CKD_SHA256_KDF => Some(HashAlg::Sha256),
            CKD_SHA384_KDF => Some(HashAlg::Sha384),
            CKD_SHA512_KDF => Some(HashAlg::Sha512),
            _ => return Err(SimError::MechanismParamInvalid),
        };
        if public_data.is_empty() {
            return Err(SimError::MechanismParamInvalid);
        }
        Ok(Self {
            kdf,
            shared_data,
            public_data,
        })
    }
}

/// A mechanism with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mechanism {
    /// `CKM_AES_KEY_GEN`.
    AesKeyGen,
    /// `CKM_GENERIC_SECRET_KEY_GEN`.
    GenericSecretKeyGen,
    /// `CKM_EC_KEY_PAIR_GEN` (the curves of [`ec::Curve`]).
    EcKeyPairGen,
    /// `CKM_RSA_PKCS_KEY_PAIR_GEN` (1024 to 4096 bits).
    RsaPkcsKeyPairGen,
    /// `CKM_EC_EDWARDS_KEY_PAIR_GEN` (Ed25519).
    EdwardsKeyPairGen,
    /// `CKM_EDDSA`: pure Ed25519, single-part.
    Eddsa,
    /// `CKM_ECDH1_DERIVE`.
    Ecdh1Derive(EcdhParams),
    /// `CKM_DES_KEY_GEN`.
    DesKeyGen,
    /// `CKM_DES2_KEY_GEN`.
    Des2KeyGen,
    /// `CKM_DES3_KEY_GEN`.
    Des3KeyGen,
    /// `CKM_AES_GCM`.
    AesGcm(GcmParams),
    /// ECB, CBC or CBC-PAD with AES, DES or triple DES (`CKM_AES_ECB`, `CKM_AES_CBC`,
    /// `CKM_AES_CBC_PAD`, `CKM_DES_*`, `CKM_DES3_*`); build it with [`Mechanism::block`].
    Block {
        /// The cipher family (the key types it takes).
        family: CipherFamily,
        /// The mode.
        mode: BlockMode,
        /// The IV: empty for ECB, one block otherwise.
        iv: Vec<u8>,
    },
    /// `CKM_AES_CTR`.
    AesCtr(CtrParams),
    /// `CKM_AES_CMAC`, `CKM_DES3_CMAC` (`len: None`) and their `_GENERAL` forms.
    Cmac {
        /// AES or triple DES.
        family: CipherFamily,
        /// The output length in bytes of a `_GENERAL` mechanism.
        len: Option<usize>,
    },
    /// `CKM_SHA*_HMAC_GENERAL`: HMAC with an output of `1..=` the hash length bytes.
    HmacGeneral(HashAlg, usize),
    /// `CKM_AES_KEY_WRAP` (RFC 3394, the default IV).
    AesKeyWrap,
    /// `CKM_ECDSA`: the input is a hash; the signature is `r || s`.
    Ecdsa,
    /// `CKM_ECDSA_SHA1` ... `CKM_ECDSA_SHA512`.
    EcdsaHash(HashAlg),
    /// `CKM_SHA_1_HMAC` ... `CKM_SHA512_HMAC`.
    Hmac(HashAlg),
    /// `CKM_SHA_1` ... `CKM_SHA512`.
    Digest(HashAlg),
    /// `CKM_AES_KEY_WRAP_PAD` (RFC 5649).
    AesKeyWrapPad,
    /// `CKM_AES_KEY_WRAP_KWP` (RFC 5649, the PKCS#11 3.0 name).
    AesKeyWrapKwp,
    /// `CKM_RSA_PKCS`: PKCS #1 v1.5 encryption, and signatures over a caller-built DigestInfo.
    RsaPkcs,
    /// `CKM_RSA_X_509`: raw RSA.
    RsaX509,
    /// `CKM_SHA1_RSA_PKCS` ... `CKM_SHA512_RSA_PKCS`.
    RsaPkcsHash(HashAlg),
    /// `CKM_RSA_PKCS_PSS`: PSS over a caller-computed hash of `params.hash`.
    RsaPkcsPss(PssParams),
    /// `CKM_SHA1_RSA_PKCS_PSS` ... `CKM_SHA512_RSA_PKCS_PSS`: the mechanism's hash is
    /// `params.hash`.
    RsaPssHash(PssParams),
    /// `CKM_RSA_PKCS_OAEP`.
    RsaOaep(OaepParams),
}

impl Mechanism {
    /// The mechanism type (`CKM_*`).
    #[must_use]
    pub fn mechanism_type(&self) -> CkMechanismType {
        match self {
            Self::AesKeyGen => CKM_AES_KEY_GEN,
            Self::GenericSecretKeyGen => CKM_GENERIC_SECRET_KEY_GEN,
            Self::EcKeyPairGen => CKM_EC_KEY_PAIR_GEN,
            Self::RsaPkcsKeyPairGen => CKM_RSA_PKCS_KEY_PAIR_GEN,
            Self::EdwardsKeyPairGen => CKM_EC_EDWARDS_KEY_PAIR_GEN,
            Self::Eddsa => CKM_EDDSA,
            Self::Ecdh1Derive(_) => CKM_ECDH1_DERIVE,
            Self::DesKeyGen => CKM_DES_KEY_GEN,
            Self::Des2KeyGen => CKM_DES2_KEY_GEN,
            Self::Des3KeyGen => CKM_DES3_KEY_GEN,
            Self::AesGcm(_) => CKM_AES_GCM,
            Self::Block { family, mode, .. } => block::block_mechanism_type(*family, *mode),
            Self::AesCtr(_) => CKM_AES_CTR,
            Self::Cmac {
                family: CipherFamily::Aes,
                len,
            } => {
                if len.is_some() {
                    CKM_AES_CMAC_GENERAL
                } else {
                    CKM_AES_CMAC
                }
            }
            Self::Cmac { len, .. } => {
                if len.is_some() {
                    CKM_DES3_CMAC_GENERAL
                } else {
                    CKM_DES3_CMAC
                }
            }
            Self::HmacGeneral(hash, _) => hash.hmac_general_mechanism(),
            Self::AesKeyWrap => CKM_AES_KEY_WRAP,
            Self::Ecdsa => CKM_ECDSA,
            Self::EcdsaHash(hash) => hash.ecdsa_mechanism(),
            Self::Hmac(hash) => hash.hmac_mechanism(),
            Self::Digest(hash) => hash.digest_mechanism(),
            Self::AesKeyWrapPad => CKM_AES_KEY_WRAP_PAD,
            Self::AesKeyWrapKwp => CKM_AES_KEY_WRAP_KWP,
            Self::RsaPkcs => CKM_RSA_PKCS,
            Self::RsaX509 => CKM_RSA_X_509,
            Self::RsaPkcsHash(hash) => hash.rsa_pkcs_mechanism(),
            Self::RsaPkcsPss(_) => CKM_RSA_PKCS_PSS,
            Self::RsaPssHash(params) => params.hash.rsa_pss_mechanism(),
            Self::RsaOaep(_) => CKM_RSA_PKCS_OAEP,
        }
    }

    /// The mechanism of a type that takes no parameter.
    ///
    /// # Errors
    ///
    /// [`SimError::MechanismParamInvalid`] for the mechanisms that need a parameter (build
    /// those variants with it), [`SimError::MechanismInvalid`] for a mechanism this simulator
    /// does not implement.
    pub fn without_params(kind: CkMechanismType) -> SimResult<Self> {
        let hashed = |family: fn(HashAlg) -> CkMechanismType| HashAlg::find(family, kind);
        Ok(match kind {
            CKM_AES_KEY_GEN => Self::AesKeyGen,
            CKM_GENERIC_SECRET_KEY_GEN => Self::GenericSecretKeyGen,
            CKM_EC_KEY_PAIR_GEN => Self::EcKeyPairGen,
            CKM_RSA_PKCS_KEY_PAIR_GEN => Self::RsaPkcsKeyPairGen,
            CKM_EC_EDWARDS_KEY_PAIR_GEN => Self::EdwardsKeyPairGen,
            CKM_EDDSA => Self::Eddsa,
            CKM_DES_KEY_GEN => Self::DesKeyGen,
            CKM_DES2_KEY_GEN => Self::Des2KeyGen,
            CKM_DES3_KEY_GEN => Self::Des3KeyGen,
            CKM_AES_CMAC => Self::Cmac {
                family: CipherFamily::Aes,
                len: None,
            },
            CKM_DES3_CMAC => Self::Cmac {
                family: CipherFamily::Des3,
                len: None,
            },
            CKM_AES_KEY_WRAP => Self::AesKeyWrap,
            CKM_ECDSA => Self::Ecdsa,
            CKM_AES_KEY_WRAP_PAD => Self::AesKeyWrapPad,
            CKM_AES_KEY_WRAP_KWP => Self::AesKeyWrapKwp,
            CKM_RSA_PKCS => Self::RsaPkcs,
            CKM_RSA_X_509 => Self::RsaX509,
            CKM_AES_GCM | CKM_AES_CTR | CKM_RSA_PKCS_PSS | CKM_RSA_PKCS_OAEP | CKM_ECDH1_DERIVE => {
                return Err(SimError::MechanismParamInvalid);
            }
            _ => {
                if let Some((_, BlockMode::Ecb)) = block::block_mechanism(kind) {
                    return Self::block(kind, &[]);
                } else if block::block_mechanism(kind).is_some()
                    || Self::is_general(kind)
                    || hashed(HashAlg::rsa_pss_mechanism).is_some()
                {
                    return Err(SimError::MechanismParamInvalid);
                } else if let Some(hash) = hashed(HashAlg::digest_mechanism) {
                    Self::Digest(hash)
                } else if let Some(hash) = hashed(HashAlg::hmac_mechanism) {
                    Self::Hmac(hash)
                } else if let Some(hash) = hashed(HashAlg::ecdsa_mechanism) {
                    Self::EcdsaHash(hash)
                } else if let Some(hash) = hashed(HashAlg::rsa_pkcs_mechanism) {
                    Self::RsaPkcsHash(hash)
                } else {
                    return Err(SimError::MechanismInvalid);
                }
            }
        })
    }

    /// An ECB, CBC or CBC-PAD mechanism with its IV (empty for ECB).
    ///
    /// # Errors
    ///
    /// [`SimError::MechanismInvalid`] if `kind` is not one, [`SimError::MechanismParamInvalid`]
    /// for an IV of another length than the mode takes.
    pub fn block(kind: CkMechanismType, iv: &[u8]) -> SimResult<Self> {
        let (family, mode) = block::block_mechanism(kind).ok_or(SimError::MechanismInvalid)?;
        if iv.len() != mode.iv_len(family) {
            return Err(SimError::MechanismParamInvalid);
        }
        Ok(Self::Block {
            family,
            mode,
            iv: iv.to_vec(),
        })
    }

    /// Whether `kind` is a MAC mechanism with a chosen length (`CK_MAC_GENERAL_PARAMS`).
    #[must_use]
    pub fn is_general(kind: CkMechanismType) -> bool {
        matches!(kind, CKM_AES_CMAC_GENERAL | CKM_DES3_CMAC_GENERAL)
            || HashAlg::find(HashAlg::hmac_general_mechanism, kind).is_some()
    }

    /// A `_GENERAL` MAC mechanism with its output length in bytes.
    ///
    /// # Errors
    ///
    /// [`SimError::MechanismInvalid`] if `kind` is not one, [`SimError::MechanismParamInvalid`]
    /// for a length of 0 or more than the MAC's full output.
    pub fn mac_general(kind: CkMechanismType, len: CkUlong) -> SimResult<Self> {
        let bad = || SimError::MechanismParamInvalid;
        let len = usize::try_from(len).map_err(|_| bad())?;
        let (mechanism, full) = match kind {
            CKM_AES_CMAC_GENERAL => (
                Self::Cmac {
                    family: CipherFamily::Aes,
                    len: Some(len),
                },
                16,
            ),
            CKM_DES3_CMAC_GENERAL => (
                Self::Cmac {
                    family: CipherFamily::Des3,
                    len: Some(len),
                },
                8,
            ),
            _ => {
                let hash = HashAlg::find(HashAlg::hmac_general_mechanism, kind)
                    .ok_or(SimError::MechanismInvalid)?;
                (Self::HmacGeneral(hash, len), hash.output_len())
            }
        };
        if len == 0 || len > full {
            return Err(bad());
        }
        Ok(mechanism)
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
// Usize to CK_ULONG in a const context: both are 64 bits on the platforms the module builds for.
#[allow(clippy::cast_possible_truncation)]
const RSA_MIN: CkUlong = rsa::MIN_BITS as CkUlong;
#[allow(clippy::cast_possible_truncation)]
const RSA_MAX: CkUlong = rsa::MAX_BITS as CkUlong;

/// One entry of the list; every mechanism is done by the (simulated) device, so each has
/// `CKF_HW`, as on a hardware token (tools such as pkcs11-tool choose only those).
const fn hw(
    mechanism: CkMechanismType,
    min_key_size: CkUlong,
    max_key_size: CkUlong,
    flags: CkFlags,
) -> MechanismInfo {
    MechanismInfo {
        mechanism,
        min_key_size,
        max_key_size,
        flags: flags | CKF_HW,
    }
}

const SIGN_VERIFY: CkFlags = CKF_SIGN | CKF_VERIFY;
const RECOVER: CkFlags = CKF_SIGN_RECOVER | CKF_VERIFY_RECOVER;
const CIPHER: CkFlags = CKF_ENCRYPT | CKF_DECRYPT;

const fn rsa(mechanism: CkMechanismType, flags: CkFlags) -> MechanismInfo {
    hw(mechanism, RSA_MIN, RSA_MAX, flags)
}

const fn ec(mechanism: CkMechanismType, flags: CkFlags) -> MechanismInfo {
    hw(mechanism, 192, 521, flags | EC_FLAGS)
}

/// Ed25519 (255 bits, the size PKCS#11 3.0 gives it).
const fn edwards(mechanism: CkMechanismType, flags: CkFlags) -> MechanismInfo {
    hw(mechanism, 255, 255, flags)
}

const fn aes(mechanism: CkMechanismType, flags: CkFlags) -> MechanismInfo {
    hw(mechanism, 16, 32, flags)
}

const fn hmac(mechanism: CkMechanismType) -> MechanismInfo {
    hw(mechanism, 1, MAX_GENERIC_SECRET_LEN, SIGN_VERIFY)
}

/// Single DES (64-bit keys, in bits as pkcs11-tool and other tokens show them).
const fn des(mechanism: CkMechanismType, flags: CkFlags) -> MechanismInfo {
    hw(mechanism, 64, 64, flags)
}

/// Triple DES: double- (128-bit) and triple-length (192-bit) keys.
const fn des3(mechanism: CkMechanismType, flags: CkFlags) -> MechanismInfo {
    hw(mechanism, 128, 192, flags)
}

/// Every mechanism the simulator implements, in `CKM_*` order. Key sizes are in bits for RSA,
/// EC and DES, in bytes for AES and generic secrets.
pub const MECHANISMS: &[MechanismInfo] = &[
    rsa(CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR),
    rsa(
        CKM_RSA_PKCS,
        CIPHER | SIGN_VERIFY | RECOVER | CKF_WRAP | CKF_UNWRAP,
    ),
    rsa(CKM_RSA_X_509, CIPHER | SIGN_VERIFY | RECOVER),
    rsa(CKM_SHA1_RSA_PKCS, SIGN_VERIFY),
    rsa(CKM_RSA_PKCS_OAEP, CIPHER | CKF_WRAP | CKF_UNWRAP),
    rsa(CKM_RSA_PKCS_PSS, SIGN_VERIFY),
    rsa(CKM_SHA1_RSA_PKCS_PSS, SIGN_VERIFY),
    rsa(CKM_SHA256_RSA_PKCS, SIGN_VERIFY),
    rsa(CKM_SHA384_RSA_PKCS, SIGN_VERIFY),
    rsa(CKM_SHA512_RSA_PKCS, SIGN_VERIFY),
    rsa(CKM_SHA256_RSA_PKCS_PSS, SIGN_VERIFY),
    rsa(CKM_SHA384_RSA_PKCS_PSS, SIGN_VERIFY),
    rsa(CKM_SHA512_RSA_PKCS_PSS, SIGN_VERIFY),
    rsa(CKM_SHA224_RSA_PKCS, SIGN_VERIFY),
    rsa(CKM_SHA224_RSA_PKCS_PSS, SIGN_VERIFY),
    des(CKM_DES_KEY_GEN, CKF_GENERATE),
    des(CKM_DES_ECB, CIPHER),
    des(CKM_DES_CBC, CIPHER),
    des(CKM_DES_CBC_PAD, CIPHER),
    hw(CKM_DES2_KEY_GEN, 128, 128, CKF_GENERATE),
    hw(CKM_DES3_KEY_GEN, 192, 192, CKF_GENERATE),
    des3(CKM_DES3_ECB, CIPHER),
    des3(CKM_DES3_CBC, CIPHER),
    des3(CKM_DES3_CBC_PAD, CIPHER),
    des3(CKM_DES3_CMAC_GENERAL, SIGN_VERIFY),
    des3(CKM_DES3_CMAC, SIGN_VERIFY),
    hw(CKM_SHA_1, 0, 0, CKF_DIGEST),
    hmac(CKM_SHA_1_HMAC),
    hmac(CKM_SHA_1_HMAC_GENERAL),
    hw(CKM_SHA256, 0, 0, CKF_DIGEST),
    hmac(CKM_SHA256_HMAC),
    hmac(CKM_SHA256_HMAC_GENERAL),
    hw(CKM_SHA224, 0, 0, CKF_DIGEST),
    hmac(CKM_SHA224_HMAC),
    hmac(CKM_SHA224_HMAC_GENERAL),
    hw(CKM_SHA384, 0, 0, CKF_DIGEST),
    hmac(CKM_SHA384_HMAC),
    hmac(CKM_SHA384_HMAC_GENERAL),
    hw(CKM_SHA512, 0, 0, CKF_DIGEST),
    hmac(CKM_SHA512_HMAC),
    hmac(CKM_SHA512_HMAC_GENERAL),
    hw(
        CKM_GENERIC_SECRET_KEY_GEN,
        1,
        MAX_GENERIC_SECRET_LEN,
        CKF_GENERATE,
    ),
    ec(CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR),
    ec(CKM_ECDSA, SIGN_VERIFY),
    ec(CKM_ECDSA_SHA1, SIGN_VERIFY),
    ec(CKM_ECDSA_SHA224, SIGN_VERIFY),
    ec(CKM_ECDSA_SHA256, SIGN_VERIFY),
    ec(CKM_ECDSA_SHA384, SIGN_VERIFY),
    ec(CKM_ECDSA_SHA512, SIGN_VERIFY),
    ec(CKM_ECDH1_DERIVE, CKF_DERIVE),
    edwards(CKM_EC_EDWARDS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR),
    edwards(CKM_EDDSA, SIGN_VERIFY),
    aes(CKM_AES_KEY_GEN, CKF_GENERATE),
    aes(CKM_AES_ECB, CIPHER),
    aes(CKM_AES_CBC, CIPHER),
    aes(CKM_AES_CBC_PAD, CIPHER),
    aes(CKM_AES_CTR, CIPHER),
    aes(CKM_AES_GCM, CIPHER),
    aes(CKM_AES_CMAC, SIGN_VERIFY),
    aes(CKM_AES_CMAC_GENERAL, SIGN_VERIFY),
    aes(CKM_AES_KEY_WRAP, CKF_WRAP | CKF_UNWRAP),
    aes(CKM_AES_KEY_WRAP_PAD, CKF_WRAP | CKF_UNWRAP),
    aes(CKM_AES_KEY_WRAP_KWP, CKF_WRAP | CKF_UNWRAP),
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
        for info in MECHANISMS {
            assert!(info.flags & CKF_HW != 0);
            // Every listed type is known: parameter-less ones build, the others ask for one.
            match Mechanism::without_params(info.mechanism) {
                Ok(m) => assert_eq!(m.mechanism_type(), info.mechanism),
                Err(e) => assert_eq!(e, SimError::MechanismParamInvalid),
            }
        }
        let types: Vec<_> = MECHANISMS.iter().map(|m| m.mechanism).collect();
        let mut sorted = types.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(types, sorted, "the list is in CKM_* order without repeats");
        assert_eq!(
            Mechanism::without_params(CKM_AES_GCM),
            Err(SimError::MechanismParamInvalid)
        );
    }
}
