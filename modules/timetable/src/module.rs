//! [`TimetableModule`]: what the timetable module hands the runtime — its two reducers.
//! Its HTTP routes ([`crate::http::routes`]) and the start-up sync of the configured file
//! ([`crate::import::sync_configured_file`]) are wired by the binary.

use crate::config::TimetableConfig;
use crate::reducers::{CatalogReducer, CourseReducer};
use classpulse_core::module::{Module, ModuleBuilder};

/// The timetable module.
#[derive(Clone, Debug, Default)]
pub struct TimetableModule {
    config: TimetableConfig,
}

impl TimetableModule {
    /// The module's name, and its section in `config.toml` (`[modules.timetable]`).
    pub const NAME: &'static str = "timetable";

    /// A module with the given (validated) configuration.
    pub fn new(config: TimetableConfig) -> Self {
        TimetableModule { config }
    }

    /// The configuration.
    pub fn config(&self) -> &TimetableConfig {
        &self.config
    }
}

impl Module for TimetableModule {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn register(&self, m: &mut ModuleBuilder) {
        m.reducer(CatalogReducer).reducer(CourseReducer);
    }
}
