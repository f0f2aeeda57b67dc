//! What a PKCS#11 library instance holds in memory: sessions, the login state of each slot,
//! session objects, and the active operations of each session.

use crate::ck::*;
use std::collections::{BTreeMap, HashMap, VecDeque};

use cpv4_wire::consts::CkUlong;

use crate::error::{SimError, SimResult};
use crate::mechanisms::crypto::{CipherOp, SignOp};
use crate::mechanisms::{Hasher, OperationKind};
use crate::session::auth::Role;
use crate::token::attrs::AttrMap;

/// A slot id (`CK_SLOT_ID`): one partition.
pub type SlotId = CkUlong;
/// A session handle (`CK_SESSION_HANDLE`).
pub type SessionHandle = CkUlong;
/// An object handle (`CK_OBJECT_HANDLE`).
pub type ObjectHandle = CkUlong;

/// First handle of session objects: the top bit of `CK_ULONG` is set. Token objects use their
/// store id, which stays below [`PARAM_OBJECT_BASE`], so the ranges are disjoint and a token
/// object has the same handle in every process.
pub const SESSION_OBJECT_BASE: ObjectHandle = 1 << (CkUlong::BITS - 1);
/// First handle of parameter objects (the SMK): the second-highest bit set.
pub const PARAM_OBJECT_BASE: ObjectHandle = 1 << (CkUlong::BITS - 2);

/// The PKCS#11 state of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// The slot.
    pub slot: SlotId,
    /// Read-write session.
    pub read_write: bool,
    /// The role logged in on the slot, if any.
    pub role: Option<Role>,
}

impl SessionInfo {
    /// The `CKS_*` state value of `CK_SESSION_INFO`.
    #[must_use]
    pub const fn state(&self) -> CkUlong {
        match (self.read_write, self.role) {
            (false, None) => CKS_RO_PUBLIC_SESSION,
            (false, Some(_)) => CKS_RO_USER_FUNCTIONS,
            (true, None) => CKS_RW_PUBLIC_SESSION,
            (true, Some(Role::So)) => CKS_RW_SO_FUNCTIONS,
            (true, Some(_)) => CKS_RW_USER_FUNCTIONS,
        }
    }

    /// The `CKF_*` flags of `CK_SESSION_INFO`.
    #[must_use]
    pub const fn flags(&self) -> CkUlong {
        if self.read_write {
            CKF_SERIAL_SESSION | CKF_RW_SESSION
        } else {
            CKF_SERIAL_SESSION
        }
    }
}

/// The operations that may be active on a session, one of each kind.
#[derive(Default)]
pub(crate) struct Operations {
    pub(crate) find: Option<VecDeque<ObjectHandle>>,
    pub(crate) encrypt: Option<CipherOp>,
    pub(crate) decrypt: Option<CipherOp>,
    pub(crate) sign: Option<SignOp>,
    pub(crate) verify: Option<SignOp>,
    pub(crate) digest: Option<Hasher>,
    /// Which operations had an update call: a single-part call may no longer end them.
    pub(crate) multi_part: MultiPart,
    /// Which operations use a key with `CKA_ALWAYS_AUTHENTICATE` and still wait for the
    /// `CKU_CONTEXT_SPECIFIC` login.
    pub(crate) context_login: ContextLogin,
}

/// The signing and decryption of a session that wait for a `CKU_CONTEXT_SPECIFIC` login
/// (register A79).
#[derive(Default)]
pub(crate) struct ContextLogin {
    pub(crate) sign: bool,
    pub(crate) decrypt: bool,
    /// Whether the decryption began waiting after the signing: one login releases only the
    /// operation initialized last.
    decrypt_last: bool,
}

impl ContextLogin {
    /// Records whether the operation of `kind` (a signing or decryption) just initialized
    /// waits for the login.
    pub(crate) fn wait(&mut self, kind: OperationKind, waits: bool) {
        match kind {
            OperationKind::Decrypt => {
                self.decrypt = waits;
                self.decrypt_last |= waits;
            }
            _ => {
                self.sign = waits;
                self.decrypt_last &= !waits;
            }
        }
    }

    /// The login was given: the operation initialized last stops waiting.
    pub(crate) fn release(&mut self, sign: bool, decrypt: bool) {
        if decrypt && (!sign || self.decrypt_last) {
            self.decrypt = false;
        } else {
            self.sign = false;
        }
    }
}

/// The operations of a session that are under way as multi-part operations.
#[derive(Default)]
pub(crate) struct MultiPart {
    pub(crate) encrypt: bool,
    pub(crate) decrypt: bool,
    pub(crate) sign: bool,
    pub(crate) verify: bool,
    pub(crate) digest: bool,
}

pub(crate) struct Session {
    pub(crate) slot: SlotId,
    pub(crate) read_write: bool,
    pub(crate) ops: Operations,
}

pub(crate) struct SessionObject {
    pub(crate) slot: SlotId,
    pub(crate) session: SessionHandle,
    pub(crate) attrs: AttrMap,
}

/// Sessions, logins and session objects of one simulator instance (one "application").
pub(crate) struct SessionTable {
    next_session: SessionHandle,
    pub(crate) sessions: BTreeMap<SessionHandle, Session>,
    pub(crate) logins: HashMap<SlotId, Role>,
    next_object: ObjectHandle,
    pub(crate) objects: BTreeMap<ObjectHandle, SessionObject>,
}

impl SessionTable {
    pub(crate) fn new() -> Self {
        Self {
            next_session: 1,
            sessions: BTreeMap::new(),
            logins: HashMap::new(),
            next_object: SESSION_OBJECT_BASE,
            objects: BTreeMap::new(),
        }
    }

    pub(crate) fn open(&mut self, slot: SlotId, read_write: bool) -> SimResult<SessionHandle> {
        if !read_write && self.logins.get(&slot) == Some(&Role::So) {
            return Err(SimError::SessionReadWriteSoExists);
        }
        let handle = self.next_session;
        self.next_session = self
            .next_session
            .checked_add(1)
            .ok_or(SimError::Internal("session handles exhausted"))?;
        self.sessions.insert(
            handle,
            Session {
                slot,
                read_write,
                ops: Operations::default(),
            },
        );
        Ok(handle)
    }

    pub(crate) fn get(&self, handle: SessionHandle) -> SimResult<&Session> {
        self.sessions
            .get(&handle)
            .ok_or(SimError::SessionHandleInvalid)
    }

    pub(crate) fn get_mut(&mut self, handle: SessionHandle) -> SimResult<&mut Session> {
        self.sessions
            .get_mut(&handle)
            .ok_or(SimError::SessionHandleInvalid)
    }

    pub(crate) fn info(&self, handle: SessionHandle) -> SimResult<SessionInfo> {
        let session = self.get(handle)?;
        Ok(SessionInfo {
            slot: session.slot,
            read_write: session.read_write,
            role: self.logins.get(&session.slot).copied(),
        })
    }

    /// Closes a session, destroying its session objects; the last session of a slot logs
    /// the slot out.
    pub(crate) fn close(&mut self, handle: SessionHandle) -> SimResult<()> {
        let session = self
            .sessions
            .remove(&handle)
            .ok_or(SimError::SessionHandleInvalid)?;
        self.objects.retain(|_, obj| obj.session != handle);
        if !self.sessions.values().any(|s| s.slot == session.slot) {
            self.logins.remove(&session.slot);
        }
        Ok(())
    }

    pub(crate) fn close_all(&mut self, slot: SlotId) {
        let handles: Vec<_> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.slot == slot)
            .map(|(h, _)| *h)
            .collect();
        for handle in handles {
            let _ = self.close(handle);
        }
        self.logins.remove(&slot);
    }

    pub(crate) fn has_sessions(&self, slot: SlotId) -> bool {
        self.sessions.values().any(|s| s.slot == slot)
    }

    /// The PKCS#11 login rules, checked before the PIN.
    pub(crate) fn check_login(&self, slot: SlotId, role: Role) -> SimResult<()> {
        match self.logins.get(&slot) {
            Some(current) if *current == role => return Err(SimError::UserAlreadyLoggedIn),
            Some(_) => return Err(SimError::UserAnotherAlreadyLoggedIn),
            None => {}
        }
        if role == Role::So
            && self
                .sessions
                .values()
                .any(|s| s.slot == slot && !s.read_write)
        {
            return Err(SimError::SessionReadOnlyExists);
        }
        Ok(())
    }

    /// Logs the slot out: ends every operation of its sessions and destroys its private
    /// session objects (PKCS#11 `C_Logout`).
    pub(crate) fn logout(&mut self, slot: SlotId) -> SimResult<()> {
        if self.logins.remove(&slot).is_none() {
            return Err(SimError::UserNotLoggedIn);
        }
        for session in self.sessions.values_mut().filter(|s| s.slot == slot) {
            session.ops = Operations::default();
        }
        self.objects
            .retain(|_, obj| obj.slot != slot || !obj.attrs.is(cpv4_wire::consts::CKA_PRIVATE));
        Ok(())
    }

    pub(crate) fn add_object(
        &mut self,
        slot: SlotId,
        session: SessionHandle,
        attrs: AttrMap,
    ) -> SimResult<ObjectHandle> {
        let handle = self.next_object;
        self.next_object = self
            .next_object
            .checked_add(1)
            .ok_or(SimError::Internal("session object handles exhausted"))?;
        self.objects.insert(
            handle,
            SessionObject {
                slot,
                session,
                attrs,
            },
        );
        Ok(handle)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    #[test]
    fn closing_the_last_session_logs_the_slot_out() {
        let mut table = SessionTable::new();
        let a = table.open(0, true).unwrap();
        let b = table.open(0, false).unwrap();
        table.logins.insert(0, Role::CryptoOfficer);
        table.close(a).unwrap();
        assert_eq!(table.logins.get(&0), Some(&Role::CryptoOfficer));
        table.close(b).unwrap();
        assert_eq!(table.logins.get(&0), None);
        assert_eq!(table.close(b), Err(SimError::SessionHandleInvalid));
    }

    #[test]
    fn session_states_follow_pkcs11() {
        let info = SessionInfo {
            slot: 0,
            read_write: true,
            role: Some(Role::So),
        };
        assert_eq!(info.state(), CKS_RW_SO_FUNCTIONS);
        assert_eq!(info.flags(), CKF_SERIAL_SESSION | CKF_RW_SESSION);
    }
}
