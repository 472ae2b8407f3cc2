//! The data directory's lock and the running server's admin endpoint.
//!
//! A server holds an exclusive lock on `<data_dir>/classpulse.lock` while it runs, so two
//! servers never write one log, and a command-line tool can tell whether a server runs: when
//! the lock is free the tool may append to the log itself (holding the lock meanwhile); when
//! it is taken the tool must ask the server, over HTTP, at the address and with the key the
//! server wrote to `<data_dir>/admin.json` (readable by the data directory's owner only —
//! whoever can read the log may administer the server).

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const LOCK_FILE: &str = "classpulse.lock";
const ADMIN_FILE: &str = "admin.json";

/// The data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "the data directory {0} is in use by another classpulse process (it holds {LOCK_FILE})"
    )]
    Busy(PathBuf),
    /// The lock file could not be opened or locked.
    #[error("cannot lock the data directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// An exclusive lock on a data directory, released when dropped.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    dir: PathBuf,
}

impl DataDirLock {
    /// Takes the lock on `dir` (created when missing) without waiting.
    ///
    /// # Errors
    /// [`LockError::Busy`] when another process holds it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, LockError> {
        let io = |source| LockError::Io {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(LockError::Busy(dir.to_owned())),
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let _ = file.set_len(0);
        let _ = writeln!(&file, "{}", std::process::id());
        Ok(DataDirLock {
            file,
            dir: dir.to_owned(),
        })
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the admin endpoint file for command-line tools.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn publish(&self, endpoint: &AdminEndpoint) -> std::io::Result<()> {
        let path = self.dir.join(ADMIN_FILE);
        let tmp = self.dir.join(".admin.json.tmp");
        let mut options = OpenOptions::new();
        options.create(true).truncate(true).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(&serde_json::to_vec(endpoint).expect("serializes"))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    }
}

impl Drop for DataDirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join(ADMIN_FILE));
        let _ = self.file.unlock();
    }
}

/// Where a running server takes admin commands (`<data_dir>/admin.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminEndpoint {
    /// The server's HTTP address (loopback when it listens on every address).
    pub addr: SocketAddr,
    /// The bearer key for `Authorization: Bearer <key>`.
    pub key: String,
    /// Whether the server speaks TLS there (tools then pin the configured certificate).
    #[serde(default)]
    pub tls: bool,
}

impl AdminEndpoint {
    /// Reads the endpoint a running server published in `dir`.
    ///
    /// # Errors
    /// When there is none or it is unreadable.
    pub fn read(dir: &Path) -> std::io::Result<AdminEndpoint> {
        let bytes = std::fs::read(dir.join(ADMIN_FILE))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

/// `n` random bytes as lowercase hex, from the operating system's generator.
pub fn random_hex(n: usize) -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let dir = std::env::temp_dir().join(format!("classpulse-lock-{}", random_hex(6)));
        let lock = DataDirLock::acquire(&dir).unwrap();
        assert!(matches!(
            DataDirLock::acquire(&dir),
            Err(LockError::Busy(_))
        ));
        let endpoint = AdminEndpoint {
            addr: "127.0.0.1:1".parse().unwrap(),
            key: random_hex(16),
            tls: false,
        };
        lock.publish(&endpoint).unwrap();
        assert_eq!(AdminEndpoint::read(&dir).unwrap(), endpoint);
        drop(lock);
        assert!(AdminEndpoint::read(&dir).is_err());
        let again = DataDirLock::acquire(&dir).unwrap();
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
