//! `python-pkcs11` (PyPI) drives the built module through `tests/python_pkcs11.py`, and plain
//! `ctypes` migrates keys with the CA_ extensions (`tests/python_ctypes_cpv4.py`).
// Test helpers, like tests, fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;

#[test]
fn python_pkcs11_generates_a_key_and_encrypts_and_decrypts() {
    let present = Command::new("python3")
        .args(["-c", "import pkcs11"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::require_tool(
        "python3 with python-pkcs11",
        present,
        "python3 -m pip install python-pkcs11",
    ) {
        return;
    }
    let home = common::home();
    let output = common::run_ok(
        Command::new("python3")
            .arg(common::package_dir().join("tests/python_pkcs11.py"))
            .arg(common::library())
            .env("LUNA_SIM_HOME", home.path()),
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("python-pkcs11: OK"));
}

/// The vendor wrapper's calling conventions, with nothing but `ctypes`
/// (`tests/python_ctypes_cpv4.py`).
#[test]
fn python_ctypes_migrates_keys_in_the_vendor_wrappers_conventions() {
    let present = Command::new("python3")
        .args(["-c", "import ctypes"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::require_tool("python3", present, "apt-get install python3") {
        return;
    }
    let home = common::home();
    let output = common::run_ok(
        Command::new("python3")
            .arg(common::package_dir().join("tests/python_ctypes_cpv4.py"))
            .arg(common::library())
            .env("LUNA_SIM_HOME", home.path()),
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("python-ctypes-cpv4: OK"));
}

/// Runs `script` (in `tests/`) with python-pkcs11, PyKCS11 and `cryptography` against the
/// module, and checks it printed each of `lines`.
fn against_cryptography(script: &str, lines: &[&str]) {
    let present = Command::new("python3")
        .args(["-c", "import pkcs11, PyKCS11, cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::require_tool(
        "python3 with python-pkcs11, PyKCS11 and cryptography",
        present,
        "python3 -m pip install python-pkcs11 PyKCS11 cryptography",
    ) {
        return;
    }
    let home = common::home();
    let output = common::run_ok(
        Command::new("python3")
            .arg(common::package_dir().join("tests").join(script))
            .arg(common::library())
            .env("LUNA_SIM_HOME", home.path()),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in lines {
        assert!(stdout.contains(line), "{line} missing:\n{stdout}");
    }
}

/// python-pkcs11 and PyKCS11 with RSA, EC (every curve), Ed25519 keys and ECDH, checked by the
/// `cryptography` package as the independent reference (`tests/python_crypto_interop.py`).
#[test]
fn python_pkcs11_and_pykcs11_rsa_and_ec_agree_with_the_cryptography_package() {
    against_cryptography(
        "python_crypto_interop.py",
        &[
            "python-pkcs11 RSA/EC/Ed25519/ECDH against cryptography: OK",
            "PyKCS11 RSA against cryptography: OK",
            "python-crypto-interop: OK",
        ],
    );
}

/// python-pkcs11 and PyKCS11 with AES, DES and triple-DES keys (every block mode, CTR, GCM
/// with other IV lengths and short tags, CMAC, key wrap, HMAC_GENERAL), checked by the
/// `cryptography` package (`tests/python_symmetric_interop.py`).
#[test]
fn python_pkcs11_and_pykcs11_aes_and_des_agree_with_the_cryptography_package() {
    against_cryptography(
        "python_symmetric_interop.py",
        &[
            "python-pkcs11 AES/DES against cryptography: OK",
            "PyKCS11 AES-GCM/CTR and DES against cryptography: OK",
            "python-symmetric-interop: OK",
        ],
    );
}

/// A child forked while other threads are inside the module gets a working library of its own
/// (`tests/python_fork.py`, register A62).
#[test]
fn a_child_forked_during_calls_of_other_threads_initializes_its_own_library() {
    let present = Command::new("python3")
        .args(["-c", "import ctypes, os; os.fork"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::require_tool("python3", present, "apt-get install python3") {
        return;
    }
    let home = common::home();
    let output = common::run_ok(
        Command::new("python3")
            .arg(common::package_dir().join("tests/python_fork.py"))
            .arg(common::library())
            .env("LUNA_SIM_HOME", home.path()),
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("python-fork: OK"));
}

/// C_SignRecover and C_VerifyRecover (CKM_RSA_PKCS, CKM_RSA_X_509) through ctypes, checked by
/// the `cryptography` package both ways (`tests/python_recover_interop.py`).
#[test]
fn sign_and_verify_recover_agree_with_the_cryptography_package() {
    against_cryptography(
        "python_recover_interop.py",
        &[
            "RSA-2048 CKM_RSA_PKCS sign-recover: cryptography recovers it",
            "RSA-3072 CKM_RSA_PKCS verify-recover: the token recovers cryptography's",
            "RSA-3072 CKM_RSA_X_509 sign- and verify-recover agree with the key's numbers",
            "python-recover: OK",
        ],
    );
}
