//! Object calls: create, copy, destroy, get and set attributes, find, generate, wrap and
//! unwrap.
//!
//! Roles: the Crypto Officer creates, changes and destroys objects; a session where nobody is
//! logged in may do so with public objects (`CKA_PRIVATE` false), and gets
//! `CKR_USER_NOT_LOGGED_IN` for private ones (register A66); the Crypto User and the Partition
//! SO get `CKR_USER_NOT_AUTHORIZED`. Token objects need a read-write session
//! (`CKR_SESSION_READ_ONLY`). Private objects are invisible (`CKR_OBJECT_HANDLE_INVALID`, not
//! found) unless a Crypto Officer or Crypto User is logged in.

use std::collections::VecDeque;

use cpv4_wire::consts::*;
use rusqlite::types::Value;
use zeroize::Zeroizing;

use crate::ck::CK_UNAVAILABLE_INFORMATION;
use crate::error::{SimError, SimResult};
use crate::mechanisms::ec::{self, Curve};
use crate::mechanisms::{HashAlg, MAX_GENERIC_SECRET_LEN, Mechanism, with_hash};
use crate::mechanisms::{block, crypto, eddsa, rsa};
use crate::session::auth::Role;
use crate::session::table::{ObjectHandle, SessionHandle, SlotId};
use crate::sim::{Inner, LoadedObject, SessionView, Simulator};
use crate::store::keys::fill_random;
use crate::store::{self, ulong_to_sql};
use crate::store::{slot_sql, token_handle};
use crate::token::attrs::{AttrMap, Attribute};
use crate::token::objects::{self, OUID_LEN, Origin};

/// The result of reading one attribute (`C_GetAttributeValue`).
#[derive(Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// The value, in the platform-independent form (see [`Attribute`]).
    Value(Zeroizing<Vec<u8>>),
    /// The value may not be revealed (`CKR_ATTRIBUTE_SENSITIVE`).
    Sensitive,
    /// The object has no such attribute (`CKR_ATTRIBUTE_TYPE_INVALID`).
    TypeInvalid,
}

impl std::fmt::Debug for AttributeValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(v) => write!(f, "Value({} bytes)", v.len()),
            Self::Sensitive => f.write_str("Sensitive"),
            Self::TypeInvalid => f.write_str("TypeInvalid"),
        }
    }
}

impl AttributeValue {
    /// The `ulValueLen` to report: the value's length, or `CK_UNAVAILABLE_INFORMATION`.
    #[must_use]
    pub fn len_or_unavailable(&self) -> CkUlong {
        match self {
            Self::Value(v) => CkUlong::try_from(v.len()).unwrap_or(CK_UNAVAILABLE_INFORMATION),
            Self::Sensitive | Self::TypeInvalid => CK_UNAVAILABLE_INFORMATION,
        }
    }
}

/// The return code of a `C_GetAttributeValue` whose per-attribute results are `values`:
/// `CKR_ATTRIBUTE_SENSITIVE` if any is sensitive, else `CKR_ATTRIBUTE_TYPE_INVALID` if any is
/// invalid, else `CKR_OK`.
#[must_use]
pub fn attribute_values_rv(values: &[AttributeValue]) -> CkRv {
    if values.contains(&AttributeValue::Sensitive) {
        CKR_ATTRIBUTE_SENSITIVE
    } else if values.contains(&AttributeValue::TypeInvalid) {
        CKR_ATTRIBUTE_TYPE_INVALID
    } else {
        CKR_OK
    }
}

/// The bytes of an OUID that hold its object's creation time.
const OUID_TIME_LEN: usize = 5;

/// A new object's OUID (register A82): the low 40 bits of its creation time in milliseconds,
/// big-endian, then 7 random bytes. Objects made one after another get OUIDs in order, so the
/// partition's OUID index, on the source and on every target its clones reach, grows at its
/// end; random OUIDs make each insert write a random page of it once the index outgrows
/// SQLite's page cache.
fn new_ouid(now_millis: i64) -> SimResult<Vec<u8>> {
    let mut ouid = vec![0u8; OUID_LEN];
    let (stamp, random) = ouid.split_at_mut(OUID_TIME_LEN);
    if let Some(low) = now_millis.to_be_bytes().get(8 - OUID_TIME_LEN..) {
        stamp.copy_from_slice(low);
    }
    fill_random(random)?;
    Ok(ouid)
}

fn kinds(template: &[Attribute]) -> Vec<CkAttributeType> {
    template.iter().map(|a| a.kind).collect()
}

/// Maps "no such object" to the code of the role the handle plays.
fn as_role(err: SimError, invalid: SimError) -> SimError {
    if err == SimError::ObjectHandleInvalid {
        invalid
    } else {
        err
    }
}

impl Inner {
    /// Stores new objects: every token object in one write transaction, then the session
    /// objects. Each gets a fresh OUID, made at `now_millis` (the simulator's clock).
    pub(crate) fn store_objects(
        &mut self,
        view: &SessionView,
        objects: Vec<AttrMap>,
        now_millis: i64,
    ) -> SimResult<Vec<ObjectHandle>> {
        let mut prepared = Vec::with_capacity(objects.len());
        for mut attrs in objects {
            view.require_object_writer(attrs.is(CKA_TOKEN), attrs.is(CKA_PRIVATE))?;
            attrs.set(CKA_OUID, new_ouid(now_millis)?);
            prepared.push(attrs);
        }
        let slot = slot_sql(view.slot)?;
        let token_count = prepared.iter().filter(|a| a.is(CKA_TOKEN)).count();
        let token_ids = if token_count > 0 {
            let ids = self.write(|tx, keyring| {
                let key = keyring.slot(tx, slot)?;
                prepared
                    .iter()
                    .filter(|a| a.is(CKA_TOKEN))
                    .map(|attrs| store::insert_object(tx, key, slot, attrs))
                    .collect::<SimResult<Vec<_>>>()
            })?;
            self.faults
                .objects_committed(u64::try_from(token_count).unwrap_or(u64::MAX));
            ids
        } else {
            Vec::new()
        };
        let mut token_ids = token_ids.into_iter();
        let mut handles = Vec::with_capacity(prepared.len());
        for attrs in prepared {
            let handle = if attrs.is(CKA_TOKEN) {
                token_handle(token_ids.next().ok_or(SimError::Internal("token ids"))?)?
            } else {
                self.sessions.add_object(view.slot, view.handle, attrs)?
            };
            handles.push(handle);
        }
        Ok(handles)
    }

    /// Replaces an existing object's attributes.
    fn replace_object(
        &mut self,
        view: &SessionView,
        obj: &LoadedObject,
        attrs: AttrMap,
    ) -> SimResult<()> {
        match obj.token_id {
            Some(id) => {
                let slot = slot_sql(view.slot)?;
                self.write(|tx, keyring| {
                    let key = keyring.slot(tx, slot)?;
                    store::update_object(tx, key, id, &attrs)
                })
            }
            None => {
                let entry = self
                    .sessions
                    .objects
                    .get_mut(&obj.handle)
                    .ok_or(SimError::ObjectHandleInvalid)?;
                entry.attrs = attrs;
                Ok(())
            }
        }
    }

    /// Token objects of `slot` matching `template`, through the indexes.
    fn find_token_objects(
        &mut self,
        slot: SlotId,
        template: &AttrMap,
        sees_private: bool,
    ) -> SimResult<Vec<ObjectHandle>> {
        let (sql, params, filter) = find_query(slot_sql(slot)?, template, sees_private);
        // A template naming key material selects ids first and opens them after: one read
        // transaction keeps both in one snapshot, so another process's delete in between is
        // not seen half.
        let snapshot = if filter == Filter::Opened {
            Some(self.conn.unchecked_transaction()?)
        } else {
            None
        };
        let mut handles = Vec::new();
        // Rows whose key material the template names, compared once the statement is done.
        let mut to_open = Vec::new();
        {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
            // Row by row, so a find holds one row's attributes at a time, not the slot's.
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                match filter {
                    Filter::None => handles.push(token_handle(id)?),
                    Filter::Clear => {
                        let public = row.get_ref(1)?.as_blob().map_err(|_| {
                            SimError::Corrupt("an object's attributes are not a blob".into())
                        })?;
                        let attrs = store::object_row::decode_public(public)?;
                        if !store::object_row::Columns::of(&attrs).match_row(row, 2)? {
                            return Err(SimError::Corrupt(store::object_row::columns_differ(id)));
                        }
                        if objects::find_matches(&attrs, template) {
                            handles.push(token_handle(id)?);
                        }
                    }
                    Filter::Opened => to_open.push(id),
                }
            }
        }
        if !to_open.is_empty() {
            let slot_sql = slot_sql(slot)?;
            let key = self.keyring.slot(&self.conn, slot_sql)?;
            for id in to_open {
                let attrs = store::load_attributes(&self.conn, key, id)?;
                if objects::find_matches(&attrs, template) {
                    handles.push(token_handle(id)?);
                }
            }
        }
        if let Some(snapshot) = snapshot {
            snapshot.commit()?;
        }
        // In id order, sorted here: an ORDER BY beside `slot = ?` would make SQLite prepare the
        // statement again on every run (`store::tests::hot_statements_are_prepared_once`).
        handles.sort_unstable();
        Ok(handles)
    }
}

/// What a find compares after its SQL has selected rows by their indexed columns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    /// Nothing: the template names indexed columns only.
    None,
    /// The clear attributes of each row.
    Clear,
    /// Every attribute, sealed ones opened (the template names key material).
    Opened,
}

/// The SQL of a find: the indexed columns for class, label, id, OUID and privacy, and what
/// is left of the template for [`Filter`] to compare on each row selected.
pub(crate) fn find_query(
    slot: i64,
    template: &AttrMap,
    sees_private: bool,
) -> (String, Vec<Value>, Filter) {
    let mut sql = String::from(" FROM objects o WHERE o.slot = ?");
    let mut params = vec![Value::Integer(slot)];
    if !sees_private {
        sql.push_str(" AND o.private = 0");
    }
    let mut filter = Filter::None;
    for (kind, value) in template.iter() {
        let column = match kind {
            CKA_LABEL => Some(("o.label", Value::Blob(value.to_vec()))),
            CKA_ID => Some(("o.ckid", Value::Blob(value.to_vec()))),
            CKA_OUID => Some(("o.ouid", Value::Blob(value.to_vec()))),
            CKA_CLASS => Some((
                "o.class",
                Value::Integer(crate::token::attrs::decode_ulong(value).map_or(-2, ulong_to_sql)),
            )),
            _ => None,
        };
        if let Some((name, param)) = column {
            sql.push_str(&format!(" AND {name} = ?"));
            params.push(param);
            // An empty column is also that of an object without the attribute (a data object
            // has no CKA_ID): the attribute itself is compared.
            if value.is_empty() && filter == Filter::None {
                filter = Filter::Clear;
            }
        } else if objects::SECRET_ATTRIBUTES.contains(&kind) {
            // Sealed at rest for keys: compared once opened.
            filter = Filter::Opened;
        } else if filter == Filter::None {
            filter = Filter::Clear;
        }
    }
    // Only a comparison on clear attributes reads the row's blob, and its indexed columns to
    // check them against it.
    let columns = if filter == Filter::Clear {
        "SELECT o.id, o.public, o.class, o.label, o.ckid, o.ouid, o.private"
    } else {
        "SELECT o.id"
    };
    (format!("{columns}{sql}"), params, filter)
}

impl Simulator {
    /// `C_CreateObject`.
    ///
    /// # Errors
    ///
    /// Role and session codes (see the module documentation), `CKR_TEMPLATE_INCOMPLETE`,
    /// `CKR_TEMPLATE_INCONSISTENT`, `CKR_ATTRIBUTE_VALUE_INVALID`, `CKR_ATTRIBUTE_TYPE_INVALID`,
    /// `CKR_ATTRIBUTE_READ_ONLY`, `CKR_DEVICE_ERROR`.
    pub fn create_object(
        &self,
        session: SessionHandle,
        template: &[Attribute],
    ) -> SimResult<ObjectHandle> {
        let mut handles = self.create_objects(session, &[template.to_vec()])?;
        handles.pop().ok_or(SimError::Internal("no handle"))
    }

    /// Creates several objects at once: all token objects are written in one transaction, so
    /// either all of them exist afterwards or none (also across a crash).
    ///
    /// # Errors
    ///
    /// As [`Simulator::create_object`], for the first template that fails; nothing is stored.
    pub fn create_objects(
        &self,
        session: SessionHandle,
        templates: &[Vec<Attribute>],
    ) -> SimResult<Vec<ObjectHandle>> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        view.require_changer(false)?;
        let objects = templates
            .iter()
            .map(|t| objects::build_object(AttrMap::from_template(t)?, &kinds(t), Origin::Created))
            .collect::<SimResult<Vec<_>>>()?;
        inner.store_objects(&view, objects, self.clock.now_millis())
    }

    /// `C_CopyObject`: a copy with a new OUID; `template` may change `CKA_TOKEN`,
    /// `CKA_PRIVATE`, labels and usage flags, tighten `CKA_SENSITIVE`/`CKA_EXTRACTABLE`, and
    /// clear `CKA_MODIFIABLE`/`CKA_COPYABLE`/`CKA_DESTROYABLE`.
    ///
    /// # Errors
    ///
    /// `CKR_OBJECT_HANDLE_INVALID`, `CKR_ACTION_PROHIBITED` (not copyable),
    /// `CKR_ATTRIBUTE_READ_ONLY`, role and session codes.
    pub fn copy_object(
        &self,
        session: SessionHandle,
        object: ObjectHandle,
        template: &[Attribute],
    ) -> SimResult<ObjectHandle> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        view.require_changer(false)?;
        let source = inner.load_object(&view, object)?;
        let copy = objects::apply_changes(&source.attrs, template, true)?;
        let mut handles = inner.store_objects(&view, vec![copy], self.clock.now_millis())?;
        handles.pop().ok_or(SimError::Internal("no handle"))
    }

    /// `C_DestroyObject`.
    ///
    /// # Errors
    ///
    /// `CKR_OBJECT_HANDLE_INVALID`, `CKR_ACTION_PROHIBITED` (`CKA_DESTROYABLE` false), role and
    /// session codes.
    pub fn destroy_object(&self, session: SessionHandle, object: ObjectHandle) -> SimResult<()> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        view.require_changer(false)?;
        // A row whose columns lie can still be removed (the integrity check reports it).
        let obj = inner.load_object_to_destroy(&view, object)?;
        view.require_object_writer(obj.token_id.is_some(), obj.attrs.is(CKA_PRIVATE))?;
        if !obj.attrs.flag(CKA_DESTROYABLE).unwrap_or(true) {
            return Err(SimError::ActionProhibited);
        }
        match obj.token_id {
            Some(id) => {
                let removed = inner.write(|tx, _| store::delete_object(tx, id))?;
                if !removed {
                    return Err(SimError::ObjectHandleInvalid);
                }
            }
            None => {
                inner.sessions.objects.remove(&object);
            }
        }
        Ok(())
    }

    /// `C_GetAttributeValue`: one result per requested type; see [`attribute_values_rv`] for
    /// the call's return code.
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`, `CKR_OBJECT_HANDLE_INVALID`.
    pub fn get_attribute_value(
        &self,
        session: SessionHandle,
        object: ObjectHandle,
        types: &[CkAttributeType],
    ) -> SimResult<Vec<AttributeValue>> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        let obj = inner.load_object(&view, object)?;
        Ok(types
            .iter()
            .map(|kind| match obj.attrs.get(*kind) {
                None => AttributeValue::TypeInvalid,
                Some(_) if objects::is_unreadable(&obj.attrs, *kind) => AttributeValue::Sensitive,
                Some(value) => AttributeValue::Value(Zeroizing::new(value.to_vec())),
            })
            .collect())
    }

    /// `C_GetObjectSize`: the bytes of the object's attribute values plus 16 per attribute (its
    /// type and length), a measure PKCS#11 leaves to the token.
    ///
    /// # Errors
    ///
    /// `CKR_SESSION_HANDLE_INVALID`, `CKR_OBJECT_HANDLE_INVALID`.
    pub fn object_size(&self, session: SessionHandle, object: ObjectHandle) -> SimResult<usize> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        let obj = inner.load_object(&view, object)?;
        Ok(obj.attrs.iter().map(|(_, value)| value.len() + 16).sum())
    }

    /// `C_SetAttributeValue` under PKCS#11's rules (see the crate documentation).
    ///
    /// # Errors
    ///
    /// `CKR_OBJECT_HANDLE_INVALID`, `CKR_ACTION_PROHIBITED` (not modifiable),
    /// `CKR_ATTRIBUTE_READ_ONLY`, `CKR_ATTRIBUTE_TYPE_INVALID`, role and session codes.
    pub fn set_attribute_value(
        &self,
        session: SessionHandle,
        object: ObjectHandle,
        template: &[Attribute],
    ) -> SimResult<()> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        let only_trusted = !template.is_empty() && template.iter().all(|a| a.kind == CKA_TRUSTED);
        if only_trusted && view.role == Some(Role::So) {
            // The Partition SO's one change: CKA_TRUSTED of what it sees (register A77).
            let obj = inner.load_object(&view, object)?;
            if obj.token_id.is_some() && !view.read_write {
                return Err(SimError::SessionReadOnly);
            }
            let next = objects::set_trusted(&obj.attrs, template)?;
            return inner.replace_object(&view, &obj, next);
        }
        view.require_changer(false)?;
        let obj = inner.load_object(&view, object)?;
        view.require_object_writer(obj.token_id.is_some(), obj.attrs.is(CKA_PRIVATE))?;
        let next = objects::apply_changes(&obj.attrs, template, false)?;
        inner.replace_object(&view, &obj, next)
    }

    /// `C_FindObjectsInit`: the matching handles are collected now (token objects selected
    /// through the store's indexes on class, label, id and OUID, then compared on the rest of
    /// the template, then session objects). A template naming none of those four walks the
    /// slot's index (`objects_slot`): only ids when it names nothing else, each row's clear
    /// attributes when it names others. A token object's row is read, and its indexed columns
    /// checked against its attributes, only when the rest of the template (or an empty
    /// label, id or OUID, also the column of an object without one) needs its attributes; a
    /// template of indexed attributes alone trusts the columns.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_ACTIVE`, `CKR_ATTRIBUTE_VALUE_INVALID`.
    pub fn find_objects_init(
        &self,
        session: SessionHandle,
        template: &[Attribute],
    ) -> SimResult<()> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        if inner.sessions.get(session)?.ops.find.is_some() {
            return Err(SimError::OperationActive);
        }
        let template = AttrMap::from_template(template)?;
        let mut found = inner.find_token_objects(view.slot, &template, view.sees_private())?;
        found.extend(
            inner
                .sessions
                .objects
                .iter()
                .filter(|(_, o)| o.slot == view.slot)
                .filter(|(_, o)| view.sees_private() || !o.attrs.is(CKA_PRIVATE))
                .filter(|(_, o)| objects::find_matches(&o.attrs, &template))
                .map(|(h, _)| *h),
        );
        inner.sessions.get_mut(session)?.ops.find = Some(VecDeque::from(found));
        Ok(())
    }

    /// `C_FindObjects`: up to `max` more handles.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`.
    pub fn find_objects(&self, session: SessionHandle, max: usize) -> SimResult<Vec<ObjectHandle>> {
        let mut inner = self.lock();
        let found = inner
            .sessions
            .get_mut(session)?
            .ops
            .find
            .as_mut()
            .ok_or(SimError::OperationNotInitialized)?;
        let take = max.min(found.len());
        Ok(found.drain(..take).collect())
    }

    /// `C_FindObjectsFinal`.
    ///
    /// # Errors
    ///
    /// `CKR_OPERATION_NOT_INITIALIZED`.
    pub fn find_objects_final(&self, session: SessionHandle) -> SimResult<()> {
        let mut inner = self.lock();
        inner
            .sessions
            .get_mut(session)?
            .ops
            .find
            .take()
            .map(|_| ())
            .ok_or(SimError::OperationNotInitialized)
    }

    /// Init, collect all, final: every handle matching `template`.
    ///
    /// # Errors
    ///
    /// As [`Simulator::find_objects_init`].
    pub fn find_all(
        &self,
        session: SessionHandle,
        template: &[Attribute],
    ) -> SimResult<Vec<ObjectHandle>> {
        self.find_objects_init(session, template)?;
        let found = self.find_objects(session, usize::MAX);
        self.find_objects_final(session)?;
        found
    }

    /// The SQLite query plan of the token-object query a find with `template` runs on
    /// `slot` (as a logged-in user would): the `detail` column of `EXPLAIN QUERY PLAN`, for
    /// proving that finds use indexes.
    ///
    /// # Errors
    ///
    /// `CKR_ATTRIBUTE_VALUE_INVALID`; store errors.
    pub fn explain_find(&self, slot: SlotId, template: &[Attribute]) -> SimResult<Vec<String>> {
        let inner = self.lock();
        let template = AttrMap::from_template(template)?;
        let (sql, params, _) = find_query(slot_sql(slot)?, &template, true);
        let mut stmt = inner.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params.iter()), |r| {
                r.get::<_, String>(3)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// `C_GenerateKey` with `CKM_AES_KEY_GEN` (`CKA_VALUE_LEN` 16, 24 or 32),
    /// `CKM_GENERIC_SECRET_KEY_GEN` (`CKA_VALUE_LEN` 1 to 512), or `CKM_DES_KEY_GEN`,
    /// `CKM_DES2_KEY_GEN` and `CKM_DES3_KEY_GEN` (a fixed length; `CKA_VALUE_LEN` may be given
    /// if it is that length, register A67). DES keys get odd parity and are never weak.
    ///
    /// # Errors
    ///
    /// `CKR_MECHANISM_INVALID`, `CKR_TEMPLATE_INCOMPLETE` (no `CKA_VALUE_LEN`),
    /// `CKR_KEY_SIZE_RANGE`, `CKR_TEMPLATE_INCONSISTENT`, role and session codes.
    pub fn generate_key(
        &self,
        session: SessionHandle,
        mechanism: &Mechanism,
        template: &[Attribute],
    ) -> SimResult<ObjectHandle> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        view.require_changer(false)?;
        let key_type = match mechanism {
            Mechanism::AesKeyGen => CKK_AES,
            Mechanism::GenericSecretKeyGen => CKK_GENERIC_SECRET,
            Mechanism::DesKeyGen => CKK_DES,
            Mechanism::Des2KeyGen => CKK_DES2,
            Mechanism::Des3KeyGen => CKK_DES3,
            _ => return Err(SimError::MechanismInvalid),
        };
        let fixed_len = block::des_key_len(key_type).and_then(|n| CkUlong::try_from(n).ok());
        let mut attrs = AttrMap::from_template(template)?;
        if attrs.ulong(CKA_CLASS).is_some_and(|c| c != CKO_SECRET_KEY)
            || attrs.ulong(CKA_KEY_TYPE).is_some_and(|k| k != key_type)
            || attrs.contains(CKA_VALUE)
        {
            return Err(SimError::TemplateInconsistent);
        }
        let len = attrs
            .ulong(CKA_VALUE_LEN)
            .or(fixed_len)
            .ok_or(SimError::TemplateIncomplete(CKA_VALUE_LEN))?;
        let ok = match key_type {
            CKK_AES => matches!(len, 16 | 24 | 32),
            CKK_GENERIC_SECRET => (1..=MAX_GENERIC_SECRET_LEN).contains(&len),
            _ => Some(len) == fixed_len,
        };
        if !ok {
            return Err(SimError::KeySizeRange);
        }
        let len = usize::try_from(len).map_err(|_| SimError::KeySizeRange)?;
        let value = if fixed_len.is_some() {
            block::generate_des_key(len, fill_random)?
        } else {
            let mut value = Zeroizing::new(vec![0u8; len]);
            fill_random(&mut value)?;
            value
        };
        attrs.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
        attrs.set_ulong(CKA_KEY_TYPE, key_type);
        attrs.set_slice(CKA_VALUE, &value);
        let supplied: Vec<_> = kinds(template)
            .into_iter()
            .filter(|k| *k != CKA_VALUE_LEN)
            .collect();
        let built = objects::build_object(
            attrs,
            &supplied,
            Origin::Generated(mechanism.mechanism_type()),
        )?;
        let mut handles = inner.store_objects(&view, vec![built], self.clock.now_millis())?;
        handles.pop().ok_or(SimError::Internal("no handle"))
    }

    /// `C_GenerateKeyPair` with `CKM_EC_KEY_PAIR_GEN` (a template gives `CKA_EC_PARAMS`,
    /// P-256) or `CKM_RSA_PKCS_KEY_PAIR_GEN` (the public template gives `CKA_MODULUS_BITS`,
    /// 1024 to 4096 in whole bytes, and may give `CKA_PUBLIC_EXPONENT`; register A56). Returns
    /// `(public, private)`; token keys are stored in one transaction. The key is generated
    /// without holding the simulator's lock, so other sessions go on meanwhile.
    ///
    /// # Errors
    ///
    /// `CKR_MECHANISM_INVALID`, `CKR_TEMPLATE_INCOMPLETE`, `CKR_CURVE_NOT_SUPPORTED`,
    /// `CKR_DOMAIN_PARAMS_INVALID`, `CKR_KEY_SIZE_RANGE`, `CKR_ATTRIBUTE_VALUE_INVALID`,
    /// `CKR_TEMPLATE_INCONSISTENT`, role and session codes.
    pub fn generate_key_pair(
        &self,
        session: SessionHandle,
        mechanism: &Mechanism,
        public_template: &[Attribute],
        private_template: &[Attribute],
    ) -> SimResult<(ObjectHandle, ObjectHandle)> {
        self.lock().session(session)?.require_changer(false)?;
        let (key_type, origin) = match mechanism {
            Mechanism::EcKeyPairGen => (CKK_EC, Origin::Generated(CKM_EC_KEY_PAIR_GEN)),
            Mechanism::RsaPkcsKeyPairGen => (CKK_RSA, Origin::Generated(CKM_RSA_PKCS_KEY_PAIR_GEN)),
            Mechanism::EdwardsKeyPairGen => (
                CKK_EC_EDWARDS,
                Origin::Generated(CKM_EC_EDWARDS_KEY_PAIR_GEN),
            ),
            _ => return Err(SimError::MechanismInvalid),
        };
        let mut public = AttrMap::from_template(public_template)?;
        let mut private = AttrMap::from_template(private_template)?;
        for (attrs, class) in [(&public, CKO_PUBLIC_KEY), (&private, CKO_PRIVATE_KEY)] {
            // The public exponent is a request (register A56); the rest is material.
            let material = |kind| kind != CKA_PUBLIC_EXPONENT && is_key_material(kind);
            if attrs.ulong(CKA_CLASS).is_some_and(|c| c != class)
                || attrs.ulong(CKA_KEY_TYPE).is_some_and(|k| k != key_type)
                || attrs.iter().any(|(kind, _)| material(kind))
            {
                return Err(SimError::TemplateInconsistent);
            }
        }
        if key_type != CKK_RSA {
            let params = public
                .get(CKA_EC_PARAMS)
                .or_else(|| private.get(CKA_EC_PARAMS))
                .ok_or(SimError::TemplateIncomplete(CKA_EC_PARAMS))?
                .to_vec();
            if [&public, &private]
                .iter()
                .any(|a| a.get(CKA_EC_PARAMS).is_some_and(|p| p != params.as_slice()))
            {
                return Err(SimError::TemplateInconsistent);
            }
            let (scalar, point) = if key_type == CKK_EC_EDWARDS {
                eddsa::check_params(&params)?;
                eddsa::generate()?
            } else {
                ec::generate(Curve::from_params(&params)?)
            };
            public.set(CKA_EC_PARAMS, params.clone());
            public.set(CKA_EC_POINT, point);
            private.set(CKA_EC_PARAMS, params);
            private.set_slice(CKA_VALUE, &scalar);
        } else {
            let bits = public
                .ulong(CKA_MODULUS_BITS)
                .ok_or(SimError::TemplateIncomplete(CKA_MODULUS_BITS))?;
            // The exponent may be in either template; given in both, it must agree.
            let requested = match (
                public.get(CKA_PUBLIC_EXPONENT),
                private.get(CKA_PUBLIC_EXPONENT),
            ) {
                (Some(a), Some(b)) if a != b => return Err(SimError::TemplateInconsistent),
                (a, b) => a.or(b),
            };
            let exponent = rsa::requested_exponent(requested)?;
            let key = rsa::generate(bits, exponent)?;
            rsa::set_public_attrs(&mut public, key.as_public_key());
            rsa::set_private_attrs(&mut private, &key)?;
        }
        for (attrs, class) in [
            (&mut public, CKO_PUBLIC_KEY),
            (&mut private, CKO_PRIVATE_KEY),
        ] {
            attrs.set_ulong(CKA_CLASS, class);
            attrs.set_ulong(CKA_KEY_TYPE, key_type);
        }
        let public = objects::build_object(public, &kinds(public_template), origin)?;
        let private = objects::build_object(private, &kinds(private_template), origin)?;
        let mut inner = self.lock();
        let view = inner.session(session)?;
        view.require_changer(false)?;
        let handles = inner.store_objects(&view, vec![public, private], self.clock.now_millis())?;
        match handles.as_slice() {
            [public, private] => Ok((*public, *private)),
            _ => Err(SimError::Internal("key pair handles")),
        }
    }

    /// `C_WrapKey`: with `CKM_AES_KEY_WRAP_PAD` or `CKM_AES_KEY_WRAP_KWP` (RFC 5649) under an
    /// AES key, a secret key's value or a private key as PKCS #8; with `CKM_RSA_PKCS` or
    /// `CKM_RSA_PKCS_OAEP` under an RSA public key, a secret key's value.
    ///
    /// # Errors
    ///
    /// `CKR_MECHANISM_INVALID`, `CKR_WRAPPING_KEY_HANDLE_INVALID`,
    /// `CKR_WRAPPING_KEY_TYPE_INCONSISTENT`, `CKR_KEY_FUNCTION_NOT_PERMITTED` (`CKA_WRAP`
    /// false), `CKR_KEY_HANDLE_INVALID`, `CKR_KEY_UNEXTRACTABLE`, `CKR_KEY_NOT_WRAPPABLE`.
    pub fn wrap_key(
        &self,
        session: SessionHandle,
        mechanism: &Mechanism,
        wrapping_key: ObjectHandle,
        key: ObjectHandle,
    ) -> SimResult<Vec<u8>> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        view.require_key_user()?;
        let (class, key_type, rsa_scheme) = wrap_mechanism(mechanism, true)?;
        let kek = inner
            .load_object(&view, wrapping_key)
            .map_err(|e| as_role(e, SimError::WrappingKeyHandleInvalid))?;
        if kek.attrs.ulong(CKA_KEY_TYPE) != Some(key_type)
            || kek.attrs.ulong(CKA_CLASS) != Some(class)
        {
            return Err(SimError::WrappingKeyTypeInconsistent);
        }
        if !kek.attrs.is(CKA_WRAP) {
            return Err(SimError::KeyFunctionNotPermitted);
        }
        objects::check_allowed(&kek.attrs, mechanism.mechanism_type())?;
        let target = inner
            .load_object(&view, key)
            .map_err(|e| as_role(e, SimError::KeyHandleInvalid))?;
        let target_class = target.attrs.ulong(CKA_CLASS);
        if matches!(target_class, Some(CKO_SECRET_KEY | CKO_PRIVATE_KEY))
            && !target.attrs.is(CKA_EXTRACTABLE)
        {
            return Err(SimError::KeyUnextractable);
        }
        // A key marked CKA_WRAP_WITH_TRUSTED leaves only under a CKA_TRUSTED key, and a key
        // with a wrap template wraps only the keys that match it.
        if target.attrs.is(CKA_WRAP_WITH_TRUSTED) && !kek.attrs.is(CKA_TRUSTED) {
            return Err(SimError::KeyNotWrappable);
        }
        objects::check_wrap_template(&kek.attrs, &target.attrs)?;
        let data = match target_class {
            Some(CKO_SECRET_KEY) => Zeroizing::new(target.attrs.value()?.to_vec()),
            // RSA wraps only secret keys: a private key does not fit in one RSA block.
            Some(CKO_PRIVATE_KEY) if rsa_scheme.is_none() => {
                match target.attrs.ulong(CKA_KEY_TYPE) {
                    Some(CKK_RSA) => rsa::to_pkcs8(&rsa::private_key(&target.attrs)?)?,
                    Some(CKK_EC_EDWARDS) => eddsa::to_pkcs8(target.attrs.value()?)?,
                    _ => ec::to_pkcs8(&target.attrs)?,
                }
            }
            _ => return Err(SimError::KeyNotWrappable),
        };
        match rsa_scheme {
            None => crypto::aes_wrap(kek.attrs.value()?, &data, padded(mechanism)),
            Some(scheme) => {
                let public = rsa::public_key(&kek.attrs)?;
                rsa::encrypt(&public, &scheme, &data).map_err(|e| match e {
                    SimError::DataLenRange => SimError::KeySizeRange,
                    other => other,
                })
            }
        }
    }

    /// `C_UnwrapKey`: with `CKM_AES_KEY_WRAP_PAD` or `CKM_AES_KEY_WRAP_KWP` under an AES key
    /// (a secret key, or a private key from PKCS #8: EC or RSA, as `CKA_KEY_TYPE` says or the
    /// PKCS #8 shows), or with `CKM_RSA_PKCS` or `CKM_RSA_PKCS_OAEP` under an RSA private key
    /// (a secret key). The template gives `CKA_CLASS` and, for a secret key, `CKA_KEY_TYPE`.
    ///
    /// # Errors
    ///
    /// `CKR_MECHANISM_INVALID`, `CKR_UNWRAPPING_KEY_HANDLE_INVALID`,
    /// `CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT`, `CKR_KEY_FUNCTION_NOT_PERMITTED`,
    /// `CKR_WRAPPED_KEY_LEN_RANGE`, `CKR_WRAPPED_KEY_INVALID`, `CKR_TEMPLATE_INCOMPLETE`, role
    /// and session codes.
    pub fn unwrap_key(
        &self,
        session: SessionHandle,
        mechanism: &Mechanism,
        unwrapping_key: ObjectHandle,
        wrapped: &[u8],
        template: &[Attribute],
    ) -> SimResult<ObjectHandle> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        view.require_changer(false)?;
        let (class, key_type, rsa_scheme) = wrap_mechanism(mechanism, false)?;
        let kek = inner
            .load_object(&view, unwrapping_key)
            .map_err(|e| as_role(e, SimError::UnwrappingKeyHandleInvalid))?;
        if kek.attrs.ulong(CKA_KEY_TYPE) != Some(key_type)
            || kek.attrs.ulong(CKA_CLASS) != Some(class)
        {
            return Err(SimError::UnwrappingKeyTypeInconsistent);
        }
        // Per-use authentication cannot be given to a one-call unwrap (register A79).
        if !kek.attrs.is(CKA_UNWRAP) || kek.attrs.is(CKA_ALWAYS_AUTHENTICATE) {
            return Err(SimError::KeyFunctionNotPermitted);
        }
        objects::check_allowed(&kek.attrs, mechanism.mechanism_type())?;
        let mut attrs = AttrMap::from_template(template)?;
        objects::apply_template(&mut attrs, &kek.attrs, CKA_UNWRAP_TEMPLATE)?;
        if attrs.iter().any(|(kind, _)| is_key_material(kind)) {
            // The material comes from the wrapped key only.
            return Err(SimError::TemplateInconsistent);
        }
        let supplied: Vec<CkAttributeType> = attrs.iter().map(|(kind, _)| kind).collect();
        let data = match &rsa_scheme {
            None => crypto::aes_unwrap(kek.attrs.value()?, wrapped, padded(mechanism))?,
            Some(scheme) => {
                let private = rsa::private_key(&kek.attrs)?;
                rsa::decrypt(&private, scheme, wrapped).map_err(|e| match e {
                    SimError::EncryptedDataLenRange => SimError::WrappedKeyLenRange,
                    _ => SimError::WrappedKeyInvalid,
                })?
            }
        };
        match attrs.ulong(CKA_CLASS) {
            None => return Err(SimError::TemplateIncomplete(CKA_CLASS)),
            Some(CKO_SECRET_KEY) => attrs.set_slice(CKA_VALUE, &data),
            Some(CKO_PRIVATE_KEY) if rsa_scheme.is_none() => unwrap_private(&mut attrs, &data)?,
            Some(_) => return Err(SimError::TemplateInconsistent),
        }
        let built =
            objects::build_object(attrs, &supplied, Origin::Unwrapped).map_err(|e| match e {
                // The unwrapped material is refused (a key of an unsupported size, say).
                SimError::AttributeValueInvalid(kind) if is_key_material(kind) => {
                    SimError::WrappedKeyInvalid
                }
                other => other,
            })?;
        let mut handles = inner.store_objects(&view, vec![built], self.clock.now_millis())?;
        handles.pop().ok_or(SimError::Internal("no handle"))
    }
}

impl Simulator {
    /// `C_DeriveKey` with `CKM_ECDH1_DERIVE`: an EC private key with `CKA_DERIVE` and the
    /// other party's point give the shared secret `Z` (the x-coordinate), used as it is
    /// (`CKD_NULL`) or through the ANSI X9.63 KDF; the new secret key takes the template's
    /// type and its first `CKA_VALUE_LEN` bytes (register A74). The length is the template's
    /// `CKA_VALUE_LEN`, a DES key's own, or for a generic secret the whole of `Z` or of one
    /// KDF output; DES keys get odd parity. The key is always sensitive or never extractable
    /// only if the base key was and it is (PKCS#11's rule for derived keys).
    ///
    /// # Errors
    ///
    /// `CKR_MECHANISM_INVALID`, `CKR_MECHANISM_PARAM_INVALID` (a point not on the curve),
    /// `CKR_KEY_HANDLE_INVALID`, `CKR_KEY_TYPE_INCONSISTENT`, `CKR_KEY_FUNCTION_NOT_PERMITTED`,
    /// `CKR_TEMPLATE_INCOMPLETE`, `CKR_TEMPLATE_INCONSISTENT`, `CKR_KEY_SIZE_RANGE`, role and
    /// session codes.
    pub fn derive_key(
        &self,
        session: SessionHandle,
        mechanism: &Mechanism,
        base_key: ObjectHandle,
        template: &[Attribute],
    ) -> SimResult<ObjectHandle> {
        let mut inner = self.lock();
        let view = inner.session(session)?;
        view.require_changer(false)?;
        let Mechanism::Ecdh1Derive(params) = mechanism else {
            return Err(SimError::MechanismInvalid);
        };
        let base = inner
            .load_object(&view, base_key)
            .map_err(|e| as_role(e, SimError::KeyHandleInvalid))?;
        if base.attrs.ulong(CKA_CLASS) != Some(CKO_PRIVATE_KEY)
            || base.attrs.ulong(CKA_KEY_TYPE) != Some(CKK_EC)
        {
            return Err(SimError::KeyTypeInconsistent);
        }
        // Per-use authentication cannot be given to a one-call derivation (register A79).
        if !base.attrs.is(CKA_DERIVE) || base.attrs.is(CKA_ALWAYS_AUTHENTICATE) {
            return Err(SimError::KeyFunctionNotPermitted);
        }
        objects::check_allowed(&base.attrs, mechanism.mechanism_type())?;
        let mut attrs = AttrMap::from_template(template)?;
        objects::apply_template(&mut attrs, &base.attrs, CKA_DERIVE_TEMPLATE)?;
        if attrs.iter().any(|(kind, _)| is_key_material(kind))
            || attrs.ulong(CKA_CLASS).is_some_and(|c| c != CKO_SECRET_KEY)
        {
            return Err(SimError::TemplateInconsistent);
        }
        let supplied: Vec<CkAttributeType> = attrs.iter().map(|(kind, _)| kind).collect();
        let key_type = attrs
            .ulong(CKA_KEY_TYPE)
            .ok_or(SimError::TemplateIncomplete(CKA_KEY_TYPE))?;
        let shared = ec::SigningKey::of(&base.attrs)?.diffie_hellman(&params.public_data)?;
        let whole = params.kdf.map_or(shared.len(), HashAlg::output_len);
        let len = match (attrs.ulong(CKA_VALUE_LEN), block::des_key_len(key_type)) {
            (Some(len), _) => usize::try_from(len).map_err(|_| SimError::KeySizeRange)?,
            (None, Some(des)) => des,
            (None, None) if key_type == CKK_GENERIC_SECRET => whole,
            (None, None) => return Err(SimError::TemplateIncomplete(CKA_VALUE_LEN)),
        };
        let max = usize::try_from(MAX_GENERIC_SECRET_LEN).unwrap_or(usize::MAX);
        if len == 0 || len > max || (params.kdf.is_none() && len > shared.len()) {
            return Err(SimError::KeySizeRange);
        }
        let mut value = Zeroizing::new(vec![0u8; len]);
        match params.kdf {
            None => value.copy_from_slice(shared.get(..len).unwrap_or(&[])),
            Some(hash) => with_hash!(hash, D => {
                ansi_x963_kdf::derive_key_into::<D>(&shared, &params.shared_data, &mut value)
            })
            .map_err(|_| SimError::KeySizeRange)?,
        }
        if block::des_key_len(key_type).is_some() {
            block::set_des_parity(&mut value);
        }
        attrs.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
        attrs.set_slice(CKA_VALUE, &value);
        let mut built = objects::build_object(attrs, &supplied, Origin::Derived)?;
        let always_sensitive = base.attrs.is(CKA_ALWAYS_SENSITIVE) && built.is(CKA_SENSITIVE);
        let never_extractable =
            base.attrs.is(CKA_NEVER_EXTRACTABLE) && !built.flag(CKA_EXTRACTABLE).unwrap_or(true);
        built.set_bool(CKA_ALWAYS_SENSITIVE, always_sensitive);
        built.set_bool(CKA_NEVER_EXTRACTABLE, never_extractable);
        let mut handles = inner.store_objects(&view, vec![built], self.clock.now_millis())?;
        handles.pop().ok_or(SimError::Internal("no handle"))
    }
}

/// The public halves of key material; with `objects::SECRET_ATTRIBUTES`, the attributes the
/// token sets from generated or unwrapped keys and never takes from a generation or unwrap
/// template.
const PUBLIC_MATERIAL: &[CkAttributeType] = &[CKA_EC_POINT, CKA_MODULUS, CKA_PUBLIC_EXPONENT];

fn is_key_material(kind: CkAttributeType) -> bool {
    objects::SECRET_ATTRIBUTES.contains(&kind) || PUBLIC_MATERIAL.contains(&kind)
}

/// The wrapping key a wrap mechanism needs, `(class, key type)`, and for RSA its scheme.
fn wrap_mechanism(
    mechanism: &Mechanism,
    wrapping: bool,
) -> SimResult<(CkObjectClass, CkKeyType, Option<rsa::Encryption>)> {
    let rsa_class = if wrapping {
        CKO_PUBLIC_KEY
    } else {
        CKO_PRIVATE_KEY
    };
    Ok(match mechanism {
        Mechanism::AesKeyWrap | Mechanism::AesKeyWrapPad | Mechanism::AesKeyWrapKwp => {
            (CKO_SECRET_KEY, CKK_AES, None)
        }
        Mechanism::RsaPkcs => (rsa_class, CKK_RSA, Some(rsa::Encryption::Pkcs1)),
        Mechanism::RsaOaep(params) => (
            rsa_class,
            CKK_RSA,
            Some(rsa::Encryption::Oaep(params.clone())),
        ),
        _ => return Err(SimError::MechanismInvalid),
    })
}

/// Whether an AES wrap mechanism pads (RFC 5649) or not (RFC 3394, `CKM_AES_KEY_WRAP`).
fn padded(mechanism: &Mechanism) -> bool {
    !matches!(mechanism, Mechanism::AesKeyWrap)
}

/// Fills an unwrapped private key's attributes from its PKCS #8 form: the key type the template
/// names, or the one the PKCS #8 holds.
fn unwrap_private(attrs: &mut AttrMap, pkcs8: &[u8]) -> SimResult<()> {
    let key_type = match attrs.ulong(CKA_KEY_TYPE) {
        Some(kind) => kind,
        None if rsa::from_pkcs8(pkcs8).is_ok() => CKK_RSA,
        None if eddsa::from_pkcs8(pkcs8).is_some() => CKK_EC_EDWARDS,
        None => CKK_EC,
    };
    match key_type {
        CKK_RSA => rsa::set_private_attrs(attrs, &rsa::from_pkcs8(pkcs8)?)?,
        CKK_EC_EDWARDS => {
            let seed = eddsa::from_pkcs8(pkcs8).ok_or(SimError::WrappedKeyInvalid)?;
            let params = attrs
                .get(CKA_EC_PARAMS)
                .map_or(eddsa::ED25519_EC_PARAMS.to_vec(), <[u8]>::to_vec);
            if !eddsa::is_ed25519(&params) {
                return Err(SimError::TemplateInconsistent);
            }
            attrs.set(CKA_EC_PARAMS, params);
            attrs.set_slice(CKA_VALUE, &seed);
        }
        CKK_EC => {
            let (curve, scalar, _) = ec::from_pkcs8(pkcs8)?;
            if attrs
                .get(CKA_EC_PARAMS)
                .is_some_and(|p| p != curve.params())
            {
                return Err(SimError::TemplateInconsistent);
            }
            attrs.set_slice(CKA_EC_PARAMS, curve.params());
            attrs.set_slice(CKA_VALUE, &scalar);
        }
        _ => return Err(SimError::TemplateInconsistent),
    }
    attrs.set_ulong(CKA_KEY_TYPE, key_type);
    Ok(())
}
