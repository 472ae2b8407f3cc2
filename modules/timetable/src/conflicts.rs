//! Conflict detection over a whole [`Timetable`]: a person in two places at once, a room
//! double-booked, a meeting outside its term, office hours overlapping the TA's own classes, a
//! person scheduled when they are not available, a room too small for its section, and
//! references to rooms or people that do not exist.
//!
//! Every meeting and office-hour block is expanded to its occurrences as instants (so time
//! zones and DST are handled once, in [`crate::recur`]); each room's and each person's
//! occurrences are then sorted and swept, and overlapping pairs are reported once per pair of
//! meetings with how often and from when they collide. Used by `classpulse timetable check`,
//! by the HTTP API for the dashboards, and by the import before it writes anything.

use crate::model::{Course, Slot, Timetable};
use crate::recur::{DateRange, Occurrence, Recurrence, Zones};
use classpulse_core::event::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// What kind of conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// A person is in two meetings (or two office-hour blocks) at once.
    PersonDoubleBooked,
    /// Two meetings use one room at once.
    RoomDoubleBooked,
    /// A meeting happens before its term starts or after it ends.
    OutsideTerm,
    /// A TA's office hours overlap a class they teach.
    OfficeHoursOverlapClass,
    /// A person is scheduled outside their availability or while away.
    PersonUnavailable,
    /// A section's enrollment exceeds its room's capacity.
    RoomTooSmall,
    /// A meeting names a room, person or term that does not exist.
    UnknownReference,
}

/// One conflict, reported once per pair of meetings (or per meeting).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The kind.
    pub kind: ConflictKind,
    /// The room or person concerned, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The (first) meeting or block concerned.
    pub a: Slot,
    /// The other one, for double bookings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<Slot>,
    /// On how many occurrences it happens.
    pub occurrences: u32,
    /// The first affected occurrence's start, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<Timestamp>,
    /// The first affected occurrence's date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_date: Option<Date>,
    /// A sentence for people.
    pub message: String,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Conflict {
    /// Whether this conflict involves course `course`.
    pub fn involves(&self, course: &str) -> bool {
        let of = |s: &Slot| match s {
            Slot::Meeting { course: c, .. } | Slot::OfficeHours { course: c, .. } => c == course,
        };
        of(&self.a) || self.b.as_ref().is_some_and(of)
    }
}

/// A meeting or block to expand: its slot, when, room, people and section enrollment.
type Entry<'a> = (
    Slot,
    &'a Recurrence,
    Option<&'a String>,
    Vec<&'a String>,
    Option<u32>,
);

struct Item {
    start: Timestamp,
    end: Timestamp,
    slot: u32,
    date: Date,
}

#[derive(Default)]
struct Acc {
    count: u32,
    first: Option<(Timestamp, Date)>,
}

impl Acc {
    fn add(&mut self, at: Timestamp, date: Date) {
        self.count += 1;
        if self.first.is_none_or(|(t, _)| at < t) {
            self.first = Some((at, date));
        }
    }
}

/// Finds every conflict in `t`, in a stable order (kind, resource, meetings).
pub fn check(t: &Timetable) -> Vec<Conflict> {
    let mut zones = match Zones::new(&t.time_zone) {
        Ok(z) => z,
        Err(_) => Zones::new("UTC").expect("UTC is always known"),
    };
    let mut slots: Vec<Slot> = Vec::new();
    let mut is_oh: Vec<bool> = Vec::new();
    let mut rooms: HashMap<&str, Vec<Item>> = HashMap::new();
    let mut people: HashMap<&str, Vec<Item>> = HashMap::new();
    let mut out: Vec<Conflict> = Vec::new();
    let mut singles: HashMap<(ConflictKind, Option<String>, u32), Acc> = HashMap::new();

    for course in t.courses.values() {
        let holidays = t.holidays_of(course);
        let term = course.term.as_ref().and_then(|id| t.terms.get(id));
        if let Some(id) = &course.term
            && term.is_none()
        {
            out.push(Conflict {
                kind: ConflictKind::UnknownReference,
                resource: Some(id.clone()),
                a: first_slot(course),
                b: None,
                occurrences: 0,
                first: None,
                first_date: None,
                message: format!(
                    "course {} names term {id:?}, which does not exist",
                    course.id
                ),
            });
        }
        let mut entries: Vec<Entry<'_>> = Vec::new();
        for section in &course.sections {
            for m in &section.meetings {
                let mut who: Vec<&String> = m.instructors.iter().collect();
                who.sort();
                who.dedup();
                entries.push((
                    Slot::Meeting {
                        course: course.id.clone(),
                        section: section.id.clone(),
                        meeting: m.id.clone(),
                    },
                    &m.when,
                    m.room.as_ref(),
                    who,
                    section.enrollment,
                ));
            }
        }
        for b in &course.office_hours {
            entries.push((
                Slot::OfficeHours {
                    course: course.id.clone(),
                    block: b.id.clone(),
                    ta: b.ta.clone(),
                },
                &b.when,
                b.room.as_ref(),
                vec![&b.ta],
                None,
            ));
        }
        for (slot, when, room, who, enrollment) in entries {
            let index = slots.len() as u32;
            let oh = matches!(slot, Slot::OfficeHours { .. });
            let occurrences: Vec<Occurrence> = zones.occurrences(when, &holidays).collect();
            let tz = zones.get(when.time_zone.as_deref());
            if let Some(term) = term {
                for o in &occurrences {
                    if !term.dates.contains(o.date) {
                        singles
                            .entry((ConflictKind::OutsideTerm, Some(term.id.clone()), index))
                            .or_default()
                            .add(o.start, o.date);
                    }
                }
            }
            if let Some(room_id) = room {
                match t.rooms.get(room_id) {
                    None => {
                        singles
                            .entry((ConflictKind::UnknownReference, Some(room_id.clone()), index))
                            .or_default();
                    }
                    Some(r) => {
                        if let (Some(cap), Some(n)) = (r.capacity, enrollment)
                            && n > cap
                        {
                            let acc = singles
                                .entry((ConflictKind::RoomTooSmall, Some(room_id.clone()), index))
                                .or_default();
                            if let Some(o) = occurrences.first() {
                                acc.first = Some((o.start, o.date));
                            }
                            acc.count = occurrences.len() as u32;
                        }
                        let list = rooms.entry(room_id.as_str()).or_default();
                        list.extend(occurrences.iter().map(|o| Item {
                            start: o.start,
                            end: o.end,
                            slot: index,
                            date: o.date,
                        }));
                    }
                }
            }
            for person_id in who {
                match t.people.get(person_id) {
                    None => {
                        singles
                            .entry((
                                ConflictKind::UnknownReference,
                                Some(person_id.clone()),
                                index,
                            ))
                            .or_default();
                    }
                    Some(p) => {
                        let a = &p.availability;
                        if !a.weekly.is_empty() || !a.away.is_empty() {
                            for o in &occurrences {
                                let away = a.away.iter().any(|r: &DateRange| r.contains(o.date));
                                let start = Zones::civil(&tz, o.start);
                                let end = Zones::civil(&tz, o.end);
                                let inside = a.weekly.is_empty()
                                    || a.weekly.iter().any(|w| {
                                        w.days.contains(o.date.weekday())
                                            && w.start <= start.time()
                                            && end.time() <= w.end
                                            && start.date() == end.date()
                                    });
                                if away || !inside {
                                    singles
                                        .entry((
                                            ConflictKind::PersonUnavailable,
                                            Some(person_id.clone()),
                                            index,
                                        ))
                                        .or_default()
                                        .add(o.start, o.date);
                                }
                            }
                        }
                        let list = people.entry(person_id.as_str()).or_default();
                        list.extend(occurrences.iter().map(|o| Item {
                            start: o.start,
                            end: o.end,
                            slot: index,
                            date: o.date,
                        }));
                    }
                }
            }
            slots.push(slot);
            is_oh.push(oh);
        }
    }

    let mut pairs: HashMap<(ConflictKind, &str, u32, u32), Acc> = HashMap::new();
    for (room, mut items) in rooms {
        sweep(&mut items, |a, b, at, date| {
            pairs
                .entry((ConflictKind::RoomDoubleBooked, room, a, b))
                .or_default()
                .add(at, date);
        });
    }
    for (person, mut items) in people {
        sweep(&mut items, |a, b, at, date| {
            let kind = match (is_oh[a as usize], is_oh[b as usize]) {
                (true, false) | (false, true) => ConflictKind::OfficeHoursOverlapClass,
                _ => ConflictKind::PersonDoubleBooked,
            };
            pairs.entry((kind, person, a, b)).or_default().add(at, date);
        });
    }

    for ((kind, resource, a, b), acc) in pairs {
        let (sa, sb) = (&slots[a as usize], &slots[b as usize]);
        // Office hours first in the pair, so the message reads "TA's office hours overlap …".
        let (sa, sb) = if kind == ConflictKind::OfficeHoursOverlapClass && !is_oh[a as usize] {
            (sb, sa)
        } else {
            (sa, sb)
        };
        let when = describe_first(&acc);
        let message = match kind {
            ConflictKind::RoomDoubleBooked => format!(
                "room {resource} is double-booked: {sa} and {sb} overlap on {} date(s){when}",
                acc.count
            ),
            ConflictKind::OfficeHoursOverlapClass => format!(
                "{resource}'s {sa} overlap {sb}, which they teach, on {} date(s){when}",
                acc.count
            ),
            _ => format!(
                "{resource} is in two places at once: {sa} and {sb} overlap on {} date(s){when}",
                acc.count
            ),
        };
        out.push(Conflict {
            kind,
            resource: Some(resource.to_owned()),
            a: sa.clone(),
            b: Some(sb.clone()),
            occurrences: acc.count,
            first: acc.first.map(|f| f.0),
            first_date: acc.first.map(|f| f.1),
            message,
        });
    }
    for ((kind, resource, a), acc) in singles {
        let slot = &slots[a as usize];
        let r = resource.clone().unwrap_or_default();
        let when = describe_first(&acc);
        let message = match kind {
            ConflictKind::OutsideTerm => format!(
                "{slot} meets outside term {r} on {} date(s){when}",
                acc.count
            ),
            ConflictKind::PersonUnavailable => format!(
                "{r} is not available for {slot} on {} date(s){when}",
                acc.count
            ),
            ConflictKind::RoomTooSmall => {
                let cap = t.rooms.get(&r).and_then(|room| room.capacity).unwrap_or(0);
                format!("{slot}: room {r} seats {cap}, fewer than the section's enrollment")
            }
            _ => format!("{slot} refers to {r:?}, which is not in the timetable"),
        };
        out.push(Conflict {
            kind,
            resource,
            a: slot.clone(),
            b: None,
            occurrences: acc.count,
            first: acc.first.map(|f| f.0),
            first_date: acc.first.map(|f| f.1),
            message,
        });
    }
    out.sort_by(|x, y| (x.kind, &x.resource, &x.a, &x.b).cmp(&(y.kind, &y.resource, &y.a, &y.b)));
    out
}

fn describe_first(acc: &Acc) -> String {
    acc.first
        .map(|(_, d)| format!(", first on {d}"))
        .unwrap_or_default()
}

fn first_slot(course: &Course) -> Slot {
    course
        .sections
        .iter()
        .find_map(|s| {
            s.meetings.first().map(|m| Slot::Meeting {
                course: course.id.clone(),
                section: s.id.clone(),
                meeting: m.id.clone(),
            })
        })
        .unwrap_or(Slot::Meeting {
            course: course.id.clone(),
            section: String::new(),
            meeting: String::new(),
        })
}

/// Sorts `items` by start and calls `pair(a, b, start, date)` (with `a < b`) for every two
/// items of different slots that overlap, at the later one's start.
fn sweep(items: &mut [Item], mut pair: impl FnMut(u32, u32, Timestamp, Date)) {
    items.sort_unstable_by_key(|i| (i.start, i.end, i.slot));
    let mut active: Vec<usize> = Vec::new();
    for i in 0..items.len() {
        let (start, slot) = (items[i].start, items[i].slot);
        active.retain(|&j| items[j].end > start);
        for &j in &active {
            let other = items[j].slot;
            if other != slot {
                let (a, b) = if other < slot {
                    (other, slot)
                } else {
                    (slot, other)
                };
                pair(a, b, start, items[i].date);
            }
        }
        active.push(i);
    }
}
