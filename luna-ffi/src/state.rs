//! The library state: one [`Simulator`] per process between `C_Initialize` and `C_Finalize`,
//! plus the results this module holds back for callers whose buffer was too small.
//!
//! Calls take a clone of the `Arc` under a short read lock, so `C_Finalize` never waits for
//! running calls (they finish on the instance they started with) and many threads call at
//! once; the simulator serializes its own state internally.
//!
//! After `fork`, the child inherits the parent's instance, whose SQLite connections must not
//! be used (or closed) in another process, and the parent's lock, which another thread of the
//! parent may have held at the moment of the fork (it would then never be released in the
//! child). So the state lives in a cell per process: a child finds the parent's cell (another
//! process id), treats it as not initialized (`CKR_CRYPTOKI_NOT_INITIALIZED`) and never touches
//! its lock or its instance; the first call in the child installs a fresh cell, leaking the
//! inherited one (never closed there), and the child's `C_Initialize` opens a fresh instance,
//! as PKCS#11 asks of a child (register A62).

use std::collections::HashMap;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use luna_sim::{OperationKind, SessionHandle, Simulator, SlotId};
use zeroize::Zeroizing;

use crate::guard::{Error, FfiResult};
use cpv4_wire::consts::CKR_OPERATION_NOT_INITIALIZED;

/// Which operation a held-back result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OpKind {
    /// `C_Decrypt`, `C_DecryptUpdate`, `C_DecryptFinal`.
    Decrypt,
}

/// Which call produced a held-back result, with its input (for encryption, plaintext: wiped
/// when dropped, shown by `Debug` as its length only).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Call {
    /// A single-part call on this input.
    Single(Zeroizing<Vec<u8>>),
    /// An update call on this input.
    Update(Zeroizing<Vec<u8>>),
    /// The final call.
    Final,
}

impl Call {
    /// A single-part call on a copy of `data`.
    pub(crate) fn single(data: &[u8]) -> FfiResult<Self> {
        Ok(Self::Single(Zeroizing::new(crate::args::copy(data)?)))
    }

    /// An update call on a copy of `data`.
    pub(crate) fn update(data: &[u8]) -> FfiResult<Self> {
        Ok(Self::Update(Zeroizing::new(crate::args::copy(data)?)))
    }
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Single(data) => write!(f, "Single(<{} bytes>)", data.len()),
            Self::Update(data) => write!(f, "Update(<{} bytes>)", data.len()),
            Self::Final => f.write_str("Final"),
        }
    }
}

/// A computed output that did not fit the caller's buffer: the operation is over in the
/// simulator, but for the caller it is still active until the result is fetched by repeating
/// the same call with a buffer large enough. The output is decrypted plaintext: it is wiped
/// when dropped and never shown by `Debug`.
pub(crate) struct Held {
    /// The slot of the session (dropped on logout or `C_CloseAllSessions`).
    pub(crate) slot: SlotId,
    /// The call and its input.
    pub(crate) call: Call,
    /// The operation the plaintext was also given to: the digest or verification of a
    /// dual-function call, `None` for the plain decryption calls. Only a call through the same
    /// function fetches it, so a plaintext never leaves undigested through
    /// `C_DecryptDigestUpdate`, nor digested twice.
    pub(crate) fed: Option<OperationKind>,
    /// The output.
    pub(crate) output: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("slot", &self.slot)
            .field("call", &self.call)
            .field("fed", &self.fed)
            .field(
                "output",
                &format_args!("<{} bytes redacted>", self.output.len()),
            )
            .finish()
    }
}

/// One initialized library instance.
#[derive(Debug)]
pub(crate) struct Library {
    /// The simulator.
    pub(crate) sim: Simulator,
    held: Mutex<HeldResults>,
}

/// The results held back for the sessions (see the `cipher` module), and how often each
/// slot's were forgotten: a result computed before a logout (or a locking context PIN) and
/// stored after its slot was forgotten is dropped, not kept past the login it came from.
#[derive(Debug, Default)]
pub(crate) struct HeldResults {
    /// The results, by session and operation.
    pub(crate) results: HashMap<(SessionHandle, OpKind), Held>,
    forgotten: HashMap<SlotId, u64>,
}

impl HeldResults {
    /// How many times `slot`'s results were forgotten: read before computing a result, and
    /// given to [`HeldResults::hold`] with it.
    pub(crate) fn forgotten(&self, slot: SlotId) -> u64 {
        self.forgotten.get(&slot).copied().unwrap_or(0)
    }
}

impl Library {
    fn new(sim: Simulator) -> Self {
        Self {
            sim,
            held: Mutex::new(HeldResults::default()),
        }
    }

    /// The held-back results.
    pub(crate) fn held(&self) -> MutexGuard<'_, HeldResults> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds `held` for `key`, unless its slot was forgotten since `seen` was read or its
    /// session is closed (then `held` is dropped, and wiped). The session is looked up with the
    /// results locked, so a `C_CloseSession` either closes it first or forgets the result after.
    pub(crate) fn hold(&self, key: (SessionHandle, OpKind), held: Held, seen: u64) {
        let mut results = self.held();
        if results.forgotten(held.slot) == seen && self.sim.session_info(key.0).is_ok() {
            results.results.insert(key, held);
        }
    }

    /// Forgets the held-back results of one session.
    pub(crate) fn forget_session(&self, session: SessionHandle) {
        self.held().results.retain(|(s, _), _| *s != session);
    }

    /// Forgets the held-back results of every session of a slot, also those being computed
    /// now (see [`HeldResults::hold`]).
    pub(crate) fn forget_slot(&self, slot: SlotId) {
        let mut held = self.held();
        *held.forgotten.entry(slot).or_default() += 1;
        held.results.retain(|_, held| held.slot != slot);
    }
}

/// The state of one process.
struct Cell {
    /// The process this cell belongs to.
    pid: u32,
    library: RwLock<Option<Arc<Library>>>,
}

/// The cell of the process that last installed one; cells are leaked, never freed.
static STATE: AtomicPtr<Cell> = AtomicPtr::new(std::ptr::null_mut());

/// The calling process's cell, installing a fresh one in a process that has none (the first
/// call, or the first in a child after `fork`).
fn cell() -> &'static Cell {
    let pid = std::process::id();
    loop {
        let installed = STATE.load(Ordering::Acquire);
        if !installed.is_null() {
            // SAFETY: every pointer stored in STATE comes from `Box::leak` below and is never
            // freed, so it is valid for the whole life of the process (and of a forked child,
            // whose memory is a copy).
            let cell = unsafe { &*installed };
            if cell.pid == pid {
                return cell;
            }
        }
        let fresh: &'static mut Cell = Box::leak(Box::new(Cell {
            pid,
            library: RwLock::new(None),
        }));
        let fresh_ptr = std::ptr::from_mut(fresh);
        if STATE
            .compare_exchange(installed, fresh_ptr, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // SAFETY: just leaked above; never freed.
            return unsafe { &*fresh_ptr };
        }
        // Another thread of this process installed its cell first: ours stays leaked (a few
        // bytes, once) and the loop takes theirs.
    }
}

/// The initialized library, or `CKR_CRYPTOKI_NOT_INITIALIZED`.
pub(crate) fn current() -> FfiResult<Arc<Library>> {
    cell()
        .library
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .ok_or(Error::NotInitialized)
}

/// The initialized library and a check that `session` is open: the first two of PKCS#11's
/// checks (`CKR_CRYPTOKI_NOT_INITIALIZED`, then `CKR_SESSION_HANDLE_INVALID`), made before any
/// argument or mechanism is looked at.
pub(crate) fn session(session: SessionHandle) -> FfiResult<Arc<Library>> {
    let library = current()?;
    library.sim.session_info(session)?;
    Ok(library)
}

/// Runs the body of an operation call (update, final or single-part) of `kind`: an error other
/// than `CKR_BUFFER_TOO_SMALL` ends the operation, as PKCS#11 says, also when the module found
/// it (a NULL pointer) before the simulator saw the call; a decryption's held-back result goes
/// with it. `CKR_OPERATION_NOT_INITIALIZED` ends nothing: the call found no operation of its
/// sort, and one of another sort (a sign-recover beside `C_Sign`, the other half of a dual
/// call) stays as it was (register A78).
pub(crate) fn ending_on_error(
    library: &Library,
    session: SessionHandle,
    kind: OperationKind,
    body: impl FnOnce() -> FfiResult<()>,
) -> FfiResult<()> {
    ending_on_error_of_sort(library, session, kind, false, body)
}

/// As [`ending_on_error`], for the sign- and verify-recover calls when `recover`: an error
/// ends the operation of `kind` only if it is of the call's sort.
pub(crate) fn ending_on_error_of_sort(
    library: &Library,
    session: SessionHandle,
    kind: OperationKind,
    recover: bool,
    body: impl FnOnce() -> FfiResult<()>,
) -> FfiResult<()> {
    let result = body();
    if let Err(error) = &result
        && !matches!(error, Error::BufferTooSmall)
        && error.rv() != CKR_OPERATION_NOT_INITIALIZED
    {
        // The session may be gone (the error may say so): nothing is left to end then.
        let _ = library.sim.end_operation_of_sort(session, kind, recover);
        if kind == OperationKind::Decrypt {
            library.held().results.remove(&(session, OpKind::Decrypt));
        }
    }
    if kind != OperationKind::Decrypt {
        drop_what_was_fed_to_an_ended(library, session, kind);
    }
    result
}

/// A plaintext held back by `C_DecryptDigestUpdate` or `C_DecryptVerifyUpdate` was fed to the
/// digest or verification of `kind` when it was computed. Once that operation has ended
/// (finished or failed), fetching the plaintext would hand out data the operation after it
/// never saw: it goes, with its decryption, so the loss is reported
/// (`CKR_OPERATION_NOT_INITIALIZED`) rather than silent (register A76).
fn drop_what_was_fed_to_an_ended(library: &Library, session: SessionHandle, kind: OperationKind) {
    let key = (session, OpKind::Decrypt);
    let fed_here = library
        .held()
        .results
        .get(&key)
        .is_some_and(|held| held.fed == Some(kind));
    if fed_here && library.sim.check_updates(session, &[kind]).is_err() {
        library.held().results.remove(&key);
        // The session may be gone: nothing is left to end then.
        let _ = library.sim.end_operation(session, OperationKind::Decrypt);
    }
}

/// Opens the simulator home (`LUNA_SIM_HOME`, else the default home) unless initialized.
pub(crate) fn initialize() -> FfiResult<()> {
    let mut state = cell()
        .library
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    if state.is_some() {
        return Err(Error::AlreadyInitialized);
    }
    let home = luna_sim::default_home()?;
    let sim = Simulator::open(&home)?;
    *state = Some(Arc::new(Library::new(sim)));
    Ok(())
}

/// Drops the library instance, or `CKR_CRYPTOKI_NOT_INITIALIZED`.
pub(crate) fn finalize() -> FfiResult<()> {
    let mut state = cell()
        .library
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    state.take().map(drop).ok_or(Error::NotInitialized)
}

impl From<std::num::TryFromIntError> for Error {
    fn from(_: std::num::TryFromIntError) -> Self {
        Self::ArgumentsBad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_plaintext_is_not_shown_by_debug() {
        let held = Held {
            slot: 0,
            call: Call::Final,
            fed: None,
            output: Zeroizing::new(b"the decrypted secret".to_vec()),
        };
        let shown = format!("{held:?}");
        // Neither as text nor as the byte list a derived `Debug` prints.
        let bytes = format!("{:?}", &b"the decrypted secret"[..]);
        let bytes = bytes.trim_start_matches('[').trim_end_matches(']');
        assert!(!shown.contains("decrypted secret"), "{shown}");
        assert!(!shown.contains(bytes), "{shown}");
        assert!(shown.contains("20 bytes redacted"), "{shown}");
    }

    fn held(slot: SlotId) -> Held {
        Held {
            slot,
            call: Call::Final,
            fed: None,
            output: Zeroizing::new(b"plaintext".to_vec()),
        }
    }

    /// The race of a decryption with a logout on another thread, in the order that loses:
    /// the plaintext is computed, the slot is logged out and forgotten, then the plaintext
    /// would be held.
    #[test]
    fn a_result_computed_before_its_slot_was_forgotten_is_not_held() {
        let home = tempfile::tempdir().unwrap();
        let library = Library::new(Simulator::open(home.path()).unwrap());
        let key = (library.sim.open_session(0, false).unwrap(), OpKind::Decrypt);
        let seen = library.held().forgotten(0);
        library.forget_slot(0);
        library.hold(key, held(0), seen);
        assert!(library.held().results.is_empty());
        // Read after the forgetting, it holds; another slot's logout changes nothing.
        let seen = library.held().forgotten(0);
        library.forget_slot(1);
        library.hold(key, held(0), seen);
        assert!(library.held().results.contains_key(&key));
        library.forget_slot(0);
        assert!(library.held().results.is_empty());
    }

    /// The race of a decryption with `C_CloseSession` on another thread, in the order that
    /// loses: the plaintext is computed, the session is closed and its results forgotten,
    /// then the plaintext would be held, for a handle nobody can use again.
    #[test]
    fn a_result_computed_before_its_session_closed_is_not_held() {
        let home = tempfile::tempdir().unwrap();
        let library = Library::new(Simulator::open(home.path()).unwrap());
        let open = || library.sim.open_session(0, false).unwrap();
        let (closing, staying) = (open(), open());
        let seen = library.held().forgotten(0);
        library.sim.close_session(closing).unwrap();
        library.forget_session(closing);
        library.hold((closing, OpKind::Decrypt), held(0), seen);
        assert!(library.held().results.is_empty());
        library.hold((staying, OpKind::Decrypt), held(0), seen);
        assert!(
            library
                .held()
                .results
                .contains_key(&(staying, OpKind::Decrypt))
        );
    }
}
