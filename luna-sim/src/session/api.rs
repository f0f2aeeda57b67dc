//! Sessions, login and PIN management (`C_OpenSession`, `C_Login`, `C_InitToken`,
//! `C_InitPIN`, `C_SetPIN`...).
//!
//! Lockout: each role counts consecutive failed logins in the store (so every process sees
//! them). A wrong PIN is `CKR_PIN_INCORRECT`; once [`MAX_PIN_FAILURES`] failures are counted,
//! every login of that role is `CKR_PIN_LOCKED`, even with the right PIN, until the PIN is
//! re-initialized (the Partition SO re-initializes the Crypto Officer, the Crypto Officer the
//! Crypto User, `C_InitToken` the SO). A successful login resets the count.

use cpv4_wire::consts::{CKA_TOKEN, CKU_CONTEXT_SPECIFIC, CkUserType};
use rusqlite::params;

use crate::error::{SimError, SimResult};
use crate::session::auth::{self, MAX_PIN_FAILURES, Role};
use crate::session::table::{SessionHandle, SessionInfo, SlotId};
use crate::sim::{Inner, Simulator};
use crate::store::slot_sql;

impl Inner {
    /// Checks `pin` for `role` on `slot`, counting failures.
    fn verify_role_pin(&mut self, slot: i64, role: Role, pin: &[u8]) -> SimResult<()> {
        // The attempt is counted before the PIN is checked, in the transaction that reads
        // the count: however many processes try at once, at most MAX_PIN_FAILURES wrong PINs
        // are ever checked. A right PIN then clears the count.
        let hash = self.write(|tx, _| {
            let (hash, failures): (Option<Vec<u8>>, i64) = tx.query_row(
                "SELECT hash, failures FROM pins WHERE slot = ?1 AND role = ?2",
                params![slot, role.code()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let hash = hash.ok_or(SimError::UserPinNotInitialized)?;
            if failures >= MAX_PIN_FAILURES {
                return Err(SimError::PinLocked);
            }
            tx.execute(
                "UPDATE pins SET failures = failures + 1 WHERE slot = ?1 AND role = ?2",
                params![slot, role.code()],
            )?;
            Ok(hash)
        })?;
        if !auth::verify_pin(&hash, pin)? {
            return Err(SimError::PinIncorrect);
        }
        self.write(|tx, _| {
            tx.execute(
                "UPDATE pins SET failures = 0 WHERE slot = ?1 AND role = ?2",
                params![slot, role.code()],
            )?;
            Ok(())
        })
    }

    /// `C_Login` with `CKU_CONTEXT_SPECIFIC`: the PIN of the role logged in on the slot, for
    /// the session's operations that wait for it. Without one it is
    /// `CKR_OPERATION_NOT_INITIALIZED`; a wrong PIN counts as a failed login of the role and
    /// leaves the operation waiting; a locked PIN logs the role out (its operations end). One
    /// login releases one operation: of a waiting signing and decryption, the later one.
    pub(crate) fn context_login(&mut self, session: SessionHandle, pin: &[u8]) -> SimResult<()> {
        let view = self.session(session)?;
        let role = view.role.ok_or(SimError::UserNotLoggedIn)?;
        let ops = &self.sessions.get_mut(session)?.ops;
        let sign = ops.context_login.sign && ops.sign.is_some();
        let decrypt = ops.context_login.decrypt && ops.decrypt.is_some();
        if !sign && !decrypt {
            return Err(SimError::OperationNotInitialized);
        }
        if let Err(error) = self.verify_role_pin(slot_sql(view.slot)?, role, pin) {
            // PKCS#11 5.6: CKR_PIN_LOCKED also logs the user out.
            if error == SimError::PinLocked {
                self.sessions.logout(view.slot)?;
            }
            return Err(error);
        }
        self.sessions
            .get_mut(session)?
            .ops
            .context_login
            .release(sign, decrypt);
        Ok(())
    }

    fn store_pin(&mut self, slot: i64, role: Role, pin: &[u8]) -> SimResult<()> {
        let hash = auth::hash_pin(pin)?;
        self.write(|tx, _| {
            tx.execute(
                "UPDATE pins SET hash = ?3, failures = 0 WHERE slot = ?1 AND role = ?2",
                params![slot, role.code(), hash],
            )?;
            Ok(())
        })
    }
}

impl Simulator {
    /// Whether `role`'s PIN on `slot` is still `pin`, checked without counting an attempt
    /// and whatever the lockout: for a tool that has the home open (and so holds every key in
    /// it already) deciding whether the development PIN may be tried, so that trying it can
    /// never lock a changed PIN out. Not reachable through PKCS#11.
    ///
    /// # Errors
    ///
    /// `CKR_SLOT_ID_INVALID`; store errors.
    pub fn pin_unchanged(&self, slot: SlotId, role: Role, pin: &[u8]) -> SimResult<bool> {
        let inner = self.lock();
        let sql = inner.check_slot(slot)?;
        let hash: Option<Vec<u8>> = inner.conn.query_row(
            "SELECT hash FROM pins WHERE slot = ?1 AND role = ?2",
            params![sql, role.code()],
            |r| r.get(0),
        )?;
        match hash {
            Some(hash) => auth::verify_pin(&hash, pin),
            None => Ok(false),
        }
    }

    /// `C_OpenSession`: opens a session on `slot`, read-write or read-only.
    ///
    /// # Errors
    ///
    /// `CKR_SLOT_ID_INVALID`; `CKR_SESSION_READ_WRITE_SO_EXISTS` for a read-only session while
    /// the SO is logged in.
    pub fn open_session(&self, slot: SlotId, read_write: bool) -> SimResult<SessionHandle> {
        let mut inner = self.lock();
        inner.check_slot(slot)?;
        inner.sessions.open(slot, read_write)
    }

    /// `C_CloseSession`: closes a session and destroys its session objects; closing the last
    /// session of a slot logs the slot out.
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`.
    pub fn close_session(&self, session: SessionHandle) -> SimResult<()> {
        self.lock().sessions.close(session)
    }

    /// `C_CloseAllSessions`.
    ///
    /// # Errors
    ///
    /// `CKR_SLOT_ID_INVALID`.
    pub fn close_all_sessions(&self, slot: SlotId) -> SimResult<()> {
        let mut inner = self.lock();
        inner.check_slot(slot)?;
        inner.sessions.close_all(slot);
        Ok(())
    }

    /// `C_GetSessionInfo`.
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`.
    pub fn session_info(&self, session: SessionHandle) -> SimResult<SessionInfo> {
        self.lock().sessions.info(session)
    }

    /// `C_Login` with `CKU_SO` (Partition SO), `CKU_USER` (Crypto Officer) or
    /// `CKU_CRYPTO_USER` (Crypto User). The login holds for every session of the slot. With
    /// `CKU_CONTEXT_SPECIFIC`, the logged-in role's PIN again, for the session's signing or
    /// decryption with a `CKA_ALWAYS_AUTHENTICATE` key (register A79):
    /// `CKR_OPERATION_NOT_INITIALIZED` when none waits for it.
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`, `CKR_USER_TYPE_INVALID`, `CKR_USER_ALREADY_LOGGED_IN`,
    /// `CKR_USER_ANOTHER_ALREADY_LOGGED_IN`, `CKR_SESSION_READ_ONLY_EXISTS` (SO with a
    /// read-only session open), `CKR_USER_PIN_NOT_INITIALIZED`, `CKR_PIN_LOCKED`,
    /// `CKR_PIN_INCORRECT`.
    pub fn login(&self, session: SessionHandle, user: CkUserType, pin: &[u8]) -> SimResult<()> {
        let mut inner = self.lock();
        if user == CKU_CONTEXT_SPECIFIC {
            return inner.context_login(session, pin);
        }
        let view = inner.session(session)?;
        let role = Role::from_user_type(user)?;
        inner.sessions.check_login(view.slot, role)?;
        inner.verify_role_pin(slot_sql(view.slot)?, role, pin)?;
        inner.sessions.logins.insert(view.slot, role);
        Ok(())
    }

    /// `C_Logout`: logs the slot out, ends the operations of its sessions and destroys its
    /// private session objects.
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`, `CKR_USER_NOT_LOGGED_IN`.
    pub fn logout(&self, session: SessionHandle) -> SimResult<()> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        inner.sessions.logout(view.slot)
    }

    /// `C_InitToken`: with the Partition SO's PIN, destroys every token object of the
    /// partition, clears the Crypto Officer and Crypto User PINs and sets the label. Cloning
    /// domains, policies and the SMK are kept (a real Luna asks for the domain again; the
    /// simulator keeps the existing one).
    ///
    /// # Errors
    ///
    /// `CKR_SLOT_ID_INVALID`, `CKR_SESSION_EXISTS` (this instance has a session on the slot),
    /// `CKR_PIN_INCORRECT`, `CKR_PIN_LOCKED`.
    pub fn init_token(&self, slot: SlotId, so_pin: &[u8], label: &str) -> SimResult<()> {
        let mut inner = self.lock();
        let sql = inner.check_slot(slot)?;
        if inner.sessions.has_sessions(slot) {
            return Err(SimError::SessionExists);
        }
        inner.verify_role_pin(sql, Role::So, so_pin)?;
        inner.write(|tx, _| {
            tx.execute("DELETE FROM objects WHERE slot = ?1", [sql])?;
            tx.execute(
                "UPDATE pins SET hash = NULL, failures = 0 WHERE slot = ?1 AND role != ?2",
                params![sql, Role::So.code()],
            )?;
            tx.execute(
                "UPDATE partitions SET label = ?2 WHERE slot = ?1",
                params![sql, label],
            )?;
            Ok(())
        })?;
        inner
            .sessions
            .objects
            .retain(|_, obj| obj.slot != slot || obj.attrs.is(CKA_TOKEN));
        Ok(())
    }

    /// `C_InitPIN`: the Partition SO sets the Crypto Officer's PIN (and unlocks it).
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`, `CKR_USER_NOT_LOGGED_IN` (the SO is not logged in),
    /// `CKR_SESSION_READ_ONLY`, `CKR_PIN_LEN_RANGE`.
    pub fn init_pin(&self, session: SessionHandle, pin: &[u8]) -> SimResult<()> {
        self.init_role_pin(session, Role::CryptoOfficer, pin)
    }

    /// Luna's `CA_InitRolePIN`: the Partition SO sets the Crypto Officer's PIN, the Crypto
    /// Officer the Crypto User's. The count of failed logins is reset.
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`, `CKR_USER_NOT_LOGGED_IN`, `CKR_USER_NOT_AUTHORIZED`
    /// (another pairing of roles), `CKR_SESSION_READ_ONLY`, `CKR_PIN_LEN_RANGE`.
    pub fn init_role_pin(&self, session: SessionHandle, role: Role, pin: &[u8]) -> SimResult<()> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        let allowed = match (view.role, role) {
            (None, _) => return Err(SimError::UserNotLoggedIn),
            (Some(Role::So), Role::CryptoOfficer) => true,
            (Some(Role::CryptoOfficer), Role::CryptoUser) => true,
            _ => false,
        };
        if !allowed {
            return Err(SimError::UserNotAuthorized);
        }
        if !view.read_write {
            return Err(SimError::SessionReadOnly);
        }
        auth::check_pin_len(pin)?;
        inner.store_pin(slot_sql(view.slot)?, role, pin)
    }

    /// `C_SetPIN`: changes the PIN of the role logged in on the session's slot (the Crypto
    /// Officer's if nobody is logged in), given the old PIN.
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`, `CKR_SESSION_READ_ONLY`, `CKR_PIN_INCORRECT`,
    /// `CKR_PIN_LOCKED`, `CKR_USER_PIN_NOT_INITIALIZED`, `CKR_PIN_LEN_RANGE`.
    pub fn set_pin(&self, session: SessionHandle, old_pin: &[u8], new_pin: &[u8]) -> SimResult<()> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        if !view.read_write {
            return Err(SimError::SessionReadOnly);
        }
        let role = view.role.unwrap_or(Role::CryptoOfficer);
        let slot = slot_sql(view.slot)?;
        inner.verify_role_pin(slot, role, old_pin)?;
        auth::check_pin_len(new_pin)?;
        inner.store_pin(slot, role, new_pin)
    }
}
