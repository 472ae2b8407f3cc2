//! The queue of one course, as the `office_hours.queue` reducer keeps it (one state per course,
//! `course:<id>`), and what each student and TA sees of it.
//!
//! Everything here is a function of the state and of times taken from events: the student's
//! status ([`QueueState::student_status`]) is what their page shows and what notifications
//! carry, so a page that reloads and a page that was told agree.

use crate::config::{CourseSettings, Effective};
use classpulse_core::event::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
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

/// The inputs of the line's wait estimates (see [`QueueState::estimate_secs`]).
struct Estimator {
    tas: usize,
    idle: usize,
    service_us: i64,
}

impl Estimator {
    fn estimate(&self, position: usize) -> Option<u64> {
        if self.tas == 0 {
            return None;
        }
        if position <= self.idle {
            return Some(0);
        }
        let rounds = (position - self.idle).div_ceil(self.tas) as i64;
        let secs = ((rounds * self.service_us) / 1_000_000).max(0) as u64;
        // Whole minutes: an estimate is not more precise than that, and students are told
        // again only when it moves by a minute, not at every session's end.
        Some(secs.div_ceil(60) * 60)
    }
}

/// Sets `key` of a status object.
fn put(map: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    map.insert(key.to_owned(), value.into());
}

/// Who is asking what, where: the part of a TA's offer or session that is the student's entry.
fn put_entry(map: &mut Map<String, Value>, entry: &Waiting) {
    put(map, "student", entry.student.as_str());
    put(map, "question", entry.question.as_str());
    put(map, "location", entry.location.as_str());
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
        self.estimator(default_us).estimate(position)
    }

    /// What every estimate of the line depends on, computed once.
    fn estimator(&self, default_us: i64) -> Estimator {
        Estimator {
            tas: self.on_duty.len(),
            idle: self.on_duty.values().filter(|d| d.waiting).count(),
            service_us: self.service_us(default_us),
        }
    }

    /// Every waiting student's position and estimate, in line order.
    pub fn line_views(&self, default_us: i64) -> Vec<(String, LineView)> {
        let estimator = self.estimator(default_us);
        self.line
            .iter()
            .enumerate()
            .map(|(i, w)| {
                (
                    w.student.clone(),
                    LineView {
                        position: i + 1,
                        estimate: estimator.estimate(i + 1),
                    },
                )
            })
            .collect()
    }

    /// What `student`'s page shows: their state in the queue, position and estimate, the
    /// offer and its deadline, the session, whether office hours are open, the announcement.
    ///
    /// Built field by field (`json!` would copy every nested value once more): a
    /// notification carries it to every waiting student whose place changed.
    pub fn student_status(&self, student: &str, settings: &Effective, default_us: i64) -> Value {
        let mut me = Map::new();
        put(&mut me, "course_id", self.course_id.as_str());
        put(&mut me, "open", self.is_open());
        put(&mut me, "tas_on_duty", self.on_duty.len());
        put(&mut me, "offer_window_secs", settings.offer_window_secs);
        let announcement = self.announcement.as_ref().map(|a| {
            let mut m = Map::new();
            put(&mut m, "text", a.text.as_str());
            put(&mut m, "by", a.by.as_str());
            put(&mut m, "at", a.at.as_micros());
            Value::Object(m)
        });
        put(&mut me, "announcement", announcement);
        match self.place(student) {
            None => put(&mut me, "state", "none"),
            Some(Place::Line(i)) => {
                let w = &self.line[i];
                put(&mut me, "state", "waiting");
                put(&mut me, "position", i + 1);
                put(&mut me, "ahead", i);
                put(
                    &mut me,
                    "estimated_wait_secs",
                    self.estimate_secs(i + 1, default_us),
                );
                put(&mut me, "question", w.question.as_str());
                put(&mut me, "location", w.location.as_str());
                put(&mut me, "joined", w.joined.as_micros());
            }
            Some(Place::Offered(ta)) => {
                let o = &self.offers[ta];
                put(&mut me, "state", "offered");
                let mut offer = Map::new();
                put(&mut offer, "id", o.id);
                put(&mut offer, "ta", o.ta.as_str());
                put(&mut offer, "ta_name", self.staff_name(&o.ta));
                put(&mut offer, "offered", o.offered.as_micros());
                put(&mut offer, "deadline", o.deadline.as_micros());
                put(
                    &mut offer,
                    "window_secs",
                    o.deadline.since(o.offered).as_secs(),
                );
                put(&mut me, "offer", Value::Object(offer));
                put(&mut me, "question", o.entry.question.as_str());
            }
            Some(Place::Session(ta)) => {
                let s = &self.sessions[ta];
                put(&mut me, "state", "in_session");
                let mut session = Map::new();
                put(&mut session, "ta", s.ta.as_str());
                put(&mut session, "ta_name", self.staff_name(&s.ta));
                put(&mut session, "started", s.started.as_micros());
                put(&mut session, "meeting_link", s.meeting_link.as_deref());
                put(&mut me, "session", Value::Object(session));
                put(&mut me, "question", s.entry.question.as_str());
            }
        }
        Value::Object(me)
    }

    /// What a TA's view shows about themselves.
    pub fn ta_status(&self, ta: &str) -> Value {
        let duty = self.on_duty.get(ta);
        let mut me = Map::new();
        put(&mut me, "course_id", self.course_id.as_str());
        put(&mut me, "on_duty", duty.is_some());
        put(
            &mut me,
            "waiting_for_student",
            duty.is_some_and(|d| d.waiting),
        );
        let offer = self.offers.get(ta).map(|o| {
            let mut m = Map::new();
            put(&mut m, "id", o.id);
            put_entry(&mut m, &o.entry);
            put(&mut m, "offered", o.offered.as_micros());
            put(&mut m, "deadline", o.deadline.as_micros());
            Value::Object(m)
        });
        put(&mut me, "offer", offer);
        let session = self.sessions.get(ta).map(|s| {
            let mut m = Map::new();
            put_entry(&mut m, &s.entry);
            put(&mut m, "started", s.started.as_micros());
            put(&mut m, "meeting_link", s.meeting_link.as_deref());
            Value::Object(m)
        });
        put(&mut me, "session", session);
        put(&mut me, "line", self.line.len());
        Value::Object(me)
    }

    /// The answer recorded for the command at (`node`, `seq`).
    pub fn reply(&self, node: &str, seq: u64) -> Option<&Reply> {
        self.replies
            .iter()
            .rev()
            .find(|r| r.seq == seq && r.node == node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ExpiredOffer, OnClose};
    use serde_json::json;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_micros(secs * 1_000_000)
    }

    fn waiting(student: &str, joined: i64) -> Waiting {
        Waiting {
            student: student.into(),
            question: format!("{student}'s question"),
            location: "room \"7\"".into(),
            joined: t(joined),
            expired: 0,
        }
    }

    /// A course with a student in each place: two in line, one called, one in a session.
    fn course() -> QueueState {
        let mut s = QueueState {
            course_id: "C1".into(),
            ..QueueState::default()
        };
        for (ta, waiting) in [("ta1", false), ("ta2", false), ("ta3", true)] {
            s.on_duty.insert(
                ta.into(),
                Duty {
                    since: t(1),
                    meeting_link: None,
                    origin: "self".into(),
                    waiting,
                },
            );
        }
        s.staff_names.insert("ta1".into(), "Grace Hopper".into());
        s.line = vec![waiting("ann", 10), waiting("bob", 11), waiting("cy", 12)];
        s.offers.insert(
            "ta1".into(),
            Offer {
                id: 7,
                entry: waiting("dee", 5),
                ta: "ta1".into(),
                offered: t(20),
                deadline: t(320),
            },
        );
        s.sessions.insert(
            "ta2".into(),
            Session {
                offer: 6,
                entry: waiting("eve", 4),
                ta: "ta2".into(),
                started: t(15),
                meeting_link: Some("https://meet.example/x".into()),
            },
        );
        s.recent_service_us.extend([90_000_000, 150_000_000]);
        s.announcement = Some(Announcement {
            text: "Room change".into(),
            by: "ta1".into(),
            at: t(3),
        });
        s
    }

    fn settings() -> Effective {
        Effective {
            offer_window_secs: 300,
            expired_offer: ExpiredOffer::Back,
            on_close: OnClose::Keep,
            meeting_link: None,
        }
    }

    /// The status pages render, field by field as `docs/protocol.md` lists it, for a student
    /// in each place (what notifications and `GET …/me` carry).
    #[test]
    fn a_students_status_in_each_place() {
        let s = course();
        let common = json!({
            "course_id": "C1", "open": true, "tas_on_duty": 3, "offer_window_secs": 300,
            "announcement": {"text": "Room change", "by": "ta1", "at": 3_000_000},
        });
        let with = |extra: Value| {
            let mut v = common.clone();
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        // Third in line with one idle TA: ⌈(3 − 1) / 3⌉ rounds of the 120 s mean → 120 s.
        assert_eq!(
            s.student_status("cy", &settings(), 60_000_000),
            with(json!({"state": "waiting", "position": 3, "ahead": 2,
                "estimated_wait_secs": 120, "question": "cy's question",
                "location": "room \"7\"", "joined": 12_000_000}))
        );
        assert_eq!(
            s.student_status("ann", &settings(), 60_000_000)["estimated_wait_secs"],
            json!(0),
            "the first in line is next for the idle TA"
        );
        assert_eq!(
            s.student_status("dee", &settings(), 60_000_000),
            with(json!({"state": "offered", "question": "dee's question",
                "offer": {"id": 7, "ta": "ta1", "ta_name": "Grace Hopper", "offered": 20_000_000,
                          "deadline": 320_000_000, "window_secs": 300}}))
        );
        assert_eq!(
            s.student_status("eve", &settings(), 60_000_000),
            with(json!({"state": "in_session", "question": "eve's question",
                "session": {"ta": "ta2", "ta_name": "ta2", "started": 15_000_000,
                            "meeting_link": "https://meet.example/x"}}))
        );
        assert_eq!(
            s.student_status("zed", &settings(), 60_000_000),
            with(json!({"state": "none"}))
        );
        let mut closed = QueueState {
            course_id: "C1".into(),
            ..QueueState::default()
        };
        closed.line.push(waiting("ann", 10));
        assert_eq!(
            closed.student_status("ann", &settings(), 60_000_000),
            json!({"course_id": "C1", "open": false, "tas_on_duty": 0, "offer_window_secs": 300,
                "announcement": null, "state": "waiting", "position": 1, "ahead": 0,
                "estimated_wait_secs": null, "question": "ann's question",
                "location": "room \"7\"", "joined": 10_000_000})
        );
    }

    /// What a TA's view is told about themselves: free, with an offer out, in a session.
    #[test]
    fn a_tas_status() {
        let s = course();
        assert_eq!(
            s.ta_status("ta1"),
            json!({"course_id": "C1", "on_duty": true, "waiting_for_student": false,
                "offer": {"id": 7, "student": "dee", "question": "dee's question",
                          "location": "room \"7\"", "offered": 20_000_000, "deadline": 320_000_000},
                "session": null, "line": 3})
        );
        assert_eq!(
            s.ta_status("ta2"),
            json!({"course_id": "C1", "on_duty": true, "waiting_for_student": false,
                "offer": null,
                "session": {"student": "eve", "question": "eve's question",
                            "location": "room \"7\"", "started": 15_000_000,
                            "meeting_link": "https://meet.example/x"},
                "line": 3})
        );
        assert_eq!(
            s.ta_status("ta3")["waiting_for_student"],
            json!(true),
            "an idle TA waits for the next student to join"
        );
        assert_eq!(
            s.ta_status("ta9"),
            json!({"course_id": "C1", "on_duty": false, "waiting_for_student": false,
                "offer": null, "session": null, "line": 3})
        );
    }

    /// Positions and estimates of the whole line agree with each student's own status.
    #[test]
    fn line_views_agree_with_the_students_status() {
        let s = course();
        let views = s.line_views(60_000_000);
        assert_eq!(views.len(), 3);
        for (student, view) in &views {
            let me = s.student_status(student, &settings(), 60_000_000);
            assert_eq!(me["position"], json!(view.position));
            assert_eq!(me["estimated_wait_secs"], json!(view.estimate));
        }
    }
}
