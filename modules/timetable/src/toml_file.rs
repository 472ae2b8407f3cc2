//! The timetable file: a TOML description of terms, rooms, people and courses, named by
//! `[modules.timetable] file` in `config.toml` and read by `classpulse timetable import|check`.
//!
//! Every error names the line and the key at fault (`line 14, key
//! courses[CS101].sections[L1].meetings[1].room: no room "SCI-999"`), for syntax errors, wrong
//! types and unknown keys (from the TOML parser's span) as well as for references and times
//! that do not make sense (from the spans kept on the raw values). The format, by example:
//!
//! ```toml
//! [[terms]]
//! id = "fa26"
//! name = "Fall 2026"
//! start = 2026-08-31                      # a TOML date, or "2026-08-31"
//! end = 2026-12-18
//! holidays = [{ name = "Labor Day", date = 2026-09-07 },
//!             { name = "Thanksgiving", from = 2026-11-25, until = 2026-11-27 }]
//!
//! [[rooms]]
//! id = "SCI-101"
//! capacity = 120
//!
//! [[people]]
//! id = "ada"
//! name = "Ada Lovelace"
//! role = "instructor"                     # instructor | ta | staff
//! available = [{ days = "MTWRF", start = "08:00", end = "18:00" }]
//! away = [{ from = 2026-10-12, until = 2026-10-16 }]
//!
//! [[courses]]
//! id = "CS101"
//! title = "Intro to CS"
//! term = "fa26"
//! office_hours_mode = "automatic"         # automatic | reminder (default: config)
//!
//! [[courses.sections]]
//! id = "L1"
//! kind = "lecture"                        # lecture | discussion | lab | other
//! enrollment = 100
//!
//! [[courses.sections.meetings]]
//! days = "MWF"                            # M T W R F S U, or ["mon", "wed"]
//! start = "09:00"
//! end = "09:50"
//! room = "SCI-101"
//! instructors = ["ada"]
//! # optional: id, from, until (default: the term), every = 2 (weeks), except = [dates],
//! # time_zone = "Europe/Paris" (default: the institution's)
//!
//! [[courses.office_hours]]
//! ta = "grace"
//! days = "TR"
//! start = "14:00"
//! end = "16:00"
//! location = "Zoom"
//! ```

use crate::model::{
    Availability, Course, DutyMode, Holiday, Meeting, OfficeHours, Person, Role, Room, Section,
    SectionKind, Term, Timetable, Window,
};
use crate::recur::{DateRange, Days, Freq, MAX_SPAN_DAYS, Recurrence, day_number};
use jiff::civil::{Date, Time};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A problem in a timetable file, located.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}, key {key}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The key at fault, dotted (`courses[CS101].sections[L1].meetings[1].room`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// A timetable file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TimetableFileError {
    /// The file could not be read.
    #[error("cannot read timetable file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is malformed or inconsistent.
    #[error("invalid timetable file {}: {error}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where and what.
        error: ParseError,
    },
}

/// Reads and checks a timetable file; `time_zone` is the institution's.
///
/// # Errors
/// [`TimetableFileError`], naming the line and the key at fault.
pub fn load(path: &Path, time_zone: &str) -> Result<Timetable, TimetableFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TimetableFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, time_zone).map_err(|error| TimetableFileError::Invalid {
        path: path.to_owned(),
        error,
    })
}

/// Parses and checks timetable text; `time_zone` is the institution's.
///
/// # Errors
/// [`ParseError`] naming the line and the key at fault.
pub fn parse(text: &str, time_zone: &str) -> Result<Timetable, ParseError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let mut key = key_at(text, span.start);
        if let Some(missing) = e
            .message()
            .split("missing field `")
            .nth(1)
            .and_then(|m| m.split('`').next())
        {
            key = join_key(&key, missing);
        }
        at(text, span, key, e.message().trim().to_owned())
    })?;
    Builder {
        text,
        time_zone,
        out: Timetable {
            time_zone: time_zone.to_owned(),
            ..Timetable::default()
        },
    }
    .build(raw)
}

fn at(text: &str, span: Range<usize>, key: String, message: String) -> ParseError {
    let offset = span.start.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    ParseError {
        line,
        column,
        key,
        message,
    }
}

fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else if prefix.ends_with(key) {
        prefix.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn is_bare_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'"'))
}

/// The dotted key at byte `offset`: the enclosing table header, the line's key, and the key
/// inside an inline table when the offset is in one.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    if line.trim_start().starts_with('[') {
        return line
            .trim()
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_owned();
    }
    let header = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
        .unwrap_or_default();
    let mut keys: Vec<&str> = Vec::new();
    if let Some(eq) = line.find('=') {
        let k = line[..eq].trim();
        if is_bare_key(k) {
            keys.push(k);
        }
    }
    let before = &text[line_start..offset];
    if let Some(eq) = before.rfind('=') {
        let k = before[..eq].rsplit(['{', ',']).next().unwrap_or("").trim();
        if is_bare_key(k) && keys.last() != Some(&k) {
            keys.push(k);
        }
    }
    // The offset may point at a key itself (an unknown key).
    let token: &str = {
        let rest = &text[offset..line_end];
        let n = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
            .count();
        &rest[..n]
    };
    if !token.is_empty()
        && text[offset + token.len()..line_end]
            .trim_start()
            .starts_with('=')
        && keys.last() != Some(&token)
    {
        keys.push(token);
    }
    let mut key = header;
    for k in keys {
        key = join_key(&key, k.trim_matches('"'));
    }
    key
}

/// A date written as a TOML local date or a string.
#[derive(Clone, Copy, Debug)]
struct DateValue(Date);

impl<'de> Deserialize<'de> for DateValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match toml::Value::deserialize(d)? {
            toml::Value::String(s) => s,
            toml::Value::Datetime(dt) if dt.date.is_some() && dt.time.is_none() => dt.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a date like 2026-09-01, got {other}"
                )));
            }
        };
        text.trim()
            .parse::<Date>()
            .map(DateValue)
            .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a date: {e}")))
    }
}

/// A time written as a TOML local time or a string (`"09:30"`).
#[derive(Clone, Copy, Debug)]
struct TimeValue(Time);

impl<'de> Deserialize<'de> for TimeValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match toml::Value::deserialize(d)? {
            toml::Value::String(s) => s,
            toml::Value::Datetime(dt) if dt.date.is_none() && dt.time.is_some() => dt.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a time like \"09:30\", got {other}"
                )));
            }
        };
        text.trim()
            .parse::<Time>()
            .map(TimeValue)
            .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a time of day: {e}")))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    terms: Vec<RawTerm>,
    #[serde(default)]
    rooms: Vec<RawRoom>,
    #[serde(default)]
    people: Vec<RawPerson>,
    #[serde(default)]
    courses: Vec<RawCourse>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerm {
    id: Spanned<String>,
    #[serde(default)]
    name: String,
    start: Spanned<DateValue>,
    end: Spanned<DateValue>,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    #[serde(default)]
    name: String,
    date: Option<Spanned<DateValue>>,
    from: Option<Spanned<DateValue>>,
    until: Option<Spanned<DateValue>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoom {
    id: Spanned<String>,
    #[serde(default)]
    name: String,
    building: Option<String>,
    capacity: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    id: Spanned<String>,
    #[serde(default)]
    name: String,
    email: Option<String>,
    #[serde(default)]
    role: Role,
    #[serde(default)]
    available: Vec<RawWindow>,
    #[serde(default)]
    away: Vec<RawRange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    days: Days,
    start: Spanned<TimeValue>,
    end: Spanned<TimeValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    from: Spanned<DateValue>,
    until: Spanned<DateValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCourse {
    id: Spanned<String>,
    #[serde(default)]
    title: String,
    term: Option<Spanned<String>>,
    office_hours_mode: Option<DutyMode>,
    #[serde(default)]
    sections: Vec<RawSection>,
    #[serde(default)]
    office_hours: Vec<RawBlock>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    id: Spanned<String>,
    #[serde(default)]
    kind: SectionKind,
    enrollment: Option<u32>,
    #[serde(default)]
    meetings: Vec<RawMeeting>,
}

/// The timing keys meetings and office-hour blocks share.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeeting {
    id: Option<Spanned<String>>,
    days: Spanned<Days>,
    start: Spanned<TimeValue>,
    end: Spanned<TimeValue>,
    from: Option<Spanned<DateValue>>,
    until: Option<Spanned<DateValue>>,
    every: Option<Spanned<u32>>,
    #[serde(default)]
    except: Vec<DateValue>,
    time_zone: Option<Spanned<String>>,
    room: Option<Spanned<String>>,
    location: Option<String>,
    #[serde(default)]
    instructors: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlock {
    id: Option<Spanned<String>>,
    ta: Spanned<String>,
    days: Spanned<Days>,
    start: Spanned<TimeValue>,
    end: Spanned<TimeValue>,
    from: Option<Spanned<DateValue>>,
    until: Option<Spanned<DateValue>>,
    every: Option<Spanned<u32>>,
    #[serde(default)]
    except: Vec<DateValue>,
    time_zone: Option<Spanned<String>>,
    room: Option<Spanned<String>>,
    location: Option<String>,
}

/// The timing keys of a meeting or a block, borrowed.
struct When<'a> {
    days: &'a Spanned<Days>,
    start: &'a Spanned<TimeValue>,
    end: &'a Spanned<TimeValue>,
    from: Option<&'a Spanned<DateValue>>,
    until: Option<&'a Spanned<DateValue>>,
    every: Option<&'a Spanned<u32>>,
    except: &'a [DateValue],
    time_zone: Option<&'a Spanned<String>>,
}

struct Builder<'t> {
    text: &'t str,
    time_zone: &'t str,
    out: Timetable,
}

impl Builder<'_> {
    fn err(
        &self,
        span: Range<usize>,
        key: impl fmt::Display,
        message: impl Into<String>,
    ) -> ParseError {
        at(self.text, span, key.to_string(), message.into())
    }

    fn build(mut self, raw: RawFile) -> Result<Timetable, ParseError> {
        if jiff::tz::TimeZone::get(self.time_zone).is_err() {
            return Err(ParseError {
                line: 0,
                column: 0,
                key: "modules.timetable.time_zone".into(),
                message: format!("unknown time zone {:?}", self.time_zone),
            });
        }
        for (i, t) in raw.terms.iter().enumerate() {
            let key = format!("terms[{}]", t.id.get_ref());
            let dates = self.range(&key, &t.start, &t.end, "start", "end")?;
            let mut holidays = Vec::new();
            for (h_i, h) in t.holidays.iter().enumerate() {
                let hkey = format!("{key}.holidays[{h_i}]");
                let dates = match (&h.date, &h.from, &h.until) {
                    (Some(d), None, None) => DateRange {
                        from: d.get_ref().0,
                        until: d.get_ref().0,
                    },
                    (None, Some(f), Some(u)) => self.range(&hkey, f, u, "from", "until")?,
                    _ => {
                        return Err(self.err(
                            t.id.span(),
                            hkey,
                            "a holiday has either `date`, or `from` and `until`",
                        ));
                    }
                };
                holidays.push(Holiday {
                    name: h.name.clone(),
                    dates,
                });
            }
            let term = Term {
                id: t.id.get_ref().clone(),
                name: t.name.clone(),
                dates,
                holidays,
            };
            self.unique_id(
                &t.id,
                &format!("terms[{i}].id"),
                self.out.terms.contains_key(t.id.get_ref()),
            )?;
            self.out.terms.insert(term.id.clone(), term);
        }
        for (i, r) in raw.rooms.iter().enumerate() {
            self.unique_id(
                &r.id,
                &format!("rooms[{i}].id"),
                self.out.rooms.contains_key(r.id.get_ref()),
            )?;
            self.out.rooms.insert(
                r.id.get_ref().clone(),
                Room {
                    id: r.id.get_ref().clone(),
                    name: if r.name.is_empty() {
                        r.id.get_ref().clone()
                    } else {
                        r.name.clone()
                    },
                    building: r.building.clone(),
                    capacity: r.capacity,
                },
            );
        }
        for (i, p) in raw.people.iter().enumerate() {
            self.unique_id(
                &p.id,
                &format!("people[{i}].id"),
                self.out.people.contains_key(p.id.get_ref()),
            )?;
            let key = format!("people[{}]", p.id.get_ref());
            let mut availability = Availability::default();
            for (w_i, w) in p.available.iter().enumerate() {
                let (start, end) = (w.start.get_ref().0, w.end.get_ref().0);
                if end <= start {
                    return Err(self.err(
                        w.end.span(),
                        format!("{key}.available[{w_i}].end"),
                        format!("ends at {end} but starts at {start}"),
                    ));
                }
                availability.weekly.push(Window {
                    days: w.days,
                    start,
                    end,
                });
            }
            for (a_i, a) in p.away.iter().enumerate() {
                let range = self.range(
                    &format!("{key}.away[{a_i}]"),
                    &a.from,
                    &a.until,
                    "from",
                    "until",
                )?;
                availability.away.push(range);
            }
            self.out.people.insert(
                p.id.get_ref().clone(),
                Person {
                    id: p.id.get_ref().clone(),
                    name: p.name.clone(),
                    email: p.email.clone(),
                    role: p.role,
                    availability,
                },
            );
        }
        for (i, c) in raw.courses.iter().enumerate() {
            self.unique_id(
                &c.id,
                &format!("courses[{i}].id"),
                self.out.courses.contains_key(c.id.get_ref()),
            )?;
            let course = self.course(c)?;
            self.out.courses.insert(course.id.clone(), course);
        }
        Ok(self.out)
    }

    fn unique_id(&self, id: &Spanned<String>, key: &str, taken: bool) -> Result<(), ParseError> {
        let text = id.get_ref();
        if text.trim().is_empty() || text.contains(['|', '/', '\n']) {
            return Err(self.err(
                id.span(),
                key,
                "ids must be non-empty and contain no '|', '/' or newline",
            ));
        }
        if taken {
            return Err(self.err(id.span(), key, format!("{text:?} is defined twice")));
        }
        Ok(())
    }

    fn range(
        &self,
        key: &str,
        from: &Spanned<DateValue>,
        until: &Spanned<DateValue>,
        from_key: &str,
        until_key: &str,
    ) -> Result<DateRange, ParseError> {
        let (f, u) = (from.get_ref().0, until.get_ref().0);
        if u < f {
            return Err(self.err(
                until.span(),
                format!("{key}.{until_key}"),
                format!("{u} is before {from_key} {f}"),
            ));
        }
        Ok(DateRange { from: f, until: u })
    }

    fn course(&self, c: &RawCourse) -> Result<Course, ParseError> {
        let cid = c.id.get_ref();
        let key = format!("courses[{cid}]");
        let term = match &c.term {
            Some(t) => match self.out.terms.get(t.get_ref()) {
                Some(term) => Some(term),
                None => {
                    return Err(self.err(
                        t.span(),
                        format!("{key}.term"),
                        format!("no term {:?} (define it under [[terms]])", t.get_ref()),
                    ));
                }
            },
            None => None,
        };
        let mut course = Course {
            id: cid.clone(),
            title: c.title.clone(),
            term: term.map(|t| t.id.clone()),
            office_hours_mode: c.office_hours_mode,
            sections: Vec::new(),
            office_hours: Vec::new(),
        };
        let mut section_ids = BTreeSet::new();
        for (s_i, s) in c.sections.iter().enumerate() {
            self.unique_id(
                &s.id,
                &format!("{key}.sections[{s_i}].id"),
                !section_ids.insert(s.id.get_ref().clone()),
            )?;
            let skey = format!("{key}.sections[{}]", s.id.get_ref());
            let mut section = Section {
                id: s.id.get_ref().clone(),
                kind: s.kind,
                enrollment: s.enrollment,
                meetings: Vec::new(),
            };
            let mut meeting_ids = BTreeSet::new();
            for (m_i, m) in s.meetings.iter().enumerate() {
                let id =
                    m.id.as_ref()
                        .map_or_else(|| format!("m{}", m_i + 1), |i| i.get_ref().clone());
                let mkey = format!("{skey}.meetings[{m_i}]");
                if let Some(sid) = &m.id {
                    self.unique_id(sid, &format!("{mkey}.id"), meeting_ids.contains(&id))?;
                }
                meeting_ids.insert(id.clone());
                let when = self.when(
                    &mkey,
                    term,
                    &When {
                        days: &m.days,
                        start: &m.start,
                        end: &m.end,
                        from: m.from.as_ref(),
                        until: m.until.as_ref(),
                        every: m.every.as_ref(),
                        except: &m.except,
                        time_zone: m.time_zone.as_ref(),
                    },
                )?;
                let room = self.room(&mkey, m.room.as_ref())?;
                let mut instructors = Vec::new();
                for (p_i, p) in m.instructors.iter().enumerate() {
                    if !self.out.people.contains_key(p.get_ref()) {
                        return Err(self.err(
                            p.span(),
                            format!("{mkey}.instructors[{p_i}]"),
                            format!("no person {:?} (define them under [[people]])", p.get_ref()),
                        ));
                    }
                    instructors.push(p.get_ref().clone());
                }
                section.meetings.push(Meeting {
                    id,
                    when,
                    room,
                    location: m.location.clone(),
                    instructors,
                });
            }
            course.sections.push(section);
        }
        let mut block_ids = BTreeSet::new();
        for (b_i, b) in c.office_hours.iter().enumerate() {
            let id =
                b.id.as_ref()
                    .map_or_else(|| format!("oh{}", b_i + 1), |i| i.get_ref().clone());
            let bkey = format!("{key}.office_hours[{b_i}]");
            if let Some(bid) = &b.id {
                self.unique_id(bid, &format!("{bkey}.id"), block_ids.contains(&id))?;
            }
            block_ids.insert(id.clone());
            if !self.out.people.contains_key(b.ta.get_ref()) {
                return Err(self.err(
                    b.ta.span(),
                    format!("{bkey}.ta"),
                    format!(
                        "no person {:?} (define them under [[people]])",
                        b.ta.get_ref()
                    ),
                ));
            }
            let when = self.when(
                &bkey,
                term,
                &When {
                    days: &b.days,
                    start: &b.start,
                    end: &b.end,
                    from: b.from.as_ref(),
                    until: b.until.as_ref(),
                    every: b.every.as_ref(),
                    except: &b.except,
                    time_zone: b.time_zone.as_ref(),
                },
            )?;
            course.office_hours.push(OfficeHours {
                id,
                ta: b.ta.get_ref().clone(),
                when,
                room: self.room(&bkey, b.room.as_ref())?,
                location: b.location.clone(),
            });
        }
        Ok(course)
    }

    fn room(
        &self,
        key: &str,
        room: Option<&Spanned<String>>,
    ) -> Result<Option<String>, ParseError> {
        let Some(room) = room else { return Ok(None) };
        if !self.out.rooms.contains_key(room.get_ref()) {
            return Err(self.err(
                room.span(),
                format!("{key}.room"),
                format!(
                    "no room {:?} (define it under [[rooms]], or use `location` for free text)",
                    room.get_ref()
                ),
            ));
        }
        Ok(Some(room.get_ref().clone()))
    }

    fn when(&self, key: &str, term: Option<&Term>, w: &When<'_>) -> Result<Recurrence, ParseError> {
        let (start, end) = (w.start.get_ref().0, w.end.get_ref().0);
        if end <= start {
            return Err(self.err(
                w.end.span(),
                format!("{key}.end"),
                format!(
                    "ends at {end} but starts at {start}: the end must be later on the same day"
                ),
            ));
        }
        if w.days.get_ref().is_empty() {
            return Err(self.err(w.days.span(), format!("{key}.days"), "no days given"));
        }
        let from = match (w.from, term) {
            (Some(f), _) => f.get_ref().0,
            (None, Some(t)) => t.dates.from,
            (None, None) => {
                return Err(self.err(
                    w.start.span(),
                    format!("{key}.from"),
                    "the course has no term: give `from` and `until`",
                ));
            }
        };
        let until = match (w.until, term) {
            (Some(u), _) => u.get_ref().0,
            (None, Some(t)) => t.dates.until,
            (None, None) => {
                return Err(self.err(
                    w.start.span(),
                    format!("{key}.until"),
                    "the course has no term: give `from` and `until`",
                ));
            }
        };
        if until < from {
            let span = w.until.or(w.from).map_or(w.start.span(), Spanned::span);
            return Err(self.err(
                span,
                format!("{key}.until"),
                format!("{until} is before from {from}"),
            ));
        }
        if day_number(until) - day_number(from) > MAX_SPAN_DAYS {
            let span = w.until.or(w.from).map_or(w.start.span(), Spanned::span);
            return Err(self.err(
                span,
                format!("{key}.until"),
                format!("{from}..{until} is longer than {MAX_SPAN_DAYS} days"),
            ));
        }
        let interval = match w.every {
            Some(e) if *e.get_ref() == 0 => {
                return Err(self.err(
                    e.span(),
                    format!("{key}.every"),
                    "must be at least 1 (week)",
                ));
            }
            Some(e) => *e.get_ref(),
            None => 1,
        };
        if let Some(tz) = w.time_zone
            && jiff::tz::TimeZone::get(tz.get_ref()).is_err()
        {
            return Err(self.err(
                tz.span(),
                format!("{key}.time_zone"),
                format!("unknown time zone {:?}", tz.get_ref()),
            ));
        }
        Ok(Recurrence {
            freq: Freq::Weekly,
            interval,
            days: *w.days.get_ref(),
            start,
            end,
            from,
            until,
            count: None,
            except: w.except.iter().map(|d| d.0).collect(),
            time_zone: w.time_zone.map(|t| t.get_ref().clone()),
        })
    }
}
