//! The per-session states of multi-part calls (encryption, decryption, signature and
//! verification over the block ciphers, GCM, MACs, ECDSA and RSA of the sibling modules), and
//! the AES key wraps (RFC 3394, and RFC 5649 with padding).
//!
//! Multi-part AES-GCM buffers its input and produces everything at the final call (PKCS#11
//! allows an update to return no output). The block modes stream (see `block`). `CKM_ECDSA`
//! and the RSA mechanisms without a hash are single-part only, as in PKCS#11.

use aes_kw::KeyInit;
use zeroize::Zeroizing;

use crate::error::{SimError, SimResult};
use crate::mechanisms::block::{BlockStream, CtrStream};
use crate::mechanisms::ec::{SigningKey, VerifyingKey};
use crate::mechanisms::mac::MacOp;
use crate::mechanisms::{GcmParams, Hasher, eddsa, gcm, rsa};

// ---------------------------------------------------------------------------------------------
// Operation states

/// The key of an RSA encryption (public) or decryption (private).
pub(crate) enum RsaCipherKey {
    Public(Box<::rsa::PublicKey>),
    Private(Box<::rsa::PrivateKey>),
}

/// Appends `data` to a buffer of secret bytes: a larger buffer is allocated (fallibly:
/// `CKR_HOST_MEMORY`) and the old one wiped, never left behind by a reallocation.
fn append_wiped(buffer: &mut Zeroizing<Vec<u8>>, data: &[u8]) -> SimResult<()> {
    let needed = buffer
        .len()
        .checked_add(data.len())
        .ok_or(SimError::HostMemory)?;
    if needed > buffer.capacity() {
        let mut grown = Vec::new();
        grown
            .try_reserve_exact(needed.max(buffer.capacity().saturating_mul(2)))
            .map_err(|_| SimError::HostMemory)?;
        grown.extend_from_slice(buffer);
        *buffer = Zeroizing::new(grown);
    }
    buffer.extend_from_slice(data);
    Ok(())
}

/// An active encryption or decryption.
pub(crate) enum CipherOp {
    /// AES-GCM, buffered until the final call.
    Gcm {
        key: Zeroizing<Vec<u8>>,
        params: GcmParams,
        buffer: Zeroizing<Vec<u8>>,
        encrypt: bool,
    },
    /// ECB, CBC or CBC-PAD with AES or DES, streaming.
    Block(Box<BlockStream>),
    /// AES-CTR, streaming.
    Ctr(Box<CtrStream>),
    /// RSA (single-part only, as PKCS#11 defines the RSA encryption mechanisms).
    Rsa {
        key: RsaCipherKey,
        scheme: rsa::Encryption,
    },
}

impl CipherOp {
    /// Whether the operation has no update calls (RSA, register A60).
    pub(crate) const fn single_part_only(&self) -> bool {
        matches!(self, Self::Rsa { .. })
    }

    pub(crate) fn update_len(&self, len: usize) -> usize {
        match self {
            Self::Gcm { .. } | Self::Rsa { .. } => 0,
            Self::Block(stream) => stream.update_len(len),
            Self::Ctr(_) => len,
        }
    }

    pub(crate) fn single_len(&self, len: usize) -> usize {
        match self {
            Self::Gcm {
                params,
                buffer,
                encrypt,
                ..
            } => {
                let total = buffer.len().saturating_add(len);
                if *encrypt {
                    total.saturating_add(gcm::tag_len(params))
                } else {
                    total.saturating_sub(gcm::tag_len(params))
                }
            }
            Self::Block(stream) => stream.single_len(len),
            Self::Ctr(_) => len,
            Self::Rsa { key, .. } => match key {
                RsaCipherKey::Public(key) => rsa::modulus_len(key),
                RsaCipherKey::Private(key) => rsa::modulus_len(key.as_public_key()),
            },
        }
    }

    pub(crate) fn final_len(&self) -> usize {
        match self {
            Self::Gcm {
                params,
                buffer,
                encrypt,
                ..
            } => {
                if *encrypt {
                    buffer.len() + gcm::tag_len(params)
                } else {
                    buffer.len().saturating_sub(gcm::tag_len(params))
                }
            }
            Self::Block(stream) => stream.final_len(),
            Self::Ctr(_) | Self::Rsa { .. } => 0,
        }
    }

    /// A multi-part update. RSA is single-part: `CKR_FUNCTION_NOT_SUPPORTED`.
    pub(crate) fn update(&mut self, data: &[u8]) -> SimResult<Vec<u8>> {
        match self {
            Self::Gcm {
                buffer, encrypt, ..
            } => {
                let limit = gcm::MAX_PLAINTEXT + if *encrypt { 0 } else { 16 };
                let total = u64::try_from(buffer.len().saturating_add(data.len()));
                if total.map_or(true, |total| total > limit) {
                    return Err(if *encrypt {
                        SimError::DataLenRange
                    } else {
                        SimError::EncryptedDataLenRange
                    });
                }
                append_wiped(buffer, data)?;
                Ok(Vec::new())
            }
            Self::Block(stream) => Ok(stream.update(data)),
            Self::Ctr(stream) => stream.update(data),
            Self::Rsa { .. } => Err(SimError::FunctionNotSupported),
        }
    }

    /// A single-part call on `data`.
    pub(crate) fn single(mut self, data: &[u8]) -> SimResult<Zeroizing<Vec<u8>>> {
        if let Self::Rsa { key, scheme } = &self {
            return match key {
                RsaCipherKey::Public(key) => rsa::encrypt(key, scheme, data).map(Zeroizing::new),
                RsaCipherKey::Private(key) => rsa::decrypt(key, scheme, data),
            };
        }
        let mut out = Zeroizing::new(self.update(data)?);
        out.extend(self.finish()?.iter());
        Ok(out)
    }

    pub(crate) fn finish(self) -> SimResult<Zeroizing<Vec<u8>>> {
        match self {
            Self::Gcm {
                key,
                params,
                buffer,
                encrypt,
            } => gcm::gcm(&key, &params, &buffer, encrypt).map(Zeroizing::new),
            Self::Block(stream) => stream.finish().map(Zeroizing::new),
            Self::Ctr(_) => Ok(Zeroizing::new(Vec::new())),
            Self::Rsa { .. } => Err(SimError::FunctionNotSupported),
        }
    }
}

/// An active signature or verification.
pub(crate) enum SignOp {
    /// `CKM_ECDSA` with a private key (single-part).
    EcdsaSign(SigningKey),
    /// `CKM_ECDSA` with a public key (single-part).
    EcdsaVerify(VerifyingKey),
    /// `CKM_ECDSA_SHA*` signing.
    EcdsaHashSign(SigningKey, Hasher),
    /// `CKM_ECDSA_SHA*` verification.
    EcdsaHashVerify(VerifyingKey, Hasher),
    /// HMAC and CMAC, full or truncated, both directions.
    Mac(MacOp),
    /// `CKM_EDDSA` with a private key (single-part).
    EddsaSign(Box<ed25519_dalek::SigningKey>),
    /// `CKM_EDDSA` with a public key (single-part).
    EddsaVerify(Box<ed25519_dalek::VerifyingKey>),
    /// An RSA signature; with a hasher for the hashing mechanisms (multi-part), without for
    /// the single-part ones over caller-supplied input.
    RsaSign {
        key: Box<::rsa::PrivateKey>,
        scheme: rsa::Signature,
        hasher: Option<Hasher>,
    },
    /// An RSA verification, as [`SignOp::RsaSign`].
    RsaVerify {
        key: Box<::rsa::PublicKey>,
        scheme: rsa::Signature,
        hasher: Option<Hasher>,
    },
    /// `C_SignRecover` with `CKM_RSA_PKCS` or `CKM_RSA_X_509` (single-part).
    RsaSignRecover {
        key: Box<::rsa::PrivateKey>,
        scheme: rsa::Signature,
    },
    /// `C_VerifyRecover`, as [`SignOp::RsaSignRecover`].
    RsaVerifyRecover {
        key: Box<::rsa::PublicKey>,
        scheme: rsa::Signature,
    },
}

/// The input of the final signing step: the single-part data, or the hash of what the updates
/// gave.
fn signed_input(hasher: Option<Hasher>, data: Option<&[u8]>) -> SimResult<Vec<u8>> {
    match (hasher, data) {
        (Some(mut hasher), data) => {
            if let Some(data) = data {
                hasher.update(data);
            }
            Ok(hasher.finish())
        }
        (None, Some(data)) => Ok(data.to_vec()),
        (None, None) => Err(SimError::FunctionNotSupported),
    }
}

impl SignOp {
    pub(crate) fn signature_len(&self) -> usize {
        match self {
            Self::Mac(mac) => mac.output_len(),
            Self::EddsaSign(_) | Self::EddsaVerify(_) => eddsa::SIGNATURE_LEN,
            Self::EcdsaSign(key) | Self::EcdsaHashSign(key, _) => key.curve().signature_len(),
            Self::EcdsaVerify(key) | Self::EcdsaHashVerify(key, _) => key.curve().signature_len(),
            Self::RsaSign { key, .. } => rsa::modulus_len(key.as_public_key()),
            Self::RsaVerify { key, .. } => rsa::modulus_len(key),
            Self::RsaSignRecover { key, .. } => rsa::modulus_len(key.as_public_key()),
            Self::RsaVerifyRecover { key, .. } => rsa::modulus_len(key),
        }
    }

    /// Whether this is a sign- or verify-recover operation: the plain calls (`C_Sign`,
    /// `C_SignUpdate`...) do not see it, nor the recover calls the other operations.
    pub(crate) fn is_recover(&self) -> bool {
        matches!(
            self,
            Self::RsaSignRecover { .. } | Self::RsaVerifyRecover { .. }
        )
    }

    /// The data a verify-recover operation recovers from `signature`; the operation is not
    /// consumed (the caller's buffer may be too small for it).
    pub(crate) fn recover(&self, signature: &[u8]) -> SimResult<Vec<u8>> {
        match self {
            Self::RsaVerifyRecover { key, scheme } => rsa::verify_recover(key, scheme, signature),
            _ => Err(SimError::Internal("not a verify-recover state")),
        }
    }

    /// Whether the operation has no update calls: `CKM_ECDSA`, EdDSA and the RSA signatures
    /// without a hash sign or verify their data in one call.
    pub(crate) const fn single_part_only(&self) -> bool {
        matches!(
            self,
            Self::EcdsaSign(_)
                | Self::EcdsaVerify(_)
                | Self::EddsaSign(_)
                | Self::EddsaVerify(_)
                | Self::RsaSign { hasher: None, .. }
                | Self::RsaVerify { hasher: None, .. }
        )
    }

    pub(crate) fn update(&mut self, data: &[u8]) -> SimResult<()> {
        match self {
            Self::RsaSignRecover { .. } | Self::RsaVerifyRecover { .. } => {
                Err(SimError::OperationNotInitialized)
            }
            Self::EcdsaHashSign(_, hash)
            | Self::EcdsaHashVerify(_, hash)
            | Self::RsaSign {
                hasher: Some(hash), ..
            }
            | Self::RsaVerify {
                hasher: Some(hash), ..
            } => {
                hash.update(data);
                Ok(())
            }
            Self::Mac(mac) => {
                mac.update(data);
                Ok(())
            }
            // What is left is single-part only (`single_part_only`).
            _ => Err(SimError::FunctionNotSupported),
        }
    }

    /// Signs `data` in one call (for single-part `C_Sign`), or the accumulated data.
    pub(crate) fn sign(self, data: Option<&[u8]>) -> SimResult<Vec<u8>> {
        match self {
            Self::EcdsaSign(key) => key.sign(data.ok_or(SimError::FunctionNotSupported)?, None),
            Self::EcdsaHashSign(key, hasher) => {
                let hash = hasher.alg();
                key.sign(&signed_input(Some(hasher), data)?, Some(hash))
            }
            Self::Mac(mut mac) => {
                if let Some(data) = data {
                    mac.update(data);
                }
                Ok(mac.finish())
            }
            Self::RsaSign {
                key,
                scheme,
                hasher,
            } => rsa::sign(&key, &scheme, &signed_input(hasher, data)?),
            // PKCS #1 v1.5 and raw signatures carry their whole input: signing with recovery
            // is the same computation.
            Self::RsaSignRecover { key, scheme } => {
                rsa::sign(&key, &scheme, data.ok_or(SimError::FunctionNotSupported)?)
            }
            Self::EddsaSign(key) => Ok(eddsa::sign(
                &key,
                data.ok_or(SimError::FunctionNotSupported)?,
            )),
            Self::EcdsaVerify(_)
            | Self::EcdsaHashVerify(..)
            | Self::RsaVerify { .. }
            | Self::RsaVerifyRecover { .. }
            | Self::EddsaVerify(_) => Err(SimError::Internal("verify state used to sign")),
        }
    }

    /// Verifies `signature` over `data` (single-part) or the accumulated data.
    pub(crate) fn verify(self, data: Option<&[u8]>, signature: &[u8]) -> SimResult<()> {
        match self {
            Self::EcdsaVerify(key) => {
                key.verify(data.ok_or(SimError::FunctionNotSupported)?, signature)
            }
            Self::EcdsaHashVerify(key, hasher) => {
                key.verify(&signed_input(Some(hasher), data)?, signature)
            }
            Self::Mac(mut mac) => {
                if let Some(data) = data {
                    mac.update(data);
                }
                mac.verify(signature)
            }
            Self::RsaVerify {
                key,
                scheme,
                hasher,
            } => rsa::verify(&key, &scheme, &signed_input(hasher, data)?, signature),
            Self::EddsaVerify(key) => {
                eddsa::verify(&key, data.ok_or(SimError::FunctionNotSupported)?, signature)
            }
            Self::EcdsaSign(_)
            | Self::EcdsaHashSign(..)
            | Self::RsaSign { .. }
            | Self::RsaSignRecover { .. }
            | Self::RsaVerifyRecover { .. }
            | Self::EddsaSign(_) => Err(SimError::Internal("sign state used to verify")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// AES key wrap (RFC 3394) and with padding (RFC 5649)

/// Runs `$call` on the `aes-kw` wrapper of `$kek`'s length: `Kw*` without padding, `Kwp*` with.
macro_rules! with_kek {
    ($kek:expr, $padded:expr, $bad:expr, $w:ident => $call:expr) => {
        match ($kek.len(), $padded) {
            (16, false) => aes_kw::KwAes128::new_from_slice($kek)
                .map_err($bad)
                .map(|$w| $call),
            (24, false) => aes_kw::KwAes192::new_from_slice($kek)
                .map_err($bad)
                .map(|$w| $call),
            (32, false) => aes_kw::KwAes256::new_from_slice($kek)
                .map_err($bad)
                .map(|$w| $call),
            (16, true) => aes_kw::KwpAes128::new_from_slice($kek)
                .map_err($bad)
                .map(|$w| $call),
            (24, true) => aes_kw::KwpAes192::new_from_slice($kek)
                .map_err($bad)
                .map(|$w| $call),
            (32, true) => aes_kw::KwpAes256::new_from_slice($kek)
                .map_err($bad)
                .map(|$w| $call),
            _ => Err($bad(aes_kw::cipher::InvalidLength)),
        }
    };
}

/// Wraps `data` under the AES key `kek`: RFC 5649 if `padded`, else RFC 3394, which takes only
/// whole 8-byte blocks, at least two (`CKR_KEY_SIZE_RANGE` otherwise).
pub(crate) fn aes_wrap(kek: &[u8], data: &[u8], padded: bool) -> SimResult<Vec<u8>> {
    if !padded && (data.len() < 16 || !data.len().is_multiple_of(8)) {
        return Err(SimError::KeySizeRange);
    }
    let mut buf = vec![0u8; (data.len().div_ceil(8) + 1) * 8];
    let bad = |_| SimError::WrappingKeyTypeInconsistent;
    let len = with_kek!(kek, padded, bad, w => w.wrap_key(data, &mut buf).map(<[u8]>::len))?
        .map_err(|_| SimError::KeyNotWrappable)?;
    buf.truncate(len);
    Ok(buf)
}

/// Unwraps `wrapped` under the AES key `kek` (RFC 5649 if `padded`, else RFC 3394).
pub(crate) fn aes_unwrap(
    kek: &[u8],
    wrapped: &[u8],
    padded: bool,
) -> SimResult<Zeroizing<Vec<u8>>> {
    let min = if padded { 16 } else { 24 };
    if wrapped.len() < min || !wrapped.len().is_multiple_of(8) {
        return Err(SimError::WrappedKeyLenRange);
    }
    let mut buf = Zeroizing::new(vec![0u8; wrapped.len()]);
    let bad = |_| SimError::UnwrappingKeyTypeInconsistent;
    let len = with_kek!(kek, padded, bad, w => w.unwrap_key(wrapped, &mut buf).map(<[u8]>::len))?
        .map_err(|_| SimError::WrappedKeyInvalid)?;
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    #[test]
    fn kwp_matches_rfc5649_vector() {
        // RFC 5649 section 6, 20-octet key data.
        let kek = hex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
        let data = hex("c37b7e6492584340bed12207808941155068f738");
        let wrapped = aes_wrap(&kek, &data, true).unwrap();
        assert_eq!(
            wrapped,
            hex("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a")
        );
        assert_eq!(
            aes_unwrap(&kek, &wrapped, true).unwrap().as_slice(),
            data.as_slice()
        );
    }

    #[test]
    fn kw_matches_rfc3394_vectors() {
        // RFC 3394 sections 4.1 and 4.6: 128 bits of key data under a 128-bit KEK, and 256
        // bits under a 256-bit KEK.
        let data = hex("00112233445566778899AABBCCDDEEFF");
        let kek = hex("000102030405060708090A0B0C0D0E0F");
        let wrapped = aes_wrap(&kek, &data, false).unwrap();
        assert_eq!(
            wrapped,
            hex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")
        );
        assert_eq!(
            aes_unwrap(&kek, &wrapped, false).unwrap().as_slice(),
            data.as_slice()
        );
        let data = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
        let kek = hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
        assert_eq!(
            aes_wrap(&kek, &data, false).unwrap(),
            hex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
        );
        let mut bad = wrapped.clone();
        bad[3] ^= 1;
        assert_eq!(
            aes_unwrap(&hex("000102030405060708090A0B0C0D0E0F"), &bad, false),
            Err(SimError::WrappedKeyInvalid)
        );
        assert_eq!(aes_wrap(&kek, &[1; 20], false), Err(SimError::KeySizeRange));
        assert_eq!(aes_wrap(&kek, &[1; 8], false), Err(SimError::KeySizeRange));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
