//! The PKCS#11 module the command talks to, its sessions, PINs, and the errors it prints.

use std::path::{Path, PathBuf};

use cpv4_wire::consts::{
    CKR_DEVICE_ERROR, CKR_FUNCTION_NOT_SUPPORTED, CKR_PIN_INCORRECT, CKR_PIN_LOCKED,
    CKR_PROTOCOL_DISABLED, CKR_SESSION_NEGOTIATION_NO_PSK, CKR_SLOT_ID_INVALID,
    CKR_TOKEN_NOT_PRESENT, CKR_USER_NOT_LOGGED_IN, CKU_USER,
};
use luna_ffi::client::{Module, rv_label};
use luna_ffi::types::{CK_RV, CK_SESSION_HANDLE, CK_SLOT_ID, CK_USER_TYPE};
use zeroize::Zeroizing;

/// Writes a line to stdout; a closed stdout (`cpv4 ... | head`) is an error that stops
/// the command instead of a panic.
macro_rules! out {
    () => {
        $crate::hsm::write_line(format_args!(""))?
    };
    ($($arg:tt)*) => {
        $crate::hsm::write_line(format_args!($($arg)*))?
    };
}

/// The writer behind [`out!`].
pub fn write_line(args: std::fmt::Arguments<'_>) -> CliResult<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{args}").map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader is gone (`| head`): stop quietly, as other tools do.
            CliError::new("")
        } else {
            CliError::new(format!("writing the output: {e}"))
        }
    })
}

/// A failure, printed as one line with the `CK_RV` name and a sentence saying what to do.
#[derive(Debug)]
pub struct CliError {
    /// What failed.
    pub what: String,
    /// The module's code, if a call failed.
    pub rv: Option<CK_RV>,
    /// Whether it ends the command even where per-object results were reported.
    pub fatal: bool,
    /// The exit code: 1, or 2 for a usage error.
    pub exit: u8,
}

impl CliError {
    /// A failure of no PKCS#11 call.
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            rv: None,
            fatal: false,
            exit: 1,
        }
    }

    /// A command given wrongly (exit code 2).
    pub fn usage(what: impl Into<String>) -> Self {
        Self {
            exit: 2,
            ..Self::new(what)
        }
    }

    /// A failure that ends the command (a lost relay).
    pub fn fatal(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            rv: None,
            fatal: true,
            exit: 1,
        }
    }

    /// A PKCS#11 call that returned `rv`.
    pub fn call(what: impl Into<String>, rv: CK_RV) -> Self {
        Self {
            what: what.into(),
            rv: Some(rv),
            fatal: false,
            exit: 1,
        }
    }
}

/// What to do about a return code.
fn advice(rv: CK_RV) -> &'static str {
    match rv {
        CKR_PIN_INCORRECT => {
            "check the PIN; the simulator's development PINs are listed in the README"
        }
        CKR_PIN_LOCKED => "the role is locked after failed logins; the Partition SO must reset it",
        CKR_SLOT_ID_INVALID | CKR_TOKEN_NOT_PRESENT => "run `cpv4 slots` to see the slots",
        CKR_USER_NOT_LOGGED_IN => "log in as the Crypto Officer of that partition",
        CKR_PROTOCOL_DISABLED => {
            "CPv4 is off on one of the partitions: see `cpv4 sim status`, and `cpv4 sim policy` to turn it on"
        }
        CKR_SESSION_NEGOTIATION_NO_PSK => {
            "the two partitions share no cloning domain: add the same one to both with `cpv4 domain add`"
        }
        CKR_FUNCTION_NOT_SUPPORTED => {
            "the module does not have this function (a Luna extension missing from a non-Luna module?)"
        }
        CKR_DEVICE_ERROR => "the device's store failed; run `cpv4 sim status` and retry",
        cpv4_wire::consts::CKR_DEVICE_REMOVED => {
            "the relay's peer stopped answering or its stream was damaged; nothing partial was stored: run the command again"
        }
        cpv4_wire::consts::CKR_DOMAIN_MAX_REACHED => {
            "the partition holds as many domains as it may: delete one with `cpv4 domain delete`"
        }
        cpv4_wire::consts::CKR_DOMAIN_LABEL_ALREADY_EXISTS => {
            "the partition has a domain of that label: pick another, or `cpv4 domain relabel` it"
        }
        cpv4_wire::consts::CKR_USER_ANOTHER_ALREADY_LOGGED_IN => {
            "another role is logged in to that partition; log it out first"
        }
        _ => "see the error table, section 10 of docs/protocol.md, for what this code means here",
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rv {
            Some(rv) => write!(f, "{}: {} ({})", self.what, rv_label(rv), advice(rv)),
            None => f.write_str(&self.what),
        }
    }
}

impl std::error::Error for CliError {}

/// The result of a command.
pub type CliResult<T> = Result<T, CliError>;

/// Adds what was being done to a module's code.
pub trait Context<T> {
    /// `what` failed with the module's code.
    fn or_fail(self, what: impl FnOnce() -> String) -> CliResult<T>;
}

impl<T> Context<T> for Result<T, CK_RV> {
    fn or_fail(self, what: impl FnOnce() -> String) -> CliResult<T> {
        self.map_err(|rv| CliError::call(what(), rv))
    }
}

/// Where PINs come from: never the command line.
#[derive(Debug, Clone, Default)]
pub struct PinSource {
    /// A file holding the PIN (its first line).
    pub file: Option<PathBuf>,
    /// An environment variable holding the PIN.
    pub env: Option<String>,
    /// A file holding the Partition SO PIN.
    pub so_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy)]
enum Role {
    Officer,
    So,
}

impl Role {
    fn sim(self) -> luna_sim::Role {
        match self {
            Self::Officer => luna_sim::Role::CryptoOfficer,
            Self::So => luna_sim::Role::So,
        }
    }
}

/// The most a PIN or secret file may hold: anything longer is not one.
const SMALL_FILE: u64 = 4096;

/// Reads a file of at most [`SMALL_FILE`] bytes (a PIN, a domain secret), wiped on drop.
pub fn read_small(path: &std::path::Path, what: &str) -> CliResult<Zeroizing<Vec<u8>>> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::new(format!("cannot read {what} {}: {e}", path.display())))?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(
        usize::try_from(SMALL_FILE).unwrap_or(0) + 1,
    ));
    file.take(SMALL_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::new(format!("cannot read {what} {}: {e}", path.display())))?;
    if bytes.len() as u64 > SMALL_FILE {
        return Err(CliError::usage(format!(
            "{what} {} is larger than {SMALL_FILE} bytes: not a PIN or a secret",
            path.display()
        )));
    }
    Ok(bytes)
}

impl PinSource {
    /// The Crypto Officer PIN: from the file, else the variable, else the simulator's
    /// development PIN for the built-in simulator, else a prompt without echo.
    pub fn officer_pin(&self, builtin: bool, slot: CK_SLOT_ID) -> CliResult<Zeroizing<Vec<u8>>> {
        Self::pin(
            self.file.as_ref(),
            self.env.as_deref(),
            builtin,
            slot,
            Role::Officer,
        )
    }

    /// The Partition SO PIN, from `--so-pin-file`, `$CPV4_SO_PIN`, the development PIN of the
    /// built-in simulator, or a prompt.
    pub fn so_pin(&self, builtin: bool, slot: CK_SLOT_ID) -> CliResult<Zeroizing<Vec<u8>>> {
        Self::pin(
            self.so_file.as_ref(),
            Some("CPV4_SO_PIN"),
            builtin,
            slot,
            Role::So,
        )
    }

    fn pin(
        file: Option<&PathBuf>,
        env: Option<&str>,
        builtin: bool,
        slot: CK_SLOT_ID,
        role: Role,
    ) -> CliResult<Zeroizing<Vec<u8>>> {
        let (name, development) = match role {
            Role::Officer => ("Crypto Officer", luna_sim::provision::DEFAULT_CO_PIN),
            Role::So => ("Partition SO", luna_sim::provision::DEFAULT_SO_PIN),
        };
        if let Some(path) = file {
            let text = read_small(path, "the PIN file")?;
            let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
            let pin = first.strip_suffix(b"\r").unwrap_or(first);
            return Ok(Zeroizing::new(pin.to_vec()));
        }
        if let Some(value) = env.and_then(std::env::var_os) {
            return Ok(Zeroizing::new(value.into_encoded_bytes()));
        }
        if builtin {
            // Tried only while it is still the PIN (checked without counting an attempt), so
            // falling back to it can never lock a changed PIN out.
            let home = luna_sim::default_home()
                .map_err(|e| CliError::new(format!("no simulator home: {e}")))?;
            let unchanged = luna_sim::Simulator::open(&home)
                .and_then(|sim| sim.pin_unchanged(slot, role.sim(), development.as_bytes()))
                .map_err(|e| {
                    CliError::call(format!("checking the PINs of slot {slot}: {e}"), e.rv())
                })?;
            if unchanged {
                tracing::debug!(slot, "using the simulator's development {name} PIN");
                return Ok(Zeroizing::new(development.as_bytes().to_vec()));
            }
            tracing::debug!(slot, "the development {name} PIN was changed");
        }
        let pin =
            rpassword::prompt_password(format!("{name} PIN for slot {slot}: ")).map_err(|e| {
                CliError::new(format!(
                    "no PIN: give --pin-file or set the PIN variable ({e})"
                ))
            })?;
        Ok(Zeroizing::new(pin.into_bytes()))
    }
}

/// The module and how it was chosen.
pub struct Hsm {
    /// The module.
    pub module: Module,
    /// Whether it is the simulator linked into this binary.
    pub builtin: bool,
    /// Where PINs come from.
    pub pins: PinSource,
}

impl Hsm {
    /// Opens and initialises the module at `path`, or the built-in simulator.
    pub fn open(path: Option<&Path>, pins: PinSource) -> CliResult<Self> {
        let (module, builtin) = match path {
            Some(path) => (
                Module::load(path).map_err(|e| {
                    CliError::new(format!(
                        "{}: {e}; check --module or $CPV4_MODULE",
                        path.display()
                    ))
                })?,
                false,
            ),
            None => (Module::builtin(), true),
        };
        module.initialize().or_fail(|| "C_Initialize".to_owned())?;
        Ok(Self {
            module,
            builtin,
            pins,
        })
    }

    /// A read-write session on `slot`, logged in as the Crypto Officer.
    pub fn officer_session(&self, slot: CK_SLOT_ID) -> CliResult<Session<'_>> {
        let pin = self.pins.officer_pin(self.builtin, slot)?;
        self.session_as(slot, CKU_USER, &pin)
    }

    /// A read-write session on `slot`, logged in as `user` with `pin`.
    pub fn session_as(
        &self,
        slot: CK_SLOT_ID,
        user: CK_USER_TYPE,
        pin: &[u8],
    ) -> CliResult<Session<'_>> {
        let handle = self
            .module
            .open_session(slot, true)
            .or_fail(|| format!("opening a session on slot {slot}"))?;
        let session = Session {
            hsm: self,
            handle,
            slot,
        };
        self.module
            .login(handle, user, pin)
            .or_fail(|| format!("logging in to slot {slot}"))?;
        Ok(session)
    }
}

impl Drop for Hsm {
    fn drop(&mut self) {
        let _ = self.module.finalize();
    }
}

/// An open session, closed when dropped.
pub struct Session<'h> {
    /// The module it belongs to.
    pub hsm: &'h Hsm,
    /// The session handle.
    pub handle: CK_SESSION_HANDLE,
    /// Its slot.
    pub slot: CK_SLOT_ID,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self.hsm.module.close_session(self.handle);
    }
}
