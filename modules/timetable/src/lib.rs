//! ClassPulse's timetable module: terms, courses, sections, meetings, rooms and staff; what is
//! happening now and next in each course; iCalendar in and out; conflicts; and office hours
//! opened and closed by TAs' office-hour blocks.
//!
//! Where it sits on the one data path: imports ([`import`]: the TOML file of [`toml_file`],
//! or a course's calendar via [`ical`]) become events in the log ([`events`]), reduced by two
//! pure reducers ([`reducers`]): the institution-wide catalog and each course's live state,
//! which arms a timer for the next session start or end ([`live`]) and emits the office-hours
//! module's duty events. [`conflicts`] checks a whole timetable; [`view`] and [`http`] show it,
//! and [`panel`] pushes now/next to the educator dashboard.
//! Times are civil times in the institution's zone ([`recur`], with `jiff`), so classes keep
//! their wall-clock times across daylight-saving changes.

pub mod config;
pub mod conflicts;
pub mod events;
pub mod feed;
pub mod http;
pub mod ical;
pub mod import;
pub mod live;
pub mod model;
pub mod module;
pub mod panel;
pub mod recur;
pub mod reducers;
pub mod toml_file;
pub mod view;

pub use config::TimetableConfig;
pub use events::SOURCE;
pub use module::TimetableModule;
