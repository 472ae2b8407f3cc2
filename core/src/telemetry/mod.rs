//! What the runtime tells operators about itself: counters kept in process ([`Stats`], used by
//! tests and tools) and the Prometheus metrics served on `/metrics` ([`metrics`]).
//!
//! Each counter is bumped where the thing happens, next to the `tracing` line that reports it;
//! the functions in [`metrics`] name every metric in one place.

pub mod metrics;

use std::sync::atomic::{AtomicU64, Ordering};

/// Why an incoming frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// A binary frame.
    Binary,
    /// Not valid JSON.
    InvalidJson,
    /// Over the size limit.
    TooLarge,
    /// Nested deeper than the limit.
    TooDeep,
    /// Valid JSON but not an object.
    NotAnObject,
    /// An object without an `event` field.
    NoEventType,
    /// A bad or expired token.
    BadToken,
    /// Too many events held before authentication.
    TooManyHeld,
    /// The event log cannot take writes (disk full or read-only).
    LogUnavailable,
}

impl Rejection {
    /// Stable label.
    pub fn label(self) -> &'static str {
        match self {
            Rejection::Binary => "binary_frame",
            Rejection::InvalidJson => "invalid_json",
            Rejection::TooLarge => "too_large",
            Rejection::TooDeep => "too_deep",
            Rejection::NotAnObject => "not_an_object",
            Rejection::NoEventType => "no_event_type",
            Rejection::BadToken => "bad_token",
            Rejection::TooManyHeld => "too_many_held",
            Rejection::LogUnavailable => "log_unavailable",
        }
    }

    const ALL: [Rejection; 9] = [
        Rejection::Binary,
        Rejection::InvalidJson,
        Rejection::TooLarge,
        Rejection::TooDeep,
        Rejection::NotAnObject,
        Rejection::NoEventType,
        Rejection::BadToken,
        Rejection::TooManyHeld,
        Rejection::LogUnavailable,
    ];
}

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Stats {
    events_accepted: AtomicU64,
    rejected: [AtomicU64; 9],
    reducer_failures: AtomicU64,
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    /// The highest log sequence number the router has applied (see [`Stats::wait_applied`]).
    applied_seq: AtomicU64,
    applied: tokio::sync::Notify,
}

impl Stats {
    /// Counts accepted events.
    pub fn add_accepted(&self, n: u64) {
        self.events_accepted.fetch_add(n, Ordering::Relaxed);
        metrics::events_accepted(n);
    }
    /// Counts a rejected frame (or `n` events refused at once, for [`Rejection::LogUnavailable`]).
    pub fn add_rejected(&self, why: Rejection) {
        self.add_rejected_n(why, 1);
    }
    /// Counts `n` refused events.
    pub fn add_rejected_n(&self, why: Rejection, n: u64) {
        let i = Rejection::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.rejected[i].fetch_add(n, Ordering::Relaxed);
        metrics::events_rejected(why.label(), n);
    }
    /// Counts reducer failures.
    pub fn add_reducer_failures(&self, n: u64) {
        if n > 0 {
            self.reducer_failures.fetch_add(n, Ordering::Relaxed);
        }
    }
    /// A connection opened.
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }
    /// A connection closed.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
    /// Events accepted so far.
    pub fn accepted(&self) -> u64 {
        self.events_accepted.load(Ordering::Relaxed)
    }
    /// Frames rejected for `why` so far.
    pub fn rejected(&self, why: Rejection) -> u64 {
        let i = Rejection::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.rejected[i].load(Ordering::Relaxed)
    }
    /// Reducer failures so far.
    pub fn reducer_failures(&self) -> u64 {
        self.reducer_failures.load(Ordering::Relaxed)
    }
    /// Open ingest connections.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// Notes that the router has applied every event of a batch up to `seq`.
    pub fn note_applied(&self, seq: u64) {
        self.applied_seq.fetch_max(seq, Ordering::AcqRel);
        self.applied.notify_waiters();
    }

    /// The highest log sequence number applied so far.
    pub fn applied_seq(&self) -> u64 {
        self.applied_seq.load(Ordering::Acquire)
    }

    /// Waits until the router has applied the event at `seq` (read-your-writes for HTTP
    /// commands that append an event and answer with its effect), or `timeout`. Returns
    /// whether it was applied.
    pub async fn wait_applied(&self, seq: u64, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.applied.notified();
            if self.applied_seq() >= seq {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.applied_seq() >= seq;
            }
        }
    }

    /// All counters as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let mut rejected = serde_json::Map::new();
        for r in Rejection::ALL {
            rejected.insert(r.label().into(), self.rejected(r).into());
        }
        serde_json::json!({
            "events_accepted": self.accepted(),
            "events_rejected": rejected,
            "reducer_failures": self.reducer_failures(),
            "connections_open": self.connections_open(),
            "connections_total": self.connections_total.load(Ordering::Relaxed),
        })
    }
}
