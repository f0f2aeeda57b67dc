//! The standard functions this module does not implement: each returns
//! `CKR_FUNCTION_NOT_SUPPORTED` after PKCS#11's first checks (`CKR_CRYPTOKI_NOT_INITIALIZED`,
//! then `CKR_SESSION_HANDLE_INVALID` for a function of a session), and reads none of its
//! pointers. Also the three functions of the legacy parallel mode and of seeding, which have
//! codes of their own: `C_GetFunctionStatus` and `C_CancelFunction` (`CKR_FUNCTION_NOT_PARALLEL`)
//! and `C_SeedRandom` (`CKR_RANDOM_SEED_NOT_SUPPORTED`, after checking its arguments).

use cpv4_wire::consts::{CKR_FUNCTION_NOT_PARALLEL, CKR_RANDOM_SEED_NOT_SUPPORTED};

use crate::args;
use crate::guard::{Error, entry};
use crate::state;
use crate::types::*;

/// `CKR_FUNCTION_NOT_SUPPORTED` for a function of `session`.
fn not_supported(session: CK_SESSION_HANDLE) -> CK_RV {
    entry(|| {
        state::session(session)?;
        Err(Error::NotSupported)
    })
}

/// `C_GetOperationState`: not supported.
///
/// # Safety
///
/// No argument is read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetOperationState(
    hSession: CK_SESSION_HANDLE,
    pOperationState: CK_BYTE_PTR,
    pulOperationStateLen: CK_ULONG_PTR,
) -> CK_RV {
    let _ = (hSession, pOperationState, pulOperationStateLen);
    not_supported(hSession)
}

/// `C_SetOperationState`: not supported.
///
/// # Safety
///
/// No argument is read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SetOperationState(
    hSession: CK_SESSION_HANDLE,
    pOperationState: CK_BYTE_PTR,
    ulOperationStateLen: CK_ULONG,
    hEncryptionKey: CK_OBJECT_HANDLE,
    hAuthenticationKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    let _ = (
        hSession,
        pOperationState,
        ulOperationStateLen,
        hEncryptionKey,
        hAuthenticationKey,
    );
    not_supported(hSession)
}

/// `C_SeedRandom`: the generator is the operating system's and takes no seed
/// (`CKR_RANDOM_SEED_NOT_SUPPORTED`), after the session and the arguments are checked.
///
/// # Safety
///
/// `pSeed` is NULL or readable for `ulSeedLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SeedRandom(
    hSession: CK_SESSION_HANDLE,
    pSeed: CK_BYTE_PTR,
    ulSeedLen: CK_ULONG,
) -> CK_RV {
    entry(|| {
        state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        unsafe { args::slice(pSeed.cast_const(), ulSeedLen) }?;
        Err(Error::Code(CKR_RANDOM_SEED_NOT_SUPPORTED))
    })
}

/// `C_GetFunctionStatus`: a legacy of parallel sessions, which this module has not
/// (`CKR_FUNCTION_NOT_PARALLEL`, after the session check).
///
/// # Safety
///
/// No pointer is read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetFunctionStatus(hSession: CK_SESSION_HANDLE) -> CK_RV {
    not_parallel(hSession)
}

/// `C_CancelFunction`: as [`C_GetFunctionStatus`].
///
/// # Safety
///
/// No pointer is read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_CancelFunction(hSession: CK_SESSION_HANDLE) -> CK_RV {
    not_parallel(hSession)
}

fn not_parallel(session: CK_SESSION_HANDLE) -> CK_RV {
    entry(|| {
        state::session(session)?;
        Err(Error::Code(CKR_FUNCTION_NOT_PARALLEL))
    })
}

/// `C_WaitForSlotEvent`: not supported.
///
/// # Safety
///
/// No argument is read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_WaitForSlotEvent(
    flags: CK_FLAGS,
    pSlot: CK_SLOT_ID_PTR,
    pReserved: CK_VOID_PTR,
) -> CK_RV {
    let _ = (flags, pSlot, pReserved);
    entry(|| {
        state::current()?;
        Err(Error::NotSupported)
    })
}
