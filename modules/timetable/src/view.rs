//! What people see: a course's now/next with "starts in / ends in", its week as JSON, and its
//! week or term as iCalendar — pure functions of the course's schedule, the catalog (for
//! names) and an instant, used by the HTTP API and available to the dashboards' timetable
//! panel.

use crate::ical::{OutEvent, write_calendar};
use crate::live::{CourseSchedule, Duty, Session, compute};
use crate::model::{Room, Timetable};
use crate::recur::{Zones, date_of_day, day_number};
use classpulse_core::event::Timestamp;
use jiff::civil::Date;
use serde_json::{Value, json};

fn secs_between(from: Timestamp, to: Timestamp) -> i64 {
    (to.as_micros() - from.as_micros()).div_euclid(1_000_000)
}

fn local(zones: &mut Zones, at: Timestamp) -> String {
    let tz = zones.get(None);
    Zones::civil(&tz, at).strftime("%Y-%m-%dT%H:%M").to_string()
}

/// Names for ids: the course's own copy (carried by its schedule) first, then the catalog
/// (schedules logged before they carried names).
#[derive(Clone, Copy)]
struct Names<'a> {
    schedule: &'a CourseSchedule,
    catalog: &'a Timetable,
}

impl Names<'_> {
    /// A person's display name ("" when unknown).
    fn person_name(&self, id: &str) -> &str {
        (self.schedule.people.get(id).map(String::as_str))
            .or_else(|| self.catalog.people.get(id).map(|p| p.name.as_str()))
            .unwrap_or("")
    }

    fn person(&self, id: &str) -> Value {
        json!({"id": id, "name": self.person_name(id)})
    }

    fn room_entry(&self, id: &str) -> Option<&Room> {
        (self.schedule.rooms.get(id)).or_else(|| self.catalog.rooms.get(id))
    }

    /// A room's display name (its id when it has none).
    fn room_name<'a>(&'a self, id: &'a str) -> &'a str {
        match self.room_entry(id) {
            Some(r) if !r.name.is_empty() => &r.name,
            _ => id,
        }
    }

    fn room(&self, id: Option<&String>) -> Value {
        let Some(id) = id else {
            return Value::Null;
        };
        let building = self.room_entry(id).and_then(|r| r.building.clone());
        json!({"id": id, "name": self.room_name(id), "building": building})
    }
}

/// Adds "starts in / ends in" seconds relative to `now`, when given.
fn relative(out: &mut Value, start: Timestamp, end: Timestamp, now: Option<Timestamp>) {
    if let Some(now) = now {
        out["starts_in_secs"] = json!(secs_between(now, start));
        out["ends_in_secs"] = json!(secs_between(now, end));
    }
}

fn session_json(s: &Session, names: Names<'_>, zones: &mut Zones, now: Option<Timestamp>) -> Value {
    let mut out = json!({
        "section": s.section,
        "kind": s.kind,
        "meeting": s.meeting,
        "start": s.start,
        "end": s.end,
        "start_local": local(zones, s.start),
        "end_local": local(zones, s.end),
        "room": names.room(s.room.as_ref()),
        "location": s.location,
        "instructors": s.instructors.iter().map(|p| names.person(p)).collect::<Vec<_>>(),
    });
    relative(&mut out, s.start, s.end, now);
    out
}

fn duty_json(d: &Duty, names: Names<'_>, zones: &mut Zones, now: Option<Timestamp>) -> Value {
    let mut out = json!({
        "block": d.block,
        "ta": names.person(&d.ta),
        "start": d.start,
        "end": d.end,
        "start_local": local(zones, d.start),
        "end_local": local(zones, d.end),
        "room": names.room(d.room.as_ref()),
        "location": d.location,
    });
    relative(&mut out, d.start, d.end, now);
    out
}

/// A course's now and next at `now`, with names and relative times ("starts in / ends in"),
/// as the HTTP API returns it.
pub fn now_view(schedule: &CourseSchedule, catalog: &Timetable, now: Timestamp) -> Value {
    let mut out = live_json(schedule, catalog, now, true);
    let mut zones = zones_of(schedule);
    out["at"] = json!(now);
    out["at_local"] = json!(local(&mut zones, now));
    out
}

/// A course's now and next at `now` as the dashboards' timetable panel shows it: from the
/// course's state alone, in absolute times only, so it changes exactly when a session or an
/// office-hour block starts or ends (the page counts down by itself).
pub fn panel_view(schedule: &CourseSchedule, now: Timestamp) -> Value {
    live_json(schedule, &Timetable::default(), now, false)
}

fn zones_of(schedule: &CourseSchedule) -> Zones {
    Zones::new(&schedule.time_zone).unwrap_or_else(|_| Zones::new("UTC").expect("UTC is known"))
}

fn live_json(schedule: &CourseSchedule, catalog: &Timetable, now: Timestamp, rel: bool) -> Value {
    let live = compute(schedule, now);
    let mut zones = zones_of(schedule);
    let names = Names { schedule, catalog };
    let rel = rel.then_some(now);
    let course = &schedule.course;
    json!({
        "course_id": course.id,
        "title": course.title,
        "time_zone": schedule.time_zone,
        "office_hours_mode": schedule.office_hours_mode,
        "now": live.now.iter().map(|s| session_json(s, names, &mut zones, rel)).collect::<Vec<_>>(),
        "next": live.next.iter().map(|s| session_json(s, names, &mut zones, rel)).collect::<Vec<_>>(),
        "on_duty": live.on_duty.iter().map(|d| duty_json(d, names, &mut zones, rel)).collect::<Vec<_>>(),
        "next_duty": live.next_duty.iter().map(|d| duty_json(d, names, &mut zones, rel)).collect::<Vec<_>>(),
        "next_change": live.next_change,
    })
}

/// One item of a week or term listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Stable id of the occurrence (`<course>.<section>.<meeting>.<date>`).
    pub uid: String,
    /// `session` or `office_hours`.
    pub kind: &'static str,
    /// Title.
    pub summary: String,
    /// Start.
    pub start: Timestamp,
    /// End.
    pub end: Timestamp,
    /// The civil date.
    pub date: Date,
    /// JSON details.
    pub detail: Value,
    /// Location text.
    pub location: Option<String>,
}

/// The occurrences of a course's sessions and office hours with dates in `from..=until`
/// (civil dates in each recurrence's zone), in start order.
pub fn items(schedule: &CourseSchedule, catalog: &Timetable, from: Date, until: Date) -> Vec<Item> {
    let mut zones = Zones::new(&schedule.time_zone)
        .unwrap_or_else(|_| Zones::new("UTC").expect("UTC is known"));
    let course = &schedule.course;
    let lookup = Names { schedule, catalog };
    let where_ = |r: Option<&String>, l: Option<&String>| -> Option<String> {
        r.map(|id| lookup.room_name(id).to_owned())
            .or_else(|| l.cloned())
    };
    let mut out = Vec::new();
    for section in &course.sections {
        for m in &section.meetings {
            for o in zones.occurrences(&m.when, &schedule.holidays) {
                if o.date < from || o.date > until {
                    continue;
                }
                let names: Vec<String> = m
                    .instructors
                    .iter()
                    .map(|p| match lookup.person_name(p) {
                        "" => p.clone(),
                        name => name.to_owned(),
                    })
                    .collect();
                out.push(Item {
                    uid: format!("{}.{}.{}.{}@classpulse", course.id, section.id, m.id, o.date),
                    kind: "session",
                    summary: format!("{} {} ({})", course.id, section.id, section.kind),
                    start: o.start,
                    end: o.end,
                    date: o.date,
                    detail: json!({
                        "section": section.id, "section_kind": section.kind, "meeting": m.id,
                        "room": lookup.room(m.room.as_ref()), "location": m.location,
                        "instructors": m.instructors.iter().map(|p| lookup.person(p)).collect::<Vec<_>>(),
                        "instructor_names": names,
                    }),
                    location: where_(m.room.as_ref(), m.location.as_ref()),
                });
            }
        }
    }
    for b in &course.office_hours {
        for o in zones.occurrences(&b.when, &schedule.holidays) {
            if o.date < from || o.date > until {
                continue;
            }
            let name = match lookup.person_name(&b.ta) {
                "" => b.ta.clone(),
                name => name.to_owned(),
            };
            out.push(Item {
                uid: format!("{}.oh.{}.{}@classpulse", course.id, b.id, o.date),
                kind: "office_hours",
                summary: format!("{} office hours ({name})", course.id),
                start: o.start,
                end: o.end,
                date: o.date,
                detail: json!({"block": b.id, "ta": lookup.person(&b.ta), "room": lookup.room(b.room.as_ref()), "location": b.location}),
                location: where_(b.room.as_ref(), b.location.as_ref()),
            });
        }
    }
    out.sort_by(|a, b| (a.start, &a.uid).cmp(&(b.start, &b.uid)));
    out
}

/// Monday and Sunday of the week holding `date`.
pub fn week_of(date: Date) -> (Date, Date) {
    let n = day_number(date) - i32::from(date.weekday().to_monday_zero_offset());
    (date_of_day(n), date_of_day(n + 6))
}

/// A course's week (Monday to Sunday, holding `date`) as JSON.
pub fn week_json(schedule: &CourseSchedule, catalog: &Timetable, date: Date) -> Value {
    let (from, until) = week_of(date);
    let mut zones = Zones::new(&schedule.time_zone)
        .unwrap_or_else(|_| Zones::new("UTC").expect("UTC is known"));
    let list: Vec<Value> = items(schedule, catalog, from, until)
        .into_iter()
        .map(|i| {
            let mut v = json!({
                "kind": i.kind, "summary": i.summary, "date": i.date, "start": i.start, "end": i.end,
                "start_local": local(&mut zones, i.start), "end_local": local(&mut zones, i.end),
            });
            if let (Value::Object(map), Value::Object(detail)) = (&mut v, i.detail) {
                map.extend(detail);
            }
            v
        })
        .collect();
    json!({
        "course_id": schedule.course.id,
        "title": schedule.course.title,
        "time_zone": schedule.time_zone,
        "week": {"from": from, "until": until},
        "items": list,
    })
}

/// Occurrences with dates in `from..=until` as an iCalendar file; `now` is the `DTSTAMP`.
pub fn ics(
    schedule: &CourseSchedule,
    catalog: &Timetable,
    from: Date,
    until: Date,
    now: Timestamp,
) -> String {
    let events: Vec<OutEvent> = items(schedule, catalog, from, until)
        .into_iter()
        .map(|i| OutEvent {
            uid: i.uid,
            summary: i.summary,
            start: i.start,
            end: i.end,
            location: i.location,
            description: i
                .detail
                .get("instructor_names")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
        })
        .collect();
    let name = if schedule.course.title.is_empty() {
        schedule.course.id.clone()
    } else {
        format!("{} {}", schedule.course.id, schedule.course.title)
    };
    write_calendar(&name, &events, now)
}
