//! The [`Simulator`]: opening a home, the internal state behind one lock, and the helpers
//! shared by the API modules.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use cpv4_wire::consts::CKA_PRIVATE;
use rusqlite::{Connection, Transaction};

use crate::device::clock::{SharedClock, SystemClock};
use crate::device::provision;
use crate::device::roots::RootCache;
use crate::error::{SimError, SimResult};
use crate::session::auth::Role;
use crate::session::table::{
    ObjectHandle, PARAM_OBJECT_BASE, SESSION_OBJECT_BASE, SessionHandle, SessionTable, SlotId,
};
use crate::store::faults::{FaultPlan, FaultState};
use crate::store::{self, Keyring, slot_sql};
use crate::token::attrs::AttrMap;

/// The environment variable naming the simulator home.
pub const HOME_ENV: &str = "LUNA_SIM_HOME";

/// Options of [`Simulator::open_with`].
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The host clock (the system clock by default).
    pub clock: SharedClock,
    /// Faults to inject.
    pub faults: FaultPlan,
    /// Provision the default layout when the home is empty (true by default).
    pub provision_default: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            clock: std::sync::Arc::new(SystemClock),
            faults: FaultPlan::none(),
            provision_default: true,
        }
    }
}

impl SimOptions {
    /// Default options with the fault plan of `LUNA_SIM_FAULTS`.
    ///
    /// # Errors
    ///
    /// As [`FaultPlan::from_env`].
    pub fn from_env() -> SimResult<Self> {
        Ok(Self {
            faults: FaultPlan::from_env()?,
            ..Self::default()
        })
    }
}

/// A simulated Luna installation: the HSMs of one home, and the in-memory state of one
/// PKCS#11 library instance using them (sessions, logins, session objects, operations).
///
/// Thread-safe: every method takes `&self` and the state is behind one internal lock. Several
/// processes may open the same home at once; nothing read from the store is cached except the
/// storage keys, which never change, and parsed root certificates, keyed by their bytes.
pub struct Simulator {
    pub(crate) inner: Mutex<Inner>,
    pub(crate) home: PathBuf,
    pub(crate) clock: SharedClock,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) conn: Connection,
    pub(crate) keyring: Keyring,
    pub(crate) faults: FaultState,
    pub(crate) sessions: SessionTable,
    pub(crate) roots: RootCache,
}

/// A session as the API modules need it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionView {
    pub(crate) handle: SessionHandle,
    pub(crate) slot: SlotId,
    pub(crate) read_write: bool,
    pub(crate) role: Option<Role>,
}

impl SessionView {
    /// The role may create, change and destroy objects: the Crypto Officer only.
    pub(crate) const fn require_officer(&self) -> SimResult<()> {
        match self.role {
            None => Err(SimError::UserNotLoggedIn),
            Some(Role::CryptoOfficer) => Ok(()),
            Some(_) => Err(SimError::UserNotAuthorized),
        }
    }

    /// The role is the Partition SO (domain management, partition policies).
    pub(crate) const fn require_so(&self) -> SimResult<()> {
        match self.role {
            None => Err(SimError::UserNotLoggedIn),
            Some(Role::So) => Ok(()),
            Some(_) => Err(SimError::UserNotAuthorized),
        }
    }

    /// As [`Self::require_officer`], plus a read-write session for token objects.
    pub(crate) fn require_writer(&self, token: bool) -> SimResult<()> {
        self.require_officer()?;
        if token && !self.read_write {
            return Err(SimError::SessionReadOnly);
        }
        Ok(())
    }

    /// The role may create, change and destroy objects of this privacy: the Crypto Officer
    /// any object; a session where nobody is logged in public ones (`CKA_PRIVATE` false), as
    /// PKCS#11 and Luna allow (register A66); the Crypto User and the Partition SO none.
    pub(crate) const fn require_changer(&self, private: bool) -> SimResult<()> {
        match self.role {
            Some(Role::CryptoOfficer) => Ok(()),
            None if !private => Ok(()),
            None => Err(SimError::UserNotLoggedIn),
            Some(_) => Err(SimError::UserNotAuthorized),
        }
    }

    /// As [`Self::require_changer`], plus a read-write session for token objects.
    pub(crate) fn require_object_writer(&self, token: bool, private: bool) -> SimResult<()> {
        self.require_changer(private)?;
        if token && !self.read_write {
            return Err(SimError::SessionReadOnly);
        }
        Ok(())
    }

    /// The role may use the keys it sees: Crypto Officer or Crypto User (every key), or nobody
    /// logged in (the public keys, the only ones such a session sees); not the Partition SO.
    pub(crate) const fn require_key_user(&self) -> SimResult<()> {
        match self.role {
            Some(Role::So) => Err(SimError::UserNotAuthorized),
            _ => Ok(()),
        }
    }

    /// Whether private objects are visible.
    pub(crate) const fn sees_private(&self) -> bool {
        matches!(self.role, Some(role) if role.is_user())
    }
}

/// An object loaded for an operation.
pub(crate) struct LoadedObject {
    pub(crate) handle: ObjectHandle,
    pub(crate) token_id: Option<i64>,
    pub(crate) attrs: AttrMap,
}

impl Inner {
    /// Runs `body` in one write transaction (see [`store::write`]).
    pub(crate) fn write<T>(
        &mut self,
        body: impl FnOnce(&Transaction<'_>, &mut Keyring) -> SimResult<T>,
    ) -> SimResult<T> {
        let Self {
            conn,
            keyring,
            faults,
            ..
        } = self;
        store::write(conn, faults, |tx| body(tx, keyring))
    }

    /// Runs `body` in a write transaction that is always rolled back: what a call would do,
    /// without doing it.
    pub(crate) fn rolled_back<T>(
        &mut self,
        body: impl FnOnce(&Transaction<'_>, &mut Keyring) -> SimResult<T>,
    ) -> SimResult<T> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let value = body(&tx, &mut self.keyring);
        tx.rollback()?;
        value
    }

    pub(crate) fn session(&self, handle: SessionHandle) -> SimResult<SessionView> {
        let info = self.sessions.info(handle)?;
        Ok(SessionView {
            handle,
            slot: info.slot,
            read_write: info.read_write,
            role: info.role,
        })
    }

    /// Checks that `slot` names a partition.
    pub(crate) fn check_slot(&self, slot: SlotId) -> SimResult<i64> {
        let sql = slot_sql(slot)?;
        let exists: bool = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM partitions WHERE slot = ?1)")?
            .query_row([sql], |row| row.get(0))?;
        if exists {
            Ok(sql)
        } else {
            Err(SimError::SlotIdInvalid)
        }
    }

    /// Loads an object visible to `session`; `ObjectHandleInvalid` otherwise. A token object
    /// whose row's indexed columns differ from its attributes is `Corrupt`.
    pub(crate) fn load_object(
        &mut self,
        session: &SessionView,
        handle: ObjectHandle,
    ) -> SimResult<LoadedObject> {
        self.load_object_checked(session, handle, true)
    }

    /// As [`Inner::load_object`], but a token object is taken as its blobs hold it whatever
    /// its row's columns say: what `C_DestroyObject` needs to remove a damaged row, under the
    /// permissions the object itself states.
    pub(crate) fn load_object_to_destroy(
        &mut self,
        session: &SessionView,
        handle: ObjectHandle,
    ) -> SimResult<LoadedObject> {
        self.load_object_checked(session, handle, false)
    }

    fn load_object_checked(
        &mut self,
        session: &SessionView,
        handle: ObjectHandle,
        check_columns: bool,
    ) -> SimResult<LoadedObject> {
        let loaded = if handle >= SESSION_OBJECT_BASE {
            let obj = self
                .sessions
                .objects
                .get(&handle)
                .filter(|obj| obj.slot == session.slot)
                .ok_or(SimError::ObjectHandleInvalid)?;
            LoadedObject {
                handle,
                token_id: None,
                attrs: obj.attrs.clone(),
            }
        } else if handle >= PARAM_OBJECT_BASE || handle == 0 {
            return Err(SimError::ObjectHandleInvalid);
        } else {
            let id = i64::try_from(handle).map_err(|_| SimError::ObjectHandleInvalid)?;
            let slot = slot_sql(session.slot)?;
            let stored = store::stored_object(&self.conn, id)?
                .filter(|stored| stored.slot == slot)
                .ok_or(SimError::ObjectHandleInvalid)?;
            let key = self.keyring.slot(&self.conn, slot)?;
            let attrs = if check_columns {
                stored.attributes(key, id)?
            } else {
                stored.attributes_as_stored(key, id)?
            };
            LoadedObject {
                handle,
                token_id: Some(id),
                attrs,
            }
        };
        if loaded.attrs.is(CKA_PRIVATE) && !session.sees_private() {
            return Err(SimError::ObjectHandleInvalid);
        }
        Ok(loaded)
    }

    /// [`Inner::load_object`] of `handles` in order, in one read transaction (one snapshot of
    /// the store for all of them, and one WAL read lock rather than one per object), until
    /// the attributes loaded reach `budget` bytes (the last object may pass them): a prefix of
    /// `handles`, never empty unless `handles` is.
    pub(crate) fn load_objects(
        &mut self,
        session: &SessionView,
        handles: &[ObjectHandle],
        budget: usize,
    ) -> SimResult<Vec<SimResult<LoadedObject>>> {
        let own_transaction = self.conn.is_autocommit();
        if own_transaction {
            self.conn.execute_batch("BEGIN DEFERRED")?;
        }
        let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut loaded = Vec::new();
            let mut bytes = 0usize;
            for &handle in handles {
                #[cfg(test)]
                tests::panic_if_asked();
                let object = self.load_object(session, handle);
                if let Ok(object) = &object {
                    bytes = bytes.saturating_add(object.attrs.size());
                }
                loaded.push(object);
                if bytes >= budget {
                    break;
                }
            }
            loaded
        }));
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(panic) => {
                // No transaction of this connection may outlive the call that began it.
                if own_transaction {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                std::panic::resume_unwind(panic);
            }
        };
        // SQLite may have ended the transaction itself (after an I/O error, say): the
        // objects read stand either way, since nothing was written. Only a transaction that
        // will not end fails the call.
        if own_transaction
            && !self.conn.is_autocommit()
            && self.conn.execute_batch("COMMIT").is_err()
        {
            let _ = self.conn.execute_batch("ROLLBACK");
            if !self.conn.is_autocommit() {
                return Err(SimError::Store("a read transaction would not end".into()));
            }
        }
        Ok(loaded)
    }
}

impl Simulator {
    /// Opens the simulator home `home` (created if missing), with the fault plan of
    /// `LUNA_SIM_FAULTS`; an empty home is provisioned with the default layout.
    ///
    /// # Errors
    ///
    /// [`SimError::Io`] or [`SimError::Store`] if the home cannot be created or opened,
    /// [`SimError::SchemaTooNew`] for a store of a newer version.
    pub fn open(home: &Path) -> SimResult<Self> {
        Self::open_with(home, SimOptions::from_env()?)
    }

    /// Opens the default home: `$LUNA_SIM_HOME`, else `$XDG_DATA_HOME/luna-sim`, else
    /// `~/.local/share/luna-sim`.
    ///
    /// # Errors
    ///
    /// As [`Simulator::open`]; [`SimError::Io`] if no home directory can be determined.
    pub fn open_default() -> SimResult<Self> {
        Self::open(&default_home()?)
    }

    /// Opens `home` with explicit options.
    ///
    /// # Errors
    ///
    /// As [`Simulator::open`].
    pub fn open_with(home: &Path, options: SimOptions) -> SimResult<Self> {
        create_home(home)?;
        let conn = store::open_connection(home)?;
        let mut inner = Inner {
            conn,
            keyring: Keyring::new(home),
            faults: FaultState::new(FaultPlan::none()),
            sessions: SessionTable::new(),
            roots: RootCache::default(),
        };
        if options.provision_default {
            let Inner {
                conn,
                keyring,
                faults,
                ..
            } = &mut inner;
            provision::ensure_default(conn, keyring, faults)?;
        }
        inner.faults = FaultState::new(options.faults);
        Ok(Self {
            inner: Mutex::new(inner),
            home: home.to_path_buf(),
            clock: options.clock,
        })
    }

    /// The home directory.
    #[must_use]
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Replaces the fault plan; its counters restart from zero.
    pub fn set_fault_plan(&self, plan: FaultPlan) {
        self.lock().faults = FaultState::new(plan);
    }

    /// The current host time of this simulator's clock.
    #[must_use]
    pub fn host_time(&self) -> i64 {
        self.clock.now()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves no half-written store (transactions roll
        // back on drop), so the state stays usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The default home directory (see [`Simulator::open_default`]).
///
/// # Errors
///
/// [`SimError::Io`] if neither `LUNA_SIM_HOME`, `XDG_DATA_HOME` nor `HOME` is set.
pub fn default_home() -> SimResult<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(home) = non_empty(HOME_ENV) {
        return Ok(PathBuf::from(home));
    }
    if let Some(data) = non_empty("XDG_DATA_HOME") {
        return Ok(PathBuf::from(data).join("luna-sim"));
    }
    if let Some(home) = non_empty("HOME") {
        return Ok(PathBuf::from(home).join(".local/share/luna-sim"));
    }
    Err(SimError::Io(
        "no simulator home: set LUNA_SIM_HOME, XDG_DATA_HOME or HOME".into(),
    ))
}

fn create_home(home: &Path) -> SimResult<()> {
    if home.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(home)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use cpv4_wire::consts::{CKA_CLASS, CKA_TOKEN, CKO_DATA, CKU_USER};

    use super::*;

    thread_local! {
        static PANIC_WHILE_LOADING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Panics inside `load_objects` where a test asked for it.
    pub(super) fn panic_if_asked() {
        if PANIC_WHILE_LOADING.get() {
            panic!("a test's panic while loading");
        }
    }

    /// A panic while `load_objects` holds its read transaction ends the transaction with it:
    /// the next write of the connection begins its own.
    #[test]
    fn a_panic_inside_load_objects_leaves_no_transaction_open() {
        let dir = tempfile::tempdir().unwrap();
        let sim = Simulator::open_with(dir.path(), SimOptions::default()).unwrap();
        let session = sim.open_session(0, true).unwrap();
        sim.login(
            session,
            CKU_USER,
            crate::device::provision::DEFAULT_CO_PIN.as_bytes(),
        )
        .unwrap();
        let data = [
            crate::Attribute::ulong(CKA_CLASS, CKO_DATA),
            crate::Attribute::bool(CKA_TOKEN, true),
        ];
        let stored = sim.create_object(session, &data).unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut inner = sim.lock();
            let view = inner.session(session).unwrap();
            PANIC_WHILE_LOADING.set(true);
            let _ = inner.load_objects(&view, &[stored], usize::MAX);
        }));
        PANIC_WHILE_LOADING.set(false);
        assert!(panicked.is_err());
        assert!(sim.lock().conn.is_autocommit());
        sim.create_object(session, &data).unwrap();
    }
}
