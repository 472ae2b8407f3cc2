//! The event log: the source of truth.
//!
//! Every accepted event is appended, in its server envelope ([`crate::event::envelope`]), as one
//! JSON line to a segmented log under `<data_dir>/log/` before any reducer sees it. Appends are
//! group-committed: the [`writer`] thread writes whatever arrived since its last commit, calls
//! `fdatasync` once, then acknowledges every event in the batch and hands the batch to the
//! router (the sync runs on a thread beside it, while it stamps the next batch). A crash can
//! leave a torn last line; it is detected, reported and cut off on open.

pub(crate) mod buffers;
mod health;
pub mod prepared;
pub mod reader;
pub mod segment;
mod syncer;
pub mod system;
pub mod writer;

pub use health::LogHealth;
pub use prepared::{FieldSpan, Prepared};
pub use reader::{LogReader, ReadError};
pub use writer::{
    AckTracker, CommittedLine, DurableBatch, LogWriter, PendingEvent, Refused, WriterConfig,
};
