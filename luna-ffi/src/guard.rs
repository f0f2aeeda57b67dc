//! The one place where a call's outcome becomes a `CK_RV`: `catch_unwind` around every body,
//! simulator errors through [`SimError::rv`], and the module's own argument errors.

use std::panic::{AssertUnwindSafe, catch_unwind};

use cpv4_wire::consts::{
    CKR_ARGUMENTS_BAD, CKR_BUFFER_TOO_SMALL, CKR_CANT_LOCK, CKR_CRYPTOKI_ALREADY_INITIALIZED,
    CKR_CRYPTOKI_NOT_INITIALIZED, CKR_FUNCTION_NOT_SUPPORTED, CKR_GENERAL_ERROR,
    CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID, CKR_OK, CKR_OPERATION_ACTIVE,
    CKR_SESSION_PARALLEL_NOT_SUPPORTED,
};
use luna_sim::SimError;

use crate::types::CK_RV;

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum Error {
    /// An error of the simulator (mapped by [`SimError::rv`]).
    Sim(SimError),
    /// A NULL pointer or an inconsistent length (`CKR_ARGUMENTS_BAD`).
    ArgumentsBad,
    /// An output buffer is too small; the needed length was written (`CKR_BUFFER_TOO_SMALL`).
    BufferTooSmall,
    /// `C_Initialize` was not called (`CKR_CRYPTOKI_NOT_INITIALIZED`).
    NotInitialized,
    /// `C_Initialize` was already called (`CKR_CRYPTOKI_ALREADY_INITIALIZED`).
    AlreadyInitialized,
    /// Application mutex callbacks without `CKF_OS_LOCKING_OK` (`CKR_CANT_LOCK`).
    CantLock,
    /// A mechanism parameter of the wrong size or shape (`CKR_MECHANISM_PARAM_INVALID`).
    MechanismParamInvalid,
    /// A mechanism the call does not take (`CKR_MECHANISM_INVALID`).
    MechanismInvalid,
    /// An operation is still delivering a buffered result (`CKR_OPERATION_ACTIVE`).
    OperationActive,
    /// `CKF_SERIAL_SESSION` not set (`CKR_SESSION_PARALLEL_NOT_SUPPORTED`).
    ParallelNotSupported,
    /// The function is not implemented (`CKR_FUNCTION_NOT_SUPPORTED`).
    NotSupported,
    /// Another code, decided by the module rather than the simulator (`CKR_FUNCTION_NOT_PARALLEL`,
    /// `CKR_RANDOM_SEED_NOT_SUPPORTED`).
    Code(CK_RV),
    /// A completed call whose result is not `CKR_OK` although its outputs were written
    /// (`C_GetAttributeValue`'s per-attribute outcome).
    Partial(CK_RV),
}

impl Error {
    /// The return code.
    pub(crate) fn rv(&self) -> CK_RV {
        match self {
            Self::Sim(err) => err.rv(),
            Self::ArgumentsBad => CKR_ARGUMENTS_BAD,
            Self::BufferTooSmall => CKR_BUFFER_TOO_SMALL,
            Self::NotInitialized => CKR_CRYPTOKI_NOT_INITIALIZED,
            Self::AlreadyInitialized => CKR_CRYPTOKI_ALREADY_INITIALIZED,
            Self::CantLock => CKR_CANT_LOCK,
            Self::MechanismParamInvalid => CKR_MECHANISM_PARAM_INVALID,
            Self::MechanismInvalid => CKR_MECHANISM_INVALID,
            Self::OperationActive => CKR_OPERATION_ACTIVE,
            Self::ParallelNotSupported => CKR_SESSION_PARALLEL_NOT_SUPPORTED,
            Self::NotSupported => CKR_FUNCTION_NOT_SUPPORTED,
            Self::Code(rv) => *rv,
            Self::Partial(rv) => *rv,
        }
    }
}

impl From<SimError> for Error {
    fn from(err: SimError) -> Self {
        Self::Sim(err)
    }
}

/// Result of a call body.
pub(crate) type FfiResult<T> = Result<T, Error>;

/// Held shared by every call for its duration, and exclusively by a thread that forks, from
/// just before `fork` to just after it in both processes (`pthread_atfork`): so no other thread
/// is inside the module, and inside SQLite, whose mutexes a child would otherwise inherit
/// locked and wait on forever (register A62). A fork waits for the calls in progress.
static CALL_GATE: parking_lot::RwLock<()> = parking_lot::RwLock::new(());

extern "C" fn before_fork() {
    use parking_lot::lock_api::RawRwLock as _;
    // SAFETY: the raw lock is taken without a guard on purpose; `after_fork`, which
    // `pthread_atfork` runs in the parent and in the child right after this `fork`, releases it.
    unsafe { CALL_GATE.raw() }.lock_exclusive();
}

extern "C" fn after_fork() {
    use parking_lot::lock_api::RawRwLock as _;
    // SAFETY: `before_fork` took the lock exclusively in this thread (the forking one, which
    // is also the only thread of the child) just before the fork.
    unsafe { CALL_GATE.raw().unlock_exclusive() };
}

/// Installs the fork handlers once per process (also in a child, where they are inherited).
fn install_fork_handlers() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: the three handlers are `extern "C"` functions of this library that take no
        // arguments and neither allocate nor unwind; the library is never unloaded while the
        // process runs (it is a PKCS#11 module), so the pointers stay valid.
        unsafe {
            libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork));
        }
    });
}

/// Runs `body` under `catch_unwind` and the call gate: `Ok` is `CKR_OK`, an error its code, a
/// panic `CKR_GENERAL_ERROR`.
pub(crate) fn entry(body: impl FnOnce() -> FfiResult<()>) -> CK_RV {
    install_fork_handlers();
    // Recursive: a call made from inside another (the CLI's relay) must not wait for a fork
    // that waits for it.
    let _gate = CALL_GATE.read_recursive();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(err)) => err.rv(),
        Err(_) => CKR_GENERAL_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use cpv4_wire::consts::{CKR_PIN_INCORRECT, CKR_USER_NOT_AUTHORIZED};

    use super::*;

    #[test]
    fn a_panic_becomes_general_error_and_errors_map_once() {
        assert_eq!(entry(|| panic!("boom")), CKR_GENERAL_ERROR);
        assert_eq!(entry(|| Ok(())), CKR_OK);
        assert_eq!(entry(|| Err(Error::ArgumentsBad)), CKR_ARGUMENTS_BAD);
        assert_eq!(
            entry(|| Err(SimError::PinIncorrect.into())),
            CKR_PIN_INCORRECT
        );
        assert_eq!(
            entry(|| Err(SimError::UserNotAuthorized.into())),
            CKR_USER_NOT_AUTHORIZED
        );
        assert_eq!(
            entry(|| Err(Error::Partial(CKR_BUFFER_TOO_SMALL))),
            CKR_BUFFER_TOO_SMALL
        );
    }
}
