//! Every numeric constant of the project: PKCS#11 return codes, mechanisms, attributes, object
//! classes, user types and flags, the Luna vendor values of the CPv4 extensions, and the
//! identifiers of our own protocol.
//!
//! This module is the single source of truth: the C header of `luna-ffi` and the tables in the
//! documentation are generated from it. Vendor values come from the public facts about the real
//! Luna ABI, so applications written for a real Luna HSM work unchanged.

/// PKCS#11 `CK_ULONG`: `unsigned long` of the platform (8 bytes on Linux x86-64).
pub type CkUlong = core::ffi::c_ulong;
/// PKCS#11 `CK_RV`, a return code.
pub type CkRv = CkUlong;
/// PKCS#11 `CK_MECHANISM_TYPE`.
pub type CkMechanismType = CkUlong;
/// PKCS#11 `CK_ATTRIBUTE_TYPE`.
pub type CkAttributeType = CkUlong;
/// PKCS#11 `CK_OBJECT_CLASS`.
pub type CkObjectClass = CkUlong;
/// PKCS#11 `CK_KEY_TYPE`.
pub type CkKeyType = CkUlong;
/// PKCS#11 `CK_USER_TYPE`.
pub type CkUserType = CkUlong;
/// PKCS#11 `CK_FLAGS`.
pub type CkFlags = CkUlong;

/// Defines a family of constants of one type together with a table of `(name, value)` pairs,
/// so names can be looked up and the C header generated from the same list.
macro_rules! constants {
    (
        $(#[$table_meta:meta])* table $table:ident: $ty:ty;
        $( $(#[doc = $doc:literal])+ $name:ident = $value:expr; )+
    ) => {
        $( $(#[doc = $doc])+ pub const $name: $ty = $value; )+

        $(#[$table_meta])*
        pub const $table: &[(&str, $ty)] = &[ $( (stringify!($name), $name) ),+ ];
    };
}

constants! {
    /// Every return code this project can return, canonical names before aliases.
    table RETURN_CODES: CkRv;
    /// The function completed successfully.
    CKR_OK = 0x0000_0000;
    /// The function was cancelled (standard).
    CKR_CANCEL = 0x0000_0001;
    /// The library could not allocate memory.
    CKR_HOST_MEMORY = 0x0000_0002;
    /// The slot id does not name a slot.
    CKR_SLOT_ID_INVALID = 0x0000_0003;
    /// An unrecoverable error; a panic caught at the C boundary maps here.
    CKR_GENERAL_ERROR = 0x0000_0005;
    /// The requested function could not be performed.
    CKR_FUNCTION_FAILED = 0x0000_0006;
    /// The arguments are inconsistent or a required pointer is NULL.
    CKR_ARGUMENTS_BAD = 0x0000_0007;
    /// The application's locking callbacks cannot be used.
    CKR_CANT_LOCK = 0x0000_000A;
    /// The attribute cannot be set or modified.
    CKR_ATTRIBUTE_READ_ONLY = 0x0000_0010;
    /// The attribute value is sensitive and cannot be revealed.
    CKR_ATTRIBUTE_SENSITIVE = 0x0000_0011;
    /// The attribute type is not valid for the object.
    CKR_ATTRIBUTE_TYPE_INVALID = 0x0000_0012;
    /// The attribute value is not valid.
    CKR_ATTRIBUTE_VALUE_INVALID = 0x0000_0013;
    /// The action is prohibited by the object's policy.
    CKR_ACTION_PROHIBITED = 0x0000_001B;
    /// The plaintext input is invalid.
    CKR_DATA_INVALID = 0x0000_0020;
    /// The plaintext input has an invalid length.
    CKR_DATA_LEN_RANGE = 0x0000_0021;
    /// The device (the simulator's store) failed.
    CKR_DEVICE_ERROR = 0x0000_0030;
    /// The device ran out of memory or storage.
    CKR_DEVICE_MEMORY = 0x0000_0031;
    /// The device went away during the call (a relay's peer that stopped answering).
    CKR_DEVICE_REMOVED = 0x0000_0032;
    /// The ciphertext is invalid.
    CKR_ENCRYPTED_DATA_INVALID = 0x0000_0040;
    /// The ciphertext has an invalid length.
    CKR_ENCRYPTED_DATA_LEN_RANGE = 0x0000_0041;
    /// The function cannot run in parallel with the application (`C_GetFunctionStatus`,
    /// `C_CancelFunction`).
    CKR_FUNCTION_NOT_PARALLEL = 0x0000_0051;
    /// The function is not supported by this module.
    CKR_FUNCTION_NOT_SUPPORTED = 0x0000_0054;
    /// The key handle is not valid.
    CKR_KEY_HANDLE_INVALID = 0x0000_0060;
    /// The key size is outside the supported range.
    CKR_KEY_SIZE_RANGE = 0x0000_0062;
    /// The key type does not match the mechanism.
    CKR_KEY_TYPE_INCONSISTENT = 0x0000_0063;
    /// The key's value cannot be digested (`C_DigestKey`).
    CKR_KEY_INDIGESTIBLE = 0x0000_0067;
    /// The key's attributes do not allow the operation.
    CKR_KEY_FUNCTION_NOT_PERMITTED = 0x0000_0068;
    /// The key cannot be wrapped.
    CKR_KEY_NOT_WRAPPABLE = 0x0000_0069;
    /// The key is not extractable (CKA_EXTRACTABLE is false).
    CKR_KEY_UNEXTRACTABLE = 0x0000_006A;
    /// The mechanism is not valid or not supported.
    CKR_MECHANISM_INVALID = 0x0000_0070;
    /// The mechanism parameter is not valid.
    CKR_MECHANISM_PARAM_INVALID = 0x0000_0071;
    /// The object handle is not valid.
    CKR_OBJECT_HANDLE_INVALID = 0x0000_0082;
    /// Another operation of the same kind is active on the session.
    CKR_OPERATION_ACTIVE = 0x0000_0090;
    /// No operation of that kind was initialized on the session.
    CKR_OPERATION_NOT_INITIALIZED = 0x0000_0091;
    /// The PIN is wrong.
    CKR_PIN_INCORRECT = 0x0000_00A0;
    /// The PIN contains invalid characters.
    CKR_PIN_INVALID = 0x0000_00A1;
    /// The PIN is too long or too short.
    CKR_PIN_LEN_RANGE = 0x0000_00A2;
    /// The PIN is locked after too many failed logins.
    CKR_PIN_LOCKED = 0x0000_00A4;
    /// The session was closed during the call.
    CKR_SESSION_CLOSED = 0x0000_00B0;
    /// Too many sessions are open.
    CKR_SESSION_COUNT = 0x0000_00B1;
    /// The session handle is not valid.
    CKR_SESSION_HANDLE_INVALID = 0x0000_00B3;
    /// CKF_SERIAL_SESSION was not set.
    CKR_SESSION_PARALLEL_NOT_SUPPORTED = 0x0000_00B4;
    /// The session is read-only.
    CKR_SESSION_READ_ONLY = 0x0000_00B5;
    /// A session with the token is open.
    CKR_SESSION_EXISTS = 0x0000_00B6;
    /// A read-only session exists, so the SO cannot log in.
    CKR_SESSION_READ_ONLY_EXISTS = 0x0000_00B7;
    /// A read-write SO session exists, so a read-only session cannot be opened.
    CKR_SESSION_READ_WRITE_SO_EXISTS = 0x0000_00B8;
    /// The signature is invalid.
    CKR_SIGNATURE_INVALID = 0x0000_00C0;
    /// The signature has an invalid length.
    CKR_SIGNATURE_LEN_RANGE = 0x0000_00C1;
    /// The template lacks a required attribute.
    CKR_TEMPLATE_INCOMPLETE = 0x0000_00D0;
    /// The template contains conflicting attributes.
    CKR_TEMPLATE_INCONSISTENT = 0x0000_00D1;
    /// The token is not present.
    CKR_TOKEN_NOT_PRESENT = 0x0000_00E0;
    /// The token is write-protected.
    CKR_TOKEN_WRITE_PROTECTED = 0x0000_00E2;
    /// The unwrapping key handle is not valid.
    CKR_UNWRAPPING_KEY_HANDLE_INVALID = 0x0000_00F0;
    /// The unwrapping key type does not match the mechanism.
    CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT = 0x0000_00F2;
    /// The user is already logged in.
    CKR_USER_ALREADY_LOGGED_IN = 0x0000_0100;
    /// The function requires a logged-in user.
    CKR_USER_NOT_LOGGED_IN = 0x0000_0101;
    /// The user's PIN was never set.
    CKR_USER_PIN_NOT_INITIALIZED = 0x0000_0102;
    /// The user type is not valid.
    CKR_USER_TYPE_INVALID = 0x0000_0103;
    /// Another user is already logged in.
    CKR_USER_ANOTHER_ALREADY_LOGGED_IN = 0x0000_0104;
    /// The wrapped key is invalid.
    CKR_WRAPPED_KEY_INVALID = 0x0000_0110;
    /// The wrapped key has an invalid length.
    CKR_WRAPPED_KEY_LEN_RANGE = 0x0000_0112;
    /// The wrapping key handle is not valid.
    CKR_WRAPPING_KEY_HANDLE_INVALID = 0x0000_0113;
    /// The wrapping key type does not match the mechanism.
    CKR_WRAPPING_KEY_TYPE_INCONSISTENT = 0x0000_0115;
    /// The token's generator cannot be seeded (`C_SeedRandom`).
    CKR_RANDOM_SEED_NOT_SUPPORTED = 0x0000_0120;
    /// The token has no random number generator.
    CKR_RANDOM_NO_RNG = 0x0000_0121;
    /// The domain parameters are invalid.
    CKR_DOMAIN_PARAMS_INVALID = 0x0000_0130;
    /// The curve is not supported.
    CKR_CURVE_NOT_SUPPORTED = 0x0000_0140;
    /// An output buffer is too small; the needed length was written.
    CKR_BUFFER_TOO_SMALL = 0x0000_0150;
    /// C_Initialize has not been called.
    CKR_CRYPTOKI_NOT_INITIALIZED = 0x0000_0190;
    /// C_Initialize was already called.
    CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x0000_0191;
    /// The role is not authorized for the operation (Luna).
    CKR_USER_NOT_AUTHORIZED = 0x8000_001A;
    /// No PED is attached to supply a PED-key value (Luna).
    CKR_PED_UNPLUGGED = 0x8000_002E;
    /// An integer overflowed (Luna).
    CKR_INTEGER_OVERFLOW = 0x8000_0104;
    /// An object failed to clone (Luna).
    CKR_FAILED_TO_CLONE_AN_OBJECT = 0x8000_0106;
    /// No attempt was made to clone this object; the initial per-object result (CPv4).
    CKR_CLONE_NOT_ATTEMPTED = 0x8000_0107;
    /// No cloning domain is shared with the peer (CPv4).
    CKR_SESSION_NEGOTIATION_NO_PSK = 0x8000_0108;
    /// No trusted root is shared with the peer, or a chain does not verify to one (CPv4).
    CKR_SESSION_NEGOTIATION_NO_ROOTS = 0x8000_0109;
    /// No algorithm suite is shared with the peer (CPv4).
    CKR_SESSION_NEGOTIATION_NO_ALGS = 0x8000_010A;
    /// The negotiation is older than its 10-minute lifetime and not yet swept (CPv4).
    CKR_SESSION_NEGOTIATION_EXPIRED = 0x8000_010B;
    /// An unexpected or invalid negotiation message (CPv4).
    CKR_SESSION_NEGOTIATION_INVALID = 0x8000_010C;
    /// The session UID is not known to the device (CPv4).
    CKR_SESSION_ID_INVALID = 0x8000_010D;
    /// The session UID already exists on the device (CPv4).
    CKR_SESSION_ID_EXISTS = 0x8000_010E;
    /// The session is older than its negotiated duration and not yet swept (CPv4).
    CKR_SESSION_ID_EXPIRED = 0x8000_010F;
    /// A certificate or signed time of the peer's attestation is out of date (CPv4).
    CKR_ATTESTATION_EXPIRED = 0x8000_0110;
    /// The requested cloning protocol is disabled on the partition (CPv4).
    CKR_PROTOCOL_DISABLED = 0x8000_0111;
    /// The object type does not match the handle or is not valid for CPv4 (Luna).
    CKR_OBJECT_TYPE_INVALID = 0x8000_0112;
    /// A certificate is expired (Luna).
    CKR_CERTIFICATE_EXPIRED = 0x8000_0113;
    /// The object is read-only (Luna).
    CKR_OBJECT_READ_ONLY = 0x8000_0114;
    /// The HSM clock is not set, or the two HSM clocks differ by more than 3 s (CPv4).
    CKR_TIME_NOT_INITIALIZED = 0x8000_0115;
    /// No session duration is shared with the peer (CPv4).
    CKR_SESSION_NEGOTIATION_NO_SESSION_DURATION = 0x8000_0116;
    /// A malformed CPv4 key blob (envelope or attribute list).
    CKR_CPV4_MSG_ERROR = 0x8000_0117;
    /// No key-derivation function is shared with the peer (CPv4).
    CKR_SESSION_NEGOTIATION_NO_KDF = 0x8000_0118;
    /// No object encoding is shared with the peer (CPv4).
    CKR_SESSION_NEGOTIATION_NO_ENCODING = 0x8000_0119;
    /// No chain attestation mechanism is shared with the peer (CPv4).
    CKR_SESSION_NEGOTIATION_NO_CHAIN_ATT = 0x8000_011A;
    /// The peer's ephemeral key has the wrong type or curve, or is not a valid point (CPv4).
    CKR_SESSION_NEGOTIATION_NO_EPHEMERAL_KEY = 0x8000_011B;
    /// The API text's spelling of [`CKR_SESSION_NEGOTIATION_NO_EPHEMERAL_KEY`]; same value.
    CKR_SESSION_NEGOTIATION_NO_EPHERMAL_KEY = 0x8000_011B;
    /// Domain management is not allowed (partition policy 44 is off) (CPv4).
    CKR_DOMAIN_MANAGEMENT_NOT_ALLOWED = 0x8000_011C;
    /// The domain label is not on the partition or has an invalid length (CPv4).
    CKR_DOMAIN_LABEL_INVALID = 0x8000_011D;
    /// The domain label already exists on the partition (CPv4).
    CKR_DOMAIN_LABEL_ALREADY_EXISTS = 0x8000_011E;
    /// The partition already has the maximum number of cloning domains (CPv4).
    CKR_DOMAIN_MAX_REACHED = 0x8000_011F;
    /// The partition has no primary domain (CPv4).
    CKR_DOMAIN_NO_PRIMARY = 0x8000_0120;
    /// A second primary domain was requested (CPv4).
    CKR_DOMAIN_EXTRA_PRIMARY = 0x8000_0121;
    /// The peer presented no attestation (CPv4).
    CKR_SESSION_NEGOTIATION_NO_ATTESTATION = 0x8000_0122;
    /// The negotiation is not known, or was swept after expiring (CPv4).
    CKR_SESSION_NEGOTIATION_NOT_STARTED = 0x8000_0123;
    /// The clocks are not in sync (Luna value; this project reports a skew as
    /// [`CKR_TIME_NOT_INITIALIZED`], as the API text says).
    CKR_CLOCK_NOT_IN_SYNC = 0x8000_0124;
}

/// First vendor-defined return code.
pub const CKR_VENDOR_DEFINED: CkRv = 0x8000_0000;

/// The name of a return code this project can return, e.g. `"CKR_SESSION_ID_EXPIRED"`.
///
/// Where two names share a value (the API text's misspelling of `NO_EPHEMERAL_KEY`), the
/// canonical name is given.
///
/// ```
/// use cpv4_wire::consts::{rv_name, CKR_SESSION_NEGOTIATION_NO_EPHERMAL_KEY};
/// assert_eq!(rv_name(0x8000_010F), Some("CKR_SESSION_ID_EXPIRED"));
/// assert_eq!(
///     rv_name(CKR_SESSION_NEGOTIATION_NO_EPHERMAL_KEY),
///     Some("CKR_SESSION_NEGOTIATION_NO_EPHEMERAL_KEY"),
/// );
/// assert_eq!(rv_name(0x4242), None);
/// ```
pub fn rv_name(rv: CkRv) -> Option<&'static str> {
    RETURN_CODES
        .iter()
        .find(|(_, value)| *value == rv)
        .map(|(name, _)| *name)
}

/// Like [`rv_name`], but always gives text: unknown codes are shown in hex.
pub fn rv_display(rv: CkRv) -> String {
    match rv_name(rv) {
        Some(name) => format!("{name} (0x{rv:08X})"),
        None => format!("unknown CK_RV 0x{rv:08X}"),
    }
}

constants! {
    /// Every mechanism this project names.
    table MECHANISMS: CkMechanismType;
    /// RSA key-pair generation (PKCS #1).
    CKM_RSA_PKCS_KEY_PAIR_GEN = 0x0000_0000;
    /// RSA with PKCS #1 v1.5 padding (the caller gives the DigestInfo to sign).
    CKM_RSA_PKCS = 0x0000_0001;
    /// Raw RSA (X.509, no padding).
    CKM_RSA_X_509 = 0x0000_0003;
    /// RSA PKCS #1 v1.5 signature with SHA-1.
    CKM_SHA1_RSA_PKCS = 0x0000_0006;
    /// RSA OAEP encryption.
    CKM_RSA_PKCS_OAEP = 0x0000_0009;
    /// RSA PSS signature over a caller-supplied hash.
    CKM_RSA_PKCS_PSS = 0x0000_000D;
    /// RSA PSS signature with SHA-1.
    CKM_SHA1_RSA_PKCS_PSS = 0x0000_000E;
    /// RSA PKCS #1 v1.5 signature with SHA-256.
    CKM_SHA256_RSA_PKCS = 0x0000_0040;
    /// RSA PKCS #1 v1.5 signature with SHA-384.
    CKM_SHA384_RSA_PKCS = 0x0000_0041;
    /// RSA PKCS #1 v1.5 signature with SHA-512.
    CKM_SHA512_RSA_PKCS = 0x0000_0042;
    /// RSA PSS signature with SHA-256.
    CKM_SHA256_RSA_PKCS_PSS = 0x0000_0043;
    /// RSA PSS signature with SHA-384.
    CKM_SHA384_RSA_PKCS_PSS = 0x0000_0044;
    /// RSA PSS signature with SHA-512.
    CKM_SHA512_RSA_PKCS_PSS = 0x0000_0045;
    /// RSA PKCS #1 v1.5 signature with SHA-224.
    CKM_SHA224_RSA_PKCS = 0x0000_0046;
    /// RSA PSS signature with SHA-224.
    CKM_SHA224_RSA_PKCS_PSS = 0x0000_0047;
    /// Single-DES key generation.
    CKM_DES_KEY_GEN = 0x0000_0120;
    /// DES-ECB.
    CKM_DES_ECB = 0x0000_0121;
    /// DES-CBC.
    CKM_DES_CBC = 0x0000_0122;
    /// DES-CBC with PKCS#7 padding.
    CKM_DES_CBC_PAD = 0x0000_0125;
    /// Double-length (two-key) triple-DES key generation.
    CKM_DES2_KEY_GEN = 0x0000_0130;
    /// Triple-length (three-key) triple-DES key generation.
    CKM_DES3_KEY_GEN = 0x0000_0131;
    /// Triple-DES ECB.
    CKM_DES3_ECB = 0x0000_0132;
    /// Triple-DES CBC.
    CKM_DES3_CBC = 0x0000_0133;
    /// Triple-DES CBC with PKCS#7 padding.
    CKM_DES3_CBC_PAD = 0x0000_0136;
    /// Triple-DES CMAC with a chosen output length (`CK_MAC_GENERAL_PARAMS`).
    CKM_DES3_CMAC_GENERAL = 0x0000_0137;
    /// Triple-DES CMAC (SP 800-38B).
    CKM_DES3_CMAC = 0x0000_0138;
    /// SHA-1 digest.
    CKM_SHA_1 = 0x0000_0220;
    /// HMAC-SHA1.
    CKM_SHA_1_HMAC = 0x0000_0221;
    /// HMAC-SHA1 with a chosen output length (`CK_MAC_GENERAL_PARAMS`).
    CKM_SHA_1_HMAC_GENERAL = 0x0000_0222;
    /// SHA-224 digest.
    CKM_SHA224 = 0x0000_0255;
    /// HMAC-SHA224.
    CKM_SHA224_HMAC = 0x0000_0256;
    /// HMAC-SHA224 with a chosen output length.
    CKM_SHA224_HMAC_GENERAL = 0x0000_0257;
    /// SHA-384 digest.
    CKM_SHA384 = 0x0000_0260;
    /// HMAC-SHA384.
    CKM_SHA384_HMAC = 0x0000_0261;
    /// HMAC-SHA384 with a chosen output length.
    CKM_SHA384_HMAC_GENERAL = 0x0000_0262;
    /// SHA-512 digest.
    CKM_SHA512 = 0x0000_0270;
    /// HMAC-SHA512.
    CKM_SHA512_HMAC = 0x0000_0271;
    /// HMAC-SHA512 with a chosen output length.
    CKM_SHA512_HMAC_GENERAL = 0x0000_0272;
    /// EC key-pair generation.
    CKM_EC_KEY_PAIR_GEN = 0x0000_1040;
    /// ECDSA over a caller-supplied hash.
    CKM_ECDSA = 0x0000_1041;
    /// ECDSA with SHA-1.
    CKM_ECDSA_SHA1 = 0x0000_1042;
    /// ECDSA with SHA-224.
    CKM_ECDSA_SHA224 = 0x0000_1043;
    /// ECDSA with SHA-256.
    CKM_ECDSA_SHA256 = 0x0000_1044;
    /// ECDSA with SHA-384.
    CKM_ECDSA_SHA384 = 0x0000_1045;
    /// ECDSA with SHA-512.
    CKM_ECDSA_SHA512 = 0x0000_1046;
    /// ECDH key derivation (`CK_ECDH1_DERIVE_PARAMS`).
    CKM_ECDH1_DERIVE = 0x0000_1050;
    /// Edwards-curve (Ed25519) key-pair generation.
    CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x0000_1055;
    /// EdDSA (pure Ed25519; optional `CK_EDDSA_PARAMS`).
    CKM_EDDSA = 0x0000_1057;
    /// SHA-256 digest.
    CKM_SHA256 = 0x0000_0250;
    /// HMAC-SHA256.
    CKM_SHA256_HMAC = 0x0000_0251;
    /// HMAC-SHA256 with a chosen output length.
    CKM_SHA256_HMAC_GENERAL = 0x0000_0252;
    /// Generic secret key generation.
    CKM_GENERIC_SECRET_KEY_GEN = 0x0000_0350;
    /// AES key generation.
    CKM_AES_KEY_GEN = 0x0000_1080;
    /// AES-ECB.
    CKM_AES_ECB = 0x0000_1081;
    /// AES-CBC without padding.
    CKM_AES_CBC = 0x0000_1082;
    /// AES-CBC with PKCS#7 padding.
    CKM_AES_CBC_PAD = 0x0000_1085;
    /// AES-CTR (`CK_AES_CTR_PARAMS`).
    CKM_AES_CTR = 0x0000_1086;
    /// AES-GCM.
    CKM_AES_GCM = 0x0000_1087;
    /// AES-CMAC (SP 800-38B, RFC 4493).
    CKM_AES_CMAC = 0x0000_108A;
    /// AES-CMAC with a chosen output length (`CK_MAC_GENERAL_PARAMS`).
    CKM_AES_CMAC_GENERAL = 0x0000_108B;
    /// AES key wrap (RFC 3394).
    CKM_AES_KEY_WRAP = 0x0000_2109;
    /// AES key wrap with padding (RFC 5649), the value most modules use.
    CKM_AES_KEY_WRAP_PAD = 0x0000_210A;
    /// AES key wrap with padding (RFC 5649), the PKCS#11 3.0 name.
    CKM_AES_KEY_WRAP_KWP = 0x0000_210B;
    /// CPv4 extraction through `CA_Extract`.
    CKM_CPV4_EXTRACT = 0x8000_0208;
    /// CPv4 insertion through `CA_Insert`.
    CKM_CPV4_INSERT = 0x8000_0209;
}

constants! {
    /// Every attribute type this project names.
    table ATTRIBUTES: CkAttributeType;
    /// Object class (CK_ULONG).
    CKA_CLASS = 0x0000_0000;
    /// Token object (CK_BBOOL).
    CKA_TOKEN = 0x0000_0001;
    /// Private object (CK_BBOOL).
    CKA_PRIVATE = 0x0000_0002;
    /// Label (bytes).
    CKA_LABEL = 0x0000_0003;
    /// Application description of a data object (bytes).
    CKA_APPLICATION = 0x0000_0010;
    /// Value (bytes).
    CKA_VALUE = 0x0000_0011;
    /// DER object identifier of a data object (bytes).
    CKA_OBJECT_ID = 0x0000_0012;
    /// Certificate type (CK_ULONG).
    CKA_CERTIFICATE_TYPE = 0x0000_0080;
    /// Certificate issuer (bytes).
    CKA_ISSUER = 0x0000_0081;
    /// Certificate serial number (bytes).
    CKA_SERIAL_NUMBER = 0x0000_0082;
    /// Trusted certificate (CK_BBOOL).
    CKA_TRUSTED = 0x0000_0086;
    /// Key check value (bytes).
    CKA_CHECK_VALUE = 0x0000_0090;
    /// Key type (CK_ULONG).
    CKA_KEY_TYPE = 0x0000_0100;
    /// Subject (bytes).
    CKA_SUBJECT = 0x0000_0101;
    /// Identifier (bytes).
    CKA_ID = 0x0000_0102;
    /// Sensitive (CK_BBOOL).
    CKA_SENSITIVE = 0x0000_0103;
    /// May encrypt (CK_BBOOL).
    CKA_ENCRYPT = 0x0000_0104;
    /// May decrypt (CK_BBOOL).
    CKA_DECRYPT = 0x0000_0105;
    /// May wrap (CK_BBOOL).
    CKA_WRAP = 0x0000_0106;
    /// May unwrap (CK_BBOOL).
    CKA_UNWRAP = 0x0000_0107;
    /// May sign (CK_BBOOL).
    CKA_SIGN = 0x0000_0108;
    /// The key may sign with recovery (CK_BBOOL).
    CKA_SIGN_RECOVER = 0x0000_0109;
    /// May verify (CK_BBOOL).
    CKA_VERIFY = 0x0000_010A;
    /// The key may verify with recovery (CK_BBOOL).
    CKA_VERIFY_RECOVER = 0x0000_010B;
    /// May derive (CK_BBOOL).
    CKA_DERIVE = 0x0000_010C;
    /// Start of the key's validity (CK_DATE, `YYYYMMDD`, or empty).
    CKA_START_DATE = 0x0000_0110;
    /// End of the key's validity (CK_DATE, `YYYYMMDD`, or empty).
    CKA_END_DATE = 0x0000_0111;
    /// Value length in bytes (CK_ULONG).
    CKA_VALUE_LEN = 0x0000_0161;
    /// Extractable by wrapping (CK_BBOOL).
    CKA_EXTRACTABLE = 0x0000_0162;
    /// Generated on the token (CK_BBOOL).
    CKA_LOCAL = 0x0000_0163;
    /// Never was extractable (CK_BBOOL).
    CKA_NEVER_EXTRACTABLE = 0x0000_0164;
    /// Always was sensitive (CK_BBOOL).
    CKA_ALWAYS_SENSITIVE = 0x0000_0165;
    /// Mechanism that generated the key (CK_ULONG).
    CKA_KEY_GEN_MECHANISM = 0x0000_0166;
    /// Modifiable (CK_BBOOL).
    CKA_MODIFIABLE = 0x0000_0170;
    /// Copyable (CK_BBOOL).
    CKA_COPYABLE = 0x0000_0171;
    /// Destroyable (CK_BBOOL).
    CKA_DESTROYABLE = 0x0000_0172;
    /// RSA modulus (big-endian bytes).
    CKA_MODULUS = 0x0000_0120;
    /// RSA modulus length in bits (CK_ULONG).
    CKA_MODULUS_BITS = 0x0000_0121;
    /// RSA public exponent (big-endian bytes).
    CKA_PUBLIC_EXPONENT = 0x0000_0122;
    /// RSA private exponent (big-endian bytes; secret).
    CKA_PRIVATE_EXPONENT = 0x0000_0123;
    /// RSA prime p (big-endian bytes; secret).
    CKA_PRIME_1 = 0x0000_0124;
    /// RSA prime q (big-endian bytes; secret).
    CKA_PRIME_2 = 0x0000_0125;
    /// RSA d mod (p-1) (big-endian bytes; secret).
    CKA_EXPONENT_1 = 0x0000_0126;
    /// RSA d mod (q-1) (big-endian bytes; secret).
    CKA_EXPONENT_2 = 0x0000_0127;
    /// RSA CRT coefficient q^-1 mod p (big-endian bytes; secret).
    CKA_COEFFICIENT = 0x0000_0128;
    /// DER of the key's SubjectPublicKeyInfo (maintained by the token).
    CKA_PUBLIC_KEY_INFO = 0x0000_0129;
    /// Each use of the private key needs a context-specific login (CK_BBOOL).
    CKA_ALWAYS_AUTHENTICATE = 0x0000_0202;
    /// The key may be wrapped only by a trusted key (CK_BBOOL; once true, stays true).
    CKA_WRAP_WITH_TRUSTED = 0x0000_0210;
    /// The mechanisms the key may be used with (an array of CK_MECHANISM_TYPE).
    CKA_ALLOWED_MECHANISMS = 0x4000_0600;
    /// What a key this key wraps must match (an array of CK_ATTRIBUTE).
    CKA_WRAP_TEMPLATE = 0x4000_0211;
    /// What every key this key unwraps is given (an array of CK_ATTRIBUTE).
    CKA_UNWRAP_TEMPLATE = 0x4000_0212;
    /// What every key derived from this key is given (an array of CK_ATTRIBUTE).
    CKA_DERIVE_TEMPLATE = 0x4000_0213;
    /// DER-encoded EC parameters (bytes).
    CKA_EC_PARAMS = 0x0000_0180;
    /// DER-encoded EC point (bytes).
    CKA_EC_POINT = 0x0000_0181;
    /// Luna's unique object id, kept by a clone (bytes).
    CKA_OUID = 0x8000_0005;
}

/// First vendor-defined attribute type.
pub const CKA_VENDOR_DEFINED: CkAttributeType = 0x8000_0000;

/// How an attribute's value travels in the platform-independent attribute list (encodings 1 and 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeForm {
    /// A `CK_ULONG`: 8 bytes, big-endian.
    Ulong,
    /// A `CK_BBOOL`: 1 byte, 0 or 1.
    Bool,
    /// An array of `CK_ULONG` (`CKA_ALLOWED_MECHANISMS`): 8 bytes big-endian each.
    UlongArray,
    /// An array of `CK_ATTRIBUTE` (`CKA_WRAP_TEMPLATE`, `CKA_UNWRAP_TEMPLATE`,
    /// `CKA_DERIVE_TEMPLATE`): an attribute list of its own, one level deep (no array of
    /// attributes inside).
    AttributeArray,
    /// Bytes, as they are.
    Bytes,
}

/// The wire form of an attribute type's value.
pub fn attribute_form(attribute: CkAttributeType) -> AttributeForm {
    match attribute {
        CKA_CLASS
        | CKA_CERTIFICATE_TYPE
        | CKA_KEY_TYPE
        | CKA_VALUE_LEN
        | CKA_KEY_GEN_MECHANISM
        | CKA_MODULUS_BITS => AttributeForm::Ulong,
        CKA_TOKEN
        | CKA_PRIVATE
        | CKA_TRUSTED
        | CKA_SENSITIVE
        | CKA_ENCRYPT
        | CKA_DECRYPT
        | CKA_WRAP
        | CKA_UNWRAP
        | CKA_SIGN
        | CKA_VERIFY
        | CKA_DERIVE
        | CKA_EXTRACTABLE
        | CKA_LOCAL
        | CKA_NEVER_EXTRACTABLE
        | CKA_ALWAYS_SENSITIVE
        | CKA_MODIFIABLE
        | CKA_COPYABLE
        | CKA_DESTROYABLE
        | CKA_SIGN_RECOVER
        | CKA_VERIFY_RECOVER
        | CKA_WRAP_WITH_TRUSTED
        | CKA_ALWAYS_AUTHENTICATE => AttributeForm::Bool,
        CKA_ALLOWED_MECHANISMS => AttributeForm::UlongArray,
        CKA_WRAP_TEMPLATE | CKA_UNWRAP_TEMPLATE | CKA_DERIVE_TEMPLATE => {
            AttributeForm::AttributeArray
        }
        _ => AttributeForm::Bytes,
    }
}

constants! {
    /// Object classes.
    table OBJECT_CLASSES: CkObjectClass;
    /// A data object.
    CKO_DATA = 0;
    /// A certificate.
    CKO_CERTIFICATE = 1;
    /// A public key.
    CKO_PUBLIC_KEY = 2;
    /// A private key.
    CKO_PRIVATE_KEY = 3;
    /// A secret key.
    CKO_SECRET_KEY = 4;
}

constants! {
    /// Key types.
    table KEY_TYPES: CkKeyType;
    /// RSA key.
    CKK_RSA = 0x00;
    /// Elliptic-curve key.
    CKK_EC = 0x03;
    /// Generic secret key.
    CKK_GENERIC_SECRET = 0x10;
    /// Single-DES key (8 bytes).
    CKK_DES = 0x13;
    /// Double-length triple-DES key (16 bytes).
    CKK_DES2 = 0x14;
    /// Triple-length triple-DES key (24 bytes).
    CKK_DES3 = 0x15;
    /// AES key.
    CKK_AES = 0x1F;
    /// Edwards-curve key (Ed25519).
    CKK_EC_EDWARDS = 0x40;
}

/// X.509 certificate type (`CKA_CERTIFICATE_TYPE`).
pub const CKC_X_509: CkUlong = 0;

constants! {
    /// User types.
    table USER_TYPES: CkUserType;
    /// The Partition Security Officer.
    CKU_SO = 0;
    /// The Crypto Officer.
    CKU_USER = 1;
    /// Context-specific login (standard).
    CKU_CONTEXT_SPECIFIC = 2;
    /// The Crypto User (Luna).
    CKU_CRYPTO_USER = 0x8000_0001;
}

constants! {
    /// CPv4 flags of `CA_MigrateKeys`, `CA_Extract` and `CA_Insert`.
    table MIGRATION_FLAGS: CkFlags;
    /// Continue with the next object when one fails.
    CKF_CONTINUE_ON_ERR = 0x01;
    /// The vendor wrapper's name for [`CKF_CONTINUE_ON_ERR`]; same value.
    CKF_CPV4_CONTINUE_ON_ERR = 0x01;
}

constants! {
    /// Element types (`objectType` of CPv4 calls). Only [`CK_CRYPTOKI_ELEMENT`] and
    /// [`CK_PARAM_ELEMENT`] are valid for CPv4.
    table ELEMENT_TYPES: CkUlong;
    /// No element.
    CK_NULL_ELEMENT = CkUlong::MAX;
    /// An ordinary PKCS#11 object (key, certificate, data).
    CK_CRYPTOKI_ELEMENT = 0;
    /// A parameter object such as the SMK.
    CK_PARAM_ELEMENT = 1;
    /// A container activation element (not valid for CPv4).
    CK_CONTAINER_ACTIVATION_ELEMENT = 2;
    /// An M-of-N activation element (not valid for CPv4).
    CK_MOFN_ACTIVATION_ELEMENT = 3;
    /// A container element (not valid for CPv4).
    CK_CONTAINER_ELEMENT = 4;
}

constants! {
    /// Storage types of `CA_Insert` (the vendor wrapper's values).
    table STORAGE_TYPES: CkUlong;
    /// The partition's default storage.
    LUNA_STORAGE_DEFAULT = 0;
    /// Flash (token) storage; what the vendor's test passes.
    LUNA_STORAGE_FLASH = 1;
    /// RAM storage.
    LUNA_STORAGE_RAM = 2;
    /// Cache storage.
    LUNA_STORAGE_CACHE = 3;
}

constants! {
    /// Status values of `CA_MigrationContinueSessionNegotiation`.
    table NEGOTIATION_STATUS: CkUlong;
    /// Call Continue again on the other partition.
    CPV4_STATUS_MORE = 1;
    /// The negotiation is complete on this side.
    CPV4_STATUS_DONE = 2;
}

constants! {
    /// Policy numbers of the HSM and of partitions.
    table POLICIES: CkUlong;
    /// HSM policy 7: allow cloning.
    HSM_POLICY_ALLOW_CLONING = 7;
    /// HSM policy 57: sync the HSM clock with host time.
    HSM_POLICY_SYNC_HOST_TIME = 57;
    /// Partition policy 0: allow private key cloning.
    PARTITION_POLICY_PRIVATE_KEY_CLONING = 0;
    /// Partition policy 4: allow secret key cloning.
    PARTITION_POLICY_SECRET_KEY_CLONING = 4;
    /// Partition policy 42: allow CPv1 only (forces the legacy protocol).
    PARTITION_POLICY_LEGACY_CLONING_ONLY = 42;
    /// Partition policy 44: allow extended domain management.
    PARTITION_POLICY_EXTENDED_DOMAIN_MANAGEMENT = 44;
}

/// `CK_UNAVAILABLE_INFORMATION`: the length reported for an attribute that cannot be read.
pub const CK_UNAVAILABLE_INFORMATION: CkUlong = CkUlong::MAX;

constants! {
    /// Slot flags (`CK_SLOT_INFO.flags`).
    table SLOT_FLAGS: CkFlags;
    /// Slot flag: a token is present.
    CKF_TOKEN_PRESENT = 0x0000_0001;
    /// Slot flag: a hardware slot.
    CKF_HW_SLOT = 0x0000_0004;
}

constants! {
    /// Token flags (`CK_TOKEN_INFO.flags`).
    table TOKEN_FLAGS: CkFlags;
    /// Token flag: the token has a random number generator.
    CKF_RNG = 0x0000_0001;
    /// Token flag: a user must log in to use the token.
    CKF_LOGIN_REQUIRED = 0x0000_0004;
    /// Token flag: the user (Crypto Officer) PIN is set.
    CKF_USER_PIN_INITIALIZED = 0x0000_0008;
    /// Token flag: the token has a clock.
    CKF_CLOCK_ON_TOKEN = 0x0000_0040;
    /// Token flag: the token is initialized.
    CKF_TOKEN_INITIALIZED = 0x0000_0400;
    /// Token flag: a wrong user PIN was entered since the last right one.
    CKF_USER_PIN_COUNT_LOW = 0x0001_0000;
    /// Token flag: one more wrong user PIN locks the PIN.
    CKF_USER_PIN_FINAL_TRY = 0x0002_0000;
    /// Token flag: the user PIN is locked.
    CKF_USER_PIN_LOCKED = 0x0004_0000;
    /// Token flag: a wrong SO PIN was entered since the last right one.
    CKF_SO_PIN_COUNT_LOW = 0x0010_0000;
    /// Token flag: one more wrong SO PIN locks the PIN.
    CKF_SO_PIN_FINAL_TRY = 0x0020_0000;
    /// Token flag: the SO PIN is locked.
    CKF_SO_PIN_LOCKED = 0x0040_0000;
}

constants! {
    /// Session flags (`C_OpenSession`, `CK_SESSION_INFO.flags`).
    table SESSION_FLAGS: CkFlags;
    /// Session flag: read-write session.
    CKF_RW_SESSION = 0x0000_0002;
    /// Session flag: serial session (always set).
    CKF_SERIAL_SESSION = 0x0000_0004;
}

constants! {
    /// Session states (`CK_SESSION_INFO.state`).
    table SESSION_STATES: CkUlong;
    /// Session state: read-only, nobody logged in.
    CKS_RO_PUBLIC_SESSION = 0;
    /// Session state: read-only, user logged in.
    CKS_RO_USER_FUNCTIONS = 1;
    /// Session state: read-write, nobody logged in.
    CKS_RW_PUBLIC_SESSION = 2;
    /// Session state: read-write, user logged in.
    CKS_RW_USER_FUNCTIONS = 3;
    /// Session state: read-write, SO logged in.
    CKS_RW_SO_FUNCTIONS = 4;
}

constants! {
    /// Mechanism flags (`CK_MECHANISM_INFO.flags`).
    table MECHANISM_FLAGS: CkFlags;
    /// Mechanism flag: performed by the device (set for every mechanism, as on a hardware
    /// token).
    CKF_HW = 0x0000_0001;
    /// Mechanism flag: encryption.
    CKF_ENCRYPT = 0x0000_0100;
    /// Mechanism flag: decryption.
    CKF_DECRYPT = 0x0000_0200;
    /// Mechanism flag: digest.
    CKF_DIGEST = 0x0000_0400;
    /// Mechanism flag: signature.
    CKF_SIGN = 0x0000_0800;
    /// Mechanism flag: signature with recovery.
    CKF_SIGN_RECOVER = 0x0000_1000;
    /// Mechanism flag: verification.
    CKF_VERIFY = 0x0000_2000;
    /// Mechanism flag: verification with recovery.
    CKF_VERIFY_RECOVER = 0x0000_4000;
    /// Mechanism flag: key generation.
    CKF_GENERATE = 0x0000_8000;
    /// Mechanism flag: key-pair generation.
    CKF_GENERATE_KEY_PAIR = 0x0001_0000;
    /// Mechanism flag: wrapping.
    CKF_WRAP = 0x0002_0000;
    /// Mechanism flag: unwrapping.
    CKF_UNWRAP = 0x0004_0000;
    /// Mechanism flag: key derivation.
    CKF_DERIVE = 0x0008_0000;
    /// Mechanism flag: curves over prime fields.
    CKF_EC_F_P = 0x0010_0000;
    /// Mechanism flag: named curves in `CKA_EC_PARAMS`.
    CKF_EC_NAMEDCURVE = 0x0080_0000;
    /// Mechanism flag: uncompressed points.
    CKF_EC_UNCOMPRESS = 0x0100_0000;
}

constants! {
    /// Mask generation functions of RSA PSS and OAEP parameters (`CK_RSA_PKCS_MGF_TYPE`).
    table MGF_TYPES: CkUlong;
    /// MGF1 with SHA-1.
    CKG_MGF1_SHA1 = 0x0000_0001;
    /// MGF1 with SHA-256.
    CKG_MGF1_SHA256 = 0x0000_0002;
    /// MGF1 with SHA-384.
    CKG_MGF1_SHA384 = 0x0000_0003;
    /// MGF1 with SHA-512.
    CKG_MGF1_SHA512 = 0x0000_0004;
    /// MGF1 with SHA-224.
    CKG_MGF1_SHA224 = 0x0000_0005;
}

constants! {
    /// Key derivation functions of `CK_ECDH1_DERIVE_PARAMS` (`CK_EC_KDF_TYPE`).
    table EC_KDF_TYPES: CkUlong;
    /// The shared secret itself.
    CKD_NULL = 0x0000_0001;
    /// ANSI X9.63 KDF with SHA-1.
    CKD_SHA1_KDF = 0x0000_0002;
    /// ANSI X9.63 KDF with SHA-224.
    CKD_SHA224_KDF = 0x0000_0005;
    /// ANSI X9.63 KDF with SHA-256.
    CKD_SHA256_KDF = 0x0000_0006;
    /// ANSI X9.63 KDF with SHA-384.
    CKD_SHA384_KDF = 0x0000_0007;
    /// ANSI X9.63 KDF with SHA-512.
    CKD_SHA512_KDF = 0x0000_0008;
}

/// The OAEP encoding parameter source: the label is given (`CK_RSA_PKCS_OAEP_SOURCE_TYPE`).
pub const CKZ_DATA_SPECIFIED: CkUlong = 0x0000_0001;

constants! {
    /// Flags of `CK_C_INITIALIZE_ARGS`.
    table INITIALIZE_FLAGS: CkFlags;
    /// The library's threads may not be created by the caller's means.
    CKF_LIBRARY_CANT_CREATE_OS_THREADS = 0x0000_0001;
    /// The library may use the operating system's locking.
    CKF_OS_LOCKING_OK = 0x0000_0002;
}

/// Identifiers and numbers of this project's CPv4 protocol (see `docs/protocol.md`).
pub mod cpv4 {
    /// The protocol version carried in every message and key blob.
    pub const PROTOCOL_VERSION: u32 = 2;

    /// API-flow step of the Offer (produced by Start, consumed by the first Continue).
    pub const STEP_OFFER: u32 = 2;
    /// API-flow step of the Accept (produced by the first Continue).
    pub const STEP_ACCEPT: u32 = 3;
    /// API-flow step of the Confirm (produced by the second Continue, consumed by CA_Extract).
    pub const STEP_CONFIRM: u32 = 4;

    /// Suite 1: ECDH P-256, ECDSA P-256 with SHA-256, AES-256 key wrap with padding.
    pub const SUITE_P256_ECDSA_SHA256_AES256_KWP: u32 = 1;
    /// KDF 1: HKDF with SHA-256.
    pub const KDF_HKDF_SHA256: u32 = 1;
    /// KDF 2: HKDF with SHA-384.
    pub const KDF_HKDF_SHA384: u32 = 2;
    /// Object encoding 1: the canonical attribute list.
    pub const ENCODING_ATTRIBUTE_LIST_V1: u32 = 1;
    /// Object encoding 2: the canonical attribute list with varint types and lengths.
    pub const ENCODING_COMPACT_ATTRIBUTE_LIST: u32 = 2;
    /// Chain attestation mechanism 1: X.509 chain of ECDSA P-256 / SHA-256 certificates.
    pub const CHAIN_X509_ECDSA_P256_SHA256: u32 = 1;

    /// The default session duration, in seconds (1 hour, as the API text says).
    pub const DEFAULT_SESSION_DURATION_SECS: u32 = 3600;
    /// How long a negotiation may take before it expires, in seconds (10 minutes).
    pub const NEGOTIATION_LIFETIME_SECS: u64 = 600;
    /// The largest difference between the two HSM clocks, in seconds.
    pub const MAX_CLOCK_SKEW_SECS: u64 = 3;

    /// PSK mode 1: the Offer lists PSK ids (stable per domain).
    pub const PSK_MODE_ID: u32 = 1;
    /// PSK mode 2: the Offer lists LEET tags (unlinkable across sessions).
    pub const PSK_MODE_LEET: u32 = 2;

    /// Key-blob direction 1: from the responder (source) to the initiator (target).
    pub const DIRECTION_RESPONDER_TO_INITIATOR: u8 = 1;
    /// Key-blob direction 2: from the initiator (target) to the responder (source).
    pub const DIRECTION_INITIATOR_TO_RESPONDER: u8 = 2;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_code_names_are_unique_and_values_match_the_vendor_facts() {
        let mut names: Vec<_> = RETURN_CODES.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RETURN_CODES.len());
        // Spot checks against the vendor table.
        assert_eq!(CKR_SESSION_NEGOTIATION_NO_PSK, 0x8000_0108);
        assert_eq!(CKR_CLOCK_NOT_IN_SYNC, 0x8000_0124);
        assert_eq!(CKR_TIME_NOT_INITIALIZED, 0x8000_0115);
        assert_eq!(CKA_OUID, CKA_VENDOR_DEFINED | 5);
        assert_eq!(CKU_CRYPTO_USER, 0x8000_0001);
    }

    #[test]
    fn only_aliases_share_a_value() {
        for (i, (name, value)) in RETURN_CODES.iter().enumerate() {
            for (other, other_value) in RETURN_CODES.iter().skip(i + 1) {
                if value == other_value {
                    assert_eq!(
                        (*name, *other),
                        (
                            "CKR_SESSION_NEGOTIATION_NO_EPHEMERAL_KEY",
                            "CKR_SESSION_NEGOTIATION_NO_EPHERMAL_KEY"
                        )
                    );
                }
            }
        }
    }

    #[test]
    fn rv_display_names_unknown_codes_in_hex() {
        assert_eq!(rv_display(CKR_OK), "CKR_OK (0x00000000)");
        assert_eq!(rv_display(0x8000_0999), "unknown CK_RV 0x80000999");
    }

    #[test]
    fn null_element_is_all_ones() {
        assert_eq!(CK_NULL_ELEMENT, !0);
    }
}
