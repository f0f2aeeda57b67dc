//! The NULL matrix, generated over the whole function list: every one of the 68 functions of
//! `CK_FUNCTION_LIST` is described once by its pointer arguments, and the driver calls it with
//! each pointer NULL in turn (the others valid), before `C_Initialize`, after it, and after
//! `C_Finalize`. Before and after, every call is `CKR_CRYPTOKI_NOT_INITIALIZED`, whatever its
//! pointers. While initialized, a NULL required pointer is `CKR_ARGUMENTS_BAD`; a NULL output
//! buffer is a length query (never `CKR_ARGUMENTS_BAD`); the functions this module does not
//! implement read no pointer. No call may crash or give `CKR_GENERAL_ERROR` (a caught panic).
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

use std::ffi::c_void;
use std::ptr::null_mut;

use cpv4_wire::consts::*;
use luna_ffi::types::*;
use luna_ffi::*;

/// What a NULL in one pointer position must give while the library is initialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ptr {
    /// Required: `CKR_ARGUMENTS_BAD`.
    Required,
    /// An output buffer: NULL asks for the length, never `CKR_ARGUMENTS_BAD`.
    Length,
    /// Not read (an unimplemented function) or optional: never `CKR_ARGUMENTS_BAD`.
    Unread,
}
use Ptr::{Length, Required, Unread};

/// The handles the calls use.
#[derive(Clone, Copy)]
struct Fixture {
    slot: CK_SLOT_ID,
    session: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
}

type Call = fn(&Fixture, &[*mut c_void]) -> CK_RV;

/// One function: its name, its pointer arguments in order, and how to call it.
struct Probe {
    name: &'static str,
    pointers: &'static [Ptr],
    call: Call,
}

macro_rules! probe {
    ($name:ident, [$($ptr:expr),*], |$fx:ident, $p:ident| $body:expr) => {
        Probe {
            name: stringify!($name),
            pointers: &[$($ptr),*],
            call: |$fx: &Fixture, $p: &[*mut c_void]| {
                let _ = ($fx, $p);
                $body
            },
        }
    };
}

/// Every function of the list but `C_Initialize` and `C_Finalize` (driven on their own), in
/// the list's order. Lengths passed by value are 16 (each pointer's area holds 1 KiB).
fn probes() -> Vec<Probe> {
    vec![
        probe!(C_GetInfo, [Required], |fx, p| call!(C_GetInfo(p[0].cast()))),
        probe!(C_GetFunctionList, [Required], |fx, p| call!(
            C_GetFunctionList(p[0].cast())
        )),
        probe!(C_GetSlotList, [Length, Required], |fx, p| call!(
            C_GetSlotList(1, p[0].cast(), p[1].cast())
        )),
        probe!(C_GetSlotInfo, [Required], |fx, p| call!(C_GetSlotInfo(
            fx.slot,
            p[0].cast()
        ))),
        probe!(C_GetTokenInfo, [Required], |fx, p| call!(C_GetTokenInfo(
            fx.slot,
            p[0].cast()
        ))),
        probe!(C_GetMechanismList, [Length, Required], |fx, p| call!(
            C_GetMechanismList(fx.slot, p[0].cast(), p[1].cast())
        )),
        probe!(C_GetMechanismInfo, [Required], |fx, p| call!(
            C_GetMechanismInfo(fx.slot, CKM_AES_GCM, p[0].cast())
        )),
        probe!(C_InitToken, [Required, Required], |fx, p| call!(
            C_InitToken(fx.slot, p[0].cast(), 16, p[1].cast())
        )),
        probe!(C_InitPIN, [Required], |fx, p| call!(C_InitPIN(
            fx.session,
            p[0].cast(),
            16
        ))),
        probe!(C_SetPIN, [Required, Required], |fx, p| call!(C_SetPIN(
            fx.session,
            p[0].cast(),
            16,
            p[1].cast(),
            16
        ))),
        probe!(C_OpenSession, [Unread, Required], |fx, p| call!(
            C_OpenSession(fx.slot, CKF_SERIAL_SESSION, p[0], None, p[1].cast())
        )),
        probe!(C_CloseSession, [], |fx, p| call!(C_CloseSession(
            fx.session
        ))),
        probe!(C_CloseAllSessions, [], |fx, p| call!(C_CloseAllSessions(
            fx.slot
        ))),
        probe!(C_GetSessionInfo, [Required], |fx, p| call!(
            C_GetSessionInfo(fx.session, p[0].cast())
        )),
        probe!(C_GetOperationState, [Unread, Unread], |fx, p| call!(
            C_GetOperationState(fx.session, p[0].cast(), p[1].cast())
        )),
        probe!(C_SetOperationState, [Unread], |fx, p| call!(
            C_SetOperationState(fx.session, p[0].cast(), 16, 0, 0)
        )),
        probe!(C_Login, [Required], |fx, p| call!(C_Login(
            fx.session,
            CKU_USER,
            p[0].cast(),
            16
        ))),
        probe!(C_Logout, [], |fx, p| call!(C_Logout(fx.session))),
        probe!(C_CreateObject, [Required, Required], |fx, p| call!(
            C_CreateObject(fx.session, p[0].cast(), 1, p[1].cast())
        )),
        probe!(C_CopyObject, [Required, Required], |fx, p| call!(
            C_CopyObject(fx.session, fx.key, p[0].cast(), 1, p[1].cast())
        )),
        probe!(C_DestroyObject, [], |fx, p| call!(C_DestroyObject(
            fx.session, fx.key
        ))),
        probe!(C_GetObjectSize, [Required], |fx, p| call!(C_GetObjectSize(
            fx.session,
            fx.key,
            p[0].cast()
        ))),
        probe!(C_GetAttributeValue, [Required], |fx, p| call!(
            C_GetAttributeValue(fx.session, fx.key, p[0].cast(), 1)
        )),
        probe!(C_SetAttributeValue, [Required], |fx, p| call!(
            C_SetAttributeValue(fx.session, fx.key, p[0].cast(), 1)
        )),
        probe!(C_FindObjectsInit, [Required], |fx, p| call!(
            C_FindObjectsInit(fx.session, p[0].cast(), 1)
        )),
        probe!(C_FindObjects, [Required, Required], |fx, p| call!(
            C_FindObjects(fx.session, p[0].cast(), 3, p[1].cast())
        )),
        probe!(C_FindObjectsFinal, [], |fx, p| call!(C_FindObjectsFinal(
            fx.session
        ))),
        probe!(C_EncryptInit, [Required], |fx, p| call!(C_EncryptInit(
            fx.session,
            p[0].cast(),
            fx.key
        ))),
        probe!(C_Encrypt, [Required, Length, Required], |fx, p| call!(
            C_Encrypt(fx.session, p[0].cast(), 16, p[1].cast(), p[2].cast())
        )),
        probe!(
            C_EncryptUpdate,
            [Required, Length, Required],
            |fx, p| call!(C_EncryptUpdate(
                fx.session,
                p[0].cast(),
                16,
                p[1].cast(),
                p[2].cast()
            ))
        ),
        probe!(C_EncryptFinal, [Length, Required], |fx, p| call!(
            C_EncryptFinal(fx.session, p[0].cast(), p[1].cast())
        )),
        probe!(C_DecryptInit, [Required], |fx, p| call!(C_DecryptInit(
            fx.session,
            p[0].cast(),
            fx.key
        ))),
        probe!(C_Decrypt, [Required, Length, Required], |fx, p| call!(
            C_Decrypt(fx.session, p[0].cast(), 16, p[1].cast(), p[2].cast())
        )),
        probe!(
            C_DecryptUpdate,
            [Required, Length, Required],
            |fx, p| call!(C_DecryptUpdate(
                fx.session,
                p[0].cast(),
                16,
                p[1].cast(),
                p[2].cast()
            ))
        ),
        probe!(C_DecryptFinal, [Length, Required], |fx, p| call!(
            C_DecryptFinal(fx.session, p[0].cast(), p[1].cast())
        )),
        probe!(C_DigestInit, [Required], |fx, p| call!(C_DigestInit(
            fx.session,
            p[0].cast()
        ))),
        probe!(C_Digest, [Required, Length, Required], |fx, p| call!(
            C_Digest(fx.session, p[0].cast(), 16, p[1].cast(), p[2].cast())
        )),
        probe!(C_DigestUpdate, [Required], |fx, p| call!(C_DigestUpdate(
            fx.session,
            p[0].cast(),
            16
        ))),
        probe!(C_DigestKey, [], |fx, p| call!(C_DigestKey(
            fx.session, fx.key
        ))),
        probe!(C_DigestFinal, [Length, Required], |fx, p| call!(
            C_DigestFinal(fx.session, p[0].cast(), p[1].cast())
        )),
        probe!(C_SignInit, [Required], |fx, p| call!(C_SignInit(
            fx.session,
            p[0].cast(),
            fx.key
        ))),
        probe!(C_Sign, [Required, Length, Required], |fx, p| call!(C_Sign(
            fx.session,
            p[0].cast(),
            16,
            p[1].cast(),
            p[2].cast()
        ))),
        probe!(C_SignUpdate, [Required], |fx, p| call!(C_SignUpdate(
            fx.session,
            p[0].cast(),
            16
        ))),
        probe!(C_SignFinal, [Length, Required], |fx, p| call!(C_SignFinal(
            fx.session,
            p[0].cast(),
            p[1].cast()
        ))),
        probe!(C_SignRecoverInit, [Required], |fx, p| call!(
            C_SignRecoverInit(fx.session, p[0].cast(), fx.key)
        )),
        probe!(C_SignRecover, [Required, Length, Required], |fx, p| call!(
            C_SignRecover(fx.session, p[0].cast(), 16, p[1].cast(), p[2].cast())
        )),
        probe!(C_VerifyInit, [Required], |fx, p| call!(C_VerifyInit(
            fx.session,
            p[0].cast(),
            fx.key
        ))),
        probe!(C_Verify, [Required, Required], |fx, p| call!(C_Verify(
            fx.session,
            p[0].cast(),
            16,
            p[1].cast(),
            16
        ))),
        probe!(C_VerifyUpdate, [Required], |fx, p| call!(C_VerifyUpdate(
            fx.session,
            p[0].cast(),
            16
        ))),
        probe!(C_VerifyFinal, [Required], |fx, p| call!(C_VerifyFinal(
            fx.session,
            p[0].cast(),
            16
        ))),
        probe!(C_VerifyRecoverInit, [Required], |fx, p| call!(
            C_VerifyRecoverInit(fx.session, p[0].cast(), fx.key)
        )),
        probe!(
            C_VerifyRecover,
            [Required, Length, Required],
            |fx, p| call!(C_VerifyRecover(
                fx.session,
                p[0].cast(),
                16,
                p[1].cast(),
                p[2].cast()
            ))
        ),
        probe!(
            C_DigestEncryptUpdate,
            [Required, Length, Required],
            |fx, p| call!(C_DigestEncryptUpdate(
                fx.session,
                p[0].cast(),
                16,
                p[1].cast(),
                p[2].cast()
            ))
        ),
        probe!(
            C_DecryptDigestUpdate,
            [Required, Length, Required],
            |fx, p| call!(C_DecryptDigestUpdate(
                fx.session,
                p[0].cast(),
                16,
                p[1].cast(),
                p[2].cast()
            ))
        ),
        probe!(
            C_SignEncryptUpdate,
            [Required, Length, Required],
            |fx, p| call!(C_SignEncryptUpdate(
                fx.session,
                p[0].cast(),
                16,
                p[1].cast(),
                p[2].cast()
            ))
        ),
        probe!(
            C_DecryptVerifyUpdate,
            [Required, Length, Required],
            |fx, p| call!(C_DecryptVerifyUpdate(
                fx.session,
                p[0].cast(),
                16,
                p[1].cast(),
                p[2].cast()
            ))
        ),
        probe!(
            C_GenerateKey,
            [Required, Required, Required],
            |fx, p| call!(C_GenerateKey(
                fx.session,
                p[0].cast(),
                p[1].cast(),
                1,
                p[2].cast()
            ))
        ),
        probe!(
            C_GenerateKeyPair,
            [Required, Required, Required, Required, Required],
            |fx, p| call!(C_GenerateKeyPair(
                fx.session,
                p[0].cast(),
                p[1].cast(),
                1,
                p[2].cast(),
                1,
                p[3].cast(),
                p[4].cast()
            ))
        ),
        probe!(C_WrapKey, [Required, Length, Required], |fx, p| call!(
            C_WrapKey(
                fx.session,
                p[0].cast(),
                fx.key,
                fx.key,
                p[1].cast(),
                p[2].cast()
            )
        )),
        probe!(
            C_UnwrapKey,
            [Required, Required, Required, Required],
            |fx, p| call!(C_UnwrapKey(
                fx.session,
                p[0].cast(),
                fx.key,
                p[1].cast(),
                16,
                p[2].cast(),
                1,
                p[3].cast()
            ))
        ),
        probe!(C_DeriveKey, [Required, Required, Required], |fx, p| call!(
            C_DeriveKey(fx.session, p[0].cast(), fx.key, p[1].cast(), 1, p[2].cast())
        )),
        probe!(C_SeedRandom, [Required], |fx, p| call!(C_SeedRandom(
            fx.session,
            p[0].cast(),
            16
        ))),
        probe!(C_GenerateRandom, [Required], |fx, p| call!(
            C_GenerateRandom(fx.session, p[0].cast(), 16)
        )),
        probe!(C_GetFunctionStatus, [], |fx, p| call!(C_GetFunctionStatus(
            fx.session
        ))),
        probe!(C_CancelFunction, [], |fx, p| call!(C_CancelFunction(
            fx.session
        ))),
        probe!(C_WaitForSlotEvent, [Unread, Unread], |fx, p| call!(
            C_WaitForSlotEvent(
                1, // CKF_DONT_BLOCK
                p[0].cast(),
                p[1]
            )
        )),
    ]
}

/// The memory behind each pointer: 1 KiB, aligned for every structure, that reads as a valid
/// `CK_MECHANISM` and `CK_ATTRIBUTE` (type 3, a 4-byte value inside the area) and as a length
/// of 3, so that only the NULL pointer can be what a call refuses.
struct Areas(Vec<[u64; 128]>);

impl Areas {
    fn new(count: usize) -> Self {
        let mut areas = vec![[0u64; 128]; count];
        for area in &mut areas {
            let inner = std::ptr::from_mut(&mut area[64]) as u64;
            area[0] = 3;
            area[1] = inner;
            area[2] = 4;
        }
        Self(areas)
    }

    /// The pointers, with the one at `null` (if any) NULL.
    fn pointers(&mut self, null: Option<usize>) -> Vec<*mut c_void> {
        self.0
            .iter_mut()
            .enumerate()
            .map(|(i, area)| {
                if Some(i) == null {
                    null_mut()
                } else {
                    area.as_mut_ptr().cast()
                }
            })
            .collect()
    }
}

/// The calls of `probe` (all pointers valid, and each NULL in turn) that do not give
/// `expected`.
fn not_giving(probe: &Probe, fixture: &Fixture, expected: CK_RV) -> Vec<String> {
    let mut wrong = Vec::new();
    for null in std::iter::once(None).chain((0..probe.pointers.len()).map(Some)) {
        let mut areas = Areas::new(probe.pointers.len());
        let rv = (probe.call)(fixture, &areas.pointers(null));
        if rv != expected {
            wrong.push(format!(
                "{} with pointer {null:?} NULL: 0x{rv:X}",
                probe.name
            ));
        }
    }
    wrong
}

scenario!(
    every_function_with_each_pointer_null_before_during_and_after_initialize,
    scenario_null_matrix,
    {
        let probes = probes();
        // The list has 68 functions: these and C_Initialize, C_Finalize.
        assert_eq!(probes.len() + 2, 68);
        let mut names: Vec<_> = probes.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), probes.len(), "each function once");

        let stale = Fixture {
            slot: 0,
            session: 1,
            key: 1,
        };
        let before: Vec<String> = probes
            .iter()
            .filter(|p| p.name != "C_GetFunctionList")
            .flat_map(|p| not_giving(p, &stale, CKR_CRYPTOKI_NOT_INITIALIZED))
            .collect();
        assert!(before.is_empty(), "before C_Initialize: {before:#?}");
        let mut reserved = 0u64;
        assert_eq!(
            call!(C_Finalize(std::ptr::from_mut(&mut reserved).cast())),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );

        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        // C_Finalize's one pointer must be NULL; C_Initialize's may be.
        assert_eq!(
            call!(C_Finalize(std::ptr::from_mut(&mut reserved).cast())),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(C_Initialize(null_mut())),
            CKR_CRYPTOKI_ALREADY_INITIALIZED
        );
        let mut session = 0;
        assert_eq!(
            call!(C_OpenSession(
                0,
                CKF_SERIAL_SESSION | CKF_RW_SESSION,
                null_mut(),
                None,
                &mut session
            )),
            CKR_OK
        );
        let pin = common::CO_PIN;
        assert_eq!(
            call!(C_Login(
                session,
                CKU_USER,
                pin.as_ptr().cast_mut(),
                pin.len() as CK_ULONG
            )),
            CKR_OK
        );
        let mut len: CK_ULONG = 16;
        let mut template = [CK_ATTRIBUTE {
            type_: CKA_VALUE_LEN,
            pValue: std::ptr::from_mut(&mut len).cast(),
            ulValueLen: size_of::<CK_ULONG>() as CK_ULONG,
        }];
        let mut keygen = CK_MECHANISM {
            mechanism: CKM_AES_KEY_GEN,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        let mut key = 0;
        assert_eq!(
            call!(C_GenerateKey(
                session,
                &mut keygen,
                template.as_mut_ptr(),
                1,
                &mut key
            )),
            CKR_OK
        );
        let fixture = Fixture {
            slot: 0,
            session,
            key,
        };
        let mut calls = 0;
        let mut wrong = Vec::new();
        for probe in &probes {
            for (position, kind) in probe.pointers.iter().enumerate() {
                let mut areas = Areas::new(probe.pointers.len());
                let rv = (probe.call)(&fixture, &areas.pointers(Some(position)));
                calls += 1;
                let right = rv != CKR_GENERAL_ERROR
                    && match kind {
                        Required => rv == CKR_ARGUMENTS_BAD,
                        Length | Unread => rv != CKR_ARGUMENTS_BAD,
                    };
                if !right {
                    wrong.push(format!(
                        "{} with pointer {position} ({kind:?}) NULL: 0x{rv:X}",
                        probe.name
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "while initialized: {wrong:#?}");
        assert!(calls > 100, "{calls} calls");
        // The fixture survived: nothing a NULL was given to changed the session or the key.
        let mut info = [0u64; 8];
        assert_eq!(
            call!(C_GetSessionInfo(session, info.as_mut_ptr().cast())),
            CKR_OK
        );

        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
        let after: Vec<String> = probes
            .iter()
            .filter(|p| p.name != "C_GetFunctionList")
            .flat_map(|p| not_giving(p, &fixture, CKR_CRYPTOKI_NOT_INITIALIZED))
            .collect();
        assert!(after.is_empty(), "after C_Finalize: {after:#?}");
        // C_GetFunctionList works whenever, and only its NULL is refused.
        let mut list: *mut CK_FUNCTION_LIST = null_mut();
        assert_eq!(call!(C_GetFunctionList(&mut list)), CKR_OK);
        assert!(!list.is_null());
        assert_eq!(call!(C_GetFunctionList(null_mut())), CKR_ARGUMENTS_BAD);
    }
);
