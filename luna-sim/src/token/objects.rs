//! The object model: which attributes each class has, defaults, validation of templates, and
//! PKCS#11's rules for reading and changing attributes.
//!
//! Defaults the PKCS#11 standard leaves to the token (documented in the README):
//! `CKA_TOKEN` false; `CKA_PRIVATE` true for secret and private keys, false otherwise;
//! `CKA_SENSITIVE` true and `CKA_EXTRACTABLE` true for secret and private keys; secret keys may
//! encrypt, decrypt, sign, verify, wrap and unwrap; private keys may sign and public keys
//! verify, and RSA private keys may also decrypt and unwrap, RSA public keys encrypt and wrap;
//! `CKA_DERIVE` false; `CKA_MODIFIABLE`, `CKA_COPYABLE`, `CKA_DESTROYABLE` true.

use cpv4_wire::consts::*;

use crate::ck::CK_UNAVAILABLE_INFORMATION;
use crate::error::{SimError, SimResult};
use crate::mechanisms::MAX_GENERIC_SECRET_LEN;
use crate::mechanisms::ec::{self, Curve};
use crate::mechanisms::{block, eddsa, hash, rsa};
use crate::token::attrs::{AttrMap, Attribute, decode_bool, decode_ulong};

pub use crate::mechanisms::ec::P256_EC_PARAMS;

/// Length of a `CKA_OUID`.
pub const OUID_LEN: usize = 12;

/// How an object came to be; decides `CKA_LOCAL`, `CKA_ALWAYS_SENSITIVE`,
/// `CKA_NEVER_EXTRACTABLE` and `CKA_KEY_GEN_MECHANISM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `C_CreateObject`: the value came from outside.
    Created,
    /// Generated on the token by this mechanism.
    Generated(CkMechanismType),
    /// `C_UnwrapKey`: the value was outside the token, wrapped.
    Unwrapped,
    /// `C_DeriveKey`: computed on the token from a base key (not local, PKCS#11 says).
    Derived,
    /// `CA_Insert`: a CPv4 clone of an object of another partition of the domain, arriving
    /// whole: its history (`CKA_LOCAL`, `CKA_KEY_GEN_MECHANISM`, `CKA_ALWAYS_SENSITIVE`,
    /// `CKA_NEVER_EXTRACTABLE`) is the source's, as far as the key can have it.
    Cloned,
}

const COMMON: &[CkAttributeType] = &[
    CKA_CLASS,
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_LABEL,
    CKA_MODIFIABLE,
    CKA_COPYABLE,
    CKA_DESTROYABLE,
    CKA_OUID,
];
const DATA: &[CkAttributeType] = &[CKA_APPLICATION, CKA_VALUE, CKA_OBJECT_ID];
const CERTIFICATE: &[CkAttributeType] = &[
    CKA_CERTIFICATE_TYPE,
    CKA_TRUSTED,
    CKA_CHECK_VALUE,
    CKA_SUBJECT,
    CKA_ID,
    CKA_ISSUER,
    CKA_SERIAL_NUMBER,
    CKA_VALUE,
];
const KEY: &[CkAttributeType] = &[
    CKA_KEY_TYPE,
    CKA_ID,
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_DERIVE,
    CKA_LOCAL,
    CKA_KEY_GEN_MECHANISM,
    CKA_ALLOWED_MECHANISMS,
];
const SECRET: &[CkAttributeType] = &[
    CKA_WRAP_TEMPLATE,
    CKA_UNWRAP_TEMPLATE,
    CKA_DERIVE_TEMPLATE,
    CKA_SENSITIVE,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_VERIFY,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE,
    CKA_NEVER_EXTRACTABLE,
    CKA_CHECK_VALUE,
    CKA_VALUE,
    CKA_VALUE_LEN,
    CKA_WRAP_WITH_TRUSTED,
    CKA_TRUSTED,
];
const PUBLIC: &[CkAttributeType] = &[
    CKA_SUBJECT,
    CKA_ENCRYPT,
    CKA_VERIFY,
    CKA_VERIFY_RECOVER,
    CKA_WRAP,
    CKA_TRUSTED,
    CKA_PUBLIC_KEY_INFO,
    CKA_WRAP_TEMPLATE,
];
const PRIVATE: &[CkAttributeType] = &[
    CKA_SUBJECT,
    CKA_UNWRAP_TEMPLATE,
    CKA_DERIVE_TEMPLATE,
    CKA_SIGN_RECOVER,
    CKA_WRAP_WITH_TRUSTED,
    CKA_PUBLIC_KEY_INFO,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_SENSITIVE,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_UNWRAP,
    CKA_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE,
    CKA_NEVER_EXTRACTABLE,
];
const EC_PUBLIC: &[CkAttributeType] = &[CKA_EC_PARAMS, CKA_EC_POINT];
const EC_PRIVATE: &[CkAttributeType] = &[CKA_EC_PARAMS, CKA_VALUE];
const RSA_PUBLIC: &[CkAttributeType] = &[CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT];
const RSA_PRIVATE: &[CkAttributeType] = &[
    CKA_MODULUS,
    CKA_PUBLIC_EXPONENT,
    CKA_PRIVATE_EXPONENT,
    CKA_PRIME_1,
    CKA_PRIME_2,
    CKA_EXPONENT_1,
    CKA_EXPONENT_2,
    CKA_COEFFICIENT,
];

/// The attributes that hold key material: sealed at rest, never revealed by a sensitive or
/// unextractable key, and never matched by a find on such a key.
pub(crate) const SECRET_ATTRIBUTES: &[CkAttributeType] = &[
    CKA_VALUE,
    CKA_PRIVATE_EXPONENT,
    CKA_PRIME_1,
    CKA_PRIME_2,
    CKA_EXPONENT_1,
    CKA_EXPONENT_2,
    CKA_COEFFICIENT,
];

/// Whether `kind` holds key material of a key of `class` (see [`SECRET_ATTRIBUTES`]).
pub(crate) fn is_secret(class: Option<CkObjectClass>, kind: CkAttributeType) -> bool {
    matches!(class, Some(CKO_SECRET_KEY | CKO_PRIVATE_KEY)) && SECRET_ATTRIBUTES.contains(&kind)
}

/// Attributes no caller may ever set: the token maintains them.
const TOKEN_MAINTAINED: &[CkAttributeType] = &[
    CKA_LOCAL,
    CKA_ALWAYS_SENSITIVE,
    CKA_NEVER_EXTRACTABLE,
    CKA_KEY_GEN_MECHANISM,
    CKA_OUID,
    CKA_CHECK_VALUE,
    CKA_PUBLIC_KEY_INFO,
];

/// Whether `kind` is an attribute of an object of `class` and, for keys, `key_type` (an
/// unknown key type has only the attributes common to its class).
pub(crate) fn valid_for(
    class: CkObjectClass,
    key_type: Option<CkKeyType>,
    kind: CkAttributeType,
) -> bool {
    let specific: &[&[CkAttributeType]] = match (class, key_type) {
        (CKO_DATA, _) => &[DATA],
        (CKO_CERTIFICATE, _) => &[CERTIFICATE],
        (CKO_SECRET_KEY, _) => &[KEY, SECRET],
        (CKO_PUBLIC_KEY, Some(CKK_EC | CKK_EC_EDWARDS)) => &[KEY, PUBLIC, EC_PUBLIC],
        (CKO_PUBLIC_KEY, Some(CKK_RSA)) => &[KEY, PUBLIC, RSA_PUBLIC],
        (CKO_PUBLIC_KEY, _) => &[KEY, PUBLIC],
        (CKO_PRIVATE_KEY, Some(CKK_EC | CKK_EC_EDWARDS)) => &[KEY, PRIVATE, EC_PRIVATE],
        (CKO_PRIVATE_KEY, Some(CKK_RSA)) => &[KEY, PRIVATE, RSA_PRIVATE],
        (CKO_PRIVATE_KEY, _) => &[KEY, PRIVATE],
        _ => return false,
    };
    COMMON.contains(&kind) || specific.iter().any(|set| set.contains(&kind))
}

/// Whether the object's `kind` attribute may not be revealed: key material of a secret or
/// private key that is sensitive or unextractable.
pub(crate) fn is_unreadable(attrs: &AttrMap, kind: CkAttributeType) -> bool {
    is_secret(attrs.ulong(CKA_CLASS), kind)
        && (attrs.is(CKA_SENSITIVE) || !attrs.flag(CKA_EXTRACTABLE).unwrap_or(false))
}

/// Whether `attrs` matches every attribute of a find `template`. An attribute the caller could
/// not read (the value of a sensitive or non-extractable key) matches nothing, so a find
/// cannot confirm a guessed key value.
pub(crate) fn find_matches(attrs: &AttrMap, template: &AttrMap) -> bool {
    template
        .iter()
        .all(|(kind, value)| !is_unreadable(attrs, kind) && attrs.get(kind) == Some(value))
}

/// Builds a complete object from a caller's template.
///
/// For [`Origin::Generated`] and [`Origin::Unwrapped`] the caller has already put the key
/// material (`CKA_VALUE`, `CKA_EC_POINT`...) into `attrs`; `supplied` lists the attribute types
/// that came from the caller's template, which may not include token-maintained ones.
pub(crate) fn build_object(
    mut attrs: AttrMap,
    supplied: &[CkAttributeType],
    origin: Origin,
) -> SimResult<AttrMap> {
    for kind in supplied {
        if TOKEN_MAINTAINED.contains(kind) {
            return Err(SimError::AttributeReadOnly(*kind));
        }
        if origin == Origin::Created && *kind == CKA_VALUE_LEN {
            return Err(SimError::TemplateInconsistent);
        }
    }
    let class = attrs
        .ulong(CKA_CLASS)
        .ok_or(SimError::TemplateIncomplete(CKA_CLASS))?;
    let key_type = attrs.ulong(CKA_KEY_TYPE);
    for (kind, _) in attrs.iter() {
        if !valid_for(class, key_type, kind) {
            return Err(SimError::AttributeTypeInvalid(kind));
        }
    }
    check_values(&attrs)?;
    // Only the Partition SO sets CKA_TRUSTED, on an existing object (register A77); a clone
    // keeps what the source's SO set.
    if attrs.is(CKA_TRUSTED) && origin != Origin::Cloned {
        return Err(SimError::AttributeReadOnly(CKA_TRUSTED));
    }
    attrs.default_bool(CKA_TOKEN, false);
    attrs.default_bool(CKA_MODIFIABLE, true);
    attrs.default_bool(CKA_COPYABLE, true);
    attrs.default_bool(CKA_DESTROYABLE, true);
    if !attrs.contains(CKA_LABEL) {
        attrs.set(CKA_LABEL, Vec::new());
    }
    match class {
        CKO_DATA => {
            attrs.default_bool(CKA_PRIVATE, false);
            for kind in [CKA_APPLICATION, CKA_VALUE, CKA_OBJECT_ID] {
                if !attrs.contains(kind) {
                    attrs.set(kind, Vec::new());
                }
            }
        }
        CKO_CERTIFICATE => {
            attrs.default_bool(CKA_PRIVATE, false);
            match attrs.ulong(CKA_CERTIFICATE_TYPE) {
                None => return Err(SimError::TemplateIncomplete(CKA_CERTIFICATE_TYPE)),
                Some(CKC_X_509) => {}
                Some(_) => return Err(SimError::AttributeValueInvalid(CKA_CERTIFICATE_TYPE)),
            }
            if attrs.get(CKA_VALUE).is_none_or(<[u8]>::is_empty) {
                return Err(SimError::TemplateIncomplete(CKA_VALUE));
            }
            attrs.default_bool(CKA_TRUSTED, false);
            set_sha1_check_value(&mut attrs, origin);
            // A clone carries the fields as its source held them: set, or cleared, by
            // `C_SetAttributeValue`, which does not fill them again.
            if origin != Origin::Cloned {
                certificate_fields(&mut attrs);
            }
            for kind in [CKA_SUBJECT, CKA_ID, CKA_ISSUER, CKA_SERIAL_NUMBER] {
                if !attrs.contains(kind) {
                    attrs.set(kind, Vec::new());
                }
            }
        }
        CKO_SECRET_KEY => build_secret_key(&mut attrs, origin)?,
        CKO_PUBLIC_KEY => build_public_key(&mut attrs, origin)?,
        CKO_PRIVATE_KEY => build_private_key(&mut attrs, origin)?,
        _ => return Err(SimError::AttributeValueInvalid(CKA_CLASS)),
    }
    Ok(attrs)
}

/// Checks an object a CPv4 peer sent (`CA_Insert`): it must be one this token could hold as
/// it is. Each value has its attribute's form and belongs to the object's class and key type,
/// the OUID has its length, and building the object again changes nothing (key material that
/// is a key, consistent lengths and templates, derived values that match, a history the key
/// can have). A peer of the domain is trusted with the objects it clones, not with their
/// encoding: an object this token would not have made could fail later, or be reported as
/// store damage (register A81).
///
/// # Errors
///
/// The error building the object gives, or `CKR_TEMPLATE_INCONSISTENT`.
pub(crate) fn check_cloned(attrs: &AttrMap) -> SimResult<()> {
    for (kind, value) in attrs.iter() {
        crate::token::attrs::check_form(kind, value)?;
    }
    if attrs
        .get(CKA_OUID)
        .is_none_or(|ouid| ouid.len() != OUID_LEN)
    {
        return Err(SimError::AttributeValueInvalid(CKA_OUID));
    }
    let rebuilt = build_object(attrs.clone(), &[], Origin::Cloned)?;
    if rebuilt != *attrs {
        return Err(SimError::TemplateInconsistent);
    }
    Ok(())
}

/// The shortest generic secret given a check value: three bytes of the SHA-1 of a shorter one
/// would let anyone who reads them find it by trial, one byte at a time for keys derived with
/// growing `CKA_VALUE_LEN` from one secret (register A81).
pub(crate) const MIN_CHECKED_SECRET_LEN: usize = 16;

/// Gives a certificate or a generic secret its check value, the first 3 bytes of the SHA-1
/// hash of `CKA_VALUE` (PKCS#11 v2.40); a generic secret shorter than
/// [`MIN_CHECKED_SECRET_LEN`] gets none. A clone of an object made before this token computed
/// them has none and keeps none; a clone that has one has this one (register A81).
fn set_sha1_check_value(attrs: &mut AttrMap, origin: Origin) {
    let value = attrs.get(CKA_VALUE).unwrap_or(&[]);
    let short_secret =
        attrs.ulong(CKA_CLASS) == Some(CKO_SECRET_KEY) && value.len() < MIN_CHECKED_SECRET_LEN;
    if short_secret || (origin == Origin::Cloned && attrs.get(CKA_CHECK_VALUE).is_none()) {
        attrs.remove(CKA_CHECK_VALUE);
        return;
    }
    let check = hash::sha1_check_value(value);
    attrs.set_slice(CKA_CHECK_VALUE, &check);
}

/// Checks the values PKCS#11 gives a form: dates (`CK_DATE`: empty, or `YYYYMMDD` with a month
/// and day that exist in some year) and `CKA_ALLOWED_MECHANISMS` (whole mechanism types).
fn check_values(attrs: &AttrMap) -> SimResult<()> {
    for kind in [CKA_START_DATE, CKA_END_DATE] {
        if let Some(date) = attrs.get(kind) {
            let number = |range: std::ops::Range<usize>| {
                date.get(range)
                    .filter(|d| d.iter().all(u8::is_ascii_digit))
                    .map(|d| d.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
            };
            let valid = date.is_empty()
                || (date.len() == 8
                    && number(0..4).is_some()
                    && number(4..6).is_some_and(|m| (1..=12).contains(&m))
                    && number(6..8).is_some_and(|d| (1..=31).contains(&d)));
            if !valid {
                return Err(SimError::AttributeValueInvalid(kind));
            }
        }
    }
    if attrs
        .get(CKA_ALLOWED_MECHANISMS)
        .is_some_and(|list| !list.len().is_multiple_of(8))
    {
        return Err(SimError::AttributeValueInvalid(CKA_ALLOWED_MECHANISMS));
    }
    // A template holds no key material: it would be stored and read back in clear (A80).
    for kind in [CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE, CKA_DERIVE_TEMPLATE] {
        if template_of(attrs, kind)?
            .iter()
            .any(|(inner, _)| SECRET_ATTRIBUTES.contains(inner))
        {
            return Err(SimError::AttributeValueInvalid(kind));
        }
    }
    // PKCS#11 4.9: CKA_ALWAYS_AUTHENTICATE may be true only on a private object (A79).
    if attrs.flag(CKA_ALWAYS_AUTHENTICATE) == Some(true) && attrs.flag(CKA_PRIVATE) == Some(false) {
        return Err(SimError::TemplateInconsistent);
    }
    Ok(())
}

/// The attributes of `key`'s template attribute `kind` (`CKA_WRAP_TEMPLATE`,
/// `CKA_UNWRAP_TEMPLATE`, `CKA_DERIVE_TEMPLATE`; none when it has no such attribute). The
/// value was checked when the key was made, so a list that does not decode is damage.
fn template_of(key: &AttrMap, kind: CkAttributeType) -> SimResult<Vec<(CkAttributeType, &[u8])>> {
    let Some(value) = key.get(kind) else {
        return Ok(Vec::new());
    };
    let damaged = || SimError::Corrupt(format!("template attribute 0x{kind:X} does not decode"));
    let list = cpv4_wire::AttributeList::decode_borrowed(value).map_err(|_| damaged())?;
    list.attributes()
        .iter()
        .map(|a| {
            Ok((
                CkAttributeType::try_from(a.ty).map_err(|_| damaged())?,
                a.value,
            ))
        })
        .collect()
}

/// `CKR_KEY_NOT_WRAPPABLE` unless `target` has every attribute of the wrapping key's
/// `CKA_WRAP_TEMPLATE` with the same value (register A80).
pub(crate) fn check_wrap_template(wrapping_key: &AttrMap, target: &AttrMap) -> SimResult<()> {
    let matches = template_of(wrapping_key, CKA_WRAP_TEMPLATE)?
        .into_iter()
        .all(|(kind, value)| target.get(kind) == Some(value));
    if matches {
        Ok(())
    } else {
        Err(SimError::KeyNotWrappable)
    }
}

/// Merges the key's `CKA_UNWRAP_TEMPLATE` or `CKA_DERIVE_TEMPLATE` (`kind`) with the caller's
/// template `attrs`. PKCS#11 applies the caller's template "after this template as if the
/// object has already been created": where both give an attribute, the caller's value stands
/// if `C_SetAttributeValue` could make that change (a new label, sensitive on, extractable
/// off; nothing if the template says not modifiable), else it is `CKR_TEMPLATE_INCONSISTENT`
/// (register A80).
pub(crate) fn apply_template(
    attrs: &mut AttrMap,
    key: &AttrMap,
    kind: CkAttributeType,
) -> SimResult<()> {
    let template = template_of(key, kind)?;
    let class = template
        .iter()
        .find(|(inner, _)| *inner == CKA_CLASS)
        .and_then(|(_, value)| decode_ulong(value))
        .or_else(|| attrs.ulong(CKA_CLASS));
    let modifiable = template
        .iter()
        .find(|(inner, _)| *inner == CKA_MODIFIABLE)
        .is_none_or(|(_, value)| decode_bool(value) != Some(false));
    for (inner, value) in template {
        match attrs.get(inner) {
            Some(given) if given == value => {}
            Some(given) => {
                let changeable = modifiable
                    && class.is_some_and(|class| {
                        change_allowed(class, inner, Some(value), given, false)
                    });
                if !changeable {
                    return Err(SimError::TemplateInconsistent);
                }
            }
            None => attrs.set_slice(inner, value),
        }
    }
    Ok(())
}

/// `CKR_MECHANISM_INVALID` if the key's `CKA_ALLOWED_MECHANISMS` is a list without
/// `mechanism` (an empty or absent list allows every mechanism; register A77).
pub(crate) fn check_allowed(attrs: &AttrMap, mechanism: CkMechanismType) -> SimResult<()> {
    match attrs.get(CKA_ALLOWED_MECHANISMS) {
        Some(list) if !list.is_empty() => {
            let allowed = list
                .chunks(8)
                .any(|m| m == mechanism.to_be_bytes().as_slice());
            if allowed {
                Ok(())
            } else {
                Err(SimError::MechanismInvalid)
            }
        }
        _ => Ok(()),
    }
}

/// Fills a certificate's empty `CKA_SUBJECT`, `CKA_ISSUER` and `CKA_SERIAL_NUMBER` from its DER
/// (each as the DER of the field); a value that does not parse is kept as it is.
fn certificate_fields(attrs: &mut AttrMap) {
    use der::{Decode, Encode};
    let Some(Ok(cert)) = attrs.get(CKA_VALUE).map(x509_cert::Certificate::from_der) else {
        return;
    };
    let tbs = cert.tbs_certificate();
    for (kind, der) in [
        (CKA_SUBJECT, tbs.subject().to_der()),
        (CKA_ISSUER, tbs.issuer().to_der()),
        (CKA_SERIAL_NUMBER, tbs.serial_number().to_der()),
    ] {
        if let Ok(der) = der
            && attrs.get(kind).is_none_or(<[u8]>::is_empty)
        {
            attrs.set(kind, der);
        }
    }
}

fn key_common(attrs: &mut AttrMap, origin: Origin) {
    if !attrs.contains(CKA_ID) {
        attrs.set(CKA_ID, Vec::new());
    }
    for kind in [CKA_START_DATE, CKA_END_DATE, CKA_ALLOWED_MECHANISMS] {
        if !attrs.contains(kind) {
            attrs.set(kind, Vec::new());
        }
    }
    attrs.default_bool(CKA_DERIVE, false);
    let (local, mechanism) = match origin {
        Origin::Generated(mechanism) => (true, mechanism),
        // A clone is local only as a key this token generates is: with the mechanism that
        // generates its key type here (register A81).
        Origin::Cloned => match attrs.ulong(CKA_KEY_GEN_MECHANISM) {
            Some(mechanism)
                if attrs.is(CKA_LOCAL)
                    && attrs.ulong(CKA_KEY_TYPE).and_then(generation_mechanism)
                        == Some(mechanism) =>
            {
                (true, mechanism)
            }
            _ => (false, CK_UNAVAILABLE_INFORMATION),
        },
        Origin::Created | Origin::Unwrapped | Origin::Derived => {
            (false, CK_UNAVAILABLE_INFORMATION)
        }
    };
    attrs.set_bool(CKA_LOCAL, local);
    attrs.set_ulong(CKA_KEY_GEN_MECHANISM, mechanism);
}

/// The mechanism that generates keys of `key_type` on this token (`C_GenerateKey`,
/// `C_GenerateKeyPair`): the only `CKA_KEY_GEN_MECHANISM` a local key of the type has.
fn generation_mechanism(key_type: CkKeyType) -> Option<CkMechanismType> {
    Some(match key_type {
        CKK_AES => CKM_AES_KEY_GEN,
        CKK_GENERIC_SECRET => CKM_GENERIC_SECRET_KEY_GEN,
        CKK_DES => CKM_DES_KEY_GEN,
        CKK_DES2 => CKM_DES2_KEY_GEN,
        CKK_DES3 => CKM_DES3_KEY_GEN,
        CKK_RSA => CKM_RSA_PKCS_KEY_PAIR_GEN,
        CKK_EC => CKM_EC_KEY_PAIR_GEN,
        CKK_EC_EDWARDS => CKM_EC_EDWARDS_KEY_PAIR_GEN,
        _ => return None,
    })
}

/// Sets `CKA_ALWAYS_SENSITIVE` and `CKA_NEVER_EXTRACTABLE` for a new key: true only for a key
/// generated on the token with the property (a value that was ever outside was never
/// "always sensitive").
fn key_history(attrs: &mut AttrMap, origin: Origin) {
    attrs.default_bool(CKA_SENSITIVE, true);
    attrs.default_bool(CKA_EXTRACTABLE, true);
    let (always, never) = match origin {
        Origin::Generated(_) => (true, true),
        // A clone was always sensitive if its source says so, but only while it still is, and
        // only if generated or, a secret key, derived from a key that was (C_DeriveKey).
        Origin::Cloned => {
            let could = attrs.is(CKA_LOCAL) || attrs.ulong(CKA_CLASS) == Some(CKO_SECRET_KEY);
            (
                could && attrs.is(CKA_ALWAYS_SENSITIVE),
                could && attrs.is(CKA_NEVER_EXTRACTABLE),
            )
        }
        Origin::Created | Origin::Unwrapped | Origin::Derived => (false, false),
    };
    let sensitive = attrs.is(CKA_SENSITIVE);
    let extractable = attrs.is(CKA_EXTRACTABLE);
    attrs.set_bool(CKA_ALWAYS_SENSITIVE, always && sensitive);
    attrs.set_bool(CKA_NEVER_EXTRACTABLE, never && !extractable);
}

fn build_secret_key(attrs: &mut AttrMap, origin: Origin) -> SimResult<()> {
    attrs.default_bool(CKA_PRIVATE, true);
    let key_type = attrs
        .ulong(CKA_KEY_TYPE)
        .ok_or(SimError::TemplateIncomplete(CKA_KEY_TYPE))?;
    let len = attrs
        .get(CKA_VALUE)
        .ok_or(SimError::TemplateIncomplete(CKA_VALUE))?
        .len();
    match key_type {
        CKK_AES | CKK_DES | CKK_DES2 | CKK_DES3 => {
            let fits = match block::des_key_len(key_type) {
                // PKCS#11: a DES key with wrong parity is refused (register A67).
                Some(des_len) => len == des_len && block::des_parity_ok(attrs.value()?),
                None => matches!(len, 16 | 24 | 32),
            };
            if !fits {
                return Err(SimError::AttributeValueInvalid(CKA_VALUE));
            }
            let check = block::check_value(key_type, attrs.value()?)?;
            attrs.set_slice(CKA_CHECK_VALUE, &check);
        }
        CKK_GENERIC_SECRET => {
            let max = usize::try_from(MAX_GENERIC_SECRET_LEN).unwrap_or(usize::MAX);
            if len == 0 || len > max {
                return Err(SimError::AttributeValueInvalid(CKA_VALUE));
            }
            set_sha1_check_value(attrs, origin);
        }
        _ => return Err(SimError::AttributeValueInvalid(CKA_KEY_TYPE)),
    }
    let value_len = CkUlong::try_from(len).map_err(|_| SimError::Internal("key length"))?;
    if let Some(given) = attrs.ulong(CKA_VALUE_LEN)
        && given != value_len
    {
        return Err(SimError::TemplateInconsistent);
    }
    attrs.set_ulong(CKA_VALUE_LEN, value_len);
    key_common(attrs, origin);
    for kind in [
        CKA_ENCRYPT,
        CKA_DECRYPT,
        CKA_SIGN,
        CKA_VERIFY,
        CKA_WRAP,
        CKA_UNWRAP,
    ] {
        attrs.default_bool(kind, true);
    }
    attrs.default_bool(CKA_WRAP_WITH_TRUSTED, false);
    attrs.default_bool(CKA_TRUSTED, false);
    key_history(attrs, origin);
    Ok(())
}

/// Checks `CKA_EC_PARAMS` of an EC (Weierstrass) or Edwards key.
fn require_curve(attrs: &AttrMap, key_type: CkKeyType) -> SimResult<()> {
    let params = attrs
        .get(CKA_EC_PARAMS)
        .ok_or(SimError::TemplateIncomplete(CKA_EC_PARAMS))?;
    if key_type == CKK_EC_EDWARDS {
        eddsa::check_params(params)
    } else {
        check_ec_params(params)
    }
}

/// The key type of an asymmetric key template: EC, Edwards or RSA.
fn asymmetric_type(attrs: &AttrMap) -> SimResult<CkKeyType> {
    match attrs.ulong(CKA_KEY_TYPE) {
        None => Err(SimError::TemplateIncomplete(CKA_KEY_TYPE)),
        Some(kind @ (CKK_EC | CKK_EC_EDWARDS | CKK_RSA)) => Ok(kind),
        Some(_) => Err(SimError::AttributeValueInvalid(CKA_KEY_TYPE)),
    }
}

/// Sets `CKA_MODULUS_BITS` from the modulus; a caller's value must agree.
fn check_modulus_bits(attrs: &mut AttrMap, key: &::rsa::PublicKey) -> SimResult<()> {
    let given = attrs.ulong(CKA_MODULUS_BITS);
    rsa::set_public_attrs(attrs, key);
    if given.is_some_and(|bits| Some(bits) != attrs.ulong(CKA_MODULUS_BITS)) {
        return Err(SimError::TemplateInconsistent);
    }
    Ok(())
}

fn build_public_key(attrs: &mut AttrMap, origin: Origin) -> SimResult<()> {
    attrs.default_bool(CKA_PRIVATE, false);
    let key_type = asymmetric_type(attrs)?;
    if key_type != CKK_RSA {
        require_curve(attrs, key_type)?;
        let point = attrs
            .get(CKA_EC_POINT)
            .ok_or(SimError::TemplateIncomplete(CKA_EC_POINT))?;
        let valid = if key_type == CKK_EC_EDWARDS {
            eddsa::verifying_key(point).map(|_| ())
        } else {
            ec::VerifyingKey::new(Curve::of(attrs)?, point).map(|_| ())
        };
        valid.map_err(|_| SimError::AttributeValueInvalid(CKA_EC_POINT))?;
    } else {
        let key = rsa::public_key(attrs)?;
        check_modulus_bits(attrs, &key)?;
    }
    if !attrs.contains(CKA_SUBJECT) {
        attrs.set(CKA_SUBJECT, Vec::new());
    }
    key_common(attrs, origin);
    // An RSA key may encrypt and wrap; an EC key cannot.
    let rsa = key_type == CKK_RSA;
    attrs.default_bool(CKA_VERIFY, true);
    attrs.default_bool(CKA_ENCRYPT, rsa);
    attrs.default_bool(CKA_WRAP, rsa);
    // Recovery exists for RSA only (raw and PKCS #1 v1.5).
    attrs.default_bool(CKA_VERIFY_RECOVER, rsa);
    attrs.default_bool(CKA_TRUSTED, false);
    let info = public_key_info(attrs, key_type, false)?;
    attrs.set(CKA_PUBLIC_KEY_INFO, info);
    Ok(())
}

fn build_private_key(attrs: &mut AttrMap, origin: Origin) -> SimResult<()> {
    attrs.default_bool(CKA_PRIVATE, true);
    let key_type = asymmetric_type(attrs)?;
    if key_type != CKK_RSA {
        require_curve(attrs, key_type)?;
        let value = attrs
            .get(CKA_VALUE)
            .ok_or(SimError::TemplateIncomplete(CKA_VALUE))?;
        let valid = if key_type == CKK_EC_EDWARDS {
            eddsa::signing_key(value).map(|_| ())
        } else {
            ec::SigningKey::new(Curve::of(attrs)?, value).map(|_| ())
        };
        valid.map_err(|_| SimError::AttributeValueInvalid(CKA_VALUE))?;
    } else {
        // Checked by the rsa crate, then stored whole (primes and CRT values recomputed).
        let key = rsa::private_key(attrs)?;
        rsa::set_private_attrs(attrs, &key)?;
    }
    if !attrs.contains(CKA_SUBJECT) {
        attrs.set(CKA_SUBJECT, Vec::new());
    }
    key_common(attrs, origin);
    // Per-use authentication: set at creation only, then read-only (register A79).
    attrs.default_bool(CKA_ALWAYS_AUTHENTICATE, false);
    let rsa = key_type == CKK_RSA;
    attrs.default_bool(CKA_SIGN, true);
    attrs.default_bool(CKA_DECRYPT, rsa);
    attrs.default_bool(CKA_UNWRAP, rsa);
    attrs.default_bool(CKA_SIGN_RECOVER, rsa);
    attrs.default_bool(CKA_WRAP_WITH_TRUSTED, false);
    let info = public_key_info(attrs, key_type, true)?;
    attrs.set(CKA_PUBLIC_KEY_INFO, info);
    key_history(attrs, origin);
    Ok(())
}

/// The DER SubjectPublicKeyInfo (`CKA_PUBLIC_KEY_INFO`) of a checked public or private key.
fn public_key_info(attrs: &AttrMap, key_type: CkKeyType, private: bool) -> SimResult<Vec<u8>> {
    match key_type {
        CKK_RSA => {
            let key = if private {
                rsa::private_key(attrs)?.as_public_key().clone()
            } else {
                rsa::public_key(attrs)?
            };
            rsa::public_key_info(&key)
        }
        CKK_EC_EDWARDS if private => eddsa::public_key_info_of_seed(attrs.value()?),
        CKK_EC_EDWARDS => eddsa::public_key_info(attrs.get(CKA_EC_POINT).unwrap_or(&[])),
        _ if private => ec::SigningKey::of(attrs)?.public_key_info(),
        _ => ec::VerifyingKey::of(attrs)?.public_key_info(),
    }
}

/// Checks `CKA_EC_PARAMS`: the curves of [`Curve`] are accepted, another named curve is
/// `CKR_CURVE_NOT_SUPPORTED`, anything that is not a DER OID is `CKR_DOMAIN_PARAMS_INVALID`.
pub(crate) fn check_ec_params(params: &[u8]) -> SimResult<()> {
    Curve::from_params(params).map(|_| ())
}

/// Whether `C_SetAttributeValue` (`copy` false) or `C_CopyObject` (`copy` true) may give the
/// attribute `kind` of an object of `class` the value `new` in place of `old`.
fn change_allowed(
    class: CkObjectClass,
    kind: CkAttributeType,
    old: Option<&[u8]>,
    new: &[u8],
    copy: bool,
) -> bool {
    let old_flag = old.and_then(decode_bool);
    let new_flag = decode_bool(new);
    match kind {
        CKA_LABEL | CKA_ID | CKA_SUBJECT | CKA_APPLICATION | CKA_OBJECT_ID | CKA_ISSUER
        | CKA_SERIAL_NUMBER | CKA_ENCRYPT | CKA_DECRYPT | CKA_SIGN | CKA_VERIFY | CKA_WRAP
        | CKA_UNWRAP | CKA_DERIVE | CKA_SIGN_RECOVER | CKA_VERIFY_RECOVER | CKA_START_DATE
        | CKA_END_DATE => true,
        CKA_VALUE => class == CKO_DATA,
        // Only false -> true (or unchanged).
        CKA_SENSITIVE | CKA_WRAP_WITH_TRUSTED => new_flag == Some(true) || old_flag == new_flag,
        // Only the Partition SO changes it (`set_trusted`).
        CKA_TRUSTED => old_flag == new_flag,
        // Only true -> false (or unchanged).
        CKA_EXTRACTABLE | CKA_COPYABLE | CKA_DESTROYABLE => {
            new_flag == Some(false) || old_flag == new_flag
        }
        CKA_TOKEN | CKA_PRIVATE => copy,
        CKA_MODIFIABLE => copy && (new_flag == Some(false) || old_flag == new_flag),
        _ => false,
    }
}

/// Applies `template` to an existing object's attributes under the rules of
/// `C_SetAttributeValue` (`copy` false) or `C_CopyObject` (`copy` true).
pub(crate) fn apply_changes(
    current: &AttrMap,
    template: &[Attribute],
    copy: bool,
) -> SimResult<AttrMap> {
    if copy {
        if !current.flag(CKA_COPYABLE).unwrap_or(true) {
            return Err(SimError::ActionProhibited);
        }
    } else if !current.flag(CKA_MODIFIABLE).unwrap_or(true) {
        return Err(SimError::ActionProhibited);
    }
    let class = current
        .ulong(CKA_CLASS)
        .ok_or(SimError::Corrupt("object without class".into()))?;
    let changes = AttrMap::from_template(template)?;
    let mut next = current.clone();
    let key_type = current.ulong(CKA_KEY_TYPE);
    for (kind, value) in changes.iter() {
        if !valid_for(class, key_type, kind) {
            return Err(SimError::AttributeTypeInvalid(kind));
        }
        let old = current.get(kind);
        if !change_allowed(class, kind, old, value, copy) {
            return Err(SimError::AttributeReadOnly(kind));
        }
        if old != Some(value) {
            next.set_slice(kind, value);
        }
    }
    check_values(&next)?;
    Ok(next)
}

/// `C_SetAttributeValue` of `CKA_TRUSTED` alone, which only the Partition SO may do (on the
/// public keys and certificates it sees; register A77).
pub(crate) fn set_trusted(current: &AttrMap, template: &[Attribute]) -> SimResult<AttrMap> {
    if !current.flag(CKA_MODIFIABLE).unwrap_or(true) {
        return Err(SimError::ActionProhibited);
    }
    let class = current
        .ulong(CKA_CLASS)
        .ok_or(SimError::Corrupt("object without class".into()))?;
    if !valid_for(class, current.ulong(CKA_KEY_TYPE), CKA_TRUSTED) {
        return Err(SimError::AttributeTypeInvalid(CKA_TRUSTED));
    }
    let mut next = current.clone();
    for attribute in AttrMap::from_template(template)?.iter() {
        next.set_slice(CKA_TRUSTED, attribute.1);
    }
    Ok(next)
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

    fn aes_template(sensitive: bool) -> AttrMap {
        AttrMap::from_template(&[
            Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
            Attribute::bytes(CKA_VALUE, vec![7; 16]),
            Attribute::bool(CKA_SENSITIVE, sensitive),
        ])
        .unwrap()
    }

    #[test]
    fn created_aes_key_gets_defaults_and_history() {
        let attrs = build_object(aes_template(true), &[], Origin::Created).unwrap();
        assert_eq!(attrs.ulong(CKA_VALUE_LEN), Some(16));
        assert!(!attrs.is(CKA_LOCAL));
        assert!(!attrs.is(CKA_ALWAYS_SENSITIVE));
        assert!(attrs.is(CKA_EXTRACTABLE));
        assert!(attrs.is(CKA_PRIVATE));
        assert_eq!(attrs.get(CKA_CHECK_VALUE).map(<[u8]>::len), Some(3));
        assert!(is_unreadable(&attrs, CKA_VALUE));
        let generated =
            build_object(aes_template(true), &[], Origin::Generated(CKM_AES_KEY_GEN)).unwrap();
        assert!(generated.is(CKA_LOCAL));
        assert!(generated.is(CKA_ALWAYS_SENSITIVE));
        assert!(!generated.is(CKA_NEVER_EXTRACTABLE));
    }

    #[test]
    fn sensitive_only_goes_false_to_true_and_extractable_only_true_to_false() {
        let attrs = build_object(aes_template(false), &[], Origin::Created).unwrap();
        let up = apply_changes(&attrs, &[Attribute::bool(CKA_SENSITIVE, true)], false).unwrap();
        assert_eq!(
            apply_changes(&up, &[Attribute::bool(CKA_SENSITIVE, false)], false),
            Err(SimError::AttributeReadOnly(CKA_SENSITIVE))
        );
        let down =
            apply_changes(&attrs, &[Attribute::bool(CKA_EXTRACTABLE, false)], false).unwrap();
        assert_eq!(
            apply_changes(&down, &[Attribute::bool(CKA_EXTRACTABLE, true)], false),
            Err(SimError::AttributeReadOnly(CKA_EXTRACTABLE))
        );
        assert_eq!(
            apply_changes(&attrs, &[Attribute::bytes(CKA_VALUE, vec![1; 16])], false),
            Err(SimError::AttributeReadOnly(CKA_VALUE))
        );
    }

    #[test]
    fn ec_params_of_other_curves_are_not_supported() {
        assert_eq!(check_ec_params(&P256_EC_PARAMS), Ok(()));
        assert_eq!(check_ec_params(&ec::P384_EC_PARAMS), Ok(()));
        assert_eq!(check_ec_params(&ec::SECP256K1_EC_PARAMS), Ok(()));
        // secp192k1
        assert_eq!(
            check_ec_params(&[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x1F]),
            Err(SimError::CurveNotSupported)
        );
        assert_eq!(
            check_ec_params(&[0x30, 0x00]),
            Err(SimError::DomainParamsInvalid)
        );
    }

    /// Register A81: a clone must be an object this token could hold as it is.
    #[test]
    fn a_clone_is_refused_unless_building_it_again_changes_nothing() {
        let mut good =
            build_object(aes_template(true), &[], Origin::Generated(CKM_AES_KEY_GEN)).unwrap();
        good.set(CKA_OUID, vec![9; OUID_LEN]);
        assert_eq!(check_cloned(&good), Ok(()));
        let changed = |change: &dyn Fn(&mut AttrMap)| {
            let mut attrs = good.clone();
            change(&mut attrs);
            check_cloned(&attrs)
        };
        // Each a different check: the form of a value, the OUID, an attribute of another
        // class, key material that is no key, a derived value that does not match, a history
        // the key cannot have, a template that does not decode, a length that disagrees.
        type Change = dyn Fn(&mut AttrMap);
        let refusals: [(&str, &Change); 9] = [
            ("a two-byte CK_BBOOL", &|a| a.set(CKA_SENSITIVE, vec![1, 1])),
            ("a short OUID", &|a| a.set(CKA_OUID, vec![9; 3])),
            ("no OUID", &|a| {
                let mut without = AttrMap::new();
                for (kind, value) in a.iter().filter(|(kind, _)| *kind != CKA_OUID) {
                    without.set_slice(kind, value);
                }
                *a = without;
            }),
            ("a modulus on an AES key", &|a| {
                a.set(CKA_MODULUS, vec![1; 8])
            }),
            ("a seven-byte AES key", &|a| {
                a.set(CKA_VALUE, vec![7; 7]);
                a.set_ulong(CKA_VALUE_LEN, 7);
            }),
            ("a check value of other bytes", &|a| {
                a.set(CKA_CHECK_VALUE, vec![0; 3]);
            }),
            ("always sensitive, not sensitive", &|a| {
                a.set_bool(CKA_SENSITIVE, false);
            }),
            ("a template that does not decode", &|a| {
                a.set(CKA_WRAP_TEMPLATE, vec![0xFF; 5]);
            }),
            ("a length other than the value's", &|a| {
                a.set_ulong(CKA_VALUE_LEN, 32);
            }),
        ];
        for (what, change) in refusals {
            assert!(changed(change).is_err(), "{what} was accepted");
        }
    }

    /// A clone's history is one this token makes: local exactly when it names the mechanism
    /// that generates its key type here; always sensitive or never extractable only if local
    /// or, a secret key, derived; a generic secret's or a certificate's check value the one
    /// this token computes, or none on an object made before it computed them (A81).
    #[test]
    fn a_clone_has_a_history_only_this_token_could_have_given_it() {
        let cloned = |mut attrs: AttrMap| {
            attrs.set(CKA_OUID, vec![9; OUID_LEN]);
            attrs
        };
        let generated = cloned(
            build_object(aes_template(true), &[], Origin::Generated(CKM_AES_KEY_GEN)).unwrap(),
        );
        let mut ec = AttrMap::from_template(&[
            Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
            Attribute::ulong(CKA_KEY_TYPE, CKK_EC),
            Attribute::bytes(CKA_EC_PARAMS, P256_EC_PARAMS.to_vec()),
            Attribute::bool(CKA_EXTRACTABLE, false),
        ])
        .unwrap();
        let mut scalar = vec![0; 32];
        scalar[31] = 7;
        ec.set(CKA_VALUE, scalar);
        let private =
            cloned(build_object(ec.clone(), &[], Origin::Generated(CKM_EC_KEY_PAIR_GEN)).unwrap());
        let unwrapped = cloned(build_object(ec, &[], Origin::Unwrapped).unwrap());
        let mut derived = cloned(build_object(aes_template(true), &[], Origin::Derived).unwrap());
        derived.set_bool(CKA_ALWAYS_SENSITIVE, true);
        let mut generic = aes_template(true);
        generic.set_ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET);
        let generic = cloned(build_object(generic, &[], Origin::Created).unwrap());
        assert_eq!(generic.get(CKA_CHECK_VALUE).map(<[u8]>::len), Some(3));
        let mut made_before_check_values = AttrMap::new();
        for (kind, value) in generic.iter().filter(|(kind, _)| *kind != CKA_CHECK_VALUE) {
            made_before_check_values.set_slice(kind, value);
        }
        let certificate = cloned(
            build_object(
                AttrMap::from_template(&[
                    Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE),
                    Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
                    Attribute::bytes(CKA_VALUE, b"not DER".to_vec()),
                ])
                .unwrap(),
                &[],
                Origin::Created,
            )
            .unwrap(),
        );
        for (what, attrs) in [
            ("a generated key", &generated),
            ("a generated private key", &private),
            ("an unwrapped private key", &unwrapped),
            ("a derived key always sensitive", &derived),
            ("a generic secret", &generic),
            (
                "a generic secret made before check values",
                &made_before_check_values,
            ),
            ("a certificate", &certificate),
        ] {
            assert_eq!(check_cloned(attrs), Ok(()), "{what} was refused");
        }
        type Change = dyn Fn(&mut AttrMap);
        let refusals: [(&str, &AttrMap, &Change); 8] = [
            ("local, no generation mechanism", &generated, &|a| {
                a.set_ulong(CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION);
            }),
            ("a generation mechanism, not local", &generated, &|a| {
                a.set_bool(CKA_LOCAL, false);
            }),
            ("a mechanism that makes no AES key", &generated, &|a| {
                a.set_ulong(CKA_KEY_GEN_MECHANISM, CKM_GENERIC_SECRET_KEY_GEN);
            }),
            (
                "a private key never extractable, not local",
                &unwrapped,
                &|a| {
                    a.set_bool(CKA_NEVER_EXTRACTABLE, true);
                },
            ),
            (
                "a private key always sensitive, not local",
                &unwrapped,
                &|a| {
                    a.set_bool(CKA_ALWAYS_SENSITIVE, true);
                },
            ),
            (
                "a generic secret with another check value",
                &generic,
                &|a| {
                    a.set(CKA_CHECK_VALUE, vec![1, 2, 3]);
                },
            ),
            (
                "a certificate with another check value",
                &certificate,
                &|a| {
                    a.set(CKA_CHECK_VALUE, vec![1, 2, 3]);
                },
            ),
            ("an EC key made by the RSA generator", &private, &|a| {
                a.set_ulong(CKA_KEY_GEN_MECHANISM, CKM_RSA_PKCS_KEY_PAIR_GEN);
            }),
        ];
        for (what, good, change) in refusals {
            let mut attrs = good.clone();
            change(&mut attrs);
            assert!(check_cloned(&attrs).is_err(), "{what} was accepted");
        }
    }

    /// PKCS#11 v2.40 gives a generic secret and a certificate, as `CKA_CHECK_VALUE`, the first
    /// 3 bytes of the SHA-1 hash of their `CKA_VALUE` (FIPS 180-2 appendix A: SHA-1 of "abc" is
    /// a9993e36..., of the 56-byte "abcdbcde...nopq" 84983e44...), whether or not a
    /// certificate's value parses; a generic secret shorter than 16 bytes gets none, and a
    /// template may not give one (A81).
    #[test]
    fn generic_secrets_and_certificates_carry_the_sha1_check_value_of_their_value() {
        let abc = [0xa9, 0x99, 0x3e];
        let generic_of = |value: &[u8]| {
            AttrMap::from_template(&[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
                Attribute::bytes(CKA_VALUE, value.to_vec()),
            ])
            .unwrap()
        };
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        let origins = [
            Origin::Created,
            Origin::Generated(CKM_GENERIC_SECRET_KEY_GEN),
            Origin::Unwrapped,
            Origin::Derived,
        ];
        for origin in origins {
            let built = build_object(generic_of(long), &[], origin).unwrap();
            assert_eq!(
                built.get(CKA_CHECK_VALUE),
                Some(&[0x84, 0x98, 0x3e][..]),
                "{origin:?}"
            );
            let sixteen = build_object(generic_of(&long[..16]), &[], origin).unwrap();
            assert_eq!(
                sixteen.get(CKA_CHECK_VALUE).map(<[u8]>::len),
                Some(3),
                "{origin:?}"
            );
            for short in [&b"abc"[..], &long[..15]] {
                let built = build_object(generic_of(short), &[], origin).unwrap();
                assert_eq!(
                    built.get(CKA_CHECK_VALUE),
                    None,
                    "{origin:?}, {} bytes",
                    short.len()
                );
            }
        }
        // A clone of a short secret carrying one is refused; without one it passes.
        let mut short_clone = build_object(generic_of(b"abc"), &[], Origin::Created).unwrap();
        short_clone.set(CKA_OUID, vec![7; 12]);
        assert!(check_cloned(&short_clone).is_ok());
        short_clone.set_slice(CKA_CHECK_VALUE, &abc);
        assert!(check_cloned(&short_clone).is_err());
        let mut generic = generic_of(b"abc");
        let certificate = AttrMap::from_template(&[
            Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE),
            Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
            Attribute::bytes(CKA_VALUE, b"abc".to_vec()),
        ])
        .unwrap();
        let built = build_object(certificate, &[], Origin::Created).unwrap();
        assert_eq!(built.get(CKA_CHECK_VALUE), Some(&abc[..]));
        generic.set_slice(CKA_CHECK_VALUE, &abc);
        assert!(matches!(
            build_object(generic, &[CKA_CHECK_VALUE], Origin::Created),
            Err(SimError::AttributeReadOnly(CKA_CHECK_VALUE))
        ));
    }
}
