//! AES-GCM with every IV length PKCS#11 allows (1 to 2^32 - 1 bytes) and the tag lengths of
//! SP 800-38D (32, 64, and 96 to 128 bits in steps of 8; register A68).
//!
//! A 96-bit IV with a tag of 96 bits or more goes through the `aes-gcm` crate. Other IVs and
//! the 32- and 64-bit tags, which that crate's types do not take, follow SP 800-38D section 7
//! step by step over the same crates' primitives: the `aes` block cipher, `ghash` for GHASH and
//! `ctr`'s 32-bit counter for GCTR. A unit test checks the two paths agree, and the published
//! vectors (the GCM specification's test cases 5 and 6 have 8- and 60-byte IVs) check both.

use aes::cipher::consts::{U12, U13, U14, U15, U16};
use aes::cipher::{Array, BlockCipherEncrypt, BlockSizeUser, KeyInit, KeyIvInit, StreamCipher};
use aes::{Aes128, Aes192, Aes256};
use aes_gcm::AesGcm;
use aes_gcm::aead::{Aead, Payload};
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{SimError, SimResult};
use crate::mechanisms::GcmParams;

/// The largest plaintext of one GCM message (SP 800-38D: 2^39 - 256 bits).
pub(crate) const MAX_PLAINTEXT: u64 = (1 << 36) - 32;

/// Checks GCM parameters: an IV of 1 to 2^32 - 1 bytes, a tag length SP 800-38D allows.
pub(crate) fn check_params(params: &GcmParams) -> SimResult<()> {
    let iv_ok = !params.iv.is_empty() && u32::try_from(params.iv.len()).is_ok();
    if !iv_ok || !matches!(params.tag_bits, 32 | 64 | 96 | 104 | 112 | 120 | 128) {
        return Err(SimError::MechanismParamInvalid);
    }
    Ok(())
}

/// Tag length in bytes of valid parameters.
pub(crate) fn tag_len(params: &GcmParams) -> usize {
    usize::try_from(params.tag_bits / 8).unwrap_or(16)
}

/// AES-GCM encryption (to `ciphertext || tag`) or decryption of a whole message.
pub(crate) fn gcm(key: &[u8], params: &GcmParams, msg: &[u8], encrypt: bool) -> SimResult<Vec<u8>> {
    check_params(params)?;
    if !encrypt && msg.len() < tag_len(params) {
        return Err(SimError::EncryptedDataLenRange);
    }
    let native = params.iv.len() == 12 && params.tag_bits >= 96;
    match (key.len(), native) {
        (16, true) => native_dispatch::<Aes128>(key, params, msg, encrypt),
        (24, true) => native_dispatch::<Aes192>(key, params, msg, encrypt),
        (32, true) => native_dispatch::<Aes256>(key, params, msg, encrypt),
        (16, false) => composed::<Aes128>(key, params, msg, encrypt),
        (24, false) => composed::<Aes192>(key, params, msg, encrypt),
        (32, false) => composed::<Aes256>(key, params, msg, encrypt),
        _ => Err(SimError::KeySizeRange),
    }
}

// ---------------------------------------------------------------------------------------------
// The aes-gcm crate: 96-bit IVs, tags of 96 to 128 bits

fn native<C: Aead + KeyInit>(
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

fn native_dispatch<A>(
    key: &[u8],
    params: &GcmParams,
    msg: &[u8],
    encrypt: bool,
) -> SimResult<Vec<u8>>
where
    A: BlockSizeUser<BlockSize = U16> + BlockCipherEncrypt + KeyInit,
{
    match params.tag_bits {
        96 => native::<AesGcm<A, U12, U12>>(key, params, msg, encrypt),
        104 => native::<AesGcm<A, U12, U13>>(key, params, msg, encrypt),
        112 => native::<AesGcm<A, U12, U14>>(key, params, msg, encrypt),
        120 => native::<AesGcm<A, U12, U15>>(key, params, msg, encrypt),
        128 => native::<AesGcm<A, U12, U16>>(key, params, msg, encrypt),
        _ => Err(SimError::MechanismParamInvalid),
    }
}

// ---------------------------------------------------------------------------------------------
// SP 800-38D section 7 over the primitives: any IV, any allowed tag

/// The length block of GHASH: two 64-bit big-endian bit lengths.
fn lengths(first: usize, second: usize) -> ghash::Block {
    let bits = |len: usize| u128::from(u64::try_from(len).unwrap_or(u64::MAX).wrapping_mul(8));
    ghash::Block::from(((bits(first) << 64) | bits(second)).to_be_bytes())
}

fn composed<C>(key: &[u8], params: &GcmParams, msg: &[u8], encrypt: bool) -> SimResult<Vec<u8>>
where
    C: BlockSizeUser<BlockSize = U16> + BlockCipherEncrypt + KeyInit,
{
    let cipher = C::new_from_slice(key).map_err(|_| SimError::KeySizeRange)?;
    // H = CIPH_K(0^128).
    let mut h = Zeroizing::new(Array::default());
    cipher.encrypt_block(&mut h);
    let iv = params.iv.as_slice();
    // J0 = IV || 0^31 || 1 for a 96-bit IV, else GHASH_H(IV || 0^(s+64) || [len(IV)]_64).
    let j0: [u8; 16] = if iv.len() == 12 {
        let mut block = [0u8; 16];
        block.iter_mut().zip(iv).for_each(|(b, v)| *b = *v);
        (u128::from_be_bytes(block) | 1).to_be_bytes()
    } else {
        let mut hash = GHash::new(&h);
        hash.update_padded(iv);
        hash.update(&[lengths(0, iv.len())]);
        hash.finalize().into()
    };
    // The tag mask CIPH_K(J0); GCTR starts at inc32(J0).
    let mut mask = Zeroizing::new(ghash::Block::from(j0));
    cipher.encrypt_block(&mut mask);
    let j0 = u128::from_be_bytes(j0);
    let low = u32::try_from(j0 & 0xFFFF_FFFF).unwrap_or(0).wrapping_add(1);
    let start = ((j0 & !0xFFFF_FFFF) | u128::from(low)).to_be_bytes();
    let tag_len = tag_len(params);
    let tag_of = |ciphertext: &[u8]| {
        let mut hash = GHash::new(&h);
        hash.update_padded(&params.aad);
        hash.update_padded(ciphertext);
        hash.update(&[lengths(params.aad.len(), ciphertext.len())]);
        let mut tag = hash.finalize();
        for (t, m) in tag.iter_mut().zip(mask.iter()) {
            *t ^= m;
        }
        tag
    };
    let mut gctr =
        ctr::Ctr32BE::<C>::new_from_slices(key, &start).map_err(|_| SimError::KeySizeRange)?;
    if encrypt {
        if u64::try_from(msg.len()).unwrap_or(u64::MAX) > MAX_PLAINTEXT {
            return Err(SimError::DataLenRange);
        }
        let mut out = msg.to_vec();
        gctr.try_apply_keystream(&mut out)
            .map_err(|_| SimError::DataLenRange)?;
        let tag = tag_of(&out);
        out.extend_from_slice(tag.get(..tag_len).unwrap_or(&[]));
        Ok(out)
    } else {
        let (ciphertext, given) = msg.split_at(msg.len() - tag_len);
        let tag = tag_of(ciphertext);
        let expected = tag.get(..tag_len).unwrap_or(&[]);
        if !bool::from(expected.ct_eq(given)) {
            return Err(SimError::EncryptedDataInvalid);
        }
        let mut out = ciphertext.to_vec();
        gctr.try_apply_keystream(&mut out)
            .map_err(|_| SimError::EncryptedDataInvalid)?;
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

    fn params(iv: &[u8], aad: &[u8], tag_bits: u64) -> GcmParams {
        GcmParams {
            iv: iv.to_vec(),
            aad: aad.to_vec(),
            tag_bits,
        }
    }

    #[test]
    fn the_composed_path_agrees_with_the_crate() {
        for key_len in [16usize, 24, 32] {
            let key: Vec<u8> = (0..key_len).map(|i| (i * 7) as u8).collect();
            for len in [0usize, 1, 15, 16, 17, 64, 100] {
                let msg: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
                for tag_bits in [96, 104, 112, 120, 128] {
                    let p = params(&[5; 12], b"header", tag_bits);
                    let native = native_dispatch::<Aes256>;
                    let (a, b) = match key_len {
                        16 => (
                            native_dispatch::<Aes128>(&key, &p, &msg, true).unwrap(),
                            composed::<Aes128>(&key, &p, &msg, true).unwrap(),
                        ),
                        24 => (
                            native_dispatch::<Aes192>(&key, &p, &msg, true).unwrap(),
                            composed::<Aes192>(&key, &p, &msg, true).unwrap(),
                        ),
                        _ => (
                            native(&key, &p, &msg, true).unwrap(),
                            composed::<Aes256>(&key, &p, &msg, true).unwrap(),
                        ),
                    };
                    assert_eq!(a, b, "{key_len} {len} {tag_bits}");
                }
            }
        }
    }

    #[test]
    fn any_iv_length_and_short_tags_round_trip_and_are_checked() {
        let key = [9u8; 16];
        for iv_len in [1usize, 8, 11, 13, 16, 60, 256, 1000] {
            for tag_bits in [32, 64, 96, 128] {
                let p = params(&vec![3; iv_len], b"a", tag_bits);
                let sealed = gcm(&key, &p, b"some plaintext", true).unwrap();
                assert_eq!(sealed.len(), 14 + tag_bits as usize / 8);
                assert_eq!(gcm(&key, &p, &sealed, false).unwrap(), b"some plaintext");
                for bit in 0..sealed.len() * 8 {
                    let mut bad = sealed.clone();
                    bad[bit / 8] ^= 1 << (bit % 8);
                    assert_eq!(
                        gcm(&key, &p, &bad, false),
                        Err(SimError::EncryptedDataInvalid)
                    );
                }
            }
        }
        for bad in [0, 8, 16, 31, 40, 72, 95, 129, 136] {
            assert_eq!(
                check_params(&params(&[1; 12], b"", bad)),
                Err(SimError::MechanismParamInvalid)
            );
        }
        assert_eq!(
            check_params(&params(&[], b"", 128)),
            Err(SimError::MechanismParamInvalid)
        );
    }
}
