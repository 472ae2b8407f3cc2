//! iCalendar (RFC 5545), both ways: a small parser for importing course calendars
//! (`classpulse timetable import file.ics --course C`), and the writer behind the `.ics`
//! endpoints people subscribe to.
//!
//! The parser unfolds lines, splits properties into name, parameters (quoted values allowed)
//! and value, unescapes text, and nests components. The import reads `VEVENT`s: `DTSTART` /
//! `DTEND` (or `DURATION`) with a `TZID`, in UTC or floating; `RRULE` with `FREQ=WEEKLY|DAILY`,
//! `BYDAY`, `INTERVAL`, `UNTIL` and `COUNT`; `EXDATE`s; `RECURRENCE-ID` overrides (the master
//! skips that date, the override becomes a one-off meeting); `STATUS:CANCELLED`. Unknown
//! properties are ignored; events it cannot represent (monthly rules, all-day events) are
//! skipped with a warning rather than imported wrongly.

use crate::model::{OfficeHours, Section, SectionKind, Timetable};
use crate::recur::{Days, Freq, Recurrence, Zones, date_of_day, day_number, parse_day_name};
use classpulse_core::event::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// A malformed calendar.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct IcalError {
    /// 1-based line (of the first physical line of the property).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One content line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    /// Name, upper-cased (`DTSTART`).
    pub name: String,
    /// Parameters, names upper-cased, values unquoted (`TZID` → `America/New_York`).
    pub params: Vec<(String, String)>,
    /// The raw value (not unescaped; see [`unescape`]).
    pub value: String,
    /// 1-based line where it starts.
    pub line: usize,
}

impl Property {
    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A component (`VCALENDAR`, `VEVENT`, ...) with its properties and sub-components.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Component {
    /// Name, upper-cased.
    pub name: String,
    /// Properties in order.
    pub properties: Vec<Property>,
    /// Nested components.
    pub components: Vec<Component>,
    /// Line of its `BEGIN`.
    pub line: usize,
}

impl Component {
    /// The first property named `name`.
    pub fn prop(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// Every property named `name`.
    pub fn props<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Property> + 'a {
        self.properties.iter().filter(move |p| p.name == name)
    }

    /// Every component named `name`, at any depth.
    pub fn find_all<'a>(&'a self, name: &str, out: &mut Vec<&'a Component>) {
        for c in &self.components {
            if c.name == name {
                out.push(c);
            }
            c.find_all(name, out);
        }
    }
}

/// Parses calendar text into its top-level components.
///
/// # Errors
/// [`IcalError`] for a line that is not `NAME[;PARAM=VALUE]*:VALUE`, or unbalanced
/// `BEGIN`/`END`.
pub fn parse(text: &str) -> Result<Vec<Component>, IcalError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Unfold: a line starting with a space or tab continues the previous one.
    let mut logical: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix([' ', '\t'])
            && let Some((_, last)) = logical.last_mut()
        {
            last.push_str(rest);
            continue;
        }
        if !raw.trim().is_empty() {
            logical.push((i + 1, raw.to_owned()));
        }
    }
    let mut stack: Vec<Component> = vec![Component::default()];
    for (line, content) in logical {
        let prop = content_line(&content, line)?;
        match prop.name.as_str() {
            "BEGIN" => stack.push(Component {
                name: prop.value.trim().to_ascii_uppercase(),
                line,
                ..Component::default()
            }),
            "END" => {
                let name = prop.value.trim().to_ascii_uppercase();
                if stack.len() < 2 || stack.last().map(|c| c.name.as_str()) != Some(name.as_str()) {
                    return Err(IcalError {
                        line,
                        message: format!("END:{name} without a matching BEGIN:{name}"),
                    });
                }
                let done = stack.pop().expect("checked above");
                stack.last_mut().expect("root stays").components.push(done);
            }
            _ => match stack.len() {
                n if n > 1 => stack[n - 1].properties.push(prop),
                _ => {
                    return Err(IcalError {
                        line,
                        message: format!("property {} outside any BEGIN/END", prop.name),
                    });
                }
            },
        }
    }
    if stack.len() > 1 {
        let open = stack.last().expect("non-empty");
        return Err(IcalError {
            line: open.line,
            message: format!("BEGIN:{} is never closed", open.name),
        });
    }
    Ok(stack.pop().map(|c| c.components).unwrap_or_default())
}

fn content_line(s: &str, line: usize) -> Result<Property, IcalError> {
    let err = |message: String| IcalError { line, message };
    let mut in_quotes = false;
    let mut colon = None;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ':' if !in_quotes => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon.ok_or_else(|| err(format!("not a property line (no ':'): {s:?}")))?;
    let (head, value) = (&s[..colon], &s[colon + 1..]);
    let mut parts = split_unquoted(head, ';').into_iter();
    let name = parts.next().unwrap_or_default().trim().to_ascii_uppercase();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(err(format!("bad property name {name:?}")));
    }
    let mut params = Vec::new();
    for p in parts {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| err(format!("parameter {p:?} of {name} has no '='")))?;
        params.push((
            k.trim().to_ascii_uppercase(),
            v.trim().trim_matches('"').to_owned(),
        ));
    }
    Ok(Property {
        name,
        params,
        value: value.to_owned(),
        line,
    })
}

fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '"' {
            in_quotes = !in_quotes;
        } else if c == sep && !in_quotes {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

/// Unescapes a TEXT value (`\n`, `\,`, `\;`, `\\`).
pub fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Escapes a TEXT value.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A DATE or DATE-TIME value.
#[derive(Clone, Debug, PartialEq)]
enum When {
    /// `VALUE=DATE`.
    Date(Date),
    /// A wall-clock time in a zone (`TZID`, or the institution's when floating).
    Local(DateTime, TimeZone),
    /// UTC (`...Z`).
    Utc(jiff::Timestamp),
}

fn parse_date(s: &str) -> Option<Date> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Date::new(
        s[..4].parse().ok()?,
        s[4..6].parse().ok()?,
        s[6..8].parse().ok()?,
    )
    .ok()
}

fn parse_time(s: &str) -> Option<Time> {
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Time::new(
        s[..2].parse().ok()?,
        s[2..4].parse().ok()?,
        s[4..6].parse().ok()?,
        0,
    )
    .ok()
}

fn zone_of(tzid: Option<&str>, zones: &Zones, line: usize) -> Result<TimeZone, IcalError> {
    match tzid {
        None => Ok(TimeZone::get(zones.default_name()).unwrap_or(TimeZone::UTC)),
        Some(id) => {
            let id = id.trim_start_matches('/');
            TimeZone::get(id).map_err(|_| IcalError {
                line,
                message: format!("TZID {id:?} is not an IANA time zone name"),
            })
        }
    }
}

fn parse_when(
    value: &str,
    tzid: Option<&str>,
    zones: &Zones,
    line: usize,
) -> Result<When, IcalError> {
    let bad = || IcalError {
        line,
        message: format!("{value:?} is not a DATE or DATE-TIME"),
    };
    let value = value.trim();
    if let Some(d) = parse_date(value) {
        return Ok(When::Date(d));
    }
    let (date, rest) = value.split_once('T').ok_or_else(bad)?;
    let date = parse_date(date).ok_or_else(bad)?;
    let (time, utc) = match rest.strip_suffix('Z') {
        Some(t) => (t, true),
        None => (rest, false),
    };
    let time = parse_time(time).ok_or_else(bad)?;
    let dt = date.to_datetime(time);
    if utc {
        let ts = TimeZone::UTC.to_timestamp(dt).map_err(|_| bad())?;
        return Ok(When::Utc(ts));
    }
    Ok(When::Local(dt, zone_of(tzid, zones, line)?))
}

/// `when` as a wall-clock time in `tz`.
fn in_zone(when: &When, tz: &TimeZone) -> Option<DateTime> {
    match when {
        When::Date(_) => None,
        When::Local(dt, zone) => {
            if zone == tz {
                Some(*dt)
            } else {
                zone.to_timestamp(*dt).ok().map(|ts| tz.to_datetime(ts))
            }
        }
        When::Utc(ts) => Some(tz.to_datetime(*ts)),
    }
}

/// Parses an iCalendar DURATION (`PT1H15M`, `P1D`, `P1W`) into seconds.
fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let s = s.strip_prefix('P')?;
    let mut secs = 0i64;
    let mut num = String::new();
    let mut in_time = false;
    for c in s.chars() {
        match c {
            '0'..='9' => num.push(c),
            'T' => in_time = true,
            'W' | 'D' | 'H' | 'M' | 'S' => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                secs += n * match (c, in_time) {
                    ('W', _) => 604_800,
                    ('D', _) => 86_400,
                    ('H', true) => 3_600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
            }
            _ => return None,
        }
    }
    if !num.is_empty() {
        return None;
    }
    Some(if neg { -secs } else { secs })
}

/// What importing a calendar for one course produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IcsImport {
    /// Sections with their meetings (one section per distinct summary).
    pub sections: Vec<Section>,
    /// Office-hour blocks (events whose summary or categories say "office hours").
    pub office_hours: Vec<OfficeHours>,
    /// Events skipped or simplified, with their line.
    pub warnings: Vec<String>,
}

/// Imports the `VEVENT`s of `text` as the sessions and office hours of `course_id`.
/// `timetable` gives the institution's zone, the rooms (a `LOCATION` equal to a room's id or
/// name becomes that room), the people (an `ORGANIZER`/`ATTENDEE` whose e-mail or name
/// matches becomes an instructor; `X-CLASSPULSE-TA` or a matching attendee is an office-hour
/// block's TA) and the course's term (the end of open-ended rules).
///
/// # Errors
/// [`IcalError`] when the calendar is malformed.
pub fn import(text: &str, course_id: &str, timetable: &Timetable) -> Result<IcsImport, IcalError> {
    let zones = Zones::new(&timetable.time_zone)
        .unwrap_or_else(|_| Zones::new("UTC").expect("UTC is known"));
    let top = parse(text)?;
    let mut events = Vec::new();
    for c in &top {
        if c.name == "VEVENT" {
            events.push(c);
        }
        c.find_all("VEVENT", &mut events);
    }
    let term = timetable
        .courses
        .get(course_id)
        .and_then(|c| c.term.as_ref())
        .and_then(|t| timetable.terms.get(t));
    let mut out = IcsImport::default();
    // RECURRENCE-ID overrides: (uid, date) that the master must skip.
    let mut overridden: BTreeSet<(String, Date)> = BTreeSet::new();
    for ev in &events {
        if let (Some(uid), Some(rid)) = (ev.prop("UID"), ev.prop("RECURRENCE-ID"))
            && let Ok(when) = parse_when(&rid.value, rid.param("TZID"), &zones, rid.line)
        {
            let date = match &when {
                When::Date(d) => *d,
                When::Local(dt, _) => dt.date(),
                When::Utc(ts) => zones_default(&zones).to_datetime(*ts).date(),
            };
            overridden.insert((uid.value.trim().to_owned(), date));
        }
    }
    let mut meeting_ids: BTreeSet<String> = BTreeSet::new();
    for (n, ev) in events.iter().enumerate() {
        let line = ev.line;
        let summary = ev
            .prop("SUMMARY")
            .map(|p| unescape(&p.value))
            .unwrap_or_default();
        let label = if summary.is_empty() {
            format!("event at line {line}")
        } else {
            format!("{summary:?} (line {line})")
        };
        if ev
            .prop("STATUS")
            .is_some_and(|s| s.value.trim().eq_ignore_ascii_case("CANCELLED"))
        {
            out.warnings.push(format!("{label}: cancelled, skipped"));
            continue;
        }
        let Some(start_prop) = ev.prop("DTSTART") else {
            out.warnings.push(format!("{label}: no DTSTART, skipped"));
            continue;
        };
        let start_when = parse_when(
            &start_prop.value,
            start_prop.param("TZID"),
            &zones,
            start_prop.line,
        )?;
        let (tz, tz_name) = match &start_when {
            When::Date(_) => {
                out.warnings
                    .push(format!("{label}: an all-day event, skipped"));
                continue;
            }
            When::Local(_, zone) => (zone.clone(), zone.iana_name().map(str::to_owned)),
            When::Utc(_) => (zones_default(&zones), None),
        };
        let Some(start) = in_zone(&start_when, &tz) else {
            continue;
        };
        let end = if let Some(p) = ev.prop("DTEND") {
            let w = parse_when(&p.value, p.param("TZID"), &zones, p.line)?;
            in_zone(&w, &tz)
        } else if let Some(p) = ev.prop("DURATION") {
            let secs = parse_duration(&p.value).ok_or_else(|| IcalError {
                line: p.line,
                message: format!("{:?} is not a DURATION", p.value),
            })?;
            start
                .checked_add(jiff::SignedDuration::from_secs(secs))
                .ok()
        } else {
            None
        };
        let Some(end) = end else {
            out.warnings
                .push(format!("{label}: no DTEND or DURATION, skipped"));
            continue;
        };
        if end.date() != start.date() || end.time() <= start.time() {
            out.warnings.push(format!(
                "{label}: does not end later on the day it starts, skipped"
            ));
            continue;
        }
        let uid = ev
            .prop("UID")
            .map(|p| p.value.trim().to_owned())
            .unwrap_or_default();
        let mut rec = Recurrence::weekly(
            Days::of(start.date().weekday()),
            start.time(),
            end.time(),
            start.date(),
            start.date(),
        );
        rec.time_zone = tz_name.filter(|n| n != zones.default_name());
        if ev.prop("RECURRENCE-ID").is_none() {
            if let Some(rrule) = ev.prop("RRULE") {
                match apply_rrule(&mut rec, &rrule.value, &tz, &zones, rrule.line)? {
                    Ok(()) => {}
                    Err(why) => {
                        out.warnings.push(format!("{label}: {why}, skipped"));
                        continue;
                    }
                }
                if rec.until == Date::MAX {
                    // Open-ended: run to the end of the course's term, or a year.
                    rec.until = term
                        .map(|t| t.dates.until)
                        .unwrap_or_else(|| date_of_day(day_number(rec.from) + 365))
                        .max(rec.from);
                    out.warnings.push(format!(
                        "{label}: repeats forever; imported until {}",
                        rec.until
                    ));
                }
            }
            if ev.prop("RDATE").is_some() {
                out.warnings.push(format!(
                    "{label}: RDATE is not supported; extra dates ignored"
                ));
            }
            for ex in ev.props("EXDATE") {
                for v in ex.value.split(',') {
                    let w = parse_when(v, ex.param("TZID"), &zones, ex.line)?;
                    let date = match &w {
                        When::Date(d) => Some(*d),
                        other => in_zone(other, &tz).map(|dt| dt.date()),
                    };
                    rec.except.extend(date);
                }
            }
            for (u, d) in overridden.range((uid.clone(), Date::MIN)..=(uid.clone(), Date::MAX)) {
                if *u == uid {
                    rec.except.insert(*d);
                }
            }
        }
        if let Err(why) = rec.validate() {
            out.warnings.push(format!("{label}: {why}, skipped"));
            continue;
        }
        let mut id = sanitize(if uid.is_empty() {
            format!("ics-{}", n + 1)
        } else {
            uid.clone()
        });
        if ev.prop("RECURRENCE-ID").is_some() || meeting_ids.contains(&id) {
            id = format!("{id}-{}", start.date());
        }
        while meeting_ids.contains(&id) {
            id.push('+');
        }
        meeting_ids.insert(id.clone());
        let location = ev
            .prop("LOCATION")
            .map(|p| unescape(&p.value))
            .filter(|l| !l.trim().is_empty());
        let room = location.as_ref().and_then(|l| {
            timetable
                .rooms
                .values()
                .find(|r| {
                    r.id.eq_ignore_ascii_case(l.trim()) || r.name.eq_ignore_ascii_case(l.trim())
                })
                .map(|r| r.id.clone())
        });
        let location = if room.is_some() { None } else { location };
        let categories: String = ev
            .props("CATEGORIES")
            .map(|p| unescape(&p.value))
            .collect::<Vec<_>>()
            .join(",");
        let people = people_of(ev, timetable);
        let is_oh = [summary.as_str(), categories.as_str()]
            .iter()
            .any(|t| t.to_ascii_lowercase().contains("office hour"));
        if is_oh {
            let ta = ev
                .prop("X-CLASSPULSE-TA")
                .map(|p| unescape(&p.value).trim().to_owned())
                .filter(|t| timetable.people.contains_key(t))
                .or_else(|| people.first().cloned());
            let Some(ta) = ta else {
                out.warnings.push(format!("{label}: office hours without a known TA (X-CLASSPULSE-TA or an attendee in the people list), skipped"));
                continue;
            };
            out.office_hours.push(OfficeHours {
                id,
                ta,
                when: rec,
                room,
                location,
            });
            continue;
        }
        let section_id = ev
            .prop("X-CLASSPULSE-SECTION")
            .map(|p| sanitize(unescape(&p.value)))
            .unwrap_or_else(|| {
                if summary.is_empty() {
                    "ics".into()
                } else {
                    slug(&summary)
                }
            });
        let kind = if categories.is_empty() {
            SectionKind::guess(&summary)
        } else {
            SectionKind::guess(&categories)
        };
        let meeting = crate::model::Meeting {
            id,
            when: rec,
            room,
            location,
            instructors: people,
        };
        match out.sections.iter_mut().find(|s| s.id == section_id) {
            Some(s) => s.meetings.push(meeting),
            None => out.sections.push(Section {
                id: section_id,
                kind,
                enrollment: None,
                meetings: vec![meeting],
            }),
        }
    }
    Ok(out)
}

fn zones_default(zones: &Zones) -> TimeZone {
    TimeZone::get(zones.default_name()).unwrap_or(TimeZone::UTC)
}

/// Applies an RRULE to `rec`. The outer error is a malformed calendar; the inner one a rule
/// this importer does not represent (the event is skipped).
fn apply_rrule(
    rec: &mut Recurrence,
    value: &str,
    tz: &TimeZone,
    zones: &Zones,
    line: usize,
) -> Result<Result<(), String>, IcalError> {
    let bad = |m: String| IcalError { line, message: m };
    let mut freq = None;
    let (mut has_until, mut has_count) = (false, false);
    for part in value.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("RRULE part {part:?} has no '='")))?;
        match k.trim().to_ascii_uppercase().as_str() {
            "FREQ" => match v.trim().to_ascii_uppercase().as_str() {
                "WEEKLY" => freq = Some(Freq::Weekly),
                "DAILY" => freq = Some(Freq::Daily),
                other => {
                    return Ok(Err(format!(
                        "FREQ={other} is not supported (only WEEKLY and DAILY)"
                    )));
                }
            },
            "INTERVAL" => {
                rec.interval = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(format!("INTERVAL={v} is not a positive number")))?;
            }
            "COUNT" => {
                has_count = true;
                rec.count = Some(
                    v.trim()
                        .parse()
                        .map_err(|_| bad(format!("COUNT={v} is not a number")))?,
                );
            }
            "UNTIL" => {
                has_until = true;
                let until = parse_when(v, None, zones, line)?;
                rec.until = match until {
                    When::Date(d) => d,
                    other => {
                        let dt =
                            in_zone(&other, tz).ok_or_else(|| bad(format!("bad UNTIL {v}")))?;
                        // The last occurrence starts at or before UNTIL.
                        if dt.time() >= rec.start {
                            dt.date()
                        } else {
                            dt.date().yesterday().unwrap_or(dt.date())
                        }
                    }
                };
                if rec.until < rec.from {
                    return Ok(Err(format!("UNTIL {v} is before DTSTART")));
                }
            }
            "BYDAY" => {
                let mut days = Days::NONE;
                for d in v.split(',') {
                    let d = d.trim();
                    if d.chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_digit() || c == '+' || c == '-')
                    {
                        return Ok(Err(format!("BYDAY={d} (an nth weekday) is not supported")));
                    }
                    days = days.union(Days::of(parse_day_name(d).map_err(bad)?));
                }
                rec.days = days;
            }
            "WKST" => {}
            other => return Ok(Err(format!("RRULE part {other} is not supported"))),
        }
    }
    rec.freq = freq.ok_or_else(|| bad("RRULE without FREQ".into()))?;
    if rec.freq == Freq::Daily && rec.days == Days::of(rec.from.weekday()) {
        rec.days = Days::NONE; // DTSTART's weekday was only the placeholder
    }
    if !has_until {
        // COUNT bounds the rule by itself (three years is a generous cap on the scan);
        // neither: `Date::MAX` marks it open-ended for the caller to resolve.
        rec.until = if has_count {
            date_of_day(day_number(rec.from) + 3 * 366)
        } else {
            Date::MAX
        };
    }
    Ok(Ok(()))
}

fn people_of(ev: &Component, t: &Timetable) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in ev.props("ORGANIZER").chain(ev.props("ATTENDEE")) {
        let email = p
            .value
            .trim()
            .strip_prefix("mailto:")
            .or_else(|| p.value.trim().strip_prefix("MAILTO:"))
            .unwrap_or("")
            .to_ascii_lowercase();
        let cn = p.param("CN").unwrap_or("");
        let found = t.people.values().find(|person| {
            person
                .email
                .as_deref()
                .is_some_and(|e| !email.is_empty() && e.eq_ignore_ascii_case(&email))
                || (!cn.is_empty() && person.name.eq_ignore_ascii_case(cn))
        });
        if let Some(person) = found
            && !out.contains(&person.id)
        {
            out.push(person.id.clone());
        }
    }
    out
}

fn sanitize(id: String) -> String {
    let cleaned: String = id
        .chars()
        .map(|c| {
            if matches!(c, '|' | '/' | '\n' | '\r') {
                '_'
            } else {
                c
            }
        })
        .collect();
    if cleaned.trim().is_empty() {
        "ics".into()
    } else {
        cleaned.trim().to_owned()
    }
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() { "ics".into() } else { out }
}

/// One event to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutEvent {
    /// Globally unique id.
    pub uid: String,
    /// Title.
    pub summary: String,
    /// Start.
    pub start: Timestamp,
    /// End.
    pub end: Timestamp,
    /// Where.
    pub location: Option<String>,
    /// More text.
    pub description: Option<String>,
}

fn utc_stamp(t: Timestamp) -> String {
    let ts =
        jiff::Timestamp::from_microsecond(t.as_micros()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let dt = TimeZone::UTC.to_datetime(ts);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Appends a content line, folded at 75 octets (on character boundaries), with CRLF.
fn push_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

/// Writes a calendar of single events, times in UTC (every client reads them the same way,
/// with no `VTIMEZONE` needed). `now` is the `DTSTAMP`.
pub fn write_calendar(name: &str, events: &[OutEvent], now: Timestamp) -> String {
    let mut out = String::new();
    push_line(&mut out, "BEGIN:VCALENDAR");
    push_line(&mut out, "VERSION:2.0");
    push_line(&mut out, "PRODID:-//ClassPulse//Timetable//EN");
    push_line(&mut out, "CALSCALE:GREGORIAN");
    push_line(&mut out, &format!("X-WR-CALNAME:{}", escape(name)));
    let stamp = utc_stamp(now);
    for e in events {
        push_line(&mut out, "BEGIN:VEVENT");
        push_line(&mut out, &format!("UID:{}", e.uid));
        push_line(&mut out, &format!("DTSTAMP:{stamp}"));
        push_line(&mut out, &format!("DTSTART:{}", utc_stamp(e.start)));
        push_line(&mut out, &format!("DTEND:{}", utc_stamp(e.end)));
        push_line(&mut out, &format!("SUMMARY:{}", escape(&e.summary)));
        if let Some(l) = &e.location {
            push_line(&mut out, &format!("LOCATION:{}", escape(l)));
        }
        if let Some(d) = &e.description {
            let mut line = String::from("DESCRIPTION:");
            let _ = write!(line, "{}", escape(d));
            push_line(&mut out, &line);
        }
        push_line(&mut out, "END:VEVENT");
    }
    push_line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_unfold_and_parameters_may_be_quoted() {
        let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Long\r\n  title\\, with comma\r\nLOCATION;ALTREP=\"http://x/y:z\":Room 1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let top = parse(text).unwrap();
        let ev = &top[0].components[0];
        assert_eq!(
            unescape(&ev.prop("SUMMARY").unwrap().value),
            "Long title, with comma"
        );
        let loc = ev.prop("LOCATION").unwrap();
        assert_eq!(loc.param("ALTREP"), Some("http://x/y:z"));
        assert_eq!(loc.value, "Room 1");
        assert_eq!(loc.line, 5);
    }

    #[test]
    fn malformed_calendars_name_the_line() {
        let e = parse("BEGIN:VCALENDAR\nBEGIN:VEVENT\nnonsense\nEND:VEVENT\nEND:VCALENDAR\n")
            .unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse("BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VCALENDAR\n").unwrap_err();
        assert_eq!(e.line, 3);
    }

    #[test]
    fn durations_and_escapes() {
        assert_eq!(parse_duration("PT1H15M"), Some(4500));
        assert_eq!(parse_duration("P1D"), Some(86_400));
        assert_eq!(parse_duration("PT"), Some(0));
        assert_eq!(parse_duration("1H"), None);
        assert_eq!(unescape(&escape("a;b,c\\d\ne")), "a;b,c\\d\ne");
        let mut out = String::new();
        push_line(&mut out, &"x".repeat(160));
        assert!(out.split("\r\n").all(|l| l.len() <= 75));
    }
}
