//! RSA keys through the simulator: generation, import, the published PKCS #1 vectors (RSA
//! Laboratories' pkcs-1v2-1-vec, example 1: PKCS #1 v1.5 signature 1.1 and RSASSA-PSS
//! signature 1.1), every signature and encryption mechanism both ways, wrapping, sensitivity of
//! the private components, sealing at rest and cloning with `CA_MigrateKeys`.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{fresh, login, read};
use cpv4_migrate::MigrationItem;
use cpv4_wire::consts::*;
use luna_sim::{
    Attribute, AttributeValue, HashAlg, Mechanism, OaepParams, PssParams, SessionHandle, SimError,
    Simulator,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// pkcs-1v2-1-vec, example 1: a 1024-bit key.
const N: &str = "a5 6e 4a 0e 70 10 17 58 9a 51 87 dc 7e a8 41 d1 56 f2 ec 0e 36 ad 52 a4 4d fe b1 e6 1f 7a d9 91
d8 c5 10 56 ff ed b1 62 b4 c0 f2 83 a1 2a 88 a3 94 df f5 26 ab 72 91 cb b3 07 ce ab fc e0 b1 df
d5 cd 95 08 09 6d 5b 2b 8b 6d f5 d6 71 ef 63 77 c0 92 1c b2 3c 27 0a 70 e2 59 8e 6f f8 9d 19 f1
05 ac c2 d3 f0 cb 35 f2 92 80 e1 38 6b 6f 64 c4 ef 22 e1 e1 f2 0d 0c e8 cf fb 22 49 bd 9a 21 37";
const E: &str = "01 00 01";
const D: &str = "33 a5 04 2a 90 b2 7d 4f 54 51 ca 9b bb d0 b4 47 71 a1 01 af 88 43 40 ae f9 88 5f 2a 4b be 92 e8
94 a7 24 ac 3c 56 8c 8f 97 85 3a d0 7c 02 66 c8 c6 a3 ca 09 29 f1 e8 f1 12 31 88 44 29 fc 4d 9a
e5 5f ee 89 6a 10 ce 70 7c 3e d7 e7 34 e4 47 27 a3 95 74 50 1a 53 26 83 10 9c 2a ba ca ba 28 3c
31 b4 bd 2f 53 c3 ee 37 e3 52 ce e3 4f 9e 50 3b d8 0c 06 22 ad 79 c6 dc ee 88 35 47 c6 a3 b3 25";
const P: &str = "e7 e8 94 27 20 a8 77 51 72 73 a3 56 05 3e a2 a1 bc 0c 94 aa 72 d5 5c 6e 86 29 6b 2d fc 96 79 48
c0 a7 2c bc cc a7 ea cb 35 70 6e 09 a1 df 55 a1 53 5b d9 b3 cc 34 16 0b 3b 6d cd 3e da 8e 64 43";
const Q: &str = "b6 9d ca 1c f7 d4 d7 ec 81 e7 5b 90 fc ca 87 4a bc de 12 3f d2 70 01 80 aa 90 47 9b 6e 48 de 8d
67 ed 24 f9 f1 9d 85 ba 27 58 74 f5 42 cd 20 dc 72 3e 69 63 36 4a 1f 94 25 45 2b 26 9a 67 99 fd";
const DP: &str = "28 fa 13 93 86 55 be 1f 8a 15 9c ba ca 5a 72 ea 19 0c 30 08 9e 19 cd 27 4a 55 6f 36 c4 f6 e1 9f
55 4b 34 c0 77 79 04 27 bb dd 8d d3 ed e2 44 83 28 f3 85 d8 1b 30 e8 e4 3b 2f ff a0 27 86 19 79";
const DQ: &str = "1a 8b 38 f3 98 fa 71 20 49 89 8d 7f b7 9e e0 a7 76 68 79 12 99 cd fa 09 ef c0 e5 07 ac b2 1e d7
43 01 ef 5b fd 48 be 45 5e ae b6 e1 67 82 55 82 75 80 a8 e4 e8 e1 41 51 d1 51 0a 82 a3 f2 e7 29";
const QINV: &str = "27 15 6a ba 41 26 d2 4a 81 f3 a5 28 cb fb 27 f5 68 86 f8 40 a9 f6 e8 6e 17 a4 4b 94 fe 93 19 58
4b 8e 22 fd de 1e 5a 2e 3b d8 aa 5b a8 d8 58 41 94 eb 21 90 ac f8 32 b8 47 f1 3a 3d 24 a7 9f 4d";
/// The message of PKCS #1 v1.5 signature example 1.1 and of RSASSA-PSS signature example 1.1.
const MESSAGE: &str = "cd c8 7d a2 23 d7 86 df 3b 45 e0 bb bc 72 13 26 d1 ee 2a f8 06 cc 31 54 75 cc 6f 0d 9c 66 e1 b6
23 71 d4 5c e2 39 2e 1a c9 28 44 c3 10 10 2f 15 6a 0d 8d 52 c1 f4 c4 0b a3 aa 65 09 57 86 cb 76
97 57 a6 56 3b a9 58 fe d0 bc c9 84 e8 b5 17 a3 d5 f5 15 b2 3b 8a 41 e7 4a a8 67 69 3f 90 df b0
61 a6 e8 6d fa ae e6 44 72 c0 0e 5f 20 94 57 29 cb eb e7 7f 06 ce 78 e0 8f 40 98 fb a4 1f 9d 61
93 c0 31 7e 8b 60 d4 b6 08 4a cb 42 d2 9e 38 08 a3 bc 37 2d 85 e3 31 17 0f cb f7 cc 72 d0 b7 1c
29 66 48 b3 a4 d1 0f 41 62 95 d0 80 7a a6 25 ca b2 74 4f d9 ea 8f d2 23 c4 25 37 02 98 28 bd 16
be 02 54 6f 13 0f d2 e3 3b 93 6d 26 76 e0 8a ed 1b 73 31 8b 75 0a 01 67 d0";
/// PKCS #1 v1.5 signature example 1.1 (SHA-1).
const PKCS1_SIG: &str = "6b c3 a0 66 56 84 29 30 a2 47 e3 0d 58 64 b4 d8 19 23 6b a7 c6 89 65 86 2a d7 db c4 e2 4a f2 8e
86 bb 53 1f 03 35 8b e5 fb 74 77 7c 60 86 f8 50 ca ef 89 3f 0d 6f cc 2d 0c 91 ec 01 36 93 b4 ea
00 b8 0c d4 9a ac 4e cb 5f 89 11 af e5 39 ad a4 a8 f3 82 3d 1d 13 e4 72 d1 49 05 47 c6 59 c7 61
7f 3d 24 08 7d db 6f 2b 72 09 61 67 fc 09 7c ab 18 e9 a4 58 fc b6 34 cd ce 8e e3 58 94 c4 84 d7";
/// RSASSA-PSS signature example 1.1 (SHA-1, MGF1-SHA-1, 20-byte salt).
const PSS_SIG: &str = "90 74 30 8f b5 98 e9 70 1b 22 94 38 8e 52 f9 71 fa ac 2b 60 a5 14 5a f1 85 df 52 87 b5 ed 28 87
e5 7c e7 fd 44 dc 86 34 e4 07 c8 e0 e4 36 0b c2 26 f3 ec 22 7f 9d 9e 54 63 8e 8d 31 f5 05 12 15
df 6e bb 9c 2f 95 79 aa 77 59 8a 38 f9 14 b5 b9 c1 bd 83 c4 e2 f9 f3 82 a0 d0 aa 35 42 ff ee 65
98 4a 60 1b c6 9e b2 8d eb 27 dc a1 2c 82 c2 d4 c3 f6 6c d5 00 f1 ff 2b 99 4d 8a 4e 30 cb b3 3c";

/// The DigestInfo prefix of SHA-1 (RFC 8017, section 9.2, note 1).
const SHA1_DIGEST_INFO: &str = "30 21 30 09 06 05 2b 0e 03 02 1a 05 00 04 14";

fn sha1(data: &[u8]) -> Vec<u8> {
    use sha1::Digest;
    sha1::Sha1::digest(data).to_vec()
}

/// The example-1 key pair as token objects: (public, private).
fn import_example_key(sim: &Simulator, session: SessionHandle, with_crt: bool) -> (u64, u64) {
    let public = sim
        .create_object(
            session,
            &[
                Attribute::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_RSA),
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bytes(CKA_MODULUS, hex(N)),
                Attribute::bytes(CKA_PUBLIC_EXPONENT, hex(E)),
            ],
        )
        .unwrap();
    let mut template = vec![
        Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_RSA),
        Attribute::bool(CKA_TOKEN, true),
        Attribute::bytes(CKA_LABEL, b"example-1".to_vec()),
        Attribute::bytes(CKA_MODULUS, hex(N)),
        Attribute::bytes(CKA_PUBLIC_EXPONENT, hex(E)),
        Attribute::bytes(CKA_PRIVATE_EXPONENT, hex(D)),
    ];
    if with_crt {
        for (kind, value) in [
            (CKA_PRIME_1, P),
            (CKA_PRIME_2, Q),
            (CKA_EXPONENT_1, DP),
            (CKA_EXPONENT_2, DQ),
            (CKA_COEFFICIENT, QINV),
        ] {
            template.push(Attribute::bytes(kind, hex(value)));
        }
    }
    let private = sim.create_object(session, &template).unwrap();
    (public, private)
}

fn sign(sim: &Simulator, s: SessionHandle, m: &Mechanism, key: u64, data: &[u8]) -> Vec<u8> {
    sim.sign_init(s, m, key).unwrap();
    sim.sign(s, data).unwrap()
}

fn verify(
    sim: &Simulator,
    s: SessionHandle,
    m: &Mechanism,
    key: u64,
    data: &[u8],
    sig: &[u8],
) -> Result<(), SimError> {
    sim.verify_init(s, m, key).unwrap();
    sim.verify(s, data, sig)
}

fn pss(hash: HashAlg, salt_len: usize) -> PssParams {
    PssParams {
        hash,
        mgf: hash,
        salt_len,
    }
}

#[test]
fn pkcs1_v15_signature_example_1_1_matches_with_and_without_crt_values() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    for with_crt in [true, false] {
        let (public, private) = import_example_key(&sim, co, with_crt);
        let expected = hex(PKCS1_SIG);
        let message = hex(MESSAGE);
        let hashed = Mechanism::RsaPkcsHash(HashAlg::Sha1);
        assert_eq!(sign(&sim, co, &hashed, private, &message), expected);
        // The same signature from CKM_RSA_PKCS over the DigestInfo the caller builds...
        let mut digest_info = hex(SHA1_DIGEST_INFO);
        digest_info.extend(sha1(&message));
        assert_eq!(
            sign(&sim, co, &Mechanism::RsaPkcs, private, &digest_info),
            expected
        );
        // ... and from multi-part SHA1_RSA_PKCS, split anywhere.
        sim.sign_init(co, &hashed, private).unwrap();
        sim.sign_update(co, &message[..7]).unwrap();
        sim.sign_update(co, &message[7..]).unwrap();
        assert_eq!(sim.sign_final(co).unwrap(), expected);
        // Raw RSA of the encoded message EM = 00 01 FF.. 00 DigestInfo gives it too.
        let mut em = vec![0x00, 0x01];
        em.resize(128 - digest_info.len() - 1, 0xFF);
        em.push(0x00);
        em.extend(&digest_info);
        assert_eq!(sign(&sim, co, &Mechanism::RsaX509, private, &em), expected);
        for m in [&hashed, &Mechanism::RsaPkcs, &Mechanism::RsaX509] {
            let input = match m {
                Mechanism::RsaPkcs => digest_info.clone(),
                Mechanism::RsaX509 => em.clone(),
                _ => message.clone(),
            };
            assert_eq!(verify(&sim, co, m, public, &input, &expected), Ok(()));
            let mut bad = expected.clone();
            bad[5] ^= 1;
            assert_eq!(
                verify(&sim, co, m, public, &input, &bad),
                Err(SimError::SignatureInvalid)
            );
        }
        // With no primes given, the token recovered them: the stored key has every component.
        assert_eq!(read(&sim, co, private, CKA_MODULUS), hex(N));
        assert_eq!(
            read(&sim, co, public, CKA_MODULUS_BITS),
            1024u64.to_be_bytes()
        );
    }
}

#[test]
fn pss_signature_example_1_1_verifies_and_our_pss_signatures_verify_for_every_hash() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let (public, private) = import_example_key(&sim, co, true);
    let message = hex(MESSAGE);
    let published = hex(PSS_SIG);
    let hashed = Mechanism::RsaPssHash(pss(HashAlg::Sha1, 20));
    assert_eq!(
        verify(&sim, co, &hashed, public, &message, &published),
        Ok(())
    );
    let on_hash = Mechanism::RsaPkcsPss(pss(HashAlg::Sha1, 20));
    assert_eq!(
        verify(&sim, co, &on_hash, public, &sha1(&message), &published),
        Ok(())
    );
    // A different salt length does not verify the published signature.
    assert_eq!(
        verify(
            &sim,
            co,
            &Mechanism::RsaPssHash(pss(HashAlg::Sha1, 19)),
            public,
            &message,
            &published
        ),
        Err(SimError::SignatureInvalid)
    );
    for hash in HashAlg::ALL {
        // A 20-byte salt fits every hash in a 1024-bit key (SHA-512's own 64 would not).
        let m = Mechanism::RsaPssHash(pss(hash, 20));
        let first = sign(&sim, co, &m, private, b"message");
        let second = sign(&sim, co, &m, private, b"message");
        assert_ne!(first, second, "PSS is randomized");
        assert_eq!(verify(&sim, co, &m, public, b"message", &first), Ok(()));
        assert_eq!(
            verify(&sim, co, &m, public, b"massage", &first),
            Err(SimError::SignatureInvalid)
        );
        let pkcs1 = Mechanism::RsaPkcsHash(hash);
        let sig = sign(&sim, co, &pkcs1, private, b"message");
        assert_eq!(verify(&sim, co, &pkcs1, public, b"message", &sig), Ok(()));
    }
    // CKM_RSA_PKCS_PSS takes a hash of exactly the parameter's length.
    sim.sign_init(co, &on_hash, private).unwrap();
    assert_eq!(sim.sign(co, &[1; 19]), Err(SimError::DataLenRange));
    // An MGF over another hash is refused (register A58).
    assert_eq!(
        PssParams::from_ck(CKM_SHA256, CKG_MGF1_SHA1, 32),
        Err(SimError::MechanismParamInvalid)
    );
}

#[test]
fn encryption_round_trips_for_pkcs1_oaep_and_raw_and_limits_are_checked() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let (public, private) = sim
        .generate_key_pair(
            co,
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ulong(CKA_MODULUS_BITS, 2048)],
            &[],
        )
        .unwrap();
    let mut schemes = vec![Mechanism::RsaPkcs, Mechanism::RsaX509];
    for hash in HashAlg::ALL {
        for mgf in [HashAlg::Sha1, hash] {
            schemes.push(Mechanism::RsaOaep(OaepParams {
                hash,
                mgf,
                label: b"label".to_vec(),
            }));
        }
    }
    for m in &schemes {
        let plain: Vec<u8> = match m {
            // Raw RSA: a full-length block below the modulus.
            Mechanism::RsaX509 => (0..256).map(|i| (i % 200) as u8).collect(),
            _ => b"secret".to_vec(),
        };
        sim.encrypt_init(co, m, public).unwrap();
        assert_eq!(sim.encrypt_len(co, Some(plain.len()), true), Ok(256));
        let cipher = sim.encrypt(co, &plain).unwrap();
        assert_eq!(cipher.len(), 256);
        sim.decrypt_init(co, m, private).unwrap();
        assert_eq!(
            sim.decrypt(co, &cipher).unwrap().as_slice(),
            plain.as_slice()
        );
        // RSA is single-part.
        sim.encrypt_init(co, m, public).unwrap();
        assert_eq!(
            sim.encrypt_update(co, &plain),
            Err(SimError::FunctionNotSupported)
        );
    }
    // PKCS #1 v1.5 carries at most k - 11 bytes; OAEP-SHA256 k - 66.
    sim.encrypt_init(co, &Mechanism::RsaPkcs, public).unwrap();
    assert_eq!(sim.encrypt(co, &[1; 246]), Err(SimError::DataLenRange));
    let oaep = Mechanism::RsaOaep(OaepParams {
        hash: HashAlg::Sha256,
        mgf: HashAlg::Sha256,
        label: Vec::new(),
    });
    sim.encrypt_init(co, &oaep, public).unwrap();
    assert_eq!(sim.encrypt(co, &[1; 191]), Err(SimError::DataLenRange));
    // OAEP with the wrong label, or a ciphertext of the wrong length, fails.
    sim.encrypt_init(co, &oaep, public).unwrap();
    let cipher = sim.encrypt(co, b"x").unwrap();
    let other_label = Mechanism::RsaOaep(OaepParams {
        hash: HashAlg::Sha256,
        mgf: HashAlg::Sha256,
        label: b"other".to_vec(),
    });
    sim.decrypt_init(co, &other_label, private).unwrap();
    assert_eq!(
        sim.decrypt(co, &cipher),
        Err(SimError::EncryptedDataInvalid)
    );
    sim.decrypt_init(co, &oaep, private).unwrap();
    assert_eq!(
        sim.decrypt(co, &cipher[1..]),
        Err(SimError::EncryptedDataLenRange)
    );
    // Register A57: a full-length PKCS #1 v1.5 ciphertext with bad padding decrypts (implicit
    // rejection) to the same pseudo-random message each time, never to an error.
    sim.encrypt_init(co, &Mechanism::RsaX509, public).unwrap();
    let mut block = vec![0x00, 0x07];
    block.resize(256, 0x42);
    let badly_padded = sim.encrypt(co, &block).unwrap();
    let decrypt_pkcs1 = || {
        sim.decrypt_init(co, &Mechanism::RsaPkcs, private).unwrap();
        sim.decrypt(co, &badly_padded).unwrap().to_vec()
    };
    let first = decrypt_pkcs1();
    assert_eq!(first, decrypt_pkcs1());
    assert_ne!(first.as_slice(), &block[..first.len()]);
    // A raw input not below the modulus is CKR_DATA_INVALID.
    sim.encrypt_init(co, &Mechanism::RsaX509, public).unwrap();
    assert_eq!(sim.encrypt(co, &[0xFF; 256]), Err(SimError::DataInvalid));
}

#[test]
fn generation_checks_sizes_and_exponents_and_sets_every_attribute() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let generate = |bits: u64, exponent: Option<Vec<u8>>| {
        let mut public = vec![Attribute::ulong(CKA_MODULUS_BITS, bits)];
        if let Some(e) = exponent {
            public.push(Attribute::bytes(CKA_PUBLIC_EXPONENT, e));
        }
        sim.generate_key_pair(co, &Mechanism::RsaPkcsKeyPairGen, &public, &[])
    };
    for bits in [1024, 3072, 4096] {
        let (public, private) = generate(bits, None).unwrap();
        // Register A61: RSA keys default to every usage their class has; A59: never
        // per-use authentication.
        for kind in [CKA_VERIFY, CKA_ENCRYPT, CKA_WRAP] {
            assert_eq!(read(&sim, co, public, kind), [1]);
        }
        for kind in [CKA_SIGN, CKA_DECRYPT, CKA_UNWRAP] {
            assert_eq!(read(&sim, co, private, kind), [1]);
        }
        assert_eq!(read(&sim, co, private, CKA_ALWAYS_AUTHENTICATE), [0]);
        assert_eq!(read(&sim, co, public, CKA_MODULUS_BITS), bits.to_be_bytes());
        assert_eq!(read(&sim, co, public, CKA_MODULUS).len() as u64, bits / 8);
        assert_eq!(read(&sim, co, public, CKA_PUBLIC_EXPONENT), [1, 0, 1]);
        assert_eq!(
            read(&sim, co, private, CKA_MODULUS),
            read(&sim, co, public, CKA_MODULUS)
        );
        assert_eq!(read(&sim, co, private, CKA_LOCAL), [1]);
        assert_eq!(
            read(&sim, co, private, CKA_KEY_GEN_MECHANISM),
            CKM_RSA_PKCS_KEY_PAIR_GEN.to_be_bytes()
        );
        // Every secret component is present and sensitive.
        let secrets = [
            CKA_PRIVATE_EXPONENT,
            CKA_PRIME_1,
            CKA_PRIME_2,
            CKA_EXPONENT_1,
            CKA_EXPONENT_2,
            CKA_COEFFICIENT,
        ];
        let values = sim.get_attribute_value(co, private, &secrets).unwrap();
        assert!(values.iter().all(|v| *v == AttributeValue::Sensitive));
    }
    // Register A56: an empty or zero exponent means 65537; 3 is honoured.
    for e in [vec![], vec![0], vec![0, 0]] {
        let (public, _) = generate(1024, Some(e)).unwrap();
        assert_eq!(read(&sim, co, public, CKA_PUBLIC_EXPONENT), [1, 0, 1]);
    }
    let (public, _) = generate(1024, Some(vec![3])).unwrap();
    assert_eq!(read(&sim, co, public, CKA_PUBLIC_EXPONENT), [3]);
    for e in [vec![2], vec![1], vec![1, 0, 0, 0, 0, 0, 0, 0, 1]] {
        assert_eq!(
            generate(1024, Some(e)),
            Err(SimError::AttributeValueInvalid(CKA_PUBLIC_EXPONENT))
        );
    }
    for bits in [512, 1023, 1028, 4104, 8192] {
        assert_eq!(generate(bits, None), Err(SimError::KeySizeRange), "{bits}");
    }
    assert_eq!(
        sim.generate_key_pair(co, &Mechanism::RsaPkcsKeyPairGen, &[], &[]),
        Err(SimError::TemplateIncomplete(CKA_MODULUS_BITS))
    );
    // Key material in a template, or EC attributes on an RSA key, are refused.
    assert_eq!(
        sim.generate_key_pair(
            co,
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::ulong(CKA_MODULUS_BITS, 1024),
                Attribute::bytes(CKA_MODULUS, vec![1; 128])
            ],
            &[]
        ),
        Err(SimError::TemplateInconsistent)
    );
    assert_eq!(
        sim.generate_key_pair(
            co,
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ulong(CKA_MODULUS_BITS, 1024)],
            &[Attribute::bytes(
                CKA_EC_PARAMS,
                luna_sim::P256_EC_PARAMS.to_vec()
            )]
        ),
        Err(SimError::AttributeTypeInvalid(CKA_EC_PARAMS))
    );
}

#[test]
fn imported_keys_are_checked_and_a_find_never_matches_secret_components() {
    let (dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let (_, private) = import_example_key(&sim, co, true);
    // A wrong private exponent does not import.
    let mut bad_d = hex(D);
    bad_d[10] ^= 1;
    assert_eq!(
        sim.create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_RSA),
                Attribute::bytes(CKA_MODULUS, hex(N)),
                Attribute::bytes(CKA_PUBLIC_EXPONENT, hex(E)),
                Attribute::bytes(CKA_PRIVATE_EXPONENT, bad_d),
            ],
        ),
        Err(SimError::AttributeValueInvalid(CKA_PRIVATE_EXPONENT))
    );
    // A modulus below 1024 bits does not import.
    assert!(
        sim.create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_RSA),
                Attribute::bytes(CKA_MODULUS, hex(N)[..64].to_vec()),
                Attribute::bytes(CKA_PUBLIC_EXPONENT, hex(E)),
            ],
        )
        .is_err()
    );
    // The components of a sensitive key match no find, even with the right value.
    for (kind, value) in [(CKA_PRIME_1, P), (CKA_PRIVATE_EXPONENT, D)] {
        assert_eq!(
            sim.find_all(co, &[Attribute::bytes(kind, hex(value))])
                .unwrap(),
            Vec::<u64>::new()
        );
    }
    assert_eq!(
        sim.find_all(co, &[Attribute::bytes(CKA_MODULUS, hex(N))])
            .unwrap()
            .len(),
        2
    );
    // Sealed at rest: no secret component appears in the database file.
    drop(sim);
    let db = std::fs::read(dir.path().join(luna_sim::DB_FILE)).unwrap();
    for value in [D, P, Q, DP, DQ, QINV] {
        let bytes = hex(value);
        assert!(
            !db.windows(bytes.len()).any(|w| w == bytes.as_slice()),
            "a secret component is in the store in the clear"
        );
    }
    let _ = private;
}

#[test]
fn rsa_private_keys_wrap_as_pkcs8_and_rsa_wraps_secret_keys() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let (public, private) = import_example_key(&sim, co, true);
    let kek = sim
        .generate_key(
            co,
            &Mechanism::AesKeyGen,
            &[Attribute::ulong(CKA_VALUE_LEN, 32)],
        )
        .unwrap();
    let wrapped = sim
        .wrap_key(co, &Mechanism::AesKeyWrapKwp, kek, private)
        .unwrap();
    let unwrapped = sim
        .unwrap_key(
            co,
            &Mechanism::AesKeyWrapKwp,
            kek,
            &wrapped,
            &[
                Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
                Attribute::bool(CKA_SENSITIVE, false),
            ],
        )
        .unwrap();
    assert_eq!(
        read(&sim, co, unwrapped, CKA_KEY_TYPE),
        CKK_RSA.to_be_bytes()
    );
    assert_eq!(read(&sim, co, unwrapped, CKA_PRIME_1), hex(P));
    let message = hex(MESSAGE);
    let hashed = Mechanism::RsaPkcsHash(HashAlg::Sha1);
    assert_eq!(sign(&sim, co, &hashed, unwrapped, &message), hex(PKCS1_SIG));
    // An AES key wrapped under the RSA public key, unwrapped with the private key.
    let secret = sim
        .create_object(co, &common::aes_template("aes", &[5; 32], false))
        .unwrap();
    for m in [
        Mechanism::RsaPkcs,
        Mechanism::RsaOaep(OaepParams {
            hash: HashAlg::Sha1,
            mgf: HashAlg::Sha1,
            label: Vec::new(),
        }),
    ] {
        let wrapped = sim.wrap_key(co, &m, public, secret).unwrap();
        assert_eq!(wrapped.len(), 128);
        let back = sim
            .unwrap_key(
                co,
                &m,
                private,
                &wrapped,
                &[
                    Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                    Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                    Attribute::bool(CKA_SENSITIVE, false),
                ],
            )
            .unwrap();
        assert_eq!(read(&sim, co, back, CKA_VALUE), vec![5; 32]);
        // RSA does not wrap a private key.
        assert_eq!(
            sim.wrap_key(co, &m, public, private),
            Err(SimError::KeyNotWrappable)
        );
    }
}

#[test]
fn a_migrated_rsa_key_pair_works_on_the_target() {
    let (_dir, sim) = fresh();
    let source = login(&sim, 0, CKU_USER);
    let target = login(&sim, 1, CKU_USER);
    let (public, private) = sim
        .generate_key_pair(
            source,
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::ulong(CKA_MODULUS_BITS, 2048),
                Attribute::bool(CKA_TOKEN, true),
            ],
            &[Attribute::bool(CKA_TOKEN, true)],
        )
        .unwrap();
    let mut items = vec![
        MigrationItem::new(CK_CRYPTOKI_ELEMENT, public),
        MigrationItem::new(CK_CRYPTOKI_ELEMENT, private),
    ];
    assert_eq!(sim.migrate_keys(source, target, 0, &mut items), CKR_OK);
    assert!(items.iter().all(|i| i.rv == CKR_OK));
    let (cloned_public, cloned_private) = (items[0].target_handle, items[1].target_handle);
    let m = Mechanism::RsaPssHash(pss(HashAlg::Sha256, 32));
    let sig = sign(&sim, target, &m, cloned_private, b"moved");
    assert_eq!(verify(&sim, source, &m, public, b"moved", &sig), Ok(()));
    assert_eq!(
        verify(&sim, target, &m, cloned_public, b"moved", &sig),
        Ok(())
    );
    assert_eq!(
        read(&sim, target, cloned_public, CKA_MODULUS),
        read(&sim, source, public, CKA_MODULUS)
    );
    // Still sensitive on the target.
    assert_eq!(
        sim.get_attribute_value(target, cloned_private, &[CKA_PRIME_1])
            .unwrap()[0],
        AttributeValue::Sensitive
    );
}

/// Found by attacking the first version: inputs that cost memory or time before a size check,
/// and codes of the refused material.
#[test]
fn oversized_salts_moduli_and_unwrapped_keys_are_refused_before_any_work() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let (public, private) = import_example_key(&sim, co, true);
    // A salt of 2^40 bytes: refused before the crate allocates it (it aborted the process).
    let huge = Mechanism::RsaPssHash(pss(HashAlg::Sha256, 1 << 40));
    sim.sign_init(co, &huge, private).unwrap();
    assert_eq!(sim.sign(co, b"m"), Err(SimError::DataLenRange));
    assert_eq!(
        verify(&sim, co, &huge, public, b"m", &[1; 128]),
        Err(SimError::SignatureInvalid)
    );
    // The largest salt a 1024-bit key holds with SHA-256: 128 - 32 - 2 = 94 bytes.
    let largest = Mechanism::RsaPssHash(pss(HashAlg::Sha256, 94));
    let sig = sign(&sim, co, &largest, private, b"m");
    assert_eq!(verify(&sim, co, &largest, public, b"m", &sig), Ok(()));
    sim.sign_init(
        co,
        &Mechanism::RsaPssHash(pss(HashAlg::Sha256, 95)),
        private,
    )
    .unwrap();
    assert_eq!(sim.sign(co, b"m"), Err(SimError::DataLenRange));

    // Moduli above 4096 bits (register A56): a public key, and a private key without primes
    // whose modulus is 64 KiB (the prime recovery on it used to hold the lock for seconds).
    let mut big = vec![0xC5; 1024];
    big[1023] |= 1;
    assert_eq!(
        sim.create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_RSA),
                Attribute::bytes(CKA_MODULUS, big),
                Attribute::bytes(CKA_PUBLIC_EXPONENT, hex(E)),
            ],
        ),
        Err(SimError::AttributeValueInvalid(CKA_MODULUS))
    );
    let mut giant = vec![0xA7; 65_536];
    giant[65_535] |= 1;
    assert_eq!(
        sim.create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_RSA),
                Attribute::bytes(CKA_MODULUS, giant.clone()),
                Attribute::bytes(CKA_PUBLIC_EXPONENT, hex(E)),
                Attribute::bytes(CKA_PRIVATE_EXPONENT, giant),
            ],
        ),
        Err(SimError::AttributeValueInvalid(CKA_MODULUS))
    );

    // A 512-bit RSA key in PKCS #8, wrapped under a KEK the test knows: not a key this token
    // holds, so CKR_WRAPPED_KEY_INVALID; material in an unwrap template is inconsistent.
    let kek_value = [0x3C; 32];
    let mut kek_template = common::aes_template("kek", &kek_value, false);
    kek_template.push(Attribute::bool(CKA_UNWRAP, true));
    let kek = sim.create_object(co, &kek_template).unwrap();
    let small = {
        use rsa::pkcs8::EncodePrivateKey;
        let key =
            rsa::PrivateKey::new_unchecked(&mut rsa::rand_core::UnwrapErr(getrandom::SysRng), 512)
                .unwrap();
        key.to_pkcs8_der().unwrap().as_bytes().to_vec()
    };
    let wrapped = {
        use aes_kw::cipher::KeyInit;
        let mut out = vec![0u8; small.len() + 16];
        let len = aes_kw::KwpAes256::new_from_slice(&kek_value)
            .unwrap()
            .wrap_key(&small, &mut out)
            .unwrap()
            .len();
        out.truncate(len);
        out
    };
    let private_template = [Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY)];
    assert_eq!(
        sim.unwrap_key(
            co,
            &Mechanism::AesKeyWrapKwp,
            kek,
            &wrapped,
            &private_template
        ),
        Err(SimError::WrappedKeyInvalid)
    );
    assert_eq!(
        sim.unwrap_key(
            co,
            &Mechanism::AesKeyWrapKwp,
            kek,
            &wrapped,
            &[
                Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
                Attribute::bytes(CKA_MODULUS, hex(N)),
            ],
        ),
        Err(SimError::TemplateInconsistent)
    );

    // Register A60: even a length query of an update is refused, and ends the operation.
    sim.encrypt_init(co, &Mechanism::RsaPkcs, public).unwrap();
    assert_eq!(
        sim.encrypt_len(co, Some(4), false),
        Err(SimError::FunctionNotSupported)
    );
    assert_eq!(
        sim.encrypt(co, b"x"),
        Err(SimError::OperationNotInitialized)
    );

    // Exponents in both templates of a generation must agree.
    assert_eq!(
        sim.generate_key_pair(
            co,
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ulong(CKA_MODULUS_BITS, 1024)],
            &[Attribute::bytes(CKA_PUBLIC_EXPONENT, vec![3])],
        )
        .map(|_| ()),
        Ok(())
    );
    assert_eq!(
        sim.generate_key_pair(
            co,
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::ulong(CKA_MODULUS_BITS, 1024),
                Attribute::bytes(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
            ],
            &[Attribute::bytes(CKA_PUBLIC_EXPONENT, vec![3])],
        ),
        Err(SimError::TemplateInconsistent)
    );
}

#[test]
fn sign_and_verify_recover_match_example_1_1_and_keep_to_their_own_operation() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let (public, private) = import_example_key(&sim, co, true);
    let expected = hex(PKCS1_SIG);
    let mut digest_info = hex(SHA1_DIGEST_INFO);
    digest_info.extend(sha1(&hex(MESSAGE)));
    let mut em = vec![0x00, 0x01];
    em.resize(128 - digest_info.len() - 1, 0xFF);
    em.push(0x00);
    em.extend(&digest_info);

    // The published signature, from both recover mechanisms (RSA keys allow recovery).
    assert_eq!(read(&sim, co, private, CKA_SIGN_RECOVER), [1]);
    assert_eq!(read(&sim, co, public, CKA_VERIFY_RECOVER), [1]);
    for (mechanism, data) in [
        (Mechanism::RsaPkcs, &digest_info),
        (Mechanism::RsaX509, &em),
    ] {
        sim.sign_recover_init(co, &mechanism, private).unwrap();
        assert_eq!(sim.sign_recover_len(co), Ok(128));
        assert_eq!(sim.sign_recover(co, data).unwrap(), expected);
        assert_eq!(
            sim.sign_recover(co, data),
            Err(SimError::OperationNotInitialized)
        );
        // Recovery gives the DigestInfo back (raw RSA: the whole encoded block).
        sim.verify_recover_init(co, &mechanism, public).unwrap();
        // A length query and a buffer too small leave the operation active...
        assert_eq!(sim.verify_recover(co, &expected, None).unwrap(), *data);
        assert_eq!(
            sim.verify_recover(co, &expected, Some(data.len() - 1))
                .unwrap(),
            *data
        );
        // ... a buffer that fits ends it.
        assert_eq!(
            sim.verify_recover(co, &expected, Some(data.len())).unwrap(),
            *data
        );
        assert_eq!(
            sim.verify_recover(co, &expected, Some(128)),
            Err(SimError::OperationNotInitialized)
        );
        // A wrong signature, or one of the wrong length, ends it.
        let mut bad = expected.clone();
        bad[7] ^= 1;
        for (signature, error) in [
            (&bad[..], SimError::SignatureInvalid),
            (&expected[1..], SimError::SignatureLenRange),
        ] {
            sim.verify_recover_init(co, &mechanism, public).unwrap();
            if mechanism == Mechanism::RsaX509 && error == SimError::SignatureInvalid {
                // Raw RSA recovers whatever a value below the modulus carries.
                assert!(sim.verify_recover(co, signature, Some(128)).is_ok());
                continue;
            }
            assert_eq!(sim.verify_recover(co, signature, Some(128)), Err(error));
            assert_eq!(
                sim.verify_recover(co, &expected, Some(128)),
                Err(SimError::OperationNotInitialized)
            );
        }
    }

    // A raw signature over a block that is not type-1 padded recovers nothing with PKCS #1.
    let mut unpadded = em.clone();
    unpadded[1] = 0x02;
    sim.sign_recover_init(co, &Mechanism::RsaX509, private)
        .unwrap();
    let raw = sim.sign_recover(co, &unpadded).unwrap();
    sim.verify_recover_init(co, &Mechanism::RsaPkcs, public)
        .unwrap();
    assert_eq!(
        sim.verify_recover(co, &raw, Some(128)),
        Err(SimError::SignatureInvalid)
    );
    // PKCS #1 v1.5 takes at most k - 11 bytes.
    sim.sign_recover_init(co, &Mechanism::RsaPkcs, private)
        .unwrap();
    assert_eq!(sim.sign_recover(co, &[7; 118]), Err(SimError::DataLenRange));

    // Only the two mechanisms recover; hashing and PSS mechanisms are refused.
    for mechanism in [
        Mechanism::RsaPkcsHash(HashAlg::Sha256),
        Mechanism::RsaPkcsPss(pss(HashAlg::Sha256, 32)),
        Mechanism::Ecdsa,
    ] {
        assert_eq!(
            sim.sign_recover_init(co, &mechanism, private),
            Err(SimError::MechanismInvalid)
        );
        assert_eq!(
            sim.verify_recover_init(co, &mechanism, public),
            Err(SimError::MechanismInvalid)
        );
    }

    // Signing with and without recovery share the signing slot but not their calls.
    sim.sign_recover_init(co, &Mechanism::RsaPkcs, private)
        .unwrap();
    assert_eq!(
        sim.sign_init(co, &Mechanism::RsaPkcs, private),
        Err(SimError::OperationActive)
    );
    assert_eq!(
        sim.sign(co, &digest_info),
        Err(SimError::OperationNotInitialized)
    );
    assert_eq!(
        sim.sign_update(co, &digest_info),
        Err(SimError::OperationNotInitialized)
    );
    assert_eq!(sim.sign_len(co), Err(SimError::OperationNotInitialized));
    assert_eq!(sim.sign_recover(co, &digest_info).unwrap(), expected);
    sim.sign_init(co, &Mechanism::RsaPkcs, private).unwrap();
    assert_eq!(
        sim.sign_recover(co, &digest_info),
        Err(SimError::OperationNotInitialized)
    );
    assert_eq!(sim.sign(co, &digest_info).unwrap(), expected);
    sim.verify_recover_init(co, &Mechanism::RsaPkcs, public)
        .unwrap();
    assert_eq!(
        sim.verify(co, &digest_info, &expected),
        Err(SimError::OperationNotInitialized)
    );
    assert_eq!(
        sim.verify_recover(co, &expected, Some(128)).unwrap(),
        digest_info
    );

    // The key must allow recovery.
    sim.set_attribute_value(co, private, &[Attribute::bool(CKA_SIGN_RECOVER, false)])
        .unwrap();
    sim.set_attribute_value(co, public, &[Attribute::bool(CKA_VERIFY_RECOVER, false)])
        .unwrap();
    assert_eq!(
        sim.sign_recover_init(co, &Mechanism::RsaPkcs, private),
        Err(SimError::KeyFunctionNotPermitted)
    );
    assert_eq!(
        sim.verify_recover_init(co, &Mechanism::RsaPkcs, public),
        Err(SimError::KeyFunctionNotPermitted)
    );
}

#[test]
fn always_authenticate_keys_need_the_context_specific_login_for_each_operation() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let always = [Attribute::bool(CKA_ALWAYS_AUTHENTICATE, true)];
    let (public, private) = sim
        .generate_key_pair(
            co,
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ulong(CKA_MODULUS_BITS, 1024)],
            &always,
        )
        .unwrap();
    assert_eq!(read(&sim, co, private, CKA_ALWAYS_AUTHENTICATE), [1]);
    let hashed = Mechanism::RsaPkcsHash(HashAlg::Sha256);
    let context = |pin: &[u8]| sim.login(co, CKU_CONTEXT_SPECIFIC, pin);

    // Without the login the operation goes no further, and ends; a length query is answered.
    sim.sign_init(co, &hashed, private).unwrap();
    assert_eq!(sim.sign_len(co), Ok(128));
    assert_eq!(sim.sign(co, b"data"), Err(SimError::UserNotLoggedIn));
    assert_eq!(
        sim.sign(co, b"data"),
        Err(SimError::OperationNotInitialized)
    );
    assert_eq!(context(b"co-pin"), Err(SimError::OperationNotInitialized));
    // With it (a wrong PIN first, which leaves the operation waiting), one signature.
    sim.sign_init(co, &hashed, private).unwrap();
    assert_eq!(context(b"wrong-pin"), Err(SimError::PinIncorrect));
    assert_eq!(context(b"co-pin"), Ok(()));
    let signature = sim.sign(co, b"data").unwrap();
    assert_eq!(
        verify(&sim, co, &hashed, public, b"data", &signature),
        Ok(())
    );
    // The next operation needs it again; one login covers a whole multi-part operation.
    sim.sign_init(co, &hashed, private).unwrap();
    assert_eq!(sim.sign_update(co, b"da"), Err(SimError::UserNotLoggedIn));
    sim.sign_init(co, &hashed, private).unwrap();
    context(b"co-pin").unwrap();
    sim.sign_update(co, b"da").unwrap();
    sim.sign_update(co, b"ta").unwrap();
    assert_eq!(sim.sign_final(co).unwrap(), signature);
    // Signing with recovery and decryption too; verification never waits.
    sim.sign_recover_init(co, &Mechanism::RsaPkcs, private)
        .unwrap();
    assert_eq!(sim.sign_recover(co, b"x"), Err(SimError::UserNotLoggedIn));
    let oaep = Mechanism::RsaOaep(OaepParams {
        hash: HashAlg::Sha256,
        mgf: HashAlg::Sha256,
        label: Vec::new(),
    });
    sim.encrypt_init(co, &oaep, public).unwrap();
    let ciphertext = sim.encrypt(co, b"secret").unwrap();
    sim.decrypt_init(co, &oaep, private).unwrap();
    assert_eq!(sim.decrypt(co, &ciphertext), Err(SimError::UserNotLoggedIn));
    sim.decrypt_init(co, &oaep, private).unwrap();
    sim.verify_init(co, &hashed, public).unwrap();
    context(b"co-pin").unwrap();
    assert_eq!(sim.decrypt(co, &ciphertext).unwrap().as_slice(), b"secret");
    assert_eq!(sim.verify(co, b"data", &signature), Ok(()));
    // A verification alone waits for nothing.
    sim.verify_init(co, &hashed, public).unwrap();
    assert_eq!(context(b"co-pin"), Err(SimError::OperationNotInitialized));
    sim.end_operation(co, luna_sim::OperationKind::Verify)
        .unwrap();

    // An EC key, used by the Crypto User, whose own PIN it is.
    let (_ec_public, ec_private) = sim
        .generate_key_pair(
            co,
            &Mechanism::EcKeyPairGen,
            &[Attribute::bytes(
                CKA_EC_PARAMS,
                luna_sim::P256_EC_PARAMS.to_vec(),
            )],
            &[
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bool(CKA_ALWAYS_AUTHENTICATE, true),
            ],
        )
        .unwrap();
    sim.logout(co).unwrap();
    let cu = login(&sim, 0, CKU_CRYPTO_USER);
    sim.sign_init(cu, &Mechanism::Ecdsa, ec_private).unwrap();
    assert_eq!(
        sim.login(cu, CKU_CONTEXT_SPECIFIC, b"co-pin"),
        Err(SimError::PinIncorrect)
    );
    sim.login(cu, CKU_CONTEXT_SPECIFIC, b"cu-pin").unwrap();
    assert_eq!(sim.sign(cu, &[7; 32]).unwrap().len(), 64);

    // The attribute is set when the key is made, and is read-only after.
    sim.logout(cu).unwrap();
    let co = login(&sim, 0, CKU_USER);
    assert_eq!(
        sim.set_attribute_value(
            co,
            ec_private,
            &[Attribute::bool(CKA_ALWAYS_AUTHENTICATE, false)]
        ),
        Err(SimError::AttributeReadOnly(CKA_ALWAYS_AUTHENTICATE))
    );
    // A key without it signs with no second login.
    let (_, plain) = sim
        .generate_key_pair(
            co,
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ulong(CKA_MODULUS_BITS, 1024)],
            &[],
        )
        .unwrap();
    assert_eq!(read(&sim, co, plain, CKA_ALWAYS_AUTHENTICATE), [0]);
    sim.sign_init(co, &hashed, plain).unwrap();
    assert_eq!(
        sim.login(co, CKU_CONTEXT_SPECIFIC, b"co-pin"),
        Err(SimError::OperationNotInitialized)
    );
    assert!(sim.sign(co, b"data").is_ok());
}

#[test]
fn always_authenticate_keys_are_private_never_unwrap_or_derive_and_a_locked_context_login_logs_out()
{
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let always = Attribute::bool(CKA_ALWAYS_AUTHENTICATE, true);
    let bits = [Attribute::ulong(CKA_MODULUS_BITS, 1024)];
    // Only a private key may have it (PKCS#11 4.9), made so or copied so.
    assert_eq!(
        sim.generate_key_pair(
            co,
            &Mechanism::RsaPkcsKeyPairGen,
            &bits,
            &[always.clone(), Attribute::bool(CKA_PRIVATE, false)],
        ),
        Err(SimError::TemplateInconsistent)
    );
    let (public, private) = sim
        .generate_key_pair(
            co,
            &Mechanism::RsaPkcsKeyPairGen,
            &bits,
            std::slice::from_ref(&always),
        )
        .unwrap();
    assert_eq!(
        sim.copy_object(co, private, &[Attribute::bool(CKA_PRIVATE, false)]),
        Err(SimError::TemplateInconsistent)
    );
    // An unwrap is one call: no context login can precede it, so the key does not unwrap
    // (else it would decrypt without the per-use PIN).
    sim.encrypt_init(co, &Mechanism::RsaPkcs, public).unwrap();
    let wrapped = sim.encrypt(co, &[0x5a; 16]).unwrap();
    let secret = [
        Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
    ];
    assert_eq!(
        sim.unwrap_key(co, &Mechanism::RsaPkcs, private, &wrapped, &secret),
        Err(SimError::KeyFunctionNotPermitted)
    );
    // Nor does an EC key derive.
    let ec_params = Attribute::bytes(CKA_EC_PARAMS, luna_sim::P256_EC_PARAMS.to_vec());
    let (_, ec_private) = sim
        .generate_key_pair(
            co,
            &Mechanism::EcKeyPairGen,
            std::slice::from_ref(&ec_params),
            &[always, Attribute::bool(CKA_DERIVE, true)],
        )
        .unwrap();
    let (peer, _) = sim
        .generate_key_pair(co, &Mechanism::EcKeyPairGen, &[ec_params], &[])
        .unwrap();
    let point = read(&sim, co, peer, CKA_EC_POINT);
    let ecdh = Mechanism::Ecdh1Derive(
        luna_sim::mechanisms::EcdhParams::from_ck(CKD_NULL, vec![], point).unwrap(),
    );
    assert_eq!(
        sim.derive_key(co, &ecdh, ec_private, &secret),
        Err(SimError::KeyFunctionNotPermitted)
    );
    // Wrong context PINs count toward the lockout; the one that finds the PIN locked also
    // logs the role out (PKCS#11 5.6), ending the waiting operation.
    sim.sign_init(co, &Mechanism::RsaPkcs, private).unwrap();
    let mut locked = false;
    for _ in 0..32 {
        match sim.login(co, CKU_CONTEXT_SPECIFIC, b"wrong-pin") {
            Err(SimError::PinIncorrect) => {}
            Err(SimError::PinLocked) => {
                locked = true;
                break;
            }
            other => panic!("context login: {other:?}"),
        }
    }
    assert!(locked, "the wrong PINs locked the role");
    assert_eq!(
        sim.sign(co, b"data"),
        Err(SimError::OperationNotInitialized)
    );
    assert_eq!(sim.session_info(co).unwrap().role, None, "logged out");
    // The private session keys went with the login.
    assert_eq!(
        sim.sign_init(co, &Mechanism::RsaPkcs, private),
        Err(SimError::KeyHandleInvalid)
    );
}

#[test]
fn one_context_login_releases_one_operation_and_the_other_direction_changes_no_wait() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    let always = [Attribute::bool(CKA_ALWAYS_AUTHENTICATE, true)];
    let bits = [Attribute::ulong(CKA_MODULUS_BITS, 1024)];
    let (public, private) = sim
        .generate_key_pair(co, &Mechanism::RsaPkcsKeyPairGen, &bits, &always)
        .unwrap();
    let (_, other_private) = sim
        .generate_key_pair(co, &Mechanism::RsaPkcsKeyPairGen, &bits, &always)
        .unwrap();
    sim.encrypt_init(co, &Mechanism::RsaPkcs, public).unwrap();
    let ciphertext = sim.encrypt(co, b"secret").unwrap();
    let context = || sim.login(co, CKU_CONTEXT_SPECIFIC, b"co-pin");

    // A verification begun beside a waiting signing does not release it, nor an encryption
    // beside a waiting decryption.
    sim.sign_init(co, &Mechanism::RsaPkcs, private).unwrap();
    sim.verify_init(co, &Mechanism::RsaPkcs, public).unwrap();
    assert_eq!(sim.sign(co, b"data"), Err(SimError::UserNotLoggedIn));
    sim.end_operation(co, luna_sim::OperationKind::Verify)
        .unwrap();
    sim.decrypt_init(co, &Mechanism::RsaPkcs, private).unwrap();
    sim.encrypt_init(co, &Mechanism::RsaPkcs, public).unwrap();
    assert_eq!(sim.decrypt(co, &ciphertext), Err(SimError::UserNotLoggedIn));
    sim.end_operation(co, luna_sim::OperationKind::Encrypt)
        .unwrap();

    // A signing and a decryption waiting, with two keys: one login releases the later init
    // only, the second login the other.
    sim.sign_init(co, &Mechanism::RsaPkcs, other_private)
        .unwrap();
    sim.decrypt_init(co, &Mechanism::RsaPkcs, private).unwrap();
    context().unwrap();
    assert_eq!(sim.decrypt(co, &ciphertext).unwrap().as_slice(), b"secret");
    assert_eq!(sim.sign(co, b"data"), Err(SimError::UserNotLoggedIn));
    sim.decrypt_init(co, &Mechanism::RsaPkcs, private).unwrap();
    sim.sign_init(co, &Mechanism::RsaPkcs, other_private)
        .unwrap();
    context().unwrap();
    assert!(sim.sign(co, b"data").is_ok());
    assert_eq!(sim.decrypt(co, &ciphertext), Err(SimError::UserNotLoggedIn));
    sim.sign_init(co, &Mechanism::RsaPkcs, other_private)
        .unwrap();
    sim.decrypt_init(co, &Mechanism::RsaPkcs, private).unwrap();
    context().unwrap();
    context().unwrap();
    assert!(sim.sign(co, b"data").is_ok());
    assert_eq!(sim.decrypt(co, &ciphertext).unwrap().as_slice(), b"secret");
}
