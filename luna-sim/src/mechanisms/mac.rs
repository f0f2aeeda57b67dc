//! Message authentication codes: HMAC (the `hmac` crate over SHA-1 and SHA-2) and CMAC (the
//! `cmac` crate over AES and triple DES), full length or truncated to a `_GENERAL` length, and
//! checked in constant time.

use cpv4_wire::consts::*;
use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{SimError, SimResult};
use crate::mechanisms::block::with_cipher;
use crate::mechanisms::{HashAlg, with_hash};

/// A streaming MAC of any of the crates.
trait MacStream: Send {
    fn update(&mut self, data: &[u8]);
    fn finish(self: Box<Self>) -> Zeroizing<Vec<u8>>;
}

impl<M: Mac + Send> MacStream for M {
    fn update(&mut self, data: &[u8]) {
        Mac::update(self, data);
    }

    fn finish(self: Box<Self>) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.finalize().into_bytes().to_vec())
    }
}

/// An active MAC signature or verification, with the length it produces.
pub(crate) struct MacOp {
    mac: Box<dyn MacStream>,
    len: usize,
}

impl MacOp {
    /// HMAC over `hash` with a `len`-byte output (`None`: the full hash length).
    ///
    /// The key may be any length (HMAC hashes a long key).
    pub(crate) fn hmac(hash: HashAlg, key: &[u8], len: Option<usize>) -> SimResult<Self> {
        let full = hash.output_len();
        let mac: Box<dyn MacStream> = with_hash!(hash, D => Box::new(
            <Hmac<D> as KeyInit>::new_from_slice(key).map_err(|_| SimError::KeySizeRange)?,
        ));
        Self::truncated(mac, full, len)
    }

    /// CMAC with an AES or triple-DES key (its block length is the full output).
    pub(crate) fn cmac(key_type: CkKeyType, key: &[u8], len: Option<usize>) -> SimResult<Self> {
        let full = if key_type == CKK_AES { 16 } else { 8 };
        let mac: Box<dyn MacStream> = with_cipher!(key_type, key.len(), C => Ok(Box::new(
            <cmac::Cmac<C> as KeyInit>::new_from_slice(key).map_err(|_| SimError::KeySizeRange)?,
        ) as Box<dyn MacStream>))?;
        Self::truncated(mac, full, len)
    }

    fn truncated(mac: Box<dyn MacStream>, full: usize, len: Option<usize>) -> SimResult<Self> {
        let len = len.unwrap_or(full);
        if len == 0 || len > full {
            return Err(SimError::MechanismParamInvalid);
        }
        Ok(Self { mac, len })
    }

    pub(crate) const fn output_len(&self) -> usize {
        self.len
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.mac.update(data);
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        let mut tag = self.mac.finish();
        tag.truncate(self.len);
        tag.to_vec()
    }

    /// Checks `tag` in constant time: `CKR_SIGNATURE_LEN_RANGE` if it is not the output length.
    pub(crate) fn verify(self, tag: &[u8]) -> SimResult<()> {
        if tag.len() != self.len {
            return Err(SimError::SignatureLenRange);
        }
        let len = self.len;
        let expected = self.mac.finish();
        if bool::from(expected.get(..len).unwrap_or(&[]).ct_eq(tag)) {
            Ok(())
        } else {
            Err(SimError::SignatureInvalid)
        }
    }
}
