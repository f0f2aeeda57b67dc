//! Cryptographic operations: AES-GCM, AES-CBC-PAD (streaming), AES key wrap with
//! padding (RFC 5649), and the per-session operation states of multi-part calls (which also
//! hold the ECDSA, HMAC and RSA keys and states of `ec`, `hash` and `rsa`).
//!
//! Multi-part AES-GCM buffers its input and produces everything at the final call (PKCS#11
//! allows an update to return no output). AES-CBC-PAD streams: an update returns every
//! complete block it can (decryption holds back the last block, which may hold padding).
//! `CKM_ECDSA` is single-part only, as in PKCS#11.

use aes::cipher::BlockCipherEncrypt;
use aes::cipher::consts::{U12, U13, U14, U15, U16};
use aes::{Aes128, Aes192, Aes256};
use aes_gcm::AesGcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use zeroize::Zeroizing;

use crate::error::{SimError, SimResult};
use crate::mechanisms::ec::{SigningKey, VerifyingKey};
use crate::mechanisms::{GcmParams, HashAlg, Hasher, HmacState, rsa};

const BLOCK: usize = 16;

/// The key check value of an AES key: the first 3 bytes of AES-ECB(key, 0^128).
pub(crate) fn aes_check_value(key: &[u8]) -> SimResult<[u8; 3]> {
    let mut block = aes::Block::default();
    match key.len() {
        16 => Aes128::new_from_slice(key).map(|c| c.encrypt_block(&mut block)),
        24 => Aes192::new_from_slice(key).map(|c| c.encrypt_block(&mut block)),
        32 => Aes256::new_from_slice(key).map(|c| c.encrypt_block(&mut block)),
        _ => return Err(SimError::KeySizeRange),
    }
    .map_err(|_| SimError::KeySizeRange)?;
    match block.as_slice() {
        [a, b, c, ..] => Ok([*a, *b, *c]),
        _ => Err(SimError::Internal("AES block length")),
    }
}

// ---------------------------------------------------------------------------------------------
// AES-GCM

fn gcm_with<C: Aead + KeyInit>(
    key: &[u8],
    params: &GcmParams,
    msg: &[u8],
    encrypt: bool,
) -> SimResult<Vec<u8>> {
    let cipher = C::new_from_slice(key).map_err(|_| SimError::KeySizeRange)?;
    let nonce = aes_gcm::aead::Nonce::<C>::try_from(params.iv.as_slice())
        .map_err(|_| SimError::MechanismParamInvalid)?;
    let payload = Payload {
        msg,
        aad: &params.aad,
    };
    if encrypt {
        cipher
            .encrypt(&nonce, payload)
            .map_err(|_| SimError::DataLenRange)
    } else {
        cipher
            .decrypt(&nonce, payload)
            .map_err(|_| SimError::EncryptedDataInvalid)
    }
}

macro_rules! gcm_dispatch {
    ($key:expr, $params:expr, $msg:expr, $enc:expr, $aes:ty) => {
        match $params.tag_bits {
            96 => gcm_with::<AesGcm<$aes, U12, U12>>($key, $params, $msg, $enc),
            104 => gcm_with::<AesGcm<$aes, U12, U13>>($key, $params, $msg, $enc),
            112 => gcm_with::<AesGcm<$aes, U12, U14>>($key, $params, $msg, $enc),
            120 => gcm_with::<AesGcm<$aes, U12, U15>>($key, $params, $msg, $enc),
            128 => gcm_with::<AesGcm<$aes, U12, U16>>($key, $params, $msg, $enc),
            _ => Err(SimError::MechanismParamInvalid),
        }
    };
}

/// Checks GCM parameters: a 12-byte IV and a tag of 96 to 128 bits in steps of 8.
pub(crate) fn check_gcm_params(params: &GcmParams) -> SimResult<()> {
    if params.iv.len() != 12 || !matches!(params.tag_bits, 96 | 104 | 112 | 120 | 128) {
        return Err(SimError::MechanismParamInvalid);
    }
    Ok(())
}

/// Tag length in bytes of valid parameters.
pub(crate) fn gcm_tag_len(params: &GcmParams) -> usize {
    usize::try_from(params.tag_bits / 8).unwrap_or(16)
}

/// AES-GCM encryption or decryption of a whole message (`ciphertext || tag`).
pub(crate) fn gcm(key: &[u8], params: &GcmParams, msg: &[u8], encrypt: bool) -> SimResult<Vec<u8>> {
    check_gcm_params(params)?;
    if !encrypt && msg.len() < gcm_tag_len(params) {
        return Err(SimError::EncryptedDataLenRange);
    }
    match key.len() {
        16 => gcm_dispatch!(key, params, msg, encrypt, Aes128),
        24 => gcm_dispatch!(key, params, msg, encrypt, Aes192),
        32 => gcm_dispatch!(key, params, msg, encrypt, Aes256),
        _ => Err(SimError::KeySizeRange),
    }
}

// ---------------------------------------------------------------------------------------------
// AES-CBC with PKCS#7 padding, streaming

enum CbcMode {
    Enc128(cbc::Encryptor<Aes128>),
    Enc192(cbc::Encryptor<Aes192>),
    Enc256(cbc::Encryptor<Aes256>),
    Dec128(cbc::Decryptor<Aes128>),
    Dec192(cbc::Decryptor<Aes192>),
    Dec256(cbc::Decryptor<Aes256>),
}

impl CbcMode {
    fn new(key: &[u8], iv: &[u8; 16], encrypt: bool) -> SimResult<Self> {
        let bad = |_| SimError::KeySizeRange;
        Ok(match (key.len(), encrypt) {
            (16, true) => Self::Enc128(cbc::Encryptor::new_from_slices(key, iv).map_err(bad)?),
            (24, true) => Self::Enc192(cbc::Encryptor::new_from_slices(key, iv).map_err(bad)?),
            (32, true) => Self::Enc256(cbc::Encryptor::new_from_slices(key, iv).map_err(bad)?),
            (16, false) => Self::Dec128(cbc::Decryptor::new_from_slices(key, iv).map_err(bad)?),
            (24, false) => Self::Dec192(cbc::Decryptor::new_from_slices(key, iv).map_err(bad)?),
            (32, false) => Self::Dec256(cbc::Decryptor::new_from_slices(key, iv).map_err(bad)?),
            _ => return Err(SimError::KeySizeRange),
        })
    }

    /// Processes whole blocks in place.
    fn process(&mut self, data: &mut [u8]) {
        for chunk in data.chunks_exact_mut(BLOCK) {
            let Ok(block) = <&mut aes::Block>::try_from(chunk) else {
                continue;
            };
            match self {
                Self::Enc128(m) => m.encrypt_block(block),
                Self::Enc192(m) => m.encrypt_block(block),
                Self::Enc256(m) => m.encrypt_block(block),
                Self::Dec128(m) => m.decrypt_block(block),
                Self::Dec192(m) => m.decrypt_block(block),
                Self::Dec256(m) => m.decrypt_block(block),
            }
        }
    }
}

/// The state of a streaming AES-CBC-PAD operation.
pub(crate) struct CbcPad {
    mode: CbcMode,
    encrypt: bool,
    pending: Zeroizing<Vec<u8>>,
}

impl CbcPad {
    pub(crate) fn new(key: &[u8], iv: &[u8; 16], encrypt: bool) -> SimResult<Self> {
        Ok(Self {
            mode: CbcMode::new(key, iv, encrypt)?,
            encrypt,
            pending: Zeroizing::new(Vec::new()),
        })
    }

    /// Output length of an update with `len` more bytes.
    pub(crate) fn update_len(&self, len: usize) -> usize {
        let total = self.pending.len() + len;
        if self.encrypt {
            total / BLOCK * BLOCK
        } else {
            total.saturating_sub(1) / BLOCK * BLOCK
        }
    }

    /// Output length (upper bound for decryption) of a single-part call on `len` more bytes.
    pub(crate) fn single_len(&self, len: usize) -> usize {
        let total = self.pending.len() + len;
        if self.encrypt {
            (total / BLOCK + 1) * BLOCK
        } else {
            total
        }
    }

    /// Output length (upper bound for decryption) of the final call.
    pub(crate) fn final_len(&self) -> usize {
        if self.encrypt {
            (self.pending.len() / BLOCK + 1) * BLOCK
        } else {
            self.pending.len()
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(data);
        let take = self.update_len(0);
        let rest = self.pending.split_off(take);
        let mut out = std::mem::replace(&mut *self.pending, rest);
        self.mode.process(&mut out);
        out
    }

    pub(crate) fn finish(mut self) -> SimResult<Vec<u8>> {
        let mut last = std::mem::take(&mut *self.pending);
        if self.encrypt {
            let pad = BLOCK - last.len() % BLOCK;
            last.resize(last.len() + pad, u8::try_from(pad).unwrap_or(16));
            self.mode.process(&mut last);
            Ok(last)
        } else {
            if last.len() != BLOCK {
                return Err(SimError::EncryptedDataLenRange);
            }
            self.mode.process(&mut last);
            let pad = usize::from(last.last().copied().unwrap_or(0));
            let valid = (1..=BLOCK).contains(&pad)
                && last.iter().rev().take(pad).all(|b| usize::from(*b) == pad);
            if !valid {
                return Err(SimError::EncryptedDataInvalid);
            }
            last.truncate(BLOCK - pad);
            Ok(last)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Operation states

/// The key of an RSA encryption (public) or decryption (private).
pub(crate) enum RsaCipherKey {
    Public(Box<::rsa::PublicKey>),
    Private(Box<::rsa::PrivateKey>),
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
    /// AES-CBC-PAD, streaming.
    Cbc(Box<CbcPad>),
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
            Self::Cbc(cbc) => cbc.update_len(len),
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
                let total = buffer.len() + len;
                if *encrypt {
                    total + gcm_tag_len(params)
                } else {
                    total.saturating_sub(gcm_tag_len(params))
                }
            }
            Self::Cbc(cbc) => cbc.single_len(len),
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
                    buffer.len() + gcm_tag_len(params)
                } else {
                    buffer.len().saturating_sub(gcm_tag_len(params))
                }
            }
            Self::Cbc(cbc) => cbc.final_len(),
            Self::Rsa { .. } => 0,
        }
    }

    /// A multi-part update. RSA is single-part: `CKR_FUNCTION_NOT_SUPPORTED`.
    pub(crate) fn update(&mut self, data: &[u8]) -> SimResult<Vec<u8>> {
        match self {
            Self::Gcm { buffer, .. } => {
                buffer.extend_from_slice(data);
                Ok(Vec::new())
            }
            Self::Cbc(cbc) => Ok(cbc.update(data)),
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
            } => gcm(&key, &params, &buffer, encrypt).map(Zeroizing::new),
            Self::Cbc(cbc) => cbc.finish().map(Zeroizing::new),
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
    /// `CKM_SHA*_HMAC`, both directions.
    Hmac(Box<HmacState>),
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
    pub(crate) fn hmac(hash: HashAlg, key: &[u8]) -> SimResult<Self> {
        Ok(Self::Hmac(Box::new(HmacState::new(hash, key)?)))
    }

    pub(crate) fn signature_len(&self) -> usize {
        match self {
            Self::Hmac(mac) => mac.output_len(),
            Self::EcdsaSign(key) | Self::EcdsaHashSign(key, _) => key.curve().signature_len(),
            Self::EcdsaVerify(key) | Self::EcdsaHashVerify(key, _) => key.curve().signature_len(),
            Self::RsaSign { key, .. } => rsa::modulus_len(key.as_public_key()),
            Self::RsaVerify { key, .. } => rsa::modulus_len(key),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) -> SimResult<()> {
        match self {
            Self::EcdsaSign(_)
            | Self::EcdsaVerify(_)
            | Self::RsaSign { hasher: None, .. }
            | Self::RsaVerify { hasher: None, .. } => Err(SimError::FunctionNotSupported),
            Self::EcdsaHashSign(_, hash) | Self::EcdsaHashVerify(_, hash) => {
                hash.update(data);
                Ok(())
            }
            Self::RsaSign {
                hasher: Some(hash), ..
            }
            | Self::RsaVerify {
                hasher: Some(hash), ..
            } => {
                hash.update(data);
                Ok(())
            }
            Self::Hmac(mac) => {
                mac.update(data);
                Ok(())
            }
        }
    }

    /// Signs `data` in one call (for single-part `C_Sign`), or the accumulated data.
    pub(crate) fn sign(self, data: Option<&[u8]>) -> SimResult<Vec<u8>> {
        match self {
            Self::EcdsaSign(key) => key.sign(data.ok_or(SimError::FunctionNotSupported)?),
            Self::EcdsaHashSign(key, hasher) => key.sign(&signed_input(Some(hasher), data)?),
            Self::Hmac(mut mac) => {
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
            Self::EcdsaVerify(_) | Self::EcdsaHashVerify(..) | Self::RsaVerify { .. } => {
                Err(SimError::Internal("verify state used to sign"))
            }
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
            Self::Hmac(mut mac) => {
                if let Some(data) = data {
                    mac.update(data);
                }
                if signature.len() != mac.output_len() {
                    return Err(SimError::SignatureLenRange);
                }
                mac.verify(signature)
            }
            Self::RsaVerify {
                key,
                scheme,
                hasher,
            } => rsa::verify(&key, &scheme, &signed_input(hasher, data)?, signature),
            Self::EcdsaSign(_) | Self::EcdsaHashSign(..) | Self::RsaSign { .. } => {
                Err(SimError::Internal("sign state used to verify"))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// AES key wrap with padding (RFC 5649)

/// Wraps `data` under the AES key `kek`.
pub(crate) fn kwp_wrap(kek: &[u8], data: &[u8]) -> SimResult<Vec<u8>> {
    let mut buf = vec![0u8; (data.len().div_ceil(8) + 1) * 8];
    let bad = |_| SimError::WrappingKeyTypeInconsistent;
    let len = match kek.len() {
        16 => aes_kw::KwpAes128::new_from_slice(kek)
            .map_err(bad)?
            .wrap_key(data, &mut buf)
            .map(<[u8]>::len),
        24 => aes_kw::KwpAes192::new_from_slice(kek)
            .map_err(bad)?
            .wrap_key(data, &mut buf)
            .map(<[u8]>::len),
        32 => aes_kw::KwpAes256::new_from_slice(kek)
            .map_err(bad)?
            .wrap_key(data, &mut buf)
            .map(<[u8]>::len),
        _ => return Err(SimError::WrappingKeyTypeInconsistent),
    }
    .map_err(|_| SimError::KeyNotWrappable)?;
    buf.truncate(len);
    Ok(buf)
}

/// Unwraps `wrapped` under the AES key `kek`.
pub(crate) fn kwp_unwrap(kek: &[u8], wrapped: &[u8]) -> SimResult<Zeroizing<Vec<u8>>> {
    if wrapped.len() < 16 || !wrapped.len().is_multiple_of(8) {
        return Err(SimError::WrappedKeyLenRange);
    }
    let mut buf = Zeroizing::new(vec![0u8; wrapped.len()]);
    let bad = |_| SimError::UnwrappingKeyTypeInconsistent;
    let len = match kek.len() {
        16 => aes_kw::KwpAes128::new_from_slice(kek)
            .map_err(bad)?
            .unwrap_key(wrapped, &mut buf)
            .map(<[u8]>::len),
        24 => aes_kw::KwpAes192::new_from_slice(kek)
            .map_err(bad)?
            .unwrap_key(wrapped, &mut buf)
            .map(<[u8]>::len),
        32 => aes_kw::KwpAes256::new_from_slice(kek)
            .map_err(bad)?
            .unwrap_key(wrapped, &mut buf)
            .map(<[u8]>::len),
        _ => return Err(SimError::UnwrappingKeyTypeInconsistent),
    }
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
    fn cbc_streaming_matches_one_shot_for_every_split() {
        let key = [3u8; 32];
        let iv = [9u8; 16];
        let msg: Vec<u8> = (0..=70u8).collect();
        let mut one = CbcPad::new(&key, &iv, true).unwrap();
        let mut expected = one.update(&msg);
        expected.extend(one.finish().unwrap());
        assert_eq!(expected.len(), 80);
        for split in 0..msg.len() {
            let mut op = CbcPad::new(&key, &iv, true).unwrap();
            let mut out = op.update(&msg[..split]);
            out.extend(op.update(&msg[split..]));
            out.extend(op.finish().unwrap());
            assert_eq!(out, expected);
            let mut dec = CbcPad::new(&key, &iv, false).unwrap();
            let mut plain = dec.update(&expected[..split]);
            plain.extend(dec.update(&expected[split..]));
            plain.extend(dec.finish().unwrap());
            assert_eq!(plain, msg);
        }
    }

    #[test]
    fn kwp_matches_rfc5649_vector() {
        // RFC 5649 section 6, 20-octet key data.
        let kek = hex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
        let data = hex("c37b7e6492584340bed12207808941155068f738");
        let wrapped = kwp_wrap(&kek, &data).unwrap();
        assert_eq!(
            wrapped,
            hex("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a")
        );
        assert_eq!(
            kwp_unwrap(&kek, &wrapped).unwrap().as_slice(),
            data.as_slice()
        );
    }

    #[test]
    fn aes_check_value_known_answer() {
        // AES-128 with the all-zero key encrypts the zero block to 66e94bd4...
        assert_eq!(aes_check_value(&[0; 16]).unwrap(), [0x66, 0xe9, 0x4b]);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
