//! OpenSSL signs through the built module with libp11's engine (Debian
//! `libengine-pkcs11-openssl`): RSA and EC P-256 keys generated on the token by `pkcs11-tool`,
//! their public keys exported by the engine, each signature checked by plain `openssl` (no
//! engine, no module), and a changed message refused.
// Test helpers, like tests, fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// libp11's engine, where `openssl version -e` says engines live.
fn engine() -> Option<PathBuf> {
    let output = Command::new("openssl")
        .args(["version", "-e"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let dir = text.split('"').nth(1)?;
    let path = Path::new(dir).join("pkcs11.so");
    path.exists().then_some(path)
}

fn pkcs11_tool(module: &Path, home: &Path, args: &[&str]) {
    common::run_ok(
        Command::new("pkcs11-tool")
            .arg("--module")
            .arg(module)
            .args(["--login", "--pin", common::CO_PIN])
            .args(args)
            .env("LUNA_SIM_HOME", home),
    );
}

#[test]
fn openssl_signs_with_rsa_and_ec_keys_of_the_token_through_libp11() {
    let engine = engine();
    let tool = common::tool_present("pkcs11-tool", &["--help"]);
    if !common::require_tool(
        "OpenSSL's libp11 engine and pkcs11-tool",
        engine.is_some() && tool,
        "apt-get install libengine-pkcs11-openssl opensc",
    ) {
        return;
    }
    let engine = engine.unwrap();
    let module = common::library();
    let home = common::home();
    let work = common::home();
    let work = work.path();
    // Distinct ids: libp11 pairs a key's objects by CKA_ID.
    for (label, key_type, id) in [
        ("ossl-rsa", "RSA:2048", "21"),
        ("ossl-ec", "EC:prime256v1", "22"),
    ] {
        pkcs11_tool(
            &module,
            home.path(),
            &[
                "--keypairgen",
                "--key-type",
                key_type,
                "--label",
                label,
                "--id",
                id,
            ],
        );
    }
    let config = work.join("openssl.cnf");
    std::fs::write(
        &config,
        format!(
            "openssl_conf = openssl_init\n[openssl_init]\nengines = engine_section\n\
             [engine_section]\npkcs11 = pkcs11_section\n[pkcs11_section]\nengine_id = pkcs11\n\
             dynamic_path = {}\nMODULE_PATH = {}\nPIN = {}\ninit = 0\n",
            engine.display(),
            module.display(),
            common::CO_PIN
        ),
    )
    .unwrap();
    let data = work.join("data.txt");
    std::fs::write(&data, b"signed by OpenSSL through libp11\n").unwrap();
    let changed = work.join("changed.txt");
    std::fs::write(&changed, b"signed by OpenSSL through libp11!\n").unwrap();
    for label in ["ossl-rsa", "ossl-ec"] {
        let uri = |kind: &str| format!("pkcs11:token=source;object={label};type={kind}");
        let public = work.join(format!("{label}.pub.pem"));
        let signature = work.join(format!("{label}.sig"));
        let with_engine = |args: &[&str]| {
            common::run_ok(
                Command::new("openssl")
                    .args(args)
                    .env("OPENSSL_CONF", &config)
                    .env("LUNA_SIM_HOME", home.path()),
            )
        };
        with_engine(&[
            "pkey",
            "-engine",
            "pkcs11",
            "-inform",
            "engine",
            "-in",
            &uri("public"),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ]);
        with_engine(&[
            "dgst",
            "-sha256",
            "-engine",
            "pkcs11",
            "-keyform",
            "engine",
            "-sign",
            &uri("private"),
            "-out",
            signature.to_str().unwrap(),
            data.to_str().unwrap(),
        ]);
        // Checked by OpenSSL alone.
        let verify = |input: &Path| {
            Command::new("openssl")
                .args(["dgst", "-sha256", "-verify"])
                .arg(&public)
                .arg("-signature")
                .arg(&signature)
                .arg(input)
                .env_remove("OPENSSL_CONF")
                .output()
                .unwrap()
        };
        let good = verify(&data);
        assert!(good.status.success(), "{label}: {good:?}");
        assert!(String::from_utf8_lossy(&good.stdout).contains("Verified OK"));
        let bad = verify(&changed);
        assert!(!bad.status.success(), "{label}: a changed message verified");
    }
}
