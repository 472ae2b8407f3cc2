//! Whether the log can take writes, and why not.

use std::sync::Mutex;
use tokio::sync::Notify;

/// Shared view of the log's health, read by `/readyz`, `/healthz` and ingest.
#[derive(Debug, Default)]
pub struct LogHealth {
    problem: Mutex<Option<String>>,
    failing: Notify,
}

impl LogHealth {
    /// Records a problem (the log is not writable), waking whoever waits in [`Self::failed`].
    pub fn fail(&self, reason: impl Into<String>) {
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.into());
        self.failing.notify_waiters();
    }

    /// Clears the problem.
    pub fn recover(&self) {
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The current problem, if any.
    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Resolves at the next [`Self::fail`] (enable it before checking [`Self::problem`], so a
    /// failure in between is not missed).
    pub fn failed(&self) -> tokio::sync::futures::Notified<'_> {
        self.failing.notified()
    }
}
