//! The inspection and administration commands: slots, objects, keygen, domains, and the
//! simulator's own settings.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use cpv4_wire::consts::{
    CKA_CLASS, CKA_DECRYPT, CKA_EC_PARAMS, CKA_ENCRYPT, CKA_KEY_TYPE, CKA_LABEL, CKA_OUID,
    CKA_SIGN, CKA_TOKEN, CKA_VALUE_LEN, CKA_VERIFY, CKK_AES, CKK_GENERIC_SECRET, CKM_AES_KEY_GEN,
    CKM_EC_KEY_PAIR_GEN, CKM_GENERIC_SECRET_KEY_GEN, CKO_SECRET_KEY, CKU_SO,
};
use luna_ffi::client::{Attr, Mechanism};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::KeyKind;
use crate::hex::encode as hex;
use crate::hsm::{CliError, CliResult, Context, Hsm};
use crate::migrate::ulong_attribute;

fn print_json(value: &impl Serialize) -> CliResult<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::new(e.to_string()))?;
    out!("{text}");
    Ok(())
}

#[derive(Serialize)]
struct SlotRow {
    slot: u64,
    label: String,
    serial: String,
    model: String,
    manufacturer: String,
}

/// `cpv4 slots`.
pub fn slots(hsm: &Hsm, json: bool) -> CliResult<()> {
    let mut rows = Vec::new();
    for slot in hsm.module.slots().or_fail(|| "C_GetSlotList".to_owned())? {
        let info = hsm
            .module
            .token_info(slot)
            .or_fail(|| format!("C_GetTokenInfo of slot {slot}"))?;
        rows.push(SlotRow {
            slot,
            label: info.label,
            serial: info.serial,
            model: info.model,
            manufacturer: info.manufacturer,
        });
    }
    if json {
        return print_json(&rows);
    }
    out!("{:<6} {:<20} {:<18} {}", "SLOT", "LABEL", "SERIAL", "MODEL");
    for row in rows {
        out!(
            "{:<6} {:<20} {:<18} {}",
            row.slot,
            row.label,
            row.serial,
            row.model
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct ObjectRow {
    handle: u64,
    class: String,
    key_type: Option<u64>,
    label: String,
    ouid: String,
}

fn class_name(class: Option<u64>) -> String {
    use cpv4_wire::consts::*;
    match class {
        Some(CKO_DATA) => "data".into(),
        Some(CKO_CERTIFICATE) => "certificate".into(),
        Some(CKO_PUBLIC_KEY) => "public-key".into(),
        Some(CKO_PRIVATE_KEY) => "private-key".into(),
        Some(CKO_SECRET_KEY) => "secret-key".into(),
        Some(other) => format!("0x{other:X}"),
        None => "?".into(),
    }
}

/// `cpv4 objects`: the table is written as the objects are found.
pub fn objects(hsm: &Hsm, slot: u64, json: bool) -> CliResult<()> {
    let session = hsm.officer_session(slot)?;
    let module = &hsm.module;
    let mut rows = Vec::new();
    if !json {
        out!("{:<8} {:<12} {:<26} {}", "HANDLE", "CLASS", "OUID", "LABEL");
    }
    let mut failure = None;
    module
        .find_each(session.handle, &[], 256, |chunk| {
            for &handle in chunk {
                let row = (|| -> CliResult<ObjectRow> {
                    let label = module
                        .attribute(session.handle, handle, CKA_LABEL)
                        .or_fail(|| "reading a label".to_owned())?
                        .map(|l| String::from_utf8_lossy(&l).into_owned())
                        .unwrap_or_default();
                    let ouid = module
                        .attribute(session.handle, handle, CKA_OUID)
                        .or_fail(|| "reading an OUID".to_owned())?
                        .map(|o| hex(&o))
                        .unwrap_or_default();
                    Ok(ObjectRow {
                        handle,
                        class: class_name(ulong_attribute(&session, handle, CKA_CLASS)?),
                        key_type: ulong_attribute(&session, handle, CKA_KEY_TYPE)?,
                        label,
                        ouid,
                    })
                })();
                match row {
                    Ok(row) if json => rows.push(row),
                    Ok(row) => {
                        let line = crate::hsm::write_line(format_args!(
                            "{:<8} {:<12} {:<26} {}",
                            row.handle,
                            row.class,
                            row.ouid,
                            printable(&row.label)
                        ));
                        if let Err(err) = line {
                            failure = Some(err);
                        }
                    }
                    Err(err) => failure = Some(err),
                }
            }
            Ok(())
        })
        .or_fail(|| format!("listing the objects of slot {slot}"))?;
    if let Some(err) = failure {
        return Err(err);
    }
    if json {
        print_json(&rows)?;
    }
    Ok(())
}

/// `cpv4 keygen`.
pub fn keygen(hsm: &Hsm, slot: u64, kind: KeyKind, label: &str, count: u32) -> CliResult<()> {
    let session = hsm.officer_session(slot)?;
    let module = &hsm.module;
    for n in 1..=count {
        let label = if count == 1 {
            label.to_owned()
        } else {
            format!("{label}-{n}")
        };
        let mut template = vec![
            Attr::bool(CKA_TOKEN, true),
            Attr::bytes(CKA_LABEL, label.as_bytes().to_vec()),
        ];
        let handle = match kind {
            KeyKind::Aes | KeyKind::Generic => {
                let (key_type, mechanism, uses) = match kind {
                    KeyKind::Aes => (CKK_AES, CKM_AES_KEY_GEN, [CKA_ENCRYPT, CKA_DECRYPT]),
                    _ => (
                        CKK_GENERIC_SECRET,
                        CKM_GENERIC_SECRET_KEY_GEN,
                        [CKA_SIGN, CKA_VERIFY],
                    ),
                };
                template.extend([
                    Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
                    Attr::ulong(CKA_KEY_TYPE, key_type),
                    Attr::ulong(CKA_VALUE_LEN, 32),
                    Attr::bool(uses[0], true),
                    Attr::bool(uses[1], true),
                ]);
                module
                    .generate_key(session.handle, &Mechanism::Plain(mechanism), &template)
                    .or_fail(|| format!("generating {label}"))?
            }
            KeyKind::Ec => {
                let mut public = template.clone();
                public.push(Attr::bytes(
                    CKA_EC_PARAMS,
                    vec![0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07],
                ));
                public.push(Attr::bool(CKA_VERIFY, true));
                template.push(Attr::bool(CKA_SIGN, true));
                module
                    .generate_key_pair(
                        session.handle,
                        &Mechanism::Plain(CKM_EC_KEY_PAIR_GEN),
                        &public,
                        &template,
                    )
                    .or_fail(|| format!("generating {label}"))?
                    .1
            }
        };
        out!("{handle:<8} {label}");
    }
    Ok(())
}

/// `cpv4 domain ...`.
#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Add a cloning domain to a partition (as its Partition SO).
    #[command(
        after_help = "Example:\n  cpv4 domain add --slot 0 --label team-a --generate --secret-file team-a.secret\n  cpv4 domain add --slot 1 --label team-a --secret-file team-a.secret"
    )]
    Add {
        /// The slot.
        #[arg(long)]
        slot: u64,
        /// The domain's label.
        #[arg(long)]
        label: String,
        /// The domain secret: read from this file, or written to it (mode 0600) with
        /// `--generate`.
        #[arg(long)]
        secret_file: Option<PathBuf>,
        /// Generate a random 32-byte secret (printed once as hex if no file is given).
        #[arg(long)]
        generate: bool,
        /// Make it the partition's primary domain.
        #[arg(long)]
        primary: bool,
    },
    /// List a partition's domains, primary first.
    #[command(after_help = "Example:\n  cpv4 domain list --slot 0")]
    List {
        /// The slot.
        #[arg(long)]
        slot: u64,
    },
    /// Rename a domain.
    #[command(
        after_help = "Example:\n  cpv4 domain relabel --slot 0 --label team-a --new-label team-b"
    )]
    Relabel {
        /// The slot.
        #[arg(long)]
        slot: u64,
        /// The current label.
        #[arg(long)]
        label: String,
        /// The new label.
        #[arg(long)]
        new_label: String,
    },
    /// Delete a domain.
    #[command(after_help = "Example:\n  cpv4 domain delete --slot 0 --label team-a")]
    Delete {
        /// The slot.
        #[arg(long)]
        slot: u64,
        /// The label.
        #[arg(long)]
        label: String,
    },
}

/// Writes a new secret file readable by its owner only; refuses to overwrite one.
fn write_secret(path: &PathBuf, secret: &[u8]) -> CliResult<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", path.display())))?;
    let text = Zeroizing::new(hex(secret));
    file.write_all(text.as_bytes())
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))
}

/// Reads a secret file: hex if it is hex (as `--generate` writes it), else its bytes less a
/// final line break.
fn read_secret(path: &std::path::Path) -> CliResult<Zeroizing<Vec<u8>>> {
    let bytes = crate::hsm::read_small(path, "the secret file")?;
    let text = String::from_utf8_lossy(&bytes);
    let decoded = crate::hex::decode(text.trim()).filter(|d| !d.is_empty());
    let secret = match decoded {
        Some(decoded) => Zeroizing::new(decoded),
        None => {
            let raw = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            Zeroizing::new(raw.to_vec())
        }
    };
    if secret.is_empty() {
        return Err(CliError::usage(format!(
            "the secret file {} is empty",
            path.display()
        )));
    }
    Ok(secret)
}

fn so_session<'h>(hsm: &'h Hsm, slot: u64) -> CliResult<crate::hsm::Session<'h>> {
    let pin = hsm.pins.so_pin(hsm.builtin, slot)?;
    hsm.session_as(slot, CKU_SO, &pin)
}

/// `cpv4 domain ...`.
pub fn domain(hsm: &Hsm, command: DomainCommand) -> CliResult<()> {
    match command {
        DomainCommand::Add {
            slot,
            label,
            secret_file,
            generate,
            primary,
        } => {
            let secret = if generate {
                let mut secret = Zeroizing::new(vec![0u8; 32]);
                getrandom::fill(&mut secret)
                    .map_err(|e| CliError::new(format!("no randomness: {e}")))?;
                secret
            } else {
                let path = secret_file.as_ref().ok_or_else(|| {
                    CliError::new(
                        "give the domain secret with --secret-file, or --generate a new one",
                    )
                })?;
                read_secret(path)?
            };
            let session = so_session(hsm, slot)?;
            // A generated secret is saved, or shown, before the HSM takes it: a domain whose
            // secret nobody holds could never be added to a peer.
            let saved = match (&secret_file, generate) {
                (Some(path), true) => {
                    write_secret(path, &secret)?;
                    Some(path)
                }
                (None, true) => {
                    out!(
                        "the new domain's secret, shown only now (add it to the peer partition with --secret-file):"
                    );
                    out!("{}", Zeroizing::new(hex(&secret)).as_str());
                    None
                }
                _ => None,
            };
            let added = hsm
                .module
                .add_kcv(session.handle, &secret, &label, primary)
                .or_fail(|| format!("CA_AddKCV of {label:?} on slot {slot}"));
            if let (Err(_), Some(path)) = (&added, saved) {
                let _ = std::fs::remove_file(path);
            }
            added?;
            if generate {
                match &secret_file {
                    Some(path) => {
                        out!(
                            "added domain {label:?} to slot {slot}; its secret is in {} (mode 0600): add it to the peer partition with --secret-file",
                            path.display()
                        );
                    }
                    None => out!("added domain {label:?} to slot {slot}"),
                }
            } else {
                out!("added domain {label:?} to slot {slot}");
            }
            Ok(())
        }
        DomainCommand::List { slot } => {
            let _session = hsm.officer_session(slot)?;
            let labels = hsm
                .module
                .kcv_labels(slot)
                .or_fail(|| format!("CA_GetKCVLabels of slot {slot}"))?;
            for (i, label) in labels.iter().enumerate() {
                let shown = if label.is_empty() {
                    "(unlabelled)"
                } else {
                    label.as_str()
                };
                out!("{shown}{}", if i == 0 { "  (primary)" } else { "" });
            }
            Ok(())
        }
        DomainCommand::Relabel {
            slot,
            label,
            new_label,
        } => {
            let session = so_session(hsm, slot)?;
            hsm.module
                .change_kcv_label(session.handle, &label, &new_label)
                .or_fail(|| format!("CA_ChangeKCVLabel of {label:?} on slot {slot}"))?;
            out!("domain {label:?} of slot {slot} is now {new_label:?}");
            Ok(())
        }
        DomainCommand::Delete { slot, label } => {
            let session = so_session(hsm, slot)?;
            hsm.module
                .delete_kcv(session.handle, &label)
                .or_fail(|| format!("CA_DeleteKCV of {label:?} on slot {slot}"))?;
            out!("deleted domain {label:?} of slot {slot}");
            Ok(())
        }
    }
}

/// `cpv4 sim ...`: the simulator home itself (`$LUNA_SIM_HOME` or the default).
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Create (provision) the simulator home if it is empty.
    #[command(after_help = "Example:\n  LUNA_SIM_HOME=/tmp/hsm cpv4 sim init")]
    Init,
    /// Devices, partitions, domains, policies and clocks.
    #[command(after_help = "Example:\n  cpv4 sim status")]
    Status,
    /// Set an HSM policy (7 cloning, 57 clock sync), a partition policy (0, 4, 42, 44), or
    /// a partition's CPv4 switch.
    #[command(
        after_help = "Examples:\n  cpv4 sim policy --hsm 150001 --policy 7 --off\n  cpv4 sim policy --slot 1 --policy 42 --on\n  cpv4 sim policy --slot 1 --cpv4 --off"
    )]
    Policy {
        /// The HSM serial (for HSM policies).
        #[arg(long, conflicts_with = "slot")]
        hsm: Option<String>,
        /// The slot (for partition policies and --cpv4).
        #[arg(long)]
        slot: Option<u64>,
        /// The policy number.
        #[arg(long, conflicts_with = "cpv4")]
        policy: Option<u64>,
        /// The partition's CPv4 switch instead of a numbered policy.
        #[arg(long)]
        cpv4: bool,
        /// Turn it on.
        #[arg(long, conflicts_with = "off")]
        on: bool,
        /// Turn it off.
        #[arg(long)]
        off: bool,
    },
    /// Set an HSM's clock to host time plus an offset, or back to unset.
    #[command(
        after_help = "Examples:\n  cpv4 sim clock --hsm 150002 --offset 3600\n  cpv4 sim clock --hsm 150002 --unset"
    )]
    Clock {
        /// The HSM serial.
        #[arg(long)]
        hsm: String,
        /// Seconds ahead of (or, negative, behind) the host.
        #[arg(long, allow_hyphen_values = true, conflicts_with = "unset")]
        offset: Option<i64>,
        /// Back to the never-set state.
        #[arg(long)]
        unset: bool,
    },
    /// Delete the simulator home and everything in it.
    #[command(after_help = "Example:\n  cpv4 sim reset --yes")]
    Reset {
        /// Confirm.
        #[arg(long)]
        yes: bool,
    },
}

fn sim_error(what: &str) -> impl FnOnce(luna_sim::SimError) -> CliError + '_ {
    move |e| CliError::call(format!("{what}: {e}"), e.rv())
}

/// `cpv4 sim ...`.
pub fn sim(command: SimCommand) -> CliResult<()> {
    let home = luna_sim::default_home().map_err(sim_error("no simulator home"))?;
    let open = || luna_sim::Simulator::open(&home).map_err(sim_error("opening the simulator home"));
    match command {
        SimCommand::Init => {
            let existed = home.join(luna_sim::DB_FILE).exists();
            open()?;
            out!(
                "simulator home {} {}",
                home.display(),
                if existed {
                    "already exists"
                } else {
                    "created with the default layout"
                }
            );
        }
        SimCommand::Status => {
            // Looking makes nothing: a missing home is reported, not provisioned.
            if !home.join(luna_sim::DB_FILE).is_file() {
                return Err(CliError::usage(format!(
                    "no simulator home at {}: `cpv4 sim init` or `cpv4 quickstart` makes one",
                    home.display()
                )));
            }
            let sim = open()?;
            out!("simulator home {}", home.display());
            for serial in sim.device_serials().map_err(sim_error("devices"))? {
                let device = sim.device_info(&serial).map_err(sim_error("device"))?;
                let clock = match device.clock {
                    luna_sim::ClockState::Set { offset_secs } => {
                        format!("host time {offset_secs:+} s")
                    }
                    luna_sim::ClockState::NotSet => "not set".to_owned(),
                };
                let (negotiations, sessions, tombstones) = sim
                    .cpv4_counts(&serial)
                    .map_err(sim_error("CPv4 records"))?;
                out!(
                    "HSM {serial}: firmware {}, policy 7 (cloning) {}, policy 57 (clock sync) {}, clock {clock}",
                    device.firmware,
                    on(device.cloning_allowed),
                    on(device.sync_with_host_time)
                );
                out!(
                    "  CPv4 state held: {negotiations} negotiations, {sessions} sessions, {tombstones} tombstones (expired ones go at the next call)"
                );
                for slot in device.slots {
                    let partition = sim.partition_info(slot).map_err(sim_error("partition"))?;
                    let policies: Vec<String> = partition
                        .policies
                        .iter()
                        .map(|(id, value)| format!("{id}={}", u8::from(*value)))
                        .collect();
                    // Read as the simulator's administrator (no login, so no PIN attempt is
                    // spent); the PSKs are not shown.
                    let domains = sim
                        .domain_psks(slot)
                        .map_err(sim_error("domains"))?
                        .iter()
                        .map(|d| {
                            let label = d.label.as_deref().map_or_else(
                                || "(unlabelled)".to_owned(),
                                |l| printable(&String::from_utf8_lossy(l)),
                            );
                            if d.primary {
                                format!("{label} (primary)")
                            } else {
                                label
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    out!(
                        "  slot {slot} {:?} serial {}: CPv4 {}, legacy {}, policies {}, domains [{domains}]",
                        partition.label,
                        partition.serial,
                        on(partition.cpv4_enabled),
                        on(partition.cpv3_enabled),
                        policies.join(" ")
                    );
                }
            }
        }
        SimCommand::Policy {
            hsm,
            slot,
            policy,
            cpv4,
            on: turn_on,
            off,
        } => {
            if turn_on == off {
                return Err(CliError::usage("say --on or --off"));
            }
            let sim = open()?;
            match (hsm, slot, policy, cpv4) {
                (Some(serial), None, Some(policy), false) => {
                    sim.set_hsm_policy(&serial, policy, turn_on)
                        .map_err(sim_error("setting the HSM policy"))?;
                }
                (None, Some(slot), Some(policy), false) => {
                    sim.set_partition_policy(slot, policy, turn_on)
                        .map_err(sim_error("setting the partition policy"))?;
                }
                (None, Some(slot), None, true) => {
                    sim.set_protocol_enabled(slot, true, turn_on)
                        .map_err(sim_error("setting CPv4"))?;
                }
                _ => {
                    return Err(CliError::usage(
                        "give --hsm SERIAL --policy N, --slot N --policy N, or --slot N --cpv4",
                    ));
                }
            }
            out!("done");
        }
        SimCommand::Clock { hsm, offset, unset } => {
            let sim = open()?;
            match (offset, unset) {
                (Some(offset), false) => {
                    let now = sim.host_time();
                    sim.set_device_time(&hsm, now.saturating_add(offset))
                        .map_err(sim_error("setting the clock"))?;
                    out!("HSM {hsm} clock set to host time {offset:+} s");
                }
                (None, true) => {
                    sim.reset_device_clock(&hsm)
                        .map_err(sim_error("resetting the clock"))?;
                    out!("HSM {hsm} clock is unset");
                }
                _ => return Err(CliError::usage("give --offset SECONDS or --unset")),
            }
        }
        SimCommand::Reset { yes } => {
            if !yes {
                return Err(CliError::usage(format!(
                    "this deletes the simulator home {} and every key in it; add --yes",
                    home.display()
                )));
            }
            if !home.join(luna_sim::DB_FILE).is_file() {
                return Err(CliError::usage(format!(
                    "{} is not a simulator home (it has no {}): nothing deleted",
                    home.display(),
                    luna_sim::DB_FILE
                )));
            }
            // Only what the simulator made: anything else in the directory stays.
            let entries = std::fs::read_dir(&home)
                .map_err(|e| CliError::new(format!("cannot list {}: {e}", home.display())))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path();
                let ours = name == luna_sim::DB_FILE
                    || name.starts_with(&format!("{}-", luna_sim::DB_FILE))
                    || (name.ends_with(".key") && path.is_file())
                    || name.contains(".tmp")
                    || (name == "ped" && path.is_dir());
                if !ours {
                    continue;
                }
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed
                    .map_err(|e| CliError::new(format!("cannot delete {}: {e}", path.display())))?;
            }
            // The directory goes too if nothing else is in it.
            let _ = std::fs::remove_dir(&home);
            out!("deleted {}", home.display());
        }
    }
    Ok(())
}

/// A label as it may be printed in a table: control characters (an escape sequence, a
/// newline) are shown escaped rather than sent to the terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn on(value: bool) -> &'static str {
    if value { "on" } else { "off" }
}
