//! The `CA_*` extensions through the exported functions of the rlib: the buffer rules of
//! Start and Continue (size queries and short buffers change nothing, register A28), the
//! vendor wrapper's conventions (A22, A49), `CA_GetKCVLabels` (A6, A7), the argument matrix of
//! every CA_ function, the legacy fallback and `CKR_PROTOCOL_DISABLED` through
//! `CA_MigrateKeys`, and the policy calls (A50).
//!
//! Each scenario runs in its own child process and home (the library state is per process);
//! a second `luna_sim::Simulator` on the same home reads what the device holds.
#![allow(unsafe_code)]
// Test helpers, like tests, fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod common;

use std::ptr::null_mut;

use cpv4_wire::consts::*;
use luna_ffi::types::*;
use luna_ffi::*;

const SOURCE: CK_SLOT_ID = 0;
const TARGET: CK_SLOT_ID = 1;
const SOURCE_HSM: &str = "150001";
const TARGET_HSM: &str = "150002";

/// The simulator of the scenario's home, beside the library's own.
fn device() -> luna_sim::Simulator {
    luna_sim::Simulator::open(std::path::Path::new(
        &std::env::var_os("LUNA_SIM_HOME").unwrap(),
    ))
    .unwrap()
}

fn initialize() {
    assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
}

fn open(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let mut session = 0;
    let rv = call!(C_OpenSession(
        slot,
        CKF_SERIAL_SESSION | CKF_RW_SESSION,
        null_mut(),
        None,
        &mut session
    ));
    assert_eq!(rv, CKR_OK);
    session
}

fn login(session: CK_SESSION_HANDLE, user: CK_USER_TYPE) {
    let pin = match user {
        CKU_SO => common::SO_PIN,
        CKU_USER => common::CO_PIN,
        _ => common::CU_PIN,
    };
    let rv = call!(C_Login(
        session,
        user,
        pin.as_ptr().cast_mut(),
        pin.len() as CK_ULONG
    ));
    assert_eq!(rv, CKR_OK);
}

fn officer(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let session = open(slot);
    login(session, CKU_USER);
    session
}

/// An AES token key on `session`'s partition.
fn aes_key(session: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
    let mut len: CK_ULONG = 32;
    let mut yes: CK_BBOOL = 1;
    let mut template = [
        CK_ATTRIBUTE {
            type_: CKA_VALUE_LEN,
            pValue: std::ptr::from_mut(&mut len).cast(),
            ulValueLen: 8,
        },
        CK_ATTRIBUTE {
            type_: CKA_TOKEN,
            pValue: std::ptr::from_mut(&mut yes).cast(),
            ulValueLen: 1,
        },
    ];
    let mut mechanism = CK_MECHANISM {
        mechanism: CKM_AES_KEY_GEN,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let mut key = 0;
    let rv = call!(C_GenerateKey(
        session,
        &mut mechanism,
        template.as_mut_ptr(),
        2,
        &mut key
    ));
    assert_eq!(rv, CKR_OK);
    key
}

fn ouid(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) -> Vec<u8> {
    let mut buffer = [0u8; 64];
    let mut attribute = CK_ATTRIBUTE {
        type_: CKA_OUID,
        pValue: buffer.as_mut_ptr().cast(),
        ulValueLen: 64,
    };
    assert_eq!(
        call!(C_GetAttributeValue(session, object, &mut attribute, 1)),
        CKR_OK
    );
    assert_eq!(
        attribute.ulValueLen as usize,
        luna_sim::OUID_LEN,
        "every object has its CKA_OUID"
    );
    buffer[..attribute.ulValueLen as usize].to_vec()
}

/// Start on `session` with a 64,000-byte buffer: the Offer.
fn start(session: CK_SESSION_HANDLE) -> Vec<u8> {
    let mut step = 0;
    let mut out = vec![0u8; 64_000];
    let mut len = out.len() as CK_ULONG;
    let rv = call!(CA_MigrationStartSessionNegotiation(
        session,
        0,
        null_mut(),
        &mut step,
        &mut len,
        out.as_mut_ptr()
    ));
    assert_eq!((rv, step), (CKR_OK, 2));
    out.truncate(len as usize);
    out
}

/// Continue on `session`: `(rv, step, output, status, uid)`; the UID outputs are used when
/// `uid_out` is set.
fn continue_(
    session: CK_SESSION_HANDLE,
    step: CK_ULONG,
    input: &[u8],
    uid_in: Option<&[u8; 16]>,
    uid_out: bool,
) -> (CK_RV, CK_ULONG, Vec<u8>, CK_ULONG, [u8; 16]) {
    let mut out_step = 0;
    let mut out = vec![0u8; 64_000];
    let mut len = out.len() as CK_ULONG;
    let mut status = 0;
    let mut uid = [0u8; 16];
    let mut uid_len: CK_ULONG = 16;
    let (uid_in_len, uid_in_ptr) = uid_in.map_or((0, null_mut()), |u| (16, u.as_ptr().cast_mut()));
    let (uid_len_ptr, uid_ptr) = if uid_out {
        (std::ptr::from_mut(&mut uid_len), uid.as_mut_ptr())
    } else {
        (null_mut(), null_mut())
    };
    let rv = call!(CA_MigrationContinueSessionNegotiation(
        session,
        step,
        input.len() as CK_ULONG,
        input.as_ptr().cast_mut(),
        uid_in_len,
        uid_in_ptr,
        &mut out_step,
        &mut len,
        out.as_mut_ptr(),
        &mut status,
        uid_len_ptr,
        uid_ptr
    ));
    out.truncate(len as usize);
    (rv, out_step, out, status, uid)
}

/// A confirmed negotiation: `(uid, confirm)`; the target is the initiator.
fn negotiate(source: CK_SESSION_HANDLE, target: CK_SESSION_HANDLE) -> ([u8; 16], Vec<u8>) {
    let offer = start(target);
    let (rv, step, accept, status, uid) = continue_(source, 2, &offer, None, true);
    assert_eq!((rv, step, status), (CKR_OK, 3, CPV4_STATUS_MORE));
    let (rv, step, confirm, status, _) = continue_(target, 3, &accept, Some(&uid), false);
    assert_eq!((rv, step, status), (CKR_OK, 4, CPV4_STATUS_DONE));
    (uid, confirm)
}

/// Live negotiations, sessions and tombstones of a device.
fn counts(hsm: &str) -> (u64, u64, u64) {
    device().cpv4_counts(hsm).unwrap()
}

/// One extract: `(rv, result, length, blob)`; `size_query` leaves the blob pointer NULL.
fn extract(
    session: CK_SESSION_HANDLE,
    uid: &[u8; 16],
    input: &[u8],
    handle: CK_OBJECT_HANDLE,
    size_query: bool,
) -> (CK_RV, CK_RV, CK_ULONG, Vec<u8>) {
    let mut object_type = CK_CRYPTOKI_ELEMENT;
    let mut handle = handle;
    let mut result = 0;
    let mut blob = vec![0u8; 64_000];
    let mut blob_len = blob.len() as CK_ULONG;
    let mut blob_ptr = if size_query {
        null_mut()
    } else {
        blob.as_mut_ptr()
    };
    let mut params = CK_CPV4_EXTRACT_PARAMS {
        inputLength: input.len() as CK_ULONG,
        input: if input.is_empty() {
            null_mut()
        } else {
            input.as_ptr().cast_mut()
        },
        sessionOuidLen: 16,
        sessionOuid: uid.as_ptr().cast_mut(),
        extractionFlags: 0,
        numberOfObjects: 1,
        objectType: &mut object_type,
        objectHandle: &mut handle,
        result: &mut result,
        keyBlobLen: &mut blob_len,
        keyBlob: &mut blob_ptr,
    };
    let mut mechanism = CK_MECHANISM {
        mechanism: CKM_CPV4_EXTRACT,
        pParameter: std::ptr::from_mut(&mut params).cast(),
        ulParameterLen: size_of::<CK_CPV4_EXTRACT_PARAMS>() as CK_ULONG,
    };
    let rv = call!(CA_Extract(session, &mut mechanism));
    blob.truncate(if size_query { 0 } else { blob_len as usize });
    (rv, result, blob_len, blob)
}

/// One insert: `(rv, result, handle)`.
fn insert(session: CK_SESSION_HANDLE, uid: &[u8; 16], blob: &[u8]) -> (CK_RV, CK_RV, CK_ULONG) {
    let mut object_type = CK_CRYPTOKI_ELEMENT;
    let mut storage = LUNA_STORAGE_FLASH;
    let mut blob_len = blob.len() as CK_ULONG;
    let mut blob_ptr = blob.as_ptr().cast_mut();
    let mut result = 0;
    let mut handle = 0;
    let mut params = CK_CPV4_INSERT_PARAMS {
        inputLength: 0,
        input: null_mut(),
        sessionOuidLen: 16,
        sessionOuid: uid.as_ptr().cast_mut(),
        insertionFlags: 0,
        numberOfObjects: 1,
        objectType: &mut object_type,
        storageType: &mut storage,
        keyBlobLen: &mut blob_len,
        keyBlob: &mut blob_ptr,
        result: &mut result,
        objectHandle: &mut handle,
    };
    let mut mechanism = CK_MECHANISM {
        mechanism: CKM_CPV4_INSERT,
        pParameter: std::ptr::from_mut(&mut params).cast(),
        ulParameterLen: size_of::<CK_CPV4_INSERT_PARAMS>() as CK_ULONG,
    };
    let rv = call!(CA_Insert(session, &mut mechanism));
    (rv, result, handle)
}

scenario!(
    start_and_continue_size_queries_and_short_buffers_change_nothing,
    scenario_start_and_continue_size_queries_and_short_buffers_change_nothing,
    {
        initialize();
        let source = officer(SOURCE);
        let target = officer(TARGET);
        let key = aes_key(source);

        // Start: a size query, then a short buffer; neither makes a negotiation.
        let (mut step, mut len) = (0, 0);
        let rv = call!(CA_MigrationStartSessionNegotiation(
            target,
            0,
            null_mut(),
            &mut step,
            &mut len,
            null_mut()
        ));
        assert_eq!((rv, step), (CKR_OK, 2));
        let offer_len = len;
        assert!(offer_len > 0);
        let mut tiny = [0u8; 8];
        len = 8;
        let rv = call!(CA_MigrationStartSessionNegotiation(
            target,
            0,
            null_mut(),
            &mut step,
            &mut len,
            tiny.as_mut_ptr()
        ));
        assert_eq!((rv, len), (CKR_BUFFER_TOO_SMALL, offer_len));
        assert_eq!(counts(TARGET_HSM), (0, 0, 0));
        // Exactly the queried size is enough.
        let mut offer = vec![0u8; offer_len as usize];
        len = offer_len;
        let rv = call!(CA_MigrationStartSessionNegotiation(
            target,
            0,
            null_mut(),
            &mut step,
            &mut len,
            offer.as_mut_ptr()
        ));
        assert_eq!((rv, len), (CKR_OK, offer_len));
        assert_eq!(counts(TARGET_HSM), (1, 0, 0));

        // Continue at step 2: every output queried together.
        let (mut out_step, mut status, mut out_len, mut uid_len) = (0, 0, 0, 0);
        let rv = call!(CA_MigrationContinueSessionNegotiation(
            source,
            2,
            offer_len,
            offer.as_mut_ptr(),
            0,
            null_mut(),
            &mut out_step,
            &mut out_len,
            null_mut(),
            &mut status,
            &mut uid_len,
            null_mut()
        ));
        assert_eq!((rv, uid_len), (CKR_OK, 16));
        let accept_len = out_len;
        assert!(accept_len > 0);
        // Mixed NULL and non-NULL outputs are refused, both ways.
        let mut uid = [0u8; 16];
        let mut accept = vec![0u8; accept_len as usize];
        let rv = call!(CA_MigrationContinueSessionNegotiation(
            source,
            2,
            offer_len,
            offer.as_mut_ptr(),
            0,
            null_mut(),
            &mut out_step,
            &mut out_len,
            null_mut(),
            &mut status,
            &mut uid_len,
            uid.as_mut_ptr()
        ));
        assert_eq!(rv, CKR_ARGUMENTS_BAD);
        let rv = call!(CA_MigrationContinueSessionNegotiation(
            source,
            2,
            offer_len,
            offer.as_mut_ptr(),
            0,
            null_mut(),
            &mut out_step,
            &mut out_len,
            accept.as_mut_ptr(),
            &mut status,
            &mut uid_len,
            null_mut()
        ));
        assert_eq!(rv, CKR_ARGUMENTS_BAD);
        // Short buffers: the output, then the UID; every needed size is written.
        out_len = 4;
        uid_len = 16;
        let rv = call!(CA_MigrationContinueSessionNegotiation(
            source,
            2,
            offer_len,
            offer.as_mut_ptr(),
            0,
            null_mut(),
            &mut out_step,
            &mut out_len,
            accept.as_mut_ptr(),
            &mut status,
            &mut uid_len,
            uid.as_mut_ptr()
        ));
        assert_eq!(
            (rv, out_len, uid_len),
            (CKR_BUFFER_TOO_SMALL, accept_len, 16)
        );
        out_len = accept_len;
        uid_len = 8;
        let rv = call!(CA_MigrationContinueSessionNegotiation(
            source,
            2,
            offer_len,
            offer.as_mut_ptr(),
            0,
            null_mut(),
            &mut out_step,
            &mut out_len,
            accept.as_mut_ptr(),
            &mut status,
            &mut uid_len,
            uid.as_mut_ptr()
        ));
        assert_eq!(
            (rv, out_len, uid_len),
            (CKR_BUFFER_TOO_SMALL, accept_len, 16)
        );
        // At step 2 the UID output length is required (A22).
        let rv = call!(CA_MigrationContinueSessionNegotiation(
            source,
            2,
            offer_len,
            offer.as_mut_ptr(),
            0,
            null_mut(),
            &mut out_step,
            &mut out_len,
            accept.as_mut_ptr(),
            &mut status,
            null_mut(),
            null_mut()
        ));
        assert_eq!(rv, CKR_ARGUMENTS_BAD);
        assert_eq!(
            counts(SOURCE_HSM),
            (0, 0, 0),
            "nothing made on the responder"
        );
        let (rv, step, accept, mut status, uid) = continue_(source, 2, &offer, None, true);
        assert_eq!((rv, step, status), (CKR_OK, 3, CPV4_STATUS_MORE));
        assert_eq!(counts(SOURCE_HSM), (1, 0, 0));

        // Step 3: a size query leaves the negotiation pending; then the vendor wrapper's call
        // without a UID input, with UID outputs (A49): the UID the Accept names comes back.
        let (mut out_len, mut uid_len) = (0, 16);
        let rv = call!(CA_MigrationContinueSessionNegotiation(
            target,
            3,
            accept.len() as CK_ULONG,
            accept.as_ptr().cast_mut(),
            0,
            null_mut(),
            &mut out_step,
            &mut out_len,
            null_mut(),
            &mut status,
            &mut uid_len,
            null_mut()
        ));
        assert_eq!(rv, CKR_OK);
        assert!(out_len > 0);
        assert_eq!(counts(TARGET_HSM), (1, 0, 0), "still pending");
        let confirm_len = out_len;
        // Step 3 with a short output, then a short UID buffer: every size written, still
        // pending.
        let mut short = vec![0u8; 16];
        let mut big = vec![0u8; confirm_len as usize];
        let mut uid_buffer = [0u8; 16];
        for (room, uid_room) in [(16, 16), (confirm_len, 8)] {
            let (mut out_len, mut uid_len) = (room, uid_room);
            let rv = call!(CA_MigrationContinueSessionNegotiation(
                target,
                3,
                accept.len() as CK_ULONG,
                accept.as_ptr().cast_mut(),
                0,
                null_mut(),
                &mut out_step,
                &mut out_len,
                if room == 16 {
                    short.as_mut_ptr()
                } else {
                    big.as_mut_ptr()
                },
                &mut status,
                &mut uid_len,
                uid_buffer.as_mut_ptr()
            ));
            assert_eq!(
                (rv, out_len, uid_len),
                (CKR_BUFFER_TOO_SMALL, confirm_len, 16)
            );
            assert_eq!(counts(TARGET_HSM), (1, 0, 0), "still pending");
        }
        let (rv, step, confirm, status, uid_out) = continue_(target, 3, &accept, None, true);
        assert_eq!((rv, step, status), (CKR_OK, 4, CPV4_STATUS_DONE));
        assert_eq!(uid_out, uid, "the session the Accept names");
        assert_eq!(confirm.len() as CK_ULONG, out_len, "the queried size");

        // A28: an extract size query that carries the Confirm consumes it; the next extract
        // passes no input.
        let (rv, result, needed, _) = extract(source, &uid, &confirm, key, true);
        assert_eq!((rv, result), (CKR_OK, CKR_OK));
        let (rv, result, length, blob) = extract(source, &uid, &[], key, false);
        assert_eq!((rv, result, length), (CKR_OK, CKR_OK, needed));
        let (rv, result, clone) = insert(target, &uid, &blob);
        assert_eq!((rv, result), (CKR_OK, CKR_OK));
        assert_eq!(ouid(source, key), ouid(target, clone));
        for session in [source, target] {
            assert_eq!(
                call!(CA_MigrationCloseSession(
                    session,
                    16,
                    uid.as_ptr().cast_mut()
                )),
                CKR_OK
            );
        }
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(
    get_kcv_labels_reads_flags_and_reports_the_unlabelled_domain,
    scenario_get_kcv_labels_reads_flags_and_reports_the_unlabelled_domain,
    {
        initialize();
        let session = open(SOURCE);
        let mut count: CK_ULONG = 0;
        assert_eq!(
            call!(CA_GetKCVLabels(
                SOURCE,
                &mut count,
                null_mut(),
                null_mut(),
                null_mut()
            )),
            CKR_USER_NOT_LOGGED_IN
        );
        login(session, CKU_CRYPTO_USER);
        device()
            .add_unlabelled_domain(SOURCE, b"a legacy domain")
            .unwrap();
        // A6: the flags may be NULL; if given they must be 0 and are not written.
        let mut flags: CK_ULONG = 0;
        assert_eq!(
            call!(CA_GetKCVLabels(
                SOURCE,
                &mut count,
                &mut flags,
                null_mut(),
                null_mut()
            )),
            CKR_OK
        );
        assert_eq!((count, flags), (2, 0));
        let mut bad_flags: CK_ULONG = 1;
        assert_eq!(
            call!(CA_GetKCVLabels(
                SOURCE,
                &mut count,
                &mut bad_flags,
                null_mut(),
                null_mut()
            )),
            CKR_ARGUMENTS_BAD
        );
        // A7: an array of pointers, each to 32 bytes; the primary first, the unlabelled
        // domain with length 0.
        let mut lengths = [99 as CK_ULONG; 2];
        let mut first = [0u8; 32];
        let mut second = [0xAAu8; 32];
        let mut labels = [first.as_mut_ptr(), second.as_mut_ptr()];
        assert_eq!(
            call!(CA_GetKCVLabels(
                SOURCE,
                &mut count,
                null_mut(),
                lengths.as_mut_ptr(),
                labels.as_mut_ptr()
            )),
            CKR_OK
        );
        assert_eq!(lengths, [14, 0]);
        assert_eq!(&first[..14], b"default-domain");
        assert_eq!(second, [0xAA; 32], "nothing written for an empty label");
        // A count with arrays missing is refused; a slot that does not exist is invalid.
        assert_eq!(
            call!(CA_GetKCVLabels(
                SOURCE,
                &mut count,
                null_mut(),
                null_mut(),
                labels.as_mut_ptr()
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(CA_GetKCVLabels(
                77,
                &mut count,
                null_mut(),
                null_mut(),
                null_mut()
            )),
            CKR_SLOT_ID_INVALID
        );
        assert_eq!(
            call!(CA_GetKCVLabels(
                SOURCE,
                null_mut(),
                null_mut(),
                null_mut(),
                null_mut()
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

/// Every CA_ function, with arguments that would otherwise be fine.
fn call_every_ca_function(session: CK_SESSION_HANDLE, other: CK_SESSION_HANDLE) -> Vec<CK_RV> {
    let mut ulong: CK_ULONG = 0;
    let mut ulong2: CK_ULONG = 0;
    let mut ulong3: CK_ULONG = 0;
    let mut bytes = [0u8; 64];
    let uid = [0u8; 16];
    let mut data = [CK_OBJECT_MIGRATION_DATA {
        objectType: CK_CRYPTOKI_ELEMENT,
        sourceHandle: 1,
        ..CK_OBJECT_MIGRATION_DATA::default()
    }];
    let mut mechanism = CK_MECHANISM {
        mechanism: CKM_CPV4_EXTRACT,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let label = b"label";
    vec![
        call!(CA_MigrationStartSessionNegotiation(
            session,
            0,
            null_mut(),
            &mut ulong,
            &mut ulong2,
            null_mut()
        )),
        call!(CA_MigrationContinueSessionNegotiation(
            session,
            2,
            4,
            bytes.as_mut_ptr(),
            0,
            null_mut(),
            &mut ulong,
            &mut ulong2,
            null_mut(),
            &mut ulong3,
            &mut ulong,
            null_mut()
        )),
        call!(CA_MigrationCloseSession(
            session,
            16,
            uid.as_ptr().cast_mut()
        )),
        call!(CA_Extract(session, &mut mechanism)),
        call!(CA_Insert(session, &mut mechanism)),
        call!(CA_MigrateKeys(session, other, 0, 1, data.as_mut_ptr())),
        call!(CA_CloneObject(
            other,
            session,
            CK_CRYPTOKI_ELEMENT,
            1,
            &mut ulong
        )),
        call!(CA_AddKCV(
            session,
            3,
            bytes.as_mut_ptr(),
            5,
            label.as_ptr().cast_mut(),
            0
        )),
        call!(CA_ChangeKCVLabel(
            session,
            5,
            label.as_ptr().cast_mut(),
            5,
            label.as_ptr().cast_mut()
        )),
        call!(CA_DeleteKCV(session, 5, label.as_ptr().cast_mut())),
        call!(CA_GetTime(session, &mut ulong)),
        call!(CA_SetHSMPolicy(session, HSM_POLICY_ALLOW_CLONING, 1)),
        call!(CA_SetTokenPolicies(
            session,
            SOURCE,
            0,
            null_mut(),
            null_mut()
        )),
    ]
}

/// The slot-based CA_ functions.
fn call_every_slot_function(slot: CK_SLOT_ID) -> Vec<CK_RV> {
    let (mut a, mut b, mut c): (CK_ULONG, CK_ULONG, CK_ULONG) = (0, 0, 0);
    vec![
        call!(CA_GetKCVLabels(
            slot,
            &mut a,
            null_mut(),
            null_mut(),
            null_mut()
        )),
        call!(CA_GetFirmwareVersion(slot, &mut a, &mut b, &mut c)),
        call!(CA_GetHSMPolicySetting(
            slot,
            HSM_POLICY_ALLOW_CLONING,
            &mut a
        )),
        call!(CA_GetTokenPolicies(
            slot,
            null_mut(),
            &mut a,
            null_mut(),
            &mut b
        )),
    ]
}

scenario!(
    every_ca_function_before_initialize_after_finalize_and_on_invalid_handles,
    scenario_every_ca_function_before_initialize_after_finalize_and_on_invalid_handles,
    {
        for rv in call_every_ca_function(1, 2)
            .into_iter()
            .chain(call_every_slot_function(SOURCE))
        {
            assert_eq!(rv, CKR_CRYPTOKI_NOT_INITIALIZED);
        }
        initialize();
        let real = officer(SOURCE);
        for rv in call_every_ca_function(0xBAD, real) {
            assert_eq!(rv, CKR_SESSION_HANDLE_INVALID);
        }
        for rv in call_every_slot_function(77) {
            assert_eq!(rv, CKR_SLOT_ID_INVALID);
        }
        assert_eq!(counts(SOURCE_HSM), (0, 0, 0));
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
        for rv in call_every_ca_function(real, real)
            .into_iter()
            .chain(call_every_slot_function(SOURCE))
        {
            assert_eq!(rv, CKR_CRYPTOKI_NOT_INITIALIZED);
        }
    }
);

scenario!(
    the_argument_matrix_of_the_cpv4_calls,
    scenario_the_argument_matrix_of_the_cpv4_calls,
    {
        initialize();
        let source = officer(SOURCE);
        let target = officer(TARGET);
        let key = aes_key(source);
        let (mut step, mut len, mut status, mut uid_len) = (0, 0, 0, 16);
        let mut buffer = vec![0u8; 64_000];
        // Start: NULL step or length, an input (A10).
        for (step_ptr, len_ptr) in [
            (null_mut(), std::ptr::from_mut(&mut len)),
            (std::ptr::from_mut(&mut step), null_mut()),
        ] {
            assert_eq!(
                call!(CA_MigrationStartSessionNegotiation(
                    target,
                    0,
                    null_mut(),
                    step_ptr,
                    len_ptr,
                    null_mut()
                )),
                CKR_ARGUMENTS_BAD
            );
        }
        assert_eq!(
            call!(CA_MigrationStartSessionNegotiation(
                target,
                1,
                buffer.as_mut_ptr(),
                &mut step,
                &mut len,
                null_mut()
            )),
            CKR_ARGUMENTS_BAD
        );
        // NULL input with a length, and a huge length.
        assert_eq!(
            call!(CA_MigrationStartSessionNegotiation(
                target,
                CK_ULONG::MAX,
                buffer.as_mut_ptr(),
                &mut step,
                &mut len,
                null_mut()
            )),
            CKR_ARGUMENTS_BAD
        );
        // Continue: empty input, NULL status, a bad step, a 15-byte UID.
        let offer = start(target);
        assert_eq!(
            call!(CA_MigrationContinueSessionNegotiation(
                source,
                2,
                0,
                null_mut(),
                0,
                null_mut(),
                &mut step,
                &mut len,
                null_mut(),
                &mut status,
                &mut uid_len,
                null_mut()
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(CA_MigrationContinueSessionNegotiation(
                source,
                2,
                offer.len() as CK_ULONG,
                offer.as_ptr().cast_mut(),
                0,
                null_mut(),
                &mut step,
                &mut len,
                null_mut(),
                null_mut(),
                &mut uid_len,
                null_mut()
            )),
            CKR_ARGUMENTS_BAD
        );
        let (rv, ..) = continue_(source, 5, &offer, None, true);
        assert_eq!(rv, CKR_SESSION_NEGOTIATION_INVALID);
        let (rv, ..) = continue_(source, 2, &offer, Some(&[1; 16]), true);
        assert_eq!(rv, CKR_ARGUMENTS_BAD, "no UID exists at step 2");
        assert_eq!(counts(SOURCE_HSM), (0, 0, 0), "no refused call made state");
        let (uid, confirm) = negotiate(source, target);

        // Extract: the wrong mechanism, a parameter of the wrong size, a 15-byte UID, arrays
        // missing, some blob buffers NULL and some not, a huge count.
        let mut object_types = [CK_CRYPTOKI_ELEMENT; 2];
        let mut handles = [key, key];
        let mut results = [0 as CK_RV; 2];
        let mut lengths = [64_000 as CK_ULONG; 2];
        let mut blobs = [buffer.as_mut_ptr(), null_mut()];
        let mut params = CK_CPV4_EXTRACT_PARAMS {
            inputLength: confirm.len() as CK_ULONG,
            input: confirm.as_ptr().cast_mut(),
            sessionOuidLen: 16,
            sessionOuid: uid.as_ptr().cast_mut(),
            extractionFlags: 0,
            numberOfObjects: 2,
            objectType: object_types.as_mut_ptr(),
            objectHandle: handles.as_mut_ptr(),
            result: results.as_mut_ptr(),
            keyBlobLen: lengths.as_mut_ptr(),
            keyBlob: blobs.as_mut_ptr(),
        };
        let run = |params: &mut CK_CPV4_EXTRACT_PARAMS, mechanism_type, size| {
            let mut mechanism = CK_MECHANISM {
                mechanism: mechanism_type,
                pParameter: std::ptr::from_mut(params).cast(),
                ulParameterLen: size,
            };
            call!(CA_Extract(source, &mut mechanism))
        };
        let size = size_of::<CK_CPV4_EXTRACT_PARAMS>() as CK_ULONG;
        assert_eq!(
            run(&mut params, CKM_CPV4_INSERT, size),
            CKR_MECHANISM_INVALID
        );
        assert_eq!(
            run(&mut params, CKM_CPV4_EXTRACT, size - 8),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            run(&mut params, CKM_CPV4_EXTRACT, size),
            CKR_ARGUMENTS_BAD,
            "one blob buffer NULL, one not"
        );
        params.sessionOuidLen = 15;
        assert_eq!(run(&mut params, CKM_CPV4_EXTRACT, size), CKR_ARGUMENTS_BAD);
        params.sessionOuidLen = 16;
        let saved = params.result;
        params.result = null_mut();
        assert_eq!(run(&mut params, CKM_CPV4_EXTRACT, size), CKR_ARGUMENTS_BAD);
        params.result = saved;
        params.numberOfObjects = CK_ULONG::MAX;
        assert_eq!(run(&mut params, CKM_CPV4_EXTRACT, size), CKR_ARGUMENTS_BAD);
        params.numberOfObjects = 1 << 61;
        assert_eq!(run(&mut params, CKM_CPV4_EXTRACT, size), CKR_ARGUMENTS_BAD);
        params.numberOfObjects = 2;
        assert_eq!(
            results,
            [0, 0],
            "no call refused for its arguments wrote a result"
        );
        // A size query (every blob buffer NULL) with an unknown flag: the device refuses it,
        // and every result says the object was not attempted.
        blobs[0] = null_mut();
        params.keyBlob = blobs.as_mut_ptr();
        params.extractionFlags = 0x80;
        assert_eq!(run(&mut params, CKM_CPV4_EXTRACT, size), CKR_ARGUMENTS_BAD);
        assert_eq!(results, [CKR_CLONE_NOT_ATTEMPTED; 2]);
        assert_eq!(call!(CA_Extract(source, null_mut())), CKR_ARGUMENTS_BAD);
        // The refused calls did not consume the Confirm: it is still to come.
        let (rv, result, _, blob) = extract(source, &uid, &confirm, key, false);
        assert_eq!((rv, result), (CKR_OK, CKR_OK));

        // Insert: a NULL blob with a length, a huge count.
        let mut object_type = CK_CRYPTOKI_ELEMENT;
        let mut storage: CK_ULONG = 0;
        let mut blob_len = blob.len() as CK_ULONG;
        let mut blob_ptr: CK_BYTE_PTR = null_mut();
        let mut result = 0;
        let mut handle = 0;
        let mut insert_params = CK_CPV4_INSERT_PARAMS {
            inputLength: 0,
            input: null_mut(),
            sessionOuidLen: 16,
            sessionOuid: uid.as_ptr().cast_mut(),
            insertionFlags: 0,
            numberOfObjects: 1,
            objectType: &mut object_type,
            storageType: &mut storage,
            keyBlobLen: &mut blob_len,
            keyBlob: &mut blob_ptr,
            result: &mut result,
            objectHandle: &mut handle,
        };
        let mut mechanism = CK_MECHANISM {
            mechanism: CKM_CPV4_INSERT,
            pParameter: std::ptr::from_mut(&mut insert_params).cast(),
            ulParameterLen: size_of::<CK_CPV4_INSERT_PARAMS>() as CK_ULONG,
        };
        assert_eq!(call!(CA_Insert(target, &mut mechanism)), CKR_ARGUMENTS_BAD);
        insert_params.numberOfObjects = CK_ULONG::MAX;
        let mut mechanism = CK_MECHANISM {
            mechanism: CKM_CPV4_INSERT,
            pParameter: std::ptr::from_mut(&mut insert_params).cast(),
            ulParameterLen: size_of::<CK_CPV4_INSERT_PARAMS>() as CK_ULONG,
        };
        assert_eq!(call!(CA_Insert(target, &mut mechanism)), CKR_ARGUMENTS_BAD);
        let (rv, result, clone) = insert(target, &uid, &blob);
        assert_eq!((rv, result), (CKR_OK, CKR_OK), "the blob is still good");
        assert_ne!(clone, 0);

        // Close: a 15-byte UID, a NULL UID; an unknown UID (A2).
        assert_eq!(
            call!(CA_MigrationCloseSession(
                source,
                15,
                uid.as_ptr().cast_mut()
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(CA_MigrationCloseSession(source, 16, null_mut())),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(CA_MigrationCloseSession(
                source,
                16,
                [9u8; 16].as_ptr().cast_mut()
            )),
            CKR_SESSION_ID_INVALID
        );

        // CA_MigrateKeys and CA_CloneObject: zero and huge counts, NULL outputs.
        let mut data = [CK_OBJECT_MIGRATION_DATA::default()];
        assert_eq!(
            call!(CA_MigrateKeys(source, target, 0, 0, data.as_mut_ptr())),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(CA_MigrateKeys(
                source,
                target,
                0,
                CK_ULONG::MAX,
                data.as_mut_ptr()
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(CA_CloneObject(
                target,
                source,
                CK_CRYPTOKI_ELEMENT,
                key,
                null_mut()
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(call!(CA_GetTime(source, null_mut())), CKR_ARGUMENTS_BAD);
        assert_eq!(
            call!(CA_GetFirmwareVersion(
                SOURCE,
                null_mut(),
                &mut len,
                &mut step
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(CA_GetHSMPolicySetting(SOURCE, 8, &mut len)),
            CKR_ARGUMENTS_BAD
        );
        for session in [source, target] {
            assert_eq!(
                call!(CA_MigrationCloseSession(
                    session,
                    16,
                    uid.as_ptr().cast_mut()
                )),
                CKR_OK
            );
        }

        // The roles: the Crypto User may not clone, nobody logged in neither.
        assert_eq!(call!(C_Logout(source)), CKR_OK);
        assert_eq!(
            call!(CA_MigrationStartSessionNegotiation(
                source,
                0,
                null_mut(),
                &mut step,
                &mut len,
                null_mut()
            )),
            CKR_USER_NOT_LOGGED_IN
        );
        login(source, CKU_CRYPTO_USER);
        assert_eq!(
            call!(CA_MigrationStartSessionNegotiation(
                source,
                0,
                null_mut(),
                &mut step,
                &mut len,
                null_mut()
            )),
            CKR_USER_NOT_AUTHORIZED
        );
        let mut data = [CK_OBJECT_MIGRATION_DATA {
            objectType: CK_CRYPTOKI_ELEMENT,
            sourceHandle: key,
            ..CK_OBJECT_MIGRATION_DATA::default()
        }];
        assert_eq!(
            call!(CA_MigrateKeys(source, target, 0, 1, data.as_mut_ptr())),
            CKR_USER_NOT_AUTHORIZED
        );
        assert_eq!(data[0].rv, CKR_CLONE_NOT_ATTEMPTED);
        assert_eq!(
            call!(CA_AddKCV(
                source,
                3,
                b"kcv".as_ptr().cast_mut(),
                1,
                b"x".as_ptr().cast_mut(),
                0
            )),
            CKR_USER_NOT_AUTHORIZED,
            "domains are the Partition SO's"
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(
    migrate_keys_falls_back_to_the_legacy_clone_and_reports_protocol_disabled,
    scenario_migrate_keys_falls_back_to_the_legacy_clone_and_reports_protocol_disabled,
    {
        initialize();
        let source = officer(SOURCE);
        let target = officer(TARGET);
        let keys = [aes_key(source), aes_key(source)];
        // Partition policy 42 ("Allow CPv1") on the source forces the legacy protocol; the
        // test sets it through the vendor call, as the Partition SO.
        let so = open(SOURCE);
        assert_eq!(call!(C_Logout(source)), CKR_OK);
        login(so, CKU_SO);
        let mut ids = [PARTITION_POLICY_LEGACY_CLONING_ONLY];
        let mut values = [1 as CK_ULONG];
        assert_eq!(
            call!(CA_SetTokenPolicies(
                so,
                SOURCE,
                1,
                ids.as_mut_ptr(),
                values.as_mut_ptr()
            )),
            CKR_OK
        );
        assert_eq!(call!(C_Logout(so)), CKR_OK);
        login(source, CKU_USER);
        let mut data = keys.map(|key| CK_OBJECT_MIGRATION_DATA {
            objectType: CK_CRYPTOKI_ELEMENT,
            sourceHandle: key,
            ..CK_OBJECT_MIGRATION_DATA::default()
        });
        assert_eq!(
            call!(CA_MigrateKeys(source, target, 0, 2, data.as_mut_ptr())),
            CKR_OK
        );
        for item in &data {
            assert_eq!(item.rv, CKR_OK);
            assert_eq!(
                ouid(source, item.sourceHandle),
                ouid(target, item.targetHandle)
            );
        }
        assert_eq!(
            counts(SOURCE_HSM),
            (0, 0, 0),
            "no CPv4 record: the legacy clone ran"
        );
        assert_eq!(counts(TARGET_HSM), (0, 0, 0));
        // The legacy protocol off on the target too: no protocol is common.
        device().set_protocol_enabled(TARGET, false, false).unwrap();
        let fresh = aes_key(source);
        let mut data = [CK_OBJECT_MIGRATION_DATA {
            objectType: CK_CRYPTOKI_ELEMENT,
            sourceHandle: fresh,
            ..CK_OBJECT_MIGRATION_DATA::default()
        }];
        assert_eq!(
            call!(CA_MigrateKeys(source, target, 0, 1, data.as_mut_ptr())),
            CKR_PROTOCOL_DISABLED
        );
        assert_eq!(data[0].rv, CKR_CLONE_NOT_ATTEMPTED);
        assert_eq!(data[0].targetHandle, 0);
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(
    policies_are_set_by_the_partition_so_all_or_none,
    scenario_policies_are_set_by_the_partition_so_all_or_none,
    {
        initialize();
        let session = officer(SOURCE);
        assert_eq!(
            call!(CA_SetHSMPolicy(session, HSM_POLICY_ALLOW_CLONING, 0)),
            CKR_USER_NOT_AUTHORIZED
        );
        let mut ids = [PARTITION_POLICY_EXTENDED_DOMAIN_MANAGEMENT];
        let mut values = [0 as CK_ULONG];
        assert_eq!(
            call!(CA_SetTokenPolicies(
                session,
                SOURCE,
                1,
                ids.as_mut_ptr(),
                values.as_mut_ptr()
            )),
            CKR_USER_NOT_AUTHORIZED
        );
        assert_eq!(call!(C_Logout(session)), CKR_OK);
        login(session, CKU_SO);
        // The two-call convention of CA_GetTokenPolicies.
        let policies = || {
            let (mut ids_len, mut values_len) = (0, 0);
            assert_eq!(
                call!(CA_GetTokenPolicies(
                    SOURCE,
                    null_mut(),
                    &mut ids_len,
                    null_mut(),
                    &mut values_len
                )),
                CKR_OK
            );
            assert_eq!(ids_len, values_len);
            let mut ids = vec![0; ids_len as usize];
            let mut values = vec![0; values_len as usize];
            assert_eq!(
                call!(CA_GetTokenPolicies(
                    SOURCE,
                    ids.as_mut_ptr(),
                    &mut ids_len,
                    values.as_mut_ptr(),
                    &mut values_len
                )),
                CKR_OK
            );
            ids.into_iter().zip(values).collect::<Vec<_>>()
        };
        let before = policies();
        assert!(before.contains(&(PARTITION_POLICY_EXTENDED_DOMAIN_MANAGEMENT, 1)));
        // All or none: an unknown id, or a value other than 0 and 1, changes nothing.
        for (ids, values) in [
            (
                vec![PARTITION_POLICY_EXTENDED_DOMAIN_MANAGEMENT, 99],
                vec![0, 1],
            ),
            (
                vec![
                    PARTITION_POLICY_EXTENDED_DOMAIN_MANAGEMENT,
                    PARTITION_POLICY_SECRET_KEY_CLONING,
                ],
                vec![0, 2],
            ),
        ] {
            let (mut ids, mut values) = (ids, values);
            assert_eq!(
                call!(CA_SetTokenPolicies(
                    session,
                    SOURCE,
                    2,
                    ids.as_mut_ptr(),
                    values.as_mut_ptr()
                )),
                CKR_ARGUMENTS_BAD
            );
            assert_eq!(policies(), before);
        }
        assert_eq!(
            call!(CA_SetTokenPolicies(
                session,
                TARGET,
                1,
                ids.as_mut_ptr(),
                values.as_mut_ptr()
            )),
            CKR_USER_NOT_AUTHORIZED,
            "the SO of another slot"
        );
        assert_eq!(
            call!(CA_SetTokenPolicies(
                session,
                SOURCE,
                1,
                ids.as_mut_ptr(),
                values.as_mut_ptr()
            )),
            CKR_OK
        );
        assert!(policies().contains(&(PARTITION_POLICY_EXTENDED_DOMAIN_MANAGEMENT, 0)));
        assert_eq!(
            call!(CA_AddKCV(
                session,
                3,
                b"kcv".as_ptr().cast_mut(),
                1,
                b"x".as_ptr().cast_mut(),
                0
            )),
            CKR_DOMAIN_MANAGEMENT_NOT_ALLOWED,
            "policy 44 is off now"
        );
        // HSM policy 7 off: CPv4 is disabled on that HSM.
        let mut value = 9;
        assert_eq!(
            call!(CA_SetHSMPolicy(session, HSM_POLICY_ALLOW_CLONING, 2)),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(CA_SetHSMPolicy(session, HSM_POLICY_ALLOW_CLONING, 0)),
            CKR_OK
        );
        assert_eq!(
            call!(CA_GetHSMPolicySetting(
                SOURCE,
                HSM_POLICY_ALLOW_CLONING,
                &mut value
            )),
            CKR_OK
        );
        assert_eq!(value, 0);
        assert_eq!(call!(C_Logout(session)), CKR_OK);
        login(session, CKU_USER);
        let (mut step, mut len) = (0, 0);
        assert_eq!(
            call!(CA_MigrationStartSessionNegotiation(
                session,
                0,
                null_mut(),
                &mut step,
                &mut len,
                null_mut()
            )),
            CKR_PROTOCOL_DISABLED
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(
    the_argument_matrix_of_the_domain_and_policy_calls,
    scenario_the_argument_matrix_of_the_domain_and_policy_calls,
    {
        initialize();
        let session = open(SOURCE);
        let label = b"extra";
        let kcv = b"a domain secret";
        // Not logged in, then the wrong user type: nothing changes.
        assert_eq!(
            call!(CA_AddKCV(
                session,
                kcv.len() as CK_ULONG,
                kcv.as_ptr().cast_mut(),
                5,
                label.as_ptr().cast_mut(),
                0
            )),
            CKR_USER_NOT_LOGGED_IN
        );
        login(session, CKU_USER);
        for rv in [
            call!(CA_AddKCV(
                session,
                kcv.len() as CK_ULONG,
                kcv.as_ptr().cast_mut(),
                5,
                label.as_ptr().cast_mut(),
                0
            )),
            call!(CA_ChangeKCVLabel(
                session,
                14,
                b"default-domain".as_ptr().cast_mut(),
                5,
                label.as_ptr().cast_mut()
            )),
            call!(CA_DeleteKCV(
                session,
                14,
                b"default-domain".as_ptr().cast_mut()
            )),
            call!(CA_SetHSMPolicy(session, HSM_POLICY_ALLOW_CLONING, 0)),
        ] {
            assert_eq!(rv, CKR_USER_NOT_AUTHORIZED);
        }
        assert_eq!(call!(C_Logout(session)), CKR_OK);
        login(session, CKU_SO);
        // NULL with a length, a length without bytes, a missing label, a huge length.
        for (kcv_len, kcv_ptr, label_len, label_ptr) in [
            (4, null_mut(), 5, label.as_ptr().cast_mut()),
            (
                kcv.len() as CK_ULONG,
                kcv.as_ptr().cast_mut(),
                5,
                null_mut(),
            ),
            (
                kcv.len() as CK_ULONG,
                kcv.as_ptr().cast_mut(),
                0,
                null_mut(),
            ),
            (
                kcv.len() as CK_ULONG,
                kcv.as_ptr().cast_mut(),
                CK_ULONG::MAX,
                label.as_ptr().cast_mut(),
            ),
        ] {
            assert_eq!(
                call!(CA_AddKCV(
                    session, kcv_len, kcv_ptr, label_len, label_ptr, 1
                )),
                CKR_ARGUMENTS_BAD
            );
        }
        // A label of 33 bytes, and the PED unplugged for a KCV of NULL and 0.
        let long = [b'a'; 33];
        assert_eq!(
            call!(CA_AddKCV(
                session,
                kcv.len() as CK_ULONG,
                kcv.as_ptr().cast_mut(),
                33,
                long.as_ptr().cast_mut(),
                0
            )),
            CKR_DOMAIN_LABEL_INVALID
        );
        assert_eq!(
            call!(CA_AddKCV(
                session,
                0,
                null_mut(),
                5,
                label.as_ptr().cast_mut(),
                0
            )),
            CKR_PED_UNPLUGGED
        );
        assert_eq!(
            call!(CA_ChangeKCVLabel(
                session,
                3,
                null_mut(),
                5,
                label.as_ptr().cast_mut()
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(CA_ChangeKCVLabel(
                session,
                5,
                b"nope!".as_ptr().cast_mut(),
                5,
                label.as_ptr().cast_mut()
            )),
            CKR_DOMAIN_LABEL_INVALID
        );
        assert_eq!(
            call!(CA_DeleteKCV(session, 2, null_mut())),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(CA_DeleteKCV(
                session,
                14,
                b"default-domain".as_ptr().cast_mut()
            )),
            CKR_DOMAIN_NO_PRIMARY,
            "the partition's last domain"
        );
        // Nothing of the refused calls changed the domains.
        let mut count = 0;
        assert_eq!(
            call!(CA_GetKCVLabels(
                SOURCE,
                &mut count,
                null_mut(),
                null_mut(),
                null_mut()
            )),
            CKR_OK
        );
        assert_eq!(count, 1);
        // The policy calls: short arrays, NULL arrays with a count, an unknown policy.
        let (mut ids_len, mut values_len) = (1 as CK_ULONG, 1 as CK_ULONG);
        let (mut ids, mut values) = ([0 as CK_ULONG; 1], [0 as CK_ULONG; 1]);
        assert_eq!(
            call!(CA_GetTokenPolicies(
                SOURCE,
                ids.as_mut_ptr(),
                &mut ids_len,
                values.as_mut_ptr(),
                &mut values_len
            )),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!((ids_len, values_len), (4, 4), "both needed counts written");
        assert_eq!((ids, values), ([0], [0]), "and no array");
        // Enough room for the ids only: still neither array is written.
        let mut ids4 = [0 as CK_ULONG; 4];
        let (mut ids_len, mut values_len) = (4 as CK_ULONG, 1 as CK_ULONG);
        assert_eq!(
            call!(CA_GetTokenPolicies(
                SOURCE,
                ids4.as_mut_ptr(),
                &mut ids_len,
                values.as_mut_ptr(),
                &mut values_len
            )),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(ids4, [0; 4]);
        assert_eq!(
            call!(CA_GetTokenPolicies(
                SOURCE,
                null_mut(),
                null_mut(),
                null_mut(),
                &mut values_len
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(CA_SetTokenPolicies(
                session,
                SOURCE,
                1,
                null_mut(),
                null_mut()
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(CA_SetTokenPolicies(
                session,
                SOURCE,
                CK_ULONG::MAX,
                ids.as_mut_ptr(),
                values.as_mut_ptr()
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(call!(CA_SetHSMPolicy(session, 8, 1)), CKR_ARGUMENTS_BAD);
        assert_eq!(
            call!(CA_GetHSMPolicySetting(
                SOURCE,
                HSM_POLICY_ALLOW_CLONING,
                null_mut()
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(
    misaligned_and_overlapping_arguments_are_refused_not_a_crash,
    scenario_misaligned_and_overlapping_arguments_are_refused_not_a_crash,
    {
        initialize();
        let source = officer(SOURCE);
        let target = officer(TARGET);
        let keys = [aes_key(source), aes_key(source)];
        let (uid, confirm) = negotiate(source, target);
        // A misaligned array: CKR_ARGUMENTS_BAD, where the standard library's check would
        // abort the process.
        // On the heap, so the buffer is 8-aligned and one byte in is not.
        #[allow(clippy::useless_vec)]
        let mut raw = vec![0u8; 8 * 3 + 1];
        let misaligned = raw[1..].as_mut_ptr().cast::<CK_ULONG>();
        let mut handles = keys;
        let mut results = [0 as CK_RV; 2];
        let mut lengths = [64_000 as CK_ULONG; 2];
        let mut first = vec![0u8; 64_000];
        let mut second = vec![0u8; 64_000];
        let mut blobs = [first.as_mut_ptr(), second.as_mut_ptr()];
        let mut params = CK_CPV4_EXTRACT_PARAMS {
            inputLength: confirm.len() as CK_ULONG,
            input: confirm.as_ptr().cast_mut(),
            sessionOuidLen: 16,
            sessionOuid: uid.as_ptr().cast_mut(),
            extractionFlags: 0,
            numberOfObjects: 2,
            objectType: misaligned,
            objectHandle: handles.as_mut_ptr(),
            result: results.as_mut_ptr(),
            keyBlobLen: lengths.as_mut_ptr(),
            keyBlob: blobs.as_mut_ptr(),
        };
        let run = |params: &mut CK_CPV4_EXTRACT_PARAMS| {
            let mut mechanism = CK_MECHANISM {
                mechanism: CKM_CPV4_EXTRACT,
                pParameter: std::ptr::from_mut(params).cast(),
                ulParameterLen: size_of::<CK_CPV4_EXTRACT_PARAMS>() as CK_ULONG,
            };
            call!(CA_Extract(source, &mut mechanism))
        };
        assert_eq!(run(&mut params), CKR_ARGUMENTS_BAD);
        let mut types = [CK_CRYPTOKI_ELEMENT; 2];
        params.objectType = types.as_mut_ptr();
        // Arrays that overlap: the results written over the lengths, a blob buffer over the
        // handles.
        params.result = lengths.as_mut_ptr();
        assert_eq!(run(&mut params), CKR_ARGUMENTS_BAD);
        params.result = results.as_mut_ptr();
        blobs[1] = handles.as_mut_ptr().cast();
        params.keyBlob = blobs.as_mut_ptr();
        assert_eq!(run(&mut params), CKR_ARGUMENTS_BAD);
        assert_eq!(results, [0, 0], "nothing written");
        // The same call with sound arguments works: nothing was consumed by the refusals.
        blobs[1] = second.as_mut_ptr();
        params.keyBlob = blobs.as_mut_ptr();
        assert_eq!(run(&mut params), CKR_OK);
        assert_eq!(results, [CKR_OK, CKR_OK]);

        // Continue with one location for two outputs, Start with the step over the length.
        let offer = start(target);
        let (mut step, mut len, mut status) = (0, 0 as CK_ULONG, 0);
        let rv = call!(CA_MigrationContinueSessionNegotiation(
            source,
            2,
            offer.len() as CK_ULONG,
            offer.as_ptr().cast_mut(),
            0,
            null_mut(),
            &mut step,
            &mut len,
            null_mut(),
            &mut status,
            &mut len,
            null_mut()
        ));
        assert_eq!(rv, CKR_ARGUMENTS_BAD);
        let rv = call!(CA_MigrationStartSessionNegotiation(
            target,
            0,
            null_mut(),
            &mut len,
            &mut len,
            null_mut()
        ));
        assert_eq!(rv, CKR_ARGUMENTS_BAD);
        assert_eq!(counts(SOURCE_HSM).0, 0, "the refused Continue made nothing");

        // CA_MigrateKeys on a misaligned array.
        #[allow(clippy::useless_vec)]
        let mut raw = vec![0u8; size_of::<CK_OBJECT_MIGRATION_DATA>() + 4];
        let data = raw[4..].as_mut_ptr().cast::<CK_OBJECT_MIGRATION_DATA>();
        assert_eq!(
            call!(CA_MigrateKeys(source, target, 0, 1, data)),
            CKR_ARGUMENTS_BAD
        );
        // CA_GetFirmwareVersion with one location for two outputs.
        let mut one: CK_ULONG = 0;
        let mut other: CK_ULONG = 0;
        assert_eq!(
            call!(CA_GetFirmwareVersion(
                SOURCE, &mut one, &mut one, &mut other
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(
    extract_keeps_the_preset_lengths_of_objects_it_did_not_size,
    scenario_extract_keeps_the_preset_lengths_of_objects_it_did_not_size,
    {
        initialize();
        let source = officer(SOURCE);
        let target = officer(TARGET);
        let keys = [aes_key(source), aes_key(source)];
        let (uid, confirm) = negotiate(source, target);
        let mut types = [CK_CRYPTOKI_ELEMENT; 3];
        let mut handles = [keys[0], 0xDEAD, keys[1]];
        let mut results = [0 as CK_RV; 3];
        let mut lengths = [64_000 as CK_ULONG; 3];
        let mut buffers = vec![vec![0u8; 64_000]; 3];
        let mut blobs: Vec<CK_BYTE_PTR> = buffers.iter_mut().map(|b| b.as_mut_ptr()).collect();
        let mut params = CK_CPV4_EXTRACT_PARAMS {
            inputLength: confirm.len() as CK_ULONG,
            input: confirm.as_ptr().cast_mut(),
            sessionOuidLen: 16,
            sessionOuid: uid.as_ptr().cast_mut(),
            extractionFlags: 0,
            numberOfObjects: 3,
            objectType: types.as_mut_ptr(),
            objectHandle: handles.as_mut_ptr(),
            result: results.as_mut_ptr(),
            keyBlobLen: lengths.as_mut_ptr(),
            keyBlob: blobs.as_mut_ptr(),
        };
        let mut mechanism = CK_MECHANISM {
            mechanism: CKM_CPV4_EXTRACT,
            pParameter: std::ptr::from_mut(&mut params).cast(),
            ulParameterLen: size_of::<CK_CPV4_EXTRACT_PARAMS>() as CK_ULONG,
        };
        assert_eq!(
            call!(CA_Extract(source, &mut mechanism)),
            CKR_OBJECT_HANDLE_INVALID
        );
        assert_eq!(
            results,
            [CKR_OK, CKR_OBJECT_HANDLE_INVALID, CKR_CLONE_NOT_ATTEMPTED]
        );
        assert!(lengths[0] > 0 && lengths[0] < 64_000);
        assert_eq!(
            &lengths[1..],
            [64_000, 64_000],
            "the preset lengths are kept"
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);
