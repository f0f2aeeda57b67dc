//! RSA over RustCrypto's `rsa` crate: keys from and to their PKCS#11 attributes, generation,
//! PKCS #1 v1.5, OAEP and raw (X.509) encryption, PKCS #1 v1.5, PSS and raw signatures, and
//! PKCS #8 for wrapping.
//!
//! A private key is kept as its attributes (modulus, exponents, primes, CRT values) and rebuilt
//! for each operation; the `rsa` crate checks the components when it rebuilds.

use cpv4_wire::consts::*;
use rsa::hazmat::{rsa_decrypt_and_check, rsa_encrypt};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BoxedUint, Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, PrivateKey, Pss, PublicKey};
use zeroize::Zeroizing;

use crate::error::{SimError, SimResult};
use crate::mechanisms::{HashAlg, OaepParams, PssParams, with_hash};
use crate::store::keys::os_rng;
use crate::token::attrs::AttrMap;

/// Smallest modulus, in bits.
pub const MIN_BITS: usize = 1024;
/// Largest modulus, in bits.
pub const MAX_BITS: usize = 4096;
/// The public exponent of a generated key when the template gives none (or an empty or zero
/// one): 65537.
pub const DEFAULT_EXPONENT: u64 = 65_537;

fn uint(bytes: &[u8]) -> BoxedUint {
    BoxedUint::from_be_slice_vartime(bytes)
}

fn be_bytes(value: &BoxedUint) -> Vec<u8> {
    value.to_be_bytes_trimmed_vartime().into_vec()
}

/// `value` as exactly `len` big-endian bytes (the modulus length of RFC 8017's I2OSP).
fn be_padded(value: &BoxedUint, len: usize) -> SimResult<Zeroizing<Vec<u8>>> {
    let bytes = Zeroizing::new(value.to_be_bytes().into_vec());
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len())
        .min(bytes.len().saturating_sub(len));
    let significant = bytes.get(start..).unwrap_or_default();
    if significant.len() > len {
        return Err(SimError::Internal("RSA integer longer than the modulus"));
    }
    let mut out = Zeroizing::new(vec![0u8; len - significant.len()]);
    out.extend_from_slice(significant);
    Ok(out)
}

/// The public exponent a template asks for: absent, empty or zero means 65537 (register A56).
pub(crate) fn requested_exponent(value: Option<&[u8]>) -> SimResult<BoxedUint> {
    let bytes = value.unwrap_or_default();
    if bytes.iter().all(|b| *b == 0) {
        return Ok(BoxedUint::from(DEFAULT_EXPONENT));
    }
    // The rsa crate accepts odd exponents from 3 to 2^33 - 1.
    let e = bytes
        .iter()
        .try_fold(0u64, |acc, b| {
            acc.checked_mul(256).map(|v| v | u64::from(*b))
        })
        .filter(|e| *e >= 3 && e % 2 == 1 && *e < (1 << 33))
        .ok_or(SimError::AttributeValueInvalid(CKA_PUBLIC_EXPONENT))?;
    Ok(BoxedUint::from(e))
}

/// A new key of `bits` bits with public exponent `exponent`.
pub(crate) fn generate(bits: CkUlong, exponent: BoxedUint) -> SimResult<PrivateKey> {
    let bits = usize::try_from(bits).map_err(|_| SimError::KeySizeRange)?;
    if !(MIN_BITS..=MAX_BITS).contains(&bits) || !bits.is_multiple_of(8) {
        return Err(SimError::KeySizeRange);
    }
    PrivateKey::new_with_exp(&mut os_rng(), bits, exponent)
        .map_err(|_| SimError::AttributeValueInvalid(CKA_PUBLIC_EXPONENT))
}

/// The significant bytes of a big-endian integer attribute, refused when longer than `max`
/// bytes: sizes are checked before any arithmetic, so an oversized value costs nothing.
fn bounded(attrs: &AttrMap, kind: CkAttributeType, max: usize) -> SimResult<&[u8]> {
    let bytes = attrs.get(kind).ok_or(SimError::TemplateIncomplete(kind))?;
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let significant = bytes.get(start..).unwrap_or_default();
    if significant.len() > max {
        return Err(SimError::AttributeValueInvalid(kind));
    }
    Ok(significant)
}

/// The modulus of a key object: 1024 to 4096 bits (register A56).
fn modulus(attrs: &AttrMap) -> SimResult<&[u8]> {
    let n = bounded(attrs, CKA_MODULUS, MAX_BITS / 8)?;
    let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
    if bits < MIN_BITS {
        return Err(SimError::AttributeValueInvalid(CKA_MODULUS));
    }
    Ok(n)
}

/// The public key of an RSA key object (public or private).
pub(crate) fn public_key(attrs: &AttrMap) -> SimResult<PublicKey> {
    let n = modulus(attrs)?;
    let e = bounded(attrs, CKA_PUBLIC_EXPONENT, 8)?;
    PublicKey::new_with_size_limits(uint(n), uint(e), MIN_BITS..=MAX_BITS)
        .map_err(|_| SimError::AttributeValueInvalid(CKA_MODULUS))
}

/// The private key of an RSA private key object. The primes are optional when the public
/// exponent is at least 2^16 (the `rsa` crate then recovers them from `n`, `e` and `d`); the
/// CRT values are recomputed and not trusted. Every component is size-checked against the
/// modulus first.
pub(crate) fn private_key(attrs: &AttrMap) -> SimResult<PrivateKey> {
    let n = modulus(attrs)?;
    let limit = n.len();
    let e = uint(bounded(attrs, CKA_PUBLIC_EXPONENT, 8)?);
    let d = uint(bounded(attrs, CKA_PRIVATE_EXPONENT, limit)?);
    let primes = match (attrs.contains(CKA_PRIME_1), attrs.contains(CKA_PRIME_2)) {
        (true, true) => vec![
            uint(bounded(attrs, CKA_PRIME_1, limit)?),
            uint(bounded(attrs, CKA_PRIME_2, limit)?),
        ],
        (false, false) => Vec::new(),
        _ => return Err(SimError::TemplateIncomplete(CKA_PRIME_2)),
    };
    let key = PrivateKey::from_components(uint(n), e, d, primes)
        .map_err(|_| SimError::AttributeValueInvalid(CKA_PRIVATE_EXPONENT))?;
    if !(MIN_BITS..=MAX_BITS).contains(&(key.n().bit_width() as usize)) {
        return Err(SimError::AttributeValueInvalid(CKA_MODULUS));
    }
    Ok(key)
}

/// Sets the public attributes of `key`: modulus, its length in bits, public exponent.
pub(crate) fn set_public_attrs(attrs: &mut AttrMap, key: &PublicKey) {
    attrs.set(CKA_MODULUS, key.n_bytes().into_vec());
    attrs.set_ulong(CKA_MODULUS_BITS, CkUlong::from(key.n().bit_width()));
    attrs.set(CKA_PUBLIC_EXPONENT, key.e_bytes().into_vec());
}

/// Sets every attribute of a private key: the public ones and all secret components.
pub(crate) fn set_private_attrs(attrs: &mut AttrMap, key: &PrivateKey) -> SimResult<()> {
    attrs.set(CKA_MODULUS, key.n_bytes().into_vec());
    attrs.set(CKA_PUBLIC_EXPONENT, key.e_bytes().into_vec());
    attrs.set(CKA_PRIVATE_EXPONENT, be_bytes(key.d()));
    let missing = || SimError::Internal("RSA key without CRT values");
    match key.primes() {
        [p, q] => {
            attrs.set(CKA_PRIME_1, be_bytes(p.as_ref()));
            attrs.set(CKA_PRIME_2, be_bytes(q.as_ref()));
        }
        _ => return Err(SimError::AttributeValueInvalid(CKA_PRIME_1)),
    }
    attrs.set(CKA_EXPONENT_1, be_bytes(key.dp().ok_or_else(missing)?));
    attrs.set(CKA_EXPONENT_2, be_bytes(key.dq().ok_or_else(missing)?));
    attrs.set(
        CKA_COEFFICIENT,
        be_bytes(&key.crt_coefficient().ok_or_else(missing)?),
    );
    Ok(())
}

/// The length of the modulus in bytes: the length of every ciphertext and signature.
pub(crate) fn modulus_len(key: &PublicKey) -> usize {
    key.size()
}

/// PKCS #8 DER of a private key (the wrapped form).
pub(crate) fn to_pkcs8(key: &PrivateKey) -> SimResult<Zeroizing<Vec<u8>>> {
    use rsa::pkcs8::EncodePrivateKey;
    let doc = key.to_pkcs8_der().map_err(|_| SimError::KeyNotWrappable)?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

/// The DER SubjectPublicKeyInfo of a public key.
pub(crate) fn public_key_info(key: &PublicKey) -> SimResult<Vec<u8>> {
    use rsa::pkcs8::EncodePublicKey;
    key.to_public_key_der()
        .map(|doc| doc.as_bytes().to_vec())
        .map_err(|_| SimError::Internal("RSA SubjectPublicKeyInfo"))
}

/// A private key from PKCS #8 DER.
pub(crate) fn from_pkcs8(der: &[u8]) -> SimResult<PrivateKey> {
    use rsa::pkcs8::DecodePrivateKey;
    PrivateKey::from_pkcs8_der(der).map_err(|_| SimError::WrappedKeyInvalid)
}

/// An encryption scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Encryption {
    /// PKCS #1 v1.5 (`CKM_RSA_PKCS`).
    Pkcs1,
    /// OAEP (`CKM_RSA_PKCS_OAEP`).
    Oaep(OaepParams),
    /// Raw RSA (`CKM_RSA_X_509`).
    Raw,
}

fn oaep<D, M>(label: &[u8]) -> Oaep<D, M>
where
    D: rsa::sha2::digest::Digest + rsa::sha2::digest::FixedOutputReset,
    M: rsa::sha2::digest::Digest + rsa::sha2::digest::FixedOutputReset,
{
    if label.is_empty() {
        Oaep::<D, M>::new_with_mgf_hash()
    } else {
        Oaep::<D, M>::new_with_mgf_hash_and_label(label.to_vec())
    }
}

/// The integer of a raw-RSA input: at most the modulus length, and below the modulus.
fn raw_input(key: &PublicKey, data: &[u8], too_long: SimError) -> SimResult<BoxedUint> {
    if data.len() > key.size() {
        return Err(too_long);
    }
    let m = BoxedUint::from_be_slice(data, key.n_bits_precision()).map_err(|_| too_long)?;
    if m >= *key.n().as_ref() {
        return Err(SimError::DataInvalid);
    }
    Ok(m)
}

/// Encrypts `data` with `key`.
pub(crate) fn encrypt(key: &PublicKey, scheme: &Encryption, data: &[u8]) -> SimResult<Vec<u8>> {
    let k = key.size();
    match scheme {
        Encryption::Pkcs1 => {
            if data.len() > k.saturating_sub(11) {
                return Err(SimError::DataLenRange);
            }
            key.encrypt(&mut os_rng(), Pkcs1v15Encrypt, data)
                .map_err(|_| SimError::DataLenRange)
        }
        Encryption::Oaep(params) => {
            if data.len() > k.saturating_sub(2 * params.hash.output_len() + 2) {
                return Err(SimError::DataLenRange);
            }
            with_hash!(params.hash, D => with_hash!(params.mgf, M => {
                key.encrypt(&mut os_rng(), oaep::<D, M>(&params.label), data)
            }))
            .map_err(|_| SimError::DataLenRange)
        }
        Encryption::Raw => {
            let m = raw_input(key, data, SimError::DataLenRange)?;
            let c = rsa_encrypt(key, &m).map_err(|_| SimError::DataInvalid)?;
            Ok(be_padded(&c, k)?.to_vec())
        }
    }
}

/// Decrypts `data` with `key`. PKCS #1 v1.5 decryption uses implicit rejection (the `rsa`
/// crate's defence against padding oracles): a badly padded ciphertext decrypts to a
/// pseudo-random message instead of failing (register A57).
pub(crate) fn decrypt(
    key: &PrivateKey,
    scheme: &Encryption,
    data: &[u8],
) -> SimResult<Zeroizing<Vec<u8>>> {
    let k = key.size();
    if data.len() != k {
        return Err(SimError::EncryptedDataLenRange);
    }
    let plain = match scheme {
        Encryption::Pkcs1 => key.decrypt(Pkcs1v15Encrypt, data),
        Encryption::Oaep(params) => with_hash!(params.hash, D => with_hash!(params.mgf, M => {
            key.decrypt(oaep::<D, M>(&params.label), data)
        })),
        Encryption::Raw => {
            let c = raw_input(key.as_public_key(), data, SimError::EncryptedDataLenRange)
                .map_err(|_| SimError::EncryptedDataInvalid)?;
            let m = rsa_decrypt_and_check(key, Some(&mut os_rng()), &c)
                .map_err(|_| SimError::EncryptedDataInvalid)?;
            return be_padded(&m, k);
        }
    };
    plain
        .map(Zeroizing::new)
        .map_err(|_| SimError::EncryptedDataInvalid)
}

/// A signature scheme, applied to the data a sign call finally signs (for the hashing
/// mechanisms, the hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Signature {
    /// PKCS #1 v1.5 over a caller-built DigestInfo (`CKM_RSA_PKCS`).
    Pkcs1Raw,
    /// PKCS #1 v1.5 over a hash of `HashAlg` (the `CKM_SHA*_RSA_PKCS` mechanisms).
    Pkcs1(HashAlg),
    /// PSS over a hash of `params.hash`.
    Pss(PssParams),
    /// Raw RSA (`CKM_RSA_X_509`).
    Raw,
}

/// Signs `input` (a DigestInfo, a hash or raw data, as the scheme says).
pub(crate) fn sign(key: &PrivateKey, scheme: &Signature, input: &[u8]) -> SimResult<Vec<u8>> {
    let k = key.size();
    let signed = match scheme {
        Signature::Pkcs1Raw => {
            if input.len() > k.saturating_sub(11) {
                return Err(SimError::DataLenRange);
            }
            key.sign(Pkcs1v15Sign::new_unprefixed(), input)
        }
        Signature::Pkcs1(hash) => with_hash!(*hash, D => key.sign(Pkcs1v15Sign::new::<D>(), input)),
        Signature::Pss(params) => {
            check_pss_hash(params, input)?;
            if !salt_fits(key.as_public_key(), params) {
                return Err(SimError::DataLenRange);
            }
            with_hash!(params.hash, D => key.sign(Pss::<D>::new_with_salt(params.salt_len), input))
        }
        Signature::Raw => {
            let m = raw_input(key.as_public_key(), input, SimError::DataLenRange)?;
            let s = rsa_decrypt_and_check(key, Some(&mut os_rng()), &m)
                .map_err(|_| SimError::DataInvalid)?;
            return Ok(be_padded(&s, k)?.to_vec());
        }
    };
    signed.map_err(|_| SimError::DataLenRange)
}

/// Checks a PSS input: a hash of the parameter's length.
fn check_pss_hash(params: &PssParams, hash: &[u8]) -> SimResult<()> {
    if hash.len() != params.hash.output_len() {
        return Err(SimError::DataLenRange);
    }
    Ok(())
}

/// Whether the salt fits the key: RFC 8017's emLen >= hLen + sLen + 2, checked before the
/// `rsa` crate allocates the salt (a huge sLen would otherwise exhaust memory).
fn salt_fits(key: &PublicKey, params: &PssParams) -> bool {
    let em_len = (key.n().bit_width() as usize - 1).div_ceil(8);
    params
        .hash
        .output_len()
        .checked_add(params.salt_len)
        .and_then(|n| n.checked_add(2))
        .is_some_and(|needed| needed <= em_len)
}

/// Verifies `signature` over `input` (as [`sign`]).
pub(crate) fn verify(
    key: &PublicKey,
    scheme: &Signature,
    input: &[u8],
    signature: &[u8],
) -> SimResult<()> {
    let k = key.size();
    if signature.len() != k {
        return Err(SimError::SignatureLenRange);
    }
    let verified = match scheme {
        Signature::Pkcs1Raw => {
            if input.len() > k.saturating_sub(11) {
                return Err(SimError::DataLenRange);
            }
            key.verify(Pkcs1v15Sign::new_unprefixed(), input, signature)
        }
        Signature::Pkcs1(hash) => {
            with_hash!(*hash, D => key.verify(Pkcs1v15Sign::new::<D>(), input, signature))
        }
        Signature::Pss(params) => {
            check_pss_hash(params, input)?;
            if !salt_fits(key, params) {
                // No signature of this key has such a salt.
                return Err(SimError::SignatureInvalid);
            }
            with_hash!(params.hash, D => {
                key.verify(Pss::<D>::new_with_salt(params.salt_len), input, signature)
            })
        }
        Signature::Raw => {
            let expected = raw_input(key, input, SimError::DataLenRange)?;
            let s = raw_input(key, signature, SimError::SignatureLenRange)
                .map_err(|_| SimError::SignatureInvalid)?;
            let m = rsa_encrypt(key, &s).map_err(|_| SimError::SignatureInvalid)?;
            return if bool::from(subtle::ConstantTimeEq::ct_eq(
                be_padded(&m, k)?.as_slice(),
                be_padded(&expected, k)?.as_slice(),
            )) {
                Ok(())
            } else {
                Err(SimError::SignatureInvalid)
            };
        }
    };
    verified.map_err(|_| SimError::SignatureInvalid)
}

/// The data `signature` carries (`C_VerifyRecover`): for raw RSA the whole modulus-length
/// block; for PKCS #1 v1.5 the data after the type-1 padding, which the `rsa` crate then
/// verifies against the signature, so the crate's check decides what a valid signature is.
pub(crate) fn verify_recover(
    key: &PublicKey,
    scheme: &Signature,
    signature: &[u8],
) -> SimResult<Vec<u8>> {
    let k = key.size();
    if signature.len() != k {
        return Err(SimError::SignatureLenRange);
    }
    let s = raw_input(key, signature, SimError::SignatureLenRange)
        .map_err(|_| SimError::SignatureInvalid)?;
    let m = rsa_encrypt(key, &s).map_err(|_| SimError::SignatureInvalid)?;
    let block = be_padded(&m, k)?;
    match scheme {
        Signature::Raw => Ok(block.to_vec()),
        Signature::Pkcs1Raw => {
            let data = pkcs1_type1_payload(&block).ok_or(SimError::SignatureInvalid)?;
            key.verify(Pkcs1v15Sign::new_unprefixed(), data, signature)
                .map_err(|_| SimError::SignatureInvalid)?;
            Ok(data.to_vec())
        }
        Signature::Pkcs1(_) | Signature::Pss(_) => Err(SimError::MechanismInvalid),
    }
}

/// The payload of an RFC 8017 EMSA-PKCS1-v1_5 block `00 01 FF..FF 00 payload`, with at least
/// eight bytes of padding.
fn pkcs1_type1_payload(block: &[u8]) -> Option<&[u8]> {
    let rest = block.strip_prefix(&[0x00, 0x01])?;
    let padding = rest.iter().take_while(|b| **b == 0xff).count();
    if padding < 8 {
        return None;
    }
    rest.get(padding..)?.strip_prefix(&[0x00])
}

#[cfg(test)]
mod tests {
    use super::pkcs1_type1_payload;

    #[test]
    fn type1_padding_needs_eight_ff_bytes_and_a_zero_separator() {
        let mut block = vec![0x00, 0x01];
        block.extend([0xff; 8]);
        block.extend([0x00, 0xaa, 0xbb]);
        assert_eq!(pkcs1_type1_payload(&block), Some(&[0xaa, 0xbb][..]));
        // Seven bytes of padding, a missing separator, a wrong block type.
        let short: Vec<u8> = [&[0x00, 0x01][..], &[0xff; 7], &[0x00, 0xaa]].concat();
        assert_eq!(pkcs1_type1_payload(&short), None);
        let no_zero: Vec<u8> = [&[0x00, 0x01][..], &[0xff; 9], &[0x01, 0xaa]].concat();
        assert_eq!(pkcs1_type1_payload(&no_zero), None);
        let type2: Vec<u8> = [&[0x00, 0x02][..], &[0xff; 9], &[0x00, 0xaa]].concat();
        assert_eq!(pkcs1_type1_payload(&type2), None);
        // An empty payload is a valid block.
        let empty: Vec<u8> = [&[0x00, 0x01][..], &[0xff; 9], &[0x00]].concat();
        assert_eq!(pkcs1_type1_payload(&empty), Some(&[][..]));
    }
}
