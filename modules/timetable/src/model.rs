//! The timetable model: terms (with holidays), rooms, people (with availability), courses with
//! their sections (lecture, discussion, lab) and meetings, and office-hour blocks per TA.
//!
//! These types are what the timetable events carry and what the reducers keep (as JSON in the
//! log, typed in memory). Sources — the TOML file ([`crate::toml_file`]) and iCalendar
//! ([`crate::ical`]) — are parsed into them; [`crate::conflicts`] checks them; the reducers in
//! [`crate::reducers`] keep them up to date from the log.

use crate::recur::{DateRange, Days, Recurrence};
use jiff::civil::Time;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The whole timetable of an institution.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timetable {
    /// The institution's IANA time zone (`America/New_York`).
    #[serde(default)]
    pub time_zone: String,
    /// Terms by id.
    #[serde(default)]
    pub terms: BTreeMap<String, Term>,
    /// Rooms by id.
    #[serde(default)]
    pub rooms: BTreeMap<String, Room>,
    /// Instructors, TAs and other staff by id.
    #[serde(default)]
    pub people: BTreeMap<String, Person>,
    /// Courses by id.
    #[serde(default)]
    pub courses: BTreeMap<String, Course>,
}

/// A term: a date range with holidays on which nothing meets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    /// Id (`fa26`).
    pub id: String,
    /// Display name (`Fall 2026`).
    #[serde(default)]
    pub name: String,
    /// First and last day of the term.
    #[serde(flatten)]
    pub dates: DateRange,
    /// Days without classes or office hours.
    #[serde(default)]
    pub holidays: Vec<Holiday>,
}

impl Term {
    /// The holidays' date ranges.
    pub fn holiday_ranges(&self) -> Vec<DateRange> {
        self.holidays.iter().map(|h| h.dates.clone()).collect()
    }
}

/// A holiday (one day or a break).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// The days.
    #[serde(flatten)]
    pub dates: DateRange,
}

/// A room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// Id (`SCI-101`), what meetings refer to.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Building, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub building: Option<String>,
    /// Seats, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
}

/// What a person does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Teaches sections.
    #[default]
    Instructor,
    /// Teaching assistant: discussions, labs, office hours.
    Ta,
    /// Other staff.
    Staff,
}

/// A staff member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Id; also their user id for the office-hours module (the TA's `ta` field).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// E-mail, used to match iCalendar attendees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Role.
    #[serde(default)]
    pub role: Role,
    /// When they can be scheduled.
    #[serde(default)]
    pub availability: Availability,
}

/// When a person can be scheduled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    /// Weekly windows they are available in; empty: any time.
    #[serde(default)]
    pub weekly: Vec<Window>,
    /// Date ranges they are away.
    #[serde(default)]
    pub away: Vec<DateRange>,
}

/// A weekly time window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Weekdays.
    pub days: Days,
    /// Start, local time.
    pub start: Time,
    /// End, local time.
    pub end: Time,
}

/// How a course's office-hour blocks drive the office-hours queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DutyMode {
    /// A block puts its TA on duty when it begins and off duty when it ends
    /// (`ta_on_duty` / `ta_off_duty` events of the office-hours module).
    #[default]
    Automatic,
    /// A block only reminds the course staff (a notification); TAs open office hours
    /// themselves.
    Reminder,
}

/// A course in a term.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Course {
    /// Id (`CS101`), the `course_id` of the course's events.
    pub id: String,
    /// Display title.
    #[serde(default)]
    pub title: String,
    /// The term it runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    /// Office-hour duty mode; `None`: the configured default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office_hours_mode: Option<DutyMode>,
    /// Sections.
    #[serde(default)]
    pub sections: Vec<Section>,
    /// Office-hour blocks.
    #[serde(default)]
    pub office_hours: Vec<OfficeHours>,
}

/// The kind of a section.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionKind {
    /// A lecture.
    #[default]
    Lecture,
    /// A discussion (recitation, tutorial).
    Discussion,
    /// A lab.
    Lab,
    /// A seminar or anything else.
    Other,
}

impl SectionKind {
    /// Guesses the kind from free text (an iCalendar summary or category).
    pub fn guess(text: &str) -> SectionKind {
        let t = text.to_ascii_lowercase();
        if t.contains("lab") {
            SectionKind::Lab
        } else if ["discussion", "recitation", "tutorial", "section"]
            .iter()
            .any(|w| t.contains(w))
        {
            SectionKind::Discussion
        } else if t.contains("lecture") {
            SectionKind::Lecture
        } else {
            SectionKind::Other
        }
    }
}

impl fmt::Display for SectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SectionKind::Lecture => "lecture",
            SectionKind::Discussion => "discussion",
            SectionKind::Lab => "lab",
            SectionKind::Other => "other",
        })
    }
}

/// A section of a course.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Id, unique in the course (`L1`, `D03`).
    pub id: String,
    /// Lecture, discussion, lab.
    #[serde(default)]
    pub kind: SectionKind,
    /// Students enrolled (checked against room capacity), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment: Option<u32>,
    /// Its meetings.
    #[serde(default)]
    pub meetings: Vec<Meeting>,
}

/// A recurring meeting of a section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meeting {
    /// Id, unique in the section (`m1`, or an iCalendar UID).
    pub id: String,
    /// When.
    pub when: Recurrence,
    /// Room id, when it meets in a known room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Free-text location (an online link, a room not in the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Who teaches it (person ids).
    #[serde(default)]
    pub instructors: Vec<String>,
}

/// A TA's recurring office-hour block for a course.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeHours {
    /// Id, unique in the course.
    pub id: String,
    /// The TA (person id).
    pub ta: String,
    /// When.
    pub when: Recurrence,
    /// Room id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Free-text location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// Where something is in the timetable, for messages and conflict reports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Slot {
    /// A section's meeting.
    Meeting {
        /// Course id.
        course: String,
        /// Section id.
        section: String,
        /// Meeting id.
        meeting: String,
    },
    /// An office-hour block.
    OfficeHours {
        /// Course id.
        course: String,
        /// Block id.
        block: String,
        /// The TA.
        ta: String,
    },
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slot::Meeting {
                course,
                section,
                meeting,
            } => write!(f, "{course} {section} meeting {meeting}"),
            Slot::OfficeHours { course, block, ta } => {
                write!(f, "{course} office hours {block} ({ta})")
            }
        }
    }
}

impl Timetable {
    /// The holidays of a course's term (empty when it has none).
    pub fn holidays_of(&self, course: &Course) -> Vec<DateRange> {
        course
            .term
            .as_ref()
            .and_then(|t| self.terms.get(t))
            .map(Term::holiday_ranges)
            .unwrap_or_default()
    }

    /// Number of sections, meetings and office-hour blocks.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for course in self.courses.values() {
            counts.0 += course.sections.len();
            counts.1 += course
                .sections
                .iter()
                .map(|s| s.meetings.len())
                .sum::<usize>();
            counts.2 += course.office_hours.len();
        }
        counts
    }
}
