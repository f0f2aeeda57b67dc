//! Cloning-domain management: `CA_AddKCV`, `CA_ChangeKCVLabel`, `CA_DeleteKCV` (the Partition
//! SO) and `CA_GetKCVLabels` (any logged-in role), as the API text defines them. A KCV of
//! NULL and 0 is read from the attached PED key.

use crate::args;
use crate::guard::{Error, entry};
use crate::state;
use crate::types::*;

/// The room every `pLabels[i]` buffer must have (the API text: "at least 32 bytes").
const LABEL_ROOM: usize = 32;

/// An optional byte string: `(NULL, 0)` is absent; NULL with a length, or a length without
/// bytes, is `CKR_ARGUMENTS_BAD`.
///
/// # Safety
///
/// A non-NULL `ptr` is readable for `len` bytes.
unsafe fn optional<'a>(ptr: CK_BYTE_PTR, len: CK_ULONG) -> Result<Option<&'a [u8]>, Error> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(None)
        } else {
            Err(Error::ArgumentsBad)
        };
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { args::slice(ptr.cast_const(), len) }.map(Some)
}

/// `CA_AddKCV`: the Partition SO adds a cloning domain (a KCV of NULL and 0 comes from the
/// PED), primary if `bMakePrimary`.
///
/// # Safety
///
/// Non-NULL pointers are readable for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_AddKCV(
    hSession: CK_SESSION_HANDLE,
    ulKCVLength: CK_ULONG,
    pKCV: CK_BYTE_PTR,
    ulLabelLength: CK_ULONG,
    pLabel: CK_BYTE_PTR,
    bMakePrimary: CK_BBOOL,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        library.sim.session_info(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let kcv = unsafe { optional(pKCV, ulKCVLength) }?;
        // SAFETY: forwarded from this function's contract.
        let label = unsafe { optional(pLabel, ulLabelLength) }?.ok_or(Error::ArgumentsBad)?;
        Ok(library
            .sim
            .add_kcv(hSession, kcv, label, bMakePrimary != 0)?)
    })
}

/// `CA_ChangeKCVLabel`: the Partition SO relabels a domain (`pOldLabel` NULL: the unlabelled
/// one).
///
/// # Safety
///
/// Non-NULL pointers are readable for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_ChangeKCVLabel(
    hSession: CK_SESSION_HANDLE,
    ulOldLabelLength: CK_ULONG,
    pOldLabel: CK_BYTE_PTR,
    ulNewLabelLength: CK_ULONG,
    pNewLabel: CK_BYTE_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        library.sim.session_info(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let old = unsafe { optional(pOldLabel, ulOldLabelLength) }?;
        // SAFETY: forwarded from this function's contract.
        let new = unsafe { optional(pNewLabel, ulNewLabelLength) }?.ok_or(Error::ArgumentsBad)?;
        Ok(library.sim.change_kcv_label(hSession, old, new)?)
    })
}

/// `CA_DeleteKCV`: the Partition SO deletes a domain (`pLabel` NULL: the unlabelled one).
///
/// # Safety
///
/// A non-NULL `pLabel` is readable for `ulLabelLength` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_DeleteKCV(
    hSession: CK_SESSION_HANDLE,
    ulLabelLength: CK_ULONG,
    pLabel: CK_BYTE_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        library.sim.session_info(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let label = unsafe { optional(pLabel, ulLabelLength) }?;
        Ok(library.sim.delete_kcv(hSession, label)?)
    })
}

/// `CA_GetKCVLabels`: the partition's domain labels, primary first (registers A6, A7).
///
/// `*pulNumberOfLabels` 0 asks for the count. Otherwise it is the size of the two arrays:
/// too small gives `CKR_BUFFER_TOO_SMALL` with the count written; else `pulLabelLengths[i]`
/// receives each label's length (0 for the unlabelled domain) and `pLabels[i]`, a buffer of
/// at least 32 bytes, the label. `pulFlags` may be NULL; if not it must hold 0 and is not
/// written.
///
/// # Safety
///
/// `pulNumberOfLabels` is readable and writable; with a non-zero count, `pulLabelLengths` is
/// writable for that many `CK_ULONG`s and `pLabels` readable for that many pointers, each
/// writable for 32 bytes; a non-NULL `pulFlags` is readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_GetKCVLabels(
    slotID: CK_SLOT_ID,
    pulNumberOfLabels: CK_ULONG_PTR,
    pulFlags: CK_ULONG_PTR,
    pulLabelLengths: CK_ULONG_PTR,
    pLabels: CK_BYTE_PTR_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::current()?;
        // SAFETY: forwarded from this function's contract.
        let room = unsafe { args::peek_len(pulNumberOfLabels) }?;
        args::disjoint(
            &[
                args::region(pulNumberOfLabels.cast_const(), 1),
                args::region(pulLabelLengths.cast_const(), room),
            ],
            &[
                args::region(pulFlags.cast_const(), 1),
                args::region(pLabels.cast_const(), room),
            ],
        )?;
        // SAFETY: forwarded from this function's contract.
        let count = unsafe { args::out(pulNumberOfLabels) }?;
        // SAFETY: forwarded from this function's contract.
        if !pulFlags.is_null() && *unsafe { args::input(pulFlags.cast_const()) }? != 0 {
            return Err(Error::ArgumentsBad);
        }
        let labels = library.sim.get_kcv_labels(slotID)?;
        let room = args::len(*count)?;
        if room == 0 {
            *count = args::ulong(labels.len())?;
            return Ok(());
        }
        if room < labels.len() {
            *count = args::ulong(labels.len())?;
            return Err(Error::BufferTooSmall);
        }
        if pulLabelLengths.is_null() || pLabels.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: forwarded from this function's contract: the arrays hold `room` elements.
        let lengths = unsafe { args::slice_mut(pulLabelLengths, *count) }?;
        // SAFETY: as above.
        let buffers = unsafe { args::slice(pLabels.cast_const(), *count) }?;
        if buffers.iter().take(labels.len()).any(|b| b.is_null()) {
            return Err(Error::ArgumentsBad);
        }
        // The label buffers are written: apart from each other and from the arrays.
        let written: Vec<args::Region> = buffers
            .iter()
            .take(labels.len())
            .map(|&buffer| args::region(buffer.cast_const(), LABEL_ROOM))
            .chain([
                args::region(pulNumberOfLabels.cast_const(), 1),
                args::region(pulLabelLengths.cast_const(), room),
            ])
            .collect();
        args::disjoint(
            &written,
            &[
                args::region(pulFlags.cast_const(), 1),
                args::region(pLabels.cast_const(), room),
            ],
        )?;
        for ((domain, length), &buffer) in labels.iter().zip(lengths).zip(buffers) {
            let label = domain.label.as_deref().unwrap_or_default();
            if label.len() > LABEL_ROOM {
                return Err(Error::Sim(luna_sim::SimError::Internal("label too long")));
            }
            // SAFETY: `buffer` is non-NULL and writable for 32 bytes (this function's
            // contract), and the label is at most 32 bytes.
            unsafe { std::ptr::copy_nonoverlapping(label.as_ptr(), buffer, label.len()) };
            *length = args::ulong(label.len())?;
        }
        *count = args::ulong(labels.len())?;
        Ok(())
    })
}
