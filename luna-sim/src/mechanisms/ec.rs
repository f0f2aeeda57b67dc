//! EC keys on the Weierstrass curves Luna offers that RustCrypto implements: NIST P-192, P-224,
//! P-256, P-384 and P-521, secp256k1, brainpoolP256r1 and brainpoolP384r1 (`p192` ... `bp384`,
//! through the generic `ecdsa` and `elliptic-curve` crates): keys from their attributes,
//! generation, ECDSA over a hash with RFC 6979 nonces, ECDH, PKCS #8 for wrapping, and the DER
//! of `CKA_EC_PARAMS` (named curves) and `CKA_EC_POINT` (an OCTET STRING of the uncompressed
//! point; the bare point is accepted too, as several clients send it).

use cpv4_wire::consts::*;
use ecdsa::signature::hazmat::PrehashVerifier;
use ecdsa::{EcdsaCurve, Signature};
use elliptic_curve::pkcs8::{AssociatedOid, DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use elliptic_curve::sec1::{FromSec1Point, ModulusSize, ToSec1Point};
use elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytesSize, PublicKey, SecretKey};
use zeroize::Zeroizing;

use crate::error::{SimError, SimResult};
use crate::mechanisms::{HashAlg, with_hash};
use crate::store::keys::os_rng;
use crate::token::attrs::AttrMap;

/// DER of the P-256 (prime256v1) named-curve OID.
pub const P256_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// DER of the P-384 (secp384r1) named-curve OID.
pub const P384_EC_PARAMS: [u8; 7] = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];
/// DER of the P-521 (secp521r1) named-curve OID.
pub const P521_EC_PARAMS: [u8; 7] = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23];
/// DER of the P-192 (prime192v1) named-curve OID.
pub const P192_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x01];
/// DER of the P-224 (secp224r1) named-curve OID.
pub const P224_EC_PARAMS: [u8; 7] = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x21];
/// DER of the secp256k1 named-curve OID.
pub const SECP256K1_EC_PARAMS: [u8; 7] = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x0A];
/// DER of the brainpoolP256r1 named-curve OID.
pub const BRAINPOOL_P256R1_EC_PARAMS: [u8; 11] = [
    0x06, 0x09, 0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07,
];
/// DER of the brainpoolP384r1 named-curve OID.
pub const BRAINPOOL_P384R1_EC_PARAMS: [u8; 11] = [
    0x06, 0x09, 0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0B,
];

/// A supported curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-192.
    P192,
    /// NIST P-224.
    P224,
    /// NIST P-256.
    P256,
    /// NIST P-384.
    P384,
    /// NIST P-521.
    P521,
    /// secp256k1 (SEC 2).
    Secp256k1,
    /// brainpoolP256r1 (RFC 5639).
    BrainpoolP256r1,
    /// brainpoolP384r1 (RFC 5639).
    BrainpoolP384r1,
}

/// Runs `$body` with `$c` the RustCrypto curve type of `$curve`.
macro_rules! on_curve {
    ($curve:expr, $c:ident => $body:expr) => {
        match $curve {
            Curve::P192 => {
                type $c = p192::NistP192;
                $body
            }
            Curve::P224 => {
                type $c = p224::NistP224;
                $body
            }
            Curve::P256 => {
                type $c = p256::NistP256;
                $body
            }
            Curve::P384 => {
                type $c = p384::NistP384;
                $body
            }
            Curve::P521 => {
                type $c = p521::NistP521;
                $body
            }
            Curve::Secp256k1 => {
                type $c = k256::Secp256k1;
                $body
            }
            Curve::BrainpoolP256r1 => {
                type $c = bp256::BrainpoolP256r1;
                $body
            }
            Curve::BrainpoolP384r1 => {
                type $c = bp384::BrainpoolP384r1;
                $body
            }
        }
    };
}

impl Curve {
    /// Every supported curve.
    pub const ALL: [Self; 8] = [
        Self::P192,
        Self::P224,
        Self::P256,
        Self::P384,
        Self::P521,
        Self::Secp256k1,
        Self::BrainpoolP256r1,
        Self::BrainpoolP384r1,
    ];

    /// The DER of the curve's named-curve OID (`CKA_EC_PARAMS`).
    #[must_use]
    pub const fn params(self) -> &'static [u8] {
        match self {
            Self::P192 => &P192_EC_PARAMS,
            Self::P224 => &P224_EC_PARAMS,
            Self::P256 => &P256_EC_PARAMS,
            Self::P384 => &P384_EC_PARAMS,
            Self::P521 => &P521_EC_PARAMS,
            Self::Secp256k1 => &SECP256K1_EC_PARAMS,
            Self::BrainpoolP256r1 => &BRAINPOOL_P256R1_EC_PARAMS,
            Self::BrainpoolP384r1 => &BRAINPOOL_P384R1_EC_PARAMS,
        }
    }

    /// The size of the curve's order in bits (the key size of `C_GetMechanismInfo`).
    #[must_use]
    pub const fn bits(self) -> usize {
        match self {
            Self::P192 => 192,
            Self::P224 => 224,
            Self::P256 | Self::Secp256k1 | Self::BrainpoolP256r1 => 256,
            Self::P384 | Self::BrainpoolP384r1 => 384,
            Self::P521 => 521,
        }
    }

    /// The length of an uncompressed SEC 1 point (`04 || x || y`).
    #[must_use]
    pub const fn point_len(self) -> usize {
        1 + self.bits().div_ceil(8) * 2
    }

    /// The length of an ECDSA signature (`r || s`).
    #[must_use]
    pub const fn signature_len(self) -> usize {
        self.bits().div_ceil(8) * 2
    }

    /// The HMAC hash of RFC 6979 nonces when the input's hash is unknown (register A72): the
    /// SHA-2 of the curve's size.
    const fn nonce_hash(self) -> HashAlg {
        match self {
            Self::P192 | Self::P256 | Self::Secp256k1 | Self::BrainpoolP256r1 => HashAlg::Sha256,
            Self::P224 => HashAlg::Sha224,
            Self::P384 | Self::BrainpoolP384r1 => HashAlg::Sha384,
            Self::P521 => HashAlg::Sha512,
        }
    }

    /// The curve of `CKA_EC_PARAMS`: another named curve is `CKR_CURVE_NOT_SUPPORTED`,
    /// anything that is not a DER OID `CKR_DOMAIN_PARAMS_INVALID`.
    ///
    /// # Errors
    ///
    /// As above.
    pub fn from_params(params: &[u8]) -> SimResult<Self> {
        if let Some(curve) = Self::ALL.into_iter().find(|c| c.params() == params) {
            return Ok(curve);
        }
        match params {
            [0x06, len, rest @ ..] if usize::from(*len) == rest.len() && !rest.is_empty() => {
                Err(SimError::CurveNotSupported)
            }
            _ => Err(SimError::DomainParamsInvalid),
        }
    }

    /// The curve of a key object.
    pub(crate) fn of(attrs: &AttrMap) -> SimResult<Self> {
        Self::from_params(
            attrs
                .get(CKA_EC_PARAMS)
                .ok_or(SimError::TemplateIncomplete(CKA_EC_PARAMS))?,
        )
    }
}

/// The point inside a `CKA_EC_POINT`: a DER OCTET STRING (short or one-byte long length), or
/// the bare point. Bytes of exactly `bare_len` (the curve's uncompressed point, or an Ed25519
/// key) are the bare point: a bare point can begin with bytes that read as an OCTET STRING
/// header, and the lengths of the two forms never agree.
pub(crate) fn point_bytes(bytes: &[u8], bare_len: usize) -> &[u8] {
    if bytes.len() == bare_len {
        return bytes;
    }
    match bytes {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => rest,
        [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() && *len >= 0x80 => rest,
        _ => bytes,
    }
}

/// `CKA_EC_POINT` of a point: its DER OCTET STRING.
pub(crate) fn point_der(point: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    match u8::try_from(point.len()) {
        Ok(len) if len < 0x80 => out.push(len),
        Ok(len) => out.extend([0x81, len]),
        Err(_) => out.extend([0x81, 0xFF]), // never: points are at most 133 bytes
    }
    out.extend_from_slice(point);
    out
}

// ---------------------------------------------------------------------------------------------
// The operations, generic over the curve (RustCrypto's `ecdsa` and `elliptic-curve`)

fn secret<C: CurveArithmetic>(scalar: &[u8]) -> SimResult<SecretKey<C>> {
    SecretKey::<C>::from_slice(scalar).map_err(|_| SimError::KeyTypeInconsistent)
}

fn public<C>(point: &[u8]) -> SimResult<PublicKey<C>>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    PublicKey::<C>::from_sec1_bytes(point).map_err(|_| SimError::KeyTypeInconsistent)
}

fn uncompressed<C>(key: &PublicKey<C>) -> Vec<u8>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    key.to_sec1_point(false).as_bytes().to_vec()
}

fn generate_on<C>() -> (Zeroizing<Vec<u8>>, Vec<u8>)
where
    C: CurveArithmetic,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let key = <SecretKey<C> as elliptic_curve::Generate>::generate_from_rng(&mut os_rng());
    (
        Zeroizing::new(key.to_bytes().to_vec()),
        uncompressed(&key.public_key()),
    )
}

fn sign_on<C: EcdsaCurve + CurveArithmetic>(
    scalar: &[u8],
    hash: &[u8],
    nonce_hash: HashAlg,
) -> SimResult<Vec<u8>> {
    let d = secret::<C>(scalar)?.to_nonzero_scalar();
    let (signature, _) = with_hash!(nonce_hash, D => {
        ecdsa::hazmat::sign_prehashed_rfc6979::<C, D>(&d, hash, &[])
    });
    Ok(signature.to_bytes().to_vec())
}

fn verify_on<C>(point: &[u8], hash: &[u8], sig: &[u8]) -> SimResult<()>
where
    C: EcdsaCurve + CurveArithmetic,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let key = ecdsa::VerifyingKey::<C>::from_sec1_bytes(point)
        .map_err(|_| SimError::KeyTypeInconsistent)?;
    let signature = Signature::<C>::from_slice(sig).map_err(|_| SimError::SignatureInvalid)?;
    key.verify_prehash(hash, &signature)
        .map_err(|_| SimError::SignatureInvalid)
}

fn to_pkcs8_on<C>(scalar: &[u8]) -> SimResult<Zeroizing<Vec<u8>>>
where
    C: CurveArithmetic + AssociatedOid,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let doc = secret::<C>(scalar)?
        .to_pkcs8_der()
        .map_err(|_| SimError::KeyNotWrappable)?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

fn from_pkcs8_on<C>(der: &[u8]) -> Option<(Zeroizing<Vec<u8>>, Vec<u8>)>
where
    C: CurveArithmetic + AssociatedOid,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let key = SecretKey::<C>::from_pkcs8_der(der).ok()?;
    Some((
        Zeroizing::new(key.to_bytes().to_vec()),
        uncompressed(&key.public_key()),
    ))
}

fn spki_on<C>(point: &[u8]) -> SimResult<Vec<u8>>
where
    C: CurveArithmetic + AssociatedOid,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    public::<C>(point)?
        .to_public_key_der()
        .map(|doc| doc.as_bytes().to_vec())
        .map_err(|_| SimError::Internal("EC SubjectPublicKeyInfo"))
}

fn spki_of_scalar<C>(scalar: &[u8]) -> SimResult<Vec<u8>>
where
    C: CurveArithmetic + AssociatedOid,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    secret::<C>(scalar)?
        .public_key()
        .to_public_key_der()
        .map(|doc| doc.as_bytes().to_vec())
        .map_err(|_| SimError::Internal("EC SubjectPublicKeyInfo"))
}

fn ecdh_on<C>(scalar: &[u8], point: &[u8]) -> SimResult<Zeroizing<Vec<u8>>>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let peer = public::<C>(point).map_err(|_| SimError::MechanismParamInvalid)?;
    let shared = secret::<C>(scalar)?.diffie_hellman(&peer);
    Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
}

/// A private key for ECDSA: its curve and checked scalar.
pub(crate) struct SigningKey {
    curve: Curve,
    scalar: Zeroizing<Vec<u8>>,
}

/// A public key for ECDSA: its curve and checked point (SEC 1).
pub(crate) struct VerifyingKey {
    curve: Curve,
    point: Vec<u8>,
}

impl SigningKey {
    /// The key of a curve and scalar (`CKA_VALUE`).
    pub(crate) fn new(curve: Curve, scalar: &[u8]) -> SimResult<Self> {
        on_curve!(curve, C => secret::<C>(scalar).map(|_| ()))?;
        Ok(Self {
            curve,
            scalar: Zeroizing::new(scalar.to_vec()),
        })
    }

    /// The key of an EC private key object.
    pub(crate) fn of(attrs: &AttrMap) -> SimResult<Self> {
        Self::new(Curve::of(attrs)?, attrs.value()?)
    }

    pub(crate) const fn curve(&self) -> Curve {
        self.curve
    }

    /// ECDSA over `hash` (any length: ECDSA takes its leftmost bits), as `r || s`, with the
    /// RFC 6979 nonce of `hashed_by` (the mechanism's hash), or for a caller's hash of a SHA
    /// length that SHA (register A72).
    pub(crate) fn sign(&self, hash: &[u8], hashed_by: Option<HashAlg>) -> SimResult<Vec<u8>> {
        let nonce_hash = hashed_by
            .or_else(|| {
                HashAlg::ALL
                    .into_iter()
                    .find(|h| h.output_len() == hash.len())
            })
            .unwrap_or(self.curve.nonce_hash());
        on_curve!(self.curve, C => sign_on::<C>(&self.scalar, hash, nonce_hash))
    }

    /// The DER SubjectPublicKeyInfo of the key's public half.
    pub(crate) fn public_key_info(&self) -> SimResult<Vec<u8>> {
        on_curve!(self.curve, C => spki_of_scalar::<C>(&self.scalar))
    }

    /// The ECDH shared secret (the x-coordinate) with a peer's SEC 1 point.
    pub(crate) fn diffie_hellman(&self, point: &[u8]) -> SimResult<Zeroizing<Vec<u8>>> {
        on_curve!(self.curve, C => ecdh_on::<C>(&self.scalar, point_bytes(point, self.curve.point_len())))
    }
}

impl VerifyingKey {
    /// The key of a curve and `CKA_EC_POINT`.
    pub(crate) fn new(curve: Curve, point: &[u8]) -> SimResult<Self> {
        let point = point_bytes(point, curve.point_len());
        on_curve!(curve, C => public::<C>(point).map(|_| ()))?;
        Ok(Self {
            curve,
            point: point.to_vec(),
        })
    }

    /// The key of an EC public key object.
    pub(crate) fn of(attrs: &AttrMap) -> SimResult<Self> {
        let point = attrs
            .get(CKA_EC_POINT)
            .ok_or(SimError::Corrupt("EC public key without point".into()))?;
        Self::new(Curve::of(attrs)?, point)
    }

    pub(crate) const fn curve(&self) -> Curve {
        self.curve
    }

    /// The DER SubjectPublicKeyInfo of the key.
    pub(crate) fn public_key_info(&self) -> SimResult<Vec<u8>> {
        on_curve!(self.curve, C => spki_on::<C>(&self.point))
    }

    /// Verifies an `r || s` signature over `hash`.
    pub(crate) fn verify(&self, hash: &[u8], signature: &[u8]) -> SimResult<()> {
        if signature.len() != self.curve.signature_len() {
            return Err(SimError::SignatureLenRange);
        }
        on_curve!(self.curve, C => verify_on::<C>(&self.point, hash, signature))
    }
}

/// A new key pair on `curve`: (scalar, `CKA_EC_POINT`).
pub(crate) fn generate(curve: Curve) -> (Zeroizing<Vec<u8>>, Vec<u8>) {
    let (scalar, point) = on_curve!(curve, C => generate_on::<C>());
    (scalar, point_der(&point))
}

/// PKCS #8 DER of an EC private key object (the wrapped form).
pub(crate) fn to_pkcs8(attrs: &AttrMap) -> SimResult<Zeroizing<Vec<u8>>> {
    let scalar = attrs.value()?;
    on_curve!(Curve::of(attrs)?, C => to_pkcs8_on::<C>(scalar))
}

/// The curve, scalar and `CKA_EC_POINT` of a PKCS #8 EC private key on a supported curve.
pub(crate) fn from_pkcs8(der: &[u8]) -> SimResult<(Curve, Zeroizing<Vec<u8>>, Vec<u8>)> {
    for curve in Curve::ALL {
        if let Some((scalar, point)) = on_curve!(curve, C => from_pkcs8_on::<C>(der)) {
            return Ok((curve, scalar, point_der(&point)));
        }
    }
    Err(SimError::WrappedKeyInvalid)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn points_round_trip_in_both_encodings_on_every_curve() {
        for curve in Curve::ALL {
            let (scalar, der) = generate(curve);
            let key = SigningKey::new(curve, &scalar).unwrap();
            let bare = point_bytes(&der, curve.point_len()).to_vec();
            assert_eq!(bare.len(), curve.point_len());
            let from_der = VerifyingKey::new(curve, &der).unwrap();
            let from_bare = VerifyingKey::new(curve, &bare).unwrap();
            let hash = [7u8; 48];
            let sig = key.sign(&hash, None).unwrap();
            assert_eq!(sig.len(), curve.signature_len());
            assert!(from_der.verify(&hash, &sig).is_ok());
            assert!(from_bare.verify(&hash, &sig).is_ok());
            assert_eq!(Curve::from_params(curve.params()).unwrap(), curve);
        }
        // A bare point whose first bytes read as an OCTET STRING header is still the bare
        // point (x beginning with 0x3F on P-256: `04 3F ...` of 65 bytes).
        let curve = Curve::P256;
        let mut found = false;
        for _ in 0..100_000 {
            let (_, der) = generate(curve);
            let bare = point_bytes(&der, curve.point_len()).to_vec();
            let mut shaped = bare.clone();
            shaped[1] = 0x3F;
            assert_eq!(point_bytes(&shaped, curve.point_len()), &shaped[..]);
            if bare[1] == 0x3F {
                assert!(VerifyingKey::new(curve, &bare).is_ok());
                found = true;
                break;
            }
        }
        assert!(found, "a point with x beginning 0x3F");
        assert_eq!(
            Curve::from_params(&[0x06, 0x03, 0x2B, 0x65, 0x70]),
            Err(SimError::CurveNotSupported)
        );
        assert_eq!(
            Curve::from_params(&[0x30, 0x00]),
            Err(SimError::DomainParamsInvalid)
        );
    }
}
