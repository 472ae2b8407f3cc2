//! `fdatasync` on a thread of its own, so the log writer stamps its next batch while the disk
//! takes the last one.
//!
//! The writer syncs one batch at a time: it hands the file over after writing a batch, builds
//! the next, and collects the result before it acknowledges the first or writes the second.
//! So a sync covers exactly one written batch, as when the writer synced it itself, and a
//! failure is handled the same way (nothing after the failed batch has been written yet).

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

/// The sync thread's two ends; the thread exits when this is dropped.
pub(super) struct Syncer {
    requests: Sender<Arc<File>>,
    results: Receiver<io::Result<()>>,
}

impl Syncer {
    /// Starts the thread.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub(super) fn start() -> io::Result<Syncer> {
        let (requests, to_sync) = channel::<Arc<File>>();
        let (report, results) = channel();
        std::thread::Builder::new()
            .name("classpulse-sync".into())
            .spawn(move || {
                for file in to_sync {
                    if report.send(file.sync_data()).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Syncer { requests, results })
    }

    /// Starts syncing `file`; [`Syncer::finished`] says how it went.
    pub(super) fn begin(&self, file: Arc<File>) {
        // A thread that is gone is reported by `finished`.
        let _ = self.requests.send(file);
    }

    /// Waits for the sync begun last.
    ///
    /// # Errors
    /// The sync's error, or that the sync thread is gone.
    pub(super) fn finished(&self) -> io::Result<()> {
        self.results
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("the log's sync thread stopped")))
    }
}
