//! OpenSC `pkcs11-tool` drives the built module: slots, mechanisms, login, AES and EC P-256
//! key generation, object listing, ECDSA signing and verification, AES-CBC-PAD encryption
//! and decryption, and its own `--test`.
//!
//! What `pkcs11-tool --test` exercises (OpenSC 0.23): `C_SeedRandom`/`C_GenerateRandom`, the
//! digest functions (single- and multi-part, with length queries) for every digest mechanism
//! the token lists (here SHA-256), and signature, verification, unwrap and decryption tests
//! that only apply to RSA keys (this token has none, so it reports them as not implemented
//! or skips the EC keys). It must end with "No errors".
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
    assert!(test.contains("SHA256: OK"), "{test}");
    assert!(test.contains("No errors"), "{test}");
}
