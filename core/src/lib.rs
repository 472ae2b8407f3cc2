//! # ClassPulse core
//!
//! The runtime every module stands on. One data path:
//!
//! ```text
//! client ──/wsapi/in/──► ingest ──► event log ──► router ──► reducers ──► KVS ──► pub/sub
//! ```
//!
//! - [`ingest`]: Learning Observer's `/wsapi/in/` protocol (lock_fields, auth, acks, limits);
//! - [`log`]: the durable, segmented JSON-lines event log — the source of truth;
//! - [`router`]: runs the [`reducer`]s registered for each logged event's source, in log order;
//! - [`kvs`] and [`pubsub`]: the backend traits, with in-memory backends;
//! - [`aggregator`]: course views over students' states, for the dashboards hub;
//! - [`timers`]: durable timers, fired as events through the log;
//! - [`roster`]: courses, staff and students, as events in the log; who may reach a course;
//! - [`server`]: the HTTP/WebSocket surface; [`runtime`]: wiring and start-up replay;
//! - [`offline`]: a log's state rebuilt in memory, for tools; [`testing`]: test helpers
//!   ([`testing::ReducerHarness`]).

pub mod aggregator;
pub mod applier;
pub mod auth;
pub mod clock;
pub mod config;
pub mod datadir;
pub mod event;
pub mod ingest;
pub mod kvs;
pub mod log;
pub mod module;
pub mod offline;
pub mod pubsub;
pub mod reducer;
pub mod replay;
pub mod roster;
pub mod router;
pub mod runtime;
pub mod server;
pub mod snapshot;
pub mod telemetry;
pub mod testing;
pub mod timers;
