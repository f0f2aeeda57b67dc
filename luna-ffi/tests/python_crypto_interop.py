"""python-pkcs11 and PyKCS11 drive libluna_ffi.so with RSA and EC P-256 keys, and the
`cryptography` package is the independent reference: what the token signs, cryptography
verifies; what cryptography encrypts or signs with the token's public key or an imported key,
the token decrypts or verifies.

Covered per library: RSA key-pair generation, PKCS #1 v1.5 and PSS signatures with SHA-1/224/
256/384/512, OAEP encryption (SHA-1 and SHA-256, with and without a label), PKCS #1 v1.5
encryption, the import of a private key that cryptography generated (every CRT component),
ECDSA with SHA-1/224/256/384/512 on P-256, P-384 and P-521 and raw CKM_ECDSA, ECDSA on P-192,
P-224, secp256k1, brainpoolP256r1 and brainpoolP384r1, Ed25519 (CKM_EDDSA, both ways), ECDH
(CKM_ECDH1_DERIVE with CKD_NULL and the X9.63 KDF against cryptography's exchange and
X963KDF), and the SHA digests.

Usage: python3 python_crypto_interop.py /path/to/libluna_ffi.so  (with LUNA_SIM_HOME set)
Prints "python-crypto-interop: OK" on success; any failure raises.
"""

import hashlib
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

PIN = "co-pin"
HASHES = [
    ("SHA1", hashes.SHA1(), "sha1"),
    ("SHA224", hashes.SHA224(), "sha224"),
    ("SHA256", hashes.SHA256(), "sha256"),
    ("SHA384", hashes.SHA384(), "sha384"),
    ("SHA512", hashes.SHA512(), "sha512"),
]
MESSAGE = b"interop message signed by the simulated Luna token" * 3


def int_of(data):
    return int.from_bytes(bytes(data), "big")


def bytes_of(value):
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def expect_invalid(verify):
    try:
        verify()
    except InvalidSignature:
        return
    raise AssertionError("a damaged signature verified")


# ---------------------------------------------------------------------------------------------
# python-pkcs11


def with_python_pkcs11(module_path):
    import pkcs11
    from pkcs11 import MGF, Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11.util.ec import (
        decode_ecdsa_signature,
        encode_ec_public_key,
        encode_ecdsa_signature,
        encode_named_curve_parameters,
    )
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_der_public_key,
    )

    lib = pkcs11.lib(module_path)
    token = lib.get_token(token_label="source")
    with token.open(rw=True, user_pin=PIN) as session:
        public, private = session.generate_keypair(KeyType.RSA, 2048, label="py-rsa")
        reference = rsa.RSAPublicNumbers(
            int_of(public[Attribute.PUBLIC_EXPONENT]), int_of(public[Attribute.MODULUS])
        ).public_key()
        assert reference.key_size == 2048
        for name, algorithm, _ in HASHES:
            mech = getattr(Mechanism, name + "_RSA_PKCS")
            signature = private.sign(MESSAGE, mechanism=mech)
            reference.verify(signature, MESSAGE, padding.PKCS1v15(), algorithm)
            damaged = bytes([signature[0] ^ 1]) + signature[1:]
            expect_invalid(lambda: reference.verify(damaged, MESSAGE, padding.PKCS1v15(), algorithm))
            mgf = getattr(MGF, name)
            hash_mech = getattr(Mechanism, "SHA_1" if name == "SHA1" else name)
            pss = (hash_mech, mgf, algorithm.digest_size)
            signature = private.sign(
                MESSAGE, mechanism=getattr(Mechanism, name + "_RSA_PKCS_PSS"), mechanism_param=pss
            )
            reference.verify(
                signature,
                MESSAGE,
                padding.PSS(padding.MGF1(algorithm), algorithm.digest_size),
                algorithm,
            )
        # OAEP and PKCS #1 v1.5: cryptography encrypts with the token's public key.
        for algorithm, hash_mech, mgf in [
            (hashes.SHA1(), Mechanism.SHA_1, MGF.SHA1),
            (hashes.SHA256(), Mechanism.SHA256, MGF.SHA256),
        ]:
            for label in [None, b"label"]:
                ciphertext = reference.encrypt(
                    b"oaep secret",
                    padding.OAEP(padding.MGF1(algorithm), algorithm, label),
                )
                plain = private.decrypt(
                    ciphertext,
                    mechanism=Mechanism.RSA_PKCS_OAEP,
                    mechanism_param=(hash_mech, mgf, label),
                )
                assert plain == b"oaep secret", plain
        ciphertext = reference.encrypt(b"pkcs1 secret", padding.PKCS1v15())
        assert private.decrypt(ciphertext, mechanism=Mechanism.RSA_PKCS) == b"pkcs1 secret"

        # A key cryptography generated, imported with every CRT component: the token signs
        # PSS, cryptography verifies; cryptography signs, the token verifies.
        theirs = rsa.generate_private_key(65537, 3072)
        numbers = theirs.private_numbers()
        imported = session.create_object(
            {
                Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                Attribute.KEY_TYPE: KeyType.RSA,
                Attribute.TOKEN: False,
                Attribute.SIGN: True,
                Attribute.DECRYPT: True,
                Attribute.MODULUS: bytes_of(numbers.public_numbers.n),
                Attribute.PUBLIC_EXPONENT: bytes_of(numbers.public_numbers.e),
                Attribute.PRIVATE_EXPONENT: bytes_of(numbers.d),
                Attribute.PRIME_1: bytes_of(numbers.p),
                Attribute.PRIME_2: bytes_of(numbers.q),
                Attribute.EXPONENT_1: bytes_of(numbers.dmp1),
                Attribute.EXPONENT_2: bytes_of(numbers.dmq1),
                Attribute.COEFFICIENT: bytes_of(numbers.iqmp),
            }
        )
        signature = imported.sign(
            MESSAGE,
            mechanism=Mechanism.SHA384_RSA_PKCS_PSS,
            mechanism_param=(Mechanism.SHA384, MGF.SHA384, 48),
        )
        theirs.public_key().verify(
            signature, MESSAGE, padding.PSS(padding.MGF1(hashes.SHA384()), 48), hashes.SHA384()
        )
        imported_public = session.create_object(
            {
                Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                Attribute.KEY_TYPE: KeyType.RSA,
                Attribute.TOKEN: False,
                Attribute.VERIFY: True,
                Attribute.MODULUS: bytes_of(numbers.public_numbers.n),
                Attribute.PUBLIC_EXPONENT: bytes_of(numbers.public_numbers.e),
            }
        )
        theirs_signature = theirs.sign(
            MESSAGE, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()
        )
        assert imported_public.verify(
            MESSAGE,
            theirs_signature,
            mechanism=Mechanism.SHA256_RSA_PKCS_PSS,
            mechanism_param=(Mechanism.SHA256, MGF.SHA256, 32),
        )
        assert not imported_public.verify(
            MESSAGE + b"!",
            theirs_signature,
            mechanism=Mechanism.SHA256_RSA_PKCS_PSS,
            mechanism_param=(Mechanism.SHA256, MGF.SHA256, 32),
        )
        reference_oaep = theirs.public_key().encrypt(
            b"to the imported key", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        )
        assert (
            imported.decrypt(
                reference_oaep,
                mechanism=Mechanism.RSA_PKCS_OAEP,
                mechanism_param=(Mechanism.SHA256, MGF.SHA256, None),
            )
            == b"to the imported key"
        )

        # EC P-256: ECDSA with each hash, verified by cryptography; raw CKM_ECDSA too.
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
        )
        ec_public, ec_private = params.generate_keypair()
        ec_reference = load_der_public_key(encode_ec_public_key(ec_public))
        for name, algorithm, _ in HASHES:
            signature = ec_private.sign(MESSAGE, mechanism=getattr(Mechanism, "ECDSA_" + name))
            ec_reference.verify(encode_ecdsa_signature(signature), MESSAGE, ec.ECDSA(algorithm))
        digest = hashlib.sha256(MESSAGE).digest()
        signature = ec_private.sign(digest, mechanism=Mechanism.ECDSA)
        ec_reference.verify(
            encode_ecdsa_signature(signature), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256()))
        )

        # P-384 and P-521 too, the points of P-521 in a long-form DER length.
        for curve_name, curve in [("secp384r1", ec.SECP384R1()), ("secp521r1", ec.SECP521R1())]:
            params = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve_name)}, local=True
            )
            pub_n, priv_n = params.generate_keypair()
            reference_n = load_der_public_key(encode_ec_public_key(pub_n))
            assert reference_n.curve.name == curve.name, reference_n.curve.name
            for name, algorithm, _ in HASHES:
                signature = priv_n.sign(MESSAGE, mechanism=getattr(Mechanism, "ECDSA_" + name))
                reference_n.verify(encode_ecdsa_signature(signature), MESSAGE, ec.ECDSA(algorithm))

        # The other Weierstrass curves: ECDSA with SHA-256, checked by cryptography.
        for curve_name, curve in [
            ("secp192r1", ec.SECP192R1()),
            ("secp224r1", ec.SECP224R1()),
            ("secp256k1", ec.SECP256K1()),
            ("brainpoolp256r1", ec.BrainpoolP256R1()),
            ("brainpoolp384r1", ec.BrainpoolP384R1()),
        ]:
            params = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve_name)}, local=True
            )
            pub_n, priv_n = params.generate_keypair()
            reference_n = load_der_public_key(encode_ec_public_key(pub_n))
            assert reference_n.curve.name == curve.name, reference_n.curve.name
            signature = priv_n.sign(MESSAGE, mechanism=Mechanism.ECDSA_SHA256)
            reference_n.verify(encode_ecdsa_signature(signature), MESSAGE, ec.ECDSA(hashes.SHA256()))

        # Ed25519: the token signs, cryptography verifies; cryptography signs, the token verifies.
        from cryptography.hazmat.primitives.asymmetric import ed25519

        ed_public, ed_private = session.generate_keypair(
            KeyType.EC_EDWARDS,
            public_template={Attribute.EC_PARAMS: bytes.fromhex("06032b6570")},
            mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
        )
        point = ed_public[Attribute.EC_POINT]
        assert point[:2] == b"\x04\x20", point.hex()
        ed_reference = ed25519.Ed25519PublicKey.from_public_bytes(point[2:])
        ed_reference.verify(ed_private.sign(MESSAGE, mechanism=Mechanism.EDDSA), MESSAGE)
        theirs_ed = ed25519.Ed25519PrivateKey.generate()
        ed_imported = session.create_object(
            {
                Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                Attribute.KEY_TYPE: KeyType.EC_EDWARDS,
                Attribute.TOKEN: False,
                Attribute.EC_PARAMS: bytes.fromhex("06032b6570"),
                Attribute.EC_POINT: b"\x04\x20"
                + theirs_ed.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
            }
        )
        assert ed_imported.verify(MESSAGE, theirs_ed.sign(MESSAGE), mechanism=Mechanism.EDDSA)
        assert not ed_imported.verify(MESSAGE + b"!", theirs_ed.sign(MESSAGE), mechanism=Mechanism.EDDSA)

        # ECDH: the token derives what cryptography's exchange gives, raw and through X9.63.
        from pkcs11 import KDF
        from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp384r1")}, local=True
        )
        dh_public, dh_private = params.generate_keypair(private_template={Attribute.DERIVE: True})
        theirs_dh = ec.generate_private_key(ec.SECP384R1())
        their_point = theirs_dh.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        ours_public = load_der_public_key(encode_ec_public_key(dh_public))
        shared = theirs_dh.exchange(ec.ECDH(), ours_public)
        readable = {Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True}
        raw = dh_private.derive_key(
            KeyType.GENERIC_SECRET,
            len(shared) * 8,
            mechanism_param=(KDF.NULL, None, their_point),
            template=readable,
        )
        assert raw[Attribute.VALUE] == shared
        aes = dh_private.derive_key(
            KeyType.AES,
            256,
            mechanism_param=(KDF.SHA256, b"context", their_point),
            template=readable,
        )
        assert aes[Attribute.VALUE] == X963KDF(hashes.SHA256(), 32, b"context").derive(shared)

        # An ECDSA signature by cryptography verifies on the token.
        theirs_ec = ec.generate_private_key(ec.SECP256R1())
        der = theirs_ec.sign(MESSAGE, ec.ECDSA(hashes.SHA384()))
        ec_imported = session.create_object(
            {
                Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                Attribute.KEY_TYPE: KeyType.EC,
                Attribute.TOKEN: False,
                Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1"),
                Attribute.EC_POINT: b"\x04\x41"
                + theirs_ec.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint),
            }
        )
        assert ec_imported.verify(
            MESSAGE, decode_ecdsa_signature(der), mechanism=Mechanism.ECDSA_SHA384
        )

        # Digests against hashlib.
        for name, _, hashlib_name in HASHES:
            mech = getattr(Mechanism, "SHA_1" if name == "SHA1" else name)
            assert session.digest(MESSAGE, mechanism=mech) == hashlib.new(hashlib_name, MESSAGE).digest()
    print("python-pkcs11 RSA/EC/Ed25519/ECDH against cryptography: OK")


# ---------------------------------------------------------------------------------------------
# PyKCS11


def with_pykcs11(module_path):
    import PyKCS11
    from PyKCS11 import (
        CKA_CLASS,
        CKA_DECRYPT,
        CKA_ENCRYPT,
        CKA_KEY_TYPE,
        CKA_MODULUS,
        CKA_MODULUS_BITS,
        CKA_PUBLIC_EXPONENT,
        CKA_SIGN,
        CKA_TOKEN,
        CKA_VERIFY,
        CKK_RSA,
        CKO_PRIVATE_KEY,
        CKO_PUBLIC_KEY,
    )

    lib = PyKCS11.PyKCS11Lib()
    lib.load(module_path)
    slot = lib.getSlotList(tokenPresent=True)[0]
    session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    session.login(PIN)
    public, private = session.generateKeyPair(
        [
            (CKA_CLASS, CKO_PUBLIC_KEY),
            (CKA_KEY_TYPE, CKK_RSA),
            (CKA_TOKEN, False),
            (CKA_MODULUS_BITS, 2048),
            (CKA_PUBLIC_EXPONENT, (0x01, 0x00, 0x01)),
            (CKA_ENCRYPT, True),
            (CKA_VERIFY, True),
        ],
        [
            (CKA_CLASS, CKO_PRIVATE_KEY),
            (CKA_KEY_TYPE, CKK_RSA),
            (CKA_TOKEN, False),
            (CKA_SIGN, True),
            (CKA_DECRYPT, True),
        ],
        mecha=PyKCS11.MechanismRSAGENERATEKEYPAIR,
    )
    modulus, exponent = session.getAttributeValue(public, [CKA_MODULUS, CKA_PUBLIC_EXPONENT])
    reference = rsa.RSAPublicNumbers(int_of(exponent), int_of(modulus)).public_key()
    for name, algorithm, _ in HASHES:
        mech = PyKCS11.Mechanism(getattr(PyKCS11, "CKM_%s_RSA_PKCS" % name), None)
        signature = bytes(session.sign(private, MESSAGE, mech))
        reference.verify(signature, MESSAGE, padding.PKCS1v15(), algorithm)
        hash_mech = getattr(PyKCS11, "CKM_SHA_1" if name == "SHA1" else "CKM_" + name)
        mgf = getattr(PyKCS11, "CKG_MGF1_" + name)
        pss = PyKCS11.RSA_PSS_Mechanism(
            getattr(PyKCS11, "CKM_%s_RSA_PKCS_PSS" % name), hash_mech, mgf, algorithm.digest_size
        )
        signature = bytes(session.sign(private, MESSAGE, pss))
        reference.verify(
            signature, MESSAGE, padding.PSS(padding.MGF1(algorithm), algorithm.digest_size), algorithm
        )
        assert session.verify(public, MESSAGE, signature, pss)
    # Raw PSS over a hash, and PKCS #1 v1.5 with a caller-built DigestInfo.
    digest = hashlib.sha256(MESSAGE).digest()
    raw_pss = PyKCS11.RSA_PSS_Mechanism(
        PyKCS11.CKM_RSA_PKCS_PSS, PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256, 32
    )
    signature = bytes(session.sign(private, digest, raw_pss))
    reference.verify(
        signature, digest, padding.PSS(padding.MGF1(hashes.SHA256()), 32), utils.Prehashed(hashes.SHA256())
    )
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + digest
    signature = bytes(session.sign(private, digest_info, PyKCS11.MechanismRSAPKCS1))
    reference.verify(signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    # OAEP: cryptography encrypts, the token decrypts; and back.
    oaep = PyKCS11.RSAOAEPMechanism(PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256)
    ciphertext = reference.encrypt(
        b"pykcs11 oaep", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    )
    assert bytes(session.decrypt(private, ciphertext, oaep)) == b"pykcs11 oaep"
    ciphertext = bytes(session.encrypt(public, b"round trip", oaep))
    assert bytes(session.decrypt(private, ciphertext, oaep)) == b"round trip"
    session.logout()
    session.closeSession()
    print("PyKCS11 RSA against cryptography: OK")


if __name__ == "__main__":
    with_python_pkcs11(sys.argv[1])
    with_pykcs11(sys.argv[1])
    print("python-crypto-interop: OK")
