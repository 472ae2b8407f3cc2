//! Whether the log can take writes, and why not.

use std::sync::Mutex;

/// Shared view of the log's health, read by `/readyz` and `/healthz`.
#[derive(Debug, Default)]
pub struct LogHealth {
    problem: Mutex<Option<String>>,
}

impl LogHealth {
    /// Records a problem (the log is not writable).
    pub fn fail(&self, reason: impl Into<String>) {
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.into());
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
}
