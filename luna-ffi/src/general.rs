//! General, slot and token functions: `C_Initialize`, `C_Finalize`, `C_GetInfo`,
//! `C_GetSlotList`, `C_GetSlotInfo`, `C_GetTokenInfo`, `C_GetMechanismList`,
//! `C_GetMechanismInfo`.

use cpv4_wire::consts::{CK_UNAVAILABLE_INFORMATION, CKF_OS_LOCKING_OK};
use luna_sim::mechanisms::{MECHANISMS, mechanism_info};

use crate::args::{self, OutBuf};
use crate::ck::CK_EFFECTIVELY_INFINITE;
use crate::guard::{Error, entry};
use crate::state;
use crate::types::*;

/// The Cryptoki version this module implements.
pub const CRYPTOKI_VERSION: CK_VERSION = CK_VERSION {
    major: 2,
    minor: 40,
};

fn library_version() -> CK_VERSION {
    CK_VERSION {
        major: env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0),
        minor: env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0),
    }
}

/// `C_Initialize`: opens the simulator home named by `LUNA_SIM_HOME` (else the default home).
///
/// `pInitArgs` may be NULL. Otherwise its `pReserved` must be NULL and the four mutex
/// callbacks all NULL or all set (`CKR_ARGUMENTS_BAD`); callbacks without
/// `CKF_OS_LOCKING_OK` are `CKR_CANT_LOCK` (this module only uses the OS's locking).
///
/// # Safety
///
/// `pInitArgs` is NULL or points to a readable `CK_C_INITIALIZE_ARGS`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Initialize(pInitArgs: CK_VOID_PTR) -> CK_RV {
    entry(|| {
        let init = pInitArgs.cast::<CK_C_INITIALIZE_ARGS>().cast_const();
        if !init.is_null() {
            // SAFETY: non-NULL, and the caller guarantees it points to the structure.
            let init = unsafe { init.read_unaligned() };
            if !init.pReserved.is_null() {
                return Err(Error::ArgumentsBad);
            }
            let given = [
                init.CreateMutex.is_some(),
                init.DestroyMutex.is_some(),
                init.LockMutex.is_some(),
                init.UnlockMutex.is_some(),
            ];
            let all = given.iter().all(|g| *g);
            if given.iter().any(|g| *g) && !all {
                return Err(Error::ArgumentsBad);
            }
            if all && init.flags & CKF_OS_LOCKING_OK == 0 {
                return Err(Error::CantLock);
            }
        }
        state::initialize()
    })
}

/// `C_Finalize`: ends the library instance (sessions, logins, session objects).
///
/// # Safety
///
/// Any pointer value is accepted (a non-NULL one is `CKR_ARGUMENTS_BAD`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Finalize(pReserved: CK_VOID_PTR) -> CK_RV {
    entry(|| {
        // Not initialized comes first, as for every function (register A64).
        state::current()?;
        if !pReserved.is_null() {
            return Err(Error::ArgumentsBad);
        }
        state::finalize()
    })
}

/// `C_GetInfo`.
///
/// # Safety
///
/// `pInfo` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetInfo(pInfo: *mut CK_INFO) -> CK_RV {
    entry(|| {
        state::current()?;
        // SAFETY: the caller guarantees a non-NULL `pInfo` is writable.
        let info = unsafe { args::out(pInfo) }?;
        *info = CK_INFO {
            cryptokiVersion: CRYPTOKI_VERSION,
            manufacturerID: args::pad(luna_sim::MANUFACTURER_ID),
            flags: 0,
            libraryDescription: args::pad("luna-ffi PKCS#11 over luna-sim"),
            libraryVersion: library_version(),
        };
        Ok(())
    })
}

/// `C_GetSlotList`: every partition of the simulator home has a token.
///
/// # Safety
///
/// `pulCount` is NULL or readable and writable; a non-NULL `pSlotList` is writable for
/// `*pulCount` slot ids.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetSlotList(
    tokenPresent: CK_BBOOL,
    pSlotList: CK_SLOT_ID_PTR,
    pulCount: CK_ULONG_PTR,
) -> CK_RV {
    let _ = tokenPresent;
    entry(|| {
        let library = state::current()?;
        // SAFETY: forwarded from this function's contract.
        let mut out = unsafe { OutBuf::new(pSlotList, pulCount) }?;
        out.write(&library.sim.slots()?)
    })
}

/// `C_GetSlotInfo`.
///
/// # Safety
///
/// `pInfo` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetSlotInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_SLOT_INFO) -> CK_RV {
    entry(|| {
        let library = state::current()?;
        // SAFETY: the caller guarantees a non-NULL `pInfo` is writable.
        let out = unsafe { args::out(pInfo) }?;
        let info = library.sim.slot_info(slotID)?;
        *out = CK_SLOT_INFO {
            slotDescription: args::pad(&info.description),
            manufacturerID: args::pad(info.manufacturer_id),
            flags: info.flags,
            hardwareVersion: CK_VERSION { major: 7, minor: 0 },
            firmwareVersion: CK_VERSION {
                major: info.firmware_version.0,
                minor: info.firmware_version.1,
            },
        };
        Ok(())
    })
}

/// `YYYYMMDDhhmmss00` for a Unix time (proleptic Gregorian calendar, UTC).
pub(crate) fn utc_time(unix: i64) -> [CK_CHAR; 16] {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let text = format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}00",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    args::pad(&text)
}

/// `C_GetTokenInfo`.
///
/// # Safety
///
/// `pInfo` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetTokenInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_TOKEN_INFO) -> CK_RV {
    entry(|| {
        let library = state::current()?;
        // SAFETY: the caller guarantees a non-NULL `pInfo` is writable.
        let out = unsafe { args::out(pInfo) }?;
        let info = library.sim.token_info(slotID)?;
        *out = CK_TOKEN_INFO {
            label: args::pad(&info.label),
            manufacturerID: args::pad(info.manufacturer_id),
            model: args::pad(info.model),
            serialNumber: args::pad(&info.serial_number),
            flags: info.flags,
            ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
            ulSessionCount: info.session_count,
            ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
            ulRwSessionCount: info.rw_session_count,
            ulMaxPinLen: info.max_pin_len,
            ulMinPinLen: info.min_pin_len,
            ulTotalPublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
            hardwareVersion: CK_VERSION {
                major: info.hardware_version.0,
                minor: info.hardware_version.1,
            },
            firmwareVersion: CK_VERSION {
                major: info.firmware_version.0,
                minor: info.firmware_version.1,
            },
            utcTime: info.utc_time.map_or([b' '; 16], utc_time),
        };
        Ok(())
    })
}

/// `C_GetMechanismList`.
///
/// # Safety
///
/// `pulCount` is NULL or readable and writable; a non-NULL `pMechanismList` is writable for
/// `*pulCount` entries.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetMechanismList(
    slotID: CK_SLOT_ID,
    pMechanismList: CK_MECHANISM_TYPE_PTR,
    pulCount: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::current()?;
        // SAFETY: forwarded from this function's contract.
        let mut out = unsafe { OutBuf::new(pMechanismList, pulCount) }?;
        library.sim.slot_info(slotID)?;
        let list: Vec<CK_MECHANISM_TYPE> = MECHANISMS.iter().map(|m| m.mechanism).collect();
        out.write(&list)
    })
}

/// `C_GetMechanismInfo`.
///
/// # Safety
///
/// `pInfo` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetMechanismInfo(
    slotID: CK_SLOT_ID,
    type_: CK_MECHANISM_TYPE,
    pInfo: *mut CK_MECHANISM_INFO,
) -> CK_RV {
    entry(|| {
        let library = state::current()?;
        // SAFETY: the caller guarantees a non-NULL `pInfo` is writable.
        let out = unsafe { args::out(pInfo) }?;
        library.sim.slot_info(slotID)?;
        let info = mechanism_info(type_)?;
        *out = CK_MECHANISM_INFO {
            ulMinKeySize: info.min_key_size,
            ulMaxKeySize: info.max_key_size,
            flags: info.flags,
        };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_time_formats_the_token_clock() {
        assert_eq!(&utc_time(0), b"1970010100000000");
        assert_eq!(&utc_time(1_700_000_000), b"2023111422132000");
        assert_eq!(&utc_time(951_782_400), b"2000022900000000");
    }
}
