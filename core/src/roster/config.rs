//! `[roster]` in `config.toml`, and the TOML roster file format.
//!
//! ```toml
//! # a roster file
//! [[course]]
//! id = "eng9-p2"
//! name = "English 9, period 2"
//! members = [
//!   { user_id = "t.smith", name = "Ms Smith", role = "teacher" },
//!   { user_id = "tc-testcase-alice", name = "Alice Adams", email = "alice@school.example", role = "student" },
//! ]
//! ```

use super::{Member, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where courses come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RosterMode {
    /// Courses from the roster files and `classpulse roster import`.
    #[default]
    Files,
    /// Also one course, `all`, holding every student who has sent an event (Learning
    /// Observer's `all` roster; a course's staff are not students of it); every staff account
    /// is its staff. For demos.
    All,
}

/// `[roster]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RosterConfig {
    /// `files` or `all`.
    pub mode: RosterMode,
    /// TOML roster files, imported at start-up: each course they list is brought to exactly
    /// the members listed (by appending the roster events needed; nothing when it already is).
    pub files: Vec<PathBuf>,
}

/// A roster that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// The file could not be read.
    #[error("cannot read roster file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Bad TOML or CSV, or a bad value; the message names the line.
    #[error("invalid roster {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
}

/// A course as a roster file or CSV import wants it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredCourse {
    /// Course id.
    pub id: String,
    /// Display name (the id when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// Every member.
    #[serde(default)]
    pub members: Vec<DesiredMember>,
}

/// One row of a roster: `user_id,name,email,role`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredMember {
    /// Student: safe user id; staff: account name.
    pub user_id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// E-mail.
    #[serde(default)]
    pub email: String,
    /// `student`, `ta` or `teacher`.
    pub role: Role,
}

impl DesiredCourse {
    /// Checks ids and duplicates; returns the members by user id.
    ///
    /// # Errors
    /// A message naming the bad value.
    pub fn validate(&self) -> Result<BTreeMap<String, Member>, String> {
        if !valid_id(&self.id) {
            return Err(format!(
                "course id {:?}: use 1-128 letters, digits, '@', '.', '_' or '-'",
                self.id
            ));
        }
        let mut members = BTreeMap::new();
        for m in &self.members {
            if !valid_id(&m.user_id) {
                return Err(format!(
                    "course {}: user id {:?}: use 1-128 letters, digits, '@', '.', '_', '+', '%' or '-'",
                    self.id, m.user_id
                ));
            }
            let member = Member {
                role: m.role,
                name: m.name.trim().to_owned(),
                email: m.email.trim().to_owned(),
            };
            if members.insert(m.user_id.clone(), member).is_some() {
                return Err(format!(
                    "course {}: user {:?} is listed twice",
                    self.id, m.user_id
                ));
            }
        }
        Ok(members)
    }
}

/// Whether `id` is usable as a course or user id: 1–128 of `A-Z a-z 0-9 @ . _ - + %` (safe
/// user ids may carry Learning Observer's `+` and `%` escapes).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'_' | b'-' | b'+' | b'%')
        })
}

/// A TOML roster file: `[[course]]` tables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterFile {
    /// The courses.
    #[serde(default)]
    pub course: Vec<DesiredCourse>,
}

impl RosterFile {
    /// Reads and checks a roster file.
    ///
    /// # Errors
    /// [`RosterError`] naming the file, the line and the key at fault.
    pub fn load(path: &Path) -> Result<RosterFile, RosterError> {
        let text = std::fs::read_to_string(path).map_err(|source| RosterError::Read {
            path: path.to_owned(),
            source,
        })?;
        RosterFile::parse(&text, path)
    }

    /// Parses and checks roster TOML (`path` is for messages).
    ///
    /// # Errors
    /// [`RosterError::Parse`].
    pub fn parse(text: &str, path: &Path) -> Result<RosterFile, RosterError> {
        let parse_error = |message: String| RosterError::Parse {
            path: path.to_owned(),
            message,
        };
        let file: RosterFile = toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        let mut ids = std::collections::BTreeSet::new();
        for course in &file.course {
            course.validate().map_err(parse_error)?;
            if !ids.insert(course.id.clone()) {
                return Err(parse_error(format!(
                    "course {:?} is listed twice",
                    course.id
                )));
            }
        }
        Ok(file)
    }
}

impl RosterConfig {
    /// Reads every roster file.
    ///
    /// # Errors
    /// The first file that cannot be used, or a course listed in two files.
    pub fn load_files(&self) -> Result<Vec<DesiredCourse>, RosterError> {
        let mut courses: Vec<DesiredCourse> = Vec::new();
        for path in &self.files {
            for course in RosterFile::load(path)?.course {
                if courses.iter().any(|c| c.id == course.id) {
                    return Err(RosterError::Parse {
                        path: path.clone(),
                        message: format!("course {:?} is also in another roster file", course.id),
                    });
                }
                courses.push(course);
            }
        }
        Ok(courses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_files_parse_and_errors_name_the_line() {
        let text = r#"
[[course]]
id = "c1"
name = "English"
members = [
  { user_id = "t.smith", name = "Ms Smith", role = "teacher" },
  { user_id = "tc-testcase-alice", name = "Alice", email = "a@s", role = "student" },
]
"#;
        let file = RosterFile::parse(text, Path::new("r.toml")).unwrap();
        assert_eq!(file.course[0].members.len(), 2);
        let bad = text.replace("\"teacher\"", "\"principal\"");
        let e = RosterFile::parse(&bad, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("principal") && e.contains("line 6"), "{e}");
        let dup = text.replace("tc-testcase-alice", "t.smith");
        let e = RosterFile::parse(&dup, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("listed twice"), "{e}");
        let bad_id = text.replace("c1", "c 1");
        assert!(RosterFile::parse(&bad_id, Path::new("r.toml")).is_err());
    }
}
