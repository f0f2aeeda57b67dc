//! Keys and randomness: `C_GenerateKey`, `C_GenerateKeyPair`, `C_WrapKey`, `C_UnwrapKey`,
//! `C_GenerateRandom`.
//!
//! AES key wrap with padding is deterministic, so a `C_WrapKey` length query (or a short
//! buffer) wraps, reports the length and discards the result; no state changes.

use crate::args::{self, OutBuf};
use crate::guard::entry;
use crate::state;
use crate::types::*;
use crate::{mechanism, template};

/// `C_GenerateKey` with `CKM_AES_KEY_GEN`, `CKM_GENERIC_SECRET_KEY_GEN`, `CKM_DES_KEY_GEN`,
/// `CKM_DES2_KEY_GEN` or `CKM_DES3_KEY_GEN`.
///
/// # Safety
///
/// `pMechanism` is NULL or a readable mechanism; `pTemplate` NULL or a readable template of
/// `ulCount` attributes; `phKey` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GenerateKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulCount: CK_ULONG,
    phKey: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let mechanism = unsafe { mechanism::read(pMechanism) }?;
        // SAFETY: forwarded from this function's contract.
        let template = unsafe { template::read(pTemplate, ulCount) }?;
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { args::out(phKey) }?;
        *out = library.sim.generate_key(hSession, &mechanism, &template)?;
        Ok(())
    })
}

/// `C_GenerateKeyPair` with `CKM_EC_KEY_PAIR_GEN` (P-192, P-224, P-256, P-384, P-521,
/// secp256k1, brainpoolP256r1, brainpoolP384r1), `CKM_EC_EDWARDS_KEY_PAIR_GEN` (Ed25519) or
/// `CKM_RSA_PKCS_KEY_PAIR_GEN` (1024 to 4096 bits).
///
/// # Safety
///
/// As [`C_GenerateKey`], for both templates and both output handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GenerateKeyPair(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    pPublicKeyTemplate: CK_ATTRIBUTE_PTR,
    ulPublicKeyAttributeCount: CK_ULONG,
    pPrivateKeyTemplate: CK_ATTRIBUTE_PTR,
    ulPrivateKeyAttributeCount: CK_ULONG,
    phPublicKey: CK_OBJECT_HANDLE_PTR,
    phPrivateKey: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let mechanism = unsafe { mechanism::read(pMechanism) }?;
        // SAFETY: forwarded from this function's contract.
        let public = unsafe { template::read(pPublicKeyTemplate, ulPublicKeyAttributeCount) }?;
        // SAFETY: forwarded from this function's contract.
        let private = unsafe { template::read(pPrivateKeyTemplate, ulPrivateKeyAttributeCount) }?;
        // SAFETY: forwarded from this function's contract.
        let public_out = unsafe { args::out(phPublicKey) }?;
        // SAFETY: forwarded from this function's contract.
        let private_out = unsafe { args::out(phPrivateKey) }?;
        let (public_key, private_key) = library
            .sim
            .generate_key_pair(hSession, &mechanism, &public, &private)?;
        *public_out = public_key;
        *private_out = private_key;
        Ok(())
    })
}

/// `C_WrapKey`: AES key wrap, with padding (secret keys, EC, Ed25519 and RSA private keys as
/// PKCS #8) or without (RFC 3394: values of whole 8-byte blocks), or RSA PKCS #1 v1.5 and
/// OAEP (secret keys).
///
/// # Safety
///
/// `pMechanism` is NULL or a readable mechanism; `pulWrappedKeyLen` NULL or readable and
/// writable; a non-NULL `pWrappedKey` writable for `*pulWrappedKeyLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_WrapKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hWrappingKey: CK_OBJECT_HANDLE,
    hKey: CK_OBJECT_HANDLE,
    pWrappedKey: CK_BYTE_PTR,
    pulWrappedKeyLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let mechanism = unsafe { mechanism::read(pMechanism) }?;
        // SAFETY: forwarded from this function's contract.
        let mut out = unsafe { OutBuf::new(pWrappedKey, pulWrappedKeyLen) }?;
        let wrapped = library
            .sim
            .wrap_key(hSession, &mechanism, hWrappingKey, hKey)?;
        out.write(&wrapped)
    })
}

/// `C_UnwrapKey`: the mechanisms of [`C_WrapKey`].
///
/// # Safety
///
/// `pMechanism` is NULL or a readable mechanism; `pWrappedKey` NULL or readable for
/// `ulWrappedKeyLen` bytes; `pTemplate` NULL or a readable template; `phKey` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_UnwrapKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hUnwrappingKey: CK_OBJECT_HANDLE,
    pWrappedKey: CK_BYTE_PTR,
    ulWrappedKeyLen: CK_ULONG,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulAttributeCount: CK_ULONG,
    phKey: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let mechanism = unsafe { mechanism::read(pMechanism) }?;
        // SAFETY: forwarded from this function's contract.
        let wrapped = unsafe { args::slice(pWrappedKey.cast_const(), ulWrappedKeyLen) }?;
        // SAFETY: forwarded from this function's contract.
        let template = unsafe { template::read(pTemplate, ulAttributeCount) }?;
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { args::out(phKey) }?;
        *out = library
            .sim
            .unwrap_key(hSession, &mechanism, hUnwrappingKey, wrapped, &template)?;
        Ok(())
    })
}

/// `C_GenerateRandom`.
///
/// # Safety
///
/// `RandomData` is NULL or writable for `ulRandomLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GenerateRandom(
    hSession: CK_SESSION_HANDLE,
    RandomData: CK_BYTE_PTR,
    ulRandomLen: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // PKCS#11's order: initialized, then the session, then the arguments.
        library.sim.session_info(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { args::slice_mut(RandomData, ulRandomLen) }?;
        // Written in place: a huge length allocates nothing (the caller vouches for its
        // buffer, as for every output).
        Ok(library.sim.generate_random_into(hSession, out)?)
    })
}

/// `C_DeriveKey` with `CKM_ECDH1_DERIVE`: an EC private key with `CKA_DERIVE` and the other
/// party's public point give a secret key of the template's type (register A74).
///
/// # Safety
///
/// `pMechanism` is NULL or a readable mechanism; `pTemplate` NULL or a readable template of
/// `ulAttributeCount` attributes; `phKey` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DeriveKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hBaseKey: CK_OBJECT_HANDLE,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulAttributeCount: CK_ULONG,
    phKey: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let mechanism = unsafe { mechanism::read(pMechanism) }?;
        // SAFETY: forwarded from this function's contract.
        let template = unsafe { template::read(pTemplate, ulAttributeCount) }?;
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { args::out(phKey) }?;
        *out = library
            .sim
            .derive_key(hSession, &mechanism, hBaseKey, &template)?;
        Ok(())
    })
}
