//! Storage keys (the stand-in for an HSM's internal key-encryption key), sealing of values at
//! rest with AES-256-GCM, and randomness.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use getrandom::SysRng;
use rand_core::UnwrapErr;
use zeroize::Zeroizing;

use crate::error::{SimError, SimResult};

/// Length of a storage key file.
pub const STORAGE_KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Fills `buf` from the operating system's random generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> SimResult<()> {
    getrandom::fill(buf).map_err(|_| SimError::Random)
}

/// The operating system's random generator as a `rand_core` RNG (for key generation).
///
/// It panics only if the operating system's generator fails, which `fill_random` reports as
/// an error first: every caller draws through `fill_random` before using this.
pub(crate) fn os_rng() -> UnwrapErr<SysRng> {
    UnwrapErr(SysRng)
}

/// A 32-byte AES-256-GCM key that seals values at rest. Wiped on drop; never printed.
#[derive(Clone)]
pub(crate) struct StorageKey(Zeroizing<[u8; STORAGE_KEY_LEN]>);

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StorageKey([REDACTED])")
    }
}

impl StorageKey {
    /// Reads the key file at `path`, creating it (32 random bytes, mode 0600) if it does not
    /// exist. Creation is atomic: the bytes are written to a private temporary file that is
    /// then hard-linked to `path`, so a concurrent process or a crash never sees a partial
    /// key, and two processes racing agree on one key.
    pub(crate) fn load_or_create(path: &Path) -> SimResult<Self> {
        if let Some(key) = Self::load(path)? {
            return Ok(key);
        }
        let mut bytes = Zeroizing::new([0u8; STORAGE_KEY_LEN]);
        fill_random(bytes.as_mut())?;
        let tmp = write_private_temporary(path, bytes.as_ref())?;
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_dir(path)?;
                Ok(Self(bytes))
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Self::load(path)?
                .ok_or_else(|| SimError::Io(format!("key file {} vanished", path.display()))),
            Err(err) => Err(err.into()),
        }
    }

    /// Reads an existing key file; `None` if there is none. A file others may read is
    /// refused: its key is no longer the home's secret.
    pub(crate) fn load(path: &Path) -> SimResult<Option<Self>> {
        let mut file = match fs::File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        check_private(&file, path)?;
        let mut buf = Zeroizing::new(Vec::with_capacity(STORAGE_KEY_LEN));
        file.read_to_end(&mut buf)?;
        let mut bytes = Zeroizing::new([0u8; STORAGE_KEY_LEN]);
        if buf.len() != STORAGE_KEY_LEN {
            return Err(SimError::Corrupt(format!(
                "key file {} has {} bytes",
                path.display(),
                buf.len()
            )));
        }
        bytes.copy_from_slice(&buf);
        Ok(Some(Self(bytes)))
    }

    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: [u8; STORAGE_KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Seals `plaintext` bound to `aad`: `nonce (12) || ciphertext || tag (16)`.
    /// The key as the CPv4 engine's record-sealing key (which derives its own key from it).
    pub(crate) fn secret(&self) -> cpv4_crypto::Secret32 {
        cpv4_crypto::Secret32::from_bytes(*self.0)
    }

    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> SimResult<Vec<u8>> {
        let cipher = Aes256Gcm::new_from_slice(self.0.as_ref())
            .map_err(|_| SimError::Internal("storage key length"))?;
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let body = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SimError::Internal("AES-GCM sealing failed"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + body.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a value sealed by [`StorageKey::seal`] with the same `aad`.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> SimResult<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(SimError::Corrupt("sealed value too short".into()));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| SimError::Internal("nonce length"))?;
        let cipher = Aes256Gcm::new_from_slice(self.0.as_ref())
            .map_err(|_| SimError::Internal("storage key length"))?;
        cipher
            .decrypt(&nonce, Payload { msg: body, aad })
            .map(Zeroizing::new)
            .map_err(|_| SimError::Corrupt("a sealed value does not decrypt".into()))
    }
}

/// Fsyncs the directory holding `path`, so a new directory entry survives a crash.
/// Refuses a secret file that its group or others may read or write.
pub(crate) fn check_private(file: &fs::File, path: &Path) -> SimResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SimError::Store(format!(
                "{} has mode {mode:03o}; a secret file must be 0600 (chmod 600 it if it was not read by anyone else)",
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (file, path);
    Ok(())
}

/// Writes a secret file as the key files are written: a private temporary file, synced, then
/// renamed over `path`, and the directory synced, so a crash leaves the old file or the new
/// one, never a part, and no one else can read it at any moment.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> SimResult<()> {
    let tmp = write_private_temporary(path, bytes)?;
    let renamed = fs::rename(&tmp, path);
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    renamed?;
    sync_dir(path)
}

/// Writes `bytes` to a temporary file beside `path`, mode 0600 from its creation, synced; the
/// caller links or renames it into place.
fn write_private_temporary(path: &Path, bytes: &[u8]) -> SimResult<std::path::PathBuf> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(tmp)
}

/// Creates a directory readable by its owner only (if missing).
pub(crate) fn create_private_dir(path: &Path) -> SimResult<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)?;
    Ok(())
}

fn sync_dir(path: &Path) -> SimResult<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Associated data binding a sealed attribute value to its object and attribute type.
pub(crate) fn attribute_aad(object_id: i64, attribute: u64) -> Vec<u8> {
    let mut aad = b"luna-sim attribute v1".to_vec();
    aad.extend_from_slice(&object_id.to_be_bytes());
    aad.extend_from_slice(&attribute.to_be_bytes());
    aad
}

/// Associated data binding any other sealed record to its table, row and field.
pub(crate) fn record_aad(table: &str, row: &[u8], field: &str) -> Vec<u8> {
    let mut aad = b"luna-sim record v1\0".to_vec();
    aad.extend_from_slice(table.as_bytes());
    aad.push(0);
    aad.extend_from_slice(row);
    aad.push(0);
    aad.extend_from_slice(field.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_aad_and_key() {
        let key = StorageKey::from_bytes([1; 32]);
        let sealed = key.seal(b"aad", b"secret").unwrap();
        assert_eq!(sealed.len(), 12 + 6 + 16);
        assert_eq!(
            key.open(b"aad", &sealed).map(|v| v.to_vec()),
            Ok(b"secret".to_vec())
        );
        assert!(key.open(b"other", &sealed).is_err());
        assert!(
            StorageKey::from_bytes([2; 32])
                .open(b"aad", &sealed)
                .is_err()
        );
        assert_eq!(format!("{key:?}"), "StorageKey([REDACTED])");
    }

    #[test]
    fn key_files_are_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device-1.key");
        let first = StorageKey::load_or_create(&path).map(|k| *k.0);
        let second = StorageKey::load_or_create(&path).map(|k| *k.0);
        assert!(first.is_ok());
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600));
        }
    }
}
