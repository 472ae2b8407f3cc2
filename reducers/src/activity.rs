//! The `activity` module: event count, time on task and last activity per student, for every
//! event source — what a dashboard shows for any student whatever tool they use.

use crate::{EventCount, LastActivity, TimeOnTask};
use classpulse_core::module::{Module, ModuleBuilder};
use classpulse_core::reducer::Scope;
use classpulse_core::router::ANY_SOURCE;
use serde::{Deserialize, Serialize};

/// `[modules.activity]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActivityConfig {
    /// Longest gap between two events that still counts fully as time on task, in seconds.
    pub time_on_task_threshold_secs: f64,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        ActivityConfig {
            time_on_task_threshold_secs: 60.0,
        }
    }
}

impl ActivityConfig {
    /// Checks the values (found by fuzzing the configuration: `nan` and negative thresholds
    /// were accepted, and would have made every time on task `NaN` or zero).
    ///
    /// # Errors
    /// A message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        let t = self.time_on_task_threshold_secs;
        if t.is_finite() && t > 0.0 {
            Ok(())
        } else {
            Err(format!(
                "invalid config value modules.activity.time_on_task_threshold_secs: {t} is not a positive number of seconds"
            ))
        }
    }
}

/// Registers `activity.event_count`, `activity.time_on_task` and `activity.last_activity`.
#[derive(Debug, Clone, Default)]
pub struct ActivityModule {
    config: ActivityConfig,
}

impl ActivityModule {
    /// The module with its settings.
    pub fn new(config: ActivityConfig) -> Self {
        ActivityModule { config }
    }
}

impl Module for ActivityModule {
    fn name(&self) -> &str {
        "activity"
    }

    fn register(&self, m: &mut ModuleBuilder) {
        m.reducer(EventCount::new(
            "activity.event_count",
            &[ANY_SOURCE],
            Scope::student(),
        ))
        .reducer(TimeOnTask::new(
            "activity.time_on_task",
            &[ANY_SOURCE],
            Scope::student(),
            self.config.time_on_task_threshold_secs,
        ))
        .reducer(LastActivity::new(
            "activity.last_activity",
            &[ANY_SOURCE],
            Scope::student(),
        ));
    }
}
