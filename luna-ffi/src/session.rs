//! Sessions, login and PINs: `C_InitToken`, `C_InitPIN`, `C_SetPIN`, `C_OpenSession`,
//! `C_CloseSession`, `C_CloseAllSessions`, `C_GetSessionInfo`, `C_Login`, `C_Logout`.

use cpv4_wire::consts::{CKF_RW_SESSION, CKF_SERIAL_SESSION, CKU_CONTEXT_SPECIFIC};

use crate::args;
use crate::guard::{Error, entry};
use crate::state;
use crate::types::*;

/// `C_InitToken`: with the Partition SO's PIN, clears the partition and sets its label
/// (32 blank-padded bytes).
///
/// # Safety
///
/// A non-NULL `pPin` is readable for `ulPinLen` bytes; `pLabel` is NULL or readable for 32
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_InitToken(
    slotID: CK_SLOT_ID,
    pPin: CK_UTF8CHAR_PTR,
    ulPinLen: CK_ULONG,
    pLabel: CK_UTF8CHAR_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::current()?;
        // SAFETY: forwarded from this function's contract.
        let pin = unsafe { args::slice(pPin.cast_const(), ulPinLen) }?;
        // SAFETY: forwarded from this function's contract.
        let label = unsafe { args::input(pLabel.cast::<[u8; 32]>().cast_const()) }?;
        let label = String::from_utf8_lossy(label);
        library
            .sim
            .init_token(slotID, pin, label.trim_end_matches(' '))?;
        library.forget_slot(slotID);
        Ok(())
    })
}

/// `C_InitPIN`: the Partition SO sets the Crypto Officer's PIN.
///
/// # Safety
///
/// A non-NULL `pPin` is readable for `ulPinLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_InitPIN(
    hSession: CK_SESSION_HANDLE,
    pPin: CK_UTF8CHAR_PTR,
    ulPinLen: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let pin = unsafe { args::slice(pPin.cast_const(), ulPinLen) }?;
        Ok(library.sim.init_pin(hSession, pin)?)
    })
}

/// `C_SetPIN`: changes the PIN of the logged-in role (the Crypto Officer's if none).
///
/// # Safety
///
/// Non-NULL PIN pointers are readable for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SetPIN(
    hSession: CK_SESSION_HANDLE,
    pOldPin: CK_UTF8CHAR_PTR,
    ulOldLen: CK_ULONG,
    pNewPin: CK_UTF8CHAR_PTR,
    ulNewLen: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let old = unsafe { args::slice(pOldPin.cast_const(), ulOldLen) }?;
        // SAFETY: forwarded from this function's contract.
        let new = unsafe { args::slice(pNewPin.cast_const(), ulNewLen) }?;
        Ok(library.sim.set_pin(hSession, old, new)?)
    })
}

/// `C_OpenSession`: `CKF_SERIAL_SESSION` is required; `CKF_RW_SESSION` opens a read-write
/// session. Notification callbacks are never called.
///
/// # Safety
///
/// `phSession` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_OpenSession(
    slotID: CK_SLOT_ID,
    flags: CK_FLAGS,
    pApplication: CK_VOID_PTR,
    Notify: CK_NOTIFY,
    phSession: CK_SESSION_HANDLE_PTR,
) -> CK_RV {
    let _ = (pApplication, Notify);
    entry(|| {
        let library = state::current()?;
        // SAFETY: the caller guarantees a non-NULL `phSession` is writable.
        let out = unsafe { args::out(phSession) }?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(Error::ParallelNotSupported);
        }
        *out = library
            .sim
            .open_session(slotID, flags & CKF_RW_SESSION != 0)?;
        Ok(())
    })
}

/// `C_CloseSession`.
///
/// # Safety
///
/// No pointer arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_CloseSession(hSession: CK_SESSION_HANDLE) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        library.sim.close_session(hSession)?;
        library.forget_session(hSession);
        Ok(())
    })
}

/// `C_CloseAllSessions`.
///
/// # Safety
///
/// No pointer arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_CloseAllSessions(slotID: CK_SLOT_ID) -> CK_RV {
    entry(|| {
        let library = state::current()?;
        library.sim.close_all_sessions(slotID)?;
        library.forget_slot(slotID);
        Ok(())
    })
}

/// `C_GetSessionInfo`.
///
/// # Safety
///
/// `pInfo` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetSessionInfo(
    hSession: CK_SESSION_HANDLE,
    pInfo: *mut CK_SESSION_INFO,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: the caller guarantees a non-NULL `pInfo` is writable.
        let out = unsafe { args::out(pInfo) }?;
        let info = library.sim.session_info(hSession)?;
        *out = CK_SESSION_INFO {
            slotID: info.slot,
            state: info.state(),
            flags: info.flags(),
            ulDeviceError: 0,
        };
        Ok(())
    })
}

/// `C_Login` as `CKU_SO` (Partition SO), `CKU_USER` (Crypto Officer) or `CKU_CRYPTO_USER`,
/// or `CKU_CONTEXT_SPECIFIC` for a key that always authenticates.
///
/// # Safety
///
/// A non-NULL `pPin` is readable for `ulPinLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Login(
    hSession: CK_SESSION_HANDLE,
    userType: CK_USER_TYPE,
    pPin: CK_UTF8CHAR_PTR,
    ulPinLen: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let pin = unsafe { args::slice(pPin.cast_const(), ulPinLen) }?;
        let slot = library.sim.session_info(hSession)?.slot;
        let result = library.sim.login(hSession, userType, pin);
        if userType == CKU_CONTEXT_SPECIFIC && result == Err(luna_sim::SimError::PinLocked) {
            // A context-specific PIN that locks logs the slot out (PKCS#11 5.6): what was held
            // back for its sessions (decrypted plaintext) goes with the login, as on
            // `C_Logout`.
            library.forget_slot(slot);
        }
        Ok(result?)
    })
}

/// `C_Logout`: logs the slot out and ends its sessions' operations.
///
/// # Safety
///
/// No pointer arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Logout(hSession: CK_SESSION_HANDLE) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        let slot = library.sim.session_info(hSession)?.slot;
        library.sim.logout(hSession)?;
        library.forget_slot(slot);
        Ok(())
    })
}
