//! The timetable's events: their names and shapes, how an edit applies to a course, and how
//! an import becomes a list of events (the difference between what the log says now and what
//! the new timetable says).
//!
//! Every event has source [`SOURCE`] and is made by the installation itself (identity
//! `system`: an import, the start-up sync of the configured file, an admin command). Reducers
//! ignore timetable events from any other identity, so a client cannot change the timetable by
//! sending them over `/wsapi/in/`. The shapes are documented in `docs/protocol.md`.

use crate::live::CourseSchedule;
use crate::model::{
    Availability, Course, DutyMode, Meeting, OfficeHours, Person, Room, Section, SectionKind, Term,
    Timetable,
};
use classpulse_core::event::Event;
use classpulse_core::log::system::SystemEvent;
use serde::Deserialize;
use serde_json::{Value, json};

/// The source of every timetable event.
pub const SOURCE: &str = "org.classpulse.timetable";
/// The source of the office-hours module's events (the duty events the timetable emits).
pub const OFFICE_HOURS_SOURCE: &str = "org.classpulse.office_hours";

/// The event names.
pub mod kind {
    /// `{time_zone}`: the institution's time zone.
    pub const ZONE_CHANGED: &str = "timetable.zone.changed";
    /// `{term}`: a term was added or changed.
    pub const TERM_CHANGED: &str = "timetable.term.changed";
    /// `{term_id}`.
    pub const TERM_REMOVED: &str = "timetable.term.removed";
    /// `{room}`.
    pub const ROOM_CHANGED: &str = "timetable.room.changed";
    /// `{room_id}`.
    pub const ROOM_REMOVED: &str = "timetable.room.removed";
    /// `{person}`: a staff member was added or changed.
    pub const PERSON_CHANGED: &str = "person.changed";
    /// `{person_id, availability}`: only their availability changed.
    pub const PERSON_AVAILABILITY_CHANGED: &str = "person.availability.changed";
    /// `{person_id}`.
    pub const PERSON_REMOVED: &str = "person.removed";
    /// `{course_id, schedule}`: a course's whole schedule, replaced.
    pub const COURSE_CHANGED: &str = "timetable.course.changed";
    /// `{course_id}`.
    pub const COURSE_REMOVED: &str = "timetable.course.removed";
    /// `{course_id, section_id, section_kind?, meeting}`: one meeting added or changed.
    pub const MEETING_CHANGED: &str = "timetable.meeting.changed";
    /// `{course_id, section_id, meeting_id}`.
    pub const MEETING_REMOVED: &str = "timetable.meeting.removed";
    /// `{course_id, block}`: one office-hour block added or changed.
    pub const OFFICE_HOURS_CHANGED: &str = "timetable.office_hours.changed";
    /// `{course_id, block_id}`.
    pub const OFFICE_HOURS_REMOVED: &str = "timetable.office_hours.removed";
    /// `{course_id}`, fired by the course's timer when a session or block starts or ends.
    pub const TICK: &str = "timetable.tick";
    /// Office-hours module: a TA goes on duty (emitted by the timetable in automatic mode).
    pub const TA_ON_DUTY: &str = "ta_on_duty";
    /// Office-hours module: a TA goes off duty.
    pub const TA_OFF_DUTY: &str = "ta_off_duty";
}

/// Whether `event` may change the timetable: made by the installation (an import, an admin
/// command) or fired by a timer such an event armed.
pub fn is_trusted(event: &Event<'_>) -> bool {
    event.auth().providence == "system"
}

fn event(kind: &str, mut body: Value) -> SystemEvent {
    if let Value::Object(map) = &mut body {
        map.insert("event".into(), Value::String(kind.into()));
    }
    SystemEvent {
        source: SOURCE.into(),
        client: body,
    }
}

/// A `timetable.course.changed` event.
pub fn course_changed(schedule: &CourseSchedule) -> SystemEvent {
    event(
        kind::COURSE_CHANGED,
        json!({"course_id": schedule.course.id, "schedule": schedule}),
    )
}

/// A `timetable.meeting.changed` event.
pub fn meeting_changed(
    course_id: &str,
    section_id: &str,
    section_kind: SectionKind,
    meeting: &Meeting,
) -> SystemEvent {
    event(
        kind::MEETING_CHANGED,
        json!({"course_id": course_id, "section_id": section_id, "section_kind": section_kind, "meeting": meeting}),
    )
}

/// A `timetable.office_hours.changed` event.
pub fn office_hours_changed(course_id: &str, block: &OfficeHours) -> SystemEvent {
    event(
        kind::OFFICE_HOURS_CHANGED,
        json!({"course_id": course_id, "block": block}),
    )
}

/// A `person.availability.changed` event.
pub fn availability_changed(person_id: &str, availability: &Availability) -> SystemEvent {
    event(
        kind::PERSON_AVAILABILITY_CHANGED,
        json!({"person_id": person_id, "availability": availability}),
    )
}

/// The schedule the course reducer keeps for `course` of timetable `t`.
pub fn schedule_of(t: &Timetable, course: &Course, default_mode: DutyMode) -> CourseSchedule {
    CourseSchedule {
        course: course.clone(),
        holidays: t.holidays_of(course),
        term: course
            .term
            .as_ref()
            .and_then(|id| t.terms.get(id))
            .map(|term| term.dates.clone()),
        time_zone: t.time_zone.clone(),
        office_hours_mode: course.office_hours_mode.unwrap_or(default_mode),
    }
}

/// The events that turn timetable `current` (what the log says) into `new`, in an order that
/// keeps references valid (terms, rooms and people before the courses that use them; removals
/// of those last). Empty when they are equal: importing the same file twice writes nothing.
pub fn diff(current: &Timetable, new: &Timetable, default_mode: DutyMode) -> Vec<SystemEvent> {
    let mut out = Vec::new();
    if current.time_zone != new.time_zone {
        out.push(event(
            kind::ZONE_CHANGED,
            json!({"time_zone": new.time_zone}),
        ));
    }
    for (id, term) in &new.terms {
        if current.terms.get(id) != Some(term) {
            out.push(event(kind::TERM_CHANGED, json!({"term": term})));
        }
    }
    for (id, room) in &new.rooms {
        if current.rooms.get(id) != Some(room) {
            out.push(event(kind::ROOM_CHANGED, json!({"room": room})));
        }
    }
    for (id, person) in &new.people {
        match current.people.get(id) {
            Some(old) if old == person => {}
            Some(old)
                if Person {
                    availability: person.availability.clone(),
                    ..old.clone()
                } == *person =>
            {
                out.push(availability_changed(id, &person.availability));
            }
            _ => out.push(event(kind::PERSON_CHANGED, json!({"person": person}))),
        }
    }
    for (id, course) in &new.courses {
        let schedule = schedule_of(new, course, default_mode);
        let same = current
            .courses
            .get(id)
            .is_some_and(|old| schedule_of(current, old, default_mode) == schedule);
        if !same {
            out.push(course_changed(&schedule));
        }
    }
    for id in current
        .courses
        .keys()
        .filter(|id| !new.courses.contains_key(*id))
    {
        out.push(event(kind::COURSE_REMOVED, json!({"course_id": id})));
    }
    for id in current
        .people
        .keys()
        .filter(|id| !new.people.contains_key(*id))
    {
        out.push(event(kind::PERSON_REMOVED, json!({"person_id": id})));
    }
    for id in current
        .rooms
        .keys()
        .filter(|id| !new.rooms.contains_key(*id))
    {
        out.push(event(kind::ROOM_REMOVED, json!({"room_id": id})));
    }
    for id in current
        .terms
        .keys()
        .filter(|id| !new.terms.contains_key(*id))
    {
        out.push(event(kind::TERM_REMOVED, json!({"term_id": id})));
    }
    out
}

#[derive(Deserialize)]
struct MeetingEdit {
    section_id: String,
    #[serde(default)]
    section_kind: Option<SectionKind>,
    meeting: Meeting,
}

#[derive(Deserialize)]
struct MeetingRemoval {
    section_id: String,
    meeting_id: String,
}

/// Applies a course-level edit event (`meeting.changed/removed`,
/// `office_hours.changed/removed`) to `course`. `Ok(false)`: not such an event, or no change.
///
/// # Errors
/// A message when the event is malformed or refers to something missing.
pub fn apply_course_edit(course: &mut Course, event: &Event<'_>) -> Result<bool, String> {
    let parse = |what: &str| -> String { format!("malformed {what} event") };
    match event.kind().as_ref() {
        kind::MEETING_CHANGED => {
            let fields = raw_object(event);
            let edit: MeetingEdit = serde_json::from_value(fields)
                .map_err(|e| format!("{}: {e}", parse("meeting.changed")))?;
            edit.meeting.when.validate()?;
            let section = match course
                .sections
                .iter_mut()
                .position(|s| s.id == edit.section_id)
            {
                Some(i) => &mut course.sections[i],
                None => {
                    course.sections.push(Section {
                        id: edit.section_id.clone(),
                        kind: edit.section_kind.unwrap_or_default(),
                        enrollment: None,
                        meetings: Vec::new(),
                    });
                    course.sections.last_mut().expect("just pushed")
                }
            };
            match section
                .meetings
                .iter_mut()
                .find(|m| m.id == edit.meeting.id)
            {
                Some(m) if *m == edit.meeting => return Ok(false),
                Some(m) => *m = edit.meeting,
                None => section.meetings.push(edit.meeting),
            }
            Ok(true)
        }
        kind::MEETING_REMOVED => {
            let r: MeetingRemoval = serde_json::from_value(raw_object(event))
                .map_err(|e| format!("{}: {e}", parse("meeting.removed")))?;
            let Some(section) = course.sections.iter_mut().find(|s| s.id == r.section_id) else {
                return Ok(false);
            };
            let before = section.meetings.len();
            section.meetings.retain(|m| m.id != r.meeting_id);
            Ok(section.meetings.len() != before)
        }
        kind::OFFICE_HOURS_CHANGED => {
            let block: OfficeHours = event
                .field("block")
                .ok_or_else(|| parse("office_hours.changed"))?;
            block.when.validate()?;
            match course.office_hours.iter_mut().find(|b| b.id == block.id) {
                Some(b) if *b == block => return Ok(false),
                Some(b) => *b = block,
                None => course.office_hours.push(block),
            }
            Ok(true)
        }
        kind::OFFICE_HOURS_REMOVED => {
            let id: String = event
                .field("block_id")
                .ok_or_else(|| parse("office_hours.removed"))?;
            let before = course.office_hours.len();
            course.office_hours.retain(|b| b.id != id);
            Ok(course.office_hours.len() != before)
        }
        _ => Ok(false),
    }
}

/// The event's fields as one JSON object.
fn raw_object(event: &Event<'_>) -> Value {
    let mut out = Vec::new();
    event.fields.write_json(&mut out);
    serde_json::from_slice(&out).unwrap_or(Value::Null)
}

/// Applies a directory or course event to the whole timetable (the catalog reducer's step).
/// `Ok(false)`: not a catalog event, or no change.
///
/// # Errors
/// A message when the event is malformed.
pub fn apply_to_timetable(t: &mut Timetable, event: &Event<'_>) -> Result<bool, String> {
    let bad = |what: &str| format!("malformed {what} event");
    let kind = event.kind();
    match kind.as_ref() {
        kind::ZONE_CHANGED => {
            let zone: String = event
                .field("time_zone")
                .ok_or_else(|| bad(kind::ZONE_CHANGED))?;
            let changed = t.time_zone != zone;
            t.time_zone = zone;
            Ok(changed)
        }
        kind::TERM_CHANGED => {
            let term: Term = event.field("term").ok_or_else(|| bad(kind::TERM_CHANGED))?;
            Ok(t.terms.insert(term.id.clone(), term.clone()).as_ref() != Some(&term))
        }
        kind::TERM_REMOVED => {
            let id: String = event
                .field("term_id")
                .ok_or_else(|| bad(kind::TERM_REMOVED))?;
            Ok(t.terms.remove(&id).is_some())
        }
        kind::ROOM_CHANGED => {
            let room: Room = event.field("room").ok_or_else(|| bad(kind::ROOM_CHANGED))?;
            Ok(t.rooms.insert(room.id.clone(), room.clone()).as_ref() != Some(&room))
        }
        kind::ROOM_REMOVED => {
            let id: String = event
                .field("room_id")
                .ok_or_else(|| bad(kind::ROOM_REMOVED))?;
            Ok(t.rooms.remove(&id).is_some())
        }
        kind::PERSON_CHANGED => {
            let person: Person = event
                .field("person")
                .ok_or_else(|| bad(kind::PERSON_CHANGED))?;
            Ok(t.people.insert(person.id.clone(), person.clone()).as_ref() != Some(&person))
        }
        kind::PERSON_AVAILABILITY_CHANGED => {
            let id: String = event
                .field("person_id")
                .ok_or_else(|| bad(kind::PERSON_AVAILABILITY_CHANGED))?;
            let availability: Availability = event
                .field("availability")
                .ok_or_else(|| bad(kind::PERSON_AVAILABILITY_CHANGED))?;
            let person = t
                .people
                .get_mut(&id)
                .ok_or_else(|| format!("no person {id:?}"))?;
            let changed = person.availability != availability;
            person.availability = availability;
            Ok(changed)
        }
        kind::PERSON_REMOVED => {
            let id: String = event
                .field("person_id")
                .ok_or_else(|| bad(kind::PERSON_REMOVED))?;
            Ok(t.people.remove(&id).is_some())
        }
        kind::COURSE_CHANGED => {
            let schedule: CourseSchedule = event
                .field("schedule")
                .ok_or_else(|| bad(kind::COURSE_CHANGED))?;
            let course = schedule.course;
            Ok(t.courses.insert(course.id.clone(), course.clone()).as_ref() != Some(&course))
        }
        kind::COURSE_REMOVED => {
            let id: String = event
                .str_field("course_id")
                .ok_or_else(|| bad(kind::COURSE_REMOVED))?
                .into_owned();
            Ok(t.courses.remove(&id).is_some())
        }
        kind::MEETING_CHANGED
        | kind::MEETING_REMOVED
        | kind::OFFICE_HOURS_CHANGED
        | kind::OFFICE_HOURS_REMOVED => {
            let id = event.str_field("course_id").ok_or_else(|| bad(&kind))?;
            let course = t.courses.get_mut(id.as_ref()).ok_or_else(|| {
                format!("course {id} has no schedule yet: import it before editing it")
            })?;
            apply_course_edit(course, event)
        }
        _ => Ok(false),
    }
}
