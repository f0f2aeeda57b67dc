//! `cpv4 quickstart`: the whole mission in one command on a fresh machine. Creates one
//! object of each kind the token holds in the source partition (or reuses them), migrates
//! them with `CA_MigrateKeys`, proves each clone works through PKCS#11 calls on the target,
//! and prints what it did.

use cpv4_wire::consts::{
    CKA_CERTIFICATE_TYPE, CKA_CLASS, CKA_DECRYPT, CKA_EC_PARAMS, CKA_ENCRYPT, CKA_KEY_TYPE,
    CKA_LABEL, CKA_OUID, CKA_SIGN, CKA_TOKEN, CKA_VALUE, CKA_VALUE_LEN, CKA_VERIFY, CKC_X_509,
    CKK_AES, CKK_GENERIC_SECRET, CKM_AES_KEY_GEN, CKM_EC_KEY_PAIR_GEN, CKM_ECDSA,
    CKM_GENERIC_SECRET_KEY_GEN, CKM_SHA256_HMAC, CKO_CERTIFICATE, CKO_DATA, CKO_PRIVATE_KEY,
    CKO_PUBLIC_KEY, CKO_SECRET_KEY,
};
use luna_ffi::client::{Attr, Mechanism};
use luna_ffi::types::{CK_OBJECT_HANDLE, CK_SLOT_ID};

use crate::hsm::{CliError, CliResult, Context, Hsm, Session};
use crate::migrate::{self, ObjectResult, Options, Report, Summary};

/// The DER of the P-256 curve OID, the `CKA_EC_PARAMS` of the quickstart's key pair.
const P256: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

/// The labels of the quickstart's objects, one per kind.
const KINDS: [(&str, &str); 6] = [
    ("quickstart-aes", "AES-256 secret key"),
    ("quickstart-hmac", "generic secret (HMAC) key"),
    ("quickstart-ec", "EC P-256 private key"),
    ("quickstart-ec", "EC P-256 public key"),
    ("quickstart-certificate", "X.509 certificate object"),
    ("quickstart-data", "data object"),
];

fn random<const N: usize>() -> CliResult<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| CliError::new(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// The quickstart's object of `class` labelled `label` on a session's slot, if it exists.
fn existing(session: &Session<'_>, label: &str, class: u64) -> CliResult<Option<CK_OBJECT_HANDLE>> {
    let found = session
        .hsm
        .module
        .find(
            session.handle,
            &[
                Attr::bytes(CKA_LABEL, label.as_bytes().to_vec()),
                Attr::ulong(CKA_CLASS, class),
            ],
        )
        .or_fail(|| format!("looking for {label}"))?;
    Ok(found.first().copied())
}

/// The source objects, created where missing: `(label, what, handle, reused)`.
fn source_objects(
    source: &Session<'_>,
) -> CliResult<Vec<(&'static str, &'static str, CK_OBJECT_HANDLE, bool)>> {
    let module = &source.hsm.module;
    let s = source.handle;
    let token = |label: &str| {
        vec![
            Attr::bool(CKA_TOKEN, true),
            Attr::bytes(CKA_LABEL, label.as_bytes().to_vec()),
        ]
    };
    let mut objects = Vec::new();
    let classes = [
        CKO_SECRET_KEY,
        CKO_SECRET_KEY,
        CKO_PRIVATE_KEY,
        CKO_PUBLIC_KEY,
        CKO_CERTIFICATE,
        CKO_DATA,
    ];
    let mut found = [None; 6];
    for (((label, _), class), slot) in KINDS.iter().zip(classes).zip(&mut found) {
        *slot = existing(source, label, class)?;
    }
    let mut handles = found;
    if found[0].is_none() {
        let mut t = token(KINDS[0].0);
        t.extend([
            Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attr::ulong(CKA_KEY_TYPE, CKK_AES),
            Attr::ulong(CKA_VALUE_LEN, 32),
            Attr::bool(CKA_ENCRYPT, true),
            Attr::bool(CKA_DECRYPT, true),
        ]);
        handles[0] = Some(
            module
                .generate_key(s, &Mechanism::Plain(CKM_AES_KEY_GEN), &t)
                .or_fail(|| "generating the AES key".to_owned())?,
        );
    }
    if found[1].is_none() {
        let mut t = token(KINDS[1].0);
        t.extend([
            Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attr::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
            Attr::ulong(CKA_VALUE_LEN, 32),
            Attr::bool(CKA_SIGN, true),
            Attr::bool(CKA_VERIFY, true),
        ]);
        handles[1] = Some(
            module
                .generate_key(s, &Mechanism::Plain(CKM_GENERIC_SECRET_KEY_GEN), &t)
                .or_fail(|| "generating the HMAC key".to_owned())?,
        );
    }
    if found[2].is_none() || found[3].is_none() {
        let mut public = token(KINDS[3].0);
        public.extend([
            Attr::bytes(CKA_EC_PARAMS, P256.to_vec()),
            Attr::bool(CKA_VERIFY, true),
        ]);
        let mut private = token(KINDS[2].0);
        private.push(Attr::bool(CKA_SIGN, true));
        let (public, private) = module
            .generate_key_pair(s, &Mechanism::Plain(CKM_EC_KEY_PAIR_GEN), &public, &private)
            .or_fail(|| "generating the EC key pair".to_owned())?;
        handles[2] = Some(private);
        handles[3] = Some(public);
    }
    if found[4].is_none() {
        let mut t = token(KINDS[4].0);
        t.extend([
            Attr::ulong(CKA_CLASS, CKO_CERTIFICATE),
            Attr::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
            // A placeholder DER value: the token stores a certificate's bytes as given.
            Attr::bytes(CKA_VALUE, vec![0x30, 0x03, 0x02, 0x01, 0x01]),
        ]);
        handles[4] = Some(
            module
                .create_object(s, &t)
                .or_fail(|| "creating the certificate".to_owned())?,
        );
    }
    if found[5].is_none() {
        let mut t = token(KINDS[5].0);
        t.extend([
            Attr::ulong(CKA_CLASS, CKO_DATA),
            Attr::bytes(CKA_VALUE, b"cloned by cpv4 quickstart".to_vec()),
        ]);
        handles[5] = Some(
            module
                .create_object(s, &t)
                .or_fail(|| "creating the data object".to_owned())?,
        );
    }
    // A key pair is reused only whole: a half left alone is replaced by a new pair.
    let pair_reused = found[2].is_some() && found[3].is_some();
    for (i, (((label, what), handle), was)) in KINDS.iter().zip(handles).zip(found).enumerate() {
        let handle = handle.ok_or_else(|| CliError::new("an object is missing"))?;
        let reused = if i == 2 || i == 3 {
            pair_reused
        } else {
            was.is_some()
        };
        objects.push((*label, *what, handle, reused));
    }
    Ok(objects)
}

/// Collects the results of the quickstart's migration.
#[derive(Default)]
struct Collect(Vec<ObjectResult>);

impl Report for Collect {
    fn start(&mut self, _selected: u64) {}
    fn object(&mut self, result: &ObjectResult) -> CliResult<()> {
        self.0.push(result.clone());
        Ok(())
    }
}

/// The clone on the target of a source object (matched by `CKA_OUID`).
fn clone_of(
    source: &Session<'_>,
    target: &Session<'_>,
    handle: CK_OBJECT_HANDLE,
) -> CliResult<CK_OBJECT_HANDLE> {
    let module = &source.hsm.module;
    let ouid = module
        .attribute(source.handle, handle, CKA_OUID)
        .or_fail(|| "reading an OUID".to_owned())?
        .ok_or_else(|| CliError::new(format!("object {handle} has no CKA_OUID")))?;
    let found = module
        .find(target.handle, &[Attr::bytes(CKA_OUID, ouid.to_vec())])
        .or_fail(|| "finding a clone".to_owned())?;
    found
        .first()
        .copied()
        .ok_or_else(|| CliError::new(format!("object {handle} has no clone on the target")))
}

/// Proves a clone works: what was checked.
fn prove(
    source: &Session<'_>,
    target: &Session<'_>,
    index: usize,
    original: CK_OBJECT_HANDLE,
    clone: CK_OBJECT_HANDLE,
    pair: (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE),
) -> CliResult<&'static str> {
    let module = &source.hsm.module;
    let (s, t) = (source.handle, target.handle);
    match index {
        0 => {
            let gcm = Mechanism::AesGcm {
                iv: random::<12>()?.to_vec(),
                aad: Vec::new(),
                tag_bits: 128,
            };
            let message = b"the quickstart's plaintext";
            let sealed = module
                .encrypt(s, &gcm, original, message)
                .or_fail(|| "AES-GCM encrypt on the source".to_owned())?;
            let opened = module
                .decrypt(t, &gcm, clone, &sealed)
                .or_fail(|| "AES-GCM decrypt on the target".to_owned())?;
            if opened.as_slice() != message {
                return Err(CliError::new("the clone decrypted something else"));
            }
            Ok("encrypted on the source, decrypted on the target (AES-GCM)")
        }
        1 => {
            let hmac = Mechanism::Plain(CKM_SHA256_HMAC);
            let message = b"the quickstart's message";
            let mac = module
                .sign(s, &hmac, original, message)
                .or_fail(|| "HMAC on the source".to_owned())?;
            module
                .verify(t, &hmac, clone, message, &mac)
                .or_fail(|| "HMAC verify on the target".to_owned())?;
            Ok("MAC made on the source, verified on the target (HMAC-SHA256)")
        }
        2 => {
            // The cloned private key signs; the source's public key verifies.
            let digest = random::<32>()?;
            let signature = module
                .sign(t, &Mechanism::Plain(CKM_ECDSA), clone, &digest)
                .or_fail(|| "ECDSA sign on the target".to_owned())?;
            module
                .verify(s, &Mechanism::Plain(CKM_ECDSA), pair.1, &digest, &signature)
                .or_fail(|| "ECDSA verify on the source".to_owned())?;
            Ok("signed on the target, verified on the source (ECDSA P-256)")
        }
        3 => {
            let digest = random::<32>()?;
            let signature = module
                .sign(s, &Mechanism::Plain(CKM_ECDSA), pair.0, &digest)
                .or_fail(|| "ECDSA sign on the source".to_owned())?;
            module
                .verify(t, &Mechanism::Plain(CKM_ECDSA), clone, &digest, &signature)
                .or_fail(|| "ECDSA verify on the target".to_owned())?;
            Ok("signed on the source, verified on the target (ECDSA P-256)")
        }
        _ => {
            let a = module
                .attribute(s, original, CKA_VALUE)
                .or_fail(|| "reading CKA_VALUE".to_owned())?;
            let b = module
                .attribute(t, clone, CKA_VALUE)
                .or_fail(|| "reading CKA_VALUE".to_owned())?;
            if a != b {
                return Err(CliError::new("the clone's value differs"));
            }
            Ok("same CKA_VALUE on both partitions")
        }
    }
}

/// The slot whose token is labelled `label`, else `fallback`.
fn slot_labelled(
    hsm: &Hsm,
    slots: &[CK_SLOT_ID],
    label: &str,
    fallback: usize,
) -> CliResult<CK_SLOT_ID> {
    for &slot in slots {
        if hsm
            .module
            .token_info(slot)
            .map(|info| info.label == label)
            .unwrap_or(false)
        {
            return Ok(slot);
        }
    }
    slots.get(fallback).copied().ok_or_else(|| {
        CliError::new(
            "the module shows fewer than two slots; quickstart needs a source and a target",
        )
    })
}

/// Runs the quickstart.
pub fn run(hsm: &Hsm) -> CliResult<()> {
    let slots = hsm.module.slots().or_fail(|| "C_GetSlotList".to_owned())?;
    let source_slot = slot_labelled(hsm, &slots, "source", 0)?;
    let target_slot = slot_labelled(hsm, &slots, "target", 1)?;
    let source = hsm.officer_session(source_slot)?;
    let finder = hsm.officer_session(source_slot)?;
    let target = hsm.officer_session(target_slot)?;
    let objects = source_objects(&source)?;
    let handles: Vec<CK_OBJECT_HANDLE> = objects.iter().map(|o| o.2).collect();
    let pair = match handles.as_slice() {
        [_, _, private, public, ..] => (*private, *public),
        _ => return Err(CliError::new("the key pair is missing")),
    };
    let mut collect = Collect::default();
    let mut summary = Summary::default();
    migrate::migrate_handles(
        &source,
        &mut migrate::LocalTarget { session: &target },
        &handles,
        Options::default(),
        &mut collect,
        &mut summary,
    )?;
    drop(finder);
    if summary.failed > 0 {
        let failed: Vec<String> = collect
            .0
            .iter()
            .filter(|r| r.status == "failed")
            .map(|r| format!("{} ({})", r.label, r.rv))
            .collect();
        return Err(CliError::new(format!(
            "some objects did not clone: {}",
            failed.join(", ")
        )));
    }
    let source_info = hsm
        .module
        .token_info(source_slot)
        .or_fail(|| "C_GetTokenInfo".to_owned())?;
    let target_info = hsm
        .module
        .token_info(target_slot)
        .or_fail(|| "C_GetTokenInfo".to_owned())?;
    let firmware = hsm.module.firmware(target_slot).ok();

    let cloned = collect.0.iter().filter(|r| r.status == "cloned").count();
    out!(
        "cpv4 quickstart: {} objects of slot {source_slot} ({}) are on slot {target_slot} ({}); {cloned} cloned now with CA_MigrateKeys.",
        objects.len(),
        source_info.label,
        target_info.label
    );
    out!();
    for (i, ((label, what, handle, reused), result)) in objects.iter().zip(&collect.0).enumerate() {
        let clone = clone_of(&source, &target, *handle)?;
        let proof = prove(&source, &target, i, *handle, clone, pair)?;
        let origin = if *reused { "reused" } else { "created" };
        let cloned = if result.status == "present" {
            "clone already on the target"
        } else {
            "cloned now"
        };
        out!("  {what:<28} {label:<24} {origin}, {cloned}: {proof}");
    }
    out!();
    let firmware = firmware.map_or_else(String::new, |(a, b, c)| format!(", firmware {a}.{b}.{c}"));
    let peer = format!(
        "partition \"{}\", serial {} ({}{firmware})",
        target_info.label, target_info.serial, target_info.model
    );
    if cloned > 0 {
        out!(
            "Verified peer: {peer}. The CPv4 negotiation checked its HSM's attestation chain and a cloning domain both partitions share."
        );
    } else {
        out!("Peer: {peer}. Nothing needed cloning, so this run made no negotiation.");
    }
    if hsm.builtin {
        let home = luna_sim::default_home()
            .map_or_else(|_| "(unknown)".to_owned(), |h| h.display().to_string());
        out!("State: the simulator home {home} (set LUNA_SIM_HOME to use another).");
    } else {
        out!("State: held by the module given with --module.");
    }
    let reused = objects.iter().filter(|o| o.3).count();
    let present = collect.0.iter().filter(|r| r.status == "present").count();
    if reused > 0 || present > 0 {
        out!(
            "This run reused {reused} existing source objects and found {present} clones already on the target."
        );
    }
    out!();
    out!("Try next:");
    let tries = [
        (
            format!("cpv4 objects --slot {target_slot}"),
            "the clones on the target",
        ),
        (
            format!("cpv4 migrate --from {source_slot} --to {target_slot} --all --dry-run"),
            "what a full migration would do",
        ),
        (
            "cpv4 sim status".to_owned(),
            "devices, partitions, domains and policies",
        ),
    ];
    for (command, what) in tries {
        out!("  {command:<48} # {what}");
    }
    if let Ok(exe) = std::env::current_exe() {
        out!(
            "(`cpv4` is {}; `cargo install --path migrate-cli` puts it on your PATH)",
            exe.display()
        );
    }
    Ok(())
}
