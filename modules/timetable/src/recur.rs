//! Recurrence: which dates a meeting or an office-hour block happens on, and the instants its
//! occurrences start and end — in the meeting's time zone, across daylight-saving changes.
//!
//! A [`Recurrence`] is the one shape every source is brought to: the TOML file's weekly
//! patterns (`days = "MWF"`), and iCalendar's `RRULE` (`FREQ=WEEKLY|DAILY`, `BYDAY`,
//! `INTERVAL`, `UNTIL`, `COUNT`) with `EXDATE`s. Dates are civil dates; start and end are civil
//! (wall-clock) times, so a 9:00 class is at 9:00 local time before and after a DST change,
//! and its instant moves by the offset change. [`Zones::occurrences`] turns a recurrence into
//! `(date, start, end)` instants with `jiff`'s tz database; nothing here reads a clock.

use classpulse_core::event::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A set of weekdays. Written as registrar letters, Monday first: `M T W R F S U`
/// (`"MWF"`, `"TR"`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Days(u8);

/// The registrar letters, Monday first.
const LETTERS: [char; 7] = ['M', 'T', 'W', 'R', 'F', 'S', 'U'];

impl Days {
    /// No days.
    pub const NONE: Days = Days(0);
    /// Every day.
    pub const ALL: Days = Days(0x7f);

    /// The set holding one weekday.
    pub fn of(day: Weekday) -> Days {
        Days(1 << day.to_monday_zero_offset())
    }

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.to_monday_zero_offset()) != 0
    }

    /// The union of two sets.
    pub fn union(self, other: Days) -> Days {
        Days(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the two sets share a day.
    pub fn intersects(self, other: Days) -> bool {
        self.0 & other.0 != 0
    }

    /// Parses `"MWF"`, `"TR"`, `"Mon,Wed"`, `"MO,WE"` (iCalendar), `"tuesday thursday"`.
    ///
    /// # Errors
    /// A message naming the part that is not a day.
    pub fn parse(text: &str) -> Result<Days, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("no days given".into());
        }
        if text.chars().all(|c| LETTERS.contains(&c)) {
            let mut days = Days::NONE;
            for c in text.chars() {
                let i = LETTERS.iter().position(|&l| l == c).unwrap_or(0);
                days.0 |= 1 << i;
            }
            return Ok(days);
        }
        let mut days = Days::NONE;
        for part in text.split([',', ' ', ';', '/']).filter(|p| !p.is_empty()) {
            days = days.union(Days::of(parse_day_name(part)?));
        }
        Ok(days)
    }

    /// The days in the set, Monday first.
    pub fn iter(self) -> impl Iterator<Item = Weekday> {
        (0..7i8)
            .filter(move |i| self.0 & (1 << i) != 0)
            .filter_map(|i| Weekday::from_monday_zero_offset(i).ok())
    }
}

/// Parses one day name: `mon`, `Monday`, `MO`, `R` (Thursday), ...
///
/// # Errors
/// When `part` names no day.
pub fn parse_day_name(part: &str) -> Result<Weekday, String> {
    let lower = part.trim().to_ascii_lowercase();
    let day = match lower.as_str() {
        "m" | "mo" | "mon" | "monday" => Weekday::Monday,
        "t" | "tu" | "tue" | "tues" | "tuesday" => Weekday::Tuesday,
        "w" | "we" | "wed" | "wednesday" => Weekday::Wednesday,
        "r" | "th" | "thu" | "thur" | "thurs" | "thursday" => Weekday::Thursday,
        "f" | "fr" | "fri" | "friday" => Weekday::Friday,
        "s" | "sa" | "sat" | "saturday" => Weekday::Saturday,
        "u" | "su" | "sun" | "sunday" => Weekday::Sunday,
        _ => return Err(format!("{part:?} is not a day of the week")),
    };
    Ok(day)
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in LETTERS.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Days({self})")
    }
}

impl Serialize for Days {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Days {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Days;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("days like \"MWF\" or [\"mon\", \"wed\"]")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Days, E> {
                if v.is_empty() {
                    return Ok(Days::NONE);
                }
                Days::parse(v).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Days, A::Error> {
                let mut days = Days::NONE;
                while let Some(name) = seq.next_element::<String>()? {
                    days = days.union(Days::of(
                        parse_day_name(&name).map_err(serde::de::Error::custom)?,
                    ));
                }
                Ok(days)
            }
        }
        d.deserialize_any(V)
    }
}

/// How often a recurrence repeats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Freq {
    /// Every `interval` weeks, on `days` (weeks start on Monday).
    #[default]
    Weekly,
    /// Every `interval` days (on `days` only, when given).
    Daily,
}

/// When something recurs: a rule over a date range, with a wall-clock start and end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    /// Weekly or daily.
    #[serde(default)]
    pub freq: Freq,
    /// Repeat every this many weeks (weekly) or days (daily); at least 1.
    #[serde(default = "one")]
    pub interval: u32,
    /// The weekdays it happens on. Weekly and empty: the weekday of `from`. Daily and empty:
    /// every day.
    #[serde(default)]
    pub days: Days,
    /// Wall-clock start.
    pub start: Time,
    /// Wall-clock end, later than `start` on the same day.
    pub end: Time,
    /// First date of the range (and the anchor of `interval`).
    pub from: Date,
    /// Last date of the range, inclusive.
    pub until: Date,
    /// At most this many occurrences from `from` on (iCalendar `COUNT`; excluded dates count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Dates it does not happen on (iCalendar `EXDATE`, a cancelled class).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub except: BTreeSet<Date>,
    /// IANA time zone of the wall-clock times; `None`: the institution's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// The longest date range a recurrence may cover (about five years): timetables are per term,
/// and every occurrence is expanded when checking or exporting.
pub const MAX_SPAN_DAYS: i32 = 5 * 366;

fn one() -> u32 {
    1
}

/// A closed range of dates (a holiday, a week away).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DateRange {
    /// First day.
    pub from: Date,
    /// Last day, inclusive.
    pub until: Date,
}

impl DateRange {
    /// Whether `date` is in the range.
    pub fn contains(&self, date: Date) -> bool {
        self.from <= date && date <= self.until
    }
}

/// Days since 1970-01-01 (proleptic Gregorian), for cheap date arithmetic in loops.
pub fn day_number(d: Date) -> i32 {
    // Howard Hinnant's days_from_civil.
    let (y, m, day) = (
        i32::from(d.year()),
        i32::from(d.month()),
        i32::from(d.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `n` days after 1970-01-01.
pub fn date_of_day(n: i32) -> Date {
    let z = n + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i32::from(m <= 2);
    Date::new(y as i16, m as i8, d as i8).unwrap_or(Date::MIN)
}

/// Weekday of a day number (1970-01-01 was a Thursday).
fn weekday_of(n: i32) -> i8 {
    (n + 3).rem_euclid(7) as i8
}

impl Recurrence {
    /// A weekly recurrence on `days` from `from` to `until`, `start`–`end` local time.
    pub fn weekly(days: Days, start: Time, end: Time, from: Date, until: Date) -> Self {
        Recurrence {
            freq: Freq::Weekly,
            interval: 1,
            days,
            start,
            end,
            from,
            until,
            count: None,
            except: BTreeSet::new(),
            time_zone: None,
        }
    }

    /// The weekdays it happens on (resolving an empty weekly set to `from`'s weekday).
    pub fn effective_days(&self) -> Days {
        match (self.freq, self.days.is_empty()) {
            (Freq::Weekly, true) => Days::of(self.from.weekday()),
            (Freq::Daily, true) => Days::ALL,
            _ => self.days,
        }
    }

    /// Checks the rule's own consistency.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.end <= self.start {
            return Err(format!(
                "ends at {} but starts at {}: the end must be later on the same day",
                self.end, self.start
            ));
        }
        if self.until < self.from {
            return Err(format!(
                "the date range ends ({}) before it starts ({})",
                self.until, self.from
            ));
        }
        if self.interval == 0 {
            return Err("interval must be at least 1".into());
        }
        if day_number(self.until) - day_number(self.from) > MAX_SPAN_DAYS {
            return Err(format!(
                "the date range {}..{} is longer than {MAX_SPAN_DAYS} days",
                self.from, self.until
            ));
        }
        if let Some(tz) = &self.time_zone {
            TimeZone::get(tz).map_err(|e| format!("unknown time zone {tz:?}: {e}"))?;
        }
        Ok(())
    }

    /// The dates the rule yields, in order (before `except` and holidays are applied; `COUNT`
    /// counts these).
    fn rule_dates(&self) -> impl Iterator<Item = (i32, Date)> + '_ {
        let first = day_number(self.from);
        let last = day_number(self.until);
        let days = self.effective_days();
        let interval = self.interval.max(1) as i32;
        let week0 = first - i32::from(weekday_of(first));
        (first..=last)
            .filter(move |&n| {
                let wd = weekday_of(n);
                if days.0 & (1 << wd) == 0 {
                    return false;
                }
                match self.freq {
                    Freq::Daily => (n - first) % interval == 0,
                    Freq::Weekly => ((n - week0) / 7) % interval == 0,
                }
            })
            .take(self.count.map_or(usize::MAX, |c| c as usize))
            .map(|n| (n, date_of_day(n)))
    }

    /// The dates it happens on: the rule's dates less `except` and the given holidays.
    pub fn dates<'a>(&'a self, holidays: &'a [DateRange]) -> impl Iterator<Item = Date> + 'a {
        self.rule_dates()
            .map(|(_, d)| d)
            .filter(move |d| !self.except.contains(d) && !holidays.iter().any(|h| h.contains(*d)))
    }
}

/// One occurrence: its date and its start and end instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Occurrence {
    /// Start instant.
    pub start: Timestamp,
    /// End instant.
    pub end: Timestamp,
    /// The civil date (in the recurrence's time zone).
    pub date: Date,
}

/// Resolves time zone names once and turns civil date-times into instants.
#[derive(Clone, Debug)]
pub struct Zones {
    default: TimeZone,
    default_name: String,
    others: Vec<(String, TimeZone)>,
}

/// A time zone name the database does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?}")]
pub struct UnknownZone(pub String);

impl Zones {
    /// Zones with `default` as the institution's.
    ///
    /// # Errors
    /// When `default` is not a known IANA name.
    pub fn new(default: &str) -> Result<Zones, UnknownZone> {
        Ok(Zones {
            default: TimeZone::get(default).map_err(|_| UnknownZone(default.to_owned()))?,
            default_name: default.to_owned(),
            others: Vec::new(),
        })
    }

    /// The institution's zone name.
    pub fn default_name(&self) -> &str {
        &self.default_name
    }

    /// The zone for `name` (`None`: the institution's). Unknown names fall back to the
    /// institution's zone (validation refuses them before they get here).
    pub fn get(&mut self, name: Option<&str>) -> TimeZone {
        let Some(name) = name.filter(|n| *n != self.default_name) else {
            return self.default.clone();
        };
        if let Some((_, tz)) = self.others.iter().find(|(n, _)| n == name) {
            return tz.clone();
        }
        match TimeZone::get(name) {
            Ok(tz) => {
                self.others.push((name.to_owned(), tz.clone()));
                tz
            }
            Err(_) => self.default.clone(),
        }
    }

    /// The instant of wall-clock `time` on `date` in `tz`. In a spring-forward gap the time
    /// is moved forward by the gap; in a fall-back fold the earlier instant is taken
    /// (RFC 5545's rule, and `jiff`'s "compatible" disambiguation).
    pub fn instant(tz: &TimeZone, date: Date, time: Time) -> Timestamp {
        let micros = tz
            .to_timestamp(date.to_datetime(time))
            .map(|t| t.as_microsecond())
            .unwrap_or(0);
        Timestamp::from_micros(micros)
    }

    /// The start and end instants of an occurrence on `date`, `start`–`end` wall-clock. When
    /// a DST gap swallows the start (02:30 on a spring-forward night), the end instant could
    /// come out no later than the start; the occurrence then keeps its wall-clock length.
    pub fn span(tz: &TimeZone, date: Date, start: Time, end: Time) -> (Timestamp, Timestamp) {
        let s = Zones::instant(tz, date, start);
        let mut e = Zones::instant(tz, date, end);
        if e <= s {
            let length = end.duration_since(start).as_micros() as i64;
            e = Timestamp::from_micros(s.as_micros() + length.max(0));
        }
        (s, e)
    }

    /// The civil date-time of `at` in `tz`.
    pub fn civil(tz: &TimeZone, at: Timestamp) -> jiff::civil::DateTime {
        let ts = jiff::Timestamp::from_microsecond(at.as_micros())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        tz.to_datetime(ts)
    }

    /// Every occurrence of `rec`, skipping `holidays`, in order.
    pub fn occurrences<'a>(
        &mut self,
        rec: &'a Recurrence,
        holidays: &'a [DateRange],
    ) -> impl Iterator<Item = Occurrence> + 'a {
        let tz = self.get(rec.time_zone.as_deref());
        rec.dates(holidays).map(move |date| {
            let (start, end) = Zones::span(&tz, date, rec.start, rec.end);
            Occurrence { start, end, date }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    #[test]
    fn day_numbers_round_trip() {
        for d in [
            date(1970, 1, 1),
            date(2000, 2, 29),
            date(2026, 3, 8),
            date(1969, 12, 31),
        ] {
            assert_eq!(date_of_day(day_number(d)), d);
            assert_eq!(
                weekday_of(day_number(d)),
                d.weekday().to_monday_zero_offset()
            );
        }
        assert_eq!(day_number(date(1970, 1, 2)), 1);
    }

    #[test]
    fn days_parse_in_every_spelling() {
        assert_eq!(Days::parse("MWF").unwrap().to_string(), "MWF");
        assert_eq!(Days::parse("TR").unwrap().to_string(), "TR");
        assert_eq!(Days::parse("Mon, Wed").unwrap().to_string(), "MW");
        assert_eq!(Days::parse("TU,TH").unwrap().to_string(), "TR");
        assert!(Days::parse("Funday").is_err());
        let d: Days = serde_json::from_str(r#"["sun","sat"]"#).unwrap();
        assert_eq!(d.to_string(), "SU");
    }

    #[test]
    fn weekly_rules_with_interval_count_and_exceptions() {
        let mut r = Recurrence::weekly(
            Days::parse("MW").unwrap(),
            time(9, 0, 0, 0),
            time(10, 0, 0, 0),
            date(2026, 9, 2), // a Wednesday
            date(2026, 9, 30),
        );
        let all: Vec<Date> = r.dates(&[]).collect();
        assert_eq!(all.first(), Some(&date(2026, 9, 2)));
        assert_eq!(all.len(), 9); // W2; M7 W9; M14 W16; M21 W23; M28 W30
        r.interval = 2;
        let every_other: Vec<Date> = r.dates(&[]).collect();
        assert_eq!(
            every_other,
            vec![
                date(2026, 9, 2),
                date(2026, 9, 14),
                date(2026, 9, 16),
                date(2026, 9, 28),
                date(2026, 9, 30)
            ]
        );
        r.count = Some(3);
        r.except.insert(date(2026, 9, 14));
        let holidays = [DateRange {
            from: date(2026, 9, 16),
            until: date(2026, 9, 16),
        }];
        assert_eq!(
            r.dates(&holidays).collect::<Vec<_>>(),
            vec![date(2026, 9, 2)]
        );
    }

    #[test]
    fn wall_clock_times_survive_dst() {
        let mut zones = Zones::new("America/New_York").unwrap();
        let r = Recurrence::weekly(
            Days::parse("F").unwrap(),
            time(9, 0, 0, 0),
            time(10, 0, 0, 0),
            date(2026, 10, 30),
            date(2026, 11, 6),
        );
        let occ: Vec<Occurrence> = zones.occurrences(&r, &[]).collect();
        assert_eq!(occ.len(), 2);
        // 9:00 EDT (UTC-4) then 9:00 EST (UTC-5): a week plus one hour apart.
        let gap = occ[1].start.as_micros() - occ[0].start.as_micros();
        assert_eq!(gap, (7 * 24 + 1) * 3_600_000_000);
    }
}
