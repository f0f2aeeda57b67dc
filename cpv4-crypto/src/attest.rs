//! Attestation chains: manufacturer root -> device -> partition, ECDSA P-256 with SHA-256.
//!
//! A [`ManufacturerRoot`] is a self-signed CA; it certifies [`DeviceIdentity`] CAs, which
//! certify [`PartitionIdentity`] leaves. The partition's key signs negotiation transcripts
//! ([`PartitionIdentity::sign`], [`verify_signature`]). A peer's chain (leaf first, root not
//! included) is checked against the roots one trusts with [`verify_chain`]; roots are named by
//! their [`RootId`], the SHA-256 of the root certificate's SubjectPublicKeyInfo DER.
//!
//! Time is always a parameter: seconds since the Unix epoch.

use core::fmt;
use core::time::Duration;

use der::asn1::{Any, AnyRef, ObjectIdentifier, Utf8StringRef};
use der::{DateTime, Decode, Encode};
use p256::ecdsa::signature::{Keypair, Signer, Verifier};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::scalar::IsHigh;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{
    AlgorithmIdentifier, SignatureAlgorithmIdentifier, SubjectPublicKeyInfoOwned,
    SubjectPublicKeyInfoRef,
};
use x509_cert::time::{Time, Validity};

use crate::ecdh::{ID_EC_PUBLIC_KEY, PRIME256V1};
use crate::secret::{Secret32, to_array};

/// `ecdsa-with-SHA256` (1.2.840.10045.4.3.2), the only certificate signature algorithm.
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `id-at-commonName` (2.5.4.3).
const ID_AT_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// `id-ce-basicConstraints` (2.5.29.19).
const ID_CE_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
/// `id-ce-keyUsage` (2.5.29.15).
const ID_CE_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

/// Most certificates a chain given to [`verify_chain`] may hold (the root is not counted).
pub const MAX_CHAIN_LEN: usize = 4;
/// Longest common name accepted when issuing (RFC 5280's `ub-common-name`).
pub const MAX_COMMON_NAME_LEN: usize = 64;
/// Length of a transcript signature: `r || s`, 32 bytes each.
pub const SIGNATURE_LEN: usize = 64;

/// Attestation errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AttestError {
    /// The chain does not verify to any trusted root: no trusted roots, no trusted root issued
    /// the last certificate, or a signature in the chain fails.
    #[error("the chain does not verify to a trusted root")]
    NoRoots,
    /// A certificate of the chain, or the root it chains to, is outside its validity period.
    #[error("a certificate is outside its validity period")]
    Expired,
    /// Unparsable DER, an algorithm other than ECDSA P-256 / SHA-256, an empty or too long
    /// chain, issuer and subject names that do not link, a non-leaf that is not a CA, or a leaf
    /// that is a CA or whose key usage excludes digital signatures.
    #[error("malformed certificate or chain")]
    Malformed,
    /// A transcript signature does not verify, or is the high-S twin (`s > n/2`) of one.
    #[error("bad signature")]
    BadSignature,
    /// A validity period whose start is after its end, or a time that X.509 cannot encode.
    #[error("invalid validity period")]
    InvalidValidity,
    /// A common name that is empty or longer than 64 bytes.
    #[error("invalid common name")]
    InvalidName,
    /// A stored secret key that does not belong to the stored certificate.
    #[error("the secret key does not match the certificate")]
    KeyMismatch,
    /// The certificate builder failed.
    #[error("certificate construction failed")]
    Build,
}

/// A certificate's validity period, in seconds since the Unix epoch (both ends inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValidityPeriod {
    /// First second of validity.
    pub not_before: u64,
    /// Last second of validity.
    pub not_after: u64,
}

impl ValidityPeriod {
    /// A period from `not_before` to `not_after`.
    #[must_use]
    pub const fn new(not_before: u64, not_after: u64) -> Self {
        Self {
            not_before,
            not_after,
        }
    }

    /// Whether `now` lies in the period.
    #[must_use]
    pub const fn contains(&self, now: u64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// Names a root: SHA-256 of the root certificate's SubjectPublicKeyInfo DER.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RootId(pub [u8; 32]);

impl RootId {
    /// The id of a root whose SubjectPublicKeyInfo DER is `spki_der`.
    #[must_use]
    pub fn from_spki_der(spki_der: &[u8]) -> Self {
        Self(Sha256::digest(spki_der).into())
    }

    /// The 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for RootId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootId(")?;
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// A certificate checked for the shape this crate accepts, with the fields the checks need.
struct ParsedCert {
    cert: Certificate,
    key: VerifyingKey,
    validity: ValidityPeriod,
    /// `Some(path_len_constraint)` for a CA certificate.
    ca: Option<Option<u8>>,
    /// Key usage bits, when the extension is present.
    key_usage: Option<KeyUsage>,
    /// SHA-256 of the SubjectPublicKeyInfo DER (the [`RootId`] if this is a root).
    spki_id: RootId,
}

impl ParsedCert {
    /// Parses one DER certificate: strict DER that re-encodes identically, ECDSA-SHA256 with
    /// matching inner and outer algorithms, a P-256 key, version 3, decodable basic
    /// constraints and key usage, no unknown critical extension.
    fn parse(der_bytes: &[u8]) -> Result<Self, AttestError> {
        let cert = Certificate::from_der(der_bytes).map_err(|_| AttestError::Malformed)?;
        if cert.to_der().map_err(|_| AttestError::Malformed)? != der_bytes {
            return Err(AttestError::Malformed);
        }
        let tbs = cert.tbs_certificate();
        if tbs.version() != Version::V3 {
            return Err(AttestError::Malformed);
        }
        let alg = cert.signature_algorithm();
        if alg.oid != ECDSA_WITH_SHA256 || alg.parameters.is_some() || tbs.signature() != alg {
            return Err(AttestError::Malformed);
        }
        let key = p256_key(tbs.subject_public_key_info())?;
        let spki_der = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|_| AttestError::Malformed)?;
        let spki_id = RootId::from_spki_der(&spki_der);
        let validity = ValidityPeriod::new(
            time_to_unix(tbs.validity().not_before),
            time_to_unix(tbs.validity().not_after),
        );
        for ext in tbs.extensions().map(|e| e.as_slice()).unwrap_or_default() {
            if ext.critical
                && ext.extn_id != ID_CE_BASIC_CONSTRAINTS
                && ext.extn_id != ID_CE_KEY_USAGE
            {
                return Err(AttestError::Malformed);
            }
        }
        let ca = match tbs
            .get_extension::<BasicConstraints>()
            .map_err(|_| AttestError::Malformed)?
        {
            Some((_, bc)) if bc.ca => Some(bc.path_len_constraint),
            _ => None,
        };
        let key_usage = tbs
            .get_extension::<KeyUsage>()
            .map_err(|_| AttestError::Malformed)?
            .map(|(_, ku)| ku);
        Ok(Self {
            cert,
            key,
            validity,
            ca,
            key_usage,
            spki_id,
        })
    }

    /// Verifies this certificate's signature with `issuer_key`.
    ///
    /// Unlike transcript signatures, both `s` forms are accepted here: certificates issued
    /// before this crate normalized its certificate signatures (about half of them high-S) are
    /// stored by existing devices, and a twin of a certificate certifies nothing new (same TBS,
    /// and [`verify_chain`] returns only the leaf key and the root id).
    fn signed_by(&self, issuer_key: &VerifyingKey) -> bool {
        let Ok(tbs_der) = self.cert.tbs_certificate().to_der() else {
            return false;
        };
        let Some(sig_der) = self.cert.signature().as_bytes() else {
            return false;
        };
        let Ok(sig) = DerSignature::from_bytes(sig_der) else {
            return false;
        };
        issuer_key.verify(&tbs_der, &sig).is_ok()
    }

    fn subject(&self) -> &Name {
        self.cert.tbs_certificate().subject()
    }

    fn issuer(&self) -> &Name {
        self.cert.tbs_certificate().issuer()
    }

    /// A CA that may sign certificates and has `below` CA certificates under it in the path.
    fn may_issue(&self, below: usize) -> bool {
        let path_ok = match self.ca {
            None => false,
            Some(None) => true,
            Some(Some(limit)) => below <= usize::from(limit),
        };
        let usage_ok = self.key_usage.is_none_or(|ku| ku.key_cert_sign());
        path_ok && usage_ok
    }
}

/// The P-256 key of a SubjectPublicKeyInfo with `id-ecPublicKey` / `prime256v1`.
fn p256_key(spki: &SubjectPublicKeyInfoOwned) -> Result<VerifyingKey, AttestError> {
    if spki.algorithm.oid != ID_EC_PUBLIC_KEY {
        return Err(AttestError::Malformed);
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|params| params.decode_as::<ObjectIdentifier>().ok());
    if curve != Some(PRIME256V1) {
        return Err(AttestError::Malformed);
    }
    let point = spki
        .subject_public_key
        .as_bytes()
        .ok_or(AttestError::Malformed)?;
    VerifyingKey::from_sec1_bytes(point).map_err(|_| AttestError::Malformed)
}

fn time_to_unix(time: Time) -> u64 {
    time.to_unix_duration().as_secs()
}

fn unix_to_time(secs: u64) -> Result<Time, AttestError> {
    let date = DateTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(|_| AttestError::InvalidValidity)?;
    Ok(Time::from(date))
}

/// A name with one RDN: the common name as a UTF8String.
fn common_name(cn: &str) -> Result<Name, AttestError> {
    if cn.is_empty() || cn.len() > MAX_COMMON_NAME_LEN {
        return Err(AttestError::InvalidName);
    }
    let value = Utf8StringRef::new(cn)
        .and_then(|s| Any::encode_from(&s))
        .map_err(|_| AttestError::InvalidName)?;
    let atv = AttributeTypeAndValue {
        oid: ID_AT_COMMON_NAME,
        value,
    };
    let rdn =
        RelativeDistinguishedName::try_from(vec![atv]).map_err(|_| AttestError::InvalidName)?;
    let rdns = RdnSequence::from(vec![rdn]);
    let der_bytes = rdns.to_der().map_err(|_| AttestError::InvalidName)?;
    Name::from_der(&der_bytes).map_err(|_| AttestError::InvalidName)
}

/// Our certificate profile: basic constraints and key usage (both critical), subject and
/// authority key identifiers.
struct Cpv4Profile {
    issuer: Name,
    subject: Name,
    /// `Some(path_len_constraint)` for a CA.
    ca: Option<Option<u8>>,
}

impl BuilderProfile for Cpv4Profile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut extensions = Vec::new();
        let basic = BasicConstraints {
            ca: self.ca.is_some(),
            path_len_constraint: self.ca.flatten(),
        };
        extensions.push((true, &basic).to_extension(tbs.subject(), &extensions)?);
        let usage = if self.ca.is_some() {
            KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)
        } else {
            KeyUsage(KeyUsages::DigitalSignature.into())
        };
        extensions.push((true, &usage).to_extension(tbs.subject(), &extensions)?);
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        extensions.push((false, &ski).to_extension(tbs.subject(), &extensions)?);
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(SubjectKeyIdentifier::try_from(issuer_spk)?.0),
            ..Default::default()
        };
        extensions.push((false, &aki).to_extension(tbs.subject(), &extensions)?);
        Ok(extensions)
    }
}

/// Signs certificates with a [`SigningKey`], always producing the low-S form of the signature.
///
/// `p256` does not normalize ECDSA signatures (`NORMALIZE_S` is false for P-256): half of them
/// would have `s > n/2`. Issuing only low-S certificates keeps the door open to refusing high-S
/// certificate signatures later without invalidating what this crate issued.
struct LowSSigner<'a>(&'a SigningKey);

impl Keypair for LowSSigner<'_> {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        *self.0.verifying_key()
    }
}

impl SignatureAlgorithmIdentifier for LowSSigner<'_> {
    type Params = AnyRef<'static>;

    const SIGNATURE_ALGORITHM_IDENTIFIER: AlgorithmIdentifier<Self::Params> =
        <SigningKey as SignatureAlgorithmIdentifier>::SIGNATURE_ALGORITHM_IDENTIFIER;
}

impl Signer<DerSignature> for LowSSigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> Result<DerSignature, p256::ecdsa::signature::Error> {
        let signature: Signature = self.0.try_sign(msg)?;
        Ok(signature.normalize_s().to_der())
    }
}

/// What every identity holds: its certificate and its signing key (wiped on drop by `p256`).
struct Identity {
    cert_der: Vec<u8>,
    parsed: ParsedCert,
    key: SigningKey,
}

impl Identity {
    /// Issues a certificate for a new key. `issuer` is `None` for a self-signed root.
    fn issue<R: CryptoRng + ?Sized>(
        issuer: Option<&Identity>,
        rng: &mut R,
        cn: &str,
        validity: ValidityPeriod,
        ca: Option<Option<u8>>,
    ) -> Result<Self, AttestError> {
        if validity.not_before > validity.not_after {
            return Err(AttestError::InvalidValidity);
        }
        let subject = common_name(cn)?;
        let key = SigningKey::generate_from_rng(rng);
        let spki = SubjectPublicKeyInfoOwned::from_key(key.verifying_key())
            .map_err(|_| AttestError::Build)?;
        let validity = Validity::new(
            unix_to_time(validity.not_before)?,
            unix_to_time(validity.not_after)?,
        );
        let profile = Cpv4Profile {
            issuer: issuer.map_or_else(|| subject.clone(), |i| i.parsed.subject().clone()),
            subject,
            ca,
        };
        let serial = SerialNumber::generate(rng);
        let builder = CertificateBuilder::new(profile, serial, validity, spki)
            .map_err(|_| AttestError::Build)?;
        let signer = LowSSigner(issuer.map_or(&key, |i| &i.key));
        let cert = builder
            .build::<_, DerSignature>(&signer)
            .map_err(|_| AttestError::Build)?;
        let cert_der = cert.to_der().map_err(|_| AttestError::Build)?;
        let parsed = ParsedCert::parse(&cert_der).map_err(|_| AttestError::Build)?;
        Ok(Self {
            cert_der,
            parsed,
            key,
        })
    }

    /// Restores from stored parts, checking that the key belongs to the certificate.
    fn from_parts(cert_der: &[u8], secret_key: &[u8]) -> Result<Self, AttestError> {
        let parsed = ParsedCert::parse(cert_der)?;
        let key = SigningKey::from_slice(secret_key).map_err(|_| AttestError::KeyMismatch)?;
        if key.verifying_key() != &parsed.key {
            return Err(AttestError::KeyMismatch);
        }
        Ok(Self {
            cert_der: cert_der.to_vec(),
            parsed,
            key,
        })
    }

    fn secret_key_bytes(&self) -> Secret32 {
        let mut bytes = self.key.to_bytes();
        let secret = Secret32::from_bytes(to_array(bytes.as_slice()));
        zeroize::Zeroize::zeroize(&mut bytes);
        secret
    }
}

/// Implements the accessors that the three identity types share.
macro_rules! identity_accessors {
    ($name:ident) => {
        impl $name {
            /// The certificate, DER.
            #[must_use]
            pub fn certificate_der(&self) -> &[u8] {
                &self.0.cert_der
            }

            /// The certificate's validity period.
            #[must_use]
            pub fn validity(&self) -> ValidityPeriod {
                self.0.parsed.validity
            }

            /// The public key of the certified key pair.
            #[must_use]
            pub fn verifying_key(&self) -> &VerifyingKey {
                self.0.key.verifying_key()
            }

            /// The 32-byte secret scalar, for encrypted persistence.
            #[must_use]
            pub fn secret_key_bytes(&self) -> Secret32 {
                self.0.secret_key_bytes()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("validity", &self.0.parsed.validity)
                    .finish_non_exhaustive()
            }
        }
    };
}

/// A manufacturer's self-signed root CA and its key.
pub struct ManufacturerRoot(Identity);

identity_accessors!(ManufacturerRoot);

impl ManufacturerRoot {
    /// Makes a new root key and its self-signed CA certificate (no path length limit).
    ///
    /// # Errors
    ///
    /// [`AttestError::InvalidName`], [`AttestError::InvalidValidity`], or
    /// [`AttestError::Build`].
    pub fn generate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        common_name: &str,
        validity: ValidityPeriod,
    ) -> Result<Self, AttestError> {
        Identity::issue(None, rng, common_name, validity, Some(None)).map(Self)
    }

    /// Restores a stored root from its certificate DER and 32-byte secret key.
    ///
    /// # Errors
    ///
    /// [`AttestError::Malformed`] if the certificate is not a self-signed P-256 CA,
    /// [`AttestError::KeyMismatch`] if the key is not the certificate's.
    pub fn from_parts(cert_der: &[u8], secret_key: &[u8]) -> Result<Self, AttestError> {
        let identity = Identity::from_parts(cert_der, secret_key)?;
        let parsed = &identity.parsed;
        if parsed.ca.is_none()
            || parsed.issuer() != parsed.subject()
            || !parsed.signed_by(&parsed.key)
        {
            return Err(AttestError::Malformed);
        }
        Ok(Self(identity))
    }

    /// This root's id.
    #[must_use]
    pub const fn root_id(&self) -> RootId {
        self.0.parsed.spki_id
    }

    /// This root as a trust anchor.
    #[must_use]
    pub fn trusted_root(&self) -> TrustedRoot {
        TrustedRoot::from_parsed(self.0.cert_der.clone(), clone_parsed(&self.0.parsed))
    }
}

/// A device (HSM) CA certified by a manufacturer root, and its key.
pub struct DeviceIdentity(Identity);

identity_accessors!(DeviceIdentity);

impl DeviceIdentity {
    /// Makes a new device key and a CA certificate for it (path length 0) signed by `root`.
    /// `common_name` is typically the HSM serial number.
    ///
    /// # Errors
    ///
    /// [`AttestError::InvalidName`], [`AttestError::InvalidValidity`], or
    /// [`AttestError::Build`].
    pub fn issue<R: CryptoRng + ?Sized>(
        root: &ManufacturerRoot,
        rng: &mut R,
        common_name: &str,
        validity: ValidityPeriod,
    ) -> Result<Self, AttestError> {
        Identity::issue(Some(&root.0), rng, common_name, validity, Some(Some(0))).map(Self)
    }

    /// Restores a stored device identity from its certificate DER and 32-byte secret key.
    ///
    /// # Errors
    ///
    /// [`AttestError::Malformed`] if the certificate is not a P-256 CA certificate,
    /// [`AttestError::KeyMismatch`] if the key is not the certificate's.
    pub fn from_parts(cert_der: &[u8], secret_key: &[u8]) -> Result<Self, AttestError> {
        let identity = Identity::from_parts(cert_der, secret_key)?;
        if identity.parsed.ca.is_none() {
            return Err(AttestError::Malformed);
        }
        Ok(Self(identity))
    }
}

/// A partition's leaf certificate, signed by its device, and the partition's signing key.
pub struct PartitionIdentity(Identity);

identity_accessors!(PartitionIdentity);

impl PartitionIdentity {
    /// Makes a new partition signing key and a leaf certificate for it signed by `device`.
    ///
    /// # Errors
    ///
    /// [`AttestError::InvalidName`], [`AttestError::InvalidValidity`], or
    /// [`AttestError::Build`].
    pub fn issue<R: CryptoRng + ?Sized>(
        device: &DeviceIdentity,
        rng: &mut R,
        common_name: &str,
        validity: ValidityPeriod,
    ) -> Result<Self, AttestError> {
        Identity::issue(Some(&device.0), rng, common_name, validity, None).map(Self)
    }

    /// Restores a stored partition identity from its certificate DER and 32-byte secret key.
    ///
    /// # Errors
    ///
    /// [`AttestError::Malformed`] if the certificate is not a P-256 certificate,
    /// [`AttestError::KeyMismatch`] if the key is not the certificate's.
    pub fn from_parts(cert_der: &[u8], secret_key: &[u8]) -> Result<Self, AttestError> {
        Identity::from_parts(cert_der, secret_key).map(Self)
    }

    /// Signs `msg` (a negotiation transcript) with ECDSA P-256 / SHA-256, deterministic
    /// nonces (RFC 6979); the signature is `r || s`, always in low-S form (`s <= n/2`), the
    /// only form [`verify_signature`] accepts.
    #[must_use]
    pub fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        let signature: Signature = self.0.key.sign(msg);
        // p256 leaves s as computed (NORMALIZE_S = false): pick the low-S one of the twins.
        signature.normalize_s().to_bytes().into()
    }
}

/// Verifies a transcript signature (`r || s`) made by [`PartitionIdentity::sign`].
///
/// Only the low-S form is accepted: for every valid `(r, s)`, `(r, n - s)` is valid too, and
/// accepting both would let anyone who sees a signature make a second, different encoding of
/// it without the key.
///
/// # Errors
///
/// [`AttestError::BadSignature`] if it does not verify or its `s` is above `n/2`.
pub fn verify_signature(
    key: &VerifyingKey,
    msg: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), AttestError> {
    let signature = Signature::from_slice(signature).map_err(|_| AttestError::BadSignature)?;
    if bool::from(signature.s().is_high()) {
        return Err(AttestError::BadSignature);
    }
    key.verify(msg, &signature)
        .map_err(|_| AttestError::BadSignature)
}

/// A root certificate one trusts, parsed, with its [`RootId`].
pub struct TrustedRoot {
    cert_der: Vec<u8>,
    parsed: ParsedCert,
    id: RootId,
}

impl TrustedRoot {
    /// Parses a trusted root certificate.
    ///
    /// # Errors
    ///
    /// [`AttestError::Malformed`] unless it is a self-signed ECDSA P-256 / SHA-256 CA
    /// certificate whose signature verifies.
    pub fn from_der(cert_der: &[u8]) -> Result<Self, AttestError> {
        let parsed = ParsedCert::parse(cert_der)?;
        if parsed.ca.is_none()
            || parsed.issuer() != parsed.subject()
            || !parsed.signed_by(&parsed.key)
        {
            return Err(AttestError::Malformed);
        }
        Ok(Self::from_parsed(cert_der.to_vec(), parsed))
    }

    fn from_parsed(cert_der: Vec<u8>, parsed: ParsedCert) -> Self {
        let id = parsed.spki_id;
        Self {
            cert_der,
            parsed,
            id,
        }
    }

    /// The root's id.
    #[must_use]
    pub const fn id(&self) -> RootId {
        self.id
    }

    /// The certificate, DER.
    #[must_use]
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate's validity period.
    #[must_use]
    pub const fn validity(&self) -> ValidityPeriod {
        self.parsed.validity
    }
}

impl Clone for TrustedRoot {
    fn clone(&self) -> Self {
        Self {
            cert_der: self.cert_der.clone(),
            parsed: clone_parsed(&self.parsed),
            id: self.id,
        }
    }
}

impl fmt::Debug for TrustedRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedRoot")
            .field("id", &self.id)
            .field("validity", &self.parsed.validity)
            .finish_non_exhaustive()
    }
}

fn clone_parsed(parsed: &ParsedCert) -> ParsedCert {
    ParsedCert {
        cert: parsed.cert.clone(),
        key: parsed.key,
        validity: parsed.validity,
        ca: parsed.ca,
        key_usage: parsed.key_usage,
        spki_id: parsed.spki_id,
    }
}

/// The result of a successful [`verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    leaf_key: VerifyingKey,
    root_id: RootId,
    peer: PeerIdentity,
}

/// Who a verified chain names: the peer partition, as its certificates say, for applications
/// to show and, if they wish, pin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerIdentity {
    /// The HSM serial: the common name of the device certificate that issued the leaf.
    pub hsm_serial: String,
    /// The partition: the common name of the leaf (partition) certificate.
    pub partition: String,
    /// SHA-256 of the leaf's SubjectPublicKeyInfo DER: the partition's key, stable across
    /// certificate renewals with the same key.
    pub leaf_spki_sha256: [u8; 32],
}

/// The common name of `name` if it has a UTF8String one, else the whole name as text.
fn name_text(name: &Name) -> String {
    match name.by_oid::<Utf8StringRef<'_>>(ID_AT_COMMON_NAME) {
        Ok(Some(cn)) => cn.as_str().to_owned(),
        _ => name.to_string(),
    }
}

impl VerifiedChain {
    /// The peer partition the chain names.
    #[must_use]
    pub const fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    /// The leaf's (the peer partition's) signature key.
    #[must_use]
    pub const fn leaf_key(&self) -> &VerifyingKey {
        &self.leaf_key
    }

    /// The leaf's key as a `p256` public key.
    #[must_use]
    pub fn leaf_public_key(&self) -> p256::PublicKey {
        p256::PublicKey::from(&self.leaf_key)
    }

    /// The trusted root the chain verified to.
    #[must_use]
    pub const fn root_id(&self) -> RootId {
        self.root_id
    }
}

/// Verifies an attestation chain, leaf first, root not included, against `trusted` at `now`.
///
/// Checks, in this order: the shape (1 to [`MAX_CHAIN_LEN`] certificates, each strict DER
/// ECDSA P-256 / SHA-256 version 3; a leaf that is not a CA and whose key usage, if present,
/// allows digital signatures; each issuer name equal to the next certificate's subject;
/// every issuing certificate a CA allowed by its path length and key usage) giving
/// [`AttestError::Malformed`]; every link's signature with the issuer's key and a trusted root
/// whose subject is the last issuer and whose key verifies the last certificate, giving
/// [`AttestError::NoRoots`]; then the validity of every certificate and of that root at `now`,
/// giving [`AttestError::Expired`].
///
/// # Errors
///
/// As above.
pub fn verify_chain<C: AsRef<[u8]>>(
    chain: &[C],
    trusted: &[TrustedRoot],
    now: u64,
) -> Result<VerifiedChain, AttestError> {
    if chain.is_empty() || chain.len() > MAX_CHAIN_LEN {
        return Err(AttestError::Malformed);
    }
    let certs = chain
        .iter()
        .map(|der_bytes| ParsedCert::parse(der_bytes.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let (leaf, last) = match (certs.first(), certs.last()) {
        (Some(leaf), Some(last)) => (leaf, last),
        _ => return Err(AttestError::Malformed),
    };
    // The leaf is the partition that signs transcripts: an end entity. A CA there (cA = true)
    // is a certificate issuer passing itself off as a partition; refuse it whatever its key
    // usage says (a CA with digitalSignature, or with no key usage, would pass the next check).
    if leaf.ca.is_some() || leaf.key_usage.is_some_and(|ku| !ku.digital_signature()) {
        return Err(AttestError::Malformed);
    }
    // `below` counts the CA certificates between an issuer and the leaf.
    for (below, pair) in certs.windows(2).enumerate() {
        let [child, issuer] = pair else {
            return Err(AttestError::Malformed);
        };
        if child.issuer() != issuer.subject() || !issuer.may_issue(below) {
            return Err(AttestError::Malformed);
        }
    }
    for pair in certs.windows(2) {
        let [child, issuer] = pair else {
            return Err(AttestError::Malformed);
        };
        if !child.signed_by(&issuer.key) {
            return Err(AttestError::NoRoots);
        }
    }
    let below_root = certs.len().saturating_sub(1);
    let root = trusted
        .iter()
        .find(|root| {
            root.parsed.subject() == last.issuer()
                && root.parsed.may_issue(below_root)
                && last.signed_by(&root.parsed.key)
        })
        .ok_or(AttestError::NoRoots)?;
    let all_valid = certs
        .iter()
        .map(|cert| cert.validity)
        .chain([root.parsed.validity])
        .all(|validity| validity.contains(now));
    if !all_valid {
        return Err(AttestError::Expired);
    }
    Ok(VerifiedChain {
        leaf_key: leaf.key,
        root_id: root.id,
        peer: PeerIdentity {
            hsm_serial: name_text(leaf.issuer()),
            partition: name_text(leaf.subject()),
            leaf_spki_sha256: leaf.spki_id.0,
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    const T0: u64 = 1_735_689_600;
    const VALIDITY: ValidityPeriod = ValidityPeriod::new(T0, T0 + 86_400);

    fn pki(rng: &mut ChaCha20Rng) -> (ManufacturerRoot, DeviceIdentity, PartitionIdentity) {
        let root = ManufacturerRoot::generate(rng, "root", VALIDITY).unwrap();
        let device = DeviceIdentity::issue(&root, rng, "device", VALIDITY).unwrap();
        let partition = PartitionIdentity::issue(&device, rng, "partition", VALIDITY).unwrap();
        (root, device, partition)
    }

    #[test]
    fn non_ca_issuer_is_malformed() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (root, device, partition) = pki(&mut rng);
        // A certificate signed by the partition (a leaf, not a CA).
        let below_leaf =
            Identity::issue(Some(&partition.0), &mut rng, "x", VALIDITY, None).unwrap();
        let chain = [
            below_leaf.cert_der.as_slice(),
            partition.certificate_der(),
            device.certificate_der(),
        ];
        assert_eq!(
            verify_chain(&chain, &[root.trusted_root()], T0),
            Err(AttestError::Malformed)
        );
    }

    #[test]
    fn path_length_is_enforced() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let (root, device, _) = pki(&mut rng);
        // The device has path length 0: a CA under it may not issue.
        let sub_ca =
            Identity::issue(Some(&device.0), &mut rng, "sub", VALIDITY, Some(None)).unwrap();
        let leaf = Identity::issue(Some(&sub_ca), &mut rng, "leaf", VALIDITY, None).unwrap();
        let chain = [
            leaf.cert_der.as_slice(),
            sub_ca.cert_der.as_slice(),
            device.certificate_der(),
        ];
        assert_eq!(
            verify_chain(&chain, &[root.trusted_root()], T0),
            Err(AttestError::Malformed)
        );
        // Three CAs below a root without a limit are fine when each allows it.
        let ca1 = Identity::issue(Some(&root.0), &mut rng, "ca1", VALIDITY, Some(None)).unwrap();
        let ca2 = Identity::issue(Some(&ca1), &mut rng, "ca2", VALIDITY, Some(Some(1))).unwrap();
        let ca3 = Identity::issue(Some(&ca2), &mut rng, "ca3", VALIDITY, Some(Some(0))).unwrap();
        let leaf = Identity::issue(Some(&ca3), &mut rng, "leaf", VALIDITY, None).unwrap();
        let chain = [&leaf.cert_der, &ca3.cert_der, &ca2.cert_der, &ca1.cert_der];
        let verified = verify_chain(&chain, &[root.trusted_root()], T0).unwrap();
        assert_eq!(verified.leaf_key(), leaf.key.verifying_key());
    }
}
