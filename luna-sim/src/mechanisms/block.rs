//! Block ciphers and their modes: AES, DES and triple DES (two- and three-key) in ECB, CBC and
//! CBC-PAD, streamed over whole blocks; AES-CTR; the key check value of a secret key.
//!
//! The ciphers and modes are the RustCrypto crates' (`aes`, `des`, `ecb`, `cbc`, `ctr`); this
//! module picks one by key type and length and streams the caller's data through it. An update
//! returns every complete block it can; decryption with padding holds back the last block,
//! which may hold the padding, until the final call.

use aes::cipher::{
    Array, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit, StreamCipher,
};
use aes::{Aes128, Aes192, Aes256};
use cpv4_wire::consts::*;
use zeroize::Zeroizing;

use crate::ck::CK_UNAVAILABLE_INFORMATION;
use crate::error::{SimError, SimResult};

/// A block-cipher family: the key types a mechanism takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherFamily {
    /// AES (`CKK_AES`, 16, 24 or 32 bytes).
    Aes,
    /// Single DES (`CKK_DES`, 8 bytes).
    Des,
    /// Triple DES (`CKK_DES2`, 16 bytes, and `CKK_DES3`, 24 bytes).
    Des3,
}

impl CipherFamily {
    /// The key types of the family.
    #[must_use]
    pub const fn key_types(self) -> &'static [CkKeyType] {
        match self {
            Self::Aes => &[CKK_AES],
            Self::Des => &[CKK_DES],
            Self::Des3 => &[CKK_DES2, CKK_DES3],
        }
    }

    /// The block length in bytes.
    #[must_use]
    pub const fn block_len(self) -> usize {
        match self {
            Self::Aes => 16,
            Self::Des | Self::Des3 => 8,
        }
    }
}

/// A mode over whole blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockMode {
    /// Electronic codebook: no IV, whole blocks only.
    Ecb,
    /// Cipher block chaining: an IV of one block, whole blocks only.
    Cbc,
    /// CBC with PKCS #7 padding: any length.
    CbcPad,
}

impl BlockMode {
    /// The IV length the mode takes with `family`.
    #[must_use]
    pub const fn iv_len(self, family: CipherFamily) -> usize {
        match self {
            Self::Ecb => 0,
            Self::Cbc | Self::CbcPad => family.block_len(),
        }
    }
}

/// Every ECB, CBC and CBC-PAD mechanism: its type, family and mode (the one place that maps
/// them, both ways).
pub const BLOCK_MECHANISMS: &[(CkMechanismType, CipherFamily, BlockMode)] = &[
    (CKM_DES_ECB, CipherFamily::Des, BlockMode::Ecb),
    (CKM_DES_CBC, CipherFamily::Des, BlockMode::Cbc),
    (CKM_DES_CBC_PAD, CipherFamily::Des, BlockMode::CbcPad),
    (CKM_DES3_ECB, CipherFamily::Des3, BlockMode::Ecb),
    (CKM_DES3_CBC, CipherFamily::Des3, BlockMode::Cbc),
    (CKM_DES3_CBC_PAD, CipherFamily::Des3, BlockMode::CbcPad),
    (CKM_AES_ECB, CipherFamily::Aes, BlockMode::Ecb),
    (CKM_AES_CBC, CipherFamily::Aes, BlockMode::Cbc),
    (CKM_AES_CBC_PAD, CipherFamily::Aes, BlockMode::CbcPad),
];

/// The family and mode of a block mechanism type.
#[must_use]
pub fn block_mechanism(kind: CkMechanismType) -> Option<(CipherFamily, BlockMode)> {
    BLOCK_MECHANISMS
        .iter()
        .find(|(k, ..)| *k == kind)
        .map(|(_, family, mode)| (*family, *mode))
}

/// The mechanism type of a family and mode.
#[must_use]
pub fn block_mechanism_type(family: CipherFamily, mode: BlockMode) -> CkMechanismType {
    BLOCK_MECHANISMS
        .iter()
        .find(|(_, f, m)| *f == family && *m == mode)
        .map_or(CK_UNAVAILABLE_INFORMATION, |(kind, ..)| *kind)
}

/// Runs `$body` with `$c` the cipher type of a key of `$key_type` and `$len` bytes; a length
/// the key type does not have is `CKR_KEY_SIZE_RANGE`.
macro_rules! with_cipher {
    ($key_type:expr, $len:expr, $c:ident => $body:expr) => {
        match ($key_type, $len) {
            (::cpv4_wire::consts::CKK_AES, 16) => {
                type $c = ::aes::Aes128;
                $body
            }
            (::cpv4_wire::consts::CKK_AES, 24) => {
                type $c = ::aes::Aes192;
                $body
            }
            (::cpv4_wire::consts::CKK_AES, 32) => {
                type $c = ::aes::Aes256;
                $body
            }
            (::cpv4_wire::consts::CKK_DES, 8) => {
                type $c = ::des::Des;
                $body
            }
            (::cpv4_wire::consts::CKK_DES2, 16) => {
                type $c = ::des::TdesEde2;
                $body
            }
            (::cpv4_wire::consts::CKK_DES3, 24) => {
                type $c = ::des::TdesEde3;
                $body
            }
            _ => Err($crate::error::SimError::KeySizeRange),
        }
    };
}
pub(crate) use with_cipher;

/// The length a key of `key_type` must have, for the fixed-length types (DES).
#[must_use]
pub const fn des_key_len(key_type: CkKeyType) -> Option<usize> {
    match key_type {
        CKK_DES => Some(8),
        CKK_DES2 => Some(16),
        CKK_DES3 => Some(24),
        _ => None,
    }
}

/// The key check value (`CKA_CHECK_VALUE`) of an AES or DES key: the first 3 bytes of the
/// encryption of a zero block.
pub(crate) fn check_value(key_type: CkKeyType, key: &[u8]) -> SimResult<[u8; 3]> {
    fn first3<C: BlockCipherEncrypt + KeyInit>(key: &[u8]) -> SimResult<[u8; 3]> {
        let cipher = C::new_from_slice(key).map_err(|_| SimError::KeySizeRange)?;
        let mut block = Array::default();
        cipher.encrypt_block(&mut block);
        match block.as_slice() {
            [a, b, c, ..] => Ok([*a, *b, *c]),
            _ => Err(SimError::Internal("block length")),
        }
    }
    with_cipher!(key_type, key.len(), C => first3::<C>(key))
}

/// Whether every byte of a DES key has odd parity (FIPS 46-3), as PKCS#11 requires of DES keys.
#[must_use]
pub fn des_parity_ok(key: &[u8]) -> bool {
    key.iter().all(|b| b.count_ones() % 2 == 1)
}

/// Sets odd parity on every byte of a DES key (the low bit is the parity bit).
pub fn set_des_parity(key: &mut [u8]) {
    for b in key {
        *b = (*b & 0xFE) | u8::from((*b & 0xFE).count_ones() % 2 == 0);
    }
}

/// A new DES key of `len` bytes (8, 16 or 24) from `fill`: odd parity, and drawn again while
/// `des::weak_key_test` finds it weak or semi-weak (or, for triple DES, with equal parts).
pub(crate) fn generate_des_key(
    len: usize,
    mut fill: impl FnMut(&mut [u8]) -> SimResult<()>,
) -> SimResult<Zeroizing<Vec<u8>>> {
    if !matches!(len, 8 | 16 | 24) {
        return Err(SimError::KeySizeRange);
    }
    let mut value = Zeroizing::new(vec![0u8; len]);
    loop {
        fill(&mut value)?;
        set_des_parity(&mut value);
        if des::weak_key_test(&value).is_ok() {
            return Ok(value);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ECB, CBC and CBC-PAD, streaming

/// One direction of ECB or CBC over whole blocks.
trait Blocks: Send {
    /// Processes `data`, whole blocks, in place.
    fn process(&mut self, data: &mut [u8]);
}

struct Encrypting<M>(M);
struct Decrypting<M>(M);

impl<M: BlockModeEncrypt + Send> Blocks for Encrypting<M> {
    fn process(&mut self, data: &mut [u8]) {
        let (blocks, _) = Array::slice_as_chunks_mut(data);
        self.0.encrypt_blocks(blocks);
    }
}

impl<M: BlockModeDecrypt + Send> Blocks for Decrypting<M> {
    fn process(&mut self, data: &mut [u8]) {
        let (blocks, _) = Array::slice_as_chunks_mut(data);
        self.0.decrypt_blocks(blocks);
    }
}

fn engine(
    key_type: CkKeyType,
    key: &[u8],
    mode: BlockMode,
    iv: &[u8],
    encrypt: bool,
) -> SimResult<Box<dyn Blocks>> {
    let key_len = |_| SimError::KeySizeRange;
    let iv_len = |_| SimError::MechanismParamInvalid;
    with_cipher!(key_type, key.len(), C => Ok(match (mode, encrypt) {
        (BlockMode::Ecb, true) => Box::new(Encrypting(
            ecb::Encryptor::<C>::new_from_slice(key).map_err(key_len)?,
        )) as Box<dyn Blocks>,
        (BlockMode::Ecb, false) => Box::new(Decrypting(
            ecb::Decryptor::<C>::new_from_slice(key).map_err(key_len)?,
        )),
        (BlockMode::Cbc | BlockMode::CbcPad, true) => Box::new(Encrypting(
            cbc::Encryptor::<C>::new_from_slices(key, iv).map_err(iv_len)?,
        )),
        (BlockMode::Cbc | BlockMode::CbcPad, false) => Box::new(Decrypting(
            cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(iv_len)?,
        )),
    }))
}

/// The state of a streaming ECB, CBC or CBC-PAD operation.
pub(crate) struct BlockStream {
    engine: Box<dyn Blocks>,
    block: usize,
    encrypt: bool,
    padded: bool,
    pending: Zeroizing<Vec<u8>>,
}

impl BlockStream {
    pub(crate) fn new(
        key_type: CkKeyType,
        key: &[u8],
        mode: BlockMode,
        iv: &[u8],
        encrypt: bool,
    ) -> SimResult<Self> {
        let engine = engine(key_type, key, mode, iv, encrypt)?;
        Ok(Self {
            engine,
            block: if key_type == CKK_AES { 16 } else { 8 },
            encrypt,
            padded: mode == BlockMode::CbcPad,
            // At most one block is held between calls (a whole one only when decrypting with
            // padding), so two never reallocate.
            pending: Zeroizing::new(Vec::with_capacity(32)),
        })
    }

    /// Output length of an update with `len` more bytes.
    pub(crate) fn update_len(&self, len: usize) -> usize {
        let total = self.pending.len().saturating_add(len);
        if self.padded && !self.encrypt {
            // The last block may be padding: it waits for the final call.
            total.saturating_sub(1) / self.block * self.block
        } else {
            total / self.block * self.block
        }
    }

    /// Output length (upper bound for decryption with padding) of a single-part call on `len`
    /// more bytes.
    pub(crate) fn single_len(&self, len: usize) -> usize {
        let total = self.pending.len().saturating_add(len);
        if self.padded && self.encrypt {
            (total / self.block).saturating_add(1) * self.block
        } else {
            total
        }
    }

    /// Output length (upper bound for decryption with padding) of the final call.
    pub(crate) fn final_len(&self) -> usize {
        self.single_len(0)
    }

    /// Processes every whole block of the held bytes and `data` it may, holding the rest. The
    /// held bytes stay in one allocation of two blocks and the output is allocated at its exact
    /// length, so no copy of plaintext is left behind in freed or spare memory.
    pub(crate) fn update(&mut self, data: &[u8]) -> Vec<u8> {
        let take = self.update_len(data.len());
        let from_data = take.saturating_sub(self.pending.len());
        let (now, later) = data.split_at(from_data.min(data.len()));
        let used = take.min(self.pending.len());
        let mut out = Vec::with_capacity(take);
        out.extend_from_slice(self.pending.get(..used).unwrap_or(&[]));
        out.extend_from_slice(now);
        let kept = self.pending.len() - used;
        self.pending.copy_within(used.., 0);
        self.pending.truncate(kept);
        self.pending.extend_from_slice(later);
        self.engine.process(&mut out);
        out
    }

    pub(crate) fn finish(mut self) -> SimResult<Vec<u8>> {
        let mut last = std::mem::take(&mut *self.pending);
        let block = self.block;
        match (self.padded, self.encrypt) {
            (false, _) if last.is_empty() => Ok(last),
            (false, true) => Err(SimError::DataLenRange),
            (false, false) => Err(SimError::EncryptedDataLenRange),
            (true, true) => {
                let pad = block - last.len() % block;
                last.resize(last.len() + pad, u8::try_from(pad).unwrap_or(0));
                self.engine.process(&mut last);
                Ok(last)
            }
            (true, false) => {
                if last.len() != block {
                    return Err(SimError::EncryptedDataLenRange);
                }
                self.engine.process(&mut last);
                let pad = usize::from(last.last().copied().unwrap_or(0));
                let valid = (1..=block).contains(&pad)
                    && last.iter().rev().take(pad).all(|b| usize::from(*b) == pad);
                if !valid {
                    last.fill(0);
                    return Err(SimError::EncryptedDataInvalid);
                }
                last.truncate(block - pad);
                Ok(last)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// AES-CTR

/// The parameters of `CKM_AES_CTR` (`CK_AES_CTR_PARAMS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtrParams {
    /// How many low bits of the counter block are the counter: 1 to 128.
    pub counter_bits: u32,
    /// The initial counter block.
    pub block: [u8; 16],
}

impl CtrParams {
    /// Parameters from their PKCS#11 values.
    ///
    /// # Errors
    ///
    /// [`SimError::MechanismParamInvalid`] for a counter of 0 or more than 128 bits.
    pub fn from_ck(counter_bits: CkUlong, block: [u8; 16]) -> SimResult<Self> {
        match u32::try_from(counter_bits) {
            Ok(bits @ 1..=128) => Ok(Self {
                counter_bits: bits,
                block,
            }),
            _ => Err(SimError::MechanismParamInvalid),
        }
    }

    /// How many bytes the counter covers before its `counter_bits` would wrap (register A69:
    /// the counter never wraps; more data is `CKR_DATA_LEN_RANGE`).
    fn bytes_before_wrap(&self) -> u128 {
        let counter = u128::from_be_bytes(self.block);
        let blocks = if self.counter_bits == 128 {
            // 2^128 - counter, saturating at u128::MAX for counter 0.
            (u128::MAX - counter).saturating_add(1)
        } else {
            let space = 1u128 << self.counter_bits;
            space - (counter & (space - 1))
        };
        blocks.saturating_mul(16)
    }
}

/// The state of an AES-CTR operation (both directions are the same keystream).
pub(crate) struct CtrStream {
    cipher: Box<dyn StreamCipher + Send>,
    /// Bytes left before the counter would wrap.
    left: u128,
    encrypt: bool,
}

impl CtrStream {
    pub(crate) fn new(key: &[u8], params: &CtrParams, encrypt: bool) -> SimResult<Self> {
        let bad = |_| SimError::KeySizeRange;
        let iv = &params.block;
        let cipher: Box<dyn StreamCipher + Send> = match key.len() {
            16 => Box::new(ctr::Ctr128BE::<Aes128>::new_from_slices(key, iv).map_err(bad)?),
            24 => Box::new(ctr::Ctr128BE::<Aes192>::new_from_slices(key, iv).map_err(bad)?),
            32 => Box::new(ctr::Ctr128BE::<Aes256>::new_from_slices(key, iv).map_err(bad)?),
            _ => return Err(SimError::KeySizeRange),
        };
        Ok(Self {
            cipher,
            left: params.bytes_before_wrap(),
            encrypt,
        })
    }

    /// Encrypts or decrypts `data`: beyond the counter's space, `CKR_DATA_LEN_RANGE` for
    /// plaintext, `CKR_ENCRYPTED_DATA_LEN_RANGE` for ciphertext.
    pub(crate) fn update(&mut self, data: &[u8]) -> SimResult<Vec<u8>> {
        let too_long = if self.encrypt {
            SimError::DataLenRange
        } else {
            SimError::EncryptedDataLenRange
        };
        let len = u128::try_from(data.len()).unwrap_or(u128::MAX);
        if len > self.left {
            return Err(too_long);
        }
        let mut out = data.to_vec();
        self.cipher
            .try_apply_keystream(&mut out)
            .map_err(|_| too_long)?;
        self.left -= len;
        Ok(out)
    }
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
    fn streaming_matches_one_shot_for_every_split_and_family() {
        let keys: [(CkKeyType, Vec<u8>); 4] = [
            (CKK_AES, vec![3; 32]),
            (CKK_DES, vec![0x13; 8]),
            (CKK_DES2, (0..16).collect()),
            (CKK_DES3, (0..24).collect()),
        ];
        let msg: Vec<u8> = (0..=70u8).collect();
        for (key_type, key) in &keys {
            let block = if *key_type == CKK_AES { 16 } else { 8 };
            for mode in [BlockMode::Ecb, BlockMode::Cbc, BlockMode::CbcPad] {
                let iv = vec![9u8; if mode == BlockMode::Ecb { 0 } else { block }];
                let msg = if mode == BlockMode::CbcPad {
                    &msg[..]
                } else {
                    &msg[..64]
                };
                let stream = |encrypt| BlockStream::new(*key_type, key, mode, &iv, encrypt);
                let mut one = stream(true).unwrap();
                let mut expected = one.update(msg);
                expected.extend(one.finish().unwrap());
                for split in 0..msg.len() {
                    let mut op = stream(true).unwrap();
                    let mut out = op.update(&msg[..split]);
                    out.extend(op.update(&msg[split..]));
                    out.extend(op.finish().unwrap());
                    assert_eq!(out, expected, "{key_type} {mode:?} {split}");
                    let mut dec = stream(false).unwrap();
                    let mut plain = dec.update(&expected[..split]);
                    plain.extend(dec.update(&expected[split..]));
                    plain.extend(dec.finish().unwrap());
                    assert_eq!(plain, msg);
                }
            }
        }
    }

    #[test]
    fn unpadded_modes_refuse_partial_blocks() {
        let mut op = BlockStream::new(CKK_AES, &[1; 16], BlockMode::Ecb, &[], true).unwrap();
        assert_eq!(op.update(&[0; 20]).len(), 16);
        assert!(matches!(op.finish(), Err(SimError::DataLenRange)));
        let mut op = BlockStream::new(CKK_DES3, &[1; 24], BlockMode::Cbc, &[0; 8], false).unwrap();
        assert_eq!(op.update(&[0; 12]).len(), 8);
        assert!(matches!(op.finish(), Err(SimError::EncryptedDataLenRange)));
    }

    #[test]
    fn ctr_counter_space_is_enforced() {
        let mut block = [0u8; 16];
        block[15] = 0xFE;
        // An 8-bit counter at 0xFE has two blocks left.
        let params = CtrParams::from_ck(8, block).unwrap();
        assert_eq!(params.bytes_before_wrap(), 32);
        let mut op = CtrStream::new(&[7; 16], &params, true).unwrap();
        assert_eq!(op.update(&[0; 31]).unwrap().len(), 31);
        assert_eq!(op.update(&[0; 1]).unwrap().len(), 1);
        assert_eq!(op.update(&[0; 1]), Err(SimError::DataLenRange));
        let mut op = CtrStream::new(&[7; 16], &params, false).unwrap();
        assert_eq!(op.update(&[0; 33]), Err(SimError::EncryptedDataLenRange));
        assert_eq!(
            CtrParams::from_ck(128, [0; 16])
                .unwrap()
                .bytes_before_wrap(),
            u128::MAX
        );
        assert!(CtrParams::from_ck(0, block).is_err());
        assert!(CtrParams::from_ck(129, block).is_err());
    }

    #[test]
    fn weak_des_keys_are_drawn_again() {
        // The first draws are a weak key, then a triple-DES key with K1 = K2, then a good one.
        let draws: [&[u8]; 3] = [&[0x01; 24], &[0x13; 24], &(0..24).collect::<Vec<u8>>()];
        let mut next = draws.iter();
        let key = generate_des_key(24, |out| {
            out.copy_from_slice(next.next().unwrap());
            Ok(())
        })
        .unwrap();
        assert!(next.next().is_none(), "three draws");
        assert!(des_parity_ok(&key) && des::weak_key_test(&key).is_ok());
        let mut first = [0x13u8; 16];
        first[8..].copy_from_slice(&[0x25; 8]);
        let key = generate_des_key(16, |out| {
            out.copy_from_slice(&first);
            Ok(())
        })
        .unwrap();
        assert!(des::weak_key_test(&key).is_ok());
        assert!(generate_des_key(12, |_| Ok(())).is_err());
    }

    #[test]
    fn des_parity() {
        let mut key = [0u8, 1, 2, 3, 0xFE, 0xFF, 0x80, 0x7F];
        assert!(!des_parity_ok(&key));
        set_des_parity(&mut key);
        assert!(des_parity_ok(&key));
        assert_eq!(key, [0x01, 0x01, 0x02, 0x02, 0xFE, 0xFE, 0x80, 0x7F]);
    }
}
