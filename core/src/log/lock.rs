//! The log directory's lock: one process at a time appends to a node's event log.
//!
//! `classpulse serve` holds it for as long as it runs; an offline tool that appends events
//! (`classpulse timetable import` with no server running) takes it too, so the two never write
//! the same segment behind each other's back. It is an advisory lock (`flock`) on an empty
//! `<data_dir>/log/LOCK` file, released when the holder exits — also when it crashes.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// The name of the lock file inside the log directory.
pub const LOCK_FILE: &str = "LOCK";

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it (a running server, or another import).
    #[error("the event log in {} is in use by another process (a running `classpulse serve`?)", .dir.display())]
    Held {
        /// The log directory.
        dir: PathBuf,
    },
    /// The directory or the lock file could not be used.
    #[error("cannot lock the event log in {}: {source}", .dir.display())]
    Io {
        /// The log directory.
        dir: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// An exclusive hold on a log directory; released on drop.
#[derive(Debug)]
pub struct LogLock {
    _file: File,
    dir: PathBuf,
}

impl LogLock {
    /// Takes the lock of the log in `dir` (creating the directory), without waiting.
    ///
    /// # Errors
    /// [`LockError::Held`] when another process holds it; [`LockError::Io`] when the file
    /// cannot be created or locked.
    pub fn acquire(dir: &Path) -> Result<LogLock, LockError> {
        let io = |source| LockError::Io {
            dir: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(LogLock {
                _file: file,
                dir: dir.to_owned(),
            }),
            Err(TryLockError::WouldBlock) => Err(LockError::Held {
                dir: dir.to_owned(),
            }),
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("cp-lock-{}", std::process::id()));
        let first = LogLock::acquire(&dir).unwrap();
        assert!(matches!(
            LogLock::acquire(&dir),
            Err(LockError::Held { .. })
        ));
        drop(first);
        let again = LogLock::acquire(&dir).unwrap();
        assert_eq!(again.dir(), dir);
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
