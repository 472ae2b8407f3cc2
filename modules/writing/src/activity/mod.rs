//! Time on task: how long a student worked, with long pauses capped.
//!
//! * [`time_on_task`]: the running total per document (and per tab),
//! * [`binned_time_on_task`]: the same time split into fixed-size wall-clock bins.

pub mod binned_time_on_task;
pub mod time_on_task;
