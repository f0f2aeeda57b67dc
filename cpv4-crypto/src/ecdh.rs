//! Ephemeral ECDH on P-256 (prime256v1).
//!
//! Each side makes an [`EphemeralSecret`] per negotiation, sends its
//! [`public_point`](EphemeralSecret::public_point) (65-byte SEC1 uncompressed) with the key type
//! and curve OIDs, checks the peer's with [`parse_peer_key`] and derives the 32-byte
//! [`SharedSecret`] (the x coordinate of the shared point).

use core::fmt;

use der::asn1::ObjectIdentifier;
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::secret::{Secret32, to_array};

/// `id-ecPublicKey` (1.2.840.10045.2.1), the key type of an elliptic-curve public key.
pub const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// `prime256v1` / `secp256r1` / NIST P-256 (1.2.840.10045.3.1.7).
pub const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// Length of a SEC1 uncompressed P-256 point: `0x04 || x (32 B) || y (32 B)`.
pub const POINT_LEN: usize = 65;

/// Why a peer's ephemeral key was refused (all map to
/// `CKR_SESSION_NEGOTIATION_NO_EPHEMERAL_KEY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum NoEphemeralKey {
    /// The key type is not `id-ecPublicKey`.
    #[error("ephemeral key type is not id-ecPublicKey")]
    WrongKeyType,
    /// The curve is not prime256v1.
    #[error("ephemeral key curve is not prime256v1")]
    WrongCurve,
    /// The point is the encoding of the identity (point at infinity).
    #[error("ephemeral key is the identity point")]
    Identity,
    /// The point is not a 65-byte SEC1 uncompressed encoding (compressed, hybrid, truncated...).
    #[error("ephemeral key is not a 65-byte uncompressed point")]
    BadEncoding,
    /// The coordinates are not those of a point on P-256.
    #[error("ephemeral key is not a point on the curve")]
    NotOnCurve,
}

/// A peer's validated ephemeral public key (on P-256, not the identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerPublicKey(p256::PublicKey);

impl PeerPublicKey {
    /// The key as a 65-byte SEC1 uncompressed point.
    #[must_use]
    pub fn to_point(&self) -> [u8; POINT_LEN] {
        to_array(self.0.as_affine().to_uncompressed_point().as_slice())
    }

    /// The underlying `p256` public key.
    #[must_use]
    pub const fn as_p256(&self) -> &p256::PublicKey {
        &self.0
    }
}

/// Checks a peer's ephemeral key as received in a negotiation message.
///
/// Accepts only `key_type` = [`ID_EC_PUBLIC_KEY`], `curve` = [`PRIME256V1`] and a 65-byte
/// uncompressed (`0x04`) point that lies on the curve.
///
/// # Errors
///
/// [`NoEphemeralKey`] naming the first check that failed, in the order key type, curve,
/// encoding, curve membership.
pub fn parse_peer_key(
    key_type: &ObjectIdentifier,
    curve: &ObjectIdentifier,
    point: &[u8],
) -> Result<PeerPublicKey, NoEphemeralKey> {
    if *key_type != ID_EC_PUBLIC_KEY {
        return Err(NoEphemeralKey::WrongKeyType);
    }
    if *curve != PRIME256V1 {
        return Err(NoEphemeralKey::WrongCurve);
    }
    if point == [0x00] {
        return Err(NoEphemeralKey::Identity);
    }
    if point.len() != POINT_LEN || point.first() != Some(&0x04) {
        return Err(NoEphemeralKey::BadEncoding);
    }
    p256::PublicKey::from_sec1_bytes(point)
        .map(PeerPublicKey)
        .map_err(|_| NoEphemeralKey::NotOnCurve)
}

/// An ephemeral P-256 private key, used for one negotiation and wiped on drop.
///
/// It can be exported ([`EphemeralSecret::to_secret`]) because a negotiation is device state
/// that outlives one process: the initiator's Start and its Continue may run in two processes
/// (an air-gapped relay), so the pending key is persisted, encrypted, in between.
pub struct EphemeralSecret(p256::SecretKey);

impl EphemeralSecret {
    /// Draws a new ephemeral key from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(p256::SecretKey::generate_from_rng(rng))
    }

    /// Restores a key exported with [`EphemeralSecret::to_secret`]; `None` if the bytes are
    /// not a valid P-256 scalar (zero or not below the group order).
    #[must_use]
    pub fn from_secret(secret: &Secret32) -> Option<Self> {
        p256::SecretKey::from_slice(secret.expose_secret())
            .ok()
            .map(Self)
    }

    /// The private scalar, big-endian, for encrypted persistence.
    #[must_use]
    pub fn to_secret(&self) -> Secret32 {
        // why: `to_bytes` returns a plain `FieldBytes` copy of the scalar; a temporary of it
        // would be dropped without being wiped.
        let scalar = Zeroizing::new(self.0.to_bytes());
        Secret32::from_bytes(to_array(scalar.as_slice()))
    }

    /// The public point, 65-byte SEC1 uncompressed, as sent to the peer.
    #[must_use]
    pub fn public_point(&self) -> [u8; POINT_LEN] {
        self.public_key().to_point()
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> PeerPublicKey {
        PeerPublicKey(self.0.public_key())
    }

    /// ECDH with the peer's key: the x coordinate of the shared point.
    #[must_use]
    pub fn diffie_hellman(&self, peer: &PeerPublicKey) -> SharedSecret {
        let shared = self.0.diffie_hellman(&peer.0);
        SharedSecret(Secret32::from_bytes(to_array(
            shared.raw_secret_bytes().as_slice(),
        )))
    }
}

impl fmt::Debug for EphemeralSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EphemeralSecret { .. }")
    }
}

/// The 32-byte ECDH output; input to the key schedule, wiped on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SharedSecret(Secret32);

impl SharedSecret {
    /// Wraps known bytes (tests, known-answer vectors).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Secret32::from_bytes(bytes))
    }

    /// Borrows the secret bytes.
    #[must_use]
    pub const fn expose_secret(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret([REDACTED])")
    }
}
