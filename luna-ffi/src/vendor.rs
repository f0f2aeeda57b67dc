//! Vendor calls that clients of the cloning API use around it: `CA_GetFirmwareVersion`,
//! `CA_GetTime`, `CA_GetHSMPolicySetting`, `CA_SetHSMPolicy`, `CA_GetTokenPolicies` and
//! `CA_SetTokenPolicies` (signatures of the vendor's wrapper, FACTS.md), so a test written for
//! a real Luna HSM stages cloning on or off, the legacy protocol and domain management from its
//! own code.

use cpv4_wire::consts::{HSM_POLICY_ALLOW_CLONING, HSM_POLICY_SYNC_HOST_TIME};

use crate::args;
use crate::guard::{Error, entry};
use crate::state;
use crate::types::*;

/// `"7.8.4"` as (7, 8, 4); missing or unparsable parts are 0.
fn firmware_parts(firmware: &str) -> [CK_ULONG; 3] {
    let mut parts = firmware
        .split('.')
        .map(|p| p.parse::<CK_ULONG>().unwrap_or(0));
    [(); 3].map(|()| parts.next().unwrap_or(0))
}

/// `CA_GetFirmwareVersion`: the firmware of the HSM that holds the slot's partition.
///
/// # Safety
///
/// The three pointers are writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_GetFirmwareVersion(
    slotID: CK_SLOT_ID,
    pulMajor: CK_ULONG_PTR,
    pulMinor: CK_ULONG_PTR,
    pulSubminor: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::current()?;
        let partition = library.sim.partition_info(slotID)?;
        args::disjoint(
            &[
                args::region(pulMajor.cast_const(), 1),
                args::region(pulMinor.cast_const(), 1),
                args::region(pulSubminor.cast_const(), 1),
            ],
            &[],
        )?;
        // SAFETY: forwarded from this function's contract.
        let (major, minor, subminor) = unsafe {
            (
                args::out(pulMajor)?,
                args::out(pulMinor)?,
                args::out(pulSubminor)?,
            )
        };
        let device = library.sim.device_info(&partition.device_serial)?;
        let [a, b, c] = firmware_parts(&device.firmware);
        (*major, *minor, *subminor) = (a, b, c);
        Ok(())
    })
}

/// `CA_GetTime`: the HSM time of the session's partition, seconds since the Unix epoch
/// (`CKR_TIME_NOT_INITIALIZED` for a clock never set).
///
/// # Safety
///
/// `pulTime` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_GetTime(hSession: CK_SESSION_HANDLE, pulTime: CK_ULONG_PTR) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        let slot = library.sim.session_info(hSession)?.slot;
        // SAFETY: forwarded from this function's contract.
        let time = unsafe { args::out(pulTime) }?;
        *time = CK_ULONG::try_from(library.sim.slot_time(slot)?)?;
        Ok(())
    })
}

/// `CA_GetHSMPolicySetting`: the value (0 or 1) of HSM policy 7 (cloning) or 57 (sync with
/// host time) of the HSM that holds the slot's partition; another id is `CKR_ARGUMENTS_BAD`.
///
/// # Safety
///
/// `pulValue` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_GetHSMPolicySetting(
    slotID: CK_SLOT_ID,
    ulPolicyId: CK_ULONG,
    pulValue: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::current()?;
        let partition = library.sim.partition_info(slotID)?;
        // SAFETY: forwarded from this function's contract.
        let value = unsafe { args::out(pulValue) }?;
        let device = library.sim.device_info(&partition.device_serial)?;
        let on = match ulPolicyId {
            HSM_POLICY_ALLOW_CLONING => device.cloning_allowed,
            HSM_POLICY_SYNC_HOST_TIME => device.sync_with_host_time,
            _ => return Err(Error::ArgumentsBad),
        };
        *value = CK_ULONG::from(on);
        Ok(())
    })
}

/// `CA_GetTokenPolicies`: the partition policies of a slot (ids and values, 0 or 1), in the
/// two-call convention of the vendor's wrapper: NULL arrays ask for the counts, written to
/// `*pulIdsLen` and `*pulValuesLen`; arrays shorter than that give `CKR_BUFFER_TOO_SMALL`
/// with the counts written.
///
/// # Safety
///
/// `pulIdsLen` and `pulValuesLen` are readable and writable; non-NULL arrays are writable for
/// the counts they say.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_GetTokenPolicies(
    slotID: CK_SLOT_ID,
    pulIds: CK_ULONG_PTR,
    pulIdsLen: CK_ULONG_PTR,
    pulValues: CK_ULONG_PTR,
    pulValuesLen: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::current()?;
        let policies = library.sim.partition_info(slotID)?.policies;
        // SAFETY: forwarded from this function's contract.
        let (ids_room, values_room) =
            unsafe { (args::peek_len(pulIdsLen)?, args::peek_len(pulValuesLen)?) };
        args::disjoint(
            &[
                args::region(pulIds.cast_const(), ids_room),
                args::region(pulIdsLen.cast_const(), 1),
                args::region(pulValues.cast_const(), values_room),
                args::region(pulValuesLen.cast_const(), 1),
            ],
            &[],
        )?;
        // SAFETY: forwarded from this function's contract.
        let mut ids = unsafe { args::OutBuf::new(pulIds, pulIdsLen) }?;
        // SAFETY: forwarded from this function's contract.
        let mut values = unsafe { args::OutBuf::new(pulValues, pulValuesLen) }?;
        // Both sizes are answered before anything is written: a call that fails for one
        // array writes neither.
        let first = ids.answer_length(policies.len());
        let second = values.answer_length(policies.len());
        if first? | second? {
            return Ok(());
        }
        let id_list: Vec<CK_ULONG> = policies.iter().map(|(id, _)| *id).collect();
        let value_list: Vec<CK_ULONG> =
            policies.iter().map(|(_, on)| CK_ULONG::from(*on)).collect();
        ids.write(&id_list)?;
        values.write(&value_list)
    })
}

/// `CA_SetHSMPolicy`: sets HSM policy 7 (cloning) or 57 (sync with host time), value 0 or 1,
/// of the HSM that holds the session's partition, as its SO (register A50).
///
/// # Safety
///
/// No pointer arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_SetHSMPolicy(
    hSession: CK_SESSION_HANDLE,
    ulPolicyId: CK_ULONG,
    ulValue: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        Ok(library
            .sim
            .set_hsm_policy_in_session(hSession, ulPolicyId, ulValue)?)
    })
}

/// `CA_SetTokenPolicies`: sets `ulCount` partition policies of `slotID` (ids 0, 4, 42, 44;
/// values 0 or 1), all or none, as the Partition SO of that slot.
///
/// # Safety
///
/// Non-NULL `pulIds` and `pulValues` are readable for `ulCount` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_SetTokenPolicies(
    hSession: CK_SESSION_HANDLE,
    slotID: CK_SLOT_ID,
    ulCount: CK_ULONG,
    pulIds: CK_ULONG_PTR,
    pulValues: CK_ULONG_PTR,
) -> CK_RV {
    entry(|| {
        let library = state::session(hSession)?;
        library.sim.session_info(hSession)?;
        if ulCount != 0 && (pulIds.is_null() || pulValues.is_null()) {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: forwarded from this function's contract.
        let ids = unsafe { args::slice(pulIds.cast_const(), ulCount) }?;
        // SAFETY: forwarded from this function's contract.
        let values = unsafe { args::slice(pulValues.cast_const(), ulCount) }?;
        let policies: Vec<(CK_ULONG, CK_ULONG)> =
            ids.iter().copied().zip(values.iter().copied()).collect();
        Ok(library
            .sim
            .set_partition_policies_in_session(hSession, slotID, &policies)?)
    })
}
