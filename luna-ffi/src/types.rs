//! The PKCS#11 v2.40 C ABI types (Linux x86-64: `CK_ULONG` is `unsigned long`, 8 bytes;
//! natural alignment, no packing), with the standard names so the generated header reads like
//! `pkcs11t.h`.
//!
//! Values (`CKR_*`, `CKM_*`, `CKA_*`...) are not defined here: they come from
//! `cpv4_wire::consts` (and the standard flags from `luna_sim::ck`), and the C header's
//! `#define`s are generated from those tables.
#![allow(non_camel_case_types, non_snake_case)]

use std::ffi::{c_uchar, c_ulong, c_void};

/// `CK_BYTE`.
pub type CK_BYTE = c_uchar;
/// `CK_CHAR`.
pub type CK_CHAR = c_uchar;
/// `CK_UTF8CHAR`.
pub type CK_UTF8CHAR = c_uchar;
/// `CK_BBOOL`.
pub type CK_BBOOL = c_uchar;
/// `CK_ULONG`: `unsigned long`.
pub type CK_ULONG = c_ulong;
/// `CK_FLAGS`.
pub type CK_FLAGS = CK_ULONG;
/// `CK_RV`.
pub type CK_RV = CK_ULONG;
/// `CK_SLOT_ID`.
pub type CK_SLOT_ID = CK_ULONG;
/// `CK_SESSION_HANDLE`.
pub type CK_SESSION_HANDLE = CK_ULONG;
/// `CK_OBJECT_HANDLE`.
pub type CK_OBJECT_HANDLE = CK_ULONG;
/// `CK_OBJECT_CLASS`.
pub type CK_OBJECT_CLASS = CK_ULONG;
/// `CK_KEY_TYPE`.
pub type CK_KEY_TYPE = CK_ULONG;
/// `CK_ATTRIBUTE_TYPE`.
pub type CK_ATTRIBUTE_TYPE = CK_ULONG;
/// `CK_MECHANISM_TYPE`.
pub type CK_MECHANISM_TYPE = CK_ULONG;
/// `CK_USER_TYPE`.
pub type CK_USER_TYPE = CK_ULONG;
/// `CK_STATE`.
pub type CK_STATE = CK_ULONG;
/// `CK_NOTIFICATION`.
pub type CK_NOTIFICATION = CK_ULONG;
/// `CK_VOID_PTR`.
pub type CK_VOID_PTR = *mut c_void;
/// `CK_BYTE_PTR`.
pub type CK_BYTE_PTR = *mut CK_BYTE;
/// `CK_UTF8CHAR_PTR`.
pub type CK_UTF8CHAR_PTR = *mut CK_UTF8CHAR;
/// `CK_ULONG_PTR`.
pub type CK_ULONG_PTR = *mut CK_ULONG;
/// `CK_SLOT_ID_PTR`.
pub type CK_SLOT_ID_PTR = *mut CK_SLOT_ID;
/// `CK_SESSION_HANDLE_PTR`.
pub type CK_SESSION_HANDLE_PTR = *mut CK_SESSION_HANDLE;
/// `CK_OBJECT_HANDLE_PTR`.
pub type CK_OBJECT_HANDLE_PTR = *mut CK_OBJECT_HANDLE;
/// `CK_MECHANISM_TYPE_PTR`.
pub type CK_MECHANISM_TYPE_PTR = *mut CK_MECHANISM_TYPE;

/// `CK_VERSION`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CK_VERSION {
    /// Major version.
    pub major: CK_BYTE,
    /// Minor version.
    pub minor: CK_BYTE,
}

/// `CK_INFO`: library information.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_INFO {
    /// Cryptoki interface version (2.40).
    pub cryptokiVersion: CK_VERSION,
    /// Blank-padded manufacturer id.
    pub manufacturerID: [CK_UTF8CHAR; 32],
    /// Must be zero.
    pub flags: CK_FLAGS,
    /// Blank-padded description.
    pub libraryDescription: [CK_UTF8CHAR; 32],
    /// Library version.
    pub libraryVersion: CK_VERSION,
}

/// `CK_SLOT_INFO`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_SLOT_INFO {
    /// Blank-padded description.
    pub slotDescription: [CK_UTF8CHAR; 64],
    /// Blank-padded manufacturer id.
    pub manufacturerID: [CK_UTF8CHAR; 32],
    /// `CKF_TOKEN_PRESENT`, `CKF_HW_SLOT`...
    pub flags: CK_FLAGS,
    /// Hardware version.
    pub hardwareVersion: CK_VERSION,
    /// Firmware version.
    pub firmwareVersion: CK_VERSION,
}

/// `CK_TOKEN_INFO`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_TOKEN_INFO {
    /// Blank-padded label.
    pub label: [CK_UTF8CHAR; 32],
    /// Blank-padded manufacturer id.
    pub manufacturerID: [CK_UTF8CHAR; 32],
    /// Blank-padded model.
    pub model: [CK_UTF8CHAR; 16],
    /// Blank-padded serial number.
    pub serialNumber: [CK_CHAR; 16],
    /// `CKF_*` token flags.
    pub flags: CK_FLAGS,
    /// Maximum sessions (0: effectively infinite).
    pub ulMaxSessionCount: CK_ULONG,
    /// Open sessions.
    pub ulSessionCount: CK_ULONG,
    /// Maximum read-write sessions (0: effectively infinite).
    pub ulMaxRwSessionCount: CK_ULONG,
    /// Open read-write sessions.
    pub ulRwSessionCount: CK_ULONG,
    /// Longest PIN.
    pub ulMaxPinLen: CK_ULONG,
    /// Shortest PIN.
    pub ulMinPinLen: CK_ULONG,
    /// Public memory (unavailable).
    pub ulTotalPublicMemory: CK_ULONG,
    /// Free public memory (unavailable).
    pub ulFreePublicMemory: CK_ULONG,
    /// Private memory (unavailable).
    pub ulTotalPrivateMemory: CK_ULONG,
    /// Free private memory (unavailable).
    pub ulFreePrivateMemory: CK_ULONG,
    /// Hardware version.
    pub hardwareVersion: CK_VERSION,
    /// Firmware version.
    pub firmwareVersion: CK_VERSION,
    /// `YYYYMMDDhhmmss00`, the token's clock.
    pub utcTime: [CK_CHAR; 16],
}

/// `CK_SESSION_INFO`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_SESSION_INFO {
    /// The slot.
    pub slotID: CK_SLOT_ID,
    /// `CKS_*` state.
    pub state: CK_STATE,
    /// `CKF_RW_SESSION`, `CKF_SERIAL_SESSION`.
    pub flags: CK_FLAGS,
    /// Device error (always 0).
    pub ulDeviceError: CK_ULONG,
}

/// `CK_ATTRIBUTE`.
///
/// cbindgen:field-names=[type, pValue, ulValueLen]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_ATTRIBUTE {
    /// The attribute type (`type` in C).
    pub type_: CK_ATTRIBUTE_TYPE,
    /// The value buffer.
    pub pValue: CK_VOID_PTR,
    /// The value length in bytes.
    pub ulValueLen: CK_ULONG,
}

/// `CK_ATTRIBUTE_PTR`.
pub type CK_ATTRIBUTE_PTR = *mut CK_ATTRIBUTE;

/// `CK_MECHANISM`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_MECHANISM {
    /// The mechanism type.
    pub mechanism: CK_MECHANISM_TYPE,
    /// The parameter.
    pub pParameter: CK_VOID_PTR,
    /// The parameter length in bytes.
    pub ulParameterLen: CK_ULONG,
}

/// `CK_MECHANISM_PTR`.
pub type CK_MECHANISM_PTR = *mut CK_MECHANISM;

/// `CK_MECHANISM_INFO`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct CK_MECHANISM_INFO {
    /// Smallest key size.
    pub ulMinKeySize: CK_ULONG,
    /// Largest key size.
    pub ulMaxKeySize: CK_ULONG,
    /// `CKF_*` mechanism flags.
    pub flags: CK_FLAGS,
}

/// `CK_GCM_PARAMS` (v2.40 errata / 3.0 layout, with `ulIvBits`; 48 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_GCM_PARAMS {
    /// The IV.
    pub pIv: CK_BYTE_PTR,
    /// IV length in bytes.
    pub ulIvLen: CK_ULONG,
    /// IV length in bits (informational).
    pub ulIvBits: CK_ULONG,
    /// Additional authenticated data.
    pub pAAD: CK_BYTE_PTR,
    /// AAD length in bytes.
    pub ulAADLen: CK_ULONG,
    /// Tag length in bits.
    pub ulTagBits: CK_ULONG,
}

/// The original v2.40 `CK_GCM_PARAMS` without `ulIvBits` (40 bytes), still sent by some
/// applications; accepted as well.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_GCM_PARAMS_V240 {
    /// The IV.
    pub pIv: CK_BYTE_PTR,
    /// IV length in bytes.
    pub ulIvLen: CK_ULONG,
    /// Additional authenticated data.
    pub pAAD: CK_BYTE_PTR,
    /// AAD length in bytes.
    pub ulAADLen: CK_ULONG,
    /// Tag length in bits.
    pub ulTagBits: CK_ULONG,
}

/// `CK_AES_CTR_PARAMS`: the parameters of `CKM_AES_CTR`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_AES_CTR_PARAMS {
    /// How many low bits of the counter block are the counter (1 to 128).
    pub ulCounterBits: CK_ULONG,
    /// The initial counter block.
    pub cb: [CK_BYTE; 16],
}

/// `CK_ECDH1_DERIVE_PARAMS`: the parameters of `CKM_ECDH1_DERIVE`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_ECDH1_DERIVE_PARAMS {
    /// The key derivation function (`CKD_*`).
    pub kdf: CK_ULONG,
    /// Length of the shared information.
    pub ulSharedDataLen: CK_ULONG,
    /// The KDF's shared information, or NULL.
    pub pSharedData: CK_BYTE_PTR,
    /// Length of the other party's public point.
    pub ulPublicDataLen: CK_ULONG,
    /// The other party's public point.
    pub pPublicData: CK_BYTE_PTR,
}

/// `CK_EDDSA_PARAMS`: the optional parameters of `CKM_EDDSA`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_EDDSA_PARAMS {
    /// Whether the message is prehashed (Ed25519ph).
    pub phFlag: CK_BBOOL,
    /// Length of the context.
    pub ulContextDataLen: CK_ULONG,
    /// The context (Ed25519ctx), or NULL.
    pub pContextData: CK_BYTE_PTR,
}

/// `CK_MAC_GENERAL_PARAMS`: the output length in bytes of a `_GENERAL` MAC mechanism.
pub type CK_MAC_GENERAL_PARAMS = CK_ULONG;

/// `CK_RSA_PKCS_PSS_PARAMS`: the parameters of the RSA PSS mechanisms.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_RSA_PKCS_PSS_PARAMS {
    /// The hash mechanism (`CKM_SHA256`...).
    pub hashAlg: CK_MECHANISM_TYPE,
    /// The mask generation function (`CKG_MGF1_*`).
    pub mgf: CK_ULONG,
    /// The salt length in bytes.
    pub sLen: CK_ULONG,
}

/// `CK_RSA_PKCS_OAEP_PARAMS`: the parameters of `CKM_RSA_PKCS_OAEP`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_RSA_PKCS_OAEP_PARAMS {
    /// The hash mechanism (`CKM_SHA_1`...).
    pub hashAlg: CK_MECHANISM_TYPE,
    /// The mask generation function (`CKG_MGF1_*`).
    pub mgf: CK_ULONG,
    /// The source of the encoding parameter: 0 or `CKZ_DATA_SPECIFIED`.
    pub source: CK_ULONG,
    /// The label, or NULL.
    pub pSourceData: CK_VOID_PTR,
    /// The label's length in bytes.
    pub ulSourceDataLen: CK_ULONG,
}

/// `CK_RV_PTR`.
pub type CK_RV_PTR = *mut CK_RV;
/// `CK_BYTE_PTR_PTR`: an array of byte buffers.
pub type CK_BYTE_PTR_PTR = *mut CK_BYTE_PTR;

/// `CK_OBJECT_MIGRATION_DATA`: one object of `CA_MigrateKeys` (vendor layout, 32 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct CK_OBJECT_MIGRATION_DATA {
    /// `CK_CRYPTOKI_ELEMENT` or `CK_PARAM_ELEMENT`.
    pub objectType: CK_ULONG,
    /// The object on the source partition.
    pub sourceHandle: CK_OBJECT_HANDLE,
    /// Out: the clone on the target (written only for objects that clone).
    pub targetHandle: CK_OBJECT_HANDLE,
    /// Out: the object's result.
    pub rv: CK_RV,
}

/// `CK_OBJECT_MIGRATION_DATA_PTR`.
pub type CK_OBJECT_MIGRATION_DATA_PTR = *mut CK_OBJECT_MIGRATION_DATA;

/// `CK_CPV4_EXTRACT_PARAMS`: the parameter of `CKM_CPV4_EXTRACT` (vendor layout, 88 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_CPV4_EXTRACT_PARAMS {
    /// Length of `input`.
    pub inputLength: CK_ULONG,
    /// The Confirm on the responder's first call, else NULL.
    pub input: CK_BYTE_PTR,
    /// Length of `sessionOuid` (16).
    pub sessionOuidLen: CK_ULONG,
    /// The session UID.
    pub sessionOuid: CK_BYTE_PTR,
    /// `CKF_CONTINUE_ON_ERR` or 0.
    pub extractionFlags: CK_ULONG,
    /// Number of objects (the length of every array).
    pub numberOfObjects: CK_ULONG,
    /// Each object's element type.
    pub objectType: CK_ULONG_PTR,
    /// Each object's handle.
    pub objectHandle: CK_ULONG_PTR,
    /// Out: each object's result.
    pub result: CK_RV_PTR,
    /// In: each buffer's size; out: each blob's size.
    pub keyBlobLen: CK_ULONG_PTR,
    /// Each blob's buffer (all NULL: a size query).
    pub keyBlob: CK_BYTE_PTR_PTR,
}

/// `CK_CPV4_INSERT_PARAMS`: the parameter of `CKM_CPV4_INSERT` (vendor layout, 96 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_CPV4_INSERT_PARAMS {
    /// Length of `input`.
    pub inputLength: CK_ULONG,
    /// The Confirm on the responder's first call, else NULL.
    pub input: CK_BYTE_PTR,
    /// Length of `sessionOuid` (16).
    pub sessionOuidLen: CK_ULONG,
    /// The session UID.
    pub sessionOuid: CK_BYTE_PTR,
    /// `CKF_CONTINUE_ON_ERR` or 0.
    pub insertionFlags: CK_ULONG,
    /// Number of objects (the length of every array).
    pub numberOfObjects: CK_ULONG,
    /// Each blob's element type.
    pub objectType: CK_ULONG_PTR,
    /// Each blob's storage type (`LUNA_STORAGE_*`, 0 to 3).
    pub storageType: CK_ULONG_PTR,
    /// Each blob's length.
    pub keyBlobLen: CK_ULONG_PTR,
    /// Each blob.
    pub keyBlob: CK_BYTE_PTR_PTR,
    /// Out: each blob's result.
    pub result: CK_RV_PTR,
    /// Out: each new object's handle.
    pub objectHandle: CK_OBJECT_HANDLE_PTR,
}

/// `CK_CREATEMUTEX`.
pub type CK_CREATEMUTEX = Option<unsafe extern "C" fn(ppMutex: *mut CK_VOID_PTR) -> CK_RV>;
/// `CK_DESTROYMUTEX`.
pub type CK_DESTROYMUTEX = Option<unsafe extern "C" fn(pMutex: CK_VOID_PTR) -> CK_RV>;
/// `CK_LOCKMUTEX`.
pub type CK_LOCKMUTEX = Option<unsafe extern "C" fn(pMutex: CK_VOID_PTR) -> CK_RV>;
/// `CK_UNLOCKMUTEX`.
pub type CK_UNLOCKMUTEX = Option<unsafe extern "C" fn(pMutex: CK_VOID_PTR) -> CK_RV>;
/// `CK_NOTIFY`.
pub type CK_NOTIFY = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        event: CK_NOTIFICATION,
        pApplication: CK_VOID_PTR,
    ) -> CK_RV,
>;

/// `CK_C_INITIALIZE_ARGS`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_C_INITIALIZE_ARGS {
    /// Creates a mutex.
    pub CreateMutex: CK_CREATEMUTEX,
    /// Destroys a mutex.
    pub DestroyMutex: CK_DESTROYMUTEX,
    /// Locks a mutex.
    pub LockMutex: CK_LOCKMUTEX,
    /// Unlocks a mutex.
    pub UnlockMutex: CK_UNLOCKMUTEX,
    /// `CKF_LIBRARY_CANT_CREATE_OS_THREADS`, `CKF_OS_LOCKING_OK`.
    pub flags: CK_FLAGS,
    /// Must be NULL.
    pub pReserved: CK_VOID_PTR,
}

/// `CK_FUNCTION_LIST_PTR`.
pub type CK_FUNCTION_LIST_PTR = *mut CK_FUNCTION_LIST;
/// `CK_FUNCTION_LIST_PTR_PTR`.
pub type CK_FUNCTION_LIST_PTR_PTR = *mut CK_FUNCTION_LIST_PTR;

/// `CK_C_Initialize`.
pub type CK_C_Initialize = Option<unsafe extern "C" fn(pInitArgs: CK_VOID_PTR) -> CK_RV>;
/// `CK_C_Finalize`.
pub type CK_C_Finalize = Option<unsafe extern "C" fn(pReserved: CK_VOID_PTR) -> CK_RV>;
/// `CK_C_GetInfo`.
pub type CK_C_GetInfo = Option<unsafe extern "C" fn(pInfo: *mut CK_INFO) -> CK_RV>;
/// `CK_C_GetFunctionList`.
pub type CK_C_GetFunctionList =
    Option<unsafe extern "C" fn(ppFunctionList: *mut *mut CK_FUNCTION_LIST) -> CK_RV>;
/// `CK_C_GetSlotList`.
pub type CK_C_GetSlotList = Option<
    unsafe extern "C" fn(
        tokenPresent: CK_BBOOL,
        pSlotList: CK_SLOT_ID_PTR,
        pulCount: CK_ULONG_PTR,
    ) -> CK_RV,
>;
/// `CK_C_GetSlotInfo`.
pub type CK_C_GetSlotInfo =
    Option<unsafe extern "C" fn(slotID: CK_SLOT_ID, pInfo: *mut CK_SLOT_INFO) -> CK_RV>;
/// `CK_C_GetTokenInfo`.
pub type CK_C_GetTokenInfo =
    Option<unsafe extern "C" fn(slotID: CK_SLOT_ID, pInfo: *mut CK_TOKEN_INFO) -> CK_RV>;
/// `CK_C_GetMechanismList`.
pub type CK_C_GetMechanismList = Option<
    unsafe extern "C" fn(
        slotID: CK_SLOT_ID,
        pMechanismList: CK_MECHANISM_TYPE_PTR,
        pulCount: CK_ULONG_PTR,
    ) -> CK_RV,
>;
/// `CK_C_GetMechanismInfo`.
pub type CK_C_GetMechanismInfo = Option<
    unsafe extern "C" fn(
        slotID: CK_SLOT_ID,
        type_: CK_MECHANISM_TYPE,
        pInfo: *mut CK_MECHANISM_INFO,
    ) -> CK_RV,
>;
/// `CK_C_InitToken`.
pub type CK_C_InitToken = Option<
    unsafe extern "C" fn(
        slotID: CK_SLOT_ID,
        pPin: CK_UTF8CHAR_PTR,
        ulPinLen: CK_ULONG,
        pLabel: CK_UTF8CHAR_PTR,
    ) -> CK_RV,
>;
/// `CK_C_InitPIN`.
pub type CK_C_InitPIN = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pPin: CK_UTF8CHAR_PTR,
        ulPinLen: CK_ULONG,
    ) -> CK_RV,
>;
/// `CK_C_SetPIN`.
pub type CK_C_SetPIN = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pOldPin: CK_UTF8CHAR_PTR,
        ulOldLen: CK_ULONG,
        pNewPin: CK_UTF8CHAR_PTR,
        ulNewLen: CK_ULONG,
    ) -> CK_RV,
>;
/// `CK_C_OpenSession`.
pub type CK_C_OpenSession = Option<
    unsafe extern "C" fn(
        slotID: CK_SLOT_ID,
        flags: CK_FLAGS,
        pApplication: CK_VOID_PTR,
        Notify: CK_NOTIFY,
        phSession: CK_SESSION_HANDLE_PTR,
    ) -> CK_RV,
>;
/// `CK_C_CloseSession`.
pub type CK_C_CloseSession = Option<unsafe extern "C" fn(hSession: CK_SESSION_HANDLE) -> CK_RV>;
/// `CK_C_CloseAllSessions`.
pub type CK_C_CloseAllSessions = Option<unsafe extern "C" fn(slotID: CK_SLOT_ID) -> CK_RV>;
/// `CK_C_GetSessionInfo`.
pub type CK_C_GetSessionInfo =
    Option<unsafe extern "C" fn(hSession: CK_SESSION_HANDLE, pInfo: *mut CK_SESSION_INFO) -> CK_RV>;
/// `CK_C_GetOperationState`.
pub type CK_C_GetOperationState = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pOperationState: CK_BYTE_PTR,
        pulOperationStateLen: CK_ULONG_PTR,
    ) -> CK_RV,
>;
/// `CK_C_SetOperationState`.
pub type CK_C_SetOperationState = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pOperationState: CK_BYTE_PTR,
        ulOperationStateLen: CK_ULONG,
        hEncryptionKey: CK_OBJECT_HANDLE,
        hAuthenticationKey: CK_OBJECT_HANDLE,
    ) -> CK_RV,
>;
/// `CK_C_Login`.
pub type CK_C_Login = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        userType: CK_USER_TYPE,
        pPin: CK_UTF8CHAR_PTR,
        ulPinLen: CK_ULONG,
    ) -> CK_RV,
>;
/// `CK_C_Logout`.
pub type CK_C_Logout = Option<unsafe extern "C" fn(hSession: CK_SESSION_HANDLE) -> CK_RV>;
/// `CK_C_CreateObject`.
pub type CK_C_CreateObject = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pTemplate: CK_ATTRIBUTE_PTR,
        ulCount: CK_ULONG,
        phObject: CK_OBJECT_HANDLE_PTR,
    ) -> CK_RV,
>;
/// `CK_C_CopyObject`.
pub type CK_C_CopyObject = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        hObject: CK_OBJECT_HANDLE,
        pTemplate: CK_ATTRIBUTE_PTR,
        ulCount: CK_ULONG,
        phNewObject: CK_OBJECT_HANDLE_PTR,
    ) -> CK_RV,
>;
/// `CK_C_DestroyObject`.
pub type CK_C_DestroyObject =
    Option<unsafe extern "C" fn(hSession: CK_SESSION_HANDLE, hObject: CK_OBJECT_HANDLE) -> CK_RV>;
/// `CK_C_GetObjectSize`.
pub type CK_C_GetObjectSize = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        hObject: CK_OBJECT_HANDLE,
        pulSize: CK_ULONG_PTR,
    ) -> CK_RV,
>;
/// `CK_C_GetAttributeValue` (and `CK_C_SetAttributeValue`).
pub type CK_C_GetAttributeValue = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        hObject: CK_OBJECT_HANDLE,
        pTemplate: CK_ATTRIBUTE_PTR,
        ulCount: CK_ULONG,
    ) -> CK_RV,
>;
/// `CK_C_SetAttributeValue`.
pub type CK_C_SetAttributeValue = CK_C_GetAttributeValue;
/// `CK_C_FindObjectsInit`.
pub type CK_C_FindObjectsInit = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pTemplate: CK_ATTRIBUTE_PTR,
        ulCount: CK_ULONG,
    ) -> CK_RV,
>;
/// `CK_C_FindObjects`.
pub type CK_C_FindObjects = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        phObject: CK_OBJECT_HANDLE_PTR,
        ulMaxObjectCount: CK_ULONG,
        pulObjectCount: CK_ULONG_PTR,
    ) -> CK_RV,
>;
/// A function of one session handle (`C_FindObjectsFinal`, `C_Logout`...).
pub type CK_C_SessionOnly = Option<unsafe extern "C" fn(hSession: CK_SESSION_HANDLE) -> CK_RV>;
/// `*Init(hSession, pMechanism, hKey)`.
pub type CK_C_OpInit = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pMechanism: CK_MECHANISM_PTR,
        hKey: CK_OBJECT_HANDLE,
    ) -> CK_RV,
>;
/// `C_Encrypt`-shaped: input buffer, output buffer with length.
pub type CK_C_InOut = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pIn: CK_BYTE_PTR,
        ulInLen: CK_ULONG,
        pOut: CK_BYTE_PTR,
        pulOutLen: CK_ULONG_PTR,
    ) -> CK_RV,
>;
/// `C_EncryptFinal`-shaped: output buffer with length.
pub type CK_C_Out = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pOut: CK_BYTE_PTR,
        pulOutLen: CK_ULONG_PTR,
    ) -> CK_RV,
>;
/// `C_DigestUpdate`-shaped: input buffer only.
pub type CK_C_In = Option<
    unsafe extern "C" fn(hSession: CK_SESSION_HANDLE, pIn: CK_BYTE_PTR, ulInLen: CK_ULONG) -> CK_RV,
>;
/// `CK_C_DigestInit`.
pub type CK_C_DigestInit = Option<
    unsafe extern "C" fn(hSession: CK_SESSION_HANDLE, pMechanism: CK_MECHANISM_PTR) -> CK_RV,
>;
/// `CK_C_DigestKey`.
pub type CK_C_DigestKey =
    Option<unsafe extern "C" fn(hSession: CK_SESSION_HANDLE, hKey: CK_OBJECT_HANDLE) -> CK_RV>;
/// `CK_C_Verify`.
pub type CK_C_Verify = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pData: CK_BYTE_PTR,
        ulDataLen: CK_ULONG,
        pSignature: CK_BYTE_PTR,
        ulSignatureLen: CK_ULONG,
    ) -> CK_RV,
>;
/// `CK_C_GenerateKey`.
pub type CK_C_GenerateKey = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pMechanism: CK_MECHANISM_PTR,
        pTemplate: CK_ATTRIBUTE_PTR,
        ulCount: CK_ULONG,
        phKey: CK_OBJECT_HANDLE_PTR,
    ) -> CK_RV,
>;
/// `CK_C_GenerateKeyPair`.
pub type CK_C_GenerateKeyPair = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pMechanism: CK_MECHANISM_PTR,
        pPublicKeyTemplate: CK_ATTRIBUTE_PTR,
        ulPublicKeyAttributeCount: CK_ULONG,
        pPrivateKeyTemplate: CK_ATTRIBUTE_PTR,
        ulPrivateKeyAttributeCount: CK_ULONG,
        phPublicKey: CK_OBJECT_HANDLE_PTR,
        phPrivateKey: CK_OBJECT_HANDLE_PTR,
    ) -> CK_RV,
>;
/// `CK_C_WrapKey`.
pub type CK_C_WrapKey = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pMechanism: CK_MECHANISM_PTR,
        hWrappingKey: CK_OBJECT_HANDLE,
        hKey: CK_OBJECT_HANDLE,
        pWrappedKey: CK_BYTE_PTR,
        pulWrappedKeyLen: CK_ULONG_PTR,
    ) -> CK_RV,
>;
/// `CK_C_UnwrapKey`.
pub type CK_C_UnwrapKey = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pMechanism: CK_MECHANISM_PTR,
        hUnwrappingKey: CK_OBJECT_HANDLE,
        pWrappedKey: CK_BYTE_PTR,
        ulWrappedKeyLen: CK_ULONG,
        pTemplate: CK_ATTRIBUTE_PTR,
        ulAttributeCount: CK_ULONG,
        phKey: CK_OBJECT_HANDLE_PTR,
    ) -> CK_RV,
>;
/// `CK_C_DeriveKey`.
pub type CK_C_DeriveKey = Option<
    unsafe extern "C" fn(
        hSession: CK_SESSION_HANDLE,
        pMechanism: CK_MECHANISM_PTR,
        hBaseKey: CK_OBJECT_HANDLE,
        pTemplate: CK_ATTRIBUTE_PTR,
        ulAttributeCount: CK_ULONG,
        phKey: CK_OBJECT_HANDLE_PTR,
    ) -> CK_RV,
>;
/// `CK_C_WaitForSlotEvent`.
pub type CK_C_WaitForSlotEvent = Option<
    unsafe extern "C" fn(flags: CK_FLAGS, pSlot: CK_SLOT_ID_PTR, pReserved: CK_VOID_PTR) -> CK_RV,
>;

/// `CK_FUNCTION_LIST` (version 2.40): every standard function, in the standard's order.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CK_FUNCTION_LIST {
    /// The Cryptoki version of the list (2.40).
    pub version: CK_VERSION,
    /// `C_Initialize`.
    pub C_Initialize: CK_C_Initialize,
    /// `C_Finalize`.
    pub C_Finalize: CK_C_Finalize,
    /// `C_GetInfo`.
    pub C_GetInfo: CK_C_GetInfo,
    /// `C_GetFunctionList`.
    pub C_GetFunctionList: CK_C_GetFunctionList,
    /// `C_GetSlotList`.
    pub C_GetSlotList: CK_C_GetSlotList,
    /// `C_GetSlotInfo`.
    pub C_GetSlotInfo: CK_C_GetSlotInfo,
    /// `C_GetTokenInfo`.
    pub C_GetTokenInfo: CK_C_GetTokenInfo,
    /// `C_GetMechanismList`.
    pub C_GetMechanismList: CK_C_GetMechanismList,
    /// `C_GetMechanismInfo`.
    pub C_GetMechanismInfo: CK_C_GetMechanismInfo,
    /// `C_InitToken`.
    pub C_InitToken: CK_C_InitToken,
    /// `C_InitPIN`.
    pub C_InitPIN: CK_C_InitPIN,
    /// `C_SetPIN`.
    pub C_SetPIN: CK_C_SetPIN,
    /// `C_OpenSession`.
    pub C_OpenSession: CK_C_OpenSession,
    /// `C_CloseSession`.
    pub C_CloseSession: CK_C_CloseSession,
    /// `C_CloseAllSessions`.
    pub C_CloseAllSessions: CK_C_CloseAllSessions,
    /// `C_GetSessionInfo`.
    pub C_GetSessionInfo: CK_C_GetSessionInfo,
    /// `C_GetOperationState`.
    pub C_GetOperationState: CK_C_GetOperationState,
    /// `C_SetOperationState`.
    pub C_SetOperationState: CK_C_SetOperationState,
    /// `C_Login`.
    pub C_Login: CK_C_Login,
    /// `C_Logout`.
    pub C_Logout: CK_C_Logout,
    /// `C_CreateObject`.
    pub C_CreateObject: CK_C_CreateObject,
    /// `C_CopyObject`.
    pub C_CopyObject: CK_C_CopyObject,
    /// `C_DestroyObject`.
    pub C_DestroyObject: CK_C_DestroyObject,
    /// `C_GetObjectSize`.
    pub C_GetObjectSize: CK_C_GetObjectSize,
    /// `C_GetAttributeValue`.
    pub C_GetAttributeValue: CK_C_GetAttributeValue,
    /// `C_SetAttributeValue`.
    pub C_SetAttributeValue: CK_C_SetAttributeValue,
    /// `C_FindObjectsInit`.
    pub C_FindObjectsInit: CK_C_FindObjectsInit,
    /// `C_FindObjects`.
    pub C_FindObjects: CK_C_FindObjects,
    /// `C_FindObjectsFinal`.
    pub C_FindObjectsFinal: CK_C_SessionOnly,
    /// `C_EncryptInit`.
    pub C_EncryptInit: CK_C_OpInit,
    /// `C_Encrypt`.
    pub C_Encrypt: CK_C_InOut,
    /// `C_EncryptUpdate`.
    pub C_EncryptUpdate: CK_C_InOut,
    /// `C_EncryptFinal`.
    pub C_EncryptFinal: CK_C_Out,
    /// `C_DecryptInit`.
    pub C_DecryptInit: CK_C_OpInit,
    /// `C_Decrypt`.
    pub C_Decrypt: CK_C_InOut,
    /// `C_DecryptUpdate`.
    pub C_DecryptUpdate: CK_C_InOut,
    /// `C_DecryptFinal`.
    pub C_DecryptFinal: CK_C_Out,
    /// `C_DigestInit`.
    pub C_DigestInit: CK_C_DigestInit,
    /// `C_Digest`.
    pub C_Digest: CK_C_InOut,
    /// `C_DigestUpdate`.
    pub C_DigestUpdate: CK_C_In,
    /// `C_DigestKey`.
    pub C_DigestKey: CK_C_DigestKey,
    /// `C_DigestFinal`.
    pub C_DigestFinal: CK_C_Out,
    /// `C_SignInit`.
    pub C_SignInit: CK_C_OpInit,
    /// `C_Sign`.
    pub C_Sign: CK_C_InOut,
    /// `C_SignUpdate`.
    pub C_SignUpdate: CK_C_In,
    /// `C_SignFinal`.
    pub C_SignFinal: CK_C_Out,
    /// `C_SignRecoverInit`.
    pub C_SignRecoverInit: CK_C_OpInit,
    /// `C_SignRecover`.
    pub C_SignRecover: CK_C_InOut,
    /// `C_VerifyInit`.
    pub C_VerifyInit: CK_C_OpInit,
    /// `C_Verify`.
    pub C_Verify: CK_C_Verify,
    /// `C_VerifyUpdate`.
    pub C_VerifyUpdate: CK_C_In,
    /// `C_VerifyFinal`.
    pub C_VerifyFinal: CK_C_In,
    /// `C_VerifyRecoverInit`.
    pub C_VerifyRecoverInit: CK_C_OpInit,
    /// `C_VerifyRecover`.
    pub C_VerifyRecover: CK_C_InOut,
    /// `C_DigestEncryptUpdate`.
    pub C_DigestEncryptUpdate: CK_C_InOut,
    /// `C_DecryptDigestUpdate`.
    pub C_DecryptDigestUpdate: CK_C_InOut,
    /// `C_SignEncryptUpdate`.
    pub C_SignEncryptUpdate: CK_C_InOut,
    /// `C_DecryptVerifyUpdate`.
    pub C_DecryptVerifyUpdate: CK_C_InOut,
    /// `C_GenerateKey`.
    pub C_GenerateKey: CK_C_GenerateKey,
    /// `C_GenerateKeyPair`.
    pub C_GenerateKeyPair: CK_C_GenerateKeyPair,
    /// `C_WrapKey`.
    pub C_WrapKey: CK_C_WrapKey,
    /// `C_UnwrapKey`.
    pub C_UnwrapKey: CK_C_UnwrapKey,
    /// `C_DeriveKey`.
    pub C_DeriveKey: CK_C_DeriveKey,
    /// `C_SeedRandom`.
    pub C_SeedRandom: CK_C_In,
    /// `C_GenerateRandom`.
    pub C_GenerateRandom: CK_C_In,
    /// `C_GetFunctionStatus`.
    pub C_GetFunctionStatus: CK_C_SessionOnly,
    /// `C_CancelFunction`.
    pub C_CancelFunction: CK_C_SessionOnly,
    /// `C_WaitForSlotEvent`.
    pub C_WaitForSlotEvent: CK_C_WaitForSlotEvent,
}

// The layouts of the vendor ABI (Linux x86-64), checked at compile time.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
const _: () = {
    assert!(size_of::<CK_ULONG>() == 8);
    assert!(size_of::<CK_ATTRIBUTE>() == 24);
    assert!(size_of::<CK_MECHANISM>() == 24);
    assert!(size_of::<CK_GCM_PARAMS>() == 48);
    assert!(size_of::<CK_GCM_PARAMS_V240>() == 40);
    assert!(size_of::<CK_RSA_PKCS_PSS_PARAMS>() == 24);
    assert!(size_of::<CK_AES_CTR_PARAMS>() == 24);
    assert!(size_of::<CK_ECDH1_DERIVE_PARAMS>() == 40);
    assert!(size_of::<CK_EDDSA_PARAMS>() == 24);
    assert!(size_of::<CK_RSA_PKCS_OAEP_PARAMS>() == 40);
    assert!(size_of::<CK_C_INITIALIZE_ARGS>() == 48);
    assert!(size_of::<CK_INFO>() == 88);
    assert!(size_of::<CK_SLOT_INFO>() == 112);
    assert!(size_of::<CK_TOKEN_INFO>() == 208);
    assert!(size_of::<CK_SESSION_INFO>() == 32);
    assert!(size_of::<CK_MECHANISM_INFO>() == 24);
    assert!(size_of::<CK_FUNCTION_LIST>() == 8 + 68 * 8);
    // The standard's order: a few landmarks of the function list and the token information.
    assert!(std::mem::offset_of!(CK_FUNCTION_LIST, C_Initialize) == 8);
    assert!(std::mem::offset_of!(CK_FUNCTION_LIST, C_Login) == 8 + 18 * 8);
    assert!(std::mem::offset_of!(CK_FUNCTION_LIST, C_EncryptInit) == 8 + 29 * 8);
    assert!(std::mem::offset_of!(CK_FUNCTION_LIST, C_GenerateKey) == 8 + 58 * 8);
    assert!(std::mem::offset_of!(CK_FUNCTION_LIST, C_WaitForSlotEvent) == 8 + 67 * 8);
    assert!(std::mem::offset_of!(CK_TOKEN_INFO, flags) == 96);
    assert!(std::mem::offset_of!(CK_TOKEN_INFO, utcTime) == 188);
    assert!(std::mem::offset_of!(CK_GCM_PARAMS, ulTagBits) == 40);
    assert!(std::mem::offset_of!(CK_C_INITIALIZE_ARGS, flags) == 32);
    // The CPv4 structures (FACTS.md): 32, 88 and 96 bytes, fields in the vendor's order.
    assert!(size_of::<CK_OBJECT_MIGRATION_DATA>() == 32);
    assert!(std::mem::offset_of!(CK_OBJECT_MIGRATION_DATA, rv) == 24);
    assert!(size_of::<CK_CPV4_EXTRACT_PARAMS>() == 88);
    assert!(std::mem::offset_of!(CK_CPV4_EXTRACT_PARAMS, input) == 8);
    assert!(std::mem::offset_of!(CK_CPV4_EXTRACT_PARAMS, sessionOuid) == 24);
    assert!(std::mem::offset_of!(CK_CPV4_EXTRACT_PARAMS, extractionFlags) == 32);
    assert!(std::mem::offset_of!(CK_CPV4_EXTRACT_PARAMS, objectHandle) == 56);
    assert!(std::mem::offset_of!(CK_CPV4_EXTRACT_PARAMS, result) == 64);
    assert!(std::mem::offset_of!(CK_CPV4_EXTRACT_PARAMS, keyBlob) == 80);
    assert!(size_of::<CK_CPV4_INSERT_PARAMS>() == 96);
    assert!(std::mem::offset_of!(CK_CPV4_INSERT_PARAMS, storageType) == 56);
    assert!(std::mem::offset_of!(CK_CPV4_INSERT_PARAMS, keyBlobLen) == 64);
    assert!(std::mem::offset_of!(CK_CPV4_INSERT_PARAMS, keyBlob) == 72);
    assert!(std::mem::offset_of!(CK_CPV4_INSERT_PARAMS, result) == 80);
    assert!(std::mem::offset_of!(CK_CPV4_INSERT_PARAMS, objectHandle) == 88);
};
