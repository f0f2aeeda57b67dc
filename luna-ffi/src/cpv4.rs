//! The CPv4 extensions: `CA_MigrationStartSessionNegotiation`,
//! `CA_MigrationContinueSessionNegotiation`, `CA_MigrationCloseSession`, `CA_Extract`,
//! `CA_Insert`, `CA_MigrateKeys` and the legacy `CA_CloneObject`, with the vendor's argument
//! order and structure layouts (docs/protocol.md sections 2.2 to 2.4).
//!
//! Each call checks, in PKCS#11's order: the library is initialized, the session exists,
//! then its own pointers and lengths (`CKR_ARGUMENTS_BAD`); the simulator does the rest. Size
//! queries and short buffers of Start and Continue are answered from a dry run that changes
//! nothing (register A28), so the negotiation never advances on them.

use cpv4_migrate::MigrationItem;
use cpv4_wire::consts::{
    CKM_CPV4_EXTRACT, CKM_CPV4_INSERT, CKR_BUFFER_TOO_SMALL, CKR_CLONE_NOT_ATTEMPTED, CKR_OK,
    CkUlong,
};
use cpv4_wire::limits::MAX_MESSAGE_SIZE;
use luna_sim::{ExtractItem, InsertItem};

use crate::args::{self, OutBuf};
use crate::guard::{Error, FfiResult, entry};
use crate::state::{self, Library};
use crate::types::*;

/// The length of a session UID.
const UID_LEN: usize = 16;

/// The initialized library, once the session is known to exist (PKCS#11 checks the session
/// before the arguments).
fn library_with_session(session: CK_SESSION_HANDLE) -> FfiResult<std::sync::Arc<Library>> {
    let library = state::current()?;
    library.sim.session_info(session)?;
    Ok(library)
}

/// A call's non-`CKR_OK` result whose outputs were written.
fn outcome(rv: CK_RV) -> FfiResult<()> {
    if rv == cpv4_wire::consts::CKR_OK {
        Ok(())
    } else {
        Err(Error::Partial(rv))
    }
}

/// `CA_MigrationStartSessionNegotiation` (flow step 1, initiator): the Offer, `*pOutputStep`
/// = 2. `inputLength` must be 0 (register A10). A NULL `pOutput` is a size query and a short
/// buffer `CKR_BUFFER_TOO_SMALL`; neither creates a negotiation.
///
/// # Safety
///
/// Non-NULL pointers are valid for their lengths: `pInput` readable for `ulInputLength`
/// bytes, `pOutputStep` writable, `pOutputLength` readable and writable, `pOutput` writable
/// for `*pOutputLength` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_MigrationStartSessionNegotiation(
    hSession: CK_SESSION_HANDLE,
    ulInputLength: CK_ULONG,
    pInput: CK_BYTE_PTR,
    pOutputStep: CK_ULONG_PTR,
    pOutputLength: CK_ULONG_PTR,
    pOutput: CK_BYTE_PTR,
) -> CK_RV {
    entry(|| {
        let library = library_with_session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let capacity = unsafe { args::peek_len(pOutputLength) }?;
        args::disjoint(
            &[
                args::region(pOutputStep.cast_const(), 1),
                args::region(pOutputLength.cast_const(), 1),
                args::region(pOutput.cast_const(), capacity),
            ],
            &[args::region(
                pInput.cast_const(),
                args::count(ulInputLength),
            )],
        )?;
        // SAFETY: forwarded from this function's contract.
        let step = unsafe { args::out(pOutputStep) }?;
        // SAFETY: forwarded from this function's contract.
        let mut output = unsafe { OutBuf::new(pOutput, pOutputLength) }?;
        // SAFETY: forwarded from this function's contract.
        let input = unsafe { args::slice(pInput.cast_const(), ulInputLength) }?;
        // A buffer that holds any message skips the dry run.
        if output.is_query() || output.capacity()? < MAX_MESSAGE_SIZE {
            let size = library.sim.cpv4_start_size(hSession, input)?;
            *step = 2;
            if output.answer_length(size)? {
                return Ok(());
            }
        }
        // Should the Offer be larger than the size query said (the domains changed in
        // between), the simulator abandons it: the call still leaves no negotiation.
        let offer = library
            .sim
            .cpv4_start_within(hSession, input, output.capacity()?)?
            .or_else(|needed| output.answer_length(needed).map(|_| Vec::new()))?;
        *step = 2;
        output.write(&offer)
    })
}

/// `CA_MigrationContinueSessionNegotiation` (flow steps 2 and 3).
///
/// At step 2 (responder) `pSessionUidInput` is empty and `pSessionUidOutputLen` required: the
/// new UID is written there. At step 3 (initiator) the UID may be given, or not: the Accept
/// names its session (register A49); both UID output pointers may then be NULL (register A22),
/// and if given they receive the UID. All outputs are queried together: `pOutput` NULL with a
/// non-NULL `pSessionUidOutput`, or the reverse, is `CKR_ARGUMENTS_BAD`. A size query or a
/// short buffer writes every needed size and changes no negotiation.
///
/// # Safety
///
/// Non-NULL pointers are valid for their lengths, as for
/// [`CA_MigrationStartSessionNegotiation`]; `pStatus` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_MigrationContinueSessionNegotiation(
    hSession: CK_SESSION_HANDLE,
    ulInputStep: CK_ULONG,
    ulInputLength: CK_ULONG,
    pInput: CK_BYTE_PTR,
    ulSessionUidInputLen: CK_ULONG,
    pSessionUidInput: CK_BYTE_PTR,
    pOutputStep: CK_ULONG_PTR,
    pOutputLength: CK_ULONG_PTR,
    pOutput: CK_BYTE_PTR,
    pStatus: CK_ULONG_PTR,
    pSessionUidOutputLen: CK_ULONG_PTR,
    pSessionUidOutput: CK_BYTE_PTR,
) -> CK_RV {
    entry(|| {
        let library = library_with_session(hSession)?;
        if ulInputLength == 0 || pInput.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: forwarded from this function's contract.
        let (capacity, uid_capacity) = unsafe {
            (
                args::peek_len(pOutputLength)?,
                args::peek_len(pSessionUidOutputLen)?,
            )
        };
        args::disjoint(
            &[
                args::region(pOutputStep.cast_const(), 1),
                args::region(pOutputLength.cast_const(), 1),
                args::region(pStatus.cast_const(), 1),
                args::region(pSessionUidOutputLen.cast_const(), 1),
                args::region(pOutput.cast_const(), capacity),
                args::region(pSessionUidOutput.cast_const(), uid_capacity),
            ],
            &[
                args::region(pInput.cast_const(), args::count(ulInputLength)),
                args::region(
                    pSessionUidInput.cast_const(),
                    args::count(ulSessionUidInputLen),
                ),
            ],
        )?;
        // SAFETY: forwarded from this function's contract.
        let input = unsafe { args::slice(pInput.cast_const(), ulInputLength) }?;
        // SAFETY: forwarded from this function's contract.
        let uid_in = unsafe { args::slice(pSessionUidInput.cast_const(), ulSessionUidInputLen) }?;
        let uid_in = (!uid_in.is_empty()).then_some(uid_in);
        // SAFETY: forwarded from this function's contract.
        let step = unsafe { args::out(pOutputStep) }?;
        // SAFETY: forwarded from this function's contract.
        let status = unsafe { args::out(pStatus) }?;
        // SAFETY: forwarded from this function's contract.
        let mut output = unsafe { OutBuf::new(pOutput, pOutputLength) }?;
        let mut uid_out = if pSessionUidOutputLen.is_null() {
            // Only the initiator may leave the UID out (A22); a UID buffer without its
            // length cannot be used.
            if ulInputStep == 2 || !pSessionUidOutput.is_null() {
                return Err(Error::ArgumentsBad);
            }
            None
        } else {
            // SAFETY: forwarded from this function's contract.
            Some(unsafe { OutBuf::new(pSessionUidOutput, pSessionUidOutputLen) }?)
        };
        let uid_query = uid_out.as_ref().is_some_and(OutBuf::is_query);
        if uid_out.is_some() && uid_query != output.is_query() {
            return Err(Error::ArgumentsBad);
        }
        let uid_short = match &uid_out {
            Some(buffer) => !buffer.is_query() && buffer.capacity()? < UID_LEN,
            None => false,
        };
        if output.is_query() || uid_short || output.capacity()? < MAX_MESSAGE_SIZE {
            let size = library
                .sim
                .cpv4_continue_size(hSession, ulInputStep, input, uid_in)?;
            let mut short = false;
            for (buffer, needed) in [(Some(&mut output), size), (uid_out.as_mut(), UID_LEN)] {
                if let Some(buffer) = buffer {
                    match buffer.answer_length(needed) {
                        Ok(_) => {}
                        Err(Error::BufferTooSmall) => short = true,
                        Err(other) => return Err(other),
                    }
                }
            }
            if short {
                return Err(Error::BufferTooSmall);
            }
            if output.is_query() {
                return Ok(());
            }
        }
        // An output larger than the size query said (the partition changed in between)
        // closes what the call made: the caller starts over.
        let continued = match library.sim.cpv4_continue_within(
            hSession,
            ulInputStep,
            input,
            uid_in,
            output.capacity()?,
        )? {
            Ok(continued) => continued,
            Err(needed) => {
                output.answer_length(needed)?;
                return Err(Error::BufferTooSmall);
            }
        };
        output.write(&continued.output)?;
        if let Some(buffer) = uid_out.as_mut() {
            buffer.write(&continued.uid.0)?;
        }
        *step = CkUlong::from(continued.step);
        *status = CkUlong::from(continued.status.value());
        Ok(())
    })
}

/// `CA_MigrationCloseSession` (flow step 6): closes a negotiation or session of the partition
/// (register A2).
///
/// # Safety
///
/// A non-NULL `pSessionUid` is readable for `ulSessionUidLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_MigrationCloseSession(
    hSession: CK_SESSION_HANDLE,
    ulSessionUidLen: CK_ULONG,
    pSessionUid: CK_BYTE_PTR,
) -> CK_RV {
    entry(|| {
        let library = library_with_session(hSession)?;
        if pSessionUid.is_null() || args::len(ulSessionUidLen)? != UID_LEN {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: forwarded from this function's contract.
        let uid = unsafe { args::slice(pSessionUid.cast_const(), ulSessionUidLen) }?;
        Ok(library.sim.cpv4_close(hSession, uid)?)
    })
}

/// The parameter structure of a CPv4 mechanism, read unaligned.
///
/// # Safety
///
/// A non-NULL `mechanism` is readable, and its non-NULL parameter readable for
/// `ulParameterLen` bytes.
unsafe fn parameter<T: Copy>(
    mechanism: *const CK_MECHANISM,
    expected: CK_MECHANISM_TYPE,
) -> FfiResult<T> {
    // SAFETY: forwarded from this function's contract.
    let mechanism = unsafe { args::input(mechanism) }?;
    if mechanism.mechanism != expected {
        return Err(Error::MechanismInvalid);
    }
    if mechanism.pParameter.is_null() || args::len(mechanism.ulParameterLen)? != size_of::<T>() {
        return Err(Error::MechanismParamInvalid);
    }
    // SAFETY: non-NULL and readable for `size_of::<T>()` bytes (checked length); the caller's
    // buffer need not be aligned.
    Ok(unsafe { mechanism.pParameter.cast::<T>().read_unaligned() })
}

/// The session UID of an extract or insert: 16 bytes, non-NULL.
///
/// # Safety
///
/// A non-NULL `uid` is readable for `len` bytes.
unsafe fn session_uid<'a>(uid: CK_BYTE_PTR, len: CK_ULONG) -> FfiResult<&'a [u8]> {
    if uid.is_null() || args::len(len)? != UID_LEN {
        return Err(Error::ArgumentsBad);
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { args::slice(uid.cast_const(), len) }
}

/// An array of `count` elements that must be present when `count` is not 0.
///
/// # Safety
///
/// A non-NULL `ptr` is readable for `count` elements.
unsafe fn array<'a, T>(ptr: *const T, count: CK_ULONG) -> FfiResult<&'a [T]> {
    if count != 0 && ptr.is_null() {
        return Err(Error::ArgumentsBad);
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { args::slice(ptr, count) }
}

/// A writable array of `count` elements that must be present when `count` is not 0.
///
/// # Safety
///
/// A non-NULL `ptr` is readable and writable for `count` elements.
unsafe fn array_mut<'a, T>(ptr: *mut T, count: CK_ULONG) -> FfiResult<&'a mut [T]> {
    if count != 0 && ptr.is_null() {
        return Err(Error::ArgumentsBad);
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { args::slice_mut(ptr, count) }
}

/// `CA_Extract` with `CKM_CPV4_EXTRACT` and a `CK_CPV4_EXTRACT_PARAMS` (flow step 4): seals
/// each object into a key blob. Every `keyBlob[i]` NULL is a size query (each
/// `keyBlobLen[i]` receives the blob's size, no sequence number is consumed); some NULL and
/// some not is `CKR_ARGUMENTS_BAD`. Per-object codes are in `result[i]`.
///
/// # Safety
///
/// `pMechanism` and its parameter are readable; every array of the parameter holds
/// `numberOfObjects` elements (`result` and `keyBlobLen` writable), and each non-NULL
/// `keyBlob[i]` is writable for `keyBlobLen[i]` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_Extract(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
) -> CK_RV {
    entry(|| {
        let library = library_with_session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let params: CK_CPV4_EXTRACT_PARAMS =
            unsafe { parameter(pMechanism.cast_const(), CKM_CPV4_EXTRACT) }?;
        let count = params.numberOfObjects;
        let n = args::count(count);
        let read = [
            args::region(params.input.cast_const(), args::count(params.inputLength)),
            args::region(
                params.sessionOuid.cast_const(),
                args::count(params.sessionOuidLen),
            ),
            args::region(params.objectType.cast_const(), n),
            args::region(params.objectHandle.cast_const(), n),
            args::region(params.keyBlob.cast_const(), n),
        ];
        let written = [
            args::region(params.result.cast_const(), n),
            args::region(params.keyBlobLen.cast_const(), n),
        ];
        args::disjoint(&written, &read)?;
        // SAFETY: forwarded from this function's contract (each pointer below is one of the
        // parameter's arrays or buffers).
        let uid = unsafe { session_uid(params.sessionOuid, params.sessionOuidLen) }?;
        // SAFETY: as above.
        let input = unsafe { args::slice(params.input.cast_const(), params.inputLength) }?;
        // SAFETY: as above.
        let types = unsafe { array(params.objectType.cast_const(), count) }?;
        // SAFETY: as above.
        let handles = unsafe { array(params.objectHandle.cast_const(), count) }?;
        // SAFETY: as above.
        let results = unsafe { array_mut(params.result, count) }?;
        // SAFETY: as above.
        let lengths = unsafe { array_mut(params.keyBlobLen, count) }?;
        // SAFETY: as above.
        let blobs = unsafe { array(params.keyBlob.cast_const(), count) }?;
        let size_query = blobs.iter().all(|blob| blob.is_null());
        if !size_query && blobs.iter().any(|blob| blob.is_null()) {
            return Err(Error::ArgumentsBad);
        }
        // The blob buffers are written too: apart from each other and from every array.
        let buffers: Vec<args::Region> = blobs
            .iter()
            .zip(lengths.iter())
            .map(|(&blob, &room)| args::region(blob.cast_const(), args::count(room)))
            .chain(written)
            .collect();
        args::disjoint(&buffers, &read)?;
        // Every argument is usable: from here on each result says what became of its object,
        // also when the call fails as a whole.
        results.fill(CKR_CLONE_NOT_ATTEMPTED);
        let items = types
            .iter()
            .zip(handles)
            .zip(lengths.iter())
            .map(|((&object_type, &handle), &capacity)| {
                Ok(ExtractItem {
                    object_type,
                    handle,
                    capacity: if size_query { 0 } else { args::len(capacity)? },
                })
            })
            .collect::<FfiResult<Vec<_>>>()?;
        let extracted = library.sim.cpv4_extract(
            hSession,
            uid,
            input,
            params.extractionFlags,
            &items,
            size_query,
        )?;
        for (i, result) in results.iter_mut().enumerate() {
            *result = extracted.results.get(i).copied().unwrap_or(*result);
        }
        // A length is written where the object's blob was sized (extracted, sized by a size
        // query, or too large for its buffer); the others keep the caller's value, so preset
        // buffers can be reused for a retry.
        for (i, length) in lengths.iter_mut().enumerate() {
            let sized = matches!(
                extracted.results.get(i),
                Some(&CKR_OK | &CKR_BUFFER_TOO_SMALL)
            );
            if let (true, Some(&size)) = (sized, extracted.lengths.get(i)) {
                *length = args::ulong(size)?;
            }
        }
        for (i, blob) in extracted.blobs.iter().enumerate() {
            if let (Some(blob), Some(&buffer), Some(&capacity)) =
                (blob, blobs.get(i), items.get(i).map(|item| &item.capacity))
            {
                if buffer.is_null() || blob.len() > capacity {
                    return Err(Error::Sim(luna_sim::SimError::Internal("blob buffer")));
                }
                // SAFETY: `buffer` is non-NULL and writable for `capacity` bytes (the
                // caller's `keyBlobLen[i]`), and the blob is no longer than that.
                unsafe { std::ptr::copy_nonoverlapping(blob.as_ptr(), buffer, blob.len()) };
            }
        }
        outcome(extracted.rv)
    })
}

/// `CA_Insert` with `CKM_CPV4_INSERT` and a `CK_CPV4_INSERT_PARAMS` (flow step 5): stores
/// each blob's object in one transaction; the handles go to `objectHandle[i]`, per-object
/// codes to `result[i]`.
///
/// # Safety
///
/// `pMechanism` and its parameter are readable; every array of the parameter holds
/// `numberOfObjects` elements (`result` and `objectHandle` writable), and each `keyBlob[i]` is
/// readable for `keyBlobLen[i]` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_Insert(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
) -> CK_RV {
    entry(|| {
        let library = library_with_session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let params: CK_CPV4_INSERT_PARAMS =
            unsafe { parameter(pMechanism.cast_const(), CKM_CPV4_INSERT) }?;
        let count = params.numberOfObjects;
        let n = args::count(count);
        let written = [
            args::region(params.result.cast_const(), n),
            args::region(params.objectHandle.cast_const(), n),
        ];
        let mut read = vec![
            args::region(params.input.cast_const(), args::count(params.inputLength)),
            args::region(
                params.sessionOuid.cast_const(),
                args::count(params.sessionOuidLen),
            ),
            args::region(params.objectType.cast_const(), n),
            args::region(params.storageType.cast_const(), n),
            args::region(params.keyBlobLen.cast_const(), n),
            args::region(params.keyBlob.cast_const(), n),
        ];
        args::disjoint(&written, &read)?;
        // SAFETY: forwarded from this function's contract (each pointer below is one of the
        // parameter's arrays or buffers).
        let uid = unsafe { session_uid(params.sessionOuid, params.sessionOuidLen) }?;
        // SAFETY: as above.
        let input = unsafe { args::slice(params.input.cast_const(), params.inputLength) }?;
        // SAFETY: as above.
        let types = unsafe { array(params.objectType.cast_const(), count) }?;
        // SAFETY: as above.
        let storage = unsafe { array(params.storageType.cast_const(), count) }?;
        // SAFETY: as above.
        let lengths = unsafe { array(params.keyBlobLen.cast_const(), count) }?;
        // SAFETY: as above.
        let blobs = unsafe { array(params.keyBlob.cast_const(), count) }?;
        // The blobs are read while the results and handles are written.
        read.extend(
            blobs
                .iter()
                .zip(lengths)
                .map(|(&blob, &length)| args::region(blob.cast_const(), args::count(length))),
        );
        args::disjoint(&written, &read)?;
        // SAFETY: as above.
        let results = unsafe { array_mut(params.result, count) }?;
        // SAFETY: as above.
        let handles = unsafe { array_mut(params.objectHandle, count) }?;
        let mut items = Vec::with_capacity(types.len());
        for (((&object_type, &storage_type), &length), &blob) in
            types.iter().zip(storage).zip(lengths).zip(blobs)
        {
            // SAFETY: forwarded from this function's contract: `keyBlob[i]` is readable for
            // `keyBlobLen[i]` bytes (NULL with a non-zero length is refused).
            let blob = unsafe { args::slice(blob.cast_const(), length) }?;
            items.push(InsertItem {
                storage_type,
                object_type,
                blob,
            });
        }
        // Every argument is usable: from here on each result says what became of its blob.
        results.fill(CKR_CLONE_NOT_ATTEMPTED);
        handles.fill(0);
        let inserted =
            library
                .sim
                .cpv4_insert(hSession, uid, input, params.insertionFlags, &items)?;
        for (i, result) in results.iter_mut().enumerate() {
            *result = inserted.results.get(i).copied().unwrap_or(*result);
        }
        for (i, handle) in handles.iter_mut().enumerate() {
            if let Some(&new) = inserted.handles.get(i) {
                *handle = new;
            }
        }
        outcome(inserted.rv)
    })
}

// The caller's array is the flow's array: same size, alignment and field offsets.
const _: () = {
    assert!(size_of::<MigrationItem>() == size_of::<CK_OBJECT_MIGRATION_DATA>());
    assert!(align_of::<MigrationItem>() == align_of::<CK_OBJECT_MIGRATION_DATA>());
    assert!(
        std::mem::offset_of!(MigrationItem, object_type)
            == std::mem::offset_of!(CK_OBJECT_MIGRATION_DATA, objectType)
    );
    assert!(
        std::mem::offset_of!(MigrationItem, source_handle)
            == std::mem::offset_of!(CK_OBJECT_MIGRATION_DATA, sourceHandle)
    );
    assert!(
        std::mem::offset_of!(MigrationItem, target_handle)
            == std::mem::offset_of!(CK_OBJECT_MIGRATION_DATA, targetHandle)
    );
    assert!(
        std::mem::offset_of!(MigrationItem, rv)
            == std::mem::offset_of!(CK_OBJECT_MIGRATION_DATA, rv)
    );
};

/// `CA_MigrateKeys` (protocol.md 2.4): clones `ulNumberOfObjects` objects from the source
/// session's partition to the target session's, client-side over the low-level calls (the
/// flow of `cpv4-migrate`), with the legacy clone as fallback where CPv4 is off on either
/// side. `numberOfObjects` 0 or a NULL array is `CKR_ARGUMENTS_BAD` (register A17).
///
/// # Safety
///
/// A non-NULL `pObjects` is readable and writable for `ulNumberOfObjects` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_MigrateKeys(
    hSourceSession: CK_SESSION_HANDLE,
    hTargetSession: CK_SESSION_HANDLE,
    ulFlags: CK_ULONG,
    ulNumberOfObjects: CK_ULONG,
    pObjects: CK_OBJECT_MIGRATION_DATA_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSourceSession)?;
        library.sim.session_info(hSourceSession)?;
        library.sim.session_info(hTargetSession)?;
        if ulNumberOfObjects == 0 || pObjects.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: `MigrationItem` has the layout of `CK_OBJECT_MIGRATION_DATA` (checked at
        // compile time above), and the caller guarantees `ulNumberOfObjects` readable and
        // writable elements at the non-NULL `pObjects`.
        let items =
            unsafe { args::slice_mut(pObjects.cast::<MigrationItem>(), ulNumberOfObjects) }?;
        outcome(
            library
                .sim
                .migrate_keys(hSourceSession, hTargetSession, ulFlags, items),
        )
    })
}

/// `CA_CloneObject(hTargetSession, hSourceSession, ulObjectType, hObject, phClonedObject)`:
/// the legacy one-object clone (protocol.md section 12).
///
/// # Safety
///
/// A non-NULL `phClonedObject` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_CloneObject(
    hTargetSession: CK_SESSION_HANDLE,
    hSourceSession: CK_SESSION_HANDLE,
    ulObjectType: CK_ULONG,
    hObject: CK_OBJECT_HANDLE,
    phClonedObject: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSourceSession)?;
        library.sim.session_info(hTargetSession)?;
        library.sim.session_info(hSourceSession)?;
        // SAFETY: forwarded from this function's contract.
        let cloned = unsafe { args::out(phClonedObject) }?;
        *cloned =
            library
                .sim
                .clone_object(hTargetSession, hSourceSession, ulObjectType, hObject)?;
        Ok(())
    })
}
