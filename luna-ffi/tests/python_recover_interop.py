"""Signing and verifying with recovery (C_SignRecover, C_VerifyRecover) against the
`cryptography` package. Neither python-pkcs11 nor PyKCS11 has the recover calls, so this
drives the module with ctypes. The keys come from `cryptography` and are imported, so the
reference holds its own copy: what the token signs with recovery, `cryptography` recovers;
what `cryptography` signs, the token recovers; both for CKM_RSA_PKCS and CKM_RSA_X_509, with
the length query and the short buffer of C_VerifyRecover.

Usage: python3 python_recover_interop.py /path/to/libluna_ffi.so  (with LUNA_SIM_HOME set)
Prints one line per check and "python-recover: OK" on success; any failure raises.
"""

import ctypes
import os
import sys
from ctypes import byref, c_ubyte, c_ulong, c_void_p, sizeof

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

CK_ULONG = c_ulong
CKR_OK = 0
CKR_BUFFER_TOO_SMALL = 0x150
CKR_OPERATION_NOT_INITIALIZED = 0x91
CKR_SIGNATURE_INVALID = 0xC0
CKF_SERIAL_SESSION = 0x4
CKF_RW_SESSION = 0x2
CKU_USER = 1
CKO_PUBLIC_KEY = 2
CKO_PRIVATE_KEY = 3
CKK_RSA = 0
CKA_CLASS = 0x0
CKA_KEY_TYPE = 0x100
CKA_MODULUS = 0x120
CKA_PUBLIC_EXPONENT = 0x122
CKA_PRIVATE_EXPONENT = 0x123
CKA_PRIME_1 = 0x124
CKA_PRIME_2 = 0x125
CKM_RSA_PKCS = 0x1
CKM_RSA_X_509 = 0x3
# RFC 8017, section 9.2, note 1.
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


class CK_ATTRIBUTE(ctypes.Structure):
    _fields_ = [("type", CK_ULONG), ("pValue", c_void_p), ("ulValueLen", CK_ULONG)]


class CK_MECHANISM(ctypes.Structure):
    _fields_ = [("mechanism", CK_ULONG), ("pParameter", c_void_p), ("ulParameterLen", CK_ULONG)]


def check(rv, what, expected=CKR_OK):
    assert rv == expected, "%s returned 0x%08X, expected 0x%08X" % (what, rv, expected)


class Module:
    def __init__(self, path):
        self.dll = ctypes.CDLL(path)

    def __getattr__(self, name):
        function = getattr(self.dll, name)
        function.restype = CK_ULONG
        return function


def be(value, length=None):
    length = length or (value.bit_length() + 7) // 8
    return value.to_bytes(length, "big")


def main(path):
    p11 = Module(path)
    keep = []

    def attribute(kind, value):
        if isinstance(value, int) and kind in (CKA_CLASS, CKA_KEY_TYPE):
            raw = CK_ULONG(value)
            keep.append(raw)
            return CK_ATTRIBUTE(kind, ctypes.cast(byref(raw), c_void_p), sizeof(CK_ULONG))
        raw = (c_ubyte * len(value)).from_buffer_copy(value)
        keep.append(raw)
        return CK_ATTRIBUTE(kind, ctypes.cast(raw, c_void_p), len(value))

    check(p11.C_Initialize(None), "C_Initialize")
    session = CK_ULONG()
    flags = CKF_SERIAL_SESSION | CKF_RW_SESSION
    check(p11.C_OpenSession(CK_ULONG(0), CK_ULONG(flags), None, None, byref(session)), "C_OpenSession")
    check(p11.C_Login(session, CK_ULONG(CKU_USER), b"co-pin", CK_ULONG(6)), "C_Login")

    def create(template):
        array = (CK_ATTRIBUTE * len(template))(*template)
        handle = CK_ULONG()
        check(p11.C_CreateObject(session, array, CK_ULONG(len(template)), byref(handle)), "C_CreateObject")
        return handle

    def init(function, mechanism, key):
        check(getattr(p11, function)(session, byref(CK_MECHANISM(mechanism, None, 0)), key), function)

    def sign_recover(mechanism, key, data):
        init("C_SignRecoverInit", mechanism, key)
        length = CK_ULONG()
        data_buf = (c_ubyte * len(data)).from_buffer_copy(data)
        check(p11.C_SignRecover(session, data_buf, CK_ULONG(len(data)), None, byref(length)), "length")
        out = (c_ubyte * length.value)()
        check(p11.C_SignRecover(session, data_buf, CK_ULONG(len(data)), out, byref(length)), "C_SignRecover")
        return bytes(out[: length.value])

    def verify_recover(mechanism, key, signature, expected_length):
        init("C_VerifyRecoverInit", mechanism, key)
        sig = (c_ubyte * len(signature)).from_buffer_copy(signature)
        length = CK_ULONG()
        check(p11.C_VerifyRecover(session, sig, CK_ULONG(len(sig)), None, byref(length)), "query")
        assert length.value == expected_length, (length.value, expected_length)
        # A buffer one byte short: CKR_BUFFER_TOO_SMALL with the exact length, still active.
        short = (c_ubyte * (expected_length - 1))()
        length = CK_ULONG(expected_length - 1)
        check(p11.C_VerifyRecover(session, sig, CK_ULONG(len(sig)), short, byref(length)), "short",
              CKR_BUFFER_TOO_SMALL)
        assert length.value == expected_length
        out = (c_ubyte * expected_length)()
        check(p11.C_VerifyRecover(session, sig, CK_ULONG(len(sig)), out, byref(length)), "C_VerifyRecover")
        # The call that delivered ended the operation.
        check(p11.C_VerifyRecover(session, sig, CK_ULONG(len(sig)), out, byref(length)), "after",
              CKR_OPERATION_NOT_INITIALIZED)
        return bytes(out[: length.value])

    for bits in (2048, 3072):
        reference = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        numbers = reference.private_numbers()
        n, e = numbers.public_numbers.n, numbers.public_numbers.e
        k = (bits + 7) // 8
        public = create([
            attribute(CKA_CLASS, CKO_PUBLIC_KEY), attribute(CKA_KEY_TYPE, CKK_RSA),
            attribute(CKA_MODULUS, be(n)), attribute(CKA_PUBLIC_EXPONENT, be(e)),
        ])
        private = create([
            attribute(CKA_CLASS, CKO_PRIVATE_KEY), attribute(CKA_KEY_TYPE, CKK_RSA),
            attribute(CKA_MODULUS, be(n)), attribute(CKA_PUBLIC_EXPONENT, be(e)),
            attribute(CKA_PRIVATE_EXPONENT, be(numbers.d)),
            attribute(CKA_PRIME_1, be(numbers.p)), attribute(CKA_PRIME_2, be(numbers.q)),
        ])
        verifier = reference.public_key()

        # CKM_RSA_PKCS: the token signs a DigestInfo with recovery; cryptography verifies the
        # signature as a SHA-256 one and recovers the same DigestInfo.
        digest = hashes.Hash(hashes.SHA256())
        digest.update(b"recover me %d" % bits)
        hashed = digest.finalize()
        signature = sign_recover(CKM_RSA_PKCS, private, SHA256_DIGEST_INFO + hashed)
        verifier.verify(signature, hashed, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        assert verifier.recover_data_from_signature(signature, padding.PKCS1v15(), None) == \
            SHA256_DIGEST_INFO + hashed
        # Arbitrary short data too (not a DigestInfo).
        payload = os.urandom(k - 11)
        signature = sign_recover(CKM_RSA_PKCS, private, payload)
        assert verifier.recover_data_from_signature(signature, padding.PKCS1v15(), None) == payload
        print("RSA-%d CKM_RSA_PKCS sign-recover: cryptography recovers it" % bits)

        # A sign-recover operation is not a C_Sign one: C_Sign finds none and ends nothing.
        init("C_SignRecoverInit", CKM_RSA_PKCS, private)
        data = (c_ubyte * 35).from_buffer_copy(SHA256_DIGEST_INFO[:3] + hashed)
        out, length = (c_ubyte * k)(), CK_ULONG(k)
        check(p11.C_Sign(session, data, CK_ULONG(35), out, byref(length)), "C_Sign",
              CKR_OPERATION_NOT_INITIALIZED)
        check(p11.C_SignRecover(session, data, CK_ULONG(35), out, byref(length)), "still active")
        assert length.value == k

        # cryptography signs; the token recovers the DigestInfo, with the length rules.
        theirs = reference.sign(hashed, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        recovered = verify_recover(CKM_RSA_PKCS, public, theirs, len(SHA256_DIGEST_INFO) + 32)
        assert recovered == SHA256_DIGEST_INFO + hashed
        # A signature cryptography made over other data is rejected once altered.
        altered = bytearray(theirs)
        altered[3] ^= 0x10
        init("C_VerifyRecoverInit", CKM_RSA_PKCS, public)
        sig = (c_ubyte * k).from_buffer_copy(bytes(altered))
        out, length = (c_ubyte * k)(), CK_ULONG(k)
        check(p11.C_VerifyRecover(session, sig, CK_ULONG(k), out, byref(length)), "altered",
              CKR_SIGNATURE_INVALID)
        print("RSA-%d CKM_RSA_PKCS verify-recover: the token recovers cryptography's" % bits)

        # CKM_RSA_X_509: raw RSA both ways, checked with the key's own numbers.
        m = int.from_bytes(os.urandom(k), "big") % n
        raw = sign_recover(CKM_RSA_X_509, private, be(m, k))
        assert len(raw) == k and pow(int.from_bytes(raw, "big"), e, n) == m
        s = pow(m, numbers.d, n)
        assert verify_recover(CKM_RSA_X_509, public, be(s, k), k) == be(m, k)
        print("RSA-%d CKM_RSA_X_509 sign- and verify-recover agree with the key's numbers" % bits)

    check(p11.C_Finalize(None), "C_Finalize")
    print("python-recover: OK")


if __name__ == "__main__":
    main(sys.argv[1])
