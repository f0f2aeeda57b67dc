//! Mechanism parameters: `CK_MECHANISM` to the simulator's [`Mechanism`].
//!
//! `CKM_AES_GCM` takes a `CK_GCM_PARAMS` (the 48-byte layout with `ulIvBits`, or the original
//! 40-byte v2.40 layout without it); the CBC mechanisms an IV of one block (16 bytes for AES,
//! 8 for DES); `CKM_AES_CTR` a `CK_AES_CTR_PARAMS`; the `_GENERAL` MACs a
//! `CK_MAC_GENERAL_PARAMS`; `CKM_AES_KEY_WRAP` none or the RFC 3394 default IV;
//! `CKM_ECDH1_DERIVE` a `CK_ECDH1_DERIVE_PARAMS`; `CKM_EDDSA` none, or a `CK_EDDSA_PARAMS` for
//! pure Ed25519 (no prehash, no context: register A73); the RSA PSS
//! mechanisms a `CK_RSA_PKCS_PSS_PARAMS` (for the hashing ones, naming their own hash);
//! `CKM_RSA_PKCS_OAEP` a `CK_RSA_PKCS_OAEP_PARAMS`; every other mechanism has no parameter (one
//! given is ignored). Copies of caller buffers (IV, AAD, label) are allocated fallibly: a length
//! the host cannot allocate is `CKR_HOST_MEMORY`, not an abort.

use cpv4_wire::consts::{
    CKM_AES_CTR, CKM_AES_GCM, CKM_AES_KEY_WRAP, CKM_ECDH1_DERIVE, CKM_EDDSA, CKM_RSA_PKCS_OAEP,
    CKM_RSA_PKCS_PSS,
};
use luna_sim::mechanisms::block::block_mechanism;
use luna_sim::mechanisms::{CtrParams, EcdhParams, HashAlg, OaepParams, PssParams};
use luna_sim::{GcmParams, Mechanism};

use crate::args;
use crate::guard::{Error, FfiResult};
use crate::types::{
    CK_AES_CTR_PARAMS, CK_ECDH1_DERIVE_PARAMS, CK_EDDSA_PARAMS, CK_GCM_PARAMS, CK_GCM_PARAMS_V240,
    CK_MAC_GENERAL_PARAMS, CK_MECHANISM, CK_RSA_PKCS_OAEP_PARAMS, CK_RSA_PKCS_PSS_PARAMS, CK_ULONG,
};

/// The RFC 3394 default IV, the only one `CKM_AES_KEY_WRAP` takes.
const KW_DEFAULT_IV: [u8; 8] = [0xA6; 8];

use crate::args::copy;

/// Reads a parameter that is a byte string: NULL only with length 0; a length beyond what a
/// slice can hold is refused like a NULL (`args::slice` checks it before any slice is made).
///
/// # Safety
///
/// A non-NULL `param` must be readable for `len` bytes.
unsafe fn param_bytes<'a>(param: *const core::ffi::c_void, len: CK_ULONG) -> FfiResult<&'a [u8]> {
    // SAFETY: forwarded from this function's contract.
    unsafe { args::slice(param.cast::<u8>(), len) }.map_err(|_| Error::MechanismParamInvalid)
}

/// Reads a parameter of type `T`: non-NULL and exactly its size.
///
/// # Safety
///
/// A non-NULL `param` must be readable for `len` bytes.
unsafe fn param_struct<T: Copy>(param: *const core::ffi::c_void, len: usize) -> FfiResult<T> {
    if param.is_null() || len != size_of::<T>() {
        return Err(Error::MechanismParamInvalid);
    }
    // SAFETY: non-NULL and readable for the full size of `T` (checked length); read unaligned
    // since the caller's buffer need not be aligned.
    Ok(unsafe { param.cast::<T>().read_unaligned() })
}

/// Reads a mechanism.
///
/// # Safety
///
/// A non-NULL `mechanism` must be readable, and its non-NULL parameter readable for
/// `ulParameterLen` bytes, with the pointers inside a GCM parameter valid for their lengths.
pub(crate) unsafe fn read(mechanism: *const CK_MECHANISM) -> FfiResult<Mechanism> {
    // SAFETY: forwarded from this function's contract.
    let mechanism = unsafe { args::input(mechanism) }?;
    let param = mechanism.pParameter.cast_const();
    let param_len = args::len(mechanism.ulParameterLen)?;
    match mechanism.mechanism {
        CKM_AES_GCM => {
            if param.is_null() {
                return Err(Error::MechanismParamInvalid);
            }
            let (iv, iv_len, aad, aad_len, tag_bits) = if param_len == size_of::<CK_GCM_PARAMS>() {
                // SAFETY: non-NULL and readable for its full size (checked length); read
                // unaligned since the caller's buffer need not be aligned.
                let p = unsafe { param.cast::<CK_GCM_PARAMS>().read_unaligned() };
                (p.pIv, p.ulIvLen, p.pAAD, p.ulAADLen, p.ulTagBits)
            } else if param_len == size_of::<CK_GCM_PARAMS_V240>() {
                // SAFETY: as above, for the shorter layout.
                let p = unsafe { param.cast::<CK_GCM_PARAMS_V240>().read_unaligned() };
                (p.pIv, p.ulIvLen, p.pAAD, p.ulAADLen, p.ulTagBits)
            } else {
                return Err(Error::MechanismParamInvalid);
            };
            // SAFETY: the caller guarantees the IV and AAD pointers are valid for their
            // lengths; NULL with a non-zero length is refused.
            let iv = unsafe { args::slice(iv.cast_const(), iv_len) }
                .map_err(|_| Error::MechanismParamInvalid)?;
            // SAFETY: as above.
            let aad = unsafe { args::slice(aad.cast_const(), aad_len) }
                .map_err(|_| Error::MechanismParamInvalid)?;
            Ok(Mechanism::AesGcm(GcmParams {
                iv: copy(iv)?,
                aad: copy(aad)?,
                tag_bits,
            }))
        }
        CKM_AES_CTR => {
            // SAFETY: forwarded from this function's contract.
            let p: CK_AES_CTR_PARAMS = unsafe { param_struct(param, param_len) }?;
            Ok(Mechanism::AesCtr(CtrParams::from_ck(
                p.ulCounterBits,
                p.cb,
            )?))
        }
        CKM_ECDH1_DERIVE => {
            // SAFETY: forwarded from this function's contract.
            let p: CK_ECDH1_DERIVE_PARAMS = unsafe { param_struct(param, param_len) }?;
            // SAFETY: the caller guarantees both pointers are valid for their lengths; NULL
            // with a non-zero length is refused.
            let shared = unsafe { args::slice(p.pSharedData.cast_const(), p.ulSharedDataLen) }
                .map_err(|_| Error::MechanismParamInvalid)?;
            // SAFETY: as above.
            let public = unsafe { args::slice(p.pPublicData.cast_const(), p.ulPublicDataLen) }
                .map_err(|_| Error::MechanismParamInvalid)?;
            Ok(Mechanism::Ecdh1Derive(EcdhParams::from_ck(
                p.kdf,
                copy(shared)?,
                copy(public)?,
            )?))
        }
        CKM_EDDSA => {
            if !param.is_null() {
                // SAFETY: forwarded from this function's contract.
                let p: CK_EDDSA_PARAMS = unsafe { param_struct(param, param_len) }?;
                if p.phFlag != 0 || p.ulContextDataLen != 0 {
                    return Err(Error::MechanismParamInvalid);
                }
            }
            Ok(Mechanism::Eddsa)
        }
        CKM_AES_KEY_WRAP => {
            // SAFETY: forwarded from this function's contract.
            let iv = unsafe { param_bytes(param, mechanism.ulParameterLen) }?;
            if !iv.is_empty() && iv != KW_DEFAULT_IV {
                return Err(Error::MechanismParamInvalid);
            }
            Ok(Mechanism::AesKeyWrap)
        }
        kind if block_mechanism(kind).is_some() => {
            // ECB takes no parameter (one given is ignored, as for the other mechanisms).
            // SAFETY: forwarded from this function's contract.
            let iv = unsafe { param_bytes(param, mechanism.ulParameterLen) }?;
            let iv = match block_mechanism(kind) {
                Some((_, luna_sim::mechanisms::BlockMode::Ecb)) => &[][..],
                _ => iv,
            };
            Ok(Mechanism::block(kind, iv)?)
        }
        kind if Mechanism::is_general(kind) => {
            // SAFETY: forwarded from this function's contract.
            let len: CK_MAC_GENERAL_PARAMS = unsafe { param_struct(param, param_len) }?;
            Ok(Mechanism::mac_general(kind, len)?)
        }
        CKM_RSA_PKCS_OAEP => {
            // SAFETY: forwarded from this function's contract.
            let p: CK_RSA_PKCS_OAEP_PARAMS = unsafe { param_struct(param, param_len) }?;
            // SAFETY: the caller guarantees the label pointer is valid for its length; NULL
            // with a non-zero length is refused.
            let label =
                unsafe { args::slice(p.pSourceData.cast_const().cast(), p.ulSourceDataLen) }
                    .map_err(|_| Error::MechanismParamInvalid)?;
            Ok(Mechanism::RsaOaep(OaepParams::from_ck(
                p.hashAlg,
                p.mgf,
                p.source,
                copy(label)?,
            )?))
        }
        CKM_RSA_PKCS_PSS => {
            // SAFETY: forwarded from this function's contract.
            let p: CK_RSA_PKCS_PSS_PARAMS = unsafe { param_struct(param, param_len) }?;
            Ok(Mechanism::RsaPkcsPss(PssParams::from_ck(
                p.hashAlg, p.mgf, p.sLen,
            )?))
        }
        other => match HashAlg::find(HashAlg::rsa_pss_mechanism, other) {
            Some(hash) => {
                // SAFETY: forwarded from this function's contract.
                let p: CK_RSA_PKCS_PSS_PARAMS = unsafe { param_struct(param, param_len) }?;
                let params = PssParams::from_ck(p.hashAlg, p.mgf, p.sLen)?;
                // PKCS#11: the parameter's hash is the mechanism's.
                if params.hash != hash {
                    return Err(Error::MechanismParamInvalid);
                }
                Ok(Mechanism::RsaPssHash(params))
            }
            None => Ok(Mechanism::without_params(other)?),
        },
    }
}
