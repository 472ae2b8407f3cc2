//! # ClassPulse dashboards
//!
//! The educator's live view of a course, pushed within a fraction of a second of the events
//! that change it (Learning Observer polls every 0.5–10 s).
//!
//! ```text
//! router ──state.changes──► hub ──► live views ──/wsapi/dashboard──► web/ (the educator page)
//!                           (which views read     (aggregators, coalesced,
//!                            the changed keys)     versioned: snapshot, then deltas)
//! ```
//!
//! - [`hub`]: follows state changes, keeps the watched views up to date, coalesces;
//! - [`view`]: one course view — rows per student, a summary, versions for deltas;
//! - [`socket`]: the `/wsapi/dashboard` protocol;
//! - [`web`]: the pages, sign-in, the student link, `/api/me`, `/api/courses`;
//! - [`charts`]: a course's charts (plotters: SVG, PNG), for the page and `classpulse report`.

pub mod charts;
pub mod hub;
pub mod socket;
pub mod view;
pub mod web;

pub use hub::Hub;
pub use web::routes;
