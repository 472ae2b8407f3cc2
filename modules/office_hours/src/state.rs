//! The queue of one course, as the `office_hours.queue` reducer keeps it (one state per course,
//! `course:<id>`), and what each student and TA sees of it.
//!
//! Everything here is a function of the state and of times taken from events: the student's
//! status ([`QueueState::student_status`]) is what their page shows and what notifications
//! carry, so a page that reloads and a page that was told agree.

use crate::config::{CourseSettings, Effective};
use classpulse_core::event::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};

/// Session lengths kept for the wait estimate.
pub const RECENT_SERVICE: usize = 20;
/// Command answers kept for HTTP callers (see [`Reply`]).
pub const RECENT_REPLIES: usize = 64;
/// Expired offers remembered, to answer a late accept clearly.
pub const RECENT_EXPIRED: usize = 64;

/// A student waiting in line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    /// Safe user id.
    pub student: String,
    /// Their question (may be empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub question: String,
    /// Where they are (a room, "online"; may be empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
    /// When they joined (kept when an expired offer sends them to the back).
    pub joined: Timestamp,
    /// How many offers to them expired.
    #[serde(default)]
    pub expired: u32,
}

/// An offer: a TA called a student, who has until `deadline` to accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The offer's number in this course (from 1); its timer is `office_hours.offer.<course>.<id>`.
    pub id: u64,
    /// The student, as they were in line.
    pub entry: Waiting,
    /// The TA who called them.
    pub ta: String,
    /// When the offer was made.
    pub offered: Timestamp,
    /// The end of the accept window (exclusive: an accept at `deadline` is too late).
    pub deadline: Timestamp,
}

/// A TA and a student in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The offer that became this session.
    pub offer: u64,
    /// The student, as they were in line.
    pub entry: Waiting,
    /// The TA.
    pub ta: String,
    /// When the student accepted.
    pub started: Timestamp,
    /// Where to meet (the TA's link, else the course's), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_link: Option<String>,
}

/// A TA on duty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duty {
    /// Since when.
    pub since: Timestamp,
    /// The TA's own meeting link, if they gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_link: Option<String>,
    /// Who put them on duty: `self`, `timetable`, `staff`.
    #[serde(default)]
    pub origin: String,
    /// Whether they asked for the next student while nobody waited: the next student to join
    /// is called for them.
    #[serde(default)]
    pub waiting: bool,
}

/// The course's current announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// The text.
    pub text: String,
    /// Who made it.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// An offer that expired (remembered so a late accept gets a clear answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expired {
    /// The student.
    pub student: String,
    /// The offer.
    pub offer: u64,
    /// Its deadline.
    pub deadline: Timestamp,
}

/// The answer to one command, kept briefly so that the HTTP command API can tell its caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The command's log position: node and sequence number.
    pub node: String,
    /// Sequence number.
    pub seq: u64,
    /// Whether it was carried out.
    pub ok: bool,
    /// What happened, for people.
    pub message: String,
}

/// Statistics of a course's office hours, kept as the log is reduced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseStats {
    /// Students who joined.
    pub joins: u64,
    /// Students who left the line (or declined an offer) themselves.
    pub cancels: u64,
    /// Offers made.
    pub offers: u64,
    /// Offers accepted (sessions started).
    pub accepted: u64,
    /// Offers that expired: no-shows.
    pub no_shows: u64,
    /// Sessions ended.
    pub sessions_ended: u64,
    /// Sum of waits, joining to accepting, in µs.
    pub total_wait_us: i64,
    /// Longest wait, in µs.
    pub max_wait_us: i64,
    /// Sum of session lengths, in µs.
    pub total_session_us: i64,
    /// Longest session, in µs.
    pub max_session_us: i64,
    /// Sessions started, per TA.
    pub sessions_per_ta: BTreeMap<String, u64>,
}

/// One course's office-hours queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueState {
    /// The course.
    pub course_id: String,
    /// Settings recorded by `settings` events (over the configuration).
    #[serde(default)]
    pub settings: CourseSettings,
    /// TAs on duty, by user id. Office hours are open while this is not empty.
    pub on_duty: BTreeMap<String, Duty>,
    /// The line, first in line first.
    pub line: Vec<Waiting>,
    /// Outstanding offers, by TA (a TA has at most one).
    pub offers: BTreeMap<String, Offer>,
    /// Sessions under way, by TA (a TA has at most one).
    pub sessions: BTreeMap<String, Session>,
    /// The number of the last offer made.
    pub last_offer: u64,
    /// The current announcement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announcement: Option<Announcement>,
    /// The latest session lengths, in µs (for the wait estimate).
    pub recent_service_us: VecDeque<i64>,
    /// Recently expired offers.
    pub recent_expired: VecDeque<Expired>,
    /// Answers to the latest commands.
    pub replies: VecDeque<Reply>,
    /// Statistics.
    pub stats: CourseStats,
    /// Display names of the course's teachers and TAs, from the roster events (students see
    /// who called them by name).
    #[serde(default)]
    pub staff_names: BTreeMap<String, String>,
}

/// Where a student is in a course's office hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// In line, at this index (0: first).
    Line(usize),
    /// Called by this TA.
    Offered(&'a str),
    /// In a session with this TA.
    Session(&'a str),
}

/// What a waiting student's page shows about their place, compared before and after each
/// event to decide whom to tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineView {
    /// 1 = next.
    pub position: usize,
    /// Seconds, when office hours are open.
    pub estimate: Option<u64>,
}

impl QueueState {
    /// Where `student` is, if anywhere.
    pub fn place(&self, student: &str) -> Option<Place<'_>> {
        if let Some(i) = self.line.iter().position(|w| w.student == student) {
            return Some(Place::Line(i));
        }
        if let Some((ta, _)) = self.offers.iter().find(|(_, o)| o.entry.student == student) {
            return Some(Place::Offered(ta));
        }
        self.sessions
            .iter()
            .find(|(_, s)| s.entry.student == student)
            .map(|(ta, _)| Place::Session(ta))
    }

    /// The display name of staff member `id` (their id when the roster gives none).
    pub fn staff_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.staff_names
            .get(id)
            .map(String::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(id)
    }

    /// Whether office hours are open (at least one TA on duty).
    pub fn is_open(&self) -> bool {
        !self.on_duty.is_empty()
    }

    /// The average of the recent session lengths, in µs (`default_us` before any).
    pub fn service_us(&self, default_us: i64) -> i64 {
        if self.recent_service_us.is_empty() {
            return default_us;
        }
        self.recent_service_us.iter().sum::<i64>() / self.recent_service_us.len() as i64
    }

    /// The estimated wait of the student at `position` (1 = next), in seconds: none while
    /// office hours are closed; zero when a TA on duty is waiting for a student to call;
    /// otherwise ⌈(position − idle TAs) / TAs on duty⌉ × the average recent session length,
    /// rounded up to whole minutes.
    pub fn estimate_secs(&self, position: usize, default_us: i64) -> Option<u64> {
        let tas = self.on_duty.len();
        if tas == 0 {
            return None;
        }
        let idle = self.on_duty.values().filter(|d| d.waiting).count();
        if position <= idle {
            return Some(0);
        }
        let rounds = (position - idle).div_ceil(tas) as i64;
        let secs = ((rounds * self.service_us(default_us)) / 1_000_000).max(0) as u64;
        // Whole minutes: an estimate is not more precise than that, and students are told
        // again only when it moves by a minute, not at every session's end.
        Some(secs.div_ceil(60) * 60)
    }

    /// Every waiting student's position and estimate, in line order.
    pub fn line_views(&self, default_us: i64) -> Vec<(String, LineView)> {
        self.line
            .iter()
            .enumerate()
            .map(|(i, w)| {
                (
                    w.student.clone(),
                    LineView {
                        position: i + 1,
                        estimate: self.estimate_secs(i + 1, default_us),
                    },
                )
            })
            .collect()
    }

    /// What `student`'s page shows: their state in the queue, position and estimate, the
    /// offer and its deadline, the session, whether office hours are open, the announcement.
    pub fn student_status(&self, student: &str, settings: &Effective, default_us: i64) -> Value {
        let mut me = json!({
            "course_id": self.course_id,
            "open": self.is_open(),
            "tas_on_duty": self.on_duty.len(),
            "offer_window_secs": settings.offer_window_secs,
            "announcement": self.announcement.as_ref().map(|a| json!({"text": a.text, "by": a.by, "at": a.at})),
        });
        match self.place(student) {
            None => {
                me["state"] = json!("none");
            }
            Some(Place::Line(i)) => {
                let w = &self.line[i];
                me["state"] = json!("waiting");
                me["position"] = json!(i + 1);
                me["ahead"] = json!(i);
                me["estimated_wait_secs"] = json!(self.estimate_secs(i + 1, default_us));
                me["question"] = json!(w.question);
                me["location"] = json!(w.location);
                me["joined"] = json!(w.joined);
            }
            Some(Place::Offered(ta)) => {
                let o = &self.offers[ta];
                me["state"] = json!("offered");
                me["offer"] = json!({
                    "id": o.id, "ta": o.ta, "ta_name": self.staff_name(&o.ta),
                    "offered": o.offered, "deadline": o.deadline,
                    "window_secs": o.deadline.since(o.offered).as_secs(),
                });
                me["question"] = json!(o.entry.question);
            }
            Some(Place::Session(ta)) => {
                let s = &self.sessions[ta];
                me["state"] = json!("in_session");
                me["session"] = json!({
                    "ta": s.ta, "ta_name": self.staff_name(&s.ta), "started": s.started,
                    "meeting_link": s.meeting_link,
                });
                me["question"] = json!(s.entry.question);
            }
        }
        me
    }

    /// What a TA's view shows about themselves.
    pub fn ta_status(&self, ta: &str) -> Value {
        let duty = self.on_duty.get(ta);
        json!({
            "course_id": self.course_id,
            "on_duty": duty.is_some(),
            "waiting_for_student": duty.is_some_and(|d| d.waiting),
            "offer": self.offers.get(ta).map(|o| json!({
                "id": o.id, "student": o.entry.student, "question": o.entry.question,
                "location": o.entry.location, "offered": o.offered, "deadline": o.deadline,
            })),
            "session": self.sessions.get(ta).map(|s| json!({
                "student": s.entry.student, "question": s.entry.question,
                "location": s.entry.location, "started": s.started, "meeting_link": s.meeting_link,
            })),
            "line": self.line.len(),
        })
    }

    /// The answer recorded for the command at (`node`, `seq`).
    pub fn reply(&self, node: &str, seq: u64) -> Option<&Reply> {
        self.replies
            .iter()
            .rev()
            .find(|r| r.seq == seq && r.node == node)
    }
}
