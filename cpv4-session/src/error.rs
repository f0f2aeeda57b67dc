//! The engine's errors, each mapped to the PKCS#11 return code the API text gives it.

use cpv4_wire::WireError;
use cpv4_wire::consts::*;

/// Why a CPv4 call was refused. [`SessionError::rv`] gives the return code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// CPv4 is disabled on the partition (or cloning on the HSM).
    #[error("CPv4 is disabled")]
    ProtocolDisabled,
    /// The HSM clock is not set, or the two HSM clocks are more than 3 s apart.
    #[error("HSM time not initialized or clocks not in sync: {0}")]
    TimeNotInitialized(&'static str),
    /// No suite in common.
    #[error("no common algorithm suite")]
    NoAlgs,
    /// No KDF in common.
    #[error("no common key-derivation function")]
    NoKdf,
    /// No object encoding in common.
    #[error("no common object encoding")]
    NoEncoding,
    /// No session duration in common.
    #[error("no common session duration")]
    NoSessionDuration,
    /// No chain attestation mechanism in common.
    #[error("no common chain attestation mechanism")]
    NoChainAtt,
    /// No trusted root in common, or a chain that does not verify to one.
    #[error("no trusted root: {0}")]
    NoRoots(&'static str),
    /// No cloning domain in common.
    #[error("no common cloning domain")]
    NoPsk,
    /// The peer's ephemeral key is of the wrong type or curve, or not a valid point.
    #[error("invalid ephemeral key")]
    NoEphemeralKey,
    /// A certificate outside its validity, or a stale signed time.
    #[error("attestation expired: {0}")]
    AttestationExpired(&'static str),
    /// The session UID already exists on this partition.
    #[error("session UID already exists")]
    SessionIdExists,
    /// An unexpected or invalid negotiation message or call.
    #[error("invalid negotiation: {0}")]
    NegotiationInvalid(&'static str),
    /// The negotiation expired and was not yet swept.
    #[error("negotiation expired")]
    NegotiationExpired,
    /// The negotiation was swept (or closed).
    #[error("negotiation not started (swept)")]
    NegotiationNotStarted,
    /// The session expired and was not yet swept.
    #[error("session expired")]
    SessionIdExpired,
    /// The session is not known (never, or swept).
    #[error("session UID invalid")]
    SessionIdInvalid,
    /// A key blob was refused (other session, wrong direction, replay, failed unwrap...).
    #[error("key blob refused: {0}")]
    BlobRefused(&'static str),
    /// A message or blob did not decode.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// An argument is malformed (a UID of the wrong length, a non-empty Start input...).
    #[error("bad argument: {0}")]
    ArgumentsBad(&'static str),
    /// The device holds as many negotiations or sessions as it allows (for the partition or
    /// for the whole device).
    #[error("capacity reached: {0}")]
    CapacityReached(&'static str),
    /// Persisted state could not be restored: changed, truncated, or sealed under another
    /// key or for another record.
    #[error("session state unreadable: {0}")]
    StateCorrupt(&'static str),
}

impl SessionError {
    /// The PKCS#11 return code of this error.
    pub fn rv(&self) -> CkRv {
        match self {
            SessionError::ProtocolDisabled => CKR_PROTOCOL_DISABLED,
            SessionError::TimeNotInitialized(_) => CKR_TIME_NOT_INITIALIZED,
            SessionError::NoAlgs => CKR_SESSION_NEGOTIATION_NO_ALGS,
            SessionError::NoKdf => CKR_SESSION_NEGOTIATION_NO_KDF,
            SessionError::NoEncoding => CKR_SESSION_NEGOTIATION_NO_ENCODING,
            SessionError::NoSessionDuration => CKR_SESSION_NEGOTIATION_NO_SESSION_DURATION,
            SessionError::NoChainAtt => CKR_SESSION_NEGOTIATION_NO_CHAIN_ATT,
            SessionError::NoRoots(_) => CKR_SESSION_NEGOTIATION_NO_ROOTS,
            SessionError::NoPsk => CKR_SESSION_NEGOTIATION_NO_PSK,
            SessionError::NoEphemeralKey => CKR_SESSION_NEGOTIATION_NO_EPHEMERAL_KEY,
            SessionError::AttestationExpired(_) => CKR_ATTESTATION_EXPIRED,
            SessionError::SessionIdExists => CKR_SESSION_ID_EXISTS,
            SessionError::NegotiationInvalid(_) => CKR_SESSION_NEGOTIATION_INVALID,
            SessionError::NegotiationExpired => CKR_SESSION_NEGOTIATION_EXPIRED,
            SessionError::NegotiationNotStarted => CKR_SESSION_NEGOTIATION_NOT_STARTED,
            SessionError::SessionIdExpired => CKR_SESSION_ID_EXPIRED,
            SessionError::SessionIdInvalid => CKR_SESSION_ID_INVALID,
            SessionError::BlobRefused(_) => CKR_CPV4_MSG_ERROR,
            SessionError::Wire(error) => error.rv(),
            SessionError::ArgumentsBad(_) => CKR_ARGUMENTS_BAD,
            SessionError::CapacityReached(_) => CKR_DEVICE_MEMORY,
            SessionError::StateCorrupt(_) => CKR_DEVICE_ERROR,
        }
    }
}
