//! The modules this binary ships, built from their `[modules.<name>]` settings.

use classpulse_core::config::Config;
use classpulse_core::module::Module;
use classpulse_reducers::{ActivityConfig, ActivityModule};
use classpulse_timetable::{TimetableConfig, TimetableModule};
use classpulse_writing::{WritingConfig, WritingModule};
use std::sync::Arc;

/// Every built-in module, configured.
pub(crate) fn build(config: &Config) -> anyhow::Result<Vec<Arc<dyn Module>>> {
    let writing: WritingConfig = config.module("writing")?;
    writing.validate()?;
    let timetable: TimetableConfig = config.module(TimetableModule::NAME)?;
    timetable.validate()?;
    let activity: ActivityConfig = config.module("activity")?;
    activity.validate().map_err(anyhow::Error::msg)?;
    let modules: Vec<Arc<dyn Module>> = vec![
        Arc::new(ActivityModule::new(activity)),
        Arc::new(WritingModule::new(writing)),
        Arc::new(TimetableModule::new(timetable)),
    ];
    let names: Vec<&str> = modules.iter().map(|m| m.name()).collect();
    if let Some(unknown) = config.modules.keys().find(|k| !names.contains(&k.as_str())) {
        anyhow::bail!(
            "config has [modules.{unknown}] but no such module is built in (known: {})",
            names.join(", ")
        );
    }
    Ok(modules)
}
