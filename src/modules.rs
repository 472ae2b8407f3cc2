//! The modules this binary ships, built from their `[modules.<name>]` settings.

use classpulse_core::config::Config;
use classpulse_core::module::Module;
use classpulse_reducers::ActivityModule;
use std::sync::Arc;

/// Every built-in module, configured.
pub(crate) fn build(config: &Config) -> anyhow::Result<Vec<Arc<dyn Module>>> {
    Ok(vec![Arc::new(ActivityModule::new(config.module("activity")?))])
}
