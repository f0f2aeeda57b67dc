//! Cloning domains (`CA_AddKCV`, `CA_ChangeKCVLabel`, `CA_DeleteKCV`, `CA_GetKCVLabels`), the
//! simulated PED, and the SMK parameter object.
//!
//! Decisions where the API text leaves room (also in the README):
//! - Checks run in this order: session and role (`CKR_USER_NOT_LOGGED_IN`,
//!   `CKR_USER_NOT_AUTHORIZED`), policy 44 (add and delete only: the text lists
//!   `CKR_DOMAIN_MANAGEMENT_NOT_ALLOWED` for those two), labels, KCV / PED, uniqueness, count.
//! - A label of length 0 where a label is required (`CA_AddKCV`, the new label of
//!   `CA_ChangeKCVLabel`) is `CKR_DOMAIN_LABEL_ALREADY_EXISTS` when the partition already has an
//!   unlabelled domain (the text: "This includes trying to create a domain with no label when
//!   there is already a domain with no label") and `CKR_DOMAIN_LABEL_INVALID` otherwise ("The
//!   label length cannot be 0"). So an unlabelled (legacy) domain can exist (from provisioning
//!   or an older firmware) but is never created through this API, and at most one exists.
//! - A typed KCV is 1 to 128 bytes, else `CKR_ARGUMENTS_BAD`; `None` (NULL and 0) reads the
//!   attached PED key, `CKR_PED_UNPLUGGED` when none is attached.
//! - `bMakePrimary` makes the new domain primary and the old primary an ordinary domain; the
//!   first domain of a partition is always primary. Deleting the primary makes the oldest
//!   remaining domain primary. Deleting the last domain is `CKR_DOMAIN_NO_PRIMARY` (a partition
//!   keeps at least one domain). `CKR_DOMAIN_EXTRA_PRIMARY` cannot arise through this API.
//! - Changing a label to the label it already has is `CKR_DOMAIN_LABEL_ALREADY_EXISTS`.

use std::fs;
use std::path::PathBuf;

use cpv4_crypto::Secret32;
use cpv4_crypto::psk::DomainPsk;
use cpv4_wire::consts::PARTITION_POLICY_EXTENDED_DOMAIN_MANAGEMENT;
use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

use crate::device::records::{SMK_KIND, insert_domain};
use crate::error::{SimError, SimResult};
use crate::session::table::{ObjectHandle, PARAM_OBJECT_BASE, SessionHandle, SlotId};
use crate::sim::{Inner, Simulator};
use crate::store::Keyring;
use crate::store::keys::{check_private, create_private_dir, record_aad, write_private};
use crate::store::slot_sql;
use crate::token::objects::OUID_LEN;

/// Most cloning domains of a partition.
pub const MAX_DOMAINS: usize = 3;
/// Longest domain label in bytes.
pub const MAX_DOMAIN_LABEL_LEN: usize = 32;
/// Longest typed KCV in bytes.
pub const MAX_KCV_LEN: usize = 128;

/// A domain as `CA_GetKCVLabels` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainLabel {
    /// The label; `None` for the unlabelled (legacy) domain.
    pub label: Option<Vec<u8>>,
    /// Whether it is the primary domain.
    pub primary: bool,
}

/// A domain with its PSK, for the CPv4 engine.
#[derive(Debug, Clone)]
pub struct DomainEntry {
    /// The label; `None` for the unlabelled domain.
    pub label: Option<Vec<u8>>,
    /// The domain PSK.
    pub psk: DomainPsk,
    /// Whether it is the primary domain.
    pub primary: bool,
}

/// A parameter object (the SMK): not a PKCS#11 object.
#[derive(Debug, Clone)]
pub struct ParamObject {
    /// Its handle (in the parameter-object range).
    pub handle: ObjectHandle,
    /// Its OUID.
    pub ouid: [u8; OUID_LEN],
    /// The 32-byte secret.
    pub secret: Secret32,
}

struct DomainRow {
    id: i64,
    label: Option<Vec<u8>>,
    primary: bool,
}

/// A partition's domains (sorted in [`domain_rows`]: an ORDER BY would re-prepare each time).
pub(crate) const DOMAIN_ROWS_SQL: &str =
    "SELECT id, label, is_primary FROM domains WHERE slot = ?1";

fn domain_rows(conn: &Connection, slot: i64) -> SimResult<Vec<DomainRow>> {
    let mut stmt = conn.prepare_cached(DOMAIN_ROWS_SQL)?;
    let mut rows = stmt
        .query_map([slot], |r| {
            Ok(DomainRow {
                id: r.get(0)?,
                label: r.get(1)?,
                primary: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    // The primary first, then by id; sorted here, as an ORDER BY would re-prepare each time.
    rows.sort_unstable_by_key(|row| (!row.primary, row.id));
    Ok(rows)
}

pub(crate) fn open_psk(
    conn: &Connection,
    keyring: &mut Keyring,
    slot: i64,
    id: i64,
) -> SimResult<DomainPsk> {
    let sealed: Vec<u8> =
        conn.query_row("SELECT psk_sealed FROM domains WHERE id = ?1", [id], |r| {
            r.get(0)
        })?;
    let plain = keyring
        .slot(conn, slot)?
        .open(&record_aad("domains", &id.to_be_bytes(), "psk"), &sealed)?;
    let bytes: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| SimError::Corrupt("domain PSK length".into()))?;
    Ok(DomainPsk::from_bytes(bytes))
}

/// Checks a required label (1..=32 bytes) against the existing domains.
fn check_new_label(rows: &[DomainRow], label: &[u8]) -> SimResult<()> {
    if label.is_empty() {
        return Err(if rows.iter().any(|r| r.label.is_none()) {
            SimError::DomainLabelAlreadyExists
        } else {
            SimError::DomainLabelInvalid
        });
    }
    if label.len() > MAX_DOMAIN_LABEL_LEN {
        return Err(SimError::DomainLabelInvalid);
    }
    Ok(())
}

fn find_row<'a>(rows: &'a [DomainRow], label: Option<&[u8]>) -> SimResult<&'a DomainRow> {
    if label.is_some_and(|l| l.is_empty() || l.len() > MAX_DOMAIN_LABEL_LEN) {
        return Err(SimError::DomainLabelInvalid);
    }
    rows.iter()
        .find(|r| r.label.as_deref() == label)
        .ok_or(SimError::DomainLabelInvalid)
}

impl Inner {
    fn domain_policy_on(&self, slot: SlotId) -> SimResult<bool> {
        Ok(self
            .partition_info(slot)?
            .policy(PARTITION_POLICY_EXTENDED_DOMAIN_MANAGEMENT))
    }
}

impl Simulator {
    fn ped_dir(&self) -> PathBuf {
        self.home.join("ped")
    }

    /// Stores a PED key named `name` (letters, digits, `-`, `_`) holding `kcv`, as
    /// `ped/<name>.key` in the home.
    ///
    /// # Errors
    ///
    /// [`SimError::ArgumentsBad`] for a bad name or a KCV not of 1 to 128 bytes;
    /// [`SimError::Io`].
    pub fn ped_store_key(&self, name: &str, kcv: &[u8]) -> SimResult<()> {
        check_ped_name(name)?;
        if kcv.is_empty() || kcv.len() > MAX_KCV_LEN {
            return Err(SimError::ArgumentsBad(
                "PED key value must be 1 to 128 bytes",
            ));
        }
        // The file holds a domain secret: as private and as durable as the key files.
        create_private_dir(&self.ped_dir())?;
        write_private(&self.ped_dir().join(format!("{name}.key")), kcv)
    }

    /// Attaches the PED key `name` (`Some`), or detaches the PED (`None`): the file
    /// `ped/attached` names the attached key.
    ///
    /// # Errors
    ///
    /// [`SimError::ArgumentsBad`] for a bad name; [`SimError::Io`].
    pub fn ped_attach(&self, name: Option<&str>) -> SimResult<()> {
        let attached = self.ped_dir().join("attached");
        match name {
            Some(name) => {
                check_ped_name(name)?;
                create_private_dir(&self.ped_dir())?;
                write_private(&attached, name.as_bytes())?;
            }
            None => match fs::remove_file(attached) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(err.into()),
            },
        }
        Ok(())
    }

    /// The KCV of the attached PED key.
    fn ped_kcv(&self) -> SimResult<Zeroizing<Vec<u8>>> {
        let name = match fs::read_to_string(self.ped_dir().join("attached")) {
            Ok(name) => name.trim().to_owned(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(SimError::PedUnplugged);
            }
            Err(err) => return Err(err.into()),
        };
        check_ped_name(&name).map_err(|_| SimError::PedUnplugged)?;
        let path = self.ped_dir().join(format!("{name}.key"));
        let Ok(mut file) = fs::File::open(&path) else {
            return Err(SimError::PedUnplugged);
        };
        check_private(&file, &path)?;
        // Room for one byte more than a KCV may have, so reading never reallocates (which
        // would leave an unwiped copy behind).
        let mut kcv = Zeroizing::new(Vec::with_capacity(MAX_KCV_LEN + 1));
        let limit = u64::try_from(MAX_KCV_LEN + 1).unwrap_or(u64::MAX);
        match std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, limit), &mut kcv) {
            Ok(_) if !kcv.is_empty() && kcv.len() <= MAX_KCV_LEN => Ok(kcv),
            Ok(_) | Err(_) => Err(SimError::PedUnplugged),
        }
    }

    /// `CA_AddKCV`: adds a cloning domain to the session's partition. `kcv` `None` reads the
    /// KCV from the attached PED key. The PSK (`DomainPsk::derive(kcv)`) is stored, sealed;
    /// the KCV is not.
    ///
    /// # Errors
    ///
    /// `CKR_USER_NOT_LOGGED_IN`, `CKR_USER_NOT_AUTHORIZED` (not the Partition SO),
    /// `CKR_DOMAIN_MANAGEMENT_NOT_ALLOWED` (policy 44 off), `CKR_DOMAIN_LABEL_INVALID`,
    /// `CKR_ARGUMENTS_BAD` (KCV length), `CKR_PED_UNPLUGGED`,
    /// `CKR_DOMAIN_LABEL_ALREADY_EXISTS`, `CKR_DOMAIN_MAX_REACHED`.
    pub fn add_kcv(
        &self,
        session: SessionHandle,
        kcv: Option<&[u8]>,
        label: &[u8],
        make_primary: bool,
    ) -> SimResult<()> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        view.require_so()?;
        if !inner.domain_policy_on(view.slot)? {
            return Err(SimError::DomainManagementNotAllowed);
        }
        let slot = slot_sql(view.slot)?;
        check_new_label(&domain_rows(&inner.conn, slot)?, label)?;
        let kcv = match kcv {
            None => self.ped_kcv()?,
            Some(kcv) if kcv.is_empty() || kcv.len() > MAX_KCV_LEN => {
                return Err(SimError::ArgumentsBad("KCV must be 1 to 128 bytes"));
            }
            Some(kcv) => Zeroizing::new(kcv.to_vec()),
        };
        let check = |rows: &[DomainRow]| -> SimResult<()> {
            if rows.iter().any(|r| r.label.as_deref() == Some(label)) {
                return Err(SimError::DomainLabelAlreadyExists);
            }
            if rows.len() >= MAX_DOMAINS {
                return Err(SimError::DomainMaxReached);
            }
            Ok(())
        };
        check(&domain_rows(&inner.conn, slot)?)?;
        let psk = DomainPsk::derive(&kcv).map_err(|_| SimError::Internal("PSK derivation"))?;
        inner.write(|tx, keyring| {
            // Another process may have changed the domains since the checks above.
            let rows = domain_rows(tx, slot)?;
            check(&rows)?;
            insert_domain(
                tx,
                keyring,
                slot,
                Some(label),
                &psk,
                make_primary || rows.is_empty(),
            )
        })
    }

    /// Administrative: gives the partition an unlabelled (legacy, pre-7.8.0) domain with KCV
    /// `kcv`, as a partition created by older firmware has. It becomes primary if it is the
    /// partition's first domain. No PKCS#11 call creates unlabelled domains.
    ///
    /// # Errors
    ///
    /// `CKR_SLOT_ID_INVALID`, `CKR_ARGUMENTS_BAD` (KCV length),
    /// `CKR_DOMAIN_LABEL_ALREADY_EXISTS` (an unlabelled domain exists),
    /// `CKR_DOMAIN_MAX_REACHED`.
    pub fn add_unlabelled_domain(&self, slot: SlotId, kcv: &[u8]) -> SimResult<()> {
        if kcv.is_empty() || kcv.len() > MAX_KCV_LEN {
            return Err(SimError::ArgumentsBad("KCV must be 1 to 128 bytes"));
        }
        let psk = DomainPsk::derive(kcv).map_err(|_| SimError::Internal("PSK derivation"))?;
        let mut inner = self.lock();
        let sql = inner.check_slot(slot)?;
        inner.write(|tx, keyring| {
            let rows = domain_rows(tx, sql)?;
            if rows.iter().any(|r| r.label.is_none()) {
                return Err(SimError::DomainLabelAlreadyExists);
            }
            if rows.len() >= MAX_DOMAINS {
                return Err(SimError::DomainMaxReached);
            }
            insert_domain(tx, keyring, sql, None, &psk, rows.is_empty())
        })
    }

    /// `CA_ChangeKCVLabel`: relabels the domain labelled `old` (`None`: the unlabelled
    /// domain) as `new`.
    ///
    /// # Errors
    ///
    /// `CKR_USER_NOT_LOGGED_IN`, `CKR_USER_NOT_AUTHORIZED`, `CKR_DOMAIN_LABEL_INVALID` (bad
    /// new label, or no domain labelled `old`), `CKR_DOMAIN_LABEL_ALREADY_EXISTS`.
    pub fn change_kcv_label(
        &self,
        session: SessionHandle,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> SimResult<()> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        view.require_so()?;
        let slot = slot_sql(view.slot)?;
        inner.write(|tx, _| {
            let rows = domain_rows(tx, slot)?;
            check_new_label(&rows, new)?;
            let target = find_row(&rows, old)?;
            if rows.iter().any(|r| r.label.as_deref() == Some(new)) {
                return Err(SimError::DomainLabelAlreadyExists);
            }
            tx.execute(
                "UPDATE domains SET label = ?2 WHERE id = ?1",
                params![target.id, new],
            )?;
            Ok(())
        })
    }

    /// `CA_DeleteKCV`: deletes the domain labelled `label` (`None`: the unlabelled domain).
    ///
    /// # Errors
    ///
    /// `CKR_USER_NOT_LOGGED_IN`, `CKR_USER_NOT_AUTHORIZED`,
    /// `CKR_DOMAIN_MANAGEMENT_NOT_ALLOWED`, `CKR_DOMAIN_LABEL_INVALID`,
    /// `CKR_DOMAIN_NO_PRIMARY` (the partition's last domain).
    pub fn delete_kcv(&self, session: SessionHandle, label: Option<&[u8]>) -> SimResult<()> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        view.require_so()?;
        if !inner.domain_policy_on(view.slot)? {
            return Err(SimError::DomainManagementNotAllowed);
        }
        let slot = slot_sql(view.slot)?;
        inner.write(|tx, _| {
            let rows = domain_rows(tx, slot)?;
            let target = find_row(&rows, label)?;
            if rows.len() == 1 {
                return Err(SimError::DomainNoPrimary);
            }
            tx.execute("DELETE FROM domains WHERE id = ?1", [target.id])?;
            if target.primary {
                tx.execute(
                    "UPDATE domains SET is_primary = 1
                     WHERE id = (SELECT MIN(id) FROM domains WHERE slot = ?1)",
                    [slot],
                )?;
            }
            Ok(())
        })
    }

    /// `CA_GetKCVLabels`: the partition's domains, primary first, then in creation order.
    /// Any role logged in on the slot (by this library instance) may call it.
    ///
    /// # Errors
    ///
    /// `CKR_SLOT_ID_INVALID`, `CKR_USER_NOT_LOGGED_IN`.
    pub fn get_kcv_labels(&self, slot: SlotId) -> SimResult<Vec<DomainLabel>> {
        let inner = self.lock();
        let sql = inner.check_slot(slot)?;
        if !inner.sessions.logins.contains_key(&slot) {
            return Err(SimError::UserNotLoggedIn);
        }
        Ok(domain_rows(&inner.conn, sql)?
            .into_iter()
            .map(|r| DomainLabel {
                label: r.label,
                primary: r.primary,
            })
            .collect())
    }

    /// The partition's domains with their PSKs, primary first: the input of the CPv4 engine.
    /// No login is required (the engine checks the caller's session itself).
    ///
    /// # Errors
    ///
    /// `CKR_SLOT_ID_INVALID`; [`SimError::Corrupt`] if a PSK does not decrypt.
    pub fn domain_psks(&self, slot: SlotId) -> SimResult<Vec<DomainEntry>> {
        let mut inner = self.lock();
        let sql = inner.check_slot(slot)?;
        let Inner { conn, keyring, .. } = &mut *inner;
        domain_rows(conn, sql)?
            .into_iter()
            .map(|r| {
                Ok(DomainEntry {
                    psk: open_psk(conn, keyring, sql, r.id)?,
                    label: r.label,
                    primary: r.primary,
                })
            })
            .collect()
    }

    /// The partition's SMK parameter object.
    ///
    /// # Errors
    ///
    /// `CKR_SLOT_ID_INVALID`; [`SimError::Corrupt`].
    pub fn smk(&self, slot: SlotId) -> SimResult<ParamObject> {
        let mut inner = self.lock();
        let sql = inner.check_slot(slot)?;
        let Inner { conn, keyring, .. } = &mut *inner;
        let (id, ouid, sealed): (i64, Vec<u8>, Vec<u8>) = conn
            .query_row(
                "SELECT id, ouid, secret_sealed FROM param_objects WHERE slot = ?1 AND kind = ?2",
                params![sql, SMK_KIND],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or(SimError::Corrupt("partition without SMK".into()))?;
        let secret = keyring.slot(conn, sql)?.open(
            &record_aad("param_objects", &sql.to_be_bytes(), SMK_KIND),
            &sealed,
        )?;
        let handle = PARAM_OBJECT_BASE
            + ObjectHandle::try_from(id).map_err(|_| SimError::Internal("param id"))?;
        Ok(ParamObject {
            handle,
            ouid: ouid
                .as_slice()
                .try_into()
                .map_err(|_| SimError::Corrupt("SMK OUID length".into()))?,
            secret: Secret32::from_slice(&secret).ok_or(SimError::Corrupt("SMK length".into()))?,
        })
    }
}

fn check_ped_name(name: &str) -> SimResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SimError::ArgumentsBad("bad PED key name"))
    }
}
