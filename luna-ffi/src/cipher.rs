//! Encryption and decryption: `C_EncryptInit`, `C_Encrypt`, `C_EncryptUpdate`,
//! `C_EncryptFinal`, `C_DecryptInit`, `C_Decrypt`, `C_DecryptUpdate`, `C_DecryptFinal`.
//!
//! Output buffers follow PKCS#11: a NULL buffer asks for the length, a short one gets
//! `CKR_BUFFER_TOO_SMALL` with the needed length, and in both cases the operation stays where
//! it was. Encryption lengths are exact (AES-GCM: input + tag; AES-CBC-PAD: whole blocks), so
//! they are answered from the simulator's `encrypt_len` without touching the operation.
//! Decryption lengths are an upper bound (the padding or the tag is only known after
//! decrypting): a buffer of at least the bound is used directly; a smaller one makes the
//! module decrypt, and if the plaintext still does not fit, the plaintext is held back
//! for the session and delivered when the caller repeats the same call with a buffer large
//! enough (until then `C_DecryptInit` is `CKR_OPERATION_ACTIVE`, and a different call is
//! `CKR_ARGUMENTS_BAD`, which ends the operation as every error but `CKR_BUFFER_TOO_SMALL`
//! does: `state::ending_on_error`).

use luna_sim::{CipherStep, Fitted, SessionHandle, SimError};

use crate::args::{self, OutBuf};
use crate::guard::{Error, FfiResult, entry};
use crate::mechanism;
use crate::state::{self, Call, Held, Library, OpKind};
use crate::types::*;
use luna_sim::OperationKind;

/// Encrypts one step.
fn encrypt_step(
    library: &Library,
    session: SessionHandle,
    call: &Call,
    out: &mut OutBuf<'_, u8>,
) -> FfiResult<()> {
    let sim = &library.sim;
    let step = match call {
        Call::Single(data) => CipherStep::Single(data),
        Call::Update(data) => CipherStep::Update(data),
        Call::Final => CipherStep::Final,
    };
    if out.is_query() {
        let needed = match step {
            CipherStep::Single(data) => sim.encrypt_len(session, Some(data.len()), true)?,
            CipherStep::Update(data) => sim.encrypt_len(session, Some(data.len()), false)?,
            CipherStep::Final => sim.encrypt_len(session, None, false)?,
        };
        return out.answer_length(needed).map(|_| ());
    }
    // The length is checked with the step, so nothing moves unless the output fits.
    write_fitted(out, sim.encrypt_fitting(session, step, out.capacity()?)?)
}

/// Writes a step's output, or reports the length it needs (`CKR_BUFFER_TOO_SMALL`).
pub(crate) fn write_fitted(out: &mut OutBuf<'_, u8>, fitted: Fitted<Vec<u8>>) -> FfiResult<()> {
    match fitted {
        Fitted::Done(output) => out.write(&output),
        Fitted::Needs(needed) => out.answer_length(needed).map(|_| ()),
    }
}

/// Decrypts one step (see the module documentation for held-back results) and, for a dual
/// function, gives the plaintext to the digest or verification `fed` once, when it is
/// computed (not again when a held-back result is delivered), in the same step of the
/// simulator. A held-back result is fetched only by the same call through the same function;
/// another is `CKR_ARGUMENTS_BAD`.
pub(crate) fn decrypt_step(
    library: &Library,
    session: SessionHandle,
    call: Call,
    out: &mut OutBuf<'_, u8>,
    fed: Option<OperationKind>,
) -> FfiResult<()> {
    let key = (session, OpKind::Decrypt);
    let slot = library.sim.session_info(session)?.slot;
    // Read with the removal, so a logout between here and a `hold` drops what is held.
    let (held, seen) = {
        let mut results = library.held();
        (results.results.remove(&key), results.forgotten(slot))
    };
    if let Some(held) = held {
        if held.call != call || held.fed != fed {
            library.hold(key, held, seen);
            return Err(Error::ArgumentsBad);
        }
        let result = out.write(&held.output);
        if out.is_query() || result.is_err() {
            library.hold(key, held, seen);
        }
        return result;
    }
    let sim = &library.sim;
    let bound = match &call {
        Call::Single(data) => sim.decrypt_len(session, Some(data.len()), true)?,
        Call::Update(data) => sim.decrypt_len(session, Some(data.len()), false)?,
        Call::Final => sim.decrypt_len(session, None, false)?,
    };
    if out.is_query() {
        return out.answer_length(bound).map(|_| ());
    }
    // Plaintext: wiped once written out or dropped.
    let output = match (&call, fed) {
        (Call::Single(data), None) => sim.decrypt(session, data)?,
        (Call::Update(data), None) => sim.decrypt_update(session, data)?,
        (Call::Update(data), Some(kind)) => sim.decrypt_update_then(session, kind, data)?,
        (Call::Final, None) => sim.decrypt_final(session)?,
        _ => return Err(SimError::Internal("a dual function decrypts by updates only").into()),
    };
    match out.write(&output) {
        Err(Error::BufferTooSmall) => {
            let held = Held {
                slot,
                call,
                fed,
                output,
            };
            library.hold(key, held, seen);
            Err(Error::BufferTooSmall)
        }
        other => other,
    }
}

/// `C_EncryptInit`: AES-GCM, AES-CBC-PAD, and RSA PKCS #1 v1.5, OAEP and raw (see the
/// mechanism table of the README).
///
/// # Safety
///
/// `pMechanism` is NULL or a readable mechanism.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_EncryptInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let mechanism = unsafe { mechanism::read(pMechanism) }?;
        Ok(library.sim.encrypt_init(hSession, &mechanism, hKey)?)
    })
}

/// `C_Encrypt`.
///
/// # Safety
///
/// `pData` is NULL or readable for `ulDataLen` bytes; `pulEncryptedDataLen` is NULL or
/// readable and writable; a non-NULL `pEncryptedData` is writable for
/// `*pulEncryptedDataLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Encrypt(
    hSession: CK_SESSION_HANDLE,
    pData: CK_BYTE_PTR,
    ulDataLen: CK_ULONG,
    pEncryptedData: CK_BYTE_PTR,
    pulEncryptedDataLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Encrypt, || {
            // SAFETY: forwarded from this function's contract.
            let data = unsafe { args::slice(pData.cast_const(), ulDataLen) }?;
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(pEncryptedData, pulEncryptedDataLen) }?;
            encrypt_step(&library, hSession, &Call::single(data)?, &mut out)
        })
    })
}

/// `C_EncryptUpdate`.
///
/// # Safety
///
/// As [`C_Encrypt`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_EncryptUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: CK_BYTE_PTR,
    ulPartLen: CK_ULONG,
    pEncryptedPart: CK_BYTE_PTR,
    pulEncryptedPartLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Encrypt, || {
            // SAFETY: forwarded from this function's contract.
            let data = unsafe { args::slice(pPart.cast_const(), ulPartLen) }?;
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(pEncryptedPart, pulEncryptedPartLen) }?;
            encrypt_step(&library, hSession, &Call::update(data)?, &mut out)
        })
    })
}

/// `C_EncryptFinal`.
///
/// # Safety
///
/// `pulLastEncryptedPartLen` is NULL or readable and writable; a non-NULL
/// `pLastEncryptedPart` is writable for `*pulLastEncryptedPartLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_EncryptFinal(
    hSession: CK_SESSION_HANDLE,
    pLastEncryptedPart: CK_BYTE_PTR,
    pulLastEncryptedPartLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Encrypt, || {
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(pLastEncryptedPart, pulLastEncryptedPartLen) }?;
            encrypt_step(&library, hSession, &Call::Final, &mut out)
        })
    })
}

/// `C_DecryptInit`: the mechanisms of [`C_EncryptInit`].
///
/// # Safety
///
/// As [`C_EncryptInit`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DecryptInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let mechanism = unsafe { mechanism::read(pMechanism) }?;
        if library
            .held()
            .results
            .contains_key(&(hSession, OpKind::Decrypt))
        {
            return Err(Error::OperationActive);
        }
        Ok(library.sim.decrypt_init(hSession, &mechanism, hKey)?)
    })
}

/// `C_Decrypt`.
///
/// # Safety
///
/// As [`C_Encrypt`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Decrypt(
    hSession: CK_SESSION_HANDLE,
    pEncryptedData: CK_BYTE_PTR,
    ulEncryptedDataLen: CK_ULONG,
    pData: CK_BYTE_PTR,
    pulDataLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Decrypt, || {
            // SAFETY: forwarded from this function's contract.
            let data = unsafe { args::slice(pEncryptedData.cast_const(), ulEncryptedDataLen) }?;
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(pData, pulDataLen) }?;
            decrypt_step(&library, hSession, Call::single(data)?, &mut out, None)
        })
    })
}

/// `C_DecryptUpdate`.
///
/// # Safety
///
/// As [`C_Encrypt`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DecryptUpdate(
    hSession: CK_SESSION_HANDLE,
    pEncryptedPart: CK_BYTE_PTR,
    ulEncryptedPartLen: CK_ULONG,
    pPart: CK_BYTE_PTR,
    pulPartLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Decrypt, || {
            // SAFETY: forwarded from this function's contract.
            let data = unsafe { args::slice(pEncryptedPart.cast_const(), ulEncryptedPartLen) }?;
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(pPart, pulPartLen) }?;
            decrypt_step(&library, hSession, Call::update(data)?, &mut out, None)
        })
    })
}

/// `C_DecryptFinal`.
///
/// # Safety
///
/// As [`C_EncryptFinal`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DecryptFinal(
    hSession: CK_SESSION_HANDLE,
    pLastPart: CK_BYTE_PTR,
    pulLastPartLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        state::ending_on_error(&library, hSession, OperationKind::Decrypt, || {
            // SAFETY: forwarded from this function's contract.
            let mut out = unsafe { OutBuf::new(pLastPart, pulLastPartLen) }?;
            decrypt_step(&library, hSession, Call::Final, &mut out, None)
        })
    })
}
