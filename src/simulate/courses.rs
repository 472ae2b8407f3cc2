//! `simulate --courses N`: the simulated students spread over N courses, each with its TAs, and
//! the rosters that make them members — imported into the running server through its admin
//! endpoint (as `classpulse roster import` does), or written as a roster file for a server
//! elsewhere.
//!
//! Identities are the `testcase` ones the simulated sockets present: the student `<prefix><n>`
//! is the safe user id `tc-testcase-<prefix><n>` on the roster, and a TA is a socket of the same
//! kind whose id the roster lists with the role `ta` (the office-hours reducer takes roles from
//! the roster, not from the socket).

use anyhow::Context;
use classpulse_core::config::Config;
use classpulse_core::datadir::AdminEndpoint;
use classpulse_core::roster::Role;
use classpulse_core::roster::config::{DesiredCourse, DesiredMember, RosterFile};
use std::path::Path;

/// The prefix the `testcase` auth method gives a user id.
const TESTCASE: &str = "tc-testcase-";

/// Who is in which course.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    /// Every course, in order.
    pub(crate) courses: Vec<Course>,
    /// A staff account made teacher of every course (the demo's teacher), if any: its user id
    /// and display name.
    pub(crate) teacher: Option<(String, String)>,
}

/// One simulated course.
#[derive(Debug, Clone)]
pub(crate) struct Course {
    /// The course id.
    pub(crate) id: String,
    /// The students' socket user ids (`lock_fields.user_id`).
    pub(crate) students: Vec<String>,
    /// The TAs' socket user ids.
    pub(crate) tas: Vec<String>,
}

impl Layout {
    /// `students` (socket user ids) spread round-robin over `courses` courses named
    /// `<course_prefix><k>`, with `tas` TAs each (`<course id>-ta<j>`).
    pub(crate) fn spread(
        students: &[String],
        courses: usize,
        tas: usize,
        course_prefix: &str,
    ) -> Layout {
        let mut out: Vec<Course> = (0..courses)
            .map(|k| {
                let id = format!("{course_prefix}{k}");
                Course {
                    tas: (0..tas).map(|j| format!("{id}-ta{j}")).collect(),
                    id,
                    students: Vec::new(),
                }
            })
            .collect();
        if !out.is_empty() {
            let n = out.len();
            for (i, s) in students.iter().enumerate() {
                out[i % n].students.push(s.clone());
            }
        }
        Layout {
            courses: out,
            teacher: None,
        }
    }

    /// The rosters, as `classpulse roster import` and roster files take them.
    pub(crate) fn rosters(&self) -> Vec<DesiredCourse> {
        let member = |user: &str, name: String, role: Role| DesiredMember {
            user_id: format!("{TESTCASE}{user}"),
            name,
            email: String::new(),
            role,
        };
        self.courses
            .iter()
            .map(|c| {
                let mut members: Vec<DesiredMember> = c
                    .students
                    .iter()
                    .map(|s| member(s, s.clone(), Role::Student))
                    .chain(c.tas.iter().map(|t| member(t, format!("TA {t}"), Role::Ta)))
                    .collect();
                if let Some((id, name)) = &self.teacher {
                    members.push(DesiredMember {
                        user_id: id.clone(),
                        name: name.clone(),
                        email: String::new(),
                        role: Role::Teacher,
                    });
                }
                DesiredCourse {
                    id: c.id.clone(),
                    name: Some(format!("Simulated course {}", c.id)),
                    members,
                }
            })
            .collect()
    }

    /// Writes the rosters as a roster file (`[roster] files` in `config.toml`).
    pub(crate) fn write_roster_file(&self, path: &Path) -> anyhow::Result<()> {
        let file = RosterFile {
            course: self.rosters(),
        };
        let text = toml::to_string(&file).context("encoding the roster file")?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Imports the rosters into the server running on `config`'s data directory, through its
    /// admin endpoint; returns the number of roster events it appended. The server answers
    /// once they are applied, so the students are members before they act.
    pub(crate) fn import(&self, config: &Config) -> anyhow::Result<u64> {
        let dir = &config.server.data_dir;
        let endpoint = AdminEndpoint::read(dir).with_context(|| {
            format!(
                "no running server's admin.json in {} (pass the server's --data-dir, or \
                 --roster-out to write a roster file instead)",
                dir.display()
            )
        })?;
        let report = crate::cli::roster::post_courses(config, &endpoint, &self.rosters())?;
        Ok(report.events as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn students_spread_round_robin_with_their_tas() {
        let students: Vec<String> = (0..5).map(|i| format!("s{i}")).collect();
        let layout = Layout::spread(&students, 2, 2, "c");
        assert_eq!(layout.courses[0].students, ["s0", "s2", "s4"]);
        assert_eq!(layout.courses[1].students, ["s1", "s3"]);
        assert_eq!(layout.courses[1].tas, ["c1-ta0", "c1-ta1"]);
        let rosters = layout.rosters();
        for r in &rosters {
            r.validate().unwrap();
        }
        assert_eq!(rosters[0].members[0].user_id, "tc-testcase-s0");
        assert_eq!(rosters[0].members[3].role, Role::Ta);
    }
}
