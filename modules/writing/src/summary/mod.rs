//! What a teacher's dashboard shows per student, computed from the reducers' state.
//!
//! * [`mod@excerpt`]: ~103 characters of text around the cursor, marked with `❙`
//!   (Learning Observer's `excerpt_active_text`),
//! * [`student_summary`]: counts, time on task, last activity, active/inactive, excerpt;
//! * [`class_view`]: the course view (`writing.class`) dashboards subscribe to.

pub mod class_view;
pub mod excerpt;
pub mod student_summary;

pub use class_view::{CLASS_VIEW, ClassView};
pub use excerpt::{CURSOR_MARK, excerpt};
pub use student_summary::{Activity, StudentSummary, SummaryInputs};
