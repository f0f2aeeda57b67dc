"""python-pkcs11 drives libluna_ffi.so: open a session, generate an AES key, encrypt and
decrypt (AES-CBC-PAD and AES-GCM), read token information.

Usage: python3 python_pkcs11.py /path/to/libluna_ffi.so  (with LUNA_SIM_HOME set)
Prints "python-pkcs11: OK" on success; any failure raises.
"""

import sys

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass


def main(module_path):
    lib = pkcs11.lib(module_path)
    labels = sorted(slot.get_token().label for slot in lib.get_slots(token_present=True))
    assert labels == ["source", "target"], labels
    token = lib.get_token(token_label="source")
    with token.open(rw=True, user_pin="co-pin") as session:
        key = session.generate_key(KeyType.AES, 256, label="python-key", store=True)
        assert key[Attribute.VALUE_LEN] == 32
        assert key[Attribute.CLASS] == ObjectClass.SECRET_KEY

        data = b"hello from python-pkcs11, more than one block long"
        iv = session.generate_random(128)
        assert len(iv) == 16
        ciphertext = key.encrypt(data, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv)
        assert ciphertext != data and len(ciphertext) % 16 == 0
        plain = key.decrypt(ciphertext, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv)
        assert plain == data, plain

        gcm = pkcs11.GCMParams(b"\x01" * 12, b"aad", 128)
        ciphertext = key.encrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=gcm)
        assert len(ciphertext) == len(data) + 16
        plain = key.decrypt(ciphertext, mechanism=Mechanism.AES_GCM, mechanism_param=gcm)
        assert plain == data, plain

        found = list(session.get_objects({Attribute.LABEL: "python-key"}))
        assert len(found) == 1, found
    print("python-pkcs11: OK")


if __name__ == "__main__":
    main(sys.argv[1])
