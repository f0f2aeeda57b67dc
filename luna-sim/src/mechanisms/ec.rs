//! EC keys on the NIST curves P-256, P-384 and P-521 (RustCrypto's `p256`, `p384`, `p521`):
//! keys from their attributes, generation, ECDSA over a hash, PKCS #8 for wrapping, and the
//! DER of `CKA_EC_PARAMS` (named curves) and `CKA_EC_POINT` (an OCTET STRING of the
//! uncompressed point; the bare point is accepted too, as several clients send it).

use cpv4_wire::consts::*;
use zeroize::Zeroizing;

use crate::error::{SimError, SimResult};
use crate::token::attrs::AttrMap;

/// DER of the P-256 (prime256v1) named-curve OID.
pub const P256_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// DER of the P-384 (secp384r1) named-curve OID.
pub const P384_EC_PARAMS: [u8; 7] = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];
/// DER of the P-521 (secp521r1) named-curve OID.
pub const P521_EC_PARAMS: [u8; 7] = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23];

/// A supported curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256.
    P256,
    /// NIST P-384.
    P384,
    /// NIST P-521.
    P521,
}

impl Curve {
    /// Every supported curve.
    pub const ALL: [Self; 3] = [Self::P256, Self::P384, Self::P521];

    /// The DER of the curve's named-curve OID (`CKA_EC_PARAMS`).
    #[must_use]
    pub const fn params(self) -> &'static [u8] {
        match self {
            Self::P256 => &P256_EC_PARAMS,
            Self::P384 => &P384_EC_PARAMS,
            Self::P521 => &P521_EC_PARAMS,
        }
    }

    /// The size of the curve's order in bits (the key size of `C_GetMechanismInfo`).
    #[must_use]
    pub const fn bits(self) -> usize {
        match self {
            Self::P256 => 256,
            Self::P384 => 384,
            Self::P521 => 521,
        }
    }

    /// The length of an ECDSA signature (`r || s`).
    #[must_use]
    pub const fn signature_len(self) -> usize {
        self.bits().div_ceil(8) * 2
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
/// the bare point.
fn point_bytes(bytes: &[u8]) -> &[u8] {
    match bytes {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => rest,
        [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() && *len >= 0x80 => rest,
        _ => bytes,
    }
}

/// `CKA_EC_POINT` of an uncompressed point: its DER OCTET STRING.
fn point_der(point: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    match u8::try_from(point.len()) {
        Ok(len) if len < 0x80 => out.push(len),
        Ok(len) => out.extend([0x81, len]),
        Err(_) => out.extend([0x81, 0xFF]), // never: points are at most 133 bytes
    }
    out.extend_from_slice(point);
    out
}

macro_rules! curve_ops {
    ($module:ident, $krate:ident) => {
        mod $module {
            use zeroize::Zeroizing;
            use $krate::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
            use $krate::ecdsa::{Signature, SigningKey, VerifyingKey};

            use crate::error::{SimError, SimResult};
            use crate::store::keys::os_rng;

            pub(super) fn signing(scalar: &[u8]) -> SimResult<SigningKey> {
                SigningKey::from_slice(scalar).map_err(|_| SimError::KeyTypeInconsistent)
            }

            pub(super) fn verifying(point: &[u8]) -> SimResult<VerifyingKey> {
                VerifyingKey::from_sec1_bytes(point).map_err(|_| SimError::KeyTypeInconsistent)
            }

            pub(super) fn point(key: &VerifyingKey) -> Vec<u8> {
                key.to_sec1_point(false).as_bytes().to_vec()
            }

            pub(super) fn generate() -> (Zeroizing<Vec<u8>>, Vec<u8>) {
                let key = <SigningKey as $krate::elliptic_curve::Generate>::generate_from_rng(
                    &mut os_rng(),
                );
                (
                    Zeroizing::new(key.to_bytes().to_vec()),
                    point(key.verifying_key()),
                )
            }

            pub(super) fn sign(key: &SigningKey, hash: &[u8]) -> SimResult<Vec<u8>> {
                let signature: Signature =
                    key.sign_prehash(hash).map_err(|_| SimError::DataLenRange)?;
                Ok(signature.to_bytes().to_vec())
            }

            pub(super) fn verify(key: &VerifyingKey, hash: &[u8], sig: &[u8]) -> SimResult<()> {
                let signature =
                    Signature::from_slice(sig).map_err(|_| SimError::SignatureInvalid)?;
                key.verify_prehash(hash, &signature)
                    .map_err(|_| SimError::SignatureInvalid)
            }

            pub(super) fn to_pkcs8(scalar: &[u8]) -> SimResult<Zeroizing<Vec<u8>>> {
                use $krate::pkcs8::EncodePrivateKey;
                let secret = $krate::SecretKey::from_slice(scalar)
                    .map_err(|_| SimError::KeyTypeInconsistent)?;
                let doc = secret
                    .to_pkcs8_der()
                    .map_err(|_| SimError::KeyNotWrappable)?;
                Ok(Zeroizing::new(doc.as_bytes().to_vec()))
            }

            pub(super) fn from_pkcs8(der: &[u8]) -> Option<(Zeroizing<Vec<u8>>, Vec<u8>)> {
                use $krate::pkcs8::DecodePrivateKey;
                let secret = $krate::SecretKey::from_pkcs8_der(der).ok()?;
                let key = SigningKey::from(&secret);
                Some((
                    Zeroizing::new(secret.to_bytes().to_vec()),
                    point(key.verifying_key()),
                ))
            }
        }
    };
}

curve_ops!(on_p256, p256);
curve_ops!(on_p384, p384);
curve_ops!(on_p521, p521);

/// Runs `$body` with `$ops` bound to the operations module of `$curve`.
macro_rules! on_curve {
    ($curve:expr, $ops:ident => $body:expr) => {
        match $curve {
            Curve::P256 => {
                use on_p256 as $ops;
                $body
            }
            Curve::P384 => {
                use on_p384 as $ops;
                $body
            }
            Curve::P521 => {
                use on_p521 as $ops;
                $body
            }
        }
    };
}

/// A private key for ECDSA.
pub(crate) enum SigningKey {
    P256(Box<p256::ecdsa::SigningKey>),
    P384(Box<p384::ecdsa::SigningKey>),
    P521(Box<p521::ecdsa::SigningKey>),
}

/// A public key for ECDSA.
pub(crate) enum VerifyingKey {
    P256(Box<p256::ecdsa::VerifyingKey>),
    P384(Box<p384::ecdsa::VerifyingKey>),
    P521(Box<p521::ecdsa::VerifyingKey>),
}

impl SigningKey {
    /// The key of a curve and scalar (`CKA_VALUE`).
    pub(crate) fn new(curve: Curve, scalar: &[u8]) -> SimResult<Self> {
        Ok(match curve {
            Curve::P256 => Self::P256(Box::new(on_p256::signing(scalar)?)),
            Curve::P384 => Self::P384(Box::new(on_p384::signing(scalar)?)),
            Curve::P521 => Self::P521(Box::new(on_p521::signing(scalar)?)),
        })
    }

    /// The key of an EC private key object.
    pub(crate) fn of(attrs: &AttrMap) -> SimResult<Self> {
        Self::new(Curve::of(attrs)?, attrs.value()?)
    }

    pub(crate) const fn curve(&self) -> Curve {
        match self {
            Self::P256(_) => Curve::P256,
            Self::P384(_) => Curve::P384,
            Self::P521(_) => Curve::P521,
        }
    }

    /// ECDSA over `hash` (any length: ECDSA takes its leftmost bits), as `r || s`.
    pub(crate) fn sign(&self, hash: &[u8]) -> SimResult<Vec<u8>> {
        match self {
            Self::P256(key) => on_p256::sign(key, hash),
            Self::P384(key) => on_p384::sign(key, hash),
            Self::P521(key) => on_p521::sign(key, hash),
        }
    }
}

impl VerifyingKey {
    /// The key of a curve and `CKA_EC_POINT`.
    pub(crate) fn new(curve: Curve, point: &[u8]) -> SimResult<Self> {
        let point = point_bytes(point);
        Ok(match curve {
            Curve::P256 => Self::P256(Box::new(on_p256::verifying(point)?)),
            Curve::P384 => Self::P384(Box::new(on_p384::verifying(point)?)),
            Curve::P521 => Self::P521(Box::new(on_p521::verifying(point)?)),
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
        match self {
            Self::P256(_) => Curve::P256,
            Self::P384(_) => Curve::P384,
            Self::P521(_) => Curve::P521,
        }
    }

    /// Verifies an `r || s` signature over `hash`.
    pub(crate) fn verify(&self, hash: &[u8], signature: &[u8]) -> SimResult<()> {
        if signature.len() != self.curve().signature_len() {
            return Err(SimError::SignatureLenRange);
        }
        match self {
            Self::P256(key) => on_p256::verify(key, hash, signature),
            Self::P384(key) => on_p384::verify(key, hash, signature),
            Self::P521(key) => on_p521::verify(key, hash, signature),
        }
    }
}

/// A new key pair on `curve`: (scalar, `CKA_EC_POINT`).
pub(crate) fn generate(curve: Curve) -> (Zeroizing<Vec<u8>>, Vec<u8>) {
    let (scalar, point) = on_curve!(curve, ops => ops::generate());
    (scalar, point_der(&point))
}

/// PKCS #8 DER of an EC private key object (the wrapped form).
pub(crate) fn to_pkcs8(attrs: &AttrMap) -> SimResult<Zeroizing<Vec<u8>>> {
    let scalar = attrs.value()?;
    on_curve!(Curve::of(attrs)?, ops => ops::to_pkcs8(scalar))
}

/// The curve, scalar and `CKA_EC_POINT` of a PKCS #8 EC private key on a supported curve.
pub(crate) fn from_pkcs8(der: &[u8]) -> SimResult<(Curve, Zeroizing<Vec<u8>>, Vec<u8>)> {
    for curve in Curve::ALL {
        if let Some((scalar, point)) = on_curve!(curve, ops => ops::from_pkcs8(der)) {
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
            let bare = point_bytes(&der).to_vec();
            assert_eq!(bare.len(), 1 + curve.bits().div_ceil(8) * 2);
            let from_der = VerifyingKey::new(curve, &der).unwrap();
            let from_bare = VerifyingKey::new(curve, &bare).unwrap();
            let hash = [7u8; 48];
            let sig = key.sign(&hash).unwrap();
            assert_eq!(sig.len(), curve.signature_len());
            assert!(from_der.verify(&hash, &sig).is_ok());
            assert!(from_bare.verify(&hash, &sig).is_ok());
            assert_eq!(Curve::from_params(curve.params()).unwrap(), curve);
        }
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
