//! The dual-function calls: `C_DigestEncryptUpdate`, `C_SignEncryptUpdate` (the part is digested
//! or signed, then encrypted), `C_DecryptDigestUpdate` and `C_DecryptVerifyUpdate` (the part is
//! decrypted, then the plaintext digested or verified). Both operations must be active and take
//! updates, which is checked before either moves; they are then the two update calls, in
//! PKCS#11's order, with the output rules of `cipher`: a length query or a short buffer changes
//! neither operation, and a held-back plaintext was already digested or verified when it was
//! computed (and is fetched only through the same function). An error other than
//! `CKR_BUFFER_TOO_SMALL` ends both operations (register A76).

use luna_sim::{OperationKind, SessionHandle};

use crate::args::{self, OutBuf};
use crate::cipher::{decrypt_step, write_fitted};
use crate::guard::{FfiResult, entry};
use crate::state::{self, Call, Library};
use crate::types::*;

/// Runs `body`; an error ends both operations.
fn ending_both(
    library: &Library,
    session: SessionHandle,
    kinds: [OperationKind; 2],
    body: impl FnOnce() -> FfiResult<()>,
) -> FfiResult<()> {
    state::ending_on_error(library, session, kinds[0], || {
        state::ending_on_error(library, session, kinds[1], body)
    })
}

/// `first` (digest or sign) on the part, then its encryption, unless the output is only a
/// length query or does not fit.
///
/// # Safety
///
/// As [`C_DigestEncryptUpdate`].
unsafe fn then_encrypt(
    session: CK_SESSION_HANDLE,
    part: CK_BYTE_PTR,
    part_len: CK_ULONG,
    encrypted: CK_BYTE_PTR,
    encrypted_len: CK_ULONG_PTR,
    kind: OperationKind,
) -> CK_RV {
    entry(|| {
        let library = state::session(session)?;
        ending_both(&library, session, [OperationKind::Encrypt, kind], || {
            // SAFETY: forwarded from this function's contract.
            let data = unsafe { args::slice(part.cast_const(), part_len) }?;
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(encrypted, encrypted_len) }?;
            let sim = &library.sim;
            // Both must be active, and take updates, before either moves: checked here for a
            // length query, by `update_then_encrypt` under its lock otherwise.
            if out.is_query() {
                sim.check_updates(session, &[kind, OperationKind::Encrypt])?;
                let needed = sim.encrypt_len(session, Some(data.len()), false)?;
                return out.answer_length(needed).map(|_| ());
            }
            let fitted = sim.update_then_encrypt(session, kind, data, out.capacity()?)?;
            write_fitted(&mut out, fitted)
        })
    })
}

/// Decrypts the part, then gives the plaintext to the digest or verification.
///
/// # Safety
///
/// As [`C_DecryptDigestUpdate`].
unsafe fn decrypt_then(
    session: CK_SESSION_HANDLE,
    encrypted: CK_BYTE_PTR,
    encrypted_len: CK_ULONG,
    part: CK_BYTE_PTR,
    part_len: CK_ULONG_PTR,
    kind: OperationKind,
) -> CK_RV {
    entry(|| {
        let library = state::session(session)?;
        ending_both(&library, session, [OperationKind::Decrypt, kind], || {
            // SAFETY: forwarded from this function's contract.
            let data = unsafe { args::slice(encrypted.cast_const(), encrypted_len) }?;
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(part, part_len) }?;
            // Both must be active, and take updates, before either moves (and before a
            // held-back result is delivered).
            library
                .sim
                .check_updates(session, &[OperationKind::Decrypt, kind])?;
            decrypt_step(&library, session, Call::update(data)?, &mut out, Some(kind))
        })
    })
}

/// `C_DigestEncryptUpdate`: digests the part, then encrypts it.
///
/// # Safety
///
/// `pPart` is NULL or readable for `ulPartLen` bytes; `pulEncryptedPartLen` is NULL or
/// readable and writable; a non-NULL `pEncryptedPart` is writable for `*pulEncryptedPartLen`
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DigestEncryptUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: CK_BYTE_PTR,
    ulPartLen: CK_ULONG,
    pEncryptedPart: CK_BYTE_PTR,
    pulEncryptedPartLen: CK_ULONG_PTR,
) -> CK_RV {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        then_encrypt(
            hSession,
            pPart,
            ulPartLen,
            pEncryptedPart,
            pulEncryptedPartLen,
            OperationKind::Digest,
        )
    }
}

/// `C_SignEncryptUpdate`: signs (updates the signature with) the part, then encrypts it.
///
/// # Safety
///
/// As [`C_DigestEncryptUpdate`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignEncryptUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: CK_BYTE_PTR,
    ulPartLen: CK_ULONG,
    pEncryptedPart: CK_BYTE_PTR,
    pulEncryptedPartLen: CK_ULONG_PTR,
) -> CK_RV {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        then_encrypt(
            hSession,
            pPart,
            ulPartLen,
            pEncryptedPart,
            pulEncryptedPartLen,
            OperationKind::Sign,
        )
    }
}

/// `C_DecryptDigestUpdate`: decrypts the part, then digests the plaintext.
///
/// # Safety
///
/// `pEncryptedPart` is NULL or readable for `ulEncryptedPartLen` bytes; `pulPartLen` is NULL
/// or readable and writable; a non-NULL `pPart` is writable for `*pulPartLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DecryptDigestUpdate(
    hSession: CK_SESSION_HANDLE,
    pEncryptedPart: CK_BYTE_PTR,
    ulEncryptedPartLen: CK_ULONG,
    pPart: CK_BYTE_PTR,
    pulPartLen: CK_ULONG_PTR,
) -> CK_RV {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        decrypt_then(
            hSession,
            pEncryptedPart,
            ulEncryptedPartLen,
            pPart,
            pulPartLen,
            OperationKind::Digest,
        )
    }
}

/// `C_DecryptVerifyUpdate`: decrypts the part, then updates the verification with the
/// plaintext.
///
/// # Safety
///
/// As [`C_DecryptDigestUpdate`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DecryptVerifyUpdate(
    hSession: CK_SESSION_HANDLE,
    pEncryptedPart: CK_BYTE_PTR,
    ulEncryptedPartLen: CK_ULONG,
    pPart: CK_BYTE_PTR,
    pulPartLen: CK_ULONG_PTR,
) -> CK_RV {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        decrypt_then(
            hSession,
            pEncryptedPart,
            ulEncryptedPartLen,
            pPart,
            pulPartLen,
            OperationKind::Verify,
        )
    }
}
