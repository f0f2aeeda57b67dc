//! OpenSC `pkcs11-tool` drives the built module: slots, mechanisms, login, AES, EC P-256 and
//! RSA key generation, object listing, ECDSA signing and verification, AES-CBC-PAD encryption
//! and decryption, and its own `--test`, `--test-ec` and `--test-fork`.
//!
//! What `pkcs11-tool --test` exercises (OpenSC 0.23): `C_SeedRandom`/`C_GenerateRandom`, the
//! digest functions (single- and multi-part, with length queries) for every digest mechanism
//! it knows that the token lists, and, with the RSA key generated here, RSA signatures
//! (X.509, PKCS, SHA1/SHA256-RSA-PKCS), verification and decryption (PKCS, X.509, OAEP with
//! and without a label). It must end with "No errors". `--test-ec` generates an EC key pair in
//! a read-write session, changes its attributes, signs and deletes it; `--test-fork` calls
//! `C_Initialize` in a child after `fork`.
// Test helpers, like tests, fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn tool(module: &Path, home: &Path, args: &[&str]) -> String {
    let output: Output = common::run_ok(
        Command::new("pkcs11-tool")
            .arg("--module")
            .arg(module)
            .args(args)
            .env("LUNA_SIM_HOME", home),
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn pkcs11_tool_lists_logs_in_generates_signs_and_passes_its_test() {
    let present = common::tool_present("pkcs11-tool", &["--help"]);
    if !common::require_tool("OpenSC pkcs11-tool", present, "apt-get install opensc") {
        return;
    }
    let module = common::library();
    let home = common::home();
    let home = home.path();
    let login = ["--login", "--pin", common::CO_PIN];

    let slots = tool(&module, home, &["--list-slots"]);
    assert!(slots.contains("token label        : source"), "{slots}");
    assert!(slots.contains("token label        : target"), "{slots}");

    let mechanisms = tool(&module, home, &["--list-mechanisms"]);
    for name in ["AES-GCM", "AES-CBC-PAD", "ECDSA-SHA256", "SHA256"] {
        assert!(mechanisms.contains(name), "{name} missing:\n{mechanisms}");
    }

    let aes = tool(
        &module,
        home,
        &[
            &login[..],
            &[
                "--keygen",
                "--key-type",
                "AES:32",
                "--label",
                "tool-aes",
                "--id",
                "02",
            ],
        ]
        .concat(),
    );
    assert!(aes.contains("Secret Key Object; AES length 32"), "{aes}");

    let ec = tool(
        &module,
        home,
        &[
            &login[..],
            &[
                "--keypairgen",
                "--key-type",
                "EC:prime256v1",
                "--label",
                "tool-ec",
                "--id",
                "01",
            ],
        ]
        .concat(),
    );
    assert!(ec.contains("Key pair generated"), "{ec}");
    assert!(ec.contains("EC_POINT 256 bits"), "{ec}");

    let rsa = tool(
        &module,
        home,
        &[
            &login[..],
            &[
                "--keypairgen",
                "--key-type",
                "RSA:2048",
                "--label",
                "tool-rsa",
                "--id",
                "03",
            ],
        ]
        .concat(),
    );
    assert!(rsa.contains("Public Key Object; RSA 2048 bits"), "{rsa}");

    let objects = tool(&module, home, &[&login[..], &["--list-objects"]].concat());
    assert!(objects.contains("label:      tool-aes"), "{objects}");
    assert!(objects.contains("Private Key Object; EC"), "{objects}");
    assert!(objects.contains("Public Key Object; EC"), "{objects}");

    let dir = common::home();
    let data = dir.path().join("data.txt");
    let signature = dir.path().join("data.sig");
    std::fs::write(&data, b"signed by pkcs11-tool\n").unwrap();
    let (data_arg, sig_arg) = (data.to_str().unwrap(), signature.to_str().unwrap());
    tool(
        &module,
        home,
        &[
            &login[..],
            &[
                "--sign",
                "--mechanism",
                "ECDSA-SHA256",
                "--id",
                "01",
                "-i",
                data_arg,
                "-o",
                sig_arg,
            ],
        ]
        .concat(),
    );
    assert_eq!(std::fs::read(&signature).unwrap().len(), 64);
    let verified = tool(
        &module,
        home,
        &[
            &login[..],
            &[
                "--verify",
                "--mechanism",
                "ECDSA-SHA256",
                "--id",
                "01",
                "-i",
                data_arg,
                "--signature-file",
                sig_arg,
            ],
        ]
        .concat(),
    );
    assert!(verified.contains("Signature is valid"), "{verified}");

    // AES-CBC-PAD through pkcs11-tool (its --encrypt does not offer AES-GCM). It picks the
    // key by id (a private key first, then a secret key).
    let plain: Vec<u8> = (0..100u8).collect();
    let (clear, sealed, opened) = (
        dir.path().join("clear.bin"),
        dir.path().join("sealed.bin"),
        dir.path().join("opened.bin"),
    );
    std::fs::write(&clear, &plain).unwrap();
    let iv = "000102030405060708090a0b0c0d0e0f";
    for (op, input, output) in [
        ("--encrypt", &clear, &sealed),
        ("--decrypt", &sealed, &opened),
    ] {
        tool(
            &module,
            home,
            &[
                &login[..],
                &[
                    op,
                    "--mechanism",
                    "AES-CBC-PAD",
                    "--iv",
                    iv,
                    "--id",
                    "02",
                    "-i",
                    input.to_str().unwrap(),
                    "-o",
                    output.to_str().unwrap(),
                ],
            ]
            .concat(),
        );
    }
    assert_eq!(std::fs::read(&sealed).unwrap().len(), 112);
    assert_eq!(std::fs::read(&opened).unwrap(), plain);

    let test = tool(&module, home, &[&login[..], &["--test"]].concat());
    for line in [
        "SHA-1: OK",
        "SHA256: OK",
        "testing key 1 (tool-rsa)",
        "RSA-X-509: OK",
        "RSA-PKCS: OK",
        "SHA1-RSA-PKCS: OK",
        "SHA256-RSA-PKCS: OK",
        "Decryption (currently only for RSA)",
        "No errors",
    ] {
        assert!(test.contains(line), "{line} missing:\n{test}");
    }
    // Every RSA decryption mechanism it tried reported OK (OAEP twice: with and without a
    // label), none failed.
    assert_eq!(test.matches("RSA-PKCS-OAEP").count(), 2, "{test}");
    assert!(!test.contains("ERR"), "{test}");

    let ec_test = tool(
        &module,
        home,
        &[
            &login[..],
            &[
                "--session-rw",
                "--test-ec",
                "--id",
                "05",
                "--key-type",
                "EC:prime256v1",
            ],
        ]
        .concat(),
    );
    assert!(ec_test.contains("*** Doing a signature ***"), "{ec_test}");
    assert!(ec_test.contains("==> OK"), "{ec_test}");

    // A child after fork initializes its own library (the parent's instance is set aside).
    let fork = tool(&module, home, &["--test-fork"]);
    assert!(
        fork.contains("*** Calling C_Initialize in forked child process ***"),
        "{fork}"
    );
    assert!(!fork.contains("ALREADY_INITIALIZED"), "{fork}");
}

/// A key made with `--always-auth` (`CKA_ALWAYS_AUTHENTICATE`): pkcs11-tool sees the attribute
/// and logs in with `CKU_CONTEXT_SPECIFIC` after `C_SignInit`, and the signature verifies.
/// Without that login the token refuses to sign (register A79), so the signature shows the
/// login happened.
#[test]
fn pkcs11_tool_signs_with_an_always_authenticate_key_after_its_context_login() {
    let present = common::tool_present("pkcs11-tool", &["--help"]);
    if !common::require_tool("OpenSC pkcs11-tool", present, "apt-get install opensc") {
        return;
    }
    let module = common::library();
    let home = common::home();
    let home = home.path();
    let login = ["--login", "--pin", common::CO_PIN];
    let generated = tool(
        &module,
        home,
        &[
            &login[..],
            &[
                "--keypairgen",
                "--key-type",
                "EC:prime256v1",
                "--label",
                "always",
                "--id",
                "07",
                "--always-auth",
            ],
        ]
        .concat(),
    );
    assert!(generated.contains("always authenticate"), "{generated}");
    let dir = common::home();
    let data = dir.path().join("data.txt");
    let signature = dir.path().join("data.sig");
    std::fs::write(&data, b"signed after a context-specific login\n").unwrap();
    let (data_arg, sig_arg) = (data.to_str().unwrap(), signature.to_str().unwrap());
    for op in [
        &["--sign", "-o", sig_arg][..],
        &["--verify", "--signature-file", sig_arg][..],
    ] {
        let output = tool(
            &module,
            home,
            &[
                &login[..],
                &["--mechanism", "ECDSA-SHA256", "--id", "07", "-i", data_arg],
                op,
            ]
            .concat(),
        );
        if op[0] == "--verify" {
            assert!(output.contains("Signature is valid"), "{output}");
        }
    }
    assert_eq!(std::fs::read(&signature).unwrap().len(), 64);
}
