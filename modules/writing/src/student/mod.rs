//! Per-student counters and identity.
//!
//! * [`event_count`]: how many writing events a student sent,
//! * [`student_profile`]: the student's e-mail and id as the extension reports them.

pub mod event_count;
pub mod student_profile;
