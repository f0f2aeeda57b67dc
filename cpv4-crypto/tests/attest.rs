//! Attestation chains and transcript signatures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{assert_redacted, rng};
use cpv4_crypto::attest::{
    AttestError, DeviceIdentity, MAX_COMMON_NAME_LEN, ManufacturerRoot, PartitionIdentity, RootId,
    TrustedRoot, ValidityPeriod, verify_chain, verify_signature,
};
use sha2::{Digest, Sha256};

/// 2025-01-01T00:00:00Z.
const T0: u64 = 1_735_689_600;
const DAY: u64 = 86_400;

struct Pki {
    root: ManufacturerRoot,
    device: DeviceIdentity,
    partition: PartitionIdentity,
}

impl Pki {
    fn new(seed: u64) -> Self {
        Self::with_validities(
            seed,
            ValidityPeriod::new(T0, T0 + 3650 * DAY),
            ValidityPeriod::new(T0 + DAY, T0 + 1000 * DAY),
            ValidityPeriod::new(T0 + 2 * DAY, T0 + 365 * DAY),
        )
    }

    fn with_validities(
        seed: u64,
        root: ValidityPeriod,
        device: ValidityPeriod,
        partition: ValidityPeriod,
    ) -> Self {
        let mut rng = rng(seed);
        let root =
            ManufacturerRoot::generate(&mut rng, "cpv4-sim Manufacturer Root", root).unwrap();
        let device = DeviceIdentity::issue(&root, &mut rng, "HSM 150001", device).unwrap();
        let partition =
            PartitionIdentity::issue(&device, &mut rng, "partition 1 of HSM 150001", partition)
                .unwrap();
        Self {
            root,
            device,
            partition,
        }
    }

    fn chain(&self) -> Vec<Vec<u8>> {
        vec![
            self.partition.certificate_der().to_vec(),
            self.device.certificate_der().to_vec(),
        ]
    }

    fn trusted(&self) -> Vec<TrustedRoot> {
        vec![self.root.trusted_root()]
    }
}

const INSIDE: u64 = T0 + 10 * DAY;

#[test]
fn valid_chain_verifies() {
    let pki = Pki::new(1);
    let verified = verify_chain(&pki.chain(), &pki.trusted(), INSIDE).unwrap();
    assert_eq!(verified.root_id(), pki.root.root_id());
    assert_eq!(verified.leaf_key(), pki.partition.verifying_key());
    assert_eq!(
        verified.leaf_public_key(),
        p256::PublicKey::from(pki.partition.verifying_key())
    );
    // The chain also verifies when other, unrelated roots are trusted too.
    let other = Pki::new(2);
    let trusted = [other.root.trusted_root(), pki.root.trusted_root()];
    assert_eq!(
        verify_chain(&pki.chain(), &trusted, INSIDE)
            .unwrap()
            .root_id(),
        pki.root.root_id()
    );
}

#[test]
fn root_id_is_sha256_of_spki() {
    let pki = Pki::new(3);
    let root_der = pki.root.certificate_der();
    // Locate the SubjectPublicKeyInfo by parsing with x509-cert independently.
    use der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(root_der).unwrap();
    let spki_der = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    let expected: [u8; 32] = Sha256::digest(&spki_der).into();
    assert_eq!(pki.root.root_id(), RootId(expected));
    assert_eq!(pki.root.trusted_root().id(), RootId(expected));
    assert_eq!(
        TrustedRoot::from_der(root_der).unwrap().id(),
        RootId(expected)
    );
    assert_ne!(pki.root.root_id(), Pki::new(4).root.root_id());
}

#[test]
fn unrelated_root_gives_no_roots() {
    let pki = Pki::new(5);
    let other = Pki::new(6);
    assert_eq!(
        verify_chain(&pki.chain(), &other.trusted(), INSIDE),
        Err(AttestError::NoRoots)
    );
    assert_eq!(
        verify_chain(&pki.chain(), &[], INSIDE),
        Err(AttestError::NoRoots)
    );
}

#[test]
fn unrelated_root_with_the_same_name_gives_no_roots() {
    // Same subject name as the real root, different key: only the signature tells them apart.
    let pki = Pki::new(7);
    let impostor = ManufacturerRoot::generate(
        &mut rng(8),
        "cpv4-sim Manufacturer Root",
        ValidityPeriod::new(T0, T0 + 3650 * DAY),
    )
    .unwrap();
    assert_eq!(
        verify_chain(&pki.chain(), &[impostor.trusted_root()], INSIDE),
        Err(AttestError::NoRoots)
    );
}

#[test]
fn forged_link_gives_no_roots() {
    // A partition issued by another device with the same name: names link, signature fails.
    let pki = Pki::new(9);
    let mut rng = rng(10);
    let other_root = ManufacturerRoot::generate(
        &mut rng,
        "cpv4-sim Manufacturer Root",
        ValidityPeriod::new(T0, T0 + 3650 * DAY),
    )
    .unwrap();
    let other_device = DeviceIdentity::issue(
        &other_root,
        &mut rng,
        "HSM 150001",
        ValidityPeriod::new(T0, T0 + 1000 * DAY),
    )
    .unwrap();
    let forged = PartitionIdentity::issue(
        &other_device,
        &mut rng,
        "partition 1 of HSM 150001",
        ValidityPeriod::new(T0, T0 + 365 * DAY),
    )
    .unwrap();
    let chain = [forged.certificate_der(), pki.device.certificate_der()];
    assert_eq!(
        verify_chain(&chain, &pki.trusted(), INSIDE),
        Err(AttestError::NoRoots)
    );
}

#[test]
fn validity_is_checked_for_every_certificate() {
    let pki = Pki::new(11);
    let trusted = pki.trusted();
    let chain = pki.chain();
    // The partition's validity is the narrowest: [T0 + 2 days, T0 + 365 days].
    for now in [0, T0, T0 + 2 * DAY - 1, T0 + 365 * DAY + 1, T0 + 4000 * DAY] {
        assert_eq!(
            verify_chain(&chain, &trusted, now),
            Err(AttestError::Expired),
            "now = {now}"
        );
    }
    for now in [T0 + 2 * DAY, INSIDE, T0 + 365 * DAY] {
        assert!(verify_chain(&chain, &trusted, now).is_ok(), "now = {now}");
    }
}

#[test]
fn expired_root_or_device_gives_expired() {
    // Root valid only for 5 days, the rest for a year: expired after day 5 because of the root.
    let pki = Pki::with_validities(
        12,
        ValidityPeriod::new(T0, T0 + 5 * DAY),
        ValidityPeriod::new(T0, T0 + 365 * DAY),
        ValidityPeriod::new(T0, T0 + 365 * DAY),
    );
    assert!(verify_chain(&pki.chain(), &pki.trusted(), T0 + DAY).is_ok());
    assert_eq!(
        verify_chain(&pki.chain(), &pki.trusted(), T0 + 6 * DAY),
        Err(AttestError::Expired)
    );
    // The device is the one not yet valid.
    let pki = Pki::with_validities(
        13,
        ValidityPeriod::new(T0, T0 + 365 * DAY),
        ValidityPeriod::new(T0 + 30 * DAY, T0 + 365 * DAY),
        ValidityPeriod::new(T0, T0 + 365 * DAY),
    );
    assert_eq!(
        verify_chain(&pki.chain(), &pki.trusted(), T0 + DAY),
        Err(AttestError::Expired)
    );
    assert!(verify_chain(&pki.chain(), &pki.trusted(), T0 + 31 * DAY).is_ok());
}

#[test]
fn dates_after_2049_use_generalized_time() {
    // 2060-01-01 to 2100-01-01.
    let (start, end) = (2_840_140_800, 4_102_444_800);
    let pki = Pki::with_validities(
        14,
        ValidityPeriod::new(start, end),
        ValidityPeriod::new(start, end),
        ValidityPeriod::new(start, end),
    );
    assert!(verify_chain(&pki.chain(), &pki.trusted(), start + DAY).is_ok());
    assert_eq!(
        verify_chain(&pki.chain(), &pki.trusted(), end + 1),
        Err(AttestError::Expired)
    );
    assert_eq!(pki.partition.validity(), ValidityPeriod::new(start, end));
}

#[test]
fn malformed_chains() {
    let pki = Pki::new(15);
    let trusted = pki.trusted();
    let empty: [&[u8]; 0] = [];
    assert_eq!(
        verify_chain(&empty, &trusted, INSIDE),
        Err(AttestError::Malformed)
    );
    let leaf = pki.partition.certificate_der();
    let device = pki.device.certificate_der();
    let too_long = [leaf, device, device, device, device];
    assert_eq!(
        verify_chain(&too_long, &trusted, INSIDE),
        Err(AttestError::Malformed)
    );
    assert_eq!(
        verify_chain(&[b"not a certificate".as_slice()], &trusted, INSIDE),
        Err(AttestError::Malformed)
    );
    // Truncated and extended DER.
    assert_eq!(
        verify_chain(&[&leaf[..leaf.len() - 1], device], &trusted, INSIDE),
        Err(AttestError::Malformed)
    );
    let extended = [leaf, &[0u8][..]].concat();
    assert_eq!(
        verify_chain(&[extended.as_slice(), device], &trusted, INSIDE),
        Err(AttestError::Malformed)
    );
    // Wrong order: the names do not link.
    assert_eq!(
        verify_chain(&[device, leaf], &trusted, INSIDE),
        Err(AttestError::Malformed)
    );
    // Leaf and device repeated: the device's issuer is the root, not the device.
    assert_eq!(
        verify_chain(&[leaf, device, device], &trusted, INSIDE),
        Err(AttestError::Malformed)
    );
}

#[test]
fn short_chains() {
    let pki = Pki::new(16);
    // The device certificate alone: signed by the root, but its key usage (certificate
    // signing only) does not allow it to be the leaf that signs transcripts.
    assert_eq!(
        verify_chain(&[pki.device.certificate_der()], &pki.trusted(), INSIDE),
        Err(AttestError::Malformed)
    );
    // The partition alone: its issuer (the device) is not a trusted root.
    assert_eq!(
        verify_chain(&[pki.partition.certificate_der()], &pki.trusted(), INSIDE),
        Err(AttestError::NoRoots)
    );
    // With the device trusted as an anchor it would need to be self-signed: refused.
    assert!(TrustedRoot::from_der(pki.device.certificate_der()).is_err());
}

#[test]
fn every_tampered_byte_is_refused() {
    let pki = Pki::new(17);
    let trusted = pki.trusted();
    let chain = pki.chain();
    for which in 0..chain.len() {
        for i in 0..chain[which].len() {
            let mut tampered = chain.clone();
            tampered[which][i] ^= 0x01;
            assert!(
                verify_chain(&tampered, &trusted, INSIDE).is_err(),
                "flip of byte {i} of certificate {which} accepted"
            );
        }
    }
}

#[test]
fn tampered_trusted_root_is_refused() {
    let pki = Pki::new(18);
    let root = pki.root.certificate_der();
    for i in 0..root.len() {
        let mut tampered = root.to_vec();
        tampered[i] ^= 0x80;
        assert!(TrustedRoot::from_der(&tampered).is_err(), "byte {i}");
    }
    // A device (non-self-signed) certificate is no trust anchor.
    assert_eq!(
        TrustedRoot::from_der(pki.device.certificate_der()).unwrap_err(),
        AttestError::Malformed
    );
}

#[test]
fn transcript_signature_round_trip() {
    let pki = Pki::new(19);
    let msg = b"cpv4 transcript: offer || accept";
    let sig = pki.partition.sign(msg);
    assert_eq!(
        sig,
        pki.partition.sign(msg),
        "RFC 6979 signatures are deterministic"
    );
    let key = verify_chain(&pki.chain(), &pki.trusted(), INSIDE).unwrap();
    verify_signature(key.leaf_key(), msg, &sig).unwrap();
    for bit in 0..sig.len() * 8 {
        let mut flipped = sig;
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            verify_signature(key.leaf_key(), msg, &flipped),
            Err(AttestError::BadSignature),
            "bit {bit}"
        );
    }
    assert_eq!(
        verify_signature(key.leaf_key(), b"another transcript", &sig),
        Err(AttestError::BadSignature)
    );
    assert_eq!(
        verify_signature(pki.device.verifying_key(), msg, &sig),
        Err(AttestError::BadSignature)
    );
    assert_eq!(
        verify_signature(key.leaf_key(), msg, &[0u8; 64]),
        Err(AttestError::BadSignature)
    );
}

#[test]
fn identities_restore_from_stored_parts() {
    let pki = Pki::new(20);
    let root = ManufacturerRoot::from_parts(
        pki.root.certificate_der(),
        pki.root.secret_key_bytes().expose_secret(),
    )
    .unwrap();
    let device = DeviceIdentity::from_parts(
        pki.device.certificate_der(),
        pki.device.secret_key_bytes().expose_secret(),
    )
    .unwrap();
    let partition = PartitionIdentity::from_parts(
        pki.partition.certificate_der(),
        pki.partition.secret_key_bytes().expose_secret(),
    )
    .unwrap();
    assert_eq!(root.root_id(), pki.root.root_id());
    assert_eq!(device.verifying_key(), pki.device.verifying_key());
    assert_eq!(partition.sign(b"m"), pki.partition.sign(b"m"));
    // A restored device issues partitions that verify to the original root.
    let mut rng = rng(21);
    let new_partition = PartitionIdentity::issue(
        &device,
        &mut rng,
        "partition 2",
        ValidityPeriod::new(T0, T0 + 365 * DAY),
    )
    .unwrap();
    let chain = [new_partition.certificate_der(), device.certificate_der()];
    assert!(verify_chain(&chain, &[root.trusted_root()], INSIDE).is_ok());

    // Mismatched or malformed parts.
    assert_eq!(
        PartitionIdentity::from_parts(
            pki.partition.certificate_der(),
            pki.device.secret_key_bytes().expose_secret()
        )
        .unwrap_err(),
        AttestError::KeyMismatch
    );
    assert_eq!(
        PartitionIdentity::from_parts(pki.partition.certificate_der(), &[0u8; 32]).unwrap_err(),
        AttestError::KeyMismatch
    );
    assert_eq!(
        PartitionIdentity::from_parts(pki.partition.certificate_der(), &[1u8; 31]).unwrap_err(),
        AttestError::KeyMismatch
    );
    assert_eq!(
        PartitionIdentity::from_parts(b"junk", pki.partition.secret_key_bytes().expose_secret())
            .unwrap_err(),
        AttestError::Malformed
    );
    // A partition (leaf) certificate is neither a device CA nor a root.
    assert_eq!(
        DeviceIdentity::from_parts(
            pki.partition.certificate_der(),
            pki.partition.secret_key_bytes().expose_secret()
        )
        .unwrap_err(),
        AttestError::Malformed
    );
    assert_eq!(
        ManufacturerRoot::from_parts(
            pki.device.certificate_der(),
            pki.device.secret_key_bytes().expose_secret()
        )
        .unwrap_err(),
        AttestError::Malformed
    );
}

#[test]
fn issuing_refuses_bad_names_and_validity() {
    let mut rng = rng(22);
    let ok = ValidityPeriod::new(T0, T0 + DAY);
    assert_eq!(
        ManufacturerRoot::generate(&mut rng, "", ok).unwrap_err(),
        AttestError::InvalidName
    );
    let long = "x".repeat(MAX_COMMON_NAME_LEN + 1);
    assert_eq!(
        ManufacturerRoot::generate(&mut rng, &long, ok).unwrap_err(),
        AttestError::InvalidName
    );
    assert!(ManufacturerRoot::generate(&mut rng, &long[1..], ok).is_ok());
    assert_eq!(
        ManufacturerRoot::generate(&mut rng, "root", ValidityPeriod::new(T0 + 1, T0)).unwrap_err(),
        AttestError::InvalidValidity
    );
    assert_eq!(
        ManufacturerRoot::generate(&mut rng, "root", ValidityPeriod::new(T0, u64::MAX))
            .unwrap_err(),
        AttestError::InvalidValidity
    );
    // Names with characters that a string DN syntax would treat specially are fine.
    let root = ManufacturerRoot::generate(&mut rng, "Root, O=Evil\\+\"=", ok).unwrap();
    let device = DeviceIdentity::issue(&root, &mut rng, "CN=device", ok).unwrap();
    let partition = PartitionIdentity::issue(&device, &mut rng, "partition é", ok).unwrap();
    let chain = [partition.certificate_der(), device.certificate_der()];
    assert!(verify_chain(&chain, &[root.trusted_root()], T0).is_ok());
}

#[test]
fn debug_output_hides_signing_keys() {
    let pki = Pki::new(23);
    for (debug, secret) in [
        (format!("{:?}", pki.root), pki.root.secret_key_bytes()),
        (format!("{:?}", pki.device), pki.device.secret_key_bytes()),
        (
            format!("{:?}", pki.partition),
            pki.partition.secret_key_bytes(),
        ),
    ] {
        assert_redacted(&debug, secret.expose_secret());
    }
    let secret = pki.partition.secret_key_bytes();
    assert_redacted(&format!("{secret:?}"), secret.expose_secret());
    assert_eq!(format!("{secret:?}"), "Secret32([REDACTED])");
}

/// `(r, n - s)`: the other valid ECDSA signature of the same message under the same key.
fn high_s_twin(signature: &[u8; 64]) -> [u8; 64] {
    let parsed = p256::ecdsa::Signature::from_slice(signature).unwrap();
    let twin = p256::ecdsa::Signature::from_scalars(parsed.r(), -parsed.s()).unwrap();
    twin.to_bytes().into()
}

fn is_high_s(signature: &[u8; 64]) -> bool {
    use p256::elliptic_curve::scalar::IsHigh;
    let parsed = p256::ecdsa::Signature::from_slice(signature).unwrap();
    parsed.s().is_high().into()
}

#[test]
fn a_high_s_twin_of_a_transcript_signature_is_refused() {
    use p256::ecdsa::signature::Verifier;
    let pki = Pki::new(24);
    let key = pki.partition.verifying_key();
    // Several transcripts, so that both halves of the s range come up whatever `sign` does.
    for i in 0u32..16 {
        let msg = [b"cpv4 transcript ".as_slice(), &i.to_be_bytes()].concat();
        let sig = pki.partition.sign(&msg);
        verify_signature(key, &msg, &sig).unwrap();
        let twin = high_s_twin(&sig);
        assert_ne!(twin, sig);
        // The twin is a mathematically valid signature: plain ECDSA verification accepts it,
        // so only a low-S rule stops a relay from re-encoding a transcript signature.
        let plain = p256::ecdsa::Signature::from_slice(&twin).unwrap();
        assert!(key.verify(&msg, &plain).is_ok(), "message {i}");
        assert_eq!(
            verify_signature(key, &msg, &twin),
            Err(AttestError::BadSignature),
            "twin of the signature of message {i} accepted"
        );
    }
}

#[test]
fn transcript_signatures_are_always_low_s() {
    let pki = Pki::new(25);
    for i in 0u32..200 {
        let msg = [b"transcript ".as_slice(), &i.to_be_bytes()].concat();
        let sig = pki.partition.sign(&msg);
        assert!(!is_high_s(&sig), "signature of message {i} is high-S");
        verify_signature(pki.partition.verifying_key(), &msg, &sig).unwrap();
    }
}

#[test]
fn issued_certificate_signatures_are_always_low_s() {
    use der::Decode;
    let mut rng = rng(26);
    let validity = ValidityPeriod::new(T0, T0 + DAY);
    let root = ManufacturerRoot::generate(&mut rng, "root", validity).unwrap();
    let device = DeviceIdentity::issue(&root, &mut rng, "device", validity).unwrap();
    let mut certs = vec![
        root.certificate_der().to_vec(),
        device.certificate_der().to_vec(),
    ];
    for i in 0..60 {
        let partition =
            PartitionIdentity::issue(&device, &mut rng, &format!("partition {i}"), validity)
                .unwrap();
        certs.push(partition.certificate_der().to_vec());
    }
    for (i, der_bytes) in certs.iter().enumerate() {
        let cert = x509_cert::Certificate::from_der(der_bytes).unwrap();
        let sig_der = cert.signature().as_bytes().unwrap();
        let sig = p256::ecdsa::Signature::from_der(sig_der).unwrap();
        assert!(
            !is_high_s(&sig.to_bytes().into()),
            "certificate {i} is high-S"
        );
    }
}

/// Issues, with `issuer`'s key and name, a certificate for a new key with the given basic
/// constraints (`ca`) and key usage (`None`: no key usage extension), valid from `T0` for
/// 1000 days. Everything else is as this crate issues it, so only those two fields differ
/// from a genuine partition certificate.
fn issue_odd_certificate(
    issuer_cert: &[u8],
    issuer_secret: &[u8],
    seed: u64,
    ca: bool,
    usage: Option<x509_cert::ext::pkix::KeyUsage>,
) -> Vec<u8> {
    use der::{DateTime, Decode, Encode};
    use p256::ecdsa::{DerSignature, SigningKey};
    use p256::elliptic_curve::Generate;
    use std::str::FromStr;
    use x509_cert::builder::profile::BuilderProfile;
    use x509_cert::builder::{Builder, CertificateBuilder};
    use x509_cert::certificate::TbsCertificate;
    use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
    use x509_cert::ext::{Extension, ToExtension};
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
    use x509_cert::time::{Time, Validity};

    struct Odd {
        issuer: Name,
        ca: bool,
        usage: Option<KeyUsage>,
    }
    impl BuilderProfile for Odd {
        fn get_issuer(&self, _subject: &Name) -> Name {
            self.issuer.clone()
        }
        fn get_subject(&self) -> Name {
            Name::from_str("CN=odd certificate").unwrap()
        }
        fn build_extensions(
            &self,
            _spk: SubjectPublicKeyInfoRef<'_>,
            _issuer_spk: SubjectPublicKeyInfoRef<'_>,
            tbs: &TbsCertificate,
        ) -> x509_cert::builder::Result<Vec<Extension>> {
            let mut extensions = Vec::new();
            let basic = BasicConstraints {
                ca: self.ca,
                path_len_constraint: None,
            };
            extensions.push((true, &basic).to_extension(tbs.subject(), &extensions)?);
            if let Some(usage) = &self.usage {
                extensions.push((true, usage).to_extension(tbs.subject(), &extensions)?);
            }
            Ok(extensions)
        }
    }

    let issuer_cert = x509_cert::Certificate::from_der(issuer_cert).unwrap();
    let issuer_key = SigningKey::from_slice(issuer_secret).unwrap();
    let key = SigningKey::generate_from_rng(&mut rng(seed));
    let time = |secs| {
        Time::from(DateTime::from_unix_duration(core::time::Duration::from_secs(secs)).unwrap())
    };
    let profile = Odd {
        issuer: issuer_cert.tbs_certificate().subject().clone(),
        ca,
        usage,
    };
    let builder = CertificateBuilder::new(
        profile,
        SerialNumber::new(&[0x42]).unwrap(),
        Validity::new(time(T0), time(T0 + 1000 * DAY)),
        SubjectPublicKeyInfoOwned::from_key(key.verifying_key()).unwrap(),
    )
    .unwrap();
    let cert = builder.build::<_, DerSignature>(&issuer_key).unwrap();
    cert.to_der().unwrap()
}

#[test]
fn a_leaf_that_is_a_ca_is_refused() {
    use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
    let pki = Pki::new(27);
    let trusted = pki.trusted();
    let device = pki.device.certificate_der();
    let device_secret = pki.device.secret_key_bytes();
    let signing = Some(KeyUsage(KeyUsages::DigitalSignature.into()));
    let signing_and_cert_sign = Some(KeyUsage(
        KeyUsages::DigitalSignature | KeyUsages::KeyCertSign,
    ));

    // Control: the helper's non-CA leaf with digitalSignature is a valid partition leaf.
    let leaf = issue_odd_certificate(device, device_secret.expose_secret(), 1, false, signing);
    verify_chain(&[leaf.as_slice(), device], &trusted, INSIDE).unwrap();

    // The same leaf with cA = true, with a key usage that allows signing transcripts (and
    // certificates), or with no key usage at all: refused as a shape failure.
    for (seed, usage) in [(2, signing), (3, signing_and_cert_sign), (4, None)] {
        let ca_leaf =
            issue_odd_certificate(device, device_secret.expose_secret(), seed, true, usage);
        assert_eq!(
            verify_chain(&[ca_leaf.as_slice(), device], &trusted, INSIDE),
            Err(AttestError::Malformed),
            "CA leaf with key usage {usage:?} accepted"
        );
    }
    // A CA leaf issued directly by the root, as a one-certificate chain.
    let root_secret = pki.root.secret_key_bytes();
    let ca_leaf = issue_odd_certificate(
        pki.root.certificate_der(),
        root_secret.expose_secret(),
        5,
        true,
        signing,
    );
    assert_eq!(
        verify_chain(&[ca_leaf.as_slice()], &trusted, INSIDE),
        Err(AttestError::Malformed)
    );
    // The genuine chain still verifies.
    verify_chain(&pki.chain(), &trusted, INSIDE).unwrap();
}
