//! ClassPulse's writing module: Learning Observer's `writing_observer` analytics.
//!
//! Events from the writing extension (source `org.mitros.writing_analytics`) are reduced per
//! student, per student and document, or per student, document and tab, into the same state
//! Learning Observer computes: the reconstructed document ([`reconstruct`]), time on task
//! ([`activity`]), the documents and tabs a student works in ([`documents`]), and per-student
//! counters ([`student`]). [`summary`] turns that state into what a teacher's dashboard shows.
//!
//! Everything here is pure and deterministic: time comes from the event's server timestamp,
//! and each event costs time proportional to what it changes, not to the document's size.

pub mod activity;
pub mod client;
pub mod config;
pub mod documents;
pub mod module;
pub mod offline;
pub mod pycompat;
pub mod reconstruct;
pub mod reducers;
pub mod student;
pub mod summary;

pub use config::{ConfigError, WritingConfig};
pub use module::{DocIdAdapter, WritingModule};
pub use reducers::SOURCE;
