//! PKCS#11's order of checks and operation rules, as the conformance suites test them: the
//! not-initialized, then invalid-session checks come before any argument or mechanism is
//! looked at; the codes of `C_SeedRandom`, `C_GetFunctionStatus`, `C_CancelFunction` and
//! `C_GetObjectSize`; an error ends the operation (also an argument error the module finds
//! itself); single- and multi-part calls do not mix (register A63); and the PIN count flags of
//! `CK_TOKEN_INFO`.
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

fn open(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let mut session = 0;
    assert_eq!(
        call!(C_OpenSession(
            slot,
            CKF_SERIAL_SESSION | CKF_RW_SESSION,
            null_mut(),
            None,
            &mut session
        )),
        CKR_OK
    );
    session
}

fn login(session: CK_SESSION_HANDLE, pin: &str) -> CK_RV {
    call!(C_Login(
        session,
        CKU_USER,
        pin.as_ptr().cast_mut(),
        pin.len() as CK_ULONG
    ))
}

fn mechanism(kind: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: kind,
        pParameter: null_mut(),
        ulParameterLen: 0,
    }
}

/// A generic secret of 32 bytes for HMAC.
fn hmac_key(session: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
    let mut len: CK_ULONG = 32;
    let mut template = [CK_ATTRIBUTE {
        type_: CKA_VALUE_LEN,
        pValue: std::ptr::from_mut(&mut len).cast(),
        ulValueLen: size_of::<CK_ULONG>() as CK_ULONG,
    }];
    let mut keygen = mechanism(CKM_GENERIC_SECRET_KEY_GEN);
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
    key
}

fn token_flags(slot: CK_SLOT_ID) -> CK_FLAGS {
    let mut info = std::mem::MaybeUninit::<CK_TOKEN_INFO>::uninit();
    assert_eq!(call!(C_GetTokenInfo(slot, info.as_mut_ptr())), CKR_OK);
    // SAFETY: C_GetTokenInfo returned CKR_OK, so it wrote the structure.
    unsafe { info.assume_init() }.flags
}

const UNKNOWN_MECHANISM: CK_MECHANISM_TYPE = 0x4242;

scenario!(
    initialized_then_session_then_arguments_then_mechanism,
    scenario_order,
    {
        let mut unknown = mechanism(UNKNOWN_MECHANISM);
        let mut len: CK_ULONG = 0;
        // Before C_Initialize: whatever the other arguments, CKR_CRYPTOKI_NOT_INITIALIZED.
        assert_eq!(
            call!(C_EncryptInit(1, &mut unknown, 1)),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(
            call!(C_SignInit(1, null_mut(), 1)),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(
            call!(C_Digest(1, null_mut(), 5, null_mut(), null_mut())),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(
            call!(C_GetSlotInfo(0, null_mut())),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(
            call!(C_GetObjectSize(1, 1, null_mut())),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        // An invalid session next, still before the arguments and the mechanism.
        for rv in [
            call!(C_EncryptInit(999, &mut unknown, 1)),
            call!(C_DecryptInit(999, null_mut(), 1)),
            call!(C_DigestInit(999, &mut unknown)),
            call!(C_Sign(999, null_mut(), 5, null_mut(), null_mut())),
            call!(C_Verify(999, null_mut(), 5, null_mut(), 3)),
            call!(C_Digest(999, null_mut(), 5, null_mut(), &mut len)),
            call!(C_DecryptUpdate(999, null_mut(), 5, null_mut(), null_mut())),
            call!(C_DecryptFinal(999, null_mut(), null_mut())),
            call!(C_UnwrapKey(
                999,
                null_mut(),
                1,
                null_mut(),
                4,
                null_mut(),
                0,
                null_mut()
            )),
            call!(C_FindObjectsInit(999, null_mut(), 2)),
            call!(C_GetAttributeValue(999, 1, null_mut(), 2)),
            call!(C_SeedRandom(999, null_mut(), 4)),
            call!(C_GetFunctionStatus(999)),
            call!(C_CancelFunction(999)),
            call!(C_GetObjectSize(999, 1, null_mut())),
            call!(C_DigestKey(999, 1)),
        ] {
            assert_eq!(rv, CKR_SESSION_HANDLE_INVALID);
        }
        // With a valid session: a NULL argument, then an unknown mechanism.
        let session = open(0);
        assert_eq!(login(session, common::CO_PIN), CKR_OK);
        assert_eq!(
            call!(C_EncryptInit(session, null_mut(), 1)),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(C_EncryptInit(session, &mut unknown, 1)),
            CKR_MECHANISM_INVALID
        );
        assert_eq!(
            call!(C_DigestInit(session, &mut unknown)),
            CKR_MECHANISM_INVALID
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(
    seed_random_parallel_functions_and_object_size_have_their_codes,
    scenario_codes,
    {
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let session = open(0);
        let mut seed = [7u8; 4];
        assert_eq!(
            call!(C_SeedRandom(session, null_mut(), 4)),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(C_SeedRandom(session, seed.as_mut_ptr(), 4)),
            CKR_RANDOM_SEED_NOT_SUPPORTED
        );
        assert_eq!(
            call!(C_GetFunctionStatus(session)),
            CKR_FUNCTION_NOT_PARALLEL
        );
        assert_eq!(call!(C_CancelFunction(session)), CKR_FUNCTION_NOT_PARALLEL);
        assert_eq!(login(session, common::CO_PIN), CKR_OK);
        let key = hmac_key(session);
        let mut size: CK_ULONG = 0;
        assert_eq!(call!(C_GetObjectSize(session, key, &mut size)), CKR_OK);
        // At least the 32-byte value and the 16 bytes of each of a dozen attributes.
        assert!(size > 32 + 12 * 16, "{size}");
        assert_eq!(
            call!(C_GetObjectSize(session, key, null_mut())),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(C_GetObjectSize(session, 0x7777, &mut size)),
            CKR_OBJECT_HANDLE_INVALID
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(
    errors_end_operations_and_single_and_multi_part_calls_do_not_mix,
    scenario_operations,
    {
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let session = open(0);
        assert_eq!(login(session, common::CO_PIN), CKR_OK);
        let data = b"some data".as_ptr().cast_mut();
        let mut out = [0u8; 64];
        let mut out_len: CK_ULONG = 64;
        let mut sha256 = mechanism(CKM_SHA256);

        // Register A63: C_Digest after C_DigestUpdate is CKR_OPERATION_ACTIVE and ends it.
        assert_eq!(call!(C_DigestInit(session, &mut sha256)), CKR_OK);
        assert_eq!(call!(C_DigestUpdate(session, data, 9)), CKR_OK);
        assert_eq!(
            call!(C_Digest(session, data, 9, out.as_mut_ptr(), &mut out_len)),
            CKR_OPERATION_ACTIVE
        );
        assert_eq!(
            call!(C_DigestUpdate(session, data, 9)),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // An argument error the module finds itself ends the operation too.
        assert_eq!(call!(C_DigestInit(session, &mut sha256)), CKR_OK);
        assert_eq!(
            call!(C_DigestUpdate(session, null_mut(), 5)),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(C_DigestFinal(session, out.as_mut_ptr(), &mut out_len)),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // CKR_BUFFER_TOO_SMALL does not end it.
        assert_eq!(call!(C_DigestInit(session, &mut sha256)), CKR_OK);
        let mut short: CK_ULONG = 4;
        assert_eq!(
            call!(C_Digest(session, data, 9, out.as_mut_ptr(), &mut short)),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(short, 32);
        out_len = 64;
        assert_eq!(
            call!(C_Digest(session, data, 9, out.as_mut_ptr(), &mut out_len)),
            CKR_OK
        );
        assert_eq!(out_len, 32);

        // The same rules for signatures (HMAC) and verification.
        let key = hmac_key(session);
        let mut hmac = mechanism(CKM_SHA256_HMAC);
        assert_eq!(call!(C_SignInit(session, &mut hmac, key)), CKR_OK);
        assert_eq!(call!(C_SignUpdate(session, data, 9)), CKR_OK);
        out_len = 64;
        assert_eq!(
            call!(C_Sign(session, data, 9, out.as_mut_ptr(), &mut out_len)),
            CKR_OPERATION_ACTIVE
        );
        assert_eq!(
            call!(C_SignFinal(session, out.as_mut_ptr(), &mut out_len)),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(call!(C_SignInit(session, &mut hmac, key)), CKR_OK);
        assert_eq!(
            call!(C_Sign(
                session,
                null_mut(),
                9,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(C_Sign(session, data, 9, out.as_mut_ptr(), &mut out_len)),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(call!(C_VerifyInit(session, &mut hmac, key)), CKR_OK);
        assert_eq!(call!(C_VerifyUpdate(session, data, 9)), CKR_OK);
        assert_eq!(
            call!(C_Verify(session, data, 9, out.as_mut_ptr(), 32)),
            CKR_OPERATION_ACTIVE
        );
        assert_eq!(
            call!(C_VerifyFinal(session, null_mut(), 0)),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(
    wrong_pins_set_the_count_low_and_final_try_flags,
    scenario_pin_flags,
    {
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let session = open(0);
        let low = CKF_USER_PIN_COUNT_LOW;
        let final_try = CKF_USER_PIN_FINAL_TRY;
        assert_eq!(token_flags(0) & (low | final_try), 0);
        assert_eq!(login(session, "wrong-pin"), CKR_PIN_INCORRECT);
        assert_eq!(token_flags(0) & (low | final_try), low);
        for _ in 0..(luna_sim::MAX_PIN_FAILURES - 2) {
            assert_eq!(login(session, "wrong-pin"), CKR_PIN_INCORRECT);
        }
        // One more wrong PIN would lock it.
        assert_eq!(token_flags(0) & (low | final_try), low | final_try);
        assert_eq!(token_flags(0) & CKF_USER_PIN_LOCKED, 0);
        // The right PIN clears both.
        assert_eq!(login(session, common::CO_PIN), CKR_OK);
        assert_eq!(token_flags(0) & (low | final_try), 0);
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

/// A mechanism with a parameter of `len` bytes at `param`.
fn with_param<T>(kind: CK_MECHANISM_TYPE, param: &mut T, len: usize) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: kind,
        pParameter: std::ptr::from_mut(param).cast(),
        ulParameterLen: len as CK_ULONG,
    }
}

/// An AES key of 16 bytes, extractable, for everything.
fn aes_key(session: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
    let mut len: CK_ULONG = 16;
    let mut template = [CK_ATTRIBUTE {
        type_: CKA_VALUE_LEN,
        pValue: std::ptr::from_mut(&mut len).cast(),
        ulValueLen: size_of::<CK_ULONG>() as CK_ULONG,
    }];
    let mut keygen = mechanism(CKM_AES_KEY_GEN);
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
    key
}

scenario!(
    block_ctr_mac_and_key_wrap_parameters_are_checked_at_the_c_boundary,
    scenario_parameters,
    {
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let session = open(0);
        assert_eq!(login(session, common::CO_PIN), CKR_OK);
        let key = aes_key(session);
        let other = aes_key(session);
        let mut out = [0u8; 64];
        let mut out_len: CK_ULONG;
        let mut block = [5u8; 16];
        // CBC: an IV of one AES block, not of a DES block, not NULL.
        let mut iv = [1u8; 16];
        for (ptr_iv, len) in [(true, 8), (false, 16), (true, 17)] {
            let mut m = with_param(CKM_AES_CBC, &mut iv, len);
            if !ptr_iv {
                m.pParameter = null_mut();
            }
            assert_eq!(
                call!(C_EncryptInit(session, &mut m, key)),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        let mut m = with_param(CKM_AES_CBC, &mut iv, 16);
        assert_eq!(call!(C_EncryptInit(session, &mut m, key)), CKR_OK);
        out_len = 64;
        assert_eq!(
            call!(C_Encrypt(
                session,
                block.as_mut_ptr(),
                16,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_OK
        );
        assert_eq!(out_len, 16);
        // ECB ignores a parameter given.
        let mut m = with_param(CKM_AES_ECB, &mut iv, 16);
        assert_eq!(call!(C_EncryptInit(session, &mut m, key)), CKR_OK);
        out_len = 64;
        assert_eq!(
            call!(C_Encrypt(
                session,
                block.as_mut_ptr(),
                16,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_OK
        );
        // CTR: a CK_AES_CTR_PARAMS of 24 bytes with a counter of 1 to 128 bits.
        for bits in [0, 129] {
            let mut p = CK_AES_CTR_PARAMS {
                ulCounterBits: bits,
                cb: [0; 16],
            };
            let mut m = with_param(CKM_AES_CTR, &mut p, size_of::<CK_AES_CTR_PARAMS>());
            assert_eq!(
                call!(C_EncryptInit(session, &mut m, key)),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        let mut p = CK_AES_CTR_PARAMS {
            ulCounterBits: 32,
            cb: [0; 16],
        };
        let mut m = with_param(CKM_AES_CTR, &mut p, 16);
        assert_eq!(
            call!(C_EncryptInit(session, &mut m, key)),
            CKR_MECHANISM_PARAM_INVALID
        );
        let mut m = with_param(CKM_AES_CTR, &mut p, size_of::<CK_AES_CTR_PARAMS>());
        assert_eq!(call!(C_EncryptInit(session, &mut m, key)), CKR_OK);
        out_len = 64;
        assert_eq!(
            call!(C_Encrypt(
                session,
                block.as_mut_ptr(),
                5,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_OK
        );
        assert_eq!(out_len, 5);
        // CMAC_GENERAL: a CK_MAC_GENERAL_PARAMS of 1 to 16.
        for bad in [0, 17] {
            let mut len: CK_MAC_GENERAL_PARAMS = bad;
            let mut m = with_param(CKM_AES_CMAC_GENERAL, &mut len, size_of::<CK_ULONG>());
            assert_eq!(
                call!(C_SignInit(session, &mut m, key)),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        let mut len: CK_MAC_GENERAL_PARAMS = 4;
        let mut m = with_param(CKM_AES_CMAC_GENERAL, &mut len, 4);
        assert_eq!(
            call!(C_SignInit(session, &mut m, key)),
            CKR_MECHANISM_PARAM_INVALID
        );
        let mut m = with_param(CKM_AES_CMAC_GENERAL, &mut len, size_of::<CK_ULONG>());
        assert_eq!(call!(C_SignInit(session, &mut m, key)), CKR_OK);
        out_len = 64;
        assert_eq!(
            call!(C_Sign(
                session,
                block.as_mut_ptr(),
                16,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_OK
        );
        assert_eq!(out_len, 4);
        // A parameter length no slice can hold is refused, not an abort of the process (an
        // attack found one: the slice was built before its length was checked).
        for kind in [CKM_AES_ECB, CKM_AES_CBC, CKM_DES3_CBC_PAD, CKM_AES_KEY_WRAP] {
            for huge in [1 << 63, CK_ULONG::MAX] {
                let mut m = with_param(kind, &mut iv, 0);
                m.ulParameterLen = huge;
                assert_eq!(
                    call!(C_EncryptInit(session, &mut m, key)),
                    CKR_MECHANISM_PARAM_INVALID
                );
            }
        }
        // CKM_AES_KEY_WRAP: no parameter, or the RFC 3394 default IV; another is refused.
        let mut default_iv = [0xA6u8; 8];
        let mut other_iv = [0u8; 8];
        let mut wrapped = [0u8; 64];
        for (m, expected) in [
            (mechanism(CKM_AES_KEY_WRAP), CKR_OK),
            (with_param(CKM_AES_KEY_WRAP, &mut default_iv, 8), CKR_OK),
            (
                with_param(CKM_AES_KEY_WRAP, &mut other_iv, 8),
                CKR_MECHANISM_PARAM_INVALID,
            ),
            (
                with_param(CKM_AES_KEY_WRAP, &mut block, 16),
                CKR_MECHANISM_PARAM_INVALID,
            ),
        ] {
            let mut m = m;
            let mut wrapped_len: CK_ULONG = 64;
            assert_eq!(
                call!(C_WrapKey(
                    session,
                    &mut m,
                    key,
                    other,
                    wrapped.as_mut_ptr(),
                    &mut wrapped_len
                )),
                expected
            );
            if expected == CKR_OK {
                assert_eq!(wrapped_len, 24);
            }
        }
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

/// A session secret key of `key_type` with a known, readable value.
fn readable_key(session: CK_SESSION_HANDLE, key_type: CK_ULONG, value: &[u8]) -> CK_OBJECT_HANDLE {
    let mut class = CKO_SECRET_KEY;
    let mut kind = key_type;
    let mut no: CK_BBOOL = 0;
    let mut value = value.to_vec();
    let mut template = [
        CK_ATTRIBUTE {
            type_: CKA_CLASS,
            pValue: std::ptr::from_mut(&mut class).cast(),
            ulValueLen: size_of::<CK_ULONG>() as CK_ULONG,
        },
        CK_ATTRIBUTE {
            type_: CKA_KEY_TYPE,
            pValue: std::ptr::from_mut(&mut kind).cast(),
            ulValueLen: size_of::<CK_ULONG>() as CK_ULONG,
        },
        CK_ATTRIBUTE {
            type_: CKA_SENSITIVE,
            pValue: std::ptr::from_mut(&mut no).cast(),
            ulValueLen: 1,
        },
        CK_ATTRIBUTE {
            type_: CKA_VALUE,
            pValue: value.as_mut_ptr().cast(),
            ulValueLen: value.len() as CK_ULONG,
        },
    ];
    let mut key = 0;
    assert_eq!(
        call!(C_CreateObject(session, template.as_mut_ptr(), 4, &mut key)),
        CKR_OK
    );
    key
}

/// The token's SHA-256 of `data`.
fn sha256(session: CK_SESSION_HANDLE, data: &[u8]) -> Vec<u8> {
    let mut m = mechanism(CKM_SHA256);
    assert_eq!(call!(C_DigestInit(session, &mut m)), CKR_OK);
    let mut out = [0u8; 32];
    let mut len: CK_ULONG = 32;
    let mut data = data.to_vec();
    assert_eq!(
        call!(C_Digest(
            session,
            data.as_mut_ptr(),
            data.len() as CK_ULONG,
            out.as_mut_ptr(),
            &mut len
        )),
        CKR_OK
    );
    out.to_vec()
}

fn digest_final(session: CK_SESSION_HANDLE) -> Result<Vec<u8>, CK_RV> {
    let mut out = [0u8; 64];
    let mut len: CK_ULONG = 64;
    match call!(C_DigestFinal(session, out.as_mut_ptr(), &mut len)) {
        CKR_OK => Ok(out[..len as usize].to_vec()),
        rv => Err(rv),
    }
}

scenario!(
    digest_key_and_the_dual_functions_compose_their_two_operations,
    scenario_dual,
    {
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let session = open(0);
        assert_eq!(login(session, common::CO_PIN), CKR_OK);
        let value = [0x42u8; 16];
        let aes = readable_key(session, CKK_AES, &value);
        let mut sha = mechanism(CKM_SHA256);
        // C_DigestKey digests a readable key's value (register A75)...
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        assert_eq!(call!(C_DigestKey(session, aes)), CKR_OK);
        assert_eq!(digest_final(session), Ok(sha256(session, &value)));
        // ... but not a sensitive one, and the error ends the digest.
        let sensitive = aes_key(session);
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        assert_eq!(call!(C_DigestKey(session, sensitive)), CKR_KEY_INDIGESTIBLE);
        assert_eq!(digest_final(session), Err(CKR_OPERATION_NOT_INITIALIZED));
        assert_eq!(
            call!(C_DigestKey(session, aes)),
            CKR_OPERATION_NOT_INITIALIZED
        );

        // C_DigestEncryptUpdate: a length query changes nothing; then digest and encrypt.
        let data: Vec<u8> = (0..40u8).collect();
        let mut iv = [7u8; 16];
        let mut cbc = with_param(CKM_AES_CBC_PAD, &mut iv, 16);
        assert_eq!(call!(C_EncryptInit(session, &mut cbc, aes)), CKR_OK);
        let mut expected = [0u8; 64];
        let mut expected_len: CK_ULONG = 64;
        let mut input = data.clone();
        assert_eq!(
            call!(C_Encrypt(
                session,
                input.as_mut_ptr(),
                40,
                expected.as_mut_ptr(),
                &mut expected_len
            )),
            CKR_OK
        );
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        assert_eq!(call!(C_EncryptInit(session, &mut cbc, aes)), CKR_OK);
        let mut out = [0u8; 64];
        let mut len: CK_ULONG = 0;
        for _ in 0..2 {
            assert_eq!(
                call!(C_DigestEncryptUpdate(
                    session,
                    input.as_mut_ptr(),
                    40,
                    null_mut(),
                    &mut len
                )),
                CKR_OK
            );
            assert_eq!(len, 32);
        }
        len = 8;
        assert_eq!(
            call!(C_DigestEncryptUpdate(
                session,
                input.as_mut_ptr(),
                40,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_BUFFER_TOO_SMALL
        );
        len = 64;
        assert_eq!(
            call!(C_DigestEncryptUpdate(
                session,
                input.as_mut_ptr(),
                40,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OK
        );
        let mut last = [0u8; 32];
        let mut last_len: CK_ULONG = 32;
        assert_eq!(
            call!(C_EncryptFinal(session, last.as_mut_ptr(), &mut last_len)),
            CKR_OK
        );
        let mut ciphertext = out[..len as usize].to_vec();
        ciphertext.extend_from_slice(&last[..last_len as usize]);
        assert_eq!(ciphertext, expected[..expected_len as usize]);
        assert_eq!(
            digest_final(session),
            Ok(sha256(session, &data)),
            "digested once"
        );

        // C_DecryptDigestUpdate: the plaintext is digested once, also when it is held back
        // for a short buffer and fetched again.
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        assert_eq!(call!(C_DecryptInit(session, &mut cbc, aes)), CKR_OK);
        let mut plain = Vec::new();
        for chunk in ciphertext.chunks(24) {
            let mut chunk = chunk.to_vec();
            let mut part = [0u8; 64];
            let mut part_len: CK_ULONG = 1;
            let rv = call!(C_DecryptDigestUpdate(
                session,
                chunk.as_mut_ptr(),
                chunk.len() as CK_ULONG,
                part.as_mut_ptr(),
                &mut part_len
            ));
            if rv == CKR_BUFFER_TOO_SMALL {
                part_len = 64;
                assert_eq!(
                    call!(C_DecryptDigestUpdate(
                        session,
                        chunk.as_mut_ptr(),
                        chunk.len() as CK_ULONG,
                        part.as_mut_ptr(),
                        &mut part_len
                    )),
                    CKR_OK
                );
            } else {
                assert_eq!(rv, CKR_OK);
            }
            plain.extend_from_slice(&part[..part_len as usize]);
        }
        let mut tail = [0u8; 32];
        let mut tail_len: CK_ULONG = 32;
        assert_eq!(
            call!(C_DecryptFinal(session, tail.as_mut_ptr(), &mut tail_len)),
            CKR_OK
        );
        // The digest holds what the dual calls gave, each byte once; the last plaintext
        // comes from C_DecryptFinal, outside them.
        let digested = digest_final(session);
        assert_eq!(digested, Ok(sha256(session, &plain)));
        assert!(
            plain.len() < data.len(),
            "the padded last block waits for the final call"
        );
        plain.extend_from_slice(&tail[..tail_len as usize]);
        assert_eq!(plain, data);

        // C_SignEncryptUpdate and C_DecryptVerifyUpdate with HMAC.
        let mac_key = hmac_key(session);
        let mut hmac = mechanism(CKM_SHA256_HMAC);
        assert_eq!(call!(C_SignInit(session, &mut hmac, mac_key)), CKR_OK);
        let mut tag = [0u8; 32];
        let mut tag_len: CK_ULONG = 32;
        assert_eq!(
            call!(C_Sign(
                session,
                input.as_mut_ptr(),
                32,
                tag.as_mut_ptr(),
                &mut tag_len
            )),
            CKR_OK
        );
        let mut ecb = mechanism(CKM_AES_ECB);
        assert_eq!(call!(C_SignInit(session, &mut hmac, mac_key)), CKR_OK);
        assert_eq!(call!(C_EncryptInit(session, &mut ecb, aes)), CKR_OK);
        len = 64;
        assert_eq!(
            call!(C_SignEncryptUpdate(
                session,
                input.as_mut_ptr(),
                32,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OK
        );
        let mut ecb_ciphertext = out[..len as usize].to_vec();
        let mut signed = [0u8; 32];
        let mut signed_len: CK_ULONG = 32;
        assert_eq!(
            call!(C_SignFinal(session, signed.as_mut_ptr(), &mut signed_len)),
            CKR_OK
        );
        assert_eq!(signed, tag);
        last_len = 32;
        assert_eq!(
            call!(C_EncryptFinal(session, last.as_mut_ptr(), &mut last_len)),
            CKR_OK
        );
        assert_eq!(call!(C_VerifyInit(session, &mut hmac, mac_key)), CKR_OK);
        assert_eq!(call!(C_DecryptInit(session, &mut ecb, aes)), CKR_OK);
        len = 64;
        assert_eq!(
            call!(C_DecryptVerifyUpdate(
                session,
                ecb_ciphertext.as_mut_ptr(),
                32,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OK
        );
        assert_eq!(out[..32], data[..32]);
        assert_eq!(call!(C_VerifyFinal(session, tag.as_mut_ptr(), 32)), CKR_OK);
        // Without the second operation nothing moves, and the encryption stays active: an
        // operation that is not there ends nothing (A78).
        assert_eq!(call!(C_EncryptInit(session, &mut ecb, aes)), CKR_OK);
        len = 64;
        assert_eq!(
            call!(C_DigestEncryptUpdate(
                session,
                input.as_mut_ptr(),
                16,
                out.as_mut_ptr(),
                &mut len
            )),
            CKR_OPERATION_NOT_INITIALIZED
        );
        last_len = 32;
        assert_eq!(
            call!(C_EncryptFinal(session, last.as_mut_ptr(), &mut last_len)),
            CKR_OK
        );
        assert_eq!(last_len, 0);
        assert_eq!(
            call!(C_EncryptFinal(session, last.as_mut_ptr(), &mut last_len)),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(
    allowed_mechanisms_are_an_array_of_native_mechanism_types,
    scenario_allowed,
    {
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let session = open(0);
        assert_eq!(login(session, common::CO_PIN), CKR_OK);
        let mut class = CKO_SECRET_KEY;
        let mut kind = CKK_AES;
        let mut value = [9u8; 16];
        let mut allowed: [CK_MECHANISM_TYPE; 2] = [CKM_AES_ECB, CKM_AES_GCM];
        let mut template = [
            CK_ATTRIBUTE {
                type_: CKA_CLASS,
                pValue: std::ptr::from_mut(&mut class).cast(),
                ulValueLen: size_of::<CK_ULONG>() as CK_ULONG,
            },
            CK_ATTRIBUTE {
                type_: CKA_KEY_TYPE,
                pValue: std::ptr::from_mut(&mut kind).cast(),
                ulValueLen: size_of::<CK_ULONG>() as CK_ULONG,
            },
            CK_ATTRIBUTE {
                type_: CKA_VALUE,
                pValue: value.as_mut_ptr().cast(),
                ulValueLen: 16,
            },
            CK_ATTRIBUTE {
                type_: CKA_ALLOWED_MECHANISMS,
                pValue: allowed.as_mut_ptr().cast(),
                ulValueLen: size_of_val(&allowed) as CK_ULONG,
            },
        ];
        let mut key = 0;
        assert_eq!(
            call!(C_CreateObject(session, template.as_mut_ptr(), 4, &mut key)),
            CKR_OK
        );
        let mut back: [CK_MECHANISM_TYPE; 4] = [0; 4];
        let mut query = [CK_ATTRIBUTE {
            type_: CKA_ALLOWED_MECHANISMS,
            pValue: back.as_mut_ptr().cast(),
            ulValueLen: size_of_val(&back) as CK_ULONG,
        }];
        assert_eq!(
            call!(C_GetAttributeValue(session, key, query.as_mut_ptr(), 1)),
            CKR_OK
        );
        assert_eq!(query[0].ulValueLen as usize, 2 * size_of::<CK_ULONG>());
        assert_eq!(back[..2], [CKM_AES_ECB, CKM_AES_GCM]);
        let mut ecb = mechanism(CKM_AES_ECB);
        assert_eq!(call!(C_EncryptInit(session, &mut ecb, key)), CKR_OK);
        let mut cbc_iv = [0u8; 16];
        let mut cbc = with_param(CKM_AES_CBC, &mut cbc_iv, 16);
        assert_eq!(
            call!(C_DecryptInit(session, &mut cbc, key)),
            CKR_MECHANISM_INVALID
        );
        // A length that is not a whole number of mechanism types.
        template[3].ulValueLen = 12;
        assert_eq!(
            call!(C_CreateObject(session, template.as_mut_ptr(), 4, &mut key)),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

/// An attribute whose value is `value` (its whole size: for a nested template, the array).
fn attr<T>(type_: CK_ATTRIBUTE_TYPE, value: &mut T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_,
        pValue: std::ptr::from_mut(value).cast(),
        ulValueLen: size_of::<T>() as CK_ULONG,
    }
}

/// A key from `C_GenerateKey` with `template`.
fn generate(
    session: CK_SESSION_HANDLE,
    kind: CK_MECHANISM_TYPE,
    template: &mut [CK_ATTRIBUTE],
) -> (CK_RV, CK_OBJECT_HANDLE) {
    let mut keygen = mechanism(kind);
    let mut key = 0;
    let rv = call!(C_GenerateKey(
        session,
        &mut keygen,
        template.as_mut_ptr(),
        template.len() as CK_ULONG,
        &mut key
    ));
    (rv, key)
}

scenario!(
    templates_are_nested_attribute_arrays_read_back_in_three_passes_and_enforced,
    scenario_templates,
    {
        const ENTRY: CK_ULONG = size_of::<CK_ATTRIBUTE>() as CK_ULONG;
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let session = open(0);
        assert_eq!(login(session, common::CO_PIN), CKR_OK);
        let (mut yes, mut aes, mut len) = (1u8, CKK_AES, 32 as CK_ULONG);
        let mut label = *b"unwrapped";
        let mut wrap_template = [
            attr(CKA_EXTRACTABLE, &mut yes),
            attr(CKA_KEY_TYPE, &mut aes),
        ];
        let mut unwrap_template = [attr(CKA_LABEL, &mut label)];
        let (mut wrap_flag, mut unwrap_flag) = (1u8, 1u8);
        let mut template = [
            attr(CKA_VALUE_LEN, &mut len),
            attr(CKA_WRAP, &mut wrap_flag),
            attr(CKA_UNWRAP, &mut unwrap_flag),
            attr(CKA_WRAP_TEMPLATE, &mut wrap_template),
            attr(CKA_UNWRAP_TEMPLATE, &mut unwrap_template),
        ];
        let (rv, kek) = generate(session, CKM_AES_KEY_GEN, &mut template);
        assert_eq!(rv, CKR_OK);

        // Pass 1: the size of the nested template.
        let mut query = [CK_ATTRIBUTE {
            type_: CKA_WRAP_TEMPLATE,
            pValue: null_mut(),
            ulValueLen: 0,
        }];
        assert_eq!(
            call!(C_GetAttributeValue(session, kek, query.as_mut_ptr(), 1)),
            CKR_OK
        );
        assert_eq!(query[0].ulValueLen, 2 * ENTRY);
        // Pass 2: the types (ascending) and the lengths of their values.
        let mut inner = [CK_ATTRIBUTE {
            type_: 0,
            pValue: null_mut(),
            ulValueLen: 0,
        }; 2];
        query[0].pValue = inner.as_mut_ptr().cast();
        assert_eq!(
            call!(C_GetAttributeValue(session, kek, query.as_mut_ptr(), 1)),
            CKR_OK
        );
        assert_eq!(
            (inner[0].type_, inner[1].type_),
            (CKA_KEY_TYPE, CKA_EXTRACTABLE)
        );
        assert_eq!(inner[0].ulValueLen as usize, size_of::<CK_ULONG>());
        assert_eq!(inner[1].ulValueLen, 1);
        // Pass 3: the values, a CK_ULONG in native form.
        let (mut key_type, mut extractable): (CK_ULONG, u8) = (0, 0);
        inner[0].pValue = std::ptr::from_mut(&mut key_type).cast();
        inner[1].pValue = std::ptr::from_mut(&mut extractable).cast();
        assert_eq!(
            call!(C_GetAttributeValue(session, kek, query.as_mut_ptr(), 1)),
            CKR_OK
        );
        assert_eq!((key_type, extractable), (CKK_AES, 1));
        assert_eq!(query[0].ulValueLen, 2 * ENTRY);
        // A nested buffer too small: CKR_BUFFER_TOO_SMALL, that entry unavailable.
        inner[0].ulValueLen = 4;
        assert_eq!(
            call!(C_GetAttributeValue(session, kek, query.as_mut_ptr(), 1)),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(inner[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        assert_eq!(inner[1].ulValueLen, 1);
        // The nested template too small: the outer entry unavailable.
        query[0].ulValueLen = ENTRY;
        assert_eq!(
            call!(C_GetAttributeValue(session, kek, query.as_mut_ptr(), 1)),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(query[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);

        // Wrapping: an extractable AES key matches; an extractable triple-DES key does not.
        let mut extractable_flag = 1u8;
        let mut sensitive_flag = 0u8;
        let mut aes_len = 16 as CK_ULONG;
        let (rv, target) = generate(
            session,
            CKM_AES_KEY_GEN,
            &mut [
                attr(CKA_VALUE_LEN, &mut aes_len),
                attr(CKA_EXTRACTABLE, &mut extractable_flag),
                attr(CKA_SENSITIVE, &mut sensitive_flag),
            ],
        );
        assert_eq!(rv, CKR_OK);
        let (rv, des3) = generate(
            session,
            CKM_DES3_KEY_GEN,
            &mut [
                attr(CKA_EXTRACTABLE, &mut extractable_flag),
                attr(CKA_SENSITIVE, &mut sensitive_flag),
            ],
        );
        assert_eq!(rv, CKR_OK);
        let mut wrap = mechanism(CKM_AES_KEY_WRAP_PAD);
        let mut wrapped = [0u8; 64];
        let mut wrapped_len = 64 as CK_ULONG;
        assert_eq!(
            call!(C_WrapKey(
                session,
                &mut wrap,
                kek,
                des3,
                wrapped.as_mut_ptr(),
                &mut wrapped_len
            )),
            CKR_KEY_NOT_WRAPPABLE
        );
        wrapped_len = 64;
        assert_eq!(
            call!(C_WrapKey(
                session,
                &mut wrap,
                kek,
                target,
                wrapped.as_mut_ptr(),
                &mut wrapped_len
            )),
            CKR_OK
        );
        // Unwrapping applies the unwrap template.
        let (mut class, mut aes_type) = (CKO_SECRET_KEY, CKK_AES);
        let mut unwrap = [
            attr(CKA_CLASS, &mut class),
            attr(CKA_KEY_TYPE, &mut aes_type),
        ];
        let mut unwrapped = 0;
        assert_eq!(
            call!(C_UnwrapKey(
                session,
                &mut wrap,
                kek,
                wrapped.as_mut_ptr(),
                wrapped_len,
                unwrap.as_mut_ptr(),
                2,
                &mut unwrapped
            )),
            CKR_OK
        );
        let mut got = [0u8; 16];
        let mut read = [CK_ATTRIBUTE {
            type_: CKA_LABEL,
            pValue: got.as_mut_ptr().cast(),
            ulValueLen: 16,
        }];
        assert_eq!(
            call!(C_GetAttributeValue(
                session,
                unwrapped,
                read.as_mut_ptr(),
                1
            )),
            CKR_OK
        );
        assert_eq!(&got[..read[0].ulValueLen as usize], b"unwrapped");

        // A find by the template, given in the other order, finds the key.
        let mut reordered = [
            attr(CKA_KEY_TYPE, &mut aes),
            attr(CKA_EXTRACTABLE, &mut yes),
        ];
        let mut find = [attr(CKA_WRAP_TEMPLATE, &mut reordered)];
        assert_eq!(
            call!(C_FindObjectsInit(session, find.as_mut_ptr(), 1)),
            CKR_OK
        );
        let mut found = [0; 4];
        let mut count = 0;
        assert_eq!(
            call!(C_FindObjects(session, found.as_mut_ptr(), 4, &mut count)),
            CKR_OK
        );
        assert_eq!(call!(C_FindObjectsFinal(session)), CKR_OK);
        assert_eq!(&found[..count as usize], &[kek]);

        // A size that is not whole entries, and a nested template inside a nested template.
        template[3].ulValueLen = ENTRY + 3;
        assert_eq!(
            generate(session, CKM_AES_KEY_GEN, &mut template).0,
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        let mut deep = [attr(CKA_DERIVE_TEMPLATE, &mut unwrap_template)];
        template[3] = attr(CKA_WRAP_TEMPLATE, &mut deep);
        assert_eq!(
            generate(session, CKM_AES_KEY_GEN, &mut template).0,
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

/// `C_Sign` (or, with `recover`, `C_SignRecover`) of `data` into a fresh buffer.
fn sign_with(session: CK_SESSION_HANDLE, data: &[u8], recover: bool) -> Result<Vec<u8>, CK_RV> {
    let mut out = [0u8; 512];
    let mut len: CK_ULONG = 512;
    let input = data.as_ptr().cast_mut();
    let size = data.len() as CK_ULONG;
    let rv = if recover {
        call!(C_SignRecover(
            session,
            input,
            size,
            out.as_mut_ptr(),
            &mut len
        ))
    } else {
        call!(C_Sign(session, input, size, out.as_mut_ptr(), &mut len))
    };
    if rv == CKR_OK {
        Ok(out[..len as usize].to_vec())
    } else {
        Err(rv)
    }
}

scenario!(
    an_error_ends_only_the_operation_of_its_own_sort,
    scenario_error_sorts,
    {
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let session = open(0);
        assert_eq!(login(session, common::CO_PIN), CKR_OK);
        let hmac = hmac_key(session);
        let aes = aes_key(session);
        let mut bits: CK_ULONG = 1024;
        let mut public = [attr(CKA_MODULUS_BITS, &mut bits)];
        let mut keygen = mechanism(CKM_RSA_PKCS_KEY_PAIR_GEN);
        let (mut rsa_public, mut rsa_private) = (0, 0);
        assert_eq!(
            call!(C_GenerateKeyPair(
                session,
                &mut keygen,
                public.as_mut_ptr(),
                1,
                null_mut(),
                0,
                &mut rsa_public,
                &mut rsa_private
            )),
            CKR_OK
        );
        let data = *b"sixteen bytes in";
        let mut out = [0u8; 64];
        let mut out_len: CK_ULONG = 64;
        let (mut sha, mut hmac_mech, mut rsa) = (
            mechanism(CKM_SHA256),
            mechanism(CKM_SHA256_HMAC),
            mechanism(CKM_RSA_PKCS),
        );
        assert_eq!(call!(C_SignInit(session, &mut hmac_mech, hmac)), CKR_OK);
        let tag = sign_with(session, &data, false).unwrap();

        // A dual call that finds no decryption leaves the digest or verification untouched:
        // the single-part call that follows still works.
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        assert_eq!(
            call!(C_DecryptDigestUpdate(
                session,
                data.as_ptr().cast_mut(),
                16,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_OPERATION_NOT_INITIALIZED
        );
        let mut digest = [0u8; 32];
        let mut digest_len: CK_ULONG = 32;
        assert_eq!(
            call!(C_Digest(
                session,
                data.as_ptr().cast_mut(),
                16,
                digest.as_mut_ptr(),
                &mut digest_len
            )),
            CKR_OK
        );
        assert_eq!(digest.to_vec(), sha256(session, &data));
        assert_eq!(call!(C_VerifyInit(session, &mut hmac_mech, hmac)), CKR_OK);
        out_len = 64;
        assert_eq!(
            call!(C_DecryptVerifyUpdate(
                session,
                data.as_ptr().cast_mut(),
                16,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(
            call!(C_Verify(
                session,
                data.as_ptr().cast_mut(),
                16,
                tag.as_ptr().cast_mut(),
                tag.len() as CK_ULONG
            )),
            CKR_OK
        );
        // The other way: a dual call that finds no digest leaves the decryption.
        let mut ecb = mechanism(CKM_AES_ECB);
        assert_eq!(call!(C_DecryptInit(session, &mut ecb, aes)), CKR_OK);
        out_len = 64;
        assert_eq!(
            call!(C_DecryptDigestUpdate(
                session,
                data.as_ptr().cast_mut(),
                16,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_OPERATION_NOT_INITIALIZED
        );
        out_len = 64;
        assert_eq!(
            call!(C_Decrypt(
                session,
                data.as_ptr().cast_mut(),
                16,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_OK
        );

        // A plain signing call's bad argument leaves a sign-recover operation, and the other
        // way round; likewise for verification (register A78).
        assert_eq!(
            call!(C_SignRecoverInit(session, &mut rsa, rsa_private)),
            CKR_OK
        );
        assert_eq!(
            call!(C_SignUpdate(session, null_mut(), 5)),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(C_Sign(
                session,
                data.as_ptr().cast_mut(),
                16,
                null_mut(),
                null_mut()
            )),
            CKR_ARGUMENTS_BAD
        );
        let recoverable = sign_with(session, &data, true).unwrap();
        assert_eq!(recoverable.len(), 128);
        assert_eq!(call!(C_SignInit(session, &mut hmac_mech, hmac)), CKR_OK);
        assert_eq!(
            call!(C_SignRecover(
                session,
                null_mut(),
                5,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(sign_with(session, &data, false), Ok(tag.clone()));
        assert_eq!(call!(C_VerifyInit(session, &mut hmac_mech, hmac)), CKR_OK);
        out_len = 64;
        assert_eq!(
            call!(C_VerifyRecover(
                session,
                null_mut(),
                5,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            call!(C_Verify(
                session,
                data.as_ptr().cast_mut(),
                16,
                tag.as_ptr().cast_mut(),
                tag.len() as CK_ULONG
            )),
            CKR_OK
        );
        // But a recover call's own error ends its operation.
        assert_eq!(
            call!(C_SignRecoverInit(session, &mut rsa, rsa_private)),
            CKR_OK
        );
        assert_eq!(
            call!(C_SignRecover(
                session,
                null_mut(),
                5,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            sign_with(session, &data, true),
            Err(CKR_OPERATION_NOT_INITIALIZED)
        );
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(
    a_context_pin_that_locks_drops_the_plaintext_held_for_the_slot,
    scenario_context_lock,
    {
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let session = open(0);
        assert_eq!(login(session, common::CO_PIN), CKR_OK);
        let context_login = |pin: &str| {
            call!(C_Login(
                session,
                CKU_CONTEXT_SPECIFIC,
                pin.as_ptr().cast_mut(),
                pin.len() as CK_ULONG
            ))
        };
        let (mut bits, mut yes) = (1024 as CK_ULONG, 1u8);
        let mut public = [attr(CKA_MODULUS_BITS, &mut bits)];
        let mut private = [attr(CKA_ALWAYS_AUTHENTICATE, &mut yes)];
        let mut keygen = mechanism(CKM_RSA_PKCS_KEY_PAIR_GEN);
        let (mut rsa_public, mut rsa_private) = (0, 0);
        assert_eq!(
            call!(C_GenerateKeyPair(
                session,
                &mut keygen,
                public.as_mut_ptr(),
                1,
                private.as_mut_ptr(),
                1,
                &mut rsa_public,
                &mut rsa_private
            )),
            CKR_OK
        );
        let mut rsa = mechanism(CKM_RSA_PKCS);
        let data = *b"the held secret.";
        assert_eq!(call!(C_EncryptInit(session, &mut rsa, rsa_public)), CKR_OK);
        let mut sealed = [0u8; 128];
        let mut sealed_len: CK_ULONG = 128;
        assert_eq!(
            call!(C_Encrypt(
                session,
                data.as_ptr().cast_mut(),
                16,
                sealed.as_mut_ptr(),
                &mut sealed_len
            )),
            CKR_OK
        );
        // Without the context login the key decrypts nothing, and the decryption ends.
        assert_eq!(call!(C_DecryptInit(session, &mut rsa, rsa_private)), CKR_OK);
        let mut out = [0u8; 128];
        let mut out_len: CK_ULONG = 128;
        assert_eq!(
            call!(C_Decrypt(
                session,
                sealed.as_mut_ptr(),
                sealed_len,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_USER_NOT_LOGGED_IN
        );
        assert_eq!(out, [0u8; 128]);
        assert_eq!(context_login(common::CO_PIN), CKR_OPERATION_NOT_INITIALIZED);
        // A decryption whose plaintext is held back for a short buffer.
        assert_eq!(call!(C_DecryptInit(session, &mut rsa, rsa_private)), CKR_OK);
        assert_eq!(context_login(common::CO_PIN), CKR_OK);
        out_len = 1;
        assert_eq!(
            call!(C_Decrypt(
                session,
                sealed.as_mut_ptr(),
                sealed_len,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_BUFFER_TOO_SMALL
        );
        // A signing that waits for the context PIN, given wrong ones until it locks.
        assert_eq!(call!(C_SignInit(session, &mut rsa, rsa_private)), CKR_OK);
        let mut tries = 0;
        let rv = loop {
            let rv = context_login("not the pin");
            tries += 1;
            if rv != CKR_PIN_INCORRECT || tries > 20 {
                break rv;
            }
        };
        assert_eq!(rv, CKR_PIN_LOCKED);
        let mut info = CK_SESSION_INFO {
            slotID: 0,
            state: 0,
            flags: 0,
            ulDeviceError: 0,
        };
        assert_eq!(call!(C_GetSessionInfo(session, &mut info)), CKR_OK);
        assert_eq!(
            info.state, CKS_RW_PUBLIC_SESSION,
            "the lock logged the slot out"
        );
        // The held plaintext went with the login: repeating the call fetches nothing.
        out_len = 128;
        assert_eq!(
            call!(C_Decrypt(
                session,
                sealed.as_mut_ptr(),
                sealed_len,
                out.as_mut_ptr(),
                &mut out_len
            )),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(out, [0u8; 128], "no plaintext came out");
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

/// A dual call of `f` (`C_DecryptDigestUpdate` or `C_DecryptVerifyUpdate`) on `data` into
/// `out` (NULL for a length query) of `len`; the return value and the length it leaves.
fn decrypt_dual(
    f: unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        CK_BYTE_PTR,
        CK_ULONG,
        CK_BYTE_PTR,
        CK_ULONG_PTR,
    ) -> CK_RV,
    session: CK_SESSION_HANDLE,
    data: &[u8],
    out: Option<&mut [u8]>,
    len: CK_ULONG,
) -> (CK_RV, CK_ULONG) {
    let mut len = len;
    let out = out.map_or(null_mut(), <[u8]>::as_mut_ptr);
    // SAFETY: `data` is readable for its length, `out` NULL or writable for `len` bytes.
    let rv = unsafe {
        f(
            session,
            data.as_ptr().cast_mut(),
            data.len() as CK_ULONG,
            out,
            &mut len,
        )
    };
    (rv, len)
}

scenario!(
    a_held_plaintext_goes_with_the_digest_it_was_fed_to,
    scenario_held_fed_ends,
    {
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let session = open(0);
        assert_eq!(login(session, common::CO_PIN), CKR_OK);
        let aes = aes_key(session);
        let (mut sha, mut ecb) = (mechanism(CKM_SHA256), mechanism(CKM_AES_ECB));
        let data = *b"sixteen bytes in";
        assert_eq!(call!(C_DecryptInit(session, &mut ecb, aes)), CKR_OK);
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        // Too short: the plaintext is held back, and was digested once.
        let mut short = [0u8; 4];
        assert_eq!(
            decrypt_dual(C_DecryptDigestUpdate, session, &data, Some(&mut short), 4).0,
            CKR_BUFFER_TOO_SMALL
        );
        let first = digest_final(session).unwrap();
        // A new digest does not get the held plaintext handed out past it: the plaintext
        // went with the digest it was fed to, and so did its decryption.
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        let mut out = [0u8; 16];
        assert_eq!(
            decrypt_dual(C_DecryptDigestUpdate, session, &data, Some(&mut out), 16).0,
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(out, [0u8; 16]);
        assert_eq!(digest_final(session).unwrap(), sha256(session, b""));
        // The first digest was of the plaintext; a new decryption may begin.
        assert_eq!(call!(C_DecryptInit(session, &mut ecb, aes)), CKR_OK);
        let mut plain_len: CK_ULONG = 16;
        assert_eq!(
            call!(C_Decrypt(
                session,
                data.as_ptr().cast_mut(),
                16,
                out.as_mut_ptr(),
                &mut plain_len
            )),
            CKR_OK
        );
        assert_eq!(first, sha256(session, &out));
    }
);

scenario!(
    dual_calls_look_at_both_halves_before_either_moves,
    scenario_dual_halves,
    {
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let session = open(0);
        assert_eq!(login(session, common::CO_PIN), CKR_OK);
        let hmac = hmac_key(session);
        let aes = aes_key(session);
        let (mut sha, mut hmac_mech, mut ecb, mut rsa) = (
            mechanism(CKM_SHA256),
            mechanism(CKM_SHA256_HMAC),
            mechanism(CKM_AES_ECB),
            mechanism(CKM_RSA_PKCS),
        );
        let data = *b"sixteen bytes in";
        assert_eq!(call!(C_SignInit(session, &mut hmac_mech, hmac)), CKR_OK);
        let tag = sign_with(session, &data, false).unwrap();
        let mut digest = [0u8; 32];
        let mut digest_len: CK_ULONG = 32;

        // A length query moves neither half: the digest and the verification still finish
        // single-part on their own data.
        assert_eq!(call!(C_DecryptInit(session, &mut ecb, aes)), CKR_OK);
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        assert_eq!(
            decrypt_dual(C_DecryptDigestUpdate, session, &data, None, 0),
            (CKR_OK, 16)
        );
        assert_eq!(
            call!(C_Digest(
                session,
                data.as_ptr().cast_mut(),
                16,
                digest.as_mut_ptr(),
                &mut digest_len
            )),
            CKR_OK
        );
        assert_eq!(digest.to_vec(), sha256(session, &data));
        assert_eq!(call!(C_VerifyInit(session, &mut hmac_mech, hmac)), CKR_OK);
        assert_eq!(
            decrypt_dual(C_DecryptVerifyUpdate, session, &data, None, 0),
            (CKR_OK, 16)
        );
        assert_eq!(
            call!(C_Verify(
                session,
                data.as_ptr().cast_mut(),
                16,
                tag.as_ptr().cast_mut(),
                tag.len() as CK_ULONG
            )),
            CKR_OK
        );
        // The decryption did not move either: it still decrypts single-part.
        let mut plain = [0u8; 16];
        let mut plain_len: CK_ULONG = 16;
        assert_eq!(
            call!(C_Decrypt(
                session,
                data.as_ptr().cast_mut(),
                16,
                plain.as_mut_ptr(),
                &mut plain_len
            )),
            CKR_OK
        );
        let opened = plain;

        // An RSA decryption (single-part only) beside no digest: the missing half is what is
        // reported, and the decryption is left to finish single-part.
        let mut bits: CK_ULONG = 1024;
        let mut public = [attr(CKA_MODULUS_BITS, &mut bits)];
        let mut keygen = mechanism(CKM_RSA_PKCS_KEY_PAIR_GEN);
        let (mut rsa_public, mut rsa_private) = (0, 0);
        assert_eq!(
            call!(C_GenerateKeyPair(
                session,
                &mut keygen,
                public.as_mut_ptr(),
                1,
                null_mut(),
                0,
                &mut rsa_public,
                &mut rsa_private
            )),
            CKR_OK
        );
        assert_eq!(call!(C_EncryptInit(session, &mut rsa, rsa_public)), CKR_OK);
        let mut sealed = [0u8; 128];
        let mut sealed_len: CK_ULONG = 128;
        assert_eq!(
            call!(C_Encrypt(
                session,
                data.as_ptr().cast_mut(),
                16,
                sealed.as_mut_ptr(),
                &mut sealed_len
            )),
            CKR_OK
        );
        assert_eq!(call!(C_DecryptInit(session, &mut rsa, rsa_private)), CKR_OK);
        let mut out = [0u8; 128];
        assert_eq!(
            decrypt_dual(C_DecryptDigestUpdate, session, &sealed, Some(&mut out), 128).0,
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(
            decrypt_dual(C_DecryptVerifyUpdate, session, &sealed, Some(&mut out), 128).0,
            CKR_OPERATION_NOT_INITIALIZED
        );
        let mut opened_len: CK_ULONG = 128;
        assert_eq!(
            call!(C_Decrypt(
                session,
                sealed.as_mut_ptr(),
                sealed_len,
                out.as_mut_ptr(),
                &mut opened_len
            )),
            CKR_OK
        );
        assert_eq!(&out[..opened_len as usize], &data);
        // Beside a digest, it is refused as `C_DecryptUpdate` would be, and both end.
        assert_eq!(call!(C_DecryptInit(session, &mut rsa, rsa_private)), CKR_OK);
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        out = [0u8; 128];
        assert_eq!(
            decrypt_dual(C_DecryptDigestUpdate, session, &sealed, Some(&mut out), 128).0,
            CKR_FUNCTION_NOT_SUPPORTED
        );
        assert_eq!(out, [0u8; 128], "no plaintext came out");
        assert_eq!(digest_final(session), Err(CKR_OPERATION_NOT_INITIALIZED));
        opened_len = 128;
        assert_eq!(
            call!(C_Decrypt(
                session,
                sealed.as_mut_ptr(),
                sealed_len,
                out.as_mut_ptr(),
                &mut opened_len
            )),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // A single-part-only verification (raw RSA PKCS #1) takes no update: no plaintext
        // leaves the AES decryption.
        assert_eq!(call!(C_DecryptInit(session, &mut ecb, aes)), CKR_OK);
        assert_eq!(call!(C_VerifyInit(session, &mut rsa, rsa_public)), CKR_OK);
        plain = [0u8; 16];
        assert_eq!(
            decrypt_dual(C_DecryptVerifyUpdate, session, &data, Some(&mut plain), 16).0,
            CKR_FUNCTION_NOT_SUPPORTED
        );
        assert_eq!(plain, [0u8; 16], "no plaintext came out");

        // A plaintext held back by C_DecryptUpdate is not handed out undigested by
        // C_DecryptDigestUpdate (nor was it digested): the call is refused, and both end.
        assert_eq!(call!(C_DecryptInit(session, &mut ecb, aes)), CKR_OK);
        plain_len = 1;
        assert_eq!(
            call!(C_DecryptUpdate(
                session,
                data.as_ptr().cast_mut(),
                16,
                plain.as_mut_ptr(),
                &mut plain_len
            )),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        plain = [0u8; 16];
        assert_eq!(
            decrypt_dual(C_DecryptDigestUpdate, session, &data, Some(&mut plain), 16).0,
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(plain, [0u8; 16], "the held plaintext did not come out");
        assert_eq!(digest_final(session), Err(CKR_OPERATION_NOT_INITIALIZED));
        // The other way: one held by C_DecryptDigestUpdate (and digested) is not fetched by
        // C_DecryptUpdate.
        assert_eq!(call!(C_DecryptInit(session, &mut ecb, aes)), CKR_OK);
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        assert_eq!(
            decrypt_dual(C_DecryptDigestUpdate, session, &data, Some(&mut plain), 1),
            (CKR_BUFFER_TOO_SMALL, 16)
        );
        plain_len = 16;
        assert_eq!(
            call!(C_DecryptUpdate(
                session,
                data.as_ptr().cast_mut(),
                16,
                plain.as_mut_ptr(),
                &mut plain_len
            )),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(plain, [0u8; 16], "the held plaintext did not come out");
        // It was digested once, when it was computed; the digest is still active.
        assert_eq!(digest_final(session), Ok(sha256(session, &opened)));
        // The same call through the same function fetches it, digested once.
        assert_eq!(call!(C_DecryptInit(session, &mut ecb, aes)), CKR_OK);
        assert_eq!(call!(C_DigestInit(session, &mut sha)), CKR_OK);
        assert_eq!(
            decrypt_dual(C_DecryptDigestUpdate, session, &data, Some(&mut plain), 1),
            (CKR_BUFFER_TOO_SMALL, 16)
        );
        assert_eq!(
            decrypt_dual(C_DecryptDigestUpdate, session, &data, Some(&mut plain), 16),
            (CKR_OK, 16)
        );
        assert_eq!(plain, opened);
        assert_eq!(digest_final(session), Ok(sha256(session, &opened)));
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);

scenario!(
    get_attribute_value_refuses_buffers_that_overlap_its_template,
    scenario_overlap,
    {
        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK);
        let session = open(0);
        assert_eq!(login(session, common::CO_PIN), CKR_OK);
        let (mut aes, mut len, mut yes) = (CKK_AES, 32 as CK_ULONG, 1u8);
        let mut wrap_template = [attr(CKA_KEY_TYPE, &mut aes)];
        let mut template = [
            attr(CKA_VALUE_LEN, &mut len),
            attr(CKA_WRAP, &mut yes),
            attr(CKA_WRAP_TEMPLATE, &mut wrap_template),
        ];
        let (rv, key) = generate(session, CKM_AES_KEY_GEN, &mut template);
        assert_eq!(rv, CKR_OK);
        // The nested array is the template itself.
        let mut outer = [CK_ATTRIBUTE {
            type_: CKA_WRAP_TEMPLATE,
            pValue: null_mut(),
            ulValueLen: size_of::<CK_ATTRIBUTE>() as CK_ULONG,
        }];
        outer[0].pValue = outer.as_mut_ptr().cast();
        assert_eq!(
            call!(C_GetAttributeValue(session, key, outer.as_mut_ptr(), 1)),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(outer[0].type_, CKA_WRAP_TEMPLATE, "nothing was written");
        // A nested value inside the outer template.
        let mut outer = [CK_ATTRIBUTE {
            type_: CKA_WRAP_TEMPLATE,
            pValue: null_mut(),
            ulValueLen: size_of::<CK_ATTRIBUTE>() as CK_ULONG,
        }];
        let mut nested = [CK_ATTRIBUTE {
            type_: 0,
            pValue: outer.as_mut_ptr().cast(),
            ulValueLen: size_of::<CK_ATTRIBUTE>() as CK_ULONG,
        }];
        outer[0].pValue = nested.as_mut_ptr().cast();
        assert_eq!(
            call!(C_GetAttributeValue(session, key, outer.as_mut_ptr(), 1)),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(outer[0].type_, CKA_WRAP_TEMPLATE, "nothing was written");
        // A plain value that overlaps its own template entry.
        let mut plain = [CK_ATTRIBUTE {
            type_: CKA_VALUE_LEN,
            pValue: null_mut(),
            ulValueLen: size_of::<CK_ULONG>() as CK_ULONG,
        }];
        plain[0].pValue = plain.as_mut_ptr().cast();
        assert_eq!(
            call!(C_GetAttributeValue(session, key, plain.as_mut_ptr(), 1)),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(plain[0].type_, CKA_VALUE_LEN);
        // Only what is written counts: the buffer of an attribute the key lacks, the unused
        // tail of a value's buffer and of a nested array may overlap other buffers.
        let mut shared = [0u8; 2 * size_of::<CK_ULONG>()];
        let base = shared.as_mut_ptr();
        let mut nested = [CK_ATTRIBUTE {
            type_: 0,
            pValue: null_mut(),
            ulValueLen: 0,
        }; 3];
        let mut kind: CK_ULONG = 0;
        nested[0] = attr(CKA_KEY_TYPE, &mut kind);
        // Spare nested entries over which the key length is written.
        let spare = nested[1..].as_mut_ptr().cast::<u8>();
        let mut template = [
            // The key has no modulus: nothing is written through this buffer.
            CK_ATTRIBUTE {
                type_: CKA_MODULUS,
                pValue: base.cast(),
                ulValueLen: shared.len() as CK_ULONG,
            },
            // Two CK_ULONGs of room, one written.
            CK_ATTRIBUTE {
                type_: CKA_VALUE_LEN,
                pValue: base.cast(),
                ulValueLen: shared.len() as CK_ULONG,
            },
            CK_ATTRIBUTE {
                type_: CKA_WRAP_TEMPLATE,
                pValue: nested.as_mut_ptr().cast(),
                ulValueLen: size_of_val(&nested) as CK_ULONG,
            },
            // The class goes into the spare half of the key length's buffer.
            CK_ATTRIBUTE {
                type_: CKA_CLASS,
                // SAFETY: within `shared`.
                pValue: unsafe { base.add(size_of::<CK_ULONG>()) }.cast(),
                ulValueLen: size_of::<CK_ULONG>() as CK_ULONG,
            },
            // The key type again, into the nested array's spare entries.
            CK_ATTRIBUTE {
                type_: CKA_KEY_TYPE,
                pValue: spare.cast(),
                ulValueLen: size_of::<CK_ULONG>() as CK_ULONG,
            },
        ];
        assert_eq!(
            call!(C_GetAttributeValue(session, key, template.as_mut_ptr(), 5)),
            CKR_ATTRIBUTE_TYPE_INVALID
        );
        assert_eq!(template[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        let read = |at: usize| {
            CK_ULONG::from_ne_bytes(shared[at..at + size_of::<CK_ULONG>()].try_into().unwrap())
        };
        assert_eq!(read(0), 32);
        assert_eq!(read(size_of::<CK_ULONG>()), CKO_SECRET_KEY);
        assert_eq!(
            template[2].ulValueLen,
            size_of::<CK_ATTRIBUTE>() as CK_ULONG
        );
        assert_eq!(kind, CKK_AES);
        // SAFETY: `spare` points into `nested`, which lives on.
        let again = unsafe { std::ptr::read_unaligned(spare.cast::<CK_ULONG>()) };
        assert_eq!(again, CKK_AES);
        // Disjoint buffers read as before.
        let mut kind: CK_ULONG = 0;
        let mut nested = [attr(CKA_KEY_TYPE, &mut kind)];
        let mut outer = [attr(CKA_WRAP_TEMPLATE, &mut nested)];
        assert_eq!(
            call!(C_GetAttributeValue(session, key, outer.as_mut_ptr(), 1)),
            CKR_OK
        );
        assert_eq!(kind, CKK_AES);
        assert_eq!(call!(C_Finalize(null_mut())), CKR_OK);
    }
);
