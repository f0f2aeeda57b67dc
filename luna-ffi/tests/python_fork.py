"""A child forked while other threads of the parent are inside the module initializes its
own library (register A62): two threads generate random bytes and read the token in a loop,
the main thread forks 200 times, and every child's C_Initialize and first calls must succeed.

Usage: python3 python_fork.py /path/to/libluna_ffi.so  (with LUNA_SIM_HOME set)
Prints "python-fork: OK" on success. A child that has not exited after 60 s is reported as hung
(a watchdog against a hang of the whole test run, not a measure of speed).
"""

import ctypes
import os
import sys
import threading
import time

CKR_OK = 0
CKF_SERIAL_SESSION = 4


def main(path):
    lib = ctypes.CDLL(path)
    ulong = ctypes.c_ulong
    assert lib.C_Initialize(None) == CKR_OK
    session = ulong(0)
    assert lib.C_OpenSession(ulong(0), ulong(CKF_SERIAL_SESSION), None, None, ctypes.byref(session)) == CKR_OK
    stop = threading.Event()
    errors = []

    def busy():
        buf = (ctypes.c_ubyte * 64)()
        count = ulong(0)
        while not stop.is_set():
            rv = lib.C_GenerateRandom(session, buf, ulong(64))
            rv2 = lib.C_GetSlotList(ctypes.c_ubyte(1), None, ctypes.byref(count))
            if rv != CKR_OK or rv2 != CKR_OK:
                errors.append((rv, rv2))

    threads = [threading.Thread(target=busy, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(200):
        pid = os.fork()
        if pid == 0:
            count = ulong(0)
            code = 0
            if lib.C_GetSlotList(ctypes.c_ubyte(1), None, ctypes.byref(count)) != 0x190:
                code = 2  # the parent's instance must look uninitialized here
            elif lib.C_Initialize(None) != CKR_OK:
                code = 3
            elif lib.C_GetSlotList(ctypes.c_ubyte(1), None, ctypes.byref(count)) != CKR_OK or count.value != 2:
                code = 4
            os._exit(code)
        started = time.monotonic()
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() - started > 60:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise AssertionError(f"fork {i}: the child hung")
            time.sleep(0.002)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (i, status)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert lib.C_Finalize(None) == CKR_OK
    print("python-fork: OK")


if __name__ == "__main__":
    main(sys.argv[1])
