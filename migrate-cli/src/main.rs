//! `cpv4`: CPv4 key cloning between Luna partitions from the shell, over the simulator linked
//! into this binary (nothing to configure) or any PKCS#11 module (`--module`).
#![forbid(unsafe_code)]

#[macro_use]
mod hsm;
mod admin;
mod hex;
mod migrate;
mod quickstart;
mod relay;
mod steps;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::hsm::{CliError, CliResult, Context, Hsm, PinSource};

/// CPv4 key cloning between Luna partitions.
#[derive(Debug, Parser)]
#[command(
    name = "cpv4",
    version,
    after_help = "Example:\n  cpv4 quickstart\n  cpv4 migrate --from 0 --to 1 --all"
)]
struct Cli {
    /// A PKCS#11 module to use instead of the built-in simulator (a Luna client library).
    #[arg(long, env = "CPV4_MODULE", global = true)]
    module: Option<PathBuf>,
    /// A file holding the Crypto Officer PIN (its first line).
    #[arg(long, global = true)]
    pin_file: Option<PathBuf>,
    /// A file holding the Partition SO PIN (domain commands); else `$CPV4_SO_PIN`.
    #[arg(long, global = true)]
    so_pin_file: Option<PathBuf>,
    /// The environment variable holding the Crypto Officer PIN.
    #[arg(long, global = true, default_value = "CPV4_PIN")]
    pin_env: String,
    /// More output (-v: each object; -vv: debug logs). `RUST_LOG` also sets the logs.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create keys of every kind, clone them to a second partition, prove the clones work.
    #[command(after_help = "Example:\n  cpv4 quickstart")]
    Quickstart,
    /// List the slots and their tokens.
    #[command(after_help = "Example:\n  cpv4 slots --json")]
    Slots {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the objects of a slot.
    #[command(after_help = "Example:\n  cpv4 objects --slot 1")]
    Objects {
        /// The slot.
        #[arg(long)]
        slot: u64,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Generate keys on a slot.
    #[command(
        after_help = "Example:\n  cpv4 keygen --slot 0 --kind aes --label app-key --count 100"
    )]
    Keygen {
        /// The slot.
        #[arg(long)]
        slot: u64,
        /// The kind of key.
        #[arg(long, value_enum)]
        kind: KeyKind,
        /// The label (numbered `-1`, `-2`... with `--count` above 1).
        #[arg(long)]
        label: String,
        /// How many keys.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        count: u32,
    },
    /// Clone objects from one partition to another.
    #[command(
        after_help = "Examples:\n  cpv4 migrate --from 0 --to 1 --all\n  cpv4 migrate --from 0 --to 1 --label app-key --dry-run --json\n  cpv4 migrate --from 0 --to-remote 'ssh hostb cpv4 relay --serve --slot 1' --all\n\nExit codes: 0 every selected object is on the target, 3 some are, 4 none are, 1 an error stopped the run."
    )]
    Migrate {
        /// The source slot.
        #[arg(long)]
        from: u64,
        /// The target slot.
        #[arg(
            long,
            required_unless_present = "to_remote",
            conflicts_with = "to_remote"
        )]
        to: Option<u64>,
        /// A command whose stdin and stdout reach the target: `cpv4 relay --serve` on the
        /// other host (for example `ssh hostb cpv4 relay --serve --slot 1`).
        #[arg(long, value_name = "COMMAND")]
        to_remote: Option<String>,
        /// With --to-remote: seconds to wait for an answer of the peer before giving up.
        #[arg(long, default_value_t = 600, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        relay_timeout: u64,
        /// Select objects by label.
        #[arg(long)]
        label: Option<String>,
        /// Select objects by CKA_ID (hex).
        #[arg(long)]
        id: Option<String>,
        /// Select objects by class.
        #[arg(long, value_enum)]
        class: Option<ObjectClass>,
        /// Select every object of the source.
        #[arg(long, conflicts_with_all = ["label", "id", "class"])]
        all: bool,
        /// Go on past objects that fail.
        #[arg(long)]
        continue_on_error: bool,
        /// Say what would be cloned, clone nothing.
        #[arg(long)]
        dry_run: bool,
        /// A JSON document with each object's result.
        #[arg(long)]
        json: bool,
        /// Objects per CA_MigrateKeys call (memory is bounded by one batch).
        #[arg(long, default_value_t = migrate::BATCH as u64, value_parser = clap::value_parser!(u64).range(1..=cpv4_migrate::relay::MAX_LOOKUP as u64))]
        batch: u64,
    },
    /// Two hosts: the serving end of `migrate --to-remote`, or the air-gapped steps.
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = "Examples:\n  cpv4 migrate --from 0 --to-remote 'ssh hostb cpv4 relay --serve --slot 1' --all\n  cpv4 relay step offer --slot 1 --out 1-offer.cpv4"
    )]
    Relay(RelayArgs),
    /// Cloning domains of a partition.
    #[command(subcommand)]
    Domain(admin::DomainCommand),
    /// The simulator: devices, partitions, policies, clocks.
    #[command(subcommand)]
    Sim(admin::SimCommand),
    /// Shell completions.
    #[command(after_help = "Example:\n  cpv4 completions bash > /etc/bash_completion.d/cpv4")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, clap::Args)]
struct RelayArgs {
    /// Answer a `cpv4 migrate --to-remote` on stdin and stdout, as the target.
    #[arg(long, requires = "slot")]
    serve: bool,
    /// The slot served.
    #[arg(long, requires = "serve")]
    slot: Option<u64>,
    #[command(subcommand)]
    step: Option<RelayCommand>,
}

#[derive(Debug, Subcommand)]
enum RelayCommand {
    /// One step of an air-gapped migration, its input and output as files.
    #[command(subcommand)]
    Step(steps::StepCommand),
}

/// Kinds of keys `keygen` makes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyKind {
    /// AES-256.
    Aes,
    /// A 256-bit generic secret (HMAC).
    Generic,
    /// An EC P-256 key pair.
    Ec,
}

/// Object classes for selection.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ObjectClass {
    /// CKO_DATA.
    Data,
    /// CKO_CERTIFICATE.
    Certificate,
    /// CKO_PUBLIC_KEY.
    Public,
    /// CKO_PRIVATE_KEY.
    Private,
    /// CKO_SECRET_KEY.
    Secret,
}

impl ObjectClass {
    fn cko(self) -> u64 {
        use cpv4_wire::consts::*;
        match self {
            Self::Data => CKO_DATA,
            Self::Certificate => CKO_CERTIFICATE,
            Self::Public => CKO_PUBLIC_KEY,
            Self::Private => CKO_PRIVATE_KEY,
            Self::Secret => CKO_SECRET_KEY,
        }
    }
}

/// The bytes of `--id`.
fn id_bytes(text: &str) -> CliResult<Vec<u8>> {
    hex::decode(text).ok_or_else(|| CliError::usage(format!("--id {text:?} is not hex")))
}

fn logs(verbose: u8) {
    let default = if verbose >= 2 { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// `cpv4 migrate`: runs `go` with the report the output asks for. With `--json` the document
/// is written whatever happens, an error included.
fn migrate_command(
    json: bool,
    verbose: u8,
    go: impl FnOnce(&mut dyn migrate::Report, bool) -> CliResult<migrate::Summary>,
) -> CliResult<u8> {
    let summary = if json {
        let mut report = migrate::JsonReport::new()?;
        let result = go(&mut report, false);
        report.finish(result.as_ref().ok(), result.as_ref().err())?;
        result?
    } else {
        let mut report = migrate::TextReport::new(verbose > 0);
        let summary = go(&mut report, true)?;
        drop(report);
        out!(
            "{} selected: {} cloned, {} already on the target, {} would be cloned, {} failed",
            summary.selected,
            summary.cloned,
            summary.present,
            summary.would_clone,
            summary.failed
        );
        summary
    };
    Ok(summary.exit_code())
}

#[allow(clippy::too_many_arguments)]
fn migrate_to(
    hsm: &Hsm,
    from: u64,
    to: Option<u64>,
    to_remote: Option<(String, Duration)>,
    selection: &migrate::Selection,
    options: migrate::Options,
    report: &mut dyn migrate::Report,
    say_peer: bool,
) -> CliResult<migrate::Summary> {
    let source = hsm.officer_session(from)?;
    let finder = hsm.officer_session(from)?;
    let local;
    let mut remote = None;
    let mut local_target;
    let target: &mut dyn migrate::Target = match (to, to_remote) {
        (Some(to), None) => {
            if to == from {
                return Err(CliError::usage(
                    "the source and the target are the same slot: name two partitions",
                ));
            }
            local = hsm.officer_session(to)?;
            local_target = migrate::LocalTarget { session: &local };
            &mut local_target
        }
        (None, Some((command, timeout))) => {
            let pin_variables = [
                "CPV4_PIN",
                "CPV4_SO_PIN",
                hsm.pins.env.as_deref().unwrap_or("CPV4_PIN"),
            ];
            let peer = remote.insert(relay::RemoteTarget::spawn(
                &command,
                timeout,
                &pin_variables,
            )?);
            // The peer must be another partition (register A52, as for --to).
            let own = hsm
                .module
                .token_info(from)
                .or_fail(|| "C_GetTokenInfo".to_owned())?;
            if peer.peer.1 == own.serial {
                return Err(CliError::usage(format!(
                    "the relay serves partition {} (serial {}), the source itself: serve the target's slot",
                    own.label, own.serial
                )));
            }
            tracing::info!(label = %peer.peer.0, serial = %peer.peer.1, "relay peer");
            if say_peer {
                out!("peer: partition {:?}, serial {}", peer.peer.0, peer.peer.1);
            }
            peer
        }
        _ => return Err(CliError::usage("give --to SLOT or --to-remote COMMAND")),
    };
    let summary = migrate::run(&finder, &source, target, selection, options, report)?;
    if let Some(remote) = remote {
        remote.finish()?;
    }
    Ok(summary)
}

/// Runs a listing command; with `--json`, an error is also written as `{"error": "..."}`, so
/// the output is JSON whatever happens.
fn json_errors(json: bool, command: impl FnOnce() -> CliResult<()>) -> CliResult<u8> {
    let result = command();
    if let (true, Err(err)) = (json, &result)
        && !err.what.is_empty()
    {
        let text = serde_json::to_string(&err.to_string()).unwrap_or_default();
        out!("{{\"error\":{text}}}");
    }
    result.map(|()| 0)
}

fn run(cli: Cli) -> CliResult<u8> {
    let pins = PinSource {
        file: cli.pin_file.clone(),
        env: Some(cli.pin_env.clone()),
        so_file: cli.so_pin_file.clone(),
    };
    let open = || Hsm::open(cli.module.as_deref(), pins.clone());
    match cli.command {
        Command::Quickstart => quickstart::run(&open()?).map(|()| 0),
        Command::Slots { json } => json_errors(json, || admin::slots(&open()?, json)),
        Command::Objects { slot, json } => {
            json_errors(json, || admin::objects(&open()?, slot, json))
        }
        Command::Keygen {
            slot,
            kind,
            label,
            count,
        } => admin::keygen(&open()?, slot, kind, &label, count).map(|()| 0),
        Command::Migrate {
            from,
            to,
            to_remote,
            relay_timeout,
            label,
            id,
            class,
            all,
            continue_on_error,
            dry_run,
            json,
            batch,
        } => {
            let options = migrate::Options {
                continue_on_error,
                dry_run,
                batch: usize::try_from(batch).unwrap_or(migrate::BATCH),
            };
            let remote = to_remote.map(|command| (command, Duration::from_secs(relay_timeout)));
            // Everything, the checks of the arguments included, runs inside the report, so
            // that with --json every outcome is one JSON document.
            let go = |report: &mut dyn migrate::Report, say_peer: bool| {
                if !all && label.is_none() && id.is_none() && class.is_none() {
                    return Err(CliError::usage(
                        "say which objects: --label, --id, --class, or --all",
                    ));
                }
                let selection = migrate::Selection {
                    label: label.clone(),
                    id: id.as_deref().map(id_bytes).transpose()?,
                    class: class.map(ObjectClass::cko),
                };
                let hsm = open()?;
                migrate_to(
                    &hsm,
                    from,
                    to,
                    remote.clone(),
                    &selection,
                    options,
                    report,
                    say_peer,
                )
            };
            migrate_command(json, cli.verbose, go)
        }
        Command::Relay(RelayArgs {
            step: Some(RelayCommand::Step(step)),
            ..
        }) => steps::run(&open()?, step).map(|()| 0),
        Command::Relay(RelayArgs {
            serve: true,
            slot: Some(slot),
            ..
        }) => relay::serve(&open()?, slot).map(|()| 0),
        Command::Relay(_) => Err(CliError::usage(
            "say `cpv4 relay --serve --slot N` or `cpv4 relay step ...`",
        )),
        Command::Domain(command) => admin::domain(&open()?, command).map(|()| 0),
        Command::Sim(command) => admin::sim(command).map(|()| 0),
        Command::Completions { shell } => {
            // Generated into memory: clap_complete panics on a failed write.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "cpv4", &mut script);
            out!("{}", String::from_utf8_lossy(&script).trim_end());
            Ok(0)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logs(cli.verbose);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if !err.what.is_empty() {
                eprintln!("cpv4: {err}");
            }
            ExitCode::from(err.exit)
        }
    }
}
