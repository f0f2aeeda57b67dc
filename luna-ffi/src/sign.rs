//! Signatures and digests: `C_SignInit`, `C_Sign`, `C_SignUpdate`, `C_SignFinal`,
//! `C_VerifyInit`, `C_Verify`, `C_VerifyUpdate`, `C_VerifyFinal`, the recover calls
//! (`C_SignRecoverInit`, `C_SignRecover`, `C_VerifyRecoverInit`, `C_VerifyRecover`),
//! `C_DigestInit`, `C_Digest`, `C_DigestUpdate`, `C_DigestKey`, `C_DigestFinal`.
//!
//! Length queries never touch the operation: the simulator tells the length of the active
//! signature (`sign_len`: 64 bytes for ECDSA's `r || s`, the hash's for HMAC, the modulus's for
//! RSA) and digest (`digest_len`). So a NULL or short buffer is answered before anything is
//! signed, and the call that signs is the one with a buffer large enough: a length query
//! followed by the real call signs once, with a fresh ECDSA nonce or PSS salt.

use crate::args::{self, OutBuf};
use crate::guard::{FfiResult, entry};
use crate::mechanism;
use crate::state;
use crate::types::*;
use luna_sim::OperationKind;

/// `C_SignInit`: ECDSA (raw and with SHA-1 to SHA-512), HMAC, and RSA PKCS #1 v1.5, PSS and
/// raw (see the mechanism table of the README).
///
/// # Safety
///
/// `pMechanism` is NULL or a readable mechanism.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let mechanism = unsafe { mechanism::read(pMechanism) }?;
        Ok(library.sim.sign_init(hSession, &mechanism, hKey)?)
    })
}

/// `C_Sign`.
///
/// # Safety
///
/// `pData` is NULL or readable for `ulDataLen` bytes; `pulSignatureLen` is NULL or readable
/// and writable; a non-NULL `pSignature` is writable for `*pulSignatureLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Sign(
    hSession: CK_SESSION_HANDLE,
    pData: CK_BYTE_PTR,
    ulDataLen: CK_ULONG,
    pSignature: CK_BYTE_PTR,
    pulSignatureLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Sign, || {
            // SAFETY: forwarded from this function's contract.
            let data = unsafe { args::slice(pData.cast_const(), ulDataLen) }?;
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(pSignature, pulSignatureLen) }?;
            if out.answer_length(library.sim.sign_len(hSession)?)? {
                return Ok(());
            }
            out.write(&library.sim.sign(hSession, data)?)
        })
    })
}

/// `C_SignUpdate` (not for the single-part `CKM_ECDSA`).
///
/// # Safety
///
/// `pPart` is NULL or readable for `ulPartLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: CK_BYTE_PTR,
    ulPartLen: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Sign, || {
            // SAFETY: forwarded from this function's contract.
            let data = unsafe { args::slice(pPart.cast_const(), ulPartLen) }?;
            Ok(library.sim.sign_update(hSession, data)?)
        })
    })
}

/// `C_SignFinal`.
///
/// # Safety
///
/// `pulSignatureLen` is NULL or readable and writable; a non-NULL `pSignature` is writable
/// for `*pulSignatureLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignFinal(
    hSession: CK_SESSION_HANDLE,
    pSignature: CK_BYTE_PTR,
    pulSignatureLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Sign, || {
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(pSignature, pulSignatureLen) }?;
            if out.answer_length(library.sim.sign_len(hSession)?)? {
                return Ok(());
            }
            out.write(&library.sim.sign_final(hSession)?)
        })
    })
}

/// `C_VerifyInit`: the mechanisms of [`C_SignInit`].
///
/// # Safety
///
/// `pMechanism` is NULL or a readable mechanism.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifyInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let mechanism = unsafe { mechanism::read(pMechanism) }?;
        Ok(library.sim.verify_init(hSession, &mechanism, hKey)?)
    })
}

/// `C_Verify`.
///
/// # Safety
///
/// `pData` and `pSignature` are NULL or readable for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Verify(
    hSession: CK_SESSION_HANDLE,
    pData: CK_BYTE_PTR,
    ulDataLen: CK_ULONG,
    pSignature: CK_BYTE_PTR,
    ulSignatureLen: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Verify, || {
            // SAFETY: forwarded from this function's contract.
            let data = unsafe { args::slice(pData.cast_const(), ulDataLen) }?;
            // SAFETY: forwarded from this function's contract.
            let signature = unsafe { args::slice(pSignature.cast_const(), ulSignatureLen) }?;
            Ok(library.sim.verify(hSession, data, signature)?)
        })
    })
}

/// `C_VerifyUpdate`.
///
/// # Safety
///
/// `pPart` is NULL or readable for `ulPartLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifyUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: CK_BYTE_PTR,
    ulPartLen: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Verify, || {
            // SAFETY: forwarded from this function's contract.
            let data = unsafe { args::slice(pPart.cast_const(), ulPartLen) }?;
            Ok(library.sim.verify_update(hSession, data)?)
        })
    })
}

/// `C_VerifyFinal`.
///
/// # Safety
///
/// `pSignature` is NULL or readable for `ulSignatureLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifyFinal(
    hSession: CK_SESSION_HANDLE,
    pSignature: CK_BYTE_PTR,
    ulSignatureLen: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Verify, || {
            // SAFETY: forwarded from this function's contract.
            let signature = unsafe { args::slice(pSignature.cast_const(), ulSignatureLen) }?;
            Ok(library.sim.verify_final(hSession, signature)?)
        })
    })
}

/// `C_SignRecoverInit`: `CKM_RSA_PKCS` and `CKM_RSA_X_509` with an RSA private key that has
/// `CKA_SIGN_RECOVER` (register A78).
///
/// # Safety
///
/// `pMechanism` is NULL or a readable mechanism.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignRecoverInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let mechanism = unsafe { mechanism::read(pMechanism) }?;
        Ok(library.sim.sign_recover_init(hSession, &mechanism, hKey)?)
    })
}

/// `C_SignRecover`: single-part, with the output rules of [`C_Sign`].
///
/// # Safety
///
/// As [`C_Sign`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignRecover(
    hSession: CK_SESSION_HANDLE,
    pData: CK_BYTE_PTR,
    ulDataLen: CK_ULONG,
    pSignature: CK_BYTE_PTR,
    pulSignatureLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error_of_sort(&library, hSession, OperationKind::Sign, true, || {
            // SAFETY: forwarded from this function's contract.
            let data = unsafe { args::slice(pData.cast_const(), ulDataLen) }?;
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(pSignature, pulSignatureLen) }?;
            if out.answer_length(library.sim.sign_recover_len(hSession)?)? {
                return Ok(());
            }
            out.write(&library.sim.sign_recover(hSession, data)?)
        })
    })
}

/// `C_VerifyRecoverInit`: as [`C_SignRecoverInit`], with an RSA public key that has
/// `CKA_VERIFY_RECOVER`.
///
/// # Safety
///
/// `pMechanism` is NULL or a readable mechanism.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifyRecoverInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let mechanism = unsafe { mechanism::read(pMechanism) }?;
        Ok(library
            .sim
            .verify_recover_init(hSession, &mechanism, hKey)?)
    })
}

/// `C_VerifyRecover`: the length of the recovered data is exact (the public-key operation is
/// repeated, not held), so a length query or a short buffer gives the exact length and leaves
/// the operation active.
///
/// # Safety
///
/// `pSignature` is NULL or readable for `ulSignatureLen` bytes; `pulDataLen` is NULL or
/// readable and writable; a non-NULL `pData` is writable for `*pulDataLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifyRecover(
    hSession: CK_SESSION_HANDLE,
    pSignature: CK_BYTE_PTR,
    ulSignatureLen: CK_ULONG,
    pData: CK_BYTE_PTR,
    pulDataLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error_of_sort(&library, hSession, OperationKind::Verify, true, || {
            // SAFETY: forwarded from this function's contract.
            let signature = unsafe { args::slice(pSignature.cast_const(), ulSignatureLen) }?;
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(pData, pulDataLen) }?;
            let room = if out.is_query() {
                None
            } else {
                Some(out.capacity()?)
            };
            out.write(&library.sim.verify_recover(hSession, signature, room)?)
        })
    })
}

/// `C_DigestInit`: SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512.
///
/// # Safety
///
/// `pMechanism` is NULL or a readable mechanism.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DigestInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let mechanism = unsafe { mechanism::read(pMechanism) }?;
        Ok(library.sim.digest_init(hSession, &mechanism)?)
    })
}

/// Answers a digest length query without ending the operation.
fn digest_length(
    library: &state::Library,
    session: CK_SESSION_HANDLE,
    out: &mut OutBuf<'_, u8>,
) -> FfiResult<bool> {
    out.answer_length(library.sim.digest_len(session)?)
}

/// `C_Digest`.
///
/// # Safety
///
/// As [`C_Sign`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Digest(
    hSession: CK_SESSION_HANDLE,
    pData: CK_BYTE_PTR,
    ulDataLen: CK_ULONG,
    pDigest: CK_BYTE_PTR,
    pulDigestLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Digest, || {
            // SAFETY: forwarded from this function's contract.
            let data = unsafe { args::slice(pData.cast_const(), ulDataLen) }?;
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(pDigest, pulDigestLen) }?;
            if digest_length(&library, hSession, &mut out)? {
                return Ok(());
            }
            out.write(&library.sim.digest(hSession, data)?)
        })
    })
}

/// `C_DigestUpdate`.
///
/// # Safety
///
/// `pPart` is NULL or readable for `ulPartLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DigestUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: CK_BYTE_PTR,
    ulPartLen: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Digest, || {
            // SAFETY: forwarded from this function's contract.
            let data = unsafe { args::slice(pPart.cast_const(), ulPartLen) }?;
            Ok(library.sim.digest_update(hSession, data)?)
        })
    })
}

/// `C_DigestKey`: the value of a readable secret key into the active digest (register A75).
///
/// # Safety
///
/// No pointer is read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DigestKey(hSession: CK_SESSION_HANDLE, hKey: CK_OBJECT_HANDLE) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Digest, || {
            Ok(library.sim.digest_key(hSession, hKey)?)
        })
    })
}

/// `C_DigestFinal`.
///
/// # Safety
///
/// As [`C_SignFinal`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DigestFinal(
    hSession: CK_SESSION_HANDLE,
    pDigest: CK_BYTE_PTR,
    pulDigestLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Digest, || {
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(pDigest, pulDigestLen) }?;
            if digest_length(&library, hSession, &mut out)? {
                return Ok(());
            }
            out.write(&library.sim.digest_final(hSession)?)
        })
    })
}
