//! Objects: `C_CreateObject`, `C_CopyObject`, `C_DestroyObject`, `C_GetAttributeValue`,
//! `C_SetAttributeValue`, `C_FindObjectsInit`, `C_FindObjects`, `C_FindObjectsFinal`.

use cpv4_wire::consts::{
    AttributeForm, CK_UNAVAILABLE_INFORMATION, CKR_BUFFER_TOO_SMALL, CKR_OK, attribute_form,
};
use luna_sim::{AttributeValue, attribute_values_rv};

use crate::args;
use crate::guard::{Error, FfiResult, entry};
use crate::state;
use crate::template;
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
/// `CKR_BUFFER_TOO_SMALL` if any buffer was short, else `CKR_OK`.
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
        // SAFETY: forwarded from this function's contract.
        let entries = unsafe { args::slice_mut(pTemplate, ulCount) }?;
        let kinds: Vec<CK_ATTRIBUTE_TYPE> = entries.iter().map(|e| e.type_).collect();
        let values = library.sim.get_attribute_value(hSession, hObject, &kinds)?;
        // SAFETY: forwarded from this function's contract.
        unsafe {
            check_disjoint(
                args::region(pTemplate.cast_const(), entries.len()),
                entries,
                &values,
            )
        }?;
        let mut rv = attribute_values_rv(&values);
        let mut too_small = false;
        for (entry, value) in entries.iter_mut().zip(&values) {
            let AttributeValue::Value(value) = value else {
                entry.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                continue;
            };
            if attribute_form(entry.type_) == AttributeForm::AttributeArray {
                // SAFETY: forwarded from this function's contract, one level down.
                too_small |= !unsafe { template::write_array(entry, value) }?;
                continue;
            }
            let native = template::to_native(entry.type_, value)?;
            let needed = args::ulong(native.len())?;
            if entry.pValue.is_null() {
                entry.ulValueLen = needed;
            } else if entry.ulValueLen >= needed {
                // SAFETY: the caller guarantees `pValue` is writable for `ulValueLen` bytes,
                // and `native.len() <= ulValueLen`.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        native.as_ptr(),
                        entry.pValue.cast::<u8>(),
                        native.len(),
                    );
                }
                entry.ulValueLen = needed;
            } else {
                entry.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                too_small = true;
            }
        }
        if rv == CKR_OK && too_small {
            rv = CKR_BUFFER_TOO_SMALL;
        }
        if rv == CKR_OK {
            Ok(())
        } else {
            Err(Error::Partial(rv))
        }
    })
}

/// The buffers `C_GetAttributeValue` writes (the template, each value, each nested template
/// that will be filled and its values) must not overlap: the call holds references to all of
/// them at once. `CKR_ARGUMENTS_BAD` otherwise, before anything is written.
///
/// # Safety
///
/// As [`C_GetAttributeValue`]: a non-NULL `pValue` is readable for `ulValueLen` bytes.
unsafe fn check_disjoint(
    template: args::Region,
    entries: &[CK_ATTRIBUTE],
    values: &[AttributeValue],
) -> FfiResult<()> {
    let value_region = |entry: &CK_ATTRIBUTE| {
        args::region(
            entry.pValue.cast_const().cast::<u8>(),
            usize::try_from(entry.ulValueLen).unwrap_or(usize::MAX),
        )
    };
    let mut written = vec![template];
    written.extend(entries.iter().map(value_region));
    args::disjoint(&written, &[])?;
    for (entry, value) in entries.iter().zip(values) {
        let AttributeValue::Value(value) = value else {
            continue;
        };
        if attribute_form(entry.type_) != AttributeForm::AttributeArray || entry.pValue.is_null() {
            continue;
        }
        let Ok(list) = cpv4_wire::AttributeList::decode_borrowed(value) else {
            continue;
        };
        let count = list.attributes().len();
        let fits = count.saturating_mul(size_of::<CK_ATTRIBUTE>())
            <= usize::try_from(entry.ulValueLen).unwrap_or(usize::MAX);
        if !fits {
            // Too short: nothing of it is written.
            continue;
        }
        // SAFETY: the caller guarantees `pValue` readable for `ulValueLen` bytes, which hold
        // `count` entries; the region is disjoint from the template (checked above).
        let nested = unsafe {
            args::slice(
                entry.pValue.cast_const().cast::<CK_ATTRIBUTE>(),
                args::ulong(count)?,
            )
        }?;
        written.extend(nested.iter().map(value_region));
    }
    args::disjoint(&written, &[])
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
