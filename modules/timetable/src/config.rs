//! The timetable module's configuration: `[modules.timetable]` in `config.toml`.
//!
//! [`TimetableConfig::validate`] checks the time zone against the tz database; the file, when
//! named, is read by the start-up sync and by `classpulse timetable import|check`.

use crate::model::DutyMode;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[modules.timetable]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimetableConfig {
    /// The institution's IANA time zone (`America/New_York`): meeting times in the timetable
    /// file are wall-clock times there, across daylight-saving changes.
    pub time_zone: String,
    /// The timetable file (TOML). When set, `classpulse serve` imports it at start-up if it
    /// changed since the last import, and `classpulse timetable import|check` use it when no
    /// file is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// What a TA's office-hour block does when a course does not say
    /// (`office_hours_mode` in the file): `"automatic"` puts the TA on duty in the
    /// office-hours queue when the block begins and off duty when it ends; `"reminder"` only
    /// notifies the course's staff.
    pub office_hours_mode: DutyMode,
}

impl Default for TimetableConfig {
    fn default() -> Self {
        TimetableConfig {
            time_zone: "UTC".into(),
            file: None,
            office_hours_mode: DutyMode::Automatic,
        }
    }
}

/// An invalid `[modules.timetable]` section.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The time zone is not in the tz database.
    #[error(
        "modules.timetable.time_zone: unknown time zone {0:?} (use an IANA name like \"America/New_York\")"
    )]
    UnknownZone(String),
}

impl TimetableConfig {
    /// The section with every key at its default, commented, for `config.toml`.
    pub const EXAMPLE_TOML: &'static str = r#"[modules.timetable]
# The institution's IANA time zone; timetable times are wall-clock times there.
time_zone = "UTC"
# The timetable file (TOML), imported at start-up when it changed. Unset: none.
# file = "timetable.toml"
# What office-hour blocks do unless a course says: "automatic" (TA on/off duty) or "reminder".
office_hours_mode = "automatic"
"#;

    /// Checks the values.
    ///
    /// # Errors
    /// [`ConfigError`] for an unknown time zone.
    pub fn validate(&self) -> Result<(), ConfigError> {
        jiff::tz::TimeZone::get(&self.time_zone)
            .map(|_| ())
            .map_err(|_| ConfigError::UnknownZone(self.time_zone.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_is_the_default_and_bad_values_are_named() {
        #[derive(Deserialize)]
        struct Root {
            modules: Modules,
        }
        #[derive(Deserialize)]
        struct Modules {
            timetable: TimetableConfig,
        }
        let root: Root = toml::from_str(TimetableConfig::EXAMPLE_TOML).unwrap();
        assert_eq!(root.modules.timetable, TimetableConfig::default());
        assert!(TimetableConfig::default().validate().is_ok());
        let bad = TimetableConfig {
            time_zone: "Mars/Olympus".into(),
            ..TimetableConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("Mars/Olympus")
        );
        let e = toml::from_str::<TimetableConfig>("timezone = \"UTC\"").unwrap_err();
        assert!(e.to_string().contains("timezone"));
    }
}
