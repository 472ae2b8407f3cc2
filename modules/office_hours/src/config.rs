//! `[modules.office_hours]` in `config.toml`: the installation's defaults for every course's
//! queue, and per-course overrides. A course's teacher can also change its settings with a
//! `settings` event, which is recorded in the log and wins over both.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What happens to a student whose offer expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiredOffer {
    /// They go to the back of the line.
    Back,
    /// They leave the line.
    Remove,
}

/// What happens to the line when the last TA goes off duty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnClose {
    /// Students keep their place until office hours open again.
    Keep,
    /// The line is cleared.
    Clear,
}

/// One course's settings (every field optional: unset falls back to the next level).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CourseSettings {
    /// Seconds a called student has to accept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_window_secs: Option<u64>,
    /// What an expired offer does to the student's place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_offer: Option<ExpiredOffer>,
    /// What closing office hours does to the line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_close: Option<OnClose>,
    /// The meeting link shown to a student in a session (a TA's own link, given when they go
    /// on duty, wins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting_link: Option<String>,
}

impl CourseSettings {
    /// `self`, with unset fields taken from `below`.
    pub fn over(&self, below: &CourseSettings) -> CourseSettings {
        CourseSettings {
            offer_window_secs: self.offer_window_secs.or(below.offer_window_secs),
            expired_offer: self.expired_offer.or(below.expired_offer),
            on_close: self.on_close.or(below.on_close),
            meeting_link: self
                .meeting_link
                .clone()
                .or_else(|| below.meeting_link.clone()),
        }
    }

    /// Checks the values.
    ///
    /// # Errors
    /// A message naming the bad value.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(w) = self.offer_window_secs
            && !(1..=86_400).contains(&w)
        {
            return Err(format!(
                "offer_window_secs must be between 1 and 86400, not {w}"
            ));
        }
        if let Some(link) = &self.meeting_link
            && (link.len() > 500 || !(link.starts_with("https://") || link.starts_with("http://")))
        {
            return Err("meeting_link must be an http(s) URL of at most 500 bytes".into());
        }
        Ok(())
    }
}

/// The effective settings of a course, every field set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effective {
    /// Seconds a called student has to accept.
    pub offer_window_secs: u64,
    /// What an expired offer does.
    pub expired_offer: ExpiredOffer,
    /// What closing does to the line.
    pub on_close: OnClose,
    /// The course's meeting link, if any.
    pub meeting_link: Option<String>,
}

/// `[modules.office_hours]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OfficeHoursConfig {
    /// Seconds a called student has to accept the offer (default 300: five minutes).
    pub offer_window_secs: u64,
    /// `back` (the student goes to the back of the line) or `remove` (they leave it) when an
    /// offer expires.
    pub expired_offer: ExpiredOffer,
    /// `keep` (students keep their place) or `clear` (the line is emptied) when the last TA
    /// goes off duty.
    pub on_close: OnClose,
    /// Longest question a student may attach when joining, in characters.
    pub max_question_chars: usize,
    /// Service time assumed for the wait estimate before a course has had any session, in
    /// seconds.
    pub default_service_secs: u64,
    /// Per-course overrides: `[modules.office_hours.courses.CS101] offer_window_secs = 120`.
    pub courses: BTreeMap<String, CourseSettings>,
}

impl Default for OfficeHoursConfig {
    fn default() -> Self {
        OfficeHoursConfig {
            offer_window_secs: 300,
            expired_offer: ExpiredOffer::Back,
            on_close: OnClose::Keep,
            max_question_chars: 280,
            default_service_secs: 300,
            courses: BTreeMap::new(),
        }
    }
}

/// A bad `[modules.office_hours]` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[modules.office_hours] {0}")]
pub struct ConfigError(pub String);

impl OfficeHoursConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// [`ConfigError`] naming the bad value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.base().validate().map_err(ConfigError)?;
        if self.max_question_chars == 0 || self.max_question_chars > 10_000 {
            return Err(ConfigError(
                "max_question_chars must be between 1 and 10000".into(),
            ));
        }
        if self.default_service_secs == 0 {
            return Err(ConfigError(
                "default_service_secs must be at least 1".into(),
            ));
        }
        for (course, settings) in &self.courses {
            settings
                .validate()
                .map_err(|e| ConfigError(format!("courses.{course}: {e}")))?;
        }
        Ok(())
    }

    fn base(&self) -> CourseSettings {
        CourseSettings {
            offer_window_secs: Some(self.offer_window_secs),
            expired_offer: Some(self.expired_offer),
            on_close: Some(self.on_close),
            meeting_link: None,
        }
    }

    /// The effective settings of `course`: its `settings` events (`recorded`) over its
    /// `[modules.office_hours.courses.<id>]` table over the defaults.
    pub fn effective(&self, course: &str, recorded: &CourseSettings) -> Effective {
        let empty = CourseSettings::default();
        let merged = recorded
            .over(self.courses.get(course).unwrap_or(&empty))
            .over(&self.base());
        Effective {
            offer_window_secs: merged.offer_window_secs.unwrap_or(300),
            expired_offer: merged.expired_offer.unwrap_or(ExpiredOffer::Back),
            on_close: merged.on_close.unwrap_or(OnClose::Keep),
            meeting_link: merged.meeting_link,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `[modules.office_hours]` block of the shipped `config.toml`, uncommented (and its
    /// example course table too), parses, validates, and states the defaults.
    #[test]
    fn the_shipped_config_documents_the_defaults() {
        let shipped = include_str!("../../../config.toml");
        let block: Vec<&str> = shipped
            .lines()
            .skip_while(|l| *l != "# [modules.office_hours]")
            .skip(1)
            .take_while(|l| l.starts_with('#'))
            .collect();
        assert!(!block.is_empty(), "config.toml has the block");
        let keys: String = block
            .iter()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let parsed: OfficeHoursConfig = toml::from_str(&keys).unwrap();
        assert_eq!(parsed, OfficeHoursConfig::default());
        let example: String = block
            .iter()
            .filter_map(|l| l.strip_prefix("# # "))
            .filter(|l| l.starts_with('[') || l.contains(" = "))
            .map(|l| format!("{}\n", l.replace("[modules.office_hours.", "[")))
            .collect();
        let with_course: OfficeHoursConfig = toml::from_str(&format!("{keys}{example}")).unwrap();
        with_course.validate().unwrap();
        assert_eq!(
            with_course.courses["CS101"].offer_window_secs,
            Some(120),
            "{example}"
        );
    }

    #[test]
    fn levels_fall_through() {
        let config: OfficeHoursConfig = toml::from_str(
            "offer_window_secs = 240\n[courses.CS101]\noffer_window_secs = 120\non_close = \"clear\"\n",
        )
        .unwrap();
        config.validate().unwrap();
        let recorded = CourseSettings {
            on_close: Some(OnClose::Keep),
            ..CourseSettings::default()
        };
        let e = config.effective("CS101", &recorded);
        assert_eq!(e.offer_window_secs, 120);
        assert_eq!(e.on_close, OnClose::Keep);
        assert_eq!(e.expired_offer, ExpiredOffer::Back);
        assert_eq!(
            config
                .effective("other", &CourseSettings::default())
                .offer_window_secs,
            240
        );
        let bad: OfficeHoursConfig = toml::from_str("offer_window_secs = 0").unwrap();
        assert!(bad.validate().is_err());
        assert!(toml::from_str::<OfficeHoursConfig>("window = 3").is_err());
    }
}
