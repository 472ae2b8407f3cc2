//! From a wanted roster to the roster events that reach it.
//!
//! [`plan`] compares a course as a file or CSV wants it with the course as the log has made it,
//! and lists the events needed — none when they agree, so importing the same file twice
//! appends nothing. [`append`] writes them to the log with the server's identity and waits
//! until they are durable. Whoever appends must be the only writer of the log: the server
//! (start-up import, the admin endpoint), or `classpulse roster import` while holding the
//! data directory's lock.

use super::config::DesiredCourse;
use super::{CourseRoster, ROSTER_SOURCE, RosterEvent, RosterIndex};
use crate::event::envelope::EnvelopeBody;
use crate::event::{Auth, Event};
use crate::log::{AckTracker, LogReader, LogWriter, PendingEvent, ReadError};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Courses looked at.
    pub courses: usize,
    /// Roster events appended.
    pub events: usize,
    /// Log sequence number of the last of them (0 when none).
    pub last_seq: u64,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The wanted roster is not usable.
    #[error("{0}")]
    Invalid(String),
    /// The log is closed.
    #[error("the event log is closed")]
    LogClosed,
    /// The events were not durable in time.
    #[error("roster events were not written to the log within {0:?}")]
    Timeout(Duration),
}

/// The events that bring `current` (`None`: no such course yet) to `desired`.
///
/// # Errors
/// When `desired` has a bad id or a duplicate member.
pub fn plan(
    current: Option<&CourseRoster>,
    desired: &DesiredCourse,
) -> Result<Vec<RosterEvent>, String> {
    let members = desired.validate()?;
    let course_id = desired.id.clone();
    // No name given: a new course is named by its id, an existing one keeps its name.
    let name = desired
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .or(current.map(|c| c.name.as_str()))
        .unwrap_or(&desired.id)
        .to_owned();
    let mut events = Vec::new();
    let empty = CourseRoster::default();
    let current = match current {
        None => {
            events.push(RosterEvent::CourseCreated {
                course_id: course_id.clone(),
                name: name.clone(),
            });
            &empty
        }
        Some(c) => {
            if c.name != name {
                events.push(RosterEvent::CourseRenamed {
                    course_id: course_id.clone(),
                    name: name.clone(),
                });
            }
            c
        }
    };
    // Removals first, so a member who changes between student and staff is removed from one
    // before joining the other.
    for (user_id, old) in &current.members {
        let new_role = members.get(user_id).map(|m| m.role);
        let leaves = match new_role {
            None => true,
            Some(r) => r.is_staff() != old.role.is_staff(),
        };
        if leaves {
            events.push(if old.role.is_staff() {
                RosterEvent::StaffRemoved {
                    course_id: course_id.clone(),
                    user_id: user_id.clone(),
                }
            } else {
                RosterEvent::Disenrolled {
                    course_id: course_id.clone(),
                    user_id: user_id.clone(),
                }
            });
        }
    }
    for (user_id, member) in &members {
        if current.members.get(user_id) == Some(member) {
            continue;
        }
        events.push(if member.role.is_staff() {
            RosterEvent::StaffAdded {
                course_id: course_id.clone(),
                user_id: user_id.clone(),
                role: member.role,
                name: member.name.clone(),
                email: member.email.clone(),
            }
        } else {
            RosterEvent::Enrolled {
                course_id: course_id.clone(),
                user_id: user_id.clone(),
                name: member.name.clone(),
                email: member.email.clone(),
            }
        });
    }
    Ok(events)
}

/// The envelope body of a roster event made by node `node`.
pub fn envelope(node: &str, event: &RosterEvent) -> String {
    let client = serde_json::to_string(event).expect("roster events serialize");
    let mut body = String::with_capacity(client.len() + 256);
    EnvelopeBody {
        node,
        conn: 0,
        ip: "",
        agent: "classpulse-roster",
        auth: &Auth::system(),
        source: ROSTER_SOURCE,
        timer: None,
    }
    .write(&mut body, |out| out.push_str(&client));
    body
}

/// Appends `events` and waits until they are durable; returns the last one's sequence
/// number (0 when there are none).
///
/// # Errors
/// [`ImportError::LogClosed`], or [`ImportError::Timeout`] when the log cannot write.
pub async fn append(
    writer: &LogWriter,
    node: &str,
    events: &[RosterEvent],
) -> Result<u64, ImportError> {
    if events.is_empty() {
        return Ok(0);
    }
    let tracker = AckTracker::new();
    let pending = events
        .iter()
        .map(|e| PendingEvent {
            body: envelope(node, e),
            ack: Some(tracker.clone()),
            prepared: None,
        })
        .collect();
    writer
        .append(pending)
        .await
        .map_err(|_| ImportError::LogClosed)?;
    let limit = Duration::from_secs(30);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let (count, seq) = tracker.position();
        if count >= events.len() as u64 {
            return Ok(seq);
        }
        // The writer's notification is kept when nobody waits yet, so none is lost.
        if tokio::time::timeout_at(deadline, tracker.changed())
            .await
            .is_err()
        {
            return Err(ImportError::Timeout(limit));
        }
    }
}

/// Plans every course against `index`, appends the events, and waits until the router has
/// applied them (so the index shows the result).
///
/// # Errors
/// [`ImportError`].
pub async fn import(
    index: &RosterIndex,
    writer: &LogWriter,
    node: &str,
    courses: &[DesiredCourse],
) -> Result<ImportReport, ImportError> {
    let mut events = Vec::new();
    for course in courses {
        let current = index.course(&course.id);
        events.extend(plan(current.as_ref(), course).map_err(ImportError::Invalid)?);
    }
    let last_seq = append(writer, node, &events).await?;
    if last_seq > 0 && !index.wait_for_seq(last_seq, Duration::from_secs(30)).await {
        tracing::warn!(seq = last_seq, "roster events logged but not yet applied");
    }
    Ok(ImportReport {
        courses: courses.len(),
        events: events.len(),
        last_seq,
    })
}

/// Rebuilds the roster index from a log directory (for the CLI, when no server runs). Only
/// roster lines are parsed. When retention removed the log's first segments, the index starts
/// from the newest snapshot in `data_dir` that covers them.
///
/// # Errors
/// When the log cannot be read.
pub fn index_from_log(data_dir: &Path, dir: &Path) -> Result<RosterIndex, ReadError> {
    let index = RosterIndex::default();
    if !dir.exists() {
        return Ok(index);
    }
    let first_seq = crate::log::segment::list(dir)
        .ok()
        .and_then(|s| s.first().map(|s| s.first_seq))
        .unwrap_or(1);
    let mut from = 1;
    if first_seq > 1 {
        let snapshots = crate::snapshot::files::list(&crate::snapshot::files::dir(data_dir))
            .unwrap_or_default();
        for file in snapshots.iter().rev() {
            match crate::snapshot::read_header(&file.path) {
                Ok(header) if header.through_seq + 1 >= first_seq => {
                    index.restore(header.roster);
                    from = header.through_seq + 1;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(snapshot = %file.path.display(), error = %e, "snapshot not usable; ignored")
                }
            }
        }
    }
    let mut reader = LogReader::open(dir, from)?;
    let needle = format!("\"source\":\"{ROSTER_SOURCE}\"");
    while let Some(batch) = reader.next_batch()? {
        for (_, line) in batch.iter() {
            if !line.contains(&needle) {
                continue;
            }
            if let Ok(event) = Event::from_line(&line) {
                index.observe(&event);
            }
        }
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::config::DesiredMember;
    use crate::roster::{Role, tests::line};

    fn desired(members: &[(&str, Role)]) -> DesiredCourse {
        DesiredCourse {
            id: "c1".into(),
            name: Some("English".into()),
            members: members
                .iter()
                .map(|(id, role)| DesiredMember {
                    user_id: (*id).into(),
                    name: id.to_uppercase(),
                    email: String::new(),
                    role: *role,
                })
                .collect(),
        }
    }

    fn replay(events: &[RosterEvent], index: &RosterIndex, seq: &mut u64) {
        for e in events {
            *seq += 1;
            let text = line(
                *seq,
                ROSTER_SOURCE,
                None,
                &serde_json::to_string(e).unwrap(),
            );
            index.observe(&Event::from_line(&text).unwrap());
        }
    }

    #[test]
    fn imports_are_idempotent_and_converge() {
        let index = RosterIndex::default();
        let mut seq = 0;
        let want = desired(&[
            ("s1", Role::Student),
            ("s2", Role::Student),
            ("t1", Role::Teacher),
        ]);
        let first = plan(index.course("c1").as_ref(), &want).unwrap();
        assert_eq!(first.len(), 4);
        replay(&first, &index, &mut seq);
        assert!(plan(index.course("c1").as_ref(), &want).unwrap().is_empty());

        // s2 leaves, s1 becomes a TA, the course is renamed.
        let mut next = desired(&[("s1", Role::Ta), ("t1", Role::Teacher)]);
        next.name = Some("English 9".into());
        let second = plan(index.course("c1").as_ref(), &next).unwrap();
        replay(&second, &index, &mut seq);
        let c = index.course("c1").unwrap();
        assert_eq!(c.name, "English 9");
        assert_eq!(c.members.len(), 2);
        assert_eq!(c.member("s1").unwrap().role, Role::Ta);
        assert!(plan(Some(&c), &next).unwrap().is_empty());
    }
}
