//! The office-hours module as the runtime sees it: its reducer and its course view.

use crate::config::OfficeHoursConfig;
use crate::reducer::QueueReducer;
use crate::view::QueueView;
use classpulse_core::module::{Module, ModuleBuilder};
use std::sync::Arc;

/// The office-hours module (`[modules.office_hours]`).
#[derive(Debug, Clone, Default)]
pub struct OfficeHoursModule {
    config: Arc<OfficeHoursConfig>,
}

impl OfficeHoursModule {
    /// The module with these settings (validate them first: [`OfficeHoursConfig::validate`]).
    pub fn new(config: OfficeHoursConfig) -> Self {
        OfficeHoursModule {
            config: Arc::new(config),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &OfficeHoursConfig {
        &self.config
    }
}

impl Module for OfficeHoursModule {
    fn name(&self) -> &str {
        "office_hours"
    }

    fn register(&self, m: &mut ModuleBuilder) {
        m.reducer(QueueReducer::new(self.config.clone()));
        m.aggregator(QueueView::new(self.config.clone()));
    }
}
