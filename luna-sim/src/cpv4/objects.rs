//! `CA_Extract` and `CA_Insert` over many objects: the per-object checks and results of
//! protocol.md section 8.6, the policies of 8.7, and one transaction per insert call.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;
use cpv4_session::{SequenceBatch, SessionError, SessionTable};
use cpv4_wire::consts::*;
use cpv4_wire::{Attribute as WireAttribute, AttributeList, ElementType, ObjectEncoding};

use super::store::with_txn;
use super::{Context, SqlStore};
use crate::error::{SimError, SimResult};
use crate::session::table::{ObjectHandle, PARAM_OBJECT_BASE, SessionHandle};
use crate::sim::Simulator;
use crate::store;
use crate::store::{slot_sql, token_handle};
use crate::token::attrs::AttrMap;

/// One object of a `CA_Extract` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractItem {
    /// `objectType[i]`: `CK_CRYPTOKI_ELEMENT` or `CK_PARAM_ELEMENT`.
    pub object_type: CkUlong,
    /// `objectHandle[i]`.
    pub handle: ObjectHandle,
    /// `keyBlobLength[i]` on entry: the room of the caller's buffer.
    pub capacity: usize,
}

/// What a `CA_Extract` call produced, per object in the call's order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The call's own result: `CKR_OK`, or without `CKF_CONTINUE_ON_ERR` the first failing
    /// object's code (register A23).
    pub rv: CkRv,
    /// `result[i]`, `CKR_CLONE_NOT_ATTEMPTED` where the call stopped before the object.
    pub results: Vec<CkRv>,
    /// `keyBlobLength[i]` on return: the blob's size (written for size queries and short
    /// buffers too).
    pub lengths: Vec<usize>,
    /// The blobs of the objects extracted (`None` for a size query or a failed object).
    pub blobs: Vec<Option<Bytes>>,
}

/// One object of a `CA_Insert` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertItem<'a> {
    /// `storageType[i]`: 0 to 3 (`LUNA_STORAGE_*`); the clone keeps its `CKA_TOKEN` whatever
    /// it says (register A5).
    pub storage_type: CkUlong,
    /// `objectType[i]`.
    pub object_type: CkUlong,
    /// `keyBlob[i]`.
    pub blob: &'a [u8],
}

/// What a `CA_Insert` call produced, per object in the call's order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// The call's own result (as [`Extracted::rv`]).
    pub rv: CkRv,
    /// `result[i]`.
    pub results: Vec<CkRv>,
    /// `objectHandle[i]`: the clone's handle where `results[i]` is `CKR_OK`, else 0.
    pub handles: Vec<ObjectHandle>,
}

/// The most objects `CA_Extract` loads in one read transaction, and the attribute bytes
/// after which it stops (one object may pass them): what the call holds of the objects ahead
/// of its checks.
const LOAD_WINDOW: usize = 64;
const LOAD_BUDGET: usize = 256 * 1024;

/// The largest `storageType` value (`LUNA_STORAGE_CACHE`).
const MAX_STORAGE_TYPE: CkUlong = 3;

fn element_type(object_type: CkUlong) -> Option<ElementType> {
    match object_type {
        CK_CRYPTOKI_ELEMENT => Some(ElementType::Cryptoki),
        CK_PARAM_ELEMENT => Some(ElementType::Param),
        _ => None,
    }
}

/// Partition policies 0 and 4 (section 8.7): whether objects of `class` may clone.
fn class_allowed(context: &Context, class: Option<CkObjectClass>) -> bool {
    match class {
        Some(CKO_PRIVATE_KEY) => context
            .partition
            .policy(PARTITION_POLICY_PRIVATE_KEY_CLONING),
        Some(CKO_SECRET_KEY) => context
            .partition
            .policy(PARTITION_POLICY_SECRET_KEY_CLONING),
        _ => true,
    }
}

/// An object in the session's encoding (section 8.4); `CKR_CPV4_MSG_ERROR` past the limits.
fn encode(attrs: &AttrMap, encoding: ObjectEncoding) -> Result<zeroize::Zeroizing<Vec<u8>>, CkRv> {
    // The values are borrowed: no copy of the key material outside the zeroizing map.
    let list = AttributeList::new(
        attrs
            .iter()
            .map(|(kind, value)| WireAttribute {
                ty: crate::token::attrs::ulong_to_u64(kind),
                value,
            })
            .collect(),
    )
    .map_err(|_| CKR_CPV4_MSG_ERROR)?;
    let encoded = zeroize::Zeroizing::new(list.encode_as(encoding));
    if encoded.len() > cpv4_crypto::blob::MAX_PAYLOAD_LEN {
        return Err(CKR_CPV4_MSG_ERROR);
    }
    Ok(encoded)
}

/// Decodes an object in the session's encoding into the simulator's attribute map.
fn decode(payload: &[u8], encoding: ObjectEncoding) -> Result<AttrMap, CkRv> {
    let list =
        AttributeList::decode_borrowed_as(payload, encoding).map_err(|_| CKR_CPV4_MSG_ERROR)?;
    // The values take less than the payload: one buffer holds them all.
    let mut attrs = AttrMap::with_capacity(list.attributes().len(), payload.len());
    for attribute in list.attributes() {
        let kind = CkAttributeType::try_from(attribute.ty).map_err(|_| CKR_CPV4_MSG_ERROR)?;
        attrs.set_slice(kind, attribute.value);
    }
    Ok(attrs)
}

/// Runs the per-object loop: `step` returns an object's code; the loop stops at the first
/// failure unless `continue_on_error` (register A23).
fn per_object(
    count: usize,
    continue_on_error: bool,
    mut step: impl FnMut(usize) -> SimResult<CkRv>,
) -> SimResult<(CkRv, Vec<CkRv>)> {
    let mut results = vec![CKR_CLONE_NOT_ATTEMPTED; count];
    let mut rv = CKR_OK;
    for (i, slot) in results.iter_mut().enumerate() {
        let code = step(i)?;
        *slot = code;
        if code != CKR_OK && !continue_on_error {
            rv = code;
            break;
        }
    }
    Ok((rv, results))
}

fn check_flags(flags: CkUlong) -> SimResult<bool> {
    if flags & !CKF_CONTINUE_ON_ERR != 0 {
        return Err(SimError::ArgumentsBad("unknown CPv4 flags"));
    }
    Ok(flags & CKF_CONTINUE_ON_ERR != 0)
}

/// A per-object code for an engine refusal of one object; a refusal of the session itself
/// ends the call.
fn object_code(error: SessionError) -> SimResult<CkRv> {
    match error {
        SessionError::BlobRefused(_) | SessionError::Wire(_) => Ok(CKR_CPV4_MSG_ERROR),
        other => Err(SimError::Cpv4(other)),
    }
}

impl Simulator {
    /// The Confirm a first `CA_Extract` or `CA_Insert` may carry (section 7.4), then the
    /// session's liveness; returns the session's object encoding.
    fn cpv4_enter(
        &self,
        table: &SessionTable<SqlStore<'_>>,
        context: &Context,
        uid: &[u8],
        input: &[u8],
    ) -> SimResult<ObjectEncoding> {
        if !input.is_empty() {
            table
                .deliver_confirm(context.slot, &context.policy, context.now, uid, input)
                .map_err(SimError::Cpv4)?;
        }
        let live = table
            .check_live(context.slot, &context.policy, context.now, uid)
            .map_err(SimError::Cpv4)?;
        Ok(live.encoding)
    }

    /// `CA_Extract` with `CKM_CPV4_EXTRACT`: seals each object into a key blob of session
    /// `uid`. `input` is the Confirm on the responder's first call (or the initiator's own
    /// Confirm), else empty. With `size_query` (every `keyBlob[i]` NULL) only the lengths and
    /// the per-object results are computed; no sequence number is consumed (a Confirm in
    /// `input` is still consumed, register A28). Extraction never changes the source.
    ///
    /// # Errors
    ///
    /// The session and protocol codes of [`Simulator::cpv4_start`], `CKR_ARGUMENTS_BAD` for
    /// unknown flags, the codes of section 7.4 for `input`, and the session codes of section
    /// 9.2. Per-object codes are in [`Extracted::results`].
    pub fn cpv4_extract(
        &self,
        session: SessionHandle,
        uid: &[u8],
        input: &[u8],
        flags: CkUlong,
        items: &[ExtractItem],
        size_query: bool,
    ) -> SimResult<Extracted> {
        let context = self.cpv4_context(session)?;
        let continue_on_error = check_flags(flags)?;
        let table = self.cpv4_table(&context.device);
        let encoding = self.cpv4_enter(&table, &context, uid, input)?;
        let view = self.lock().session(session)?;
        // The PKCS#11 objects asked for, loaded a window at a time as the checks reach them:
        // one read transaction per window, and never more than a window held (at most
        // LOAD_WINDOW objects and LOAD_BUDGET bytes but for the last object).
        let mut window: VecDeque<(usize, SimResult<crate::sim::LoadedObject>)> = VecDeque::new();
        let mut lengths = vec![0; items.len()];
        let mut blobs = vec![None; items.len()];
        // The objects to seal, in order: all are sealed in one step of the store.
        let mut to_seal: Vec<(usize, ElementType, zeroize::Zeroizing<Vec<u8>>)> = Vec::new();
        let (mut rv, mut results) = per_object(items.len(), continue_on_error, |i| {
            let Some(item) = items.get(i) else {
                return Ok(CKR_ARGUMENTS_BAD);
            };
            let Some(element) = element_type(item.object_type) else {
                return Ok(CKR_OBJECT_TYPE_INVALID);
            };
            let is_param_handle = item.handle >= PARAM_OBJECT_BASE
                && item.handle < crate::session::table::SESSION_OBJECT_BASE;
            if (element == ElementType::Param) != is_param_handle {
                // A data object passed as a parameter object, or the reverse (register A16).
                return Ok(CKR_OBJECT_TYPE_INVALID);
            }
            let attrs = if element == ElementType::Param {
                let smk = self.smk(context.slot)?;
                if item.handle != smk.handle {
                    return Ok(CKR_OBJECT_HANDLE_INVALID);
                }
                smk_attributes(&smk)
            } else {
                // Objects the checks passed over before loading them are dropped unread.
                while window.front().is_some_and(|(j, _)| *j < i) {
                    window.pop_front();
                }
                if window.front().is_none_or(|(j, _)| *j != i) {
                    let (indices, handles): (Vec<usize>, Vec<ObjectHandle>) = items
                        .iter()
                        .enumerate()
                        .skip(i)
                        .filter(|(_, item)| item.object_type == CK_CRYPTOKI_ELEMENT)
                        .take(LOAD_WINDOW)
                        .map(|(j, item)| (j, item.handle))
                        .unzip();
                    let found = self.lock().load_objects(&view, &handles, LOAD_BUDGET)?;
                    window = indices.into_iter().zip(found).collect();
                }
                match window.pop_front() {
                    Some((_, Ok(object))) => object.attrs,
                    Some((_, Err(SimError::ObjectHandleInvalid))) => {
                        return Ok(CKR_OBJECT_HANDLE_INVALID);
                    }
                    Some((_, Err(other))) => return Err(other),
                    None => return Err(SimError::Internal("an object was not loaded")),
                }
            };
            if !class_allowed(&context, attrs.ulong(CKA_CLASS)) {
                return Ok(CKR_ACTION_PROHIBITED);
            }
            let payload = match encode(&attrs, encoding) {
                Ok(payload) => payload,
                Err(code) => return Ok(code),
            };
            let needed = SessionTable::blob_len(payload.len());
            if let Some(length) = lengths.get_mut(i) {
                *length = needed;
            }
            if size_query {
                return Ok(CKR_OK);
            }
            if item.capacity < needed {
                return Ok(CKR_BUFFER_TOO_SMALL);
            }
            to_seal.push((i, element, payload));
            Ok(CKR_OK)
        })?;
        if !to_seal.is_empty() {
            let payloads: Vec<_> = to_seal
                .iter()
                .map(|(_, element, payload)| (*element, payload.as_slice()))
                .collect();
            let sealed = table
                .seal_batch(context.slot, &context.policy, context.now, uid, &payloads)
                .map_err(SimError::Cpv4)?;
            let mut failed = false;
            for ((i, _, _), blob) in to_seal.iter().zip(sealed) {
                let (Some(result), Some(out)) = (results.get_mut(*i), blobs.get_mut(*i)) else {
                    continue;
                };
                if failed {
                    // Sealed, but after a failure without CKF_CONTINUE_ON_ERR: not given out.
                    *result = CKR_CLONE_NOT_ATTEMPTED;
                    continue;
                }
                match blob {
                    Ok(blob) => *out = Some(blob),
                    Err(error) => {
                        *result = object_code(error)?;
                        if !continue_on_error {
                            failed = true;
                            rv = *result;
                        }
                    }
                }
            }
        }
        Ok(Extracted {
            rv,
            results,
            lengths,
            blobs,
        })
    }

    /// `CA_Insert` with `CKM_CPV4_INSERT`: opens each blob of session `uid` and stores its
    /// object, keeping its `CKA_OUID`. The whole call is one transaction: the token objects it
    /// stores and the sequence numbers of exactly those objects are committed together, or
    /// none of them are. `input` is as for [`Simulator::cpv4_extract`].
    ///
    /// # Errors
    ///
    /// As [`Simulator::cpv4_extract`]; per-object codes are in [`Inserted::results`].
    pub fn cpv4_insert(
        &self,
        session: SessionHandle,
        uid: &[u8],
        input: &[u8],
        flags: CkUlong,
        items: &[InsertItem<'_>],
    ) -> SimResult<Inserted> {
        let context = self.cpv4_context(session)?;
        let continue_on_error = check_flags(flags)?;
        let table = self.cpv4_table(&context.device);
        let encoding = self.cpv4_enter(&table, &context, uid, input)?;
        let view = self.lock().session(session)?;
        let slot = slot_sql(context.slot)?;
        // Open and check every blob first (no state changes), then store in one transaction.
        let blobs: Vec<&[u8]> = items.iter().map(|item| item.blob).collect();
        let mut opened_all: Vec<Option<Result<cpv4_session::OpenedBlob, SessionError>>> = table
            .open_batch(context.slot, &context.policy, context.now, uid, &blobs)
            .map_err(SimError::Cpv4)?
            .into_iter()
            .map(Some)
            .collect();
        let mut accepted: Vec<Accepted> = Vec::new();
        let mut seen_ouids = HashSet::new();
        // One partition has one SMK: a second in the same call would replace the first.
        let mut smk_seen = false;
        let (mut rv, mut results) = per_object(items.len(), continue_on_error, |i| {
            let Some(item) = items.get(i) else {
                return Ok(CKR_ARGUMENTS_BAD);
            };
            if item.storage_type > MAX_STORAGE_TYPE {
                return Ok(CKR_ARGUMENTS_BAD);
            }
            let Some(element) = element_type(item.object_type) else {
                return Ok(CKR_OBJECT_TYPE_INVALID);
            };
            let opened = match opened_all.get_mut(i).and_then(Option::take) {
                Some(Ok(opened)) => opened,
                Some(Err(error)) => return object_code(error),
                None => return Ok(CKR_ARGUMENTS_BAD),
            };
            if opened.element_type != element {
                return Ok(CKR_OBJECT_TYPE_INVALID);
            }
            let attrs = match decode(&opened.payload, encoding) {
                Ok(attrs) => attrs,
                Err(code) => return Ok(code),
            };
            if element == ElementType::Param {
                // The SMK: it replaces the target's, unless it is the same one.
                if !is_smk(&attrs) {
                    return Ok(CKR_CPV4_MSG_ERROR);
                }
                let current = self.smk(context.slot)?;
                if attrs.get(CKA_OUID) == Some(&current.ouid[..]) || smk_seen {
                    return Ok(CKR_FAILED_TO_CLONE_AN_OBJECT);
                }
                smk_seen = true;
                accepted.push(Accepted {
                    index: i,
                    token: Some(opened.token),
                    attrs,
                    param: true,
                    stored: None,
                });
                return Ok(CKR_OK);
            }
            if !class_allowed(&context, attrs.ulong(CKA_CLASS)) {
                return Ok(CKR_ACTION_PROHIBITED);
            }
            // An object this token could not hold as it is is refused whole (register A81).
            if crate::token::objects::check_cloned(&attrs).is_err() {
                return Ok(CKR_CPV4_MSG_ERROR);
            }
            view.require_writer(attrs.is(CKA_TOKEN))?;
            let ouid = attrs.get(CKA_OUID).unwrap_or_default().to_vec();
            // The token objects' OUIDs are checked in the transaction that stores the batch.
            if ouid.is_empty()
                || !seen_ouids.insert(ouid.clone())
                || self.lock().session_ouid_exists(context.slot, &ouid)
            {
                // The OUID names another object of the partition (register A30).
                return Ok(CKR_FAILED_TO_CLONE_AN_OBJECT);
            }
            accepted.push(Accepted {
                index: i,
                token: Some(opened.token),
                attrs,
                param: false,
                stored: None,
            });
            Ok(CKR_OK)
        })?;
        let mut inner = self.lock();
        let device = context.device.clone();
        let stored_tokens = inner.write(|tx, keyring| {
            let record_key = keyring.device(&device, false)?.secret();
            with_txn(tx, &device, &record_key, |txn| {
                // The session is read once and written once for the whole call.
                let mut sequences = SequenceBatch::begin(txn, &context.policy, context.now)
                    .map_err(SimError::Cpv4)?;
                let mut stop = false;
                let mut count = 0u64;
                for item in &mut accepted {
                    if stop {
                        item.stored = Some(Err(CKR_CLONE_NOT_ATTEMPTED));
                        continue;
                    }
                    let Some(token) = item.token.take() else {
                        continue;
                    };
                    let ouid = item.attrs.get(CKA_OUID).unwrap_or_default();
                    if !item.param && store::ouid_stored(tx, slot, ouid)? {
                        // A token object of the partition has its OUID (register A30), maybe
                        // stored by another process since the checks; its number stays free.
                        item.stored = Some(Err(CKR_FAILED_TO_CLONE_AN_OBJECT));
                        stop = !continue_on_error;
                        continue;
                    }
                    match sequences.accept(token) {
                        Ok(()) => {}
                        Err(SessionError::BlobRefused(_)) => {
                            // Another call stored this blob's object meanwhile.
                            item.stored = Some(Err(CKR_CPV4_MSG_ERROR));
                            stop = !continue_on_error;
                            continue;
                        }
                        Err(other) => return Err(SimError::Cpv4(other)),
                    }
                    if item.param {
                        let id = replace_smk(tx, keyring, slot, &item.attrs)?;
                        item.stored = Some(Ok(Some(-id)));
                        continue;
                    }
                    item.stored = Some(Ok(if item.attrs.is(CKA_TOKEN) {
                        let key = keyring.slot(tx, slot)?;
                        count += 1;
                        Some(store::insert_object(tx, key, slot, &item.attrs)?)
                    } else {
                        None
                    }));
                }
                sequences.finish().map_err(SimError::Cpv4)?;
                Ok(count)
            })?
        })?;
        inner.faults.objects_committed(stored_tokens);
        // Where the store ended the call (an object refused in the transaction), if it did.
        let ended_at = accepted
            .iter()
            .find(|item| matches!(item.stored, Some(Err(code)) if code != CKR_CLONE_NOT_ATTEMPTED))
            .map(|item| item.index);
        let mut handles = vec![0; items.len()];
        for item in accepted {
            let (Some(result), Some(handle)) =
                (results.get_mut(item.index), handles.get_mut(item.index))
            else {
                continue;
            };
            match item.stored {
                Some(Ok(Some(id))) if id < 0 => {
                    // The SMK's parameter-object handle.
                    *handle = PARAM_OBJECT_BASE
                        + ObjectHandle::try_from(-id)
                            .map_err(|_| SimError::Internal("param id"))?;
                }
                Some(Ok(Some(id))) => *handle = token_handle(id)?,
                Some(Ok(None)) => {
                    *handle = inner
                        .sessions
                        .add_object(view.slot, view.handle, item.attrs)?;
                }
                Some(Err(code)) => *result = code,
                None => *result = CKR_CLONE_NOT_ATTEMPTED,
            }
        }
        if let (Some(first), false) = (ended_at, continue_on_error) {
            // The call ended at that object: its code is the call's, and whatever the checks
            // judged after it was not attempted (register A23).
            for result in results.iter_mut().skip(first + 1) {
                *result = CKR_CLONE_NOT_ATTEMPTED;
            }
            rv = results.get(first).copied().unwrap_or(rv);
        }
        Ok(Inserted {
            rv,
            results,
            handles,
        })
    }
}

/// An object of an insert call that passed its checks, waiting for the call's transaction.
struct Accepted {
    index: usize,
    token: Option<cpv4_session::SequenceToken>,
    attrs: AttrMap,
    /// The SMK parameter object (else a PKCS#11 object).
    param: bool,
    /// After the transaction: the stored object's row id (`None` for a session object; the
    /// negated row id for the SMK), or the object's code.
    stored: Option<Result<Option<i64>, CkRv>>,
}

impl Simulator {
    /// What an insert of `blobs` would say of each blob's envelope and sequence number,
    /// without storing anything: `CKR_OK` for a blob of session `uid` that opens (its number
    /// not yet accepted), else its per-object code (`CKR_CPV4_MSG_ERROR` for a replay). For
    /// operators and tests that check what a session has accepted.
    ///
    /// # Errors
    ///
    /// The session and protocol codes of [`Simulator::cpv4_insert`].
    pub fn cpv4_probe(
        &self,
        session: SessionHandle,
        uid: &[u8],
        blobs: &[&[u8]],
    ) -> SimResult<Vec<CkRv>> {
        let context = self.cpv4_context(session)?;
        let table = self.cpv4_table(&context.device);
        table
            .open_batch(context.slot, &context.policy, context.now, uid, blobs)
            .map_err(SimError::Cpv4)?
            .into_iter()
            .map(|opened| match opened {
                Ok(_) => Ok(CKR_OK),
                Err(error) => object_code(error),
            })
            .collect()
    }

    /// Checks 1 to 3 of the legacy clone (protocol.md section 12) for two sessions, with no
    /// object: what `CA_MigrateKeys` asks before it falls back to the legacy protocol.
    ///
    /// # Errors
    ///
    /// As [`Simulator::clone_object`] before it looks at the object.
    pub fn clone_check(
        &self,
        target_session: SessionHandle,
        source_session: SessionHandle,
    ) -> SimResult<()> {
        self.legacy_clone_pair(target_session, source_session)
            .map(drop)
    }

    /// The two sessions and partitions of a legacy clone, once checks 1 to 3 passed.
    fn legacy_clone_pair(
        &self,
        target_session: SessionHandle,
        source_session: SessionHandle,
    ) -> SimResult<(
        crate::sim::SessionView,
        crate::sim::SessionView,
        Vec<crate::device::api::PartitionInfo>,
    )> {
        let (target, source) = {
            let inner = self.lock();
            (
                inner.session(target_session)?,
                inner.session(source_session)?,
            )
        };
        target.require_officer()?;
        source.require_officer()?;
        let mut partitions = Vec::with_capacity(2);
        for view in [&source, &target] {
            let partition = self.partition_info(view.slot)?;
            let device = self.device_info(&partition.device_serial)?;
            if !device.cloning_allowed || !partition.cpv3_enabled {
                return Err(SimError::Cpv4(SessionError::ProtocolDisabled));
            }
            partitions.push(partition);
        }
        let source_domains = self.domain_psks(source.slot)?;
        let target_domains = self.domain_psks(target.slot)?;
        let shared = source_domains
            .iter()
            .any(|s| target_domains.iter().any(|t| t.psk == s.psk));
        if !shared {
            return Err(SimError::Cpv4(SessionError::NoPsk));
        }
        Ok((target, source, partitions))
    }

    /// The legacy one-object clone (`CA_CloneObject(hTargetSession, hSourceSession,
    /// ulObjectType, hObject, phClonedObject)`, protocol.md section 12): copies one object
    /// from the source session's partition to the target session's, keeping its `CKA_OUID`,
    /// for partitions where CPv4 is off but the older cloning is allowed. One client reaches
    /// both partitions; there is no attestation and no session key.
    ///
    /// Checks, in order: both sessions valid and logged in as the Crypto Officer; HSM policy 7
    /// on both devices and the legacy protocol enabled on both partitions
    /// (`CKR_PROTOCOL_DISABLED`); a cloning domain in common (`CKR_SESSION_NEGOTIATION_NO_PSK`,
    /// register A47); then the object as in section 8.6: `CKR_OBJECT_TYPE_INVALID`,
    /// `CKR_OBJECT_HANDLE_INVALID`, `CKR_ACTION_PROHIBITED` (policies 0 and 4 of either
    /// partition), `CKR_FAILED_TO_CLONE_AN_OBJECT` (the OUID exists on the target).
    ///
    /// # Errors
    ///
    /// As above; store errors.
    pub fn clone_object(
        &self,
        target_session: SessionHandle,
        source_session: SessionHandle,
        object_type: CkUlong,
        source_handle: ObjectHandle,
    ) -> SimResult<ObjectHandle> {
        let (target, source, partitions) =
            self.legacy_clone_pair(target_session, source_session)?;
        match element_type(object_type) {
            Some(ElementType::Cryptoki) => {}
            _ => return Err(SimError::ObjectTypeInvalid),
        }
        let attrs = self.lock().load_object(&source, source_handle)?.attrs;
        let class = attrs.ulong(CKA_CLASS);
        let allowed = partitions.iter().all(|partition| match class {
            Some(CKO_PRIVATE_KEY) => partition.policy(PARTITION_POLICY_PRIVATE_KEY_CLONING),
            Some(CKO_SECRET_KEY) => partition.policy(PARTITION_POLICY_SECRET_KEY_CLONING),
            _ => true,
        });
        if !allowed {
            return Err(SimError::ActionProhibited);
        }
        target.require_writer(attrs.is(CKA_TOKEN))?;
        let mut inner = self.lock();
        let ouid = attrs.get(CKA_OUID).unwrap_or_default().to_vec();
        if ouid.is_empty() || inner.ouid_exists(target.slot, &ouid)? {
            return Err(SimError::FailedToClone);
        }
        if attrs.is(CKA_TOKEN) {
            let slot = slot_sql(target.slot)?;
            let id = inner.write(|tx, keyring| {
                // Another process may have cloned it meanwhile.
                if store::ouid_stored(tx, slot, &ouid)? {
                    return Err(SimError::FailedToClone);
                }
                let key = keyring.slot(tx, slot)?;
                store::insert_object(tx, key, slot, &attrs)
            })?;
            inner.faults.objects_committed(1);
            token_handle(id)
        } else {
            inner.sessions.add_object(target.slot, target.handle, attrs)
        }
    }
}

/// The SMK parameter object's attributes (section 8.4): its OUID, its secret (`CKA_VALUE`) and
/// its kind (`CKA_LABEL` = "smk"). No PKCS#11 class: it is not a PKCS#11 object.
fn smk_attributes(smk: &crate::device::domains::ParamObject) -> AttrMap {
    let mut attrs = AttrMap::new();
    attrs.set(
        CKA_LABEL,
        crate::device::records::SMK_KIND.as_bytes().to_vec(),
    );
    attrs.set_slice(CKA_OUID, &smk.ouid);
    attrs.set_slice(CKA_VALUE, smk.secret.expose_secret());
    attrs
}

fn is_smk(attrs: &AttrMap) -> bool {
    attrs.len() == 3
        && attrs.get(CKA_LABEL) == Some(crate::device::records::SMK_KIND.as_bytes())
        && attrs
            .get(CKA_OUID)
            .is_some_and(|o| o.len() == crate::token::objects::OUID_LEN)
        && attrs.get(CKA_VALUE).is_some_and(|v| v.len() == 32)
}

/// Replaces the partition's SMK with a cloned one, in the insert's transaction (so the old
/// one is gone only if the new one is stored). Returns the SMK's row id.
fn replace_smk(
    tx: &rusqlite::Transaction<'_>,
    keyring: &mut crate::store::Keyring,
    slot: i64,
    attrs: &AttrMap,
) -> SimResult<i64> {
    let sealed = keyring.slot(tx, slot)?.seal(
        &crate::store::keys::record_aad(
            "param_objects",
            &slot.to_be_bytes(),
            crate::device::records::SMK_KIND,
        ),
        attrs.get(CKA_VALUE).unwrap_or_default(),
    )?;
    let id: i64 = tx.query_row(
        "UPDATE param_objects SET ouid = ?3, secret_sealed = ?4 WHERE slot = ?1 AND kind = ?2
         RETURNING id",
        rusqlite::params![
            slot,
            crate::device::records::SMK_KIND,
            attrs.get(CKA_OUID).unwrap_or_default(),
            sealed
        ],
        |row| row.get(0),
    )?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_round_trips_through_both_encodings() {
        let mut attrs = AttrMap::new();
        attrs.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
        attrs.set(CKA_TOKEN, vec![1]);
        attrs.set(CKA_LABEL, b"key".to_vec());
        attrs.set(CKA_VALUE, vec![0x42; 32]);
        attrs.set(CKA_OUID, vec![9; 12]);
        let mut lengths = Vec::new();
        for encoding in [
            ObjectEncoding::AttributeList,
            ObjectEncoding::CompactAttributeList,
        ] {
            let payload = encode(&attrs, encoding).unwrap();
            assert_eq!(decode(&payload, encoding).unwrap(), attrs);
            lengths.push(payload.len());
        }
        assert!(lengths[1] < lengths[0], "{lengths:?}");
    }
}
