//! Reusable reducers any module can register under its own name, sources and scope:
//! [`EventCount`], [`TimeOnTask`] (Learning Observer's rule) and [`LastActivity`].
//!
//! ```
//! use classpulse_core::reducer::Scope;
//! use classpulse_reducers::TimeOnTask;
//! let per_doc = TimeOnTask::new("writing.time_on_task", &["org.mitros.writing_analytics"], Scope::student_doc(), 60.0);
//! ```

mod activity;
mod event_count;
mod last_activity;
mod time_on_task;

pub use activity::{ActivityConfig, ActivityModule};
pub use event_count::{EventCount, EventCountState};
pub use last_activity::{LastActivity, LastActivityState};
pub use time_on_task::{TimeOnTask, TimeOnTaskState};
