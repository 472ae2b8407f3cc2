//! The modules this binary ships, built from their `[modules.<name>]` settings.

use classpulse_core::config::Config;
use classpulse_core::module::Module;
use classpulse_office_hours::{OfficeHoursConfig, OfficeHoursModule};
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
    let office_hours: OfficeHoursConfig = config.module("office_hours")?;
    office_hours.validate()?;
    let activity: ActivityConfig = config.module("activity")?;
    activity.validate().map_err(anyhow::Error::msg)?;
    let modules: Vec<Arc<dyn Module>> = vec![
        Arc::new(ActivityModule::new(activity)),
        Arc::new(WritingModule::new(writing)),
        Arc::new(TimetableModule::new(timetable)),
        Arc::new(OfficeHoursModule::new(office_hours)),
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

/// Every built-in module's effective settings (its `[modules.<name>]` table with the defaults
/// filled in), for `classpulse check-config`.
pub(crate) fn effective(config: &Config) -> anyhow::Result<Vec<(String, toml::Table)>> {
    let activity: ActivityConfig = config.module("activity")?;
    let writing: WritingConfig = config.module("writing")?;
    let timetable: TimetableConfig = config.module(TimetableModule::NAME)?;
    Ok(vec![
        ("activity".to_owned(), toml::Table::try_from(&activity)?),
        ("writing".to_owned(), toml::Table::try_from(&writing)?),
        (
            TimetableModule::NAME.to_owned(),
            toml::Table::try_from(&timetable)?,
        ),
    ])
}
