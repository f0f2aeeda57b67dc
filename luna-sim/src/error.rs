//! The simulator's error type and its single mapping to PKCS#11 return codes.

use cpv4_wire::consts::*;

/// Every error a simulator operation can return.
///
/// Most variants stand for exactly one PKCS#11 return code (see [`SimError::rv`]); the
/// store, I/O and integrity variants carry a description for logs and all map to
/// `CKR_DEVICE_ERROR`. No variant ever carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The SQLite store failed (`CKR_DEVICE_ERROR`).
    #[error("store error: {0}")]
    Store(String),
    /// A file of the simulator home could not be read or written (`CKR_DEVICE_ERROR`).
    #[error("I/O error: {0}")]
    Io(String),
    /// Stored data is damaged: a value that does not decrypt, a broken invariant
    /// (`CKR_DEVICE_ERROR`).
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// A write transaction failed because the fault plan said so (`CKR_DEVICE_ERROR`).
    #[error("injected fault: write transaction {0} failed")]
    InjectedFault(u64),
    /// The operating system's random generator failed (`CKR_DEVICE_ERROR`).
    #[error("random generator failure")]
    Random,
    /// The store was written by a newer simulator (`CKR_DEVICE_ERROR`).
    #[error("store schema version {found} is newer than the supported {supported}")]
    SchemaTooNew {
        /// The version found in the store.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// An internal limit or invariant of the simulator (`CKR_GENERAL_ERROR`).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// Inconsistent arguments (`CKR_ARGUMENTS_BAD`).
    #[error("bad arguments: {0}")]
    ArgumentsBad(&'static str),
    /// Unknown slot (`CKR_SLOT_ID_INVALID`).
    #[error("slot id invalid")]
    SlotIdInvalid,
    /// Unknown device serial (`CKR_ARGUMENTS_BAD`).
    #[error("unknown device {0}")]
    UnknownDevice(String),
    /// Unknown session handle (`CKR_SESSION_HANDLE_INVALID`).
    #[error("session handle invalid")]
    SessionHandleInvalid,
    /// The session is read-only (`CKR_SESSION_READ_ONLY`).
    #[error("session is read-only")]
    SessionReadOnly,
    /// A session exists on the token (`CKR_SESSION_EXISTS`).
    #[error("a session exists")]
    SessionExists,
    /// A read-only session exists, so the SO cannot log in (`CKR_SESSION_READ_ONLY_EXISTS`).
    #[error("a read-only session exists")]
    SessionReadOnlyExists,
    /// The SO is logged in, so a read-only session cannot be opened
    /// (`CKR_SESSION_READ_WRITE_SO_EXISTS`).
    #[error("a read-write SO session exists")]
    SessionReadWriteSoExists,
    /// The user type is not valid (`CKR_USER_TYPE_INVALID`).
    #[error("user type invalid")]
    UserTypeInvalid,
    /// The user is already logged in (`CKR_USER_ALREADY_LOGGED_IN`).
    #[error("user already logged in")]
    UserAlreadyLoggedIn,
    /// Another user is logged in (`CKR_USER_ANOTHER_ALREADY_LOGGED_IN`).
    #[error("another user already logged in")]
    UserAnotherAlreadyLoggedIn,
    /// No user is logged in (`CKR_USER_NOT_LOGGED_IN`).
    #[error("user not logged in")]
    UserNotLoggedIn,
    /// The logged-in role may not do this (`CKR_USER_NOT_AUTHORIZED`).
    #[error("user not authorized")]
    UserNotAuthorized,
    /// The role's PIN was never set (`CKR_USER_PIN_NOT_INITIALIZED`).
    #[error("user PIN not initialized")]
    UserPinNotInitialized,
    /// Wrong PIN (`CKR_PIN_INCORRECT`).
    #[error("PIN incorrect")]
    PinIncorrect,
    /// PIN too short or too long (`CKR_PIN_LEN_RANGE`).
    #[error("PIN length out of range")]
    PinLenRange,
    /// Too many failed logins (`CKR_PIN_LOCKED`).
    #[error("PIN locked")]
    PinLocked,
    /// Unknown or invisible object handle (`CKR_OBJECT_HANDLE_INVALID`).
    #[error("object handle invalid")]
    ObjectHandleInvalid,
    /// Unknown or invisible key handle (`CKR_KEY_HANDLE_INVALID`).
    #[error("key handle invalid")]
    KeyHandleInvalid,
    /// Unknown wrapping key (`CKR_WRAPPING_KEY_HANDLE_INVALID`).
    #[error("wrapping key handle invalid")]
    WrappingKeyHandleInvalid,
    /// Unknown unwrapping key (`CKR_UNWRAPPING_KEY_HANDLE_INVALID`).
    #[error("unwrapping key handle invalid")]
    UnwrappingKeyHandleInvalid,
    /// Attribute type unknown or not valid for the object (`CKR_ATTRIBUTE_TYPE_INVALID`).
    #[error("attribute type 0x{0:X} invalid")]
    AttributeTypeInvalid(CkAttributeType),
    /// Attribute value invalid (`CKR_ATTRIBUTE_VALUE_INVALID`).
    #[error("attribute 0x{0:X} value invalid")]
    AttributeValueInvalid(CkAttributeType),
    /// Attribute cannot be set or changed (`CKR_ATTRIBUTE_READ_ONLY`).
    #[error("attribute 0x{0:X} is read-only")]
    AttributeReadOnly(CkAttributeType),
    /// Attribute value cannot be revealed (`CKR_ATTRIBUTE_SENSITIVE`).
    #[error("attribute is sensitive")]
    AttributeSensitive,
    /// A required attribute is missing (`CKR_TEMPLATE_INCOMPLETE`).
    #[error("template incomplete: 0x{0:X} missing")]
    TemplateIncomplete(CkAttributeType),
    /// Conflicting attributes (`CKR_TEMPLATE_INCONSISTENT`).
    #[error("template inconsistent")]
    TemplateInconsistent,
    /// The object's attributes forbid the action (`CKR_ACTION_PROHIBITED`).
    #[error("action prohibited")]
    ActionProhibited,
    /// The mechanism is unknown or not usable here (`CKR_MECHANISM_INVALID`).
    #[error("mechanism invalid")]
    MechanismInvalid,
    /// Bad mechanism parameter (`CKR_MECHANISM_PARAM_INVALID`).
    #[error("mechanism parameter invalid")]
    MechanismParamInvalid,
    /// Key type does not fit the mechanism (`CKR_KEY_TYPE_INCONSISTENT`).
    #[error("key type inconsistent")]
    KeyTypeInconsistent,
    /// The key may not be used for this (`CKR_KEY_FUNCTION_NOT_PERMITTED`).
    #[error("key function not permitted")]
    KeyFunctionNotPermitted,
    /// The key's value may not be digested (`CKR_KEY_INDIGESTIBLE`).
    #[error("key indigestible")]
    KeyIndigestible,
    /// Unsupported key size (`CKR_KEY_SIZE_RANGE`).
    #[error("key size out of range")]
    KeySizeRange,
    /// The key is not extractable (`CKR_KEY_UNEXTRACTABLE`).
    #[error("key unextractable")]
    KeyUnextractable,
    /// The key cannot be wrapped with this mechanism (`CKR_KEY_NOT_WRAPPABLE`).
    #[error("key not wrappable")]
    KeyNotWrappable,
    /// The wrapping key does not fit the mechanism (`CKR_WRAPPING_KEY_TYPE_INCONSISTENT`).
    #[error("wrapping key type inconsistent")]
    WrappingKeyTypeInconsistent,
    /// The unwrapping key does not fit the mechanism (`CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT`).
    #[error("unwrapping key type inconsistent")]
    UnwrappingKeyTypeInconsistent,
    /// The wrapped key does not unwrap (`CKR_WRAPPED_KEY_INVALID`).
    #[error("wrapped key invalid")]
    WrappedKeyInvalid,
    /// The wrapped key has a bad length (`CKR_WRAPPED_KEY_LEN_RANGE`).
    #[error("wrapped key length out of range")]
    WrappedKeyLenRange,
    /// Input data is invalid for the mechanism, such as a raw RSA input not below the modulus
    /// (`CKR_DATA_INVALID`).
    #[error("data invalid")]
    DataInvalid,
    /// Input data has a bad length (`CKR_DATA_LEN_RANGE`).
    #[error("data length out of range")]
    DataLenRange,
    /// Memory for the caller's data could not be allocated (`CKR_HOST_MEMORY`).
    #[error("out of memory")]
    HostMemory,
    /// Ciphertext fails to decrypt or authenticate (`CKR_ENCRYPTED_DATA_INVALID`).
    #[error("encrypted data invalid")]
    EncryptedDataInvalid,
    /// Ciphertext has a bad length (`CKR_ENCRYPTED_DATA_LEN_RANGE`).
    #[error("encrypted data length out of range")]
    EncryptedDataLenRange,
    /// The signature does not verify (`CKR_SIGNATURE_INVALID`).
    #[error("signature invalid")]
    SignatureInvalid,
    /// The signature has a bad length (`CKR_SIGNATURE_LEN_RANGE`).
    #[error("signature length out of range")]
    SignatureLenRange,
    /// An operation of that kind is already active (`CKR_OPERATION_ACTIVE`).
    #[error("operation active")]
    OperationActive,
    /// No operation of that kind is active (`CKR_OPERATION_NOT_INITIALIZED`).
    #[error("operation not initialized")]
    OperationNotInitialized,
    /// The function is not supported for this mechanism (`CKR_FUNCTION_NOT_SUPPORTED`).
    #[error("function not supported")]
    FunctionNotSupported,
    /// EC parameters are not valid DER (`CKR_DOMAIN_PARAMS_INVALID`).
    #[error("domain parameters invalid")]
    DomainParamsInvalid,
    /// The curve is not P-256 (`CKR_CURVE_NOT_SUPPORTED`).
    #[error("curve not supported")]
    CurveNotSupported,
    /// An output buffer is too small (`CKR_BUFFER_TOO_SMALL`); the needed count is given.
    #[error("buffer too small: {0} needed")]
    BufferTooSmall(usize),
    /// Domain management refused by partition policy 44 (`CKR_DOMAIN_MANAGEMENT_NOT_ALLOWED`).
    #[error("domain management not allowed")]
    DomainManagementNotAllowed,
    /// Bad or unknown domain label (`CKR_DOMAIN_LABEL_INVALID`).
    #[error("domain label invalid")]
    DomainLabelInvalid,
    /// The domain label exists (`CKR_DOMAIN_LABEL_ALREADY_EXISTS`).
    #[error("domain label already exists")]
    DomainLabelAlreadyExists,
    /// The partition has three domains (`CKR_DOMAIN_MAX_REACHED`).
    #[error("domain maximum reached")]
    DomainMaxReached,
    /// The change would leave the partition without a primary domain (`CKR_DOMAIN_NO_PRIMARY`).
    #[error("no primary domain")]
    DomainNoPrimary,
    /// No PED is attached to supply a PED-key value (`CKR_PED_UNPLUGGED`).
    #[error("PED unplugged")]
    PedUnplugged,
    /// The HSM clock was never set (`CKR_TIME_NOT_INITIALIZED`).
    #[error("HSM time not initialized")]
    TimeNotInitialized,
    /// An element type that is not valid for the call, or does not fit the object
    /// (`CKR_OBJECT_TYPE_INVALID`).
    #[error("object type invalid")]
    ObjectTypeInvalid,
    /// An object with the clone's `CKA_OUID` exists on the target
    /// (`CKR_FAILED_TO_CLONE_AN_OBJECT`).
    #[error("an object with this OUID exists on the target")]
    FailedToClone,
    /// A CPv4 call was refused by the negotiation engine (its code, see
    /// `cpv4_session::SessionError::rv`).
    #[error("CPv4: {0}")]
    Cpv4(cpv4_session::SessionError),
}

impl SimError {
    /// The PKCS#11 return code for this error: the one place where simulator errors become
    /// `CK_RV` values.
    #[must_use]
    pub fn rv(&self) -> CkRv {
        match self {
            Self::Cpv4(error) => error.rv(),
            Self::ObjectTypeInvalid => CKR_OBJECT_TYPE_INVALID,
            Self::FailedToClone => CKR_FAILED_TO_CLONE_AN_OBJECT,
            Self::Store(_)
            | Self::Io(_)
            | Self::Corrupt(_)
            | Self::InjectedFault(_)
            | Self::Random
            | Self::SchemaTooNew { .. } => CKR_DEVICE_ERROR,
            Self::Internal(_) => CKR_GENERAL_ERROR,
            Self::ArgumentsBad(_) | Self::UnknownDevice(_) => CKR_ARGUMENTS_BAD,
            Self::SlotIdInvalid => CKR_SLOT_ID_INVALID,
            Self::SessionHandleInvalid => CKR_SESSION_HANDLE_INVALID,
            Self::SessionReadOnly => CKR_SESSION_READ_ONLY,
            Self::SessionExists => CKR_SESSION_EXISTS,
            Self::SessionReadOnlyExists => CKR_SESSION_READ_ONLY_EXISTS,
            Self::SessionReadWriteSoExists => CKR_SESSION_READ_WRITE_SO_EXISTS,
            Self::UserTypeInvalid => CKR_USER_TYPE_INVALID,
            Self::UserAlreadyLoggedIn => CKR_USER_ALREADY_LOGGED_IN,
            Self::UserAnotherAlreadyLoggedIn => CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
            Self::UserNotLoggedIn => CKR_USER_NOT_LOGGED_IN,
            Self::UserNotAuthorized => CKR_USER_NOT_AUTHORIZED,
            Self::UserPinNotInitialized => CKR_USER_PIN_NOT_INITIALIZED,
            Self::PinIncorrect => CKR_PIN_INCORRECT,
            Self::PinLenRange => CKR_PIN_LEN_RANGE,
            Self::PinLocked => CKR_PIN_LOCKED,
            Self::ObjectHandleInvalid => CKR_OBJECT_HANDLE_INVALID,
            Self::KeyHandleInvalid => CKR_KEY_HANDLE_INVALID,
            Self::WrappingKeyHandleInvalid => CKR_WRAPPING_KEY_HANDLE_INVALID,
            Self::UnwrappingKeyHandleInvalid => CKR_UNWRAPPING_KEY_HANDLE_INVALID,
            Self::AttributeTypeInvalid(_) => CKR_ATTRIBUTE_TYPE_INVALID,
            Self::AttributeValueInvalid(_) => CKR_ATTRIBUTE_VALUE_INVALID,
            Self::AttributeReadOnly(_) => CKR_ATTRIBUTE_READ_ONLY,
            Self::AttributeSensitive => CKR_ATTRIBUTE_SENSITIVE,
            Self::TemplateIncomplete(_) => CKR_TEMPLATE_INCOMPLETE,
            Self::TemplateInconsistent => CKR_TEMPLATE_INCONSISTENT,
            Self::ActionProhibited => CKR_ACTION_PROHIBITED,
            Self::MechanismInvalid => CKR_MECHANISM_INVALID,
            Self::MechanismParamInvalid => CKR_MECHANISM_PARAM_INVALID,
            Self::KeyTypeInconsistent => CKR_KEY_TYPE_INCONSISTENT,
            Self::KeyFunctionNotPermitted => CKR_KEY_FUNCTION_NOT_PERMITTED,
            Self::KeyIndigestible => CKR_KEY_INDIGESTIBLE,
            Self::KeySizeRange => CKR_KEY_SIZE_RANGE,
            Self::KeyUnextractable => CKR_KEY_UNEXTRACTABLE,
            Self::KeyNotWrappable => CKR_KEY_NOT_WRAPPABLE,
            Self::WrappingKeyTypeInconsistent => CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
            Self::UnwrappingKeyTypeInconsistent => CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
            Self::WrappedKeyInvalid => CKR_WRAPPED_KEY_INVALID,
            Self::WrappedKeyLenRange => CKR_WRAPPED_KEY_LEN_RANGE,
            Self::DataInvalid => CKR_DATA_INVALID,
            Self::DataLenRange => CKR_DATA_LEN_RANGE,
            Self::HostMemory => CKR_HOST_MEMORY,
            Self::EncryptedDataInvalid => CKR_ENCRYPTED_DATA_INVALID,
            Self::EncryptedDataLenRange => CKR_ENCRYPTED_DATA_LEN_RANGE,
            Self::SignatureInvalid => CKR_SIGNATURE_INVALID,
            Self::SignatureLenRange => CKR_SIGNATURE_LEN_RANGE,
            Self::OperationActive => CKR_OPERATION_ACTIVE,
            Self::OperationNotInitialized => CKR_OPERATION_NOT_INITIALIZED,
            Self::FunctionNotSupported => CKR_FUNCTION_NOT_SUPPORTED,
            Self::DomainParamsInvalid => CKR_DOMAIN_PARAMS_INVALID,
            Self::CurveNotSupported => CKR_CURVE_NOT_SUPPORTED,
            Self::BufferTooSmall(_) => CKR_BUFFER_TOO_SMALL,
            Self::DomainManagementNotAllowed => CKR_DOMAIN_MANAGEMENT_NOT_ALLOWED,
            Self::DomainLabelInvalid => CKR_DOMAIN_LABEL_INVALID,
            Self::DomainLabelAlreadyExists => CKR_DOMAIN_LABEL_ALREADY_EXISTS,
            Self::DomainMaxReached => CKR_DOMAIN_MAX_REACHED,
            Self::DomainNoPrimary => CKR_DOMAIN_NO_PRIMARY,
            Self::PedUnplugged => CKR_PED_UNPLUGGED,
            Self::TimeNotInitialized => CKR_TIME_NOT_INITIALIZED,
        }
    }
}

impl From<rusqlite::Error> for SimError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Store(err.to_string())
    }
}

impl From<std::io::Error> for SimError {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err.to_string())
    }
}

/// Shorthand for simulator results.
pub type SimResult<T> = Result<T, SimError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_are_device_errors_and_domain_codes_match_the_vendor_values() {
        assert_eq!(SimError::Store("x".into()).rv(), CKR_DEVICE_ERROR);
        assert_eq!(SimError::InjectedFault(3).rv(), 0x30);
        assert_eq!(SimError::DomainMaxReached.rv(), 0x8000_011F);
        assert_eq!(SimError::PedUnplugged.rv(), 0x8000_002E);
        assert_eq!(SimError::UserNotAuthorized.rv(), 0x8000_001A);
        assert_eq!(SimError::TimeNotInitialized.rv(), 0x8000_0115);
    }
}
