//! Objects: `C_CreateObject`, `C_CopyObject`, `C_DestroyObject`, `C_GetAttributeValue`,
//! `C_SetAttributeValue`, `C_FindObjectsInit`, `C_FindObjects`, `C_FindObjectsFinal`.

use cpv4_wire::consts::{CKR_BUFFER_TOO_SMALL, CKR_OK};
use luna_sim::{AttributeValue, attribute_values_rv};

use crate::args;
use crate::guard::{Error, FfiResult, entry};
use crate::state;
use crate::template::{self, Fill};
use crate::types::*;

/// `C_CreateObject`.
///
/// # Safety
///
/// `pTemplate` is NULL or a readable template of `ulCount` attributes, each non-NULL
/// `pValue` readable for `ulValueLen` bytes; `phObject` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_CreateObject(
    hSession: CK_SESSION_HANDLE,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulCount: CK_ULONG,
    phObject: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let template = unsafe { template::read(pTemplate, ulCount) }?;
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { args::out(phObject) }?;
        *out = library.sim.create_object(hSession, &template)?;
        Ok(())
    })
}

/// `C_CopyObject`.
///
/// # Safety
///
/// As [`C_CreateObject`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_CopyObject(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulCount: CK_ULONG,
    phNewObject: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let template = unsafe { template::read(pTemplate, ulCount) }?;
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { args::out(phNewObject) }?;
        *out = library.sim.copy_object(hSession, hObject, &template)?;
        Ok(())
    })
}

/// `C_DestroyObject`.
///
/// # Safety
///
/// No pointer arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DestroyObject(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| {
        Ok(state::session(hSession)?
            .sim
            .destroy_object(hSession, hObject)?)
    })
}

/// `C_GetObjectSize`: the simulator's measure of the object (its attribute values plus 16 bytes
/// per attribute for type and length).
///
/// # Safety
///
/// `pulSize` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetObjectSize(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pulSize: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { args::out(pulSize) }?;
        *out = CK_ULONG::try_from(library.sim.object_size(hSession, hObject)?)?;
        Ok(())
    })
}

/// `C_GetAttributeValue` under the standard's rules: every attribute gets its own outcome.
/// A sensitive value or an attribute the object lacks gets `CK_UNAVAILABLE_INFORMATION`; a
/// NULL `pValue` gets the length; a large enough buffer the value; a short one
/// `CK_UNAVAILABLE_INFORMATION`. The call returns `CKR_ATTRIBUTE_SENSITIVE` if any value is
/// sensitive, else `CKR_ATTRIBUTE_TYPE_INVALID` if any attribute is missing, else
/// `CKR_BUFFER_TOO_SMALL` if any buffer was short, else `CKR_OK`. A wrap, unwrap or derive
/// template is read back into the caller's nested `CK_ATTRIBUTE` array by the same rules, one
/// level down. The buffers written (the template, each value copied, each nested array filled
/// and its values) must not overlap: `CKR_ARGUMENTS_BAD` before anything is written.
///
/// # Safety
///
/// `pTemplate` is NULL or readable and writable for `ulCount` attributes, each non-NULL
/// `pValue` writable for `ulValueLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetAttributeValue(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulCount: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // Read first, written once every region is known: only shared references to the
        // caller's memory exist until the regions are checked.
        // SAFETY: forwarded from this function's contract.
        let entries = unsafe { args::slice(pTemplate.cast_const(), ulCount) }?;
        let kinds: Vec<CK_ATTRIBUTE_TYPE> = entries.iter().map(|e| e.type_).collect();
        let values = library.sim.get_attribute_value(hSession, hObject, &kinds)?;
        let fills = entries
            .iter()
            .zip(&values)
            .map(|(entry, value)| {
                let value = match value {
                    AttributeValue::Value(value) => Some(value.as_slice()),
                    _ => None,
                };
                // SAFETY: forwarded from this function's contract.
                unsafe { Fill::of(entry, value) }
            })
            .collect::<FfiResult<Vec<_>>>()?;
        // The template, each value written and each nested template filled (with its values)
        // must not overlap: they are written through references held at once.
        let mut written = vec![args::region(pTemplate.cast_const(), entries.len())];
        for (entry, fill) in entries.iter().zip(&fills) {
            fill.regions(entry, &mut written);
        }
        args::disjoint(&written, &[])?;
        let mut rv = attribute_values_rv(&values);
        if rv == CKR_OK && !fills.iter().all(Fill::fits) {
            rv = CKR_BUFFER_TOO_SMALL;
        }
        // SAFETY: forwarded from this function's contract; the shared view above is not used
        // again.
        let entries = unsafe { args::slice_mut(pTemplate, ulCount) }?;
        for (entry, fill) in entries.iter_mut().zip(fills) {
            // SAFETY: the regions are the caller's writable buffers, checked disjoint above.
            unsafe { fill.write(entry) }?;
        }
        if rv == CKR_OK {
            Ok(())
        } else {
            Err(Error::Partial(rv))
        }
    })
}

/// `C_SetAttributeValue`.
///
/// # Safety
///
/// As [`C_CreateObject`] for the template.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SetAttributeValue(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulCount: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let template = unsafe { template::read(pTemplate, ulCount) }?;
        Ok(library
            .sim
            .set_attribute_value(hSession, hObject, &template)?)
    })
}

/// `C_FindObjectsInit`.
///
/// # Safety
///
/// As [`C_CreateObject`] for the template.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_FindObjectsInit(
    hSession: CK_SESSION_HANDLE,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulCount: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let template = unsafe { template::read(pTemplate, ulCount) }?;
        Ok(library.sim.find_objects_init(hSession, &template)?)
    })
}

/// `C_FindObjects`: up to `ulMaxObjectCount` more handles.
///
/// # Safety
///
/// `phObject` is NULL or writable for `ulMaxObjectCount` handles; `pulObjectCount` is NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_FindObjects(
    hSession: CK_SESSION_HANDLE,
    phObject: CK_OBJECT_HANDLE_PTR,
    ulMaxObjectCount: CK_ULONG,
    pulObjectCount: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        // SAFETY: forwarded from this function's contract.
        let handles = unsafe { args::slice_mut(phObject, ulMaxObjectCount) }?;
        // SAFETY: forwarded from this function's contract.
        let count = unsafe { args::out(pulObjectCount) }?;
        let found = library.sim.find_objects(hSession, handles.len())?;
        for (slot, handle) in handles.iter_mut().zip(&found) {
            *slot = *handle;
        }
        *count = args::ulong(found.len().min(handles.len()))?;
        Ok(())
    })
}

/// `C_FindObjectsFinal`.
///
/// # Safety
///
/// No pointer arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_FindObjectsFinal(hSession: CK_SESSION_HANDLE) -> CK_RV {
    entry(|| Ok(state::session(hSession)?.sim.find_objects_final(hSession)?))
}
