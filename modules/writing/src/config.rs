//! The writing module's configuration: `[modules.writing]` in `config.toml`.
//!
//! Every field has Learning Observer's default, so an empty section (or none) behaves like
//! Learning Observer. [`WritingConfig::build`] validates and yields the module.

use crate::module::WritingModule;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// `[modules.writing]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WritingConfig {
    /// The longest gap between two events that still counts in full as time on task, in
    /// seconds; a longer gap counts as this much (Learning Observer's
    /// `time_on_task_threshold`, 60).
    pub time_on_task_threshold_secs: f64,
    /// Width of the bins of `writing.binned_time_on_task`, in seconds (Learning Observer's
    /// `binned_time_on_task_bin_size`, 600).
    pub binned_time_on_task_bin_secs: u32,
    /// On the teacher's dashboard, a student whose latest event is more recent than this many
    /// seconds is "active" (Learning Observer's `activity_threshold`, 60).
    pub activity_threshold_secs: f64,
    /// The largest document, in code points, a Google Docs command may produce; a command
    /// that would grow a document past it (an index of 10⁹ in a hostile event, say) is skipped
    /// and logged. Real Google Docs stop near 1.02 million characters.
    pub max_document_chars: usize,
}

impl Default for WritingConfig {
    fn default() -> Self {
        WritingConfig {
            time_on_task_threshold_secs: 60.0,
            binned_time_on_task_bin_secs: 600,
            activity_threshold_secs: 60.0,
            max_document_chars: 5_000_000,
        }
    }
}

/// An invalid `[modules.writing]` section.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum ConfigError {
    /// A duration is negative, zero where it must not be, or not a number.
    #[error("modules.writing.{field} must be a positive number of seconds, got {value}")]
    NotPositive {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// `max_document_chars` is zero.
    #[error("modules.writing.max_document_chars must be at least 1")]
    NoDocumentSize,
}

impl WritingConfig {
    /// The `[modules.writing]` section with every key at its default, commented, ready for
    /// `config.toml` (a test checks it parses to [`WritingConfig::default`]).
    pub const EXAMPLE_TOML: &'static str = r#"[modules.writing]
# Longest gap between two events counted in full as time on task, in seconds; a longer gap
# counts as this much (Learning Observer's time_on_task_threshold).
time_on_task_threshold_secs = 60.0
# Width of the bins of writing.binned_time_on_task, in seconds.
binned_time_on_task_bin_secs = 600
# A student whose latest event is more recent than this (seconds) shows as active.
activity_threshold_secs = 60.0
# Largest document (code points) a Google Docs command may produce; bigger ones are skipped.
max_document_chars = 5000000
"#;

    /// Checks the values.
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |field: &'static str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(ConfigError::NotPositive { field, value })
            }
        };
        positive(
            "time_on_task_threshold_secs",
            self.time_on_task_threshold_secs,
        )?;
        positive(
            "binned_time_on_task_bin_secs",
            f64::from(self.binned_time_on_task_bin_secs),
        )?;
        positive("activity_threshold_secs", self.activity_threshold_secs)?;
        if self.max_document_chars == 0 {
            return Err(ConfigError::NoDocumentSize);
        }
        Ok(())
    }

    /// Validates and builds the module.
    ///
    /// # Errors
    /// When a value is invalid (see [`WritingConfig::validate`]).
    pub fn build(&self) -> Result<WritingModule, ConfigError> {
        self.validate()?;
        Ok(WritingModule::new(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_learning_observers() {
        let c: WritingConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, WritingConfig::default());
        assert_eq!(c.time_on_task_threshold_secs, 60.0);
        assert_eq!(c.binned_time_on_task_bin_secs, 600);
        assert!(c.build().is_ok());
    }

    #[test]
    fn example_toml_is_the_default() {
        #[derive(Deserialize)]
        struct Root {
            modules: Modules,
        }
        #[derive(Deserialize)]
        struct Modules {
            writing: WritingConfig,
        }
        let root: Root = toml::from_str(WritingConfig::EXAMPLE_TOML).unwrap();
        assert_eq!(root.modules.writing, WritingConfig::default());
        // Integers are fine where seconds are floats.
        let c: WritingConfig = toml::from_str("time_on_task_threshold_secs = 30").unwrap();
        assert_eq!(c.time_on_task_threshold_secs, 30.0);
        assert!(toml::from_str::<WritingConfig>("bin_secs = 5").is_err());
    }

    #[test]
    fn rejects_unknown_and_invalid_values() {
        assert!(serde_json::from_str::<WritingConfig>(r#"{"time_on_task": 5}"#).is_err());
        let c = WritingConfig {
            time_on_task_threshold_secs: -1.0,
            ..WritingConfig::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::NotPositive { .. })));
        let c = WritingConfig {
            binned_time_on_task_bin_secs: 0,
            ..WritingConfig::default()
        };
        assert!(c.build().is_err());
        let c = WritingConfig {
            max_document_chars: 0,
            ..WritingConfig::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::NoDocumentSize));
    }
}
