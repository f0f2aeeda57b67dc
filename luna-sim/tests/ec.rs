//! EC keys on every supported curve (P-192, P-224, P-256, P-384, P-521, secp256k1,
//! brainpoolP256r1, brainpoolP384r1): generation, ECDSA with every hash, the published RFC 6979
//! vectors (A.2.3 P-192, A.2.4 P-224, A.2.5 P-256, A.2.6 P-384, message "sample"), RFC 6979
//! signatures of secp256k1 and brainpool keys as OpenSSL computes them (no published vectors
//! exist; taken from the `cryptography` package's deterministic ECDSA), both encodings of
//! `CKA_EC_POINT`, PKCS #8 wrapping, and a clone with `CA_MigrateKeys`.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{fresh, login, read};
use cpv4_migrate::MigrationItem;
use cpv4_wire::consts::*;
use luna_sim::mechanisms::ec::{
    BRAINPOOL_P256R1_EC_PARAMS, BRAINPOOL_P384R1_EC_PARAMS, Curve, P192_EC_PARAMS, P224_EC_PARAMS,
    P384_EC_PARAMS, P521_EC_PARAMS, SECP256K1_EC_PARAMS,
};
use luna_sim::{Attribute, HashAlg, Mechanism, P256_EC_PARAMS, SimError};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

struct Vector {
    params: &'static [u8],
    x: &'static str,
    ux: &'static str,
    uy: &'static str,
    hash: HashAlg,
    r: &'static str,
    s: &'static str,
}

/// RFC 6979, appendix A.2.3 to A.2.6, message "sample"; then OpenSSL's RFC 6979 signatures
/// on the curves the RFC has no example for.
const VECTORS: [Vector; 9] = [
    Vector {
        params: &P256_EC_PARAMS,
        x: "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
        ux: "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6",
        uy: "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299",
        hash: HashAlg::Sha256,
        r: "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
        s: "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
    },
    Vector {
        params: &P384_EC_PARAMS,
        x: "6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D896D5724E4C70A825F872C9EA60D2EDF5",
        ux: "EC3A4E415B4E19A4568618029F427FA5DA9A8BC4AE92E02E06AAE5286B300C64DEF8F0EA9055866064A254515480BC13",
        uy: "8015D9B72D7D57244EA8EF9AC0C621896708A59367F9DFB9F54CA84B3F1C9DB1288B231C3AE0D4FE7344FD2533264720",
        hash: HashAlg::Sha384,
        r: "94EDBB92A5ECB8AAD4736E56C691916B3F88140666CE9FA73D64C4EA95AD133C81A648152E44ACF96E36DD1E80FABE46",
        s: "99EF4AEB15F178CEA1FE40DB2603138F130E740A19624526203B6351D0A3A94FA329C145786E679E7B82C71A38628AC8",
    },
    Vector {
        params: &P384_EC_PARAMS,
        x: "6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D896D5724E4C70A825F872C9EA60D2EDF5",
        ux: "EC3A4E415B4E19A4568618029F427FA5DA9A8BC4AE92E02E06AAE5286B300C64DEF8F0EA9055866064A254515480BC13",
        uy: "8015D9B72D7D57244EA8EF9AC0C621896708A59367F9DFB9F54CA84B3F1C9DB1288B231C3AE0D4FE7344FD2533264720",
        hash: HashAlg::Sha256,
        r: "21B13D1E013C7FA1392D03C5F99AF8B30C570C6F98D4EA8E354B63A21D3DAA33BDE1E888E63355D92FA2B3C36D8FB2CD",
        s: "F3AA443FB107745BF4BD77CB3891674632068A10CA67E3D45DB2266FA7D1FEEBEFDC63ECCD1AC42EC0CB8668A4FA0AB0",
    },
    Vector {
        params: &P192_EC_PARAMS,
        x: "6FAB034934E4C0FC9AE67F5B5659A9D7D1FEFD187EE09FD4",
        ux: "AC2C77F529F91689FEA0EA5EFEC7F210D8EEA0B9E047ED56",
        uy: "3BC723E57670BD4887EBC732C523063D0A7C957BC97C1C43",
        hash: HashAlg::Sha256,
        r: "4B0B8CE98A92866A2820E20AA6B75B56382E0F9BFD5ECB55",
        s: "CCDB006926EA9565CBADC840829D8C384E06DE1F1E381B85",
    },
    Vector {
        params: &P224_EC_PARAMS,
        x: "F220266E1105BFE3083E03EC7A3A654651F45E37167E88600BF257C1",
        ux: "00CF08DA5AD719E42707FA431292DEA11244D64FC51610D94B130D6C",
        uy: "EEAB6F3DEBE455E3DBF85416F7030CBD94F34F2D6F232C69F3C1385A",
        hash: HashAlg::Sha224,
        r: "1CDFE6662DDE1E4A1EC4CDEDF6A1F5A2FB7FBD9145C12113E6ABFD3E",
        s: "A6694FD7718A21053F225D3F46197CA699D45006C06F871808F43EBC",
    },
    Vector {
        params: &P256_EC_PARAMS,
        x: "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
        ux: "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6",
        uy: "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299",
        hash: HashAlg::Sha1,
        r: "61340C88C3AAEBEB4F6D667F672CA9759A6CCAA9FA8811313039EE4A35471D32",
        s: "6D7F147DAC089441BB2E2FE8F7A3FA264B9C475098FDCF6E00D7C996E1B8B7EB",
    },
    Vector {
        params: &SECP256K1_EC_PARAMS,
        x: "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
        ux: "2C8C31FC9F990C6B55E3865A184A4CE50E09481F2EAEB3E60EC1CEA13A6AE645",
        uy: "64B95E4FDB6948C0386E189B006A29F686769B011704275E4459822DC3328085",
        hash: HashAlg::Sha256,
        r: "432310E32CB80EB6503A26CE83CC165C783B870845FB8AAD6D970889FCD7A6C8",
        s: "530128B6B81C548874A6305D93ED071CA6E05074D85863D4056CE89B02BFAB69",
    },
    Vector {
        params: &BRAINPOOL_P256R1_EC_PARAMS,
        x: "49AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
        ux: "8C01A321FC9597BC8616877D0DB67BE643D037B7DECDF3993BB48A8D0FC7C705",
        uy: "9BBBE79FC4D3F49995F933D002F09A013B990C5A0795DE833B20B95140336927",
        hash: HashAlg::Sha256,
        r: "528893979D839B09C896BA4DDA9713B8255E282A1D03880063E1EAE608F0795C",
        s: "2787F5E6495D5269C111799BD8D5BA03D99D3F736C5179143C119706F2557163",
    },
    Vector {
        params: &BRAINPOOL_P384R1_EC_PARAMS,
        x: "6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D896D5724E4C70A825F872C9EA60D2EDF5",
        ux: "1BAAEC5F74846E065DD9FA9978462F289C79AE9D86FE0D9ADAED447E1E6DC9F5B71622A2AC83607BEBDE86DAB07E3903",
        uy: "250D278B9CC815153C28AD6C155ECA5DB42D61203396A2852F9FC6062EE7AC212B65A2C9AF6B19255F80E2A0B319D903",
        hash: HashAlg::Sha384,
        r: "307146655F407E66057DFA6C89C423E20F04CBBCE9F53BB6D6409EFB6692766164AE060C071333A3A43BC1A2975324EA",
        s: "6FB43A1CB66505D5E882CC2049E3F83408DCE5373CB80C8D1DAA686153919C862AE1BF19C464C1F949B6783708A11BE3",
    },
];

/// The token's digest of `data`.
fn sim_digest(
    sim: &luna_sim::Simulator,
    session: luna_sim::SessionHandle,
    hash: HashAlg,
    data: &mut [u8],
) -> Vec<u8> {
    sim.digest_init(session, &Mechanism::Digest(hash)).unwrap();
    sim.digest(session, data).unwrap()
}

#[test]
fn rfc6979_signatures_are_reproduced_and_verify_with_the_point_in_both_encodings() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    for v in &VECTORS {
        let private = sim
            .create_object(
                co,
                &[
                    Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
                    Attribute::ulong(CKA_KEY_TYPE, CKK_EC),
                    Attribute::bytes(CKA_EC_PARAMS, v.params.to_vec()),
                    Attribute::bytes(CKA_VALUE, hex(v.x)),
                ],
            )
            .unwrap();
        let mut point = vec![0x04];
        point.extend(hex(v.ux));
        point.extend(hex(v.uy));
        let mut der = vec![0x04, u8::try_from(point.len()).unwrap()];
        der.extend(&point);
        let mut expected = hex(v.r);
        expected.extend(hex(v.s));
        let m = Mechanism::EcdsaHash(v.hash);
        sim.sign_init(co, &m, private).unwrap();
        let ours = sim.sign(co, b"sample").unwrap();
        // RFC 6979 nonces are deterministic, with HMAC over the mechanism's hash (register
        // A72): the published signature exactly, whatever the hash's length.
        assert_eq!(ours, expected, "{:?} {:?}", v.params, v.hash);
        // Raw CKM_ECDSA over the same hash gives the same signature (its nonce follows the
        // input's length).
        let mut hasher_input = b"sample".to_vec();
        let digest = sim_digest(&sim, co, v.hash, &mut hasher_input);
        sim.sign_init(co, &Mechanism::Ecdsa, private).unwrap();
        assert_eq!(sim.sign(co, &digest).unwrap(), expected);
        for encoding in [der.clone(), point.clone()] {
            let public = sim
                .create_object(
                    co,
                    &[
                        Attribute::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
                        Attribute::ulong(CKA_KEY_TYPE, CKK_EC),
                        Attribute::bytes(CKA_EC_PARAMS, v.params.to_vec()),
                        Attribute::bytes(CKA_EC_POINT, encoding),
                    ],
                )
                .unwrap();
            for signature in [&expected, &ours] {
                sim.verify_init(co, &m, public).unwrap();
                assert_eq!(sim.verify(co, b"sample", signature), Ok(()));
            }
            sim.verify_init(co, &m, public).unwrap();
            assert_eq!(
                sim.verify(co, b"sampl", &expected),
                Err(SimError::SignatureInvalid)
            );
        }
    }
}

#[test]
fn every_curve_generates_signs_with_every_hash_wraps_and_clones() {
    let (_dir, sim) = fresh();
    let source = login(&sim, 0, CKU_USER);
    let target = login(&sim, 1, CKU_USER);
    let kek = sim
        .generate_key(
            source,
            &Mechanism::AesKeyGen,
            &[Attribute::ulong(CKA_VALUE_LEN, 32)],
        )
        .unwrap();
    for curve in Curve::ALL {
        let (public, private) = sim
            .generate_key_pair(
                source,
                &Mechanism::EcKeyPairGen,
                &[
                    Attribute::bytes(CKA_EC_PARAMS, curve.params().to_vec()),
                    Attribute::bool(CKA_TOKEN, true),
                ],
                &[Attribute::bool(CKA_TOKEN, true)],
            )
            .unwrap();
        let point = read(&sim, source, public, CKA_EC_POINT);
        let field = curve.bits().div_ceil(8);
        // A DER OCTET STRING of the uncompressed point (long-form length for P-521).
        assert_eq!(point[0], 0x04);
        assert!(
            point.ends_with(&[]) && point.len() >= 2 * field + 3,
            "{curve:?}"
        );
        for hash in HashAlg::ALL {
            let m = Mechanism::EcdsaHash(hash);
            sim.sign_init(source, &m, private).unwrap();
            let sig = sim.sign(source, b"data").unwrap();
            assert_eq!(sig.len(), curve.signature_len());
            sim.verify_init(source, &m, public).unwrap();
            assert_eq!(sim.verify(source, b"data", &sig), Ok(()));
        }
        // PKCS #8 round trip: the curve comes back from the wrapped form.
        let wrapped = sim
            .wrap_key(source, &Mechanism::AesKeyWrapKwp, kek, private)
            .unwrap();
        let unwrapped = sim
            .unwrap_key(
                source,
                &Mechanism::AesKeyWrapKwp,
                kek,
                &wrapped,
                &[
                    Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
                    Attribute::ulong(CKA_KEY_TYPE, CKK_EC),
                ],
            )
            .unwrap();
        assert_eq!(read(&sim, source, unwrapped, CKA_EC_PARAMS), curve.params());
        // A clone works on the target: its signature verifies with the source's public key.
        let mut items = vec![MigrationItem::new(CK_CRYPTOKI_ELEMENT, private)];
        assert_eq!(sim.migrate_keys(source, target, 0, &mut items), CKR_OK);
        let m = Mechanism::Ecdsa;
        let hash = [9u8; 32];
        sim.sign_init(target, &m, items[0].target_handle).unwrap();
        let sig = sim.sign(target, &hash).unwrap();
        sim.verify_init(source, &m, public).unwrap();
        assert_eq!(sim.verify(source, &hash, &sig), Ok(()));
    }
    // A curve that is named but not supported (secp192k1).
    assert_eq!(
        sim.generate_key_pair(
            source,
            &Mechanism::EcKeyPairGen,
            &[Attribute::bytes(
                CKA_EC_PARAMS,
                vec![0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x1F]
            )],
            &[],
        ),
        Err(SimError::CurveNotSupported)
    );
    let _ = P521_EC_PARAMS;
}

// ---------------------------------------------------------------------------------------------
// Ed25519

use luna_sim::mechanisms::eddsa::{
    ED25519_EC_PARAMS, EDWARDS25519_NAME_PARAMS, LUNA_ED25519_EC_PARAMS,
};

/// RFC 8032, section 7.1, TEST 3 (a two-byte message).
const ED25519_SEED: &str = "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7";
const ED25519_PUBLIC: &str = "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025";
const ED25519_SIGNATURE: &str = "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a";

#[test]
fn ed25519_signs_rfc8032_vectors_generates_in_every_params_form_wraps_and_clones() {
    let (_dir, sim) = fresh();
    let source = login(&sim, 0, CKU_USER);
    let target = login(&sim, 1, CKU_USER);
    // The published vector through imported objects.
    let private = sim
        .create_object(
            source,
            &[
                Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_EC_EDWARDS),
                Attribute::bytes(CKA_EC_PARAMS, ED25519_EC_PARAMS.to_vec()),
                Attribute::bytes(CKA_VALUE, hex(ED25519_SEED)),
            ],
        )
        .unwrap();
    sim.sign_init(source, &Mechanism::Eddsa, private).unwrap();
    assert_eq!(
        sim.sign(source, &[0xaf, 0x82]).unwrap(),
        hex(ED25519_SIGNATURE)
    );
    let mut der = vec![0x04, 0x20];
    der.extend(hex(ED25519_PUBLIC));
    for point in [der.clone(), hex(ED25519_PUBLIC)] {
        let public = sim
            .create_object(
                source,
                &[
                    Attribute::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
                    Attribute::ulong(CKA_KEY_TYPE, CKK_EC_EDWARDS),
                    Attribute::bytes(CKA_EC_PARAMS, EDWARDS25519_NAME_PARAMS.to_vec()),
                    Attribute::bytes(CKA_EC_POINT, point),
                ],
            )
            .unwrap();
        sim.verify_init(source, &Mechanism::Eddsa, public).unwrap();
        assert_eq!(
            sim.verify(source, &[0xaf, 0x82], &hex(ED25519_SIGNATURE)),
            Ok(())
        );
        sim.verify_init(source, &Mechanism::Eddsa, public).unwrap();
        assert_eq!(
            sim.verify(source, &[0xaf, 0x83], &hex(ED25519_SIGNATURE)),
            Err(SimError::SignatureInvalid)
        );
        sim.verify_init(source, &Mechanism::Eddsa, public).unwrap();
        assert_eq!(
            sim.verify(source, &[0xaf, 0x82], &[0; 63]),
            Err(SimError::SignatureLenRange)
        );
    }
    // Single-part only.
    sim.sign_init(source, &Mechanism::Eddsa, private).unwrap();
    assert_eq!(
        sim.sign_update(source, b"part"),
        Err(SimError::FunctionNotSupported)
    );
    // Generation with each form of the curve's name, then a wrap and a clone.
    let kek = sim
        .generate_key(
            source,
            &Mechanism::AesKeyGen,
            &[Attribute::ulong(CKA_VALUE_LEN, 32)],
        )
        .unwrap();
    for params in [
        &ED25519_EC_PARAMS[..],
        &EDWARDS25519_NAME_PARAMS[..],
        &LUNA_ED25519_EC_PARAMS[..],
    ] {
        let (public, private) = sim
            .generate_key_pair(
                source,
                &Mechanism::EdwardsKeyPairGen,
                &[
                    Attribute::bytes(CKA_EC_PARAMS, params.to_vec()),
                    Attribute::bool(CKA_TOKEN, true),
                ],
                &[Attribute::bool(CKA_TOKEN, true)],
            )
            .unwrap();
        let point = read(&sim, source, public, CKA_EC_POINT);
        assert_eq!((point.len(), point[0], point[1]), (34, 0x04, 0x20));
        assert_eq!(read(&sim, source, private, CKA_EC_PARAMS), params);
        sim.sign_init(source, &Mechanism::Eddsa, private).unwrap();
        let sig = sim.sign(source, b"edwards").unwrap();
        assert_eq!(sig.len(), 64);
        sim.verify_init(source, &Mechanism::Eddsa, public).unwrap();
        assert_eq!(sim.verify(source, b"edwards", &sig), Ok(()));
        // PKCS #8 (RFC 8410) round trip, the key type found from the wrapped form.
        let wrapped = sim
            .wrap_key(source, &Mechanism::AesKeyWrapPad, kek, private)
            .unwrap();
        let back = sim
            .unwrap_key(
                source,
                &Mechanism::AesKeyWrapPad,
                kek,
                &wrapped,
                &[Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY)],
            )
            .unwrap();
        assert_eq!(
            read(&sim, source, back, CKA_KEY_TYPE),
            CKK_EC_EDWARDS.to_be_bytes().to_vec()
        );
        sim.sign_init(source, &Mechanism::Eddsa, back).unwrap();
        assert_eq!(
            sim.sign(source, b"edwards").unwrap(),
            sig,
            "same key, same signature"
        );
        // A clone signs on the target what the source's public key verifies.
        let mut items = vec![MigrationItem::new(CK_CRYPTOKI_ELEMENT, private)];
        assert_eq!(sim.migrate_keys(source, target, 0, &mut items), CKR_OK);
        assert_eq!(items[0].rv, CKR_OK);
        sim.sign_init(target, &Mechanism::Eddsa, items[0].target_handle)
            .unwrap();
        assert_eq!(sim.sign(target, b"edwards").unwrap(), sig);
    }
    // Ed448 is a named curve this token does not have.
    assert_eq!(
        sim.generate_key_pair(
            source,
            &Mechanism::EdwardsKeyPairGen,
            &[Attribute::bytes(
                CKA_EC_PARAMS,
                vec![0x06, 0x03, 0x2B, 0x65, 0x71]
            )],
            &[],
        ),
        Err(SimError::CurveNotSupported)
    );
}

// ---------------------------------------------------------------------------------------------
// ECDH

use luna_sim::mechanisms::EcdhParams;

fn ecdh(kdf: CkUlong, shared: &[u8], peer: &[u8]) -> Mechanism {
    Mechanism::Ecdh1Derive(EcdhParams::from_ck(kdf, shared.to_vec(), peer.to_vec()).unwrap())
}

#[test]
fn ecdh_derives_the_rfc5903_secret_and_x963_keys() {
    let (_dir, sim) = fresh();
    let co = login(&sim, 0, CKU_USER);
    // RFC 5903, section 8.1 (256-bit random ECP group).
    let private = sim
        .create_object(
            co,
            &[
                Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_EC),
                Attribute::bool(CKA_DERIVE, true),
                Attribute::bytes(CKA_EC_PARAMS, P256_EC_PARAMS.to_vec()),
                Attribute::bytes(
                    CKA_VALUE,
                    hex("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"),
                ),
            ],
        )
        .unwrap();
    let peer = hex(
        "04 D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63
            56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
    );
    let readable = [
        Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attribute::bool(CKA_SENSITIVE, false),
        Attribute::bool(CKA_EXTRACTABLE, true),
    ];
    let with = |extra: &[Attribute]| [&readable[..], extra].concat();
    // CKD_NULL: the whole x-coordinate as a generic secret; the point as DER works too.
    let mut der = vec![0x04, 0x41];
    der.extend(&peer);
    for point in [&peer, &der] {
        let z = sim
            .derive_key(
                co,
                &ecdh(CKD_NULL, &[], point),
                private,
                &with(&[Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)]),
            )
            .unwrap();
        assert_eq!(
            read(&sim, co, z, CKA_VALUE),
            hex("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE")
        );
        assert_eq!(read(&sim, co, z, CKA_LOCAL), vec![0]);
    }
    // The X9.63 KDF with SHA-256 and shared information, to an AES-128 key; with SHA-1 to a
    // 40-byte secret (two hash blocks). Expected values from `cryptography`'s X963KDF.
    let aes = sim
        .derive_key(
            co,
            &ecdh(CKD_SHA256_KDF, b"shared info", &peer),
            private,
            &with(&[
                Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                Attribute::ulong(CKA_VALUE_LEN, 16),
            ]),
        )
        .unwrap();
    assert_eq!(
        read(&sim, co, aes, CKA_VALUE),
        hex("f5af70484623f561bebca0084f5eb10e")
    );
    let long = sim
        .derive_key(
            co,
            &ecdh(CKD_SHA1_KDF, &[], &peer),
            private,
            &with(&[
                Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
                Attribute::ulong(CKA_VALUE_LEN, 40),
            ]),
        )
        .unwrap();
    assert_eq!(
        read(&sim, co, long, CKA_VALUE),
        hex("5c058b75cb1e24ec29755acf24385ade9daa799b02c1338a5777059f10096d20d0cfef8656b76a08")
    );
    // A DES3 key gets odd parity; a key of CKD_NULL takes the first bytes of Z (A74).
    let des3 = sim
        .derive_key(
            co,
            &ecdh(CKD_NULL, &[], &peer),
            private,
            &with(&[Attribute::ulong(CKA_KEY_TYPE, CKK_DES3)]),
        )
        .unwrap();
    let value = read(&sim, co, des3, CKA_VALUE);
    let z = hex("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE");
    assert!(value.iter().zip(&z).all(|(v, z)| v & 0xFE == z & 0xFE));
    assert!(value.iter().all(|b| b.count_ones() % 2 == 1));
    // Refusals.
    let generic = with(&[Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)]);
    let mut off_curve = peer.clone();
    off_curve[40] ^= 1;
    assert_eq!(
        sim.derive_key(co, &ecdh(CKD_NULL, &[], &off_curve), private, &generic),
        Err(SimError::MechanismParamInvalid)
    );
    assert_eq!(
        sim.derive_key(
            co,
            &ecdh(CKD_NULL, &[], &peer),
            private,
            &with(&[Attribute::ulong(CKA_KEY_TYPE, CKK_AES)])
        ),
        Err(SimError::TemplateIncomplete(CKA_VALUE_LEN))
    );
    assert_eq!(
        sim.derive_key(
            co,
            &ecdh(CKD_NULL, &[], &peer),
            private,
            &with(&[
                Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
                Attribute::ulong(CKA_VALUE_LEN, 33)
            ])
        ),
        Err(SimError::KeySizeRange)
    );
    assert_eq!(
        EcdhParams::from_ck(CKD_NULL, b"x".to_vec(), peer.clone()),
        Err(SimError::MechanismParamInvalid)
    );
    assert_eq!(
        EcdhParams::from_ck(0x99, vec![], peer.clone()),
        Err(SimError::MechanismParamInvalid)
    );
    let no_derive = sim
        .generate_key_pair(
            co,
            &Mechanism::EcKeyPairGen,
            &[Attribute::bytes(CKA_EC_PARAMS, P256_EC_PARAMS.to_vec())],
            &[],
        )
        .unwrap()
        .1;
    assert_eq!(
        sim.derive_key(co, &ecdh(CKD_NULL, &[], &peer), no_derive, &generic),
        Err(SimError::KeyFunctionNotPermitted)
    );
    // On every curve, both parties derive the same secret.
    for curve in Curve::ALL {
        let pair = || {
            sim.generate_key_pair(
                co,
                &Mechanism::EcKeyPairGen,
                &[Attribute::bytes(CKA_EC_PARAMS, curve.params().to_vec())],
                &[Attribute::bool(CKA_DERIVE, true)],
            )
            .unwrap()
        };
        let ((a_public, a_private), (b_public, b_private)) = (pair(), pair());
        let a_point = read(&sim, co, a_public, CKA_EC_POINT);
        let b_point = read(&sim, co, b_public, CKA_EC_POINT);
        let derive = |private, point: &[u8]| {
            let key = sim
                .derive_key(co, &ecdh(CKD_SHA256_KDF, &[], point), private, &generic)
                .unwrap();
            read(&sim, co, key, CKA_VALUE)
        };
        assert_eq!(
            derive(a_private, &b_point),
            derive(b_private, &a_point),
            "{curve:?}"
        );
    }
}
