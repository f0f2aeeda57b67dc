//! The NULL matrix, generated over the whole function list: every one of the 68 functions of
//! `CK_FUNCTION_LIST` is described once by its pointer arguments, and the driver calls it with
//! each pointer NULL in turn (the others valid), before `C_Initialize`, after it, and after
//! `C_Finalize`. Before and after, every call is `CKR_CRYPTOKI_NOT_INITIALIZED`, whatever its
//! pointers. While initialized, a NULL required pointer is `CKR_ARGUMENTS_BAD`; a NULL output
//! buffer is a length query (never `CKR_ARGUMENTS_BAD`); the functions this module does not
//! implement read no pointer. No call may crash or give `CKR_GENERAL_ERROR` (a caught panic).
//!
//! The short half: every function with an output buffer (each `Length` pointer of the table) is
//! driven through a real operation with the buffer NULL, one unit short, empty and exact. The
//! NULL and short calls report the exact length (a NULL decryption query may answer a bound at
//! most a block above it) and leave the operation active; the exact call
//! gives what one call with ample room gives, and then a single-part or final call has ended
//! its operation.
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

/// The 16 bytes every short-buffer call takes as its input.
const DATA: &[u8; 16] = b"sixteen bytes in";
const IV: [u8; 16] = [7; 16];

fn mech(kind: CK_MECHANISM_TYPE, param: &[u8]) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: kind,
        pParameter: if param.is_empty() {
            null_mut()
        } else {
            param.as_ptr().cast_mut().cast()
        },
        ulParameterLen: param.len() as CK_ULONG,
    }
}

fn ok(rv: CK_RV, what: &str) {
    assert_eq!(rv, CKR_OK, "{what}: 0x{rv:X}");
}

fn open_rw() -> CK_SESSION_HANDLE {
    let mut session = 0;
    ok(
        call!(C_OpenSession(
            0,
            CKF_SERIAL_SESSION | CKF_RW_SESSION,
            null_mut(),
            None,
            &mut session
        )),
        "C_OpenSession",
    );
    session
}

/// A template of `(type, value)` pairs, the values in the caller's byte order.
fn template(attrs: &mut [(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Vec<CK_ATTRIBUTE> {
    attrs
        .iter_mut()
        .map(|(kind, value)| CK_ATTRIBUTE {
            type_: *kind,
            pValue: value.as_mut_ptr().cast(),
            ulValueLen: value.len() as CK_ULONG,
        })
        .collect()
}

fn ulong(value: CK_ULONG) -> Vec<u8> {
    value.to_ne_bytes().to_vec()
}

fn secret(
    session: CK_SESSION_HANDLE,
    keygen: CK_MECHANISM_TYPE,
    extractable: bool,
) -> CK_OBJECT_HANDLE {
    let mut attrs = [
        (CKA_VALUE_LEN, ulong(32)),
        (CKA_EXTRACTABLE, vec![u8::from(extractable)]),
    ];
    let mut template = template(&mut attrs);
    let mut keygen = mech(keygen, &[]);
    let mut key = 0;
    ok(
        call!(C_GenerateKey(
            session,
            &mut keygen,
            template.as_mut_ptr(),
            template.len() as CK_ULONG,
            &mut key
        )),
        "C_GenerateKey",
    );
    key
}

/// The keys and inputs of the short-buffer calls: session objects of a session kept open.
struct Keys {
    aes: CK_OBJECT_HANDLE,
    wrapped: CK_OBJECT_HANDLE,
    hmac: CK_OBJECT_HANDLE,
    rsa_public: CK_OBJECT_HANDLE,
    rsa_private: CK_OBJECT_HANDLE,
    /// `DATA` under AES-ECB.
    ecb: Vec<u8>,
    /// `DATA[..5]` under AES-CBC-PAD with `IV`: one block.
    cbc_pad: Vec<u8>,
    /// `DATA` signed with recovery (RSA PKCS #1 v1.5).
    recoverable: Vec<u8>,
    /// The HMAC-SHA256 of `DATA` under `hmac`.
    tag: Vec<u8>,
}

type Setup = fn(&Keys, CK_SESSION_HANDLE);
type Fill = fn(&Keys, CK_SESSION_HANDLE, *mut u8, *mut CK_ULONG) -> CK_RV;
type Finish = fn(&Keys, CK_SESSION_HANDLE) -> Vec<u8>;

/// One function with an output buffer: the operation it needs, the call, the buffer's unit
/// (bytes, or `CK_ULONG`s for the lists), whether the call ends its operation, and for a
/// dual-function call how its other half (digest, signing, verification) is finished: what
/// that gives after the exact call must be what it gives after one ample call, so the
/// length query and the short calls before gave it nothing.
struct Output {
    name: &'static str,
    setup: Setup,
    fill: Fill,
    unit: usize,
    ends: bool,
    other_half: Option<Finish>,
}

impl Output {
    /// A decryption's NULL query may answer an upper bound, at most a block more than the
    /// plaintext (PKCS#11 5.2, README "Output buffers"); a short buffer learns the exact length.
    fn bounded(&self) -> bool {
        self.name.starts_with("C_Decrypt")
    }
}

fn encrypt_init(k: &Keys, s: CK_SESSION_HANDLE, kind: CK_MECHANISM_TYPE, param: &[u8]) {
    let mut m = mech(kind, param);
    ok(call!(C_EncryptInit(s, &mut m, k.aes)), "C_EncryptInit");
}

fn decrypt_init(k: &Keys, s: CK_SESSION_HANDLE, kind: CK_MECHANISM_TYPE, param: &[u8]) {
    let mut m = mech(kind, param);
    ok(call!(C_DecryptInit(s, &mut m, k.aes)), "C_DecryptInit");
}

fn digest_init(s: CK_SESSION_HANDLE) {
    let mut m = mech(CKM_SHA256, &[]);
    ok(call!(C_DigestInit(s, &mut m)), "C_DigestInit");
}

fn hmac_init(k: &Keys, s: CK_SESSION_HANDLE, verify: bool) {
    let mut m = mech(CKM_SHA256_HMAC, &[]);
    if verify {
        ok(call!(C_VerifyInit(s, &mut m, k.hmac)), "C_VerifyInit");
    } else {
        ok(call!(C_SignInit(s, &mut m, k.hmac)), "C_SignInit");
    }
}

fn input(data: &[u8]) -> (*mut u8, CK_ULONG) {
    (data.as_ptr().cast_mut(), data.len() as CK_ULONG)
}

/// Every function whose table entry has a `Length` pointer, once.
fn outputs() -> Vec<Output> {
    macro_rules! output {
        ($name:ident, $unit:expr, $ends:expr, |$k:ident, $s:ident| $setup:expr, |$o:ident, $l:ident| $fill:expr) => {
            Output {
                name: stringify!($name),
                setup: |$k: &Keys, $s: CK_SESSION_HANDLE| {
                    let _ = ($k, $s);
                    $setup
                },
                fill: |$k: &Keys, $s: CK_SESSION_HANDLE, $o: *mut u8, $l: *mut CK_ULONG| {
                    let _ = ($k, $s);
                    $fill
                },
                unit: $unit,
                ends: $ends,
                other_half: None,
            }
        };
        ($name:ident, $unit:expr, $ends:expr, |$k:ident, $s:ident| $setup:expr, |$o:ident, $l:ident| $fill:expr, then $finish:expr) => {
            Output {
                other_half: Some($finish),
                ..output!($name, $unit, $ends, |$k, $s| $setup, |$o, $l| $fill)
            }
        };
    }
    let ulong = size_of::<CK_ULONG>();
    vec![
        output!(C_GetSlotList, ulong, false, |k, s| (), |o, l| call!(
            C_GetSlotList(0, o.cast(), l)
        )),
        output!(C_GetMechanismList, ulong, false, |k, s| (), |o, l| call!(
            C_GetMechanismList(0, o.cast(), l)
        )),
        output!(
            C_Encrypt,
            1,
            true,
            |k, s| encrypt_init(k, s, CKM_AES_ECB, &[]),
            |o, l| {
                let (d, n) = input(DATA);
                call!(C_Encrypt(s, d, n, o, l))
            }
        ),
        output!(
            C_EncryptUpdate,
            1,
            false,
            |k, s| encrypt_init(k, s, CKM_AES_ECB, &[]),
            |o, l| {
                let (d, n) = input(DATA);
                call!(C_EncryptUpdate(s, d, n, o, l))
            }
        ),
        output!(
            C_EncryptFinal,
            1,
            true,
            |k, s| {
                encrypt_init(k, s, CKM_AES_CBC_PAD, &IV);
                let (d, _) = input(DATA);
                let (mut out, mut len) = ([0u8; 64], 64);
                ok(
                    call!(C_EncryptUpdate(s, d, 5, out.as_mut_ptr(), &mut len)),
                    "C_EncryptUpdate",
                );
            },
            |o, l| call!(C_EncryptFinal(s, o, l))
        ),
        output!(
            C_Decrypt,
            1,
            true,
            |k, s| decrypt_init(k, s, CKM_AES_ECB, &[]),
            |o, l| {
                let (d, n) = input(&k.ecb);
                call!(C_Decrypt(s, d, n, o, l))
            }
        ),
        output!(
            C_DecryptUpdate,
            1,
            false,
            |k, s| decrypt_init(k, s, CKM_AES_ECB, &[]),
            |o, l| {
                let (d, n) = input(&k.ecb);
                call!(C_DecryptUpdate(s, d, n, o, l))
            }
        ),
        output!(
            C_DecryptFinal,
            1,
            true,
            |k, s| {
                decrypt_init(k, s, CKM_AES_CBC_PAD, &IV);
                let (d, n) = input(&k.cbc_pad);
                let (mut out, mut len) = ([0u8; 64], 64);
                ok(
                    call!(C_DecryptUpdate(s, d, n, out.as_mut_ptr(), &mut len)),
                    "C_DecryptUpdate",
                );
                // CBC-PAD holds its last block back for the final call.
                assert_eq!(len, 0, "the one block is held back");
            },
            |o, l| call!(C_DecryptFinal(s, o, l))
        ),
        output!(C_Digest, 1, true, |k, s| digest_init(s), |o, l| {
            let (d, n) = input(DATA);
            call!(C_Digest(s, d, n, o, l))
        }),
        output!(
            C_DigestFinal,
            1,
            true,
            |k, s| {
                digest_init(s);
                let (d, n) = input(DATA);
                ok(call!(C_DigestUpdate(s, d, n)), "C_DigestUpdate");
            },
            |o, l| call!(C_DigestFinal(s, o, l))
        ),
        output!(C_Sign, 1, true, |k, s| hmac_init(k, s, false), |o, l| {
            let (d, n) = input(DATA);
            call!(C_Sign(s, d, n, o, l))
        }),
        output!(
            C_SignFinal,
            1,
            true,
            |k, s| {
                hmac_init(k, s, false);
                let (d, n) = input(DATA);
                ok(call!(C_SignUpdate(s, d, n)), "C_SignUpdate");
            },
            |o, l| call!(C_SignFinal(s, o, l))
        ),
        output!(
            C_SignRecover,
            1,
            true,
            |k, s| {
                let mut m = mech(CKM_RSA_PKCS, &[]);
                ok(
                    call!(C_SignRecoverInit(s, &mut m, k.rsa_private)),
                    "C_SignRecoverInit",
                );
            },
            |o, l| {
                let (d, n) = input(DATA);
                call!(C_SignRecover(s, d, n, o, l))
            }
        ),
        output!(
            C_VerifyRecover,
            1,
            true,
            |k, s| {
                let mut m = mech(CKM_RSA_PKCS, &[]);
                ok(
                    call!(C_VerifyRecoverInit(s, &mut m, k.rsa_public)),
                    "C_VerifyRecoverInit",
                );
            },
            |o, l| {
                let (d, n) = input(&k.recoverable);
                call!(C_VerifyRecover(s, d, n, o, l))
            }
        ),
        output!(
            C_DigestEncryptUpdate,
            1,
            false,
            |k, s| {
                digest_init(s);
                encrypt_init(k, s, CKM_AES_ECB, &[]);
            },
            |o, l| {
                let (d, n) = input(DATA);
                call!(C_DigestEncryptUpdate(s, d, n, o, l))
            },
            then digest_final
        ),
        output!(
            C_DecryptDigestUpdate,
            1,
            false,
            |k, s| {
                digest_init(s);
                decrypt_init(k, s, CKM_AES_ECB, &[]);
            },
            |o, l| {
                let (d, n) = input(&k.ecb);
                call!(C_DecryptDigestUpdate(s, d, n, o, l))
            },
            then digest_final
        ),
        output!(
            C_SignEncryptUpdate,
            1,
            false,
            |k, s| {
                hmac_init(k, s, false);
                encrypt_init(k, s, CKM_AES_ECB, &[]);
            },
            |o, l| {
                let (d, n) = input(DATA);
                call!(C_SignEncryptUpdate(s, d, n, o, l))
            },
            then sign_final
        ),
        output!(
            C_DecryptVerifyUpdate,
            1,
            false,
            |k, s| {
                hmac_init(k, s, true);
                decrypt_init(k, s, CKM_AES_ECB, &[]);
            },
            |o, l| {
                let (d, n) = input(&k.ecb);
                call!(C_DecryptVerifyUpdate(s, d, n, o, l))
            },
            then verify_final
        ),
        output!(C_WrapKey, 1, false, |k, s| (), |o, l| {
            let mut m = mech(CKM_AES_KEY_WRAP, &[]);
            call!(C_WrapKey(s, &mut m, k.aes, k.wrapped, o, l))
        }),
    ]
}

/// The other half of a dual call finished: the digest.
fn digest_final(_: &Keys, s: CK_SESSION_HANDLE) -> Vec<u8> {
    let mut out = [0u8; 32];
    let mut len: CK_ULONG = 32;
    ok(
        call!(C_DigestFinal(s, out.as_mut_ptr(), &mut len)),
        "C_DigestFinal",
    );
    out[..len as usize].to_vec()
}

/// The other half of a dual call finished: the signature.
fn sign_final(_: &Keys, s: CK_SESSION_HANDLE) -> Vec<u8> {
    let mut out = [0u8; 64];
    let mut len: CK_ULONG = 64;
    ok(
        call!(C_SignFinal(s, out.as_mut_ptr(), &mut len)),
        "C_SignFinal",
    );
    out[..len as usize].to_vec()
}

/// The other half of a dual call finished: the verification of `DATA`'s tag, as its return
/// value.
fn verify_final(k: &Keys, s: CK_SESSION_HANDLE) -> Vec<u8> {
    let (tag, len) = input(&k.tag);
    call!(C_VerifyFinal(s, tag, len)).to_ne_bytes().to_vec()
}

/// One call with ample room in a fresh session: what the exact-length call must give.
fn ample(keys: &Keys, output: &Output) -> Vec<u8> {
    reference(keys, output).0
}

/// One call with ample room in a fresh session, and what its other half then finishes with.
fn reference(keys: &Keys, output: &Output) -> (Vec<u8>, Option<Vec<u8>>) {
    let session = open_rw();
    (output.setup)(keys, session);
    let mut buffer = vec![0u64; 512];
    let mut len = (buffer.len() * 8 / output.unit) as CK_ULONG;
    ok(
        (output.fill)(keys, session, buffer.as_mut_ptr().cast(), &mut len),
        output.name,
    );
    let finished = output.other_half.map(|finish| finish(keys, session));
    ok(call!(C_CloseSession(session)), "C_CloseSession");
    let bytes: Vec<u8> = buffer.iter().flat_map(|w| w.to_ne_bytes()).collect();
    (bytes[..len as usize * output.unit].to_vec(), finished)
}

/// Drives `output` through NULL, one unit short, empty and exact; the departures from the
/// rules, if any.
fn short_calls(keys: &Keys, output: &Output) -> Vec<String> {
    let (reference, finished) = reference(keys, output);
    let needed = (reference.len() / output.unit) as CK_ULONG;
    let name = output.name;
    let mut wrong = Vec::new();
    if needed == 0 {
        return vec![format!("{name}: the call gives nothing to be short of")];
    }
    let session = open_rw();
    (output.setup)(keys, session);
    let mut buffer = vec![0u64; 512];
    let out: *mut u8 = buffer.as_mut_ptr().cast();
    let mut len: CK_ULONG = 0;
    let rv = (output.fill)(keys, session, null_mut(), &mut len);
    let answered = if output.bounded() {
        (needed..=needed + 16).contains(&len)
    } else {
        len == needed
    };
    if rv != CKR_OK || !answered {
        wrong.push(format!(
            "{name} NULL: 0x{rv:X}, length {len} (needs {needed})"
        ));
    }
    for room in [needed - 1, 0] {
        let mut len = room;
        let rv = (output.fill)(keys, session, out, &mut len);
        if rv != CKR_BUFFER_TOO_SMALL || len != needed {
            wrong.push(format!(
                "{name} with room for {room}: 0x{rv:X}, length {len} (needs {needed})"
            ));
        }
    }
    let mut len = needed;
    let rv = (output.fill)(keys, session, out, &mut len);
    let bytes: Vec<u8> = buffer.iter().flat_map(|w| w.to_ne_bytes()).collect();
    if rv != CKR_OK || len != needed || bytes[..reference.len()] != reference[..] {
        wrong.push(format!(
            "{name} exact: 0x{rv:X}, length {len}, the same output: {}",
            bytes[..reference.len()] == reference[..]
        ));
    }
    if output.ends {
        let mut len = needed;
        let rv = (output.fill)(keys, session, out, &mut len);
        if rv != CKR_OPERATION_NOT_INITIALIZED {
            wrong.push(format!("{name} after the exact call: 0x{rv:X}"));
        }
    }
    if let Some(finish) = output.other_half {
        let found = finish(keys, session);
        if Some(&found) != finished.as_ref() {
            wrong.push(format!(
                "{name}: its other half finished with {found:02X?}, not {finished:02X?}"
            ));
        }
    }
    ok(call!(C_CloseSession(session)), "C_CloseSession");
    wrong
}

scenario!(
    every_output_buffer_null_short_empty_and_exact,
    scenario_short_matrix,
    {
        let outputs = outputs();
        let mut buffered: Vec<_> = probes()
            .iter()
            .filter(|p| p.pointers.contains(&Length))
            .map(|p| p.name)
            .collect();
        let mut names: Vec<_> = outputs.iter().map(|o| o.name).collect();
        buffered.sort_unstable();
        names.sort_unstable();
        assert_eq!(names, buffered, "one short-buffer entry per output buffer");

        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let keeper = open_rw();
        let pin = common::CO_PIN;
        ok(
            call!(C_Login(
                keeper,
                CKU_USER,
                pin.as_ptr().cast_mut(),
                pin.len() as CK_ULONG
            )),
            "C_Login",
        );
        let aes = secret(keeper, CKM_AES_KEY_GEN, false);
        let wrapped = secret(keeper, CKM_AES_KEY_GEN, true);
        let hmac = secret(keeper, CKM_GENERIC_SECRET_KEY_GEN, false);
        let mut public = [(CKA_MODULUS_BITS, ulong(1024))];
        let mut public = template(&mut public);
        let mut keygen = mech(CKM_RSA_PKCS_KEY_PAIR_GEN, &[]);
        let (mut rsa_public, mut rsa_private) = (0, 0);
        ok(
            call!(C_GenerateKeyPair(
                keeper,
                &mut keygen,
                public.as_mut_ptr(),
                1,
                null_mut(),
                0,
                &mut rsa_public,
                &mut rsa_private
            )),
            "C_GenerateKeyPair",
        );
        let mut keys = Keys {
            aes,
            wrapped,
            hmac,
            rsa_public,
            rsa_private,
            ecb: Vec::new(),
            cbc_pad: Vec::new(),
            recoverable: Vec::new(),
            tag: Vec::new(),
        };
        let by_name = |name: &str| outputs.iter().find(|o| o.name == name).unwrap();
        keys.ecb = ample(&keys, by_name("C_Encrypt"));
        keys.cbc_pad = ample(&keys, by_name("C_EncryptFinal"));
        keys.recoverable = ample(&keys, by_name("C_SignRecover"));
        keys.tag = ample(&keys, by_name("C_SignFinal"));
        assert_eq!(keys.ecb.len(), 16);
        assert_eq!(keys.cbc_pad.len(), 16);
        assert_eq!(keys.recoverable.len(), 128);
        // The reference calls agree with each other: what was encrypted decrypts, what was
        // signed is recovered.
        assert_eq!(ample(&keys, by_name("C_Decrypt")), DATA);
        assert_eq!(ample(&keys, by_name("C_DecryptFinal")), DATA[..5]);
        assert_eq!(ample(&keys, by_name("C_VerifyRecover")), DATA);
        // The dual calls' other halves: the reference finishes as the plain calls do (the
        // verification accepts `DATA`'s tag), so a departure below is the short calls' doing.
        let scratch = open_rw();
        digest_init(scratch);
        let (d, n) = input(DATA);
        let mut digest = [0u8; 32];
        let mut digest_len: CK_ULONG = 32;
        ok(
            call!(C_Digest(
                scratch,
                d,
                n,
                digest.as_mut_ptr(),
                &mut digest_len
            )),
            "C_Digest",
        );
        ok(call!(C_CloseSession(scratch)), "C_CloseSession");
        for name in ["C_DigestEncryptUpdate", "C_DecryptDigestUpdate"] {
            assert_eq!(
                reference(&keys, by_name(name)).1,
                Some(digest.to_vec()),
                "{name}"
            );
        }
        assert_eq!(
            reference(&keys, by_name("C_SignEncryptUpdate")).1,
            Some(keys.tag.clone())
        );
        assert_eq!(
            reference(&keys, by_name("C_DecryptVerifyUpdate")).1,
            Some(CKR_OK.to_ne_bytes().to_vec())
        );

        let wrong: Vec<String> = outputs.iter().flat_map(|o| short_calls(&keys, o)).collect();
        assert!(wrong.is_empty(), "{wrong:#?}");

        // An attribute value's buffer: short is CKR_BUFFER_TOO_SMALL with that one length
        // unavailable, exact reads it.
        let mut label = [0u8; 64];
        let mut attr = [CK_ATTRIBUTE {
            type_: CKA_VALUE_LEN,
            pValue: label.as_mut_ptr().cast(),
            ulValueLen: size_of::<CK_ULONG>() as CK_ULONG - 1,
        }];
        assert_eq!(
            call!(C_GetAttributeValue(keeper, keys.aes, attr.as_mut_ptr(), 1)),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(attr[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        attr[0].ulValueLen = size_of::<CK_ULONG>() as CK_ULONG;
        ok(
            call!(C_GetAttributeValue(keeper, keys.aes, attr.as_mut_ptr(), 1)),
            "C_GetAttributeValue",
        );
        assert_eq!(label[..8], ulong(32)[..]);
        ok(call!(C_Finalize(null_mut())), "C_Finalize");
    }
);
