//! Ed25519 keys (`CKK_EC_EDWARDS`) through `ed25519-dalek`: the curve of `CKA_EC_PARAMS` in the
//! three forms clients send, generation, `CKM_EDDSA` (pure Ed25519, single-part), and PKCS #8
//! (RFC 8410) for wrapping.
//!
//! `CKA_VALUE` of a private key is the 32-byte seed of RFC 8032; `CKA_EC_POINT` of a public key
//! is the DER OCTET STRING of the 32-byte encoded point (the bare 32 bytes are accepted too).

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::error::{SimError, SimResult};
use crate::mechanisms::ec::{point_bytes, point_der};
use crate::store::keys::fill_random;

/// DER of the Ed25519 OID of RFC 8410 (1.3.101.112).
pub const ED25519_EC_PARAMS: [u8; 5] = [0x06, 0x03, 0x2B, 0x65, 0x70];
/// DER of the PrintableString "edwards25519", the curve name of PKCS#11 3.0.
pub const EDWARDS25519_NAME_PARAMS: [u8; 14] = [
    0x13, 0x0C, b'e', b'd', b'w', b'a', b'r', b'd', b's', b'2', b'5', b'5', b'1', b'9',
];
/// DER of the OID Luna firmware has used for Ed25519 (1.3.6.1.4.1.11591.15.1).
pub const LUNA_ED25519_EC_PARAMS: [u8; 11] = [
    0x06, 0x09, 0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01,
];

/// The length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Whether `params` names Ed25519 in one of the forms clients send (register A73).
#[must_use]
pub fn is_ed25519(params: &[u8]) -> bool {
    params == ED25519_EC_PARAMS
        || params == EDWARDS25519_NAME_PARAMS
        || params == LUNA_ED25519_EC_PARAMS
}

/// Checks `CKA_EC_PARAMS` of an Edwards key: Ed25519, or `CKR_CURVE_NOT_SUPPORTED` for another
/// named curve (Ed448), `CKR_DOMAIN_PARAMS_INVALID` for anything else.
pub(crate) fn check_params(params: &[u8]) -> SimResult<()> {
    if is_ed25519(params) {
        return Ok(());
    }
    match params {
        [0x06 | 0x13, len, rest @ ..] if usize::from(*len) == rest.len() && !rest.is_empty() => {
            Err(SimError::CurveNotSupported)
        }
        _ => Err(SimError::DomainParamsInvalid),
    }
}

fn seed(value: &[u8]) -> SimResult<Zeroizing<[u8; 32]>> {
    let seed: [u8; 32] = value
        .try_into()
        .map_err(|_| SimError::KeyTypeInconsistent)?;
    Ok(Zeroizing::new(seed))
}

/// A private key of its seed (`CKA_VALUE`).
pub(crate) fn signing_key(value: &[u8]) -> SimResult<SigningKey> {
    Ok(SigningKey::from_bytes(&*seed(value)?))
}

/// A public key of its `CKA_EC_POINT` (DER or bare): a point that does not decode is refused.
pub(crate) fn verifying_key(point: &[u8]) -> SimResult<VerifyingKey> {
    let bytes: [u8; 32] = point_bytes(point, 32)
        .try_into()
        .map_err(|_| SimError::KeyTypeInconsistent)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| SimError::KeyTypeInconsistent)
}

/// A new key pair: (seed, `CKA_EC_POINT`).
pub(crate) fn generate() -> SimResult<(Zeroizing<Vec<u8>>, Vec<u8>)> {
    let mut seed = Zeroizing::new([0u8; 32]);
    fill_random(seed.as_mut_slice())?;
    let key = SigningKey::from_bytes(&seed);
    Ok((
        Zeroizing::new(seed.to_vec()),
        point_der(key.verifying_key().as_bytes()),
    ))
}

/// `CKA_EC_POINT` of a private key's public half.
#[cfg(test)]
fn public_point(value: &[u8]) -> SimResult<Vec<u8>> {
    Ok(point_der(signing_key(value)?.verifying_key().as_bytes()))
}

/// Pure Ed25519 over `message`.
pub(crate) fn sign(key: &SigningKey, message: &[u8]) -> Vec<u8> {
    key.sign(message).to_bytes().to_vec()
}

/// Checks a signature with RFC 8032's strict rules (canonical encodings, no small-order key).
pub(crate) fn verify(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> SimResult<()> {
    let bytes: [u8; SIGNATURE_LEN] = signature
        .try_into()
        .map_err(|_| SimError::SignatureLenRange)?;
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&bytes))
        .map_err(|_| SimError::SignatureInvalid)
}

/// PKCS #8 (RFC 8410) of a private key's seed.
pub(crate) fn to_pkcs8(value: &[u8]) -> SimResult<Zeroizing<Vec<u8>>> {
    let doc = signing_key(value)?
        .to_pkcs8_der()
        .map_err(|_| SimError::KeyNotWrappable)?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

/// The DER SubjectPublicKeyInfo (RFC 8410) of a public key's `CKA_EC_POINT`.
pub(crate) fn public_key_info(point: &[u8]) -> SimResult<Vec<u8>> {
    spki(&verifying_key(point)?)
}

/// The DER SubjectPublicKeyInfo of a private key's public half.
pub(crate) fn public_key_info_of_seed(value: &[u8]) -> SimResult<Vec<u8>> {
    spki(&signing_key(value)?.verifying_key())
}

fn spki(key: &VerifyingKey) -> SimResult<Vec<u8>> {
    key.to_public_key_der()
        .map(|doc| doc.as_bytes().to_vec())
        .map_err(|_| SimError::Internal("Ed25519 SubjectPublicKeyInfo"))
}

/// The seed of an Ed25519 PKCS #8 key, if `der` is one.
pub(crate) fn from_pkcs8(der: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let key = SigningKey::from_pkcs8_der(der).ok()?;
    Some(Zeroizing::new(key.to_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc8032_test_vectors_1_and_2() {
        // RFC 8032, section 7.1, TEST 1 (empty message) and TEST 2 (one byte).
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
        ];
        for (secret, public, message, signature) in cases {
            let key = signing_key(&hex(secret)).unwrap();
            assert_eq!(public_point(&hex(secret)).unwrap()[2..], hex(public)[..]);
            assert_eq!(sign(&key, &hex(message)), hex(signature));
            let public = verifying_key(&hex(public)).unwrap();
            assert!(verify(&public, &hex(message), &hex(signature)).is_ok());
            let mut bad = hex(signature);
            bad[5] ^= 1;
            assert_eq!(
                verify(&public, &hex(message), &bad),
                Err(SimError::SignatureInvalid)
            );
            let seed = from_pkcs8(&to_pkcs8(&hex(secret)).unwrap()).unwrap();
            assert_eq!(seed.as_slice(), hex(secret).as_slice());
        }
        assert!(check_params(&ED25519_EC_PARAMS).is_ok());
        assert!(check_params(&EDWARDS25519_NAME_PARAMS).is_ok());
        assert!(check_params(&LUNA_ED25519_EC_PARAMS).is_ok());
        // Ed448 (1.3.101.113) and the name "edwards448".
        assert_eq!(
            check_params(&[0x06, 0x03, 0x2B, 0x65, 0x71]),
            Err(SimError::CurveNotSupported)
        );
        assert_eq!(
            check_params(b"\x13\x0aedwards448"),
            Err(SimError::CurveNotSupported)
        );
        assert_eq!(check_params(&[0x30]), Err(SimError::DomainParamsInvalid));
    }
}
