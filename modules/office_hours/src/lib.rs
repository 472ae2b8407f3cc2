//! # ClassPulse office hours
//!
//! One fair FIFO line per course, built on ClassPulse's one data path: every action — a
//! student joining, a TA going on duty, calling the next student, an offer expiring — is an
//! event in the log (source `org.classpulse.office_hours`), reduced by one pure, course-scoped
//! reducer. The accept window runs on the server as a durable timer (an effect of the offer),
//! so it survives restarts and replays from the log like everything else.
//!
//! ```text
//! student page ─┐                                   ┌─► notification to the student's page
//! TA view ──────┼─/wsapi/in/ or POST /api/office_hours/{course}─► log ─► office_hours.queue ─┤
//! timetable ────┘ (duty events)                     ├─► timer: offer_expired at deadline
//!                                                   └─► office_hours.queue view (TA view, dashboard)
//! ```
//!
//! - [`reducer`]: the rules ([`QueueReducer`]);
//! - [`state`]: the queue, and what each student and TA sees of it;
//! - [`config`]: the `[modules.office_hours]` settings;
//! - [`view`]: the staff view of the queue (an aggregator);
//! - [`http`]: the pages and the JSON command API;
//! - [`stats`]: statistics from the log for `classpulse report`.
//!
//! `docs/protocol.md` ("Office hours") lists every event and message.

pub mod config;
pub mod http;
pub mod module;
pub mod reducer;
pub mod state;
pub mod stats;
pub mod view;

pub use config::OfficeHoursConfig;
pub use module::OfficeHoursModule;
pub use reducer::{QUEUE_REDUCER, QueueReducer, SOURCE};
pub use view::QUEUE_VIEW;
