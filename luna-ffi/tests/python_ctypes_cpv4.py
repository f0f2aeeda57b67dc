"""The CPv4 extensions from Python with only ctypes, in the calling conventions of the vendor's
own wrapper: every function resolved by name, 64,000-byte key-blob buffers with their lengths
preset, NULL output-UID pointers when an input UID is passed, and the initiator's step-3
Continue without an input UID. Migrates AES keys with the low-level calls and with
CA_MigrateKeys and checks CKA_OUID on both sides.

Usage: python3 python_ctypes_cpv4.py /path/to/libluna_ffi.so  (with LUNA_SIM_HOME set)
Prints "python-ctypes-cpv4: OK" on success; any failure raises.
"""

import ctypes
import sys
from ctypes import POINTER, byref, c_ubyte, c_ulong, c_void_p, sizeof

CK_ULONG = c_ulong
CK_BYTE_PTR = POINTER(c_ubyte)

CKR_OK = 0
CKR_OBJECT_HANDLE_INVALID = 0x82
CKF_SERIAL_SESSION = 0x4
CKF_RW_SESSION = 0x2
CKU_USER = 1
CKA_TOKEN = 0x1
CKA_VALUE_LEN = 0x161
CKA_OUID = 0x80000005
CKM_AES_KEY_GEN = 0x1080
CKM_CPV4_EXTRACT = 0x80000208
CKM_CPV4_INSERT = 0x80000209
CKF_CPV4_CONTINUE_ON_ERR = 0x1
CK_CRYPTOKI_ELEMENT = 0
LUNA_STORAGE_FLASH = 1
BLOB_ROOM = 64000


class CK_ATTRIBUTE(ctypes.Structure):
    _fields_ = [("type", CK_ULONG), ("pValue", c_void_p), ("ulValueLen", CK_ULONG)]


class CK_MECHANISM(ctypes.Structure):
    _fields_ = [("mechanism", CK_ULONG), ("pParameter", c_void_p), ("ulParameterLen", CK_ULONG)]


class CK_CPV4_EXTRACT_PARAMS(ctypes.Structure):
    _fields_ = [
        ("inputLength", CK_ULONG),
        ("input", CK_BYTE_PTR),
        ("sessionOuidLen", CK_ULONG),
        ("sessionOuid", CK_BYTE_PTR),
        ("extractionFlags", CK_ULONG),
        ("numberOfObjects", CK_ULONG),
        ("objectType", POINTER(CK_ULONG)),
        ("objectHandle", POINTER(CK_ULONG)),
        ("result", POINTER(CK_ULONG)),
        ("keyBlobLen", POINTER(CK_ULONG)),
        ("keyBlob", POINTER(CK_BYTE_PTR)),
    ]


class CK_CPV4_INSERT_PARAMS(ctypes.Structure):
    _fields_ = [
        ("inputLength", CK_ULONG),
        ("input", CK_BYTE_PTR),
        ("sessionOuidLen", CK_ULONG),
        ("sessionOuid", CK_BYTE_PTR),
        ("insertionFlags", CK_ULONG),
        ("numberOfObjects", CK_ULONG),
        ("objectType", POINTER(CK_ULONG)),
        ("storageType", POINTER(CK_ULONG)),
        ("keyBlobLen", POINTER(CK_ULONG)),
        ("keyBlob", POINTER(CK_BYTE_PTR)),
        ("result", POINTER(CK_ULONG)),
        ("objectHandle", POINTER(CK_ULONG)),
    ]


class CK_OBJECT_MIGRATION_DATA(ctypes.Structure):
    _fields_ = [
        ("objectType", CK_ULONG),
        ("sourceHandle", CK_ULONG),
        ("targetHandle", CK_ULONG),
        ("rv", CK_ULONG),
    ]


assert sizeof(CK_OBJECT_MIGRATION_DATA) == 32
assert sizeof(CK_CPV4_EXTRACT_PARAMS) == 88
assert sizeof(CK_CPV4_INSERT_PARAMS) == 96


def check(rv, what):
    assert rv == CKR_OK, "%s returned 0x%08X" % (what, rv)


def buffer(data):
    return (c_ubyte * len(data)).from_buffer_copy(bytes(data))


class Module:
    def __init__(self, path):
        self.dll = ctypes.CDLL(path)

    def __getattr__(self, name):
        # As the wrapper does: late binding by symbol name.
        function = getattr(self.dll, name)
        function.restype = CK_ULONG
        return function


def main(path):
    p11 = Module(path)
    check(p11.C_Initialize(None), "C_Initialize")
    source, target = CK_ULONG(), CK_ULONG()
    flags = CKF_SERIAL_SESSION | CKF_RW_SESSION
    check(p11.C_OpenSession(CK_ULONG(0), CK_ULONG(flags), None, None, byref(source)), "open source")
    check(p11.C_OpenSession(CK_ULONG(1), CK_ULONG(flags), None, None, byref(target)), "open target")
    for session in (source, target):
        check(p11.C_Login(session, CK_ULONG(CKU_USER), b"co-pin", CK_ULONG(6)), "C_Login")

    def generate_key():
        value_len = CK_ULONG(32)
        token = c_ubyte(1)
        template = (CK_ATTRIBUTE * 2)(
            CK_ATTRIBUTE(CKA_VALUE_LEN, ctypes.cast(byref(value_len), c_void_p), sizeof(CK_ULONG)),
            CK_ATTRIBUTE(CKA_TOKEN, ctypes.cast(byref(token), c_void_p), 1),
        )
        mechanism = CK_MECHANISM(CKM_AES_KEY_GEN, None, 0)
        key = CK_ULONG()
        check(p11.C_GenerateKey(source, byref(mechanism), template, CK_ULONG(2), byref(key)), "C_GenerateKey")
        return key.value

    def ouid(session, handle):
        value = (c_ubyte * 64)()
        attribute = CK_ATTRIBUTE(CKA_OUID, ctypes.cast(value, c_void_p), 64)
        check(p11.C_GetAttributeValue(session, CK_ULONG(handle), byref(attribute), CK_ULONG(1)), "CKA_OUID")
        assert attribute.ulValueLen == 12, "every object has its 12-byte CKA_OUID"
        return bytes(value[: attribute.ulValueLen])

    def negotiate(step3_with_uid):
        step, length = CK_ULONG(), CK_ULONG(BLOB_ROOM)
        offer = (c_ubyte * BLOB_ROOM)()
        check(
            p11.CA_MigrationStartSessionNegotiation(target, CK_ULONG(0), None, byref(step), byref(length), offer),
            "Start",
        )
        assert step.value == 2, step.value
        offer_len = length.value
        # Step 2 on the source: the new UID comes back in the output-UID buffers.
        accept = (c_ubyte * BLOB_ROOM)()
        accept_len, status = CK_ULONG(BLOB_ROOM), CK_ULONG()
        uid = (c_ubyte * 16)()
        uid_len = CK_ULONG(16)
        check(
            p11.CA_MigrationContinueSessionNegotiation(
                source, CK_ULONG(2), CK_ULONG(offer_len), offer, CK_ULONG(0), None,
                byref(step), byref(accept_len), accept, byref(status), byref(uid_len), uid,
            ),
            "Continue (step 2)",
        )
        assert (step.value, status.value, uid_len.value) == (3, 1, 16)
        confirm = (c_ubyte * BLOB_ROOM)()
        confirm_len = CK_ULONG(BLOB_ROOM)
        if step3_with_uid:
            # An input UID: the wrapper passes NULL for both output-UID pointers.
            check(
                p11.CA_MigrationContinueSessionNegotiation(
                    target, CK_ULONG(3), accept_len, accept, CK_ULONG(16), uid,
                    byref(step), byref(confirm_len), confirm, byref(status), None, None,
                ),
                "Continue (step 3, UID given)",
            )
        else:
            # No input UID, with output-UID buffers: the Accept names the session.
            uid_out = (c_ubyte * 16)()
            uid_out_len = CK_ULONG(16)
            check(
                p11.CA_MigrationContinueSessionNegotiation(
                    target, CK_ULONG(3), accept_len, accept, CK_ULONG(0), None,
                    byref(step), byref(confirm_len), confirm, byref(status), byref(uid_out_len), uid_out,
                ),
                "Continue (step 3, no UID)",
            )
            assert bytes(uid_out) == bytes(uid) and uid_out_len.value == 16
        assert (step.value, status.value) == (4, 2)
        return uid, confirm, confirm_len.value

    for step3_with_uid in (True, False):
        keys = [generate_key(), generate_key()]
        uid, confirm, confirm_len = negotiate(step3_with_uid)
        # The vendor's test: 64,000-byte buffers with their lengths preset, a bad handle and
        # CKF_CPV4_CONTINUE_ON_ERR give CKR_OK and a per-object CKR_OBJECT_HANDLE_INVALID.
        handles = [keys[0], 0xDEAD, keys[1]]
        count = len(handles)
        object_types = (CK_ULONG * count)(*([CK_CRYPTOKI_ELEMENT] * count))
        object_handles = (CK_ULONG * count)(*handles)
        results = (CK_ULONG * count)()
        blob_lens = (CK_ULONG * count)(*([BLOB_ROOM] * count))
        buffers = [(c_ubyte * BLOB_ROOM)() for _ in range(count)]
        blobs = (CK_BYTE_PTR * count)(*[ctypes.cast(b, CK_BYTE_PTR) for b in buffers])
        params = CK_CPV4_EXTRACT_PARAMS(
            confirm_len, ctypes.cast(confirm, CK_BYTE_PTR), 16, ctypes.cast(uid, CK_BYTE_PTR),
            CKF_CPV4_CONTINUE_ON_ERR, count, object_types, object_handles, results, blob_lens, blobs,
        )
        mechanism = CK_MECHANISM(CKM_CPV4_EXTRACT, ctypes.cast(byref(params), c_void_p), sizeof(params))
        check(p11.CA_Extract(source, byref(mechanism)), "CA_Extract")
        assert list(results) == [CKR_OK, CKR_OBJECT_HANDLE_INVALID, CKR_OK], list(results)

        good = [0, 2]
        n = len(good)
        insert_types = (CK_ULONG * n)(*([CK_CRYPTOKI_ELEMENT] * n))
        storage = (CK_ULONG * n)(*([LUNA_STORAGE_FLASH] * n))
        insert_lens = (CK_ULONG * n)(*[blob_lens[i] for i in good])
        insert_blobs = (CK_BYTE_PTR * n)(*[blobs[i] for i in good])
        insert_results = (CK_ULONG * n)()
        clones = (CK_ULONG * n)()
        params = CK_CPV4_INSERT_PARAMS(
            0, None, 16, ctypes.cast(uid, CK_BYTE_PTR), 0, n,
            insert_types, storage, insert_lens, insert_blobs, insert_results, clones,
        )
        mechanism = CK_MECHANISM(CKM_CPV4_INSERT, ctypes.cast(byref(params), c_void_p), sizeof(params))
        check(p11.CA_Insert(target, byref(mechanism)), "CA_Insert")
        assert list(insert_results) == [CKR_OK, CKR_OK], list(insert_results)
        for key, clone in zip(keys, clones):
            assert ouid(source, key) == ouid(target, clone), "CKA_OUID differs"
        for session in (source, target):
            check(p11.CA_MigrationCloseSession(session, CK_ULONG(16), uid), "CA_MigrationCloseSession")

    # CA_MigrateKeys of two more keys.
    keys = [generate_key(), generate_key()]
    data = (CK_OBJECT_MIGRATION_DATA * 2)(
        *[CK_OBJECT_MIGRATION_DATA(CK_CRYPTOKI_ELEMENT, key, 0, 0) for key in keys]
    )
    check(p11.CA_MigrateKeys(source, target, CK_ULONG(0), CK_ULONG(2), data), "CA_MigrateKeys")
    for item in data:
        assert item.rv == CKR_OK, item.rv
        assert ouid(source, item.sourceHandle) == ouid(target, item.targetHandle)

    check(p11.C_Finalize(None), "C_Finalize")
    print("python-ctypes-cpv4: OK")


if __name__ == "__main__":
    main(sys.argv[1])
