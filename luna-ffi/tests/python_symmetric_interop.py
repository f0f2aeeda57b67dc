"""python-pkcs11 and PyKCS11 drive libluna_ffi.so with AES, DES and triple-DES keys, and the
`cryptography` package is the independent reference: what the token encrypts, MACs or wraps,
cryptography decrypts, checks or unwraps; what cryptography encrypts, the token decrypts.

Covered: AES ECB, CBC, CBC-PAD, CTR (32- and 128-bit counters), GCM (12-byte IVs through
python-pkcs11; 8-, 16- and 60-byte IVs and 32- to 128-bit tags through PyKCS11), AES-CMAC and
CMAC_GENERAL, AES key wrap with and without padding, DES3 key generation (two- and three-key)
with ECB, CBC and CBC-PAD, triple-DES CMAC, single DES, and HMAC_GENERAL.

Usage: python3 python_symmetric_interop.py /path/to/libluna_ffi.so  (with LUNA_SIM_HOME set)
Prints "python-symmetric-interop: OK" on success; any failure raises.
"""

import hmac
import os
import struct
import sys

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac as crypto_cmac
from cryptography.hazmat.primitives import keywrap, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PIN = "co-pin"
MESSAGE = b"symmetric interop message for the simulated Luna token" * 3


def reference_encrypt(algorithm, mode, data):
    encryptor = Cipher(algorithm, mode).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def pkcs7(data, block_bits):
    padder = padding.PKCS7(block_bits).padder()
    return padder.update(data) + padder.finalize()


def with_odd_parity(key):
    return bytes((b & 0xFE) | (bin(b & 0xFE).count("1") % 2 == 0) for b in key)


# ---------------------------------------------------------------------------------------------
# python-pkcs11


def with_python_pkcs11(module_path):
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11.mechanisms import CTRParams, GCMParams

    lib = pkcs11.lib(module_path)
    token = lib.get_token(token_label="source")
    with token.open(rw=True, user_pin=PIN) as session:
        value = os.urandom(32)
        aes = session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES,
                Attribute.TOKEN: False,
                Attribute.VALUE: value,
                Attribute.ENCRYPT: True,
                Attribute.DECRYPT: True,
                Attribute.SIGN: True,
                Attribute.VERIFY: True,
                Attribute.WRAP: True,
                Attribute.UNWRAP: True,
            }
        )
        reference = algorithms.AES(value)
        block = MESSAGE[:64]
        iv = os.urandom(16)
        # ECB and CBC: whole blocks; CBC-PAD: any length.
        ours = aes.encrypt(block, mechanism=Mechanism.AES_ECB)
        assert ours == reference_encrypt(reference, modes.ECB(), block)
        ours = aes.encrypt(block, mechanism=Mechanism.AES_CBC, mechanism_param=iv)
        assert ours == reference_encrypt(reference, modes.CBC(iv), block)
        theirs = reference_encrypt(reference, modes.CBC(iv), pkcs7(MESSAGE, 128))
        assert aes.decrypt(theirs, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv) == MESSAGE
        # CTR with a 12-byte nonce and a 32-bit counter (python-pkcs11's CTRParams).
        nonce = os.urandom(12)
        ours = aes.encrypt(MESSAGE, mechanism=Mechanism.AES_CTR, mechanism_param=CTRParams(nonce))
        counter = nonce + b"\x00\x00\x00\x01"
        assert ours == reference_encrypt(reference, modes.CTR(counter), MESSAGE)
        # GCM with a 12-byte IV, against cryptography's decryption.
        gcm_iv = os.urandom(12)
        sealed = aes.encrypt(
            MESSAGE, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(gcm_iv, b"aad", 128)
        )
        decryptor = Cipher(reference, modes.GCM(gcm_iv, sealed[-16:])).decryptor()
        decryptor.authenticate_additional_data(b"aad")
        assert decryptor.update(sealed[:-16]) + decryptor.finalize() == MESSAGE
        # CMAC and CMAC_GENERAL (a raw CK_MAC_GENERAL_PARAMS).
        reference_mac = crypto_cmac.CMAC(reference)
        reference_mac.update(MESSAGE)
        tag = reference_mac.finalize()
        assert aes.sign(MESSAGE, mechanism=Mechanism.AES_CMAC) == tag
        assert aes.verify(MESSAGE, tag, mechanism=Mechanism.AES_CMAC)
        general = struct.pack("=Q", 10)
        assert (
            aes.sign(MESSAGE, mechanism=Mechanism.AES_CMAC_GENERAL, mechanism_param=general)
            == tag[:10]
        )
        # Key wrap of an extractable key, unwrapped by cryptography.
        inner_value = os.urandom(32)
        inner = session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES,
                Attribute.TOKEN: False,
                Attribute.VALUE: inner_value,
                Attribute.EXTRACTABLE: True,
            }
        )
        wrapped = aes.wrap_key(inner, mechanism=Mechanism.AES_KEY_WRAP)
        assert keywrap.aes_key_unwrap(value, wrapped) == inner_value
        wrapped = aes.wrap_key(inner, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        assert keywrap.aes_key_unwrap_with_padding(value, wrapped) == inner_value
        theirs = keywrap.aes_key_wrap(value, inner_value)
        back = aes.unwrap_key(
            ObjectClass.SECRET_KEY,
            KeyType.AES,
            theirs,
            mechanism=Mechanism.AES_KEY_WRAP,
            template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False},
        )
        assert back[Attribute.VALUE] == inner_value

        # Triple DES: generated keys (two- and three-key), read out and checked.
        for key_type, length in [(KeyType.DES2, 16), (KeyType.DES3, 24)]:
            des = session.generate_key(
                key_type,
                template={
                    Attribute.SENSITIVE: False,
                    Attribute.EXTRACTABLE: True,
                    Attribute.ENCRYPT: True,
                    Attribute.DECRYPT: True,
                    Attribute.SIGN: True,
                    Attribute.VERIFY: True,
                },
            )
            des_value = des[Attribute.VALUE]
            assert len(des_value) == length and with_odd_parity(des_value) == des_value
            # cryptography takes three-key form only: K1 K2 is K1 K2 K1.
            tdes = TripleDES(des_value if length == 24 else des_value + des_value[:8])
            des_iv = os.urandom(8)
            ours = des.encrypt(block, mechanism=Mechanism.DES3_ECB)
            assert ours == reference_encrypt(tdes, modes.ECB(), block)
            ours = des.encrypt(block, mechanism=Mechanism.DES3_CBC, mechanism_param=des_iv)
            assert ours == reference_encrypt(tdes, modes.CBC(des_iv), block)
            ours = des.encrypt(MESSAGE, mechanism=Mechanism.DES3_CBC_PAD, mechanism_param=des_iv)
            assert ours == reference_encrypt(tdes, modes.CBC(des_iv), pkcs7(MESSAGE, 64))
            assert (
                des.decrypt(ours, mechanism=Mechanism.DES3_CBC_PAD, mechanism_param=des_iv)
                == MESSAGE
            )
            reference_mac = crypto_cmac.CMAC(tdes)
            reference_mac.update(MESSAGE)
            assert des.sign(MESSAGE, mechanism=Mechanism.DES3_CMAC) == reference_mac.finalize()

        # HMAC_GENERAL of a generic secret against hmac.
        secret_value = os.urandom(40)
        secret = session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.TOKEN: False,
                Attribute.VALUE: secret_value,
                Attribute.SIGN: True,
                Attribute.VERIFY: True,
            }
        )
        for mechanism, name in [
            (Mechanism.SHA_1_HMAC_GENERAL, "sha1"),
            (Mechanism.SHA256_HMAC_GENERAL, "sha256"),
            (Mechanism.SHA512_HMAC_GENERAL, "sha512"),
        ]:
            tag = secret.sign(MESSAGE, mechanism=mechanism, mechanism_param=struct.pack("=Q", 12))
            assert tag == hmac.new(secret_value, MESSAGE, name).digest()[:12]
    print("python-pkcs11 AES/DES against cryptography: OK")


# ---------------------------------------------------------------------------------------------
# PyKCS11


def with_pykcs11(module_path):
    import PyKCS11
    from PyKCS11 import (
        CKA_CLASS,
        CKA_DECRYPT,
        CKA_ENCRYPT,
        CKA_KEY_TYPE,
        CKA_TOKEN,
        CKA_VALUE,
        CKK_AES,
        CKK_DES,
        CKO_SECRET_KEY,
    )

    lib = PyKCS11.PyKCS11Lib()
    lib.load(module_path)
    slot = lib.getSlotList(tokenPresent=True)[0]
    session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    session.login(PIN)
    value = os.urandom(16)
    aes = session.createObject(
        [
            (CKA_CLASS, CKO_SECRET_KEY),
            (CKA_KEY_TYPE, CKK_AES),
            (CKA_TOKEN, False),
            (CKA_VALUE, value),
            (CKA_ENCRYPT, True),
            (CKA_DECRYPT, True),
        ]
    )
    reference = algorithms.AES(value)
    # GCM: IVs other than 12 bytes and short tags; cryptography checks the tag (it takes tags
    # of at least 4 bytes).
    for iv_len in [8, 12, 16, 60]:
        for tag_bits in [32, 64, 96, 128]:
            iv = os.urandom(iv_len)
            mech = PyKCS11.AES_GCM_Mechanism(iv, b"header", tag_bits)
            sealed = bytes(session.encrypt(aes, MESSAGE, mech))
            tag_len = tag_bits // 8
            decryptor = Cipher(
                reference, modes.GCM(iv, sealed[-tag_len:], min_tag_length=tag_len)
            ).decryptor()
            decryptor.authenticate_additional_data(b"header")
            assert decryptor.update(sealed[:-tag_len]) + decryptor.finalize() == MESSAGE
            encryptor = Cipher(reference, modes.GCM(iv)).encryptor()
            encryptor.authenticate_additional_data(b"header")
            theirs = encryptor.update(MESSAGE) + encryptor.finalize() + encryptor.tag[:tag_len]
            assert bytes(session.decrypt(aes, theirs, mech)) == MESSAGE
    # CTR with a full 128-bit counter.
    block = os.urandom(16)
    mech = PyKCS11.AES_CTR_Mechanism(128, block)
    ours = bytes(session.encrypt(aes, MESSAGE, mech))
    assert ours == reference_encrypt(reference, modes.CTR(block), MESSAGE)
    assert bytes(session.decrypt(aes, ours, mech)) == MESSAGE
    # Single DES (with parity), ECB and CBC, against TripleDES with K1 = K2 = K3.
    des_value = with_odd_parity(os.urandom(8))
    des = session.createObject(
        [
            (CKA_CLASS, CKO_SECRET_KEY),
            (CKA_KEY_TYPE, CKK_DES),
            (CKA_TOKEN, False),
            (CKA_VALUE, des_value),
            (CKA_ENCRYPT, True),
            (CKA_DECRYPT, True),
        ]
    )
    tdes = TripleDES(des_value * 3)
    ours = bytes(session.encrypt(des, MESSAGE[:48], PyKCS11.Mechanism(PyKCS11.CKM_DES_ECB, None)))
    assert ours == reference_encrypt(tdes, modes.ECB(), MESSAGE[:48])
    iv = os.urandom(8)
    theirs = reference_encrypt(tdes, modes.CBC(iv), MESSAGE[:48])
    mech = PyKCS11.Mechanism(PyKCS11.CKM_DES_CBC, iv)
    assert bytes(session.decrypt(des, theirs, mech)) == MESSAGE[:48]
    session.logout()
    session.closeSession()
    print("PyKCS11 AES-GCM/CTR and DES against cryptography: OK")


if __name__ == "__main__":
    with_python_pkcs11(sys.argv[1])
    with_pykcs11(sys.argv[1])
    print("python-symmetric-interop: OK")
