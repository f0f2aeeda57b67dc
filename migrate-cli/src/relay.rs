//! Two hosts: `cpv4 migrate --to-remote COMMAND` runs COMMAND (`ssh hostb cpv4 relay --serve
//! --slot 1`) and drives the shared migration flow with the source here and the target at the
//! far end of COMMAND's stdin and stdout (`cpv4_migrate::relay`); `cpv4 relay --serve` is that
//! far end. Neither host holds the other's HSM session, and the serving side opens no port.

use std::io::{BufReader, BufWriter, Read};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Duration;

use cpv4_migrate::relay::{Partition, RelayClient, Request, Response, serve as serve_stream};
use cpv4_migrate::{MigrationItem, migrate_keys_with};
use cpv4_wire::consts::{CKA_OUID, CkRv};
use luna_ffi::client::{Attr, ModuleEndpoint};
use luna_ffi::types::{CK_OBJECT_HANDLE, CK_OBJECT_MIGRATION_DATA};

use crate::hsm::{CliError, CliResult, Hsm, Session};
use crate::migrate::Target;

/// The target at the far end of a command.
pub struct RemoteTarget {
    child: Child,
    client: Option<RelayClient<TimedReader, BufWriter<ChildStdin>>>,
    /// The peer's partition label and serial.
    pub peer: (String, String),
}

impl RemoteTarget {
    /// Runs `command` with `sh -c` and greets the relay at its other end; a peer silent for
    /// `timeout` fails the run.
    pub fn spawn(command: &str, timeout: Duration, pin_variables: &[&str]) -> CliResult<Self> {
        let mut shell = Command::new("sh");
        shell.arg("-c").arg(command);
        // This host's PINs are not the peer's business: they are not passed on.
        for name in pin_variables {
            shell.env_remove(name);
        }
        let mut child = shell
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| CliError::new(format!("cannot run {command:?}: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(CliError::new("the relay command has no stdin or stdout"));
        };
        let mut target = Self {
            child,
            client: Some(RelayClient::new(
                TimedReader::new(stdout, timeout),
                BufWriter::new(stdin),
            )),
            peer: (String::new(), String::new()),
        };
        match target.client_mut()?.call(&Request::Hello) {
            Ok(Response::Hello { label, serial }) => {
                target.peer = (
                    crate::admin::printable(&label),
                    crate::admin::printable(&serial),
                );
            }
            _ => {
                return Err(target.lost(&format!(
                    "{command:?} did not answer as a `cpv4 relay --serve`"
                )));
            }
        }
        Ok(target)
    }

    fn client_mut(&mut self) -> CliResult<&mut RelayClient<TimedReader, BufWriter<ChildStdin>>> {
        self.client
            .as_mut()
            .ok_or_else(|| CliError::fatal("the relay is closed"))
    }

    fn lost(&mut self, what: &str) -> CliError {
        let why = self
            .client
            .as_ref()
            .and_then(|client| client.failure.as_ref())
            .map_or_else(String::new, |failure| format!(": {failure}"));
        CliError {
            rv: Some(cpv4_wire::consts::CKR_DEVICE_REMOVED),
            ..CliError::fatal(format!(
                "{what}{why}; the peer's HSM discards its side of the session by its own rules"
            ))
        }
    }

    /// Ends the relay: the peer sees the end of its input and exits.
    pub fn finish(mut self) -> CliResult<()> {
        self.client = None;
        let status = self
            .child
            .wait()
            .map_err(|e| CliError::new(format!("waiting for the relay: {e}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(CliError::new(format!(
                "the relay command ended with {status}"
            )))
        }
    }
}

impl Drop for RemoteTarget {
    /// After a failure: closing the peer's input ends a healthy peer; one that does not end
    /// within a few seconds is killed.
    fn drop(&mut self) {
        self.client = None;
        for _ in 0..50 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Target for RemoteTarget {
    fn lookup(&mut self, ouids: &[Vec<u8>]) -> CliResult<Vec<Option<CK_OBJECT_HANDLE>>> {
        let request = Request::Lookup {
            ouids: ouids.to_vec(),
        };
        let client = self.client_mut()?;
        match client.call(&request) {
            Ok(Response::Handles(handles)) if handles.len() == ouids.len() => {
                Ok(handles.into_iter().map(|h| (h != 0).then_some(h)).collect())
            }
            Err(rv) if client.failure.is_none() => {
                Err(CliError::call("looking up OUIDs on the peer", rv))
            }
            _ => Err(self.lost("the relay peer stopped answering, or answered out of turn")),
        }
    }

    fn migrate(
        &mut self,
        source: &Session<'_>,
        flags: u64,
        items: &mut [CK_OBJECT_MIGRATION_DATA],
    ) -> CliResult<Result<(), CkRv>> {
        let mut flow: Vec<MigrationItem> = items
            .iter()
            .map(|item| MigrationItem::new(item.objectType, item.sourceHandle))
            .collect();
        let mut endpoint = ModuleEndpoint {
            module: &source.hsm.module,
            session: source.handle,
        };
        let client = self.client_mut()?;
        let result = migrate_keys_with(&mut endpoint, client, None, flags, &mut flow);
        let failed = client.failure.is_some();
        for (item, done) in items.iter_mut().zip(&flow) {
            item.targetHandle = done.target_handle;
            item.rv = done.rv;
        }
        if failed {
            return Err(self.lost("the relay peer stopped answering"));
        }
        Ok(result.map(drop))
    }
}

/// A reader of the peer's answers that gives up when the peer is silent for too long: a relay
/// stuck on the way (a filter that buffers, a hung host) fails the run instead of hanging it.
/// A thread does the blocking reads.
pub struct TimedReader {
    chunks: Receiver<std::io::Result<Vec<u8>>>,
    pending: Vec<u8>,
    at: usize,
    timeout: Duration,
}

impl TimedReader {
    fn new(mut inner: impl Read + Send + 'static, timeout: Duration) -> Self {
        let (sender, chunks) = sync_channel(4);
        std::thread::spawn(move || {
            loop {
                let mut buf = vec![0u8; 64 * 1024];
                let chunk = inner.read(&mut buf).map(|n| {
                    buf.truncate(n);
                    buf
                });
                let end = !matches!(&chunk, Ok(bytes) if !bytes.is_empty());
                if sender.send(chunk).is_err() || end {
                    return;
                }
            }
        });
        Self {
            chunks,
            pending: Vec::new(),
            at: 0,
            timeout,
        }
    }
}

impl Read for TimedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.pending.len() {
            match self.chunks.recv_timeout(self.timeout) {
                Ok(Ok(chunk)) => {
                    self.pending = chunk;
                    self.at = 0;
                }
                Ok(Err(err)) => return Err(err),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer for {} s", self.timeout.as_secs()),
                    ));
                }
            }
        }
        let available = self.pending.get(self.at..).unwrap_or_default();
        let n = available.len().min(buf.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), available.get(..n)) {
            to.copy_from_slice(from);
        }
        self.at += n;
        Ok(n)
    }
}

/// The serving side's partition.
struct ServedPartition<'s, 'h> {
    session: &'s Session<'h>,
}

impl Partition for ServedPartition<'_, '_> {
    fn identity(&mut self) -> (String, String) {
        self.session
            .hsm
            .module
            .token_info(self.session.slot)
            .map(|info| (info.label, info.serial))
            .unwrap_or_default()
    }

    fn lookup(&mut self, ouids: &[Vec<u8>]) -> Result<Vec<CK_OBJECT_HANDLE>, CkRv> {
        ouids
            .iter()
            .map(|ouid| {
                if ouid.is_empty() {
                    return Ok(0);
                }
                let found = self
                    .session
                    .hsm
                    .module
                    .find(self.session.handle, &[Attr::bytes(CKA_OUID, ouid.clone())])?;
                Ok(found.first().copied().unwrap_or(0))
            })
            .collect()
    }
}

/// `cpv4 relay --serve --slot N`: answers a relay on stdin and stdout until its input ends.
pub fn serve(hsm: &Hsm, slot: u64) -> CliResult<()> {
    let session = hsm.officer_session(slot)?;
    let mut endpoint = ModuleEndpoint {
        module: &hsm.module,
        session: session.handle,
    };
    let mut partition = ServedPartition { session: &session };
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = BufWriter::new(std::io::stdout().lock());
    serve_stream(&mut endpoint, &mut partition, &mut input, &mut output)
        .map_err(|e| CliError::new(format!("relay --serve on slot {slot}: {e}")))
}
