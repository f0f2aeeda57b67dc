//! The argument matrix, through the exported functions of the rlib: NULL pointers, short
//! buffers and length queries, invalid session and object handles, wrong user types, calls
//! before `C_Initialize` and after `C_Finalize`, the `C_GetAttributeValue` rules, and
//! concurrent calls. Each gives its PKCS#11 code and never a crash.
//!
//! The library state is per process: each scenario runs in its own child process (the
//! ignored `scenario_*` tests) with its own `LUNA_SIM_HOME`.
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
use std::ptr::{null, null_mut};

use cpv4_wire::consts::*;
use luna_ffi::ck::CK_TRUE;
use luna_ffi::types::*;
use luna_ffi::*;

fn ulong_bytes(value: &mut CK_ULONG) -> (*mut c_void, CK_ULONG) {
    (
        std::ptr::from_mut(value).cast(),
        size_of::<CK_ULONG>() as CK_ULONG,
    )
}

fn attribute(kind: CK_ATTRIBUTE_TYPE, value: *mut c_void, len: usize) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: kind,
        pValue: value,
        ulValueLen: len as CK_ULONG,
    }
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

fn login(session: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &str) -> CK_RV {
    call!(C_Login(
        session,
        user,
        pin.as_ptr().cast_mut(),
        pin.len() as CK_ULONG
    ))
}

fn mechanism(kind: CK_MECHANISM_TYPE, param: *mut c_void, len: usize) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: kind,
        pParameter: param,
        ulParameterLen: len as CK_ULONG,
    }
}

fn aes_key(session: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
    let mut len: CK_ULONG = 32;
    let (value, size) = ulong_bytes(&mut len);
    let mut template = [
        CK_ATTRIBUTE {
            type_: CKA_VALUE_LEN,
            pValue: value,
            ulValueLen: size,
        },
        attribute(CKA_LABEL, b"matrix".as_ptr().cast_mut().cast(), 6),
    ];
    let mut keygen = mechanism(CKM_AES_KEY_GEN, null_mut(), 0);
    let mut key = 0;
    assert_eq!(
        call!(C_GenerateKey(
            session,
            &mut keygen,
            template.as_mut_ptr(),
            2,
            &mut key
        )),
        CKR_OK
    );
    key
}

fn ec_pair(session: CK_SESSION_HANDLE) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let mut params = luna_sim::P256_EC_PARAMS;
    let mut public = [attribute(
        CKA_EC_PARAMS,
        params.as_mut_ptr().cast(),
        params.len(),
    )];
    let mut keygen = mechanism(CKM_EC_KEY_PAIR_GEN, null_mut(), 0);
    let (mut public_key, mut private_key) = (0, 0);
    let rv = call!(C_GenerateKeyPair(
        session,
        &mut keygen,
        public.as_mut_ptr(),
        1,
        null_mut(),
        0,
        &mut public_key,
        &mut private_key
    ));
    assert_eq!(rv, CKR_OK);
    (public_key, private_key)
}

scenario!(
    calls_before_initialize_and_after_finalize,
    scenario_lifecycle,
    {
        let mut info = std::mem::MaybeUninit::<CK_INFO>::uninit();
        let mut count: CK_ULONG = 0;
        let mut session = 0;
        assert_eq!(
            call!(C_GetInfo(info.as_mut_ptr())),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(
            call!(C_GetSlotList(CK_TRUE, null_mut(), &mut count)),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(
            call!(C_OpenSession(
                0,
                CKF_SERIAL_SESSION,
                null_mut(),
                None,
                &mut session
            )),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(
            call!(C_Login(1, CKU_USER, null_mut(), 0)),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(
            call!(C_SeedRandom(1, null_mut(), 0)),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_CRYPTOKI_NOT_INITIALIZED);

        // The function list works before C_Initialize and has every slot filled.
        let mut list: CK_FUNCTION_LIST_PTR = null_mut();
        assert_eq!(call!(C_GetFunctionList(&mut list)), CKR_OK);
        // SAFETY: C_GetFunctionList returned a pointer to the static list.
        let list = unsafe { &*list };
        assert_eq!((list.version.major, list.version.minor), (2, 40));
        // SAFETY: the 68 function pointers follow the 8 bytes of the (padded) version; reading
        // them as addresses reads initialized pointer-sized fields.
        let slots = unsafe {
            std::ptr::from_ref(list)
                .cast::<u8>()
                .add(8)
                .cast::<[usize; 68]>()
                .read()
        };
        assert!(slots.iter().all(|address| *address != 0));
        assert!(list.C_Initialize.is_some() && list.C_WaitForSlotEvent.is_some());

        initialize();
        assert_eq!(
            call!(C_Initialize(null_mut())),
            CKR_CRYPTOKI_ALREADY_INITIALIZED
        );
        assert_eq!(call!(C_GetInfo(info.as_mut_ptr())), CKR_OK);
        // SAFETY: C_GetInfo returned CKR_OK, so it wrote the structure.
        let info = unsafe { info.assume_init() };
        assert_eq!(
            (info.cryptokiVersion.major, info.cryptokiVersion.minor),
            (2, 40)
        );
        // No session is open yet: the session check comes before anything else.
        assert_eq!(
            call!(C_SeedRandom(1, null_mut(), 0)),
            CKR_SESSION_HANDLE_INVALID
        );
        assert_eq!(
            call!(C_GetObjectSize(1, 1, &mut count)),
            CKR_SESSION_HANDLE_INVALID
        );
        let session = open(0);
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
        assert_eq!(call!(C_CloseSession(session)), CKR_CRYPTOKI_NOT_INITIALIZED);
        assert_eq!(
            call!(C_GetSlotList(CK_TRUE, null_mut(), &mut count)),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_CRYPTOKI_NOT_INITIALIZED);
        // A new instance after C_Finalize; the old session is gone.
        initialize();
        let mut session_info = std::mem::MaybeUninit::<CK_SESSION_INFO>::uninit();
        assert_eq!(
            call!(C_GetSessionInfo(session, session_info.as_mut_ptr())),
            CKR_SESSION_HANDLE_INVALID
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

unsafe extern "C" fn create_mutex(mutex: *mut CK_VOID_PTR) -> CK_RV {
    // SAFETY: the library passes a writable location (never called here).
    unsafe { *mutex = null_mut() };
    CKR_OK
}

unsafe extern "C" fn mutex_op(_mutex: CK_VOID_PTR) -> CK_RV {
    CKR_OK
}

scenario!(
    initialize_arguments_are_checked,
    scenario_initialize_args,
    {
        let mut reserved = 0u8;
        let base = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: 0,
            pReserved: null_mut(),
        };
        let with_reserved = CK_C_INITIALIZE_ARGS {
            pReserved: std::ptr::from_mut(&mut reserved).cast(),
            ..base
        };
        let callbacks = CK_C_INITIALIZE_ARGS {
            CreateMutex: Some(create_mutex),
            DestroyMutex: Some(mutex_op),
            LockMutex: Some(mutex_op),
            UnlockMutex: Some(mutex_op),
            ..base
        };
        let some_callbacks = CK_C_INITIALIZE_ARGS {
            LockMutex: None,
            ..callbacks
        };
        let init = |args: &CK_C_INITIALIZE_ARGS| {
            call!(C_Initialize(std::ptr::from_ref(args).cast_mut().cast()))
        };
        assert_eq!(init(&with_reserved), CKR_ARGUMENTS_BAD);
        assert_eq!(init(&callbacks), CKR_CANT_LOCK);
        assert_eq!(init(&some_callbacks), CKR_ARGUMENTS_BAD);
        assert_eq!(
            init(&CK_C_INITIALIZE_ARGS {
                flags: CKF_OS_LOCKING_OK,
                ..callbacks
            }),
            CKR_OK
        );
        assert_eq!(
            call!(C_Finalize(std::ptr::from_mut(&mut reserved).cast())),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
        assert_eq!(
            init(&CK_C_INITIALIZE_ARGS {
                flags: CKF_OS_LOCKING_OK,
                ..base
            }),
            CKR_OK
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(null_pointers_are_arguments_bad, scenario_null_pointers, {
    initialize();
    let session = open(0);
    assert_eq!(login(session, CKU_USER, common::CO_PIN), CKR_OK);
    let key = aes_key(session);
    let mut count: CK_ULONG = 4;
    let mut handle = 0;
    let mut data = [0u8; 16];
    assert_eq!(call!(C_GetFunctionList(null_mut())), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_GetInfo(null_mut())), CKR_ARGUMENTS_BAD);
    assert_eq!(
        call!(C_GetSlotList(CK_TRUE, null_mut(), null_mut())),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(call!(C_GetSlotInfo(0, null_mut())), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_GetTokenInfo(0, null_mut())), CKR_ARGUMENTS_BAD);
    assert_eq!(
        call!(C_GetMechanismList(0, null_mut(), null_mut())),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(C_GetMechanismInfo(0, CKM_AES_GCM, null_mut())),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(C_OpenSession(
            0,
            CKF_SERIAL_SESSION,
            null_mut(),
            None,
            null_mut()
        )),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(C_GetSessionInfo(session, null_mut())),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(C_Login(session, CKU_USER, null_mut(), 6)),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(C_InitToken(0, null_mut(), 6, null_mut())),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(C_CreateObject(session, null_mut(), 2, &mut handle)),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(C_GenerateKey(
            session,
            null_mut(),
            null_mut(),
            0,
            &mut handle
        )),
        CKR_ARGUMENTS_BAD
    );
    let mut keygen = mechanism(CKM_AES_KEY_GEN, null_mut(), 0);
    assert_eq!(
        call!(C_GenerateKey(
            session,
            &mut keygen,
            null_mut(),
            0,
            null_mut()
        )),
        CKR_ARGUMENTS_BAD
    );
    let mut template = [attribute(CKA_LABEL, null_mut(), 5)];
    assert_eq!(
        call!(C_FindObjectsInit(session, template.as_mut_ptr(), 1)),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(call!(C_FindObjectsInit(session, null_mut(), 0)), CKR_OK);
    assert_eq!(
        call!(C_FindObjects(session, null_mut(), 4, &mut count)),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(C_FindObjects(session, &mut handle, 1, null_mut())),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(call!(C_FindObjectsFinal(session)), CKR_OK);
    assert_eq!(
        call!(C_GetAttributeValue(session, key, null_mut(), 1)),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(C_GenerateRandom(session, null_mut(), 16)),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(C_GenerateRandom(session, data.as_mut_ptr(), 16)),
        CKR_OK
    );

    // Mechanism parameters: NULL or of the wrong size.
    assert_eq!(
        call!(C_EncryptInit(session, null_mut(), key)),
        CKR_ARGUMENTS_BAD
    );
    let mut gcm = mechanism(CKM_AES_GCM, null_mut(), 0);
    assert_eq!(
        call!(C_EncryptInit(session, &mut gcm, key)),
        CKR_MECHANISM_PARAM_INVALID
    );
    let mut gcm = mechanism(CKM_AES_GCM, data.as_mut_ptr().cast(), 16);
    assert_eq!(
        call!(C_EncryptInit(session, &mut gcm, key)),
        CKR_MECHANISM_PARAM_INVALID
    );
    let mut cbc = mechanism(CKM_AES_CBC_PAD, data.as_mut_ptr().cast(), 8);
    assert_eq!(
        call!(C_EncryptInit(session, &mut cbc, key)),
        CKR_MECHANISM_PARAM_INVALID
    );
    let mut unknown = mechanism(0x4242, null_mut(), 0);
    assert_eq!(
        call!(C_EncryptInit(session, &mut unknown, key)),
        CKR_MECHANISM_INVALID
    );
    let mut params = CK_GCM_PARAMS {
        pIv: null_mut(),
        ulIvLen: 12,
        ulIvBits: 96,
        pAAD: null_mut(),
        ulAADLen: 0,
        ulTagBits: 128,
    };
    let mut gcm = mechanism(
        CKM_AES_GCM,
        std::ptr::from_mut(&mut params).cast(),
        size_of::<CK_GCM_PARAMS>(),
    );
    assert_eq!(
        call!(C_EncryptInit(session, &mut gcm, key)),
        CKR_MECHANISM_PARAM_INVALID
    );

    // Output length pointers are required.
    let mut cbc = mechanism(CKM_AES_CBC_PAD, data.as_mut_ptr().cast(), 16);
    assert_eq!(call!(C_EncryptInit(session, &mut cbc, key)), CKR_OK);
    assert_eq!(
        call!(C_Encrypt(
            session,
            data.as_mut_ptr(),
            16,
            data.as_mut_ptr(),
            null_mut()
        )),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(C_Encrypt(session, null_mut(), 16, null_mut(), &mut count)),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
});

scenario!(
    length_queries_and_short_buffers_keep_the_operation,
    scenario_buffers,
    {
        initialize();
        let mut count: CK_ULONG = 0;
        assert_eq!(
            call!(C_GetSlotList(CK_TRUE, null_mut(), &mut count)),
            CKR_OK
        );
        assert_eq!(count, 2);
        let mut slots = [0 as CK_SLOT_ID; 2];
        count = 1;
        assert_eq!(
            call!(C_GetSlotList(CK_TRUE, slots.as_mut_ptr(), &mut count)),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(count, 2);
        assert_eq!(
            call!(C_GetSlotList(CK_TRUE, slots.as_mut_ptr(), &mut count)),
            CKR_OK
        );
        assert_eq!(slots, [0, 1]);
        let mut mechanisms = [0 as CK_MECHANISM_TYPE; 64];
        count = 1;
        assert_eq!(
            call!(C_GetMechanismList(0, mechanisms.as_mut_ptr(), &mut count)),
            CKR_BUFFER_TOO_SMALL
        );
        assert!(count > 1);
        assert_eq!(
            call!(C_GetMechanismList(0, mechanisms.as_mut_ptr(), &mut count)),
            CKR_OK
        );
        assert!(mechanisms[..count as usize].contains(&CKM_AES_GCM));

        let session = open(0);
        assert_eq!(login(session, CKU_USER, common::CO_PIN), CKR_OK);
        let key = aes_key(session);

        // AES-GCM single-part encryption: query, short buffer, then the real call.
        let mut iv = [3u8; 12];
        let mut params = CK_GCM_PARAMS {
            pIv: iv.as_mut_ptr(),
            ulIvLen: 12,
            ulIvBits: 96,
            pAAD: null_mut(),
            ulAADLen: 0,
            ulTagBits: 128,
        };
        let mut gcm = mechanism(
            CKM_AES_GCM,
            std::ptr::from_mut(&mut params).cast(),
            size_of::<CK_GCM_PARAMS>(),
        );
        let mut message = *b"twenty bytes of msg!";
        let mut out = [0u8; 64];
        assert_eq!(call!(C_EncryptInit(session, &mut gcm, key)), CKR_OK);
        let mut len: CK_ULONG = 0;
        assert_eq!(
            call!(C_Encrypt(
                session,
                message.as_mut_ptr(),
                20,
                null_mut(),
                &mut len
            )),
            CKR_OK
        );
        assert_eq!(len, 36);
        len = 35;
        assert_eq!(
            call!(C_Encrypt(
                session,
                message.as_mut_ptr(),
                20,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(len, 36);
        len = 64;
        assert_eq!(
            call!(C_Encrypt(
                session,
                message.as_mut_ptr(),
                20,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OK
        );
        assert_eq!(len, 36);
        let mut ciphertext = out;
        assert_eq!(
            call!(C_Encrypt(
                session,
                message.as_mut_ptr(),
                20,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OPERATION_NOT_INITIALIZED
        );

        // The original 40-byte v2.40 CK_GCM_PARAMS gives the same result.
        let mut old = CK_GCM_PARAMS_V240 {
            pIv: iv.as_mut_ptr(),
            ulIvLen: 12,
            pAAD: null_mut(),
            ulAADLen: 0,
            ulTagBits: 128,
        };
        let mut gcm_old = mechanism(
            CKM_AES_GCM,
            std::ptr::from_mut(&mut old).cast(),
            size_of::<CK_GCM_PARAMS_V240>(),
        );
        assert_eq!(call!(C_EncryptInit(session, &mut gcm_old, key)), CKR_OK);
        len = 64;
        assert_eq!(
            call!(C_Encrypt(
                session,
                message.as_mut_ptr(),
                20,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OK
        );
        assert_eq!(out[..36], ciphertext[..36]);

        // Decryption with a buffer below the bound but large enough for the plaintext works;
        // a buffer too small for the plaintext holds the result until the call is repeated.
        assert_eq!(call!(C_DecryptInit(session, &mut gcm, key)), CKR_OK);
        len = 0;
        assert_eq!(
            call!(C_Decrypt(
                session,
                ciphertext.as_mut_ptr(),
                36,
                null_mut(),
                &mut len
            )),
            CKR_OK
        );
        assert_eq!(len, 20);
        len = 20;
        assert_eq!(
            call!(C_Decrypt(
                session,
                ciphertext.as_mut_ptr(),
                36,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OK
        );
        assert_eq!(&out[..20], &message);

        let mut iv16 = [5u8; 16];
        let mut cbc = mechanism(CKM_AES_CBC_PAD, iv16.as_mut_ptr().cast(), 16);
        assert_eq!(call!(C_EncryptInit(session, &mut cbc, key)), CKR_OK);
        len = 64;
        assert_eq!(
            call!(C_Encrypt(
                session,
                message.as_mut_ptr(),
                20,
                ciphertext.as_mut_ptr(),
                &mut len
            )),
            CKR_OK
        );
        assert_eq!(len, 32);
        assert_eq!(call!(C_DecryptInit(session, &mut cbc, key)), CKR_OK);
        len = 0;
        assert_eq!(
            call!(C_Decrypt(
                session,
                ciphertext.as_mut_ptr(),
                32,
                null_mut(),
                &mut len
            )),
            CKR_OK
        );
        assert_eq!(len, 32, "an upper bound for CBC-PAD");
        len = 10;
        assert_eq!(
            call!(C_Decrypt(
                session,
                ciphertext.as_mut_ptr(),
                32,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(len, 20, "the exact length once decrypted");
        assert_eq!(
            call!(C_DecryptInit(session, &mut cbc, key)),
            CKR_OPERATION_ACTIVE
        );
        assert_eq!(
            call!(C_Decrypt(
                session,
                ciphertext.as_mut_ptr(),
                16,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_ARGUMENTS_BAD
        );
        // That error ended the operation (as every error but CKR_BUFFER_TOO_SMALL does), and
        // the held plaintext with it.
        len = 20;
        assert_eq!(
            call!(C_Decrypt(
                session,
                ciphertext.as_mut_ptr(),
                32,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(call!(C_DecryptInit(session, &mut cbc, key)), CKR_OK);
        len = 10;
        assert_eq!(
            call!(C_Decrypt(
                session,
                ciphertext.as_mut_ptr(),
                32,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_BUFFER_TOO_SMALL
        );
        len = 20;
        assert_eq!(
            call!(C_Decrypt(
                session,
                ciphertext.as_mut_ptr(),
                32,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OK
        );
        assert_eq!((len, &out[..20]), (20, &message[..]));
        assert_eq!(call!(C_DecryptInit(session, &mut cbc, key)), CKR_OK);

        // ECDSA: a length query and a short buffer do not consume the operation.
        let (public, private) = ec_pair(session);
        let mut ecdsa = mechanism(CKM_ECDSA_SHA256, null_mut(), 0);
        assert_eq!(call!(C_SignInit(session, &mut ecdsa, private)), CKR_OK);
        len = 0;
        assert_eq!(
            call!(C_Sign(
                session,
                message.as_mut_ptr(),
                20,
                null_mut(),
                &mut len
            )),
            CKR_OK
        );
        assert_eq!(len, 64);
        len = 63;
        assert_eq!(
            call!(C_Sign(
                session,
                message.as_mut_ptr(),
                20,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(len, 64);
        len = 64;
        assert_eq!(
            call!(C_Sign(
                session,
                message.as_mut_ptr(),
                20,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OK
        );
        assert_eq!(call!(C_VerifyInit(session, &mut ecdsa, public)), CKR_OK);
        assert_eq!(
            call!(C_Verify(
                session,
                message.as_mut_ptr(),
                20,
                out.as_mut_ptr(),
                64
            )),
            CKR_OK
        );
        assert_eq!(
            call!(C_Sign(
                session,
                message.as_mut_ptr(),
                20,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OPERATION_NOT_INITIALIZED
        );

        // Digest: query, short, multi-part.
        let mut sha = mechanism(CKM_SHA256, null_mut(), 0);
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        assert_eq!(
            call!(C_DigestUpdate(session, message.as_mut_ptr(), 20)),
            CKR_OK
        );
        len = 0;
        assert_eq!(call!(C_DigestFinal(session, null_mut(), &mut len)), CKR_OK);
        assert_eq!(len, 32);
        len = 31;
        assert_eq!(
            call!(C_DigestFinal(session, out.as_mut_ptr(), &mut len)),
            CKR_BUFFER_TOO_SMALL
        );
        len = 32;
        assert_eq!(
            call!(C_DigestFinal(session, out.as_mut_ptr(), &mut len)),
            CKR_OK
        );
        let first = out;
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        assert_eq!(
            call!(C_Digest(
                session,
                message.as_mut_ptr(),
                20,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OK
        );
        assert_eq!(first[..32], out[..32]);
        len = 0;
        assert_eq!(
            call!(C_DigestFinal(session, null_mut(), &mut len)),
            CKR_OPERATION_NOT_INITIALIZED
        );

        // Key wrap: a length query, then the wrapped key.
        let mut kwp = mechanism(CKM_AES_KEY_WRAP_PAD, null_mut(), 0);
        let extractable = aes_key_extractable(session);
        len = 0;
        assert_eq!(
            call!(C_WrapKey(
                session,
                &mut kwp,
                key,
                extractable,
                null_mut(),
                &mut len
            )),
            CKR_OK
        );
        assert_eq!(len, 24, "RFC 5649 of a 16-byte key");
        len = 64;
        assert_eq!(
            call!(C_WrapKey(
                session,
                &mut kwp,
                key,
                extractable,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OK
        );
        let mut class = CKO_SECRET_KEY;
        let mut key_type = CKK_AES;
        let (class_ptr, class_len) = ulong_bytes(&mut class);
        let (type_ptr, type_len) = ulong_bytes(&mut key_type);
        let mut template = [
            CK_ATTRIBUTE {
                type_: CKA_CLASS,
                pValue: class_ptr,
                ulValueLen: class_len,
            },
            CK_ATTRIBUTE {
                type_: CKA_KEY_TYPE,
                pValue: type_ptr,
                ulValueLen: type_len,
            },
        ];
        let mut unwrapped = 0;
        assert_eq!(
            call!(C_UnwrapKey(
                session,
                &mut kwp,
                key,
                out.as_mut_ptr(),
                len,
                template.as_mut_ptr(),
                2,
                &mut unwrapped
            )),
            CKR_OK
        );
        assert_ne!(unwrapped, 0);
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

fn aes_key_extractable(session: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
    let mut len: CK_ULONG = 16;
    let (value, size) = ulong_bytes(&mut len);
    let mut yes = CK_TRUE;
    let mut template = [
        CK_ATTRIBUTE {
            type_: CKA_VALUE_LEN,
            pValue: value,
            ulValueLen: size,
        },
        attribute(CKA_EXTRACTABLE, std::ptr::from_mut(&mut yes).cast(), 1),
    ];
    let mut keygen = mechanism(CKM_AES_KEY_GEN, null_mut(), 0);
    let mut key = 0;
    assert_eq!(
        call!(C_GenerateKey(
            session,
            &mut keygen,
            template.as_mut_ptr(),
            2,
            &mut key
        )),
        CKR_OK
    );
    key
}

scenario!(
    get_attribute_value_follows_the_standard,
    scenario_attributes,
    {
        initialize();
        let session = open(0);
        assert_eq!(login(session, CKU_USER, common::CO_PIN), CKR_OK);
        let key = aes_key(session);
        let mut class: CK_ULONG = 0;
        let (class_ptr, class_len) = ulong_bytes(&mut class);
        let mut value = [0u8; 64];
        let mut point = [0u8; 80];
        let mut label = [0u8; 2];

        // Everything at once: sensitive wins, every entry gets its own length.
        let mut template = [
            CK_ATTRIBUTE {
                type_: CKA_CLASS,
                pValue: class_ptr,
                ulValueLen: class_len,
            },
            attribute(CKA_VALUE, value.as_mut_ptr().cast(), value.len()),
            attribute(CKA_EC_POINT, point.as_mut_ptr().cast(), point.len()),
            attribute(CKA_LABEL, label.as_mut_ptr().cast(), label.len()),
        ];
        assert_eq!(
            call!(C_GetAttributeValue(session, key, template.as_mut_ptr(), 4)),
            CKR_ATTRIBUTE_SENSITIVE
        );
        let lengths: Vec<CK_ULONG> = template.iter().map(|a| a.ulValueLen).collect();
        assert_eq!(
            lengths,
            [
                8,
                CK_UNAVAILABLE_INFORMATION,
                CK_UNAVAILABLE_INFORMATION,
                CK_UNAVAILABLE_INFORMATION
            ]
        );
        assert_eq!(class, CKO_SECRET_KEY);

        let mut template = [
            attribute(CKA_EC_POINT, point.as_mut_ptr().cast(), point.len()),
            attribute(CKA_LABEL, label.as_mut_ptr().cast(), label.len()),
        ];
        assert_eq!(
            call!(C_GetAttributeValue(session, key, template.as_mut_ptr(), 2)),
            CKR_ATTRIBUTE_TYPE_INVALID
        );

        let mut template = [attribute(CKA_LABEL, label.as_mut_ptr().cast(), label.len())];
        assert_eq!(
            call!(C_GetAttributeValue(session, key, template.as_mut_ptr(), 1)),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(template[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        let mut template = [attribute(CKA_LABEL, null_mut(), 0)];
        assert_eq!(
            call!(C_GetAttributeValue(session, key, template.as_mut_ptr(), 1)),
            CKR_OK
        );
        assert_eq!(template[0].ulValueLen, 6);
        let mut template = [attribute(CKA_LABEL, value.as_mut_ptr().cast(), value.len())];
        assert_eq!(
            call!(C_GetAttributeValue(session, key, template.as_mut_ptr(), 1)),
            CKR_OK
        );
        assert_eq!(&value[..6], b"matrix");

        // A CK_ULONG attribute of the wrong size is invalid.
        let mut short = [0u8; 4];
        let mut template = [attribute(CKA_CLASS, short.as_mut_ptr().cast(), 4)];
        let mut handle = 0;
        assert_eq!(
            call!(C_CreateObject(
                session,
                template.as_mut_ptr(),
                1,
                &mut handle
            )),
            CKR_ATTRIBUTE_VALUE_INVALID
        );

        // Set, copy, destroy.
        let mut new_label = *b"renamed";
        let mut template = [attribute(CKA_LABEL, new_label.as_mut_ptr().cast(), 7)];
        assert_eq!(
            call!(C_SetAttributeValue(session, key, template.as_mut_ptr(), 1)),
            CKR_OK
        );
        let mut copy = 0;
        assert_eq!(
            call!(C_CopyObject(session, key, null_mut(), 0, &mut copy)),
            CKR_OK
        );
        assert_eq!(call!(C_DestroyObject(session, copy)), CKR_OK);
        assert_eq!(
            call!(C_DestroyObject(session, copy)),
            CKR_OBJECT_HANDLE_INVALID
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(invalid_handles_and_user_types, scenario_handles, {
    initialize();
    let mut info = std::mem::MaybeUninit::<CK_SESSION_INFO>::uninit();
    let mut handle = 0;
    assert_eq!(
        call!(C_OpenSession(
            99,
            CKF_SERIAL_SESSION,
            null_mut(),
            None,
            &mut handle
        )),
        CKR_SLOT_ID_INVALID
    );
    assert_eq!(
        call!(C_OpenSession(
            0,
            CKF_RW_SESSION,
            null_mut(),
            None,
            &mut handle
        )),
        CKR_SESSION_PARALLEL_NOT_SUPPORTED
    );
    let mut token = std::mem::MaybeUninit::<CK_TOKEN_INFO>::uninit();
    assert_eq!(
        call!(C_GetTokenInfo(99, token.as_mut_ptr())),
        CKR_SLOT_ID_INVALID
    );
    let mut mech_info = CK_MECHANISM_INFO::default();
    assert_eq!(
        call!(C_GetMechanismInfo(0, 0x4242, &mut mech_info)),
        CKR_MECHANISM_INVALID
    );
    assert_eq!(
        call!(C_GetMechanismInfo(0, CKM_AES_GCM, &mut mech_info)),
        CKR_OK
    );
    assert_eq!((mech_info.ulMinKeySize, mech_info.ulMaxKeySize), (16, 32));

    let bogus = 0xDEAD;
    assert_eq!(
        login(bogus, CKU_USER, common::CO_PIN),
        CKR_SESSION_HANDLE_INVALID
    );
    assert_eq!(
        call!(C_GetSessionInfo(bogus, info.as_mut_ptr())),
        CKR_SESSION_HANDLE_INVALID
    );
    assert_eq!(call!(C_CloseSession(bogus)), CKR_SESSION_HANDLE_INVALID);
    assert_eq!(call!(C_Logout(bogus)), CKR_SESSION_HANDLE_INVALID);

    let session = open(0);
    assert_eq!(login(session, 5, common::CO_PIN), CKR_USER_TYPE_INVALID);
    // A type, but only for an operation waiting for it, after a login (register A79).
    assert_eq!(
        login(session, CKU_CONTEXT_SPECIFIC, common::CO_PIN),
        CKR_USER_NOT_LOGGED_IN
    );
    assert_eq!(login(session, CKU_USER, "wrong-pin"), CKR_PIN_INCORRECT);
    assert_eq!(call!(C_Logout(session)), CKR_USER_NOT_LOGGED_IN);

    // Not logged in: private keys cannot be made (a secret key is private by default), public
    // session keys can (register A66).
    let mut keygen = mechanism(CKM_AES_KEY_GEN, null_mut(), 0);
    let mut len: CK_ULONG = 32;
    let (value, size) = ulong_bytes(&mut len);
    let mut public_flag: CK_BBOOL = 0;
    let mut template = [
        CK_ATTRIBUTE {
            type_: CKA_VALUE_LEN,
            pValue: value,
            ulValueLen: size,
        },
        attribute(CKA_PRIVATE, std::ptr::from_mut(&mut public_flag).cast(), 1),
    ];
    assert_eq!(
        call!(C_GenerateKey(
            session,
            &mut keygen,
            template.as_mut_ptr(),
            1,
            &mut handle
        )),
        CKR_USER_NOT_LOGGED_IN
    );
    assert_eq!(
        call!(C_GenerateKey(
            session,
            &mut keygen,
            template.as_mut_ptr(),
            2,
            &mut handle
        )),
        CKR_OK
    );
    assert_eq!(call!(C_DestroyObject(session, handle)), CKR_OK);

    // The Crypto User uses keys but may not create them.
    assert_eq!(login(session, CKU_CRYPTO_USER, common::CU_PIN), CKR_OK);
    assert_eq!(
        login(session, CKU_CRYPTO_USER, common::CU_PIN),
        CKR_USER_ALREADY_LOGGED_IN
    );
    assert_eq!(
        call!(C_GenerateKey(
            session,
            &mut keygen,
            null_mut(),
            0,
            &mut handle
        )),
        CKR_USER_NOT_AUTHORIZED
    );
    assert_eq!(call!(C_GetSessionInfo(session, info.as_mut_ptr())), CKR_OK);
    // SAFETY: C_GetSessionInfo returned CKR_OK, so it wrote the structure.
    let info = unsafe { info.assume_init() };
    assert_eq!(info.state, CKS_RW_USER_FUNCTIONS);
    assert_eq!(call!(C_Logout(session)), CKR_OK);

    assert_eq!(login(session, CKU_USER, common::CO_PIN), CKR_OK);
    let key = aes_key(session);
    let mut value = [0u8; 8];
    let mut template = [attribute(CKA_LABEL, value.as_mut_ptr().cast(), 8)];
    assert_eq!(
        call!(C_GetAttributeValue(
            session,
            0x7777,
            template.as_mut_ptr(),
            1
        )),
        CKR_OBJECT_HANDLE_INVALID
    );
    assert_eq!(
        call!(C_DestroyObject(session, 0x7777)),
        CKR_OBJECT_HANDLE_INVALID
    );
    let mut iv = [0u8; 16];
    let mut cbc = mechanism(CKM_AES_CBC_PAD, iv.as_mut_ptr().cast(), 16);
    assert_eq!(
        call!(C_EncryptInit(session, &mut cbc, 0x7777)),
        CKR_KEY_HANDLE_INVALID
    );
    assert_eq!(
        call!(C_EncryptInit(bogus, &mut cbc, key)),
        CKR_SESSION_HANDLE_INVALID
    );
    let mut ecdsa = mechanism(CKM_ECDSA, null_mut(), 0);
    assert_eq!(
        call!(C_SignInit(session, &mut ecdsa, key)),
        CKR_KEY_TYPE_INCONSISTENT
    );
    let mut len: CK_ULONG = 64;
    assert_eq!(
        call!(C_Sign(session, value.as_mut_ptr(), 8, null_mut(), &mut len)),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(C_EncryptInit(session, &mut cbc, key)), CKR_OK);
    assert_eq!(
        call!(C_EncryptInit(session, &mut cbc, key)),
        CKR_OPERATION_ACTIVE
    );
    assert_eq!(
        call!(C_FindObjects(session, &mut handle, 1, &mut len)),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(C_CloseAllSessions(0)), CKR_OK);
    assert_eq!(call!(C_CloseSession(session)), CKR_SESSION_HANDLE_INVALID);
    assert_eq!(call!(C_CloseAllSessions(99)), CKR_SLOT_ID_INVALID);
    let label = [b' '; 32];
    let pin = common::SO_PIN;
    assert_eq!(
        call!(C_InitToken(
            1,
            pin.as_ptr().cast_mut(),
            pin.len() as CK_ULONG,
            label.as_ptr().cast_mut()
        )),
        CKR_OK
    );
    assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
});

scenario!(concurrent_calls_from_many_threads, scenario_threads, {
    initialize();
    let session = open(0);
    assert_eq!(login(session, CKU_USER, common::CO_PIN), CKR_OK);
    let key = aes_key(session);
    let workers: Vec<_> = (0..8u8)
        .map(|n| {
            std::thread::spawn(move || {
                let session = open(0);
                for round in 0..10u8 {
                    let mut iv = [n; 12];
                    let mut params = CK_GCM_PARAMS {
                        pIv: iv.as_mut_ptr(),
                        ulIvLen: 12,
                        ulIvBits: 96,
                        pAAD: null_mut(),
                        ulAADLen: 0,
                        ulTagBits: 128,
                    };
                    let mut gcm = mechanism(
                        CKM_AES_GCM,
                        std::ptr::from_mut(&mut params).cast(),
                        size_of::<CK_GCM_PARAMS>(),
                    );
                    let mut message = [round; 24];
                    let mut cipher = [0u8; 64];
                    let mut plain = [0u8; 64];
                    let mut len: CK_ULONG = 64;
                    assert_eq!(call!(C_EncryptInit(session, &mut gcm, key)), CKR_OK);
                    assert_eq!(
                        call!(C_Encrypt(
                            session,
                            message.as_mut_ptr(),
                            24,
                            cipher.as_mut_ptr(),
                            &mut len
                        )),
                        CKR_OK
                    );
                    let cipher_len = len;
                    len = 64;
                    assert_eq!(call!(C_DecryptInit(session, &mut gcm, key)), CKR_OK);
                    assert_eq!(
                        call!(C_Decrypt(
                            session,
                            cipher.as_mut_ptr(),
                            cipher_len,
                            plain.as_mut_ptr(),
                            &mut len
                        )),
                        CKR_OK
                    );
                    assert_eq!(&plain[..24], &message);
                    let mut count: CK_ULONG = 0;
                    assert_eq!(
                        call!(C_GetSlotList(CK_TRUE, null_mut(), &mut count)),
                        CKR_OK
                    );
                }
                assert_eq!(call!(C_CloseSession(session)), CKR_OK);
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker thread");
    }
    let _ = null::<u8>();
    assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
});

scenario!(pins_are_initialized_and_changed, scenario_pins, {
    initialize();
    let session = open(1);
    let (so, new_co, newer_co) = (common::SO_PIN, "co-pin-2", "co-pin-3");
    assert_eq!(call!(C_InitPIN(session, null_mut(), 4)), CKR_ARGUMENTS_BAD);
    assert_eq!(
        call!(C_InitPIN(session, new_co.as_ptr().cast_mut(), 8)),
        CKR_USER_NOT_LOGGED_IN
    );
    assert_eq!(login(session, CKU_SO, so), CKR_OK);
    assert_eq!(
        call!(C_InitPIN(session, new_co.as_ptr().cast_mut(), 8)),
        CKR_OK
    );
    assert_eq!(
        call!(C_InitPIN(session, b"abc".as_ptr().cast_mut(), 3)),
        CKR_PIN_LEN_RANGE
    );
    assert_eq!(call!(C_Logout(session)), CKR_OK);
    assert_eq!(login(session, CKU_USER, common::CO_PIN), CKR_PIN_INCORRECT);
    assert_eq!(login(session, CKU_USER, new_co), CKR_OK);
    let set = |old: &str, new: &str| {
        call!(C_SetPIN(
            session,
            old.as_ptr().cast_mut(),
            old.len() as CK_ULONG,
            new.as_ptr().cast_mut(),
            new.len() as CK_ULONG
        ))
    };
    assert_eq!(set("not-the-pin", newer_co), CKR_PIN_INCORRECT);
    assert_eq!(set(new_co, newer_co), CKR_OK);
    assert_eq!(
        call!(C_SetPIN(session, null_mut(), 3, null_mut(), 0)),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(call!(C_Logout(session)), CKR_OK);
    assert_eq!(login(session, CKU_USER, newer_co), CKR_OK);
    assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
});

scenario!(multi_part_operations, scenario_multi_part, {
    initialize();
    let session = open(0);
    assert_eq!(login(session, CKU_USER, common::CO_PIN), CKR_OK);
    let key = aes_key(session);
    let mut message: Vec<u8> = (0..40u8).collect();
    let mut out = [0u8; 128];
    let mut len: CK_ULONG;

    // AES-CBC-PAD: 40 bytes in two parts give 32 + 16 bytes.
    let mut iv = [1u8; 16];
    let mut cbc = mechanism(CKM_AES_CBC_PAD, iv.as_mut_ptr().cast(), 16);
    assert_eq!(call!(C_EncryptInit(session, &mut cbc, key)), CKR_OK);
    len = 0;
    assert_eq!(
        call!(C_EncryptUpdate(
            session,
            message.as_mut_ptr(),
            20,
            null_mut(),
            &mut len
        )),
        CKR_OK
    );
    assert_eq!(len, 16);
    len = 128;
    assert_eq!(
        call!(C_EncryptUpdate(
            session,
            message.as_mut_ptr(),
            20,
            out.as_mut_ptr(),
            &mut len
        )),
        CKR_OK
    );
    assert_eq!(len, 16);
    let mut total = len as usize;
    len = 128;
    assert_eq!(
        call!(C_EncryptUpdate(
            session,
            message[20..].as_mut_ptr(),
            20,
            out[total..].as_mut_ptr(),
            &mut len
        )),
        CKR_OK
    );
    total += len as usize;
    len = 0;
    assert_eq!(call!(C_EncryptFinal(session, null_mut(), &mut len)), CKR_OK);
    assert_eq!(len, 16);
    assert_eq!(
        call!(C_EncryptFinal(session, out[total..].as_mut_ptr(), &mut len)),
        CKR_OK
    );
    total += len as usize;
    assert_eq!(total, 48);

    let mut cipher = out;
    assert_eq!(call!(C_DecryptInit(session, &mut cbc, key)), CKR_OK);
    let mut plain = Vec::new();
    for chunk in cipher[..48].chunks_mut(16) {
        len = 128;
        assert_eq!(
            call!(C_DecryptUpdate(
                session,
                chunk.as_mut_ptr(),
                16,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OK
        );
        plain.extend_from_slice(&out[..len as usize]);
    }
    len = 128;
    assert_eq!(
        call!(C_DecryptFinal(session, out.as_mut_ptr(), &mut len)),
        CKR_OK
    );
    plain.extend_from_slice(&out[..len as usize]);
    assert_eq!(plain, message);

    // AES-GCM multi-part: updates output nothing, the final call everything.
    let mut nonce = [2u8; 12];
    let mut aad = *b"aad";
    let mut params = CK_GCM_PARAMS {
        pIv: nonce.as_mut_ptr(),
        ulIvLen: 12,
        ulIvBits: 96,
        pAAD: aad.as_mut_ptr(),
        ulAADLen: 3,
        ulTagBits: 96,
    };
    let mut gcm = mechanism(
        CKM_AES_GCM,
        std::ptr::from_mut(&mut params).cast(),
        size_of::<CK_GCM_PARAMS>(),
    );
    assert_eq!(call!(C_EncryptInit(session, &mut gcm, key)), CKR_OK);
    len = 128;
    assert_eq!(
        call!(C_EncryptUpdate(
            session,
            message.as_mut_ptr(),
            40,
            out.as_mut_ptr(),
            &mut len
        )),
        CKR_OK
    );
    assert_eq!(len, 0);
    len = 128;
    assert_eq!(
        call!(C_EncryptFinal(session, cipher.as_mut_ptr(), &mut len)),
        CKR_OK
    );
    assert_eq!(len, 40 + 12, "a 96-bit tag");
    assert_eq!(call!(C_DecryptInit(session, &mut gcm, key)), CKR_OK);
    len = 128;
    assert_eq!(
        call!(C_Decrypt(
            session,
            cipher.as_mut_ptr(),
            52,
            out.as_mut_ptr(),
            &mut len
        )),
        CKR_OK
    );
    assert_eq!(&out[..40], &message[..]);

    // ECDSA-SHA256 and HMAC-SHA256 in parts.
    let (public, private) = ec_pair(session);
    let mut ecdsa = mechanism(CKM_ECDSA_SHA256, null_mut(), 0);
    assert_eq!(call!(C_SignInit(session, &mut ecdsa, private)), CKR_OK);
    assert_eq!(
        call!(C_SignUpdate(session, message.as_mut_ptr(), 10)),
        CKR_OK
    );
    assert_eq!(
        call!(C_SignUpdate(session, message[10..].as_mut_ptr(), 30)),
        CKR_OK
    );
    len = 128;
    assert_eq!(
        call!(C_SignFinal(session, out.as_mut_ptr(), &mut len)),
        CKR_OK
    );
    assert_eq!(len, 64);
    assert_eq!(call!(C_VerifyInit(session, &mut ecdsa, public)), CKR_OK);
    assert_eq!(
        call!(C_Verify(
            session,
            message.as_mut_ptr(),
            40,
            out.as_mut_ptr(),
            64
        )),
        CKR_OK
    );
    out[0] ^= 1;
    assert_eq!(call!(C_VerifyInit(session, &mut ecdsa, public)), CKR_OK);
    assert_eq!(
        call!(C_VerifyUpdate(session, message.as_mut_ptr(), 40)),
        CKR_OK
    );
    assert_eq!(
        call!(C_VerifyFinal(session, out.as_mut_ptr(), 64)),
        CKR_SIGNATURE_INVALID
    );

    let mut hmac = mechanism(CKM_SHA256_HMAC, null_mut(), 0);
    assert_eq!(call!(C_SignInit(session, &mut hmac, key)), CKR_OK);
    assert_eq!(
        call!(C_SignUpdate(session, message.as_mut_ptr(), 40)),
        CKR_OK
    );
    len = 0;
    assert_eq!(call!(C_SignFinal(session, null_mut(), &mut len)), CKR_OK);
    assert_eq!(len, 32);
    assert_eq!(
        call!(C_SignFinal(session, out.as_mut_ptr(), &mut len)),
        CKR_OK
    );
    assert_eq!(call!(C_VerifyInit(session, &mut hmac, key)), CKR_OK);
    assert_eq!(
        call!(C_VerifyUpdate(session, message.as_mut_ptr(), 20)),
        CKR_OK
    );
    assert_eq!(
        call!(C_VerifyUpdate(session, message[20..].as_mut_ptr(), 20)),
        CKR_OK
    );
    assert_eq!(call!(C_VerifyFinal(session, out.as_mut_ptr(), 32)), CKR_OK);

    // CKM_ECDSA is single-part.
    let mut raw = mechanism(CKM_ECDSA, null_mut(), 0);
    assert_eq!(call!(C_SignInit(session, &mut raw, private)), CKR_OK);
    assert_eq!(
        call!(C_SignUpdate(session, message.as_mut_ptr(), 32)),
        CKR_FUNCTION_NOT_SUPPORTED
    );
    assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
});
