//! This project's token: filling a simulator home, and timing `CA_MigrateKeys` and finds
//! through the built module.

use std::path::Path;
use std::time::Instant;

use cpv4_wire::consts::*;
use luna_ffi::client::{Attr, Module};
use luna_ffi::types::CK_OBJECT_MIGRATION_DATA;
use luna_sim::{Attribute, AttributeValue, Mechanism, Simulator, provision};

use crate::{BenchResult, emit, memory_kib};

/// The slots of the default layout the measurements use.
pub const SOURCE: u64 = 0;
/// The target partition (same cloning domain as [`SOURCE`]).
pub const TARGET: u64 = 1;

/// How many templates go into one `create_objects` transaction while filling.
const FILL_BATCH: u64 = 5_000;

/// The kind of key a measurement moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// AES-256 secret keys.
    Aes256,
    /// RSA-2048 private keys.
    Rsa2048,
    /// EC P-256 private keys.
    EcP256,
}

impl KeyKind {
    /// Parses `aes256`, `rsa2048` or `p256`.
    ///
    /// # Errors
    ///
    /// Any other name.
    pub fn parse(name: &str) -> BenchResult<Self> {
        match name {
            "aes256" => Ok(Self::Aes256),
            "rsa2048" => Ok(Self::Rsa2048),
            "p256" => Ok(Self::EcP256),
            _ => Err(format!("{name}: not a key kind (aes256, rsa2048, p256)")),
        }
    }

    /// The name [`KeyKind::parse`] reads.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Aes256 => "aes256",
            Self::Rsa2048 => "rsa2048",
            Self::EcP256 => "p256",
        }
    }
}

fn sim_error(what: &str) -> impl Fn(luna_sim::SimError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// The attributes of a private key's material, read from a key generated for the purpose so
/// every copy carries real, consistent material.
pub fn material(sim: &Simulator, session: u64, kind: KeyKind) -> BenchResult<Vec<Attribute>> {
    let clear = [
        Attribute::bool(CKA_SENSITIVE, false),
        Attribute::bool(CKA_EXTRACTABLE, true),
    ];
    let (private, types): (_, &[u64]) = match kind {
        KeyKind::Aes256 => return Ok(Vec::new()),
        KeyKind::Rsa2048 => {
            let (_, private) = sim
                .generate_key_pair(
                    session,
                    &Mechanism::RsaPkcsKeyPairGen,
                    &[
                        Attribute::ulong(CKA_MODULUS_BITS, 2048),
                        Attribute::bytes(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
                    ],
                    &clear,
                )
                .map_err(sim_error("RSA key generation"))?;
            (
                private,
                &[
                    CKA_MODULUS,
                    CKA_PUBLIC_EXPONENT,
                    CKA_PRIVATE_EXPONENT,
                    CKA_PRIME_1,
                    CKA_PRIME_2,
                    CKA_EXPONENT_1,
                    CKA_EXPONENT_2,
                    CKA_COEFFICIENT,
                ],
            )
        }
        KeyKind::EcP256 => {
            let params = Attribute::bytes(CKA_EC_PARAMS, luna_sim::P256_EC_PARAMS.to_vec());
            let (_, private) = sim
                .generate_key_pair(session, &Mechanism::EcKeyPairGen, &[params], &clear)
                .map_err(sim_error("EC key generation"))?;
            (private, &[CKA_EC_PARAMS, CKA_VALUE])
        }
    };
    let values = sim
        .get_attribute_value(session, private, types)
        .map_err(sim_error("reading the key material"))?;
    types
        .iter()
        .zip(values)
        .map(|(&kind, value)| match value {
            AttributeValue::Value(bytes) => Ok(Attribute::bytes(kind, bytes.to_vec())),
            _ => Err(format!("the generated key has no readable {kind:#x}")),
        })
        .collect()
}

/// The class and key type of a `kind` key.
#[must_use]
pub const fn class_and_type(kind: KeyKind) -> (u64, u64) {
    match kind {
        KeyKind::Aes256 => (CKO_SECRET_KEY, CKK_AES),
        KeyKind::Rsa2048 => (CKO_PRIVATE_KEY, CKK_RSA),
        KeyKind::EcP256 => (CKO_PRIVATE_KEY, CKK_EC),
    }
}

/// The template of key number `index` (labelled `key-N`).
#[must_use]
pub fn template(kind: KeyKind, index: u64, material: &[Attribute]) -> Vec<Attribute> {
    let (class, key_type) = class_and_type(kind);
    let mut template = vec![
        Attribute::ulong(CKA_CLASS, class),
        Attribute::ulong(CKA_KEY_TYPE, key_type),
        Attribute::bool(CKA_TOKEN, true),
        Attribute::bytes(CKA_LABEL, format!("key-{index}").into_bytes()),
    ];
    if kind == KeyKind::Aes256 {
        // Distinct material per key: the index, then a constant filler.
        let mut value = [0x5a_u8; 32];
        value[..8].copy_from_slice(&index.to_be_bytes());
        template.push(Attribute::bytes(CKA_VALUE, value.to_vec()));
    } else {
        template.extend(material.iter().cloned());
    }
    template
}

/// `fill HOME KIND COUNT`: `COUNT` token keys on the source partition of the simulator home
/// `HOME` (provisioned with the default layout if new).
///
/// # Errors
///
/// The simulator's.
pub fn fill(home: &Path, kind: KeyKind, count: u64) -> BenchResult<()> {
    let sim = Simulator::open(home).map_err(sim_error("opening the simulator"))?;
    let session = sim
        .open_session(SOURCE, true)
        .map_err(sim_error("opening a session"))?;
    sim.login(session, CKU_USER, provision::DEFAULT_CO_PIN.as_bytes())
        .map_err(sim_error("logging in"))?;
    let material = material(&sim, session, kind)?;
    let started = Instant::now();
    let mut next = 0;
    while next < count {
        let end = (next + FILL_BATCH).min(count);
        let templates: Vec<_> = (next..end).map(|i| template(kind, i, &material)).collect();
        sim.create_objects(session, &templates)
            .map_err(sim_error("creating the keys"))?;
        next = end;
    }
    emit(&[
        ("filled", count.to_string()),
        (
            "fill_seconds",
            format!("{:.3}", started.elapsed().as_secs_f64()),
        ),
    ]);
    Ok(())
}

/// Names a failing call by its code.
pub fn call(what: &str) -> impl Fn(luna_ffi::client::Rv) -> String + '_ {
    move |rv| format!("{what}: {}", luna_ffi::client::rv_label(rv))
}

/// A logged-in read-write session on `slot`.
fn session(module: &Module, slot: u64) -> BenchResult<u64> {
    let session = module
        .open_session(slot, true)
        .map_err(call("C_OpenSession"))?;
    module
        .login(session, CKU_USER, provision::DEFAULT_CO_PIN.as_bytes())
        .map_err(call("C_Login"))?;
    Ok(session)
}

/// `migrate LIB`: `CA_MigrateKeys` of every key on the source partition to the target, in
/// one call; times the call alone, and reports the process's peak memory (`VmHWM`), its
/// memory before the caller's arrays were made, and their size.
///
/// # Errors
///
/// A failing call, an object that did not migrate, or a target that does not hold them all.
pub fn migrate(library: &Path) -> BenchResult<()> {
    let module = Module::load(library).map_err(|e| format!("loading the module: {e}"))?;
    module.initialize().map_err(call("C_Initialize"))?;
    let source = session(&module, SOURCE)?;
    let target = session(&module, TARGET)?;
    // The process before the caller's own arrays (the handles found, the migration data).
    let (_, loaded) = memory_kib()?;
    let labelled = [Attr::bool(CKA_TOKEN, true)];
    let keys = module
        .find(source, &labelled)
        .map_err(call("C_FindObjects"))?;
    let mut objects: Vec<CK_OBJECT_MIGRATION_DATA> = keys
        .iter()
        .map(|&handle| CK_OBJECT_MIGRATION_DATA {
            objectType: CK_CRYPTOKI_ELEMENT,
            sourceHandle: handle,
            targetHandle: 0,
            rv: 0,
        })
        .collect();
    let arrays = keys.len() * std::mem::size_of::<u64>()
        + objects.len() * std::mem::size_of::<CK_OBJECT_MIGRATION_DATA>();
    let started = Instant::now();
    module
        .migrate_keys(source, target, 0, &mut objects)
        .map_err(call("CA_MigrateKeys"))?;
    let seconds = started.elapsed().as_secs_f64();
    let (peak, _) = memory_kib()?;
    if let Some(failed) = objects.iter().find(|o| o.rv != CKR_OK) {
        return Err(format!(
            "object {} did not migrate: {}",
            failed.sourceHandle,
            luna_ffi::client::rv_label(failed.rv)
        ));
    }
    let landed = module
        .find(target, &labelled)
        .map_err(call("C_FindObjects"))?;
    if landed.len() != keys.len() {
        return Err(format!(
            "{} keys migrated, {} on the target",
            keys.len(),
            landed.len()
        ));
    }
    emit(&[
        ("objects", keys.len().to_string()),
        ("seconds", format!("{seconds:.6}")),
        ("peak_kib", peak.to_string()),
        ("loaded_kib", loaded.to_string()),
        ("arrays_kib", (arrays / 1024).to_string()),
    ]);
    module.finalize().map_err(call("C_Finalize"))
}

/// How many label searches a find measurement times.
pub const FINDS: u64 = 200;

/// `find LIB COUNT`: times [`FINDS`] searches by label (each a whole
/// `C_FindObjectsInit`/`C_FindObjects`/`C_FindObjectsFinal`) among `COUNT` keys.
///
/// # Errors
///
/// A failing call, or a search that does not find exactly its key.
pub fn find(library: &Path, count: u64) -> BenchResult<()> {
    let module = Module::load(library).map_err(|e| format!("loading the module: {e}"))?;
    module.initialize().map_err(call("C_Initialize"))?;
    let source = session(&module, SOURCE)?;
    let seconds = time_finds(&module, source, count)?;
    emit(&[
        ("finds", FINDS.to_string()),
        ("seconds_per_find", format!("{:.9}", seconds / FINDS as f64)),
    ]);
    module.finalize().map_err(call("C_Finalize"))
}

/// Times [`FINDS`] label searches spread over `count` keys named `key-N`.
///
/// # Errors
///
/// A failing call, or a search that does not find exactly one key.
pub fn time_finds(module: &Module, session: u64, count: u64) -> BenchResult<f64> {
    let step = (count / FINDS).max(1);
    let started = Instant::now();
    for n in 0..FINDS {
        let label = format!("key-{}", (n * step) % count.max(1));
        let found = module
            .find(session, &[Attr::bytes(CKA_LABEL, label.as_bytes())])
            .map_err(call("C_FindObjects"))?;
        if found.len() != 1 {
            return Err(format!("{label}: {} objects found, not 1", found.len()));
        }
    }
    Ok(started.elapsed().as_secs_f64())
}
