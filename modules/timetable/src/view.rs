//! What people see: a course's now/next with "starts in / ends in", its week as JSON, and its
//! week or term as iCalendar — pure functions of the course's schedule, the catalog (for
//! names) and an instant, used by the HTTP API and available to the dashboards' timetable
//! panel.

use crate::ical::{OutEvent, write_calendar};
use crate::live::{CourseSchedule, Duty, Session, compute};
use crate::model::Timetable;
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

fn person(catalog: &Timetable, id: &str) -> Value {
    let name = catalog.people.get(id).map_or("", |p| p.name.as_str());
    json!({"id": id, "name": name})
}

fn room(catalog: &Timetable, id: Option<&String>) -> Value {
    match id {
        None => Value::Null,
        Some(id) => {
            let r = catalog.rooms.get(id);
            json!({"id": id, "name": r.map_or(id.as_str(), |r| r.name.as_str()), "building": r.and_then(|r| r.building.clone())})
        }
    }
}

fn session_json(s: &Session, catalog: &Timetable, zones: &mut Zones, now: Timestamp) -> Value {
    json!({
        "section": s.section,
        "kind": s.kind,
        "meeting": s.meeting,
        "start": s.start,
        "end": s.end,
        "start_local": local(zones, s.start),
        "end_local": local(zones, s.end),
        "starts_in_secs": secs_between(now, s.start),
        "ends_in_secs": secs_between(now, s.end),
        "room": room(catalog, s.room.as_ref()),
        "location": s.location,
        "instructors": s.instructors.iter().map(|p| person(catalog, p)).collect::<Vec<_>>(),
    })
}

fn duty_json(d: &Duty, catalog: &Timetable, zones: &mut Zones, now: Timestamp) -> Value {
    json!({
        "block": d.block,
        "ta": person(catalog, &d.ta),
        "start": d.start,
        "end": d.end,
        "start_local": local(zones, d.start),
        "end_local": local(zones, d.end),
        "starts_in_secs": secs_between(now, d.start),
        "ends_in_secs": secs_between(now, d.end),
        "room": room(catalog, d.room.as_ref()),
        "location": d.location,
    })
}

/// A course's now and next at `now`, with names and relative times, as the dashboards'
/// timetable panel shows it.
pub fn now_view(schedule: &CourseSchedule, catalog: &Timetable, now: Timestamp) -> Value {
    let live = compute(schedule, now);
    let mut zones = Zones::new(&schedule.time_zone)
        .unwrap_or_else(|_| Zones::new("UTC").expect("UTC is known"));
    let course = &schedule.course;
    json!({
        "course_id": course.id,
        "title": course.title,
        "time_zone": schedule.time_zone,
        "at": now,
        "at_local": local(&mut zones, now),
        "office_hours_mode": schedule.office_hours_mode,
        "now": live.now.iter().map(|s| session_json(s, catalog, &mut zones, now)).collect::<Vec<_>>(),
        "next": live.next.iter().map(|s| session_json(s, catalog, &mut zones, now)).collect::<Vec<_>>(),
        "on_duty": live.on_duty.iter().map(|d| duty_json(d, catalog, &mut zones, now)).collect::<Vec<_>>(),
        "next_duty": live.next_duty.iter().map(|d| duty_json(d, catalog, &mut zones, now)).collect::<Vec<_>>(),
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
    let where_ = |r: Option<&String>, l: Option<&String>| -> Option<String> {
        r.map(|id| {
            catalog
                .rooms
                .get(id)
                .map_or(id.clone(), |room| room.name.clone())
        })
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
                    .map(|p| catalog.people.get(p).map_or(p.clone(), |x| x.name.clone()))
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
                        "room": room(catalog, m.room.as_ref()), "location": m.location,
                        "instructors": m.instructors.iter().map(|p| person(catalog, p)).collect::<Vec<_>>(),
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
            let name = catalog
                .people
                .get(&b.ta)
                .map_or(b.ta.clone(), |p| p.name.clone());
            out.push(Item {
                uid: format!("{}.oh.{}.{}@classpulse", course.id, b.id, o.date),
                kind: "office_hours",
                summary: format!("{} office hours ({name})", course.id),
                start: o.start,
                end: o.end,
                date: o.date,
                detail: json!({"block": b.id, "ta": person(catalog, &b.ta), "room": room(catalog, b.room.as_ref()), "location": b.location}),
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
