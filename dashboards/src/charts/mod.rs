//! Server-side charts of a course, drawn with `plotters` as SVG (and PNG): what
//! `classpulse report` writes to files and what the educator page embeds.
//!
//! ```text
//! reducer states ──figures──► CourseFigures ──Chart::draw──► BarChart ──► SVG / PNG
//! (KVS of the server,                                  (draw: plotters,
//!  or a replay of a log)                                 bundled font)
//! ```
//!
//! - [`figures`]: the numbers, read from reducer states;
//! - [`office_hours`]: the one adapter that knows the office-hours state's shape;
//! - [`draw`]: bar charts with plotters; [`font`]: the bundled font;
//! - [`http`]: `GET /api/courses/{course}/charts` and `…/charts/{chart}.svg` for the page.

pub mod draw;
pub mod figures;
mod font;
pub mod http;
pub mod office_hours;

pub use draw::{Bar, BarChart, DrawError, Orientation};
pub use figures::{CourseFigures, StudentFigures};

/// The charts of a course.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chart {
    /// Minutes on task per student (every source).
    TimeOnTask,
    /// Words written per student (every document).
    Words,
    /// Minutes of writing per period, for the course.
    Activity,
    /// Office hours: mean and longest wait.
    OfficeHoursWait,
    /// Office hours: sessions per TA.
    OfficeHoursSessions,
}

impl Chart {
    /// Every chart, in the order pages show them.
    pub const ALL: [Chart; 5] = [
        Chart::TimeOnTask,
        Chart::Words,
        Chart::Activity,
        Chart::OfficeHoursWait,
        Chart::OfficeHoursSessions,
    ];

    /// The file name stem and URL segment (`time_on_task`).
    pub fn name(self) -> &'static str {
        match self {
            Chart::TimeOnTask => "time_on_task",
            Chart::Words => "words",
            Chart::Activity => "activity",
            Chart::OfficeHoursWait => "office_hours_wait",
            Chart::OfficeHoursSessions => "office_hours_sessions",
        }
    }

    /// A chart by name.
    pub fn from_name(name: &str) -> Option<Chart> {
        Chart::ALL.into_iter().find(|c| c.name() == name)
    }

    /// A title for people.
    pub fn title(self) -> &'static str {
        match self {
            Chart::TimeOnTask => "Time on task",
            Chart::Words => "Words written",
            Chart::Activity => "Writing over time",
            Chart::OfficeHoursWait => "Office-hours waits",
            Chart::OfficeHoursSessions => "Office-hours sessions per TA",
        }
    }

    /// The charts `figures` can fill: the office-hours ones only for a course that has office
    /// hours.
    pub fn for_course(figures: &CourseFigures) -> Vec<Chart> {
        Chart::ALL
            .into_iter()
            .filter(|c| {
                !matches!(c, Chart::OfficeHoursWait | Chart::OfficeHoursSessions)
                    || figures.office_hours.is_some()
            })
            .collect()
    }

    /// The chart for `figures`.
    pub fn draw(self, f: &CourseFigures) -> BarChart {
        let title = format!("{} — {}", self.title(), f.course_name);
        let per_student = |value: &dyn Fn(&StudentFigures) -> f64,
                           text: &dyn Fn(&StudentFigures) -> String| {
            f.students
                .iter()
                .map(|s| Bar {
                    label: s.name.clone(),
                    value: value(s),
                    text: text(s),
                })
                .collect()
        };
        let horizontal = |axis: &str, bars: Vec<Bar>| BarChart {
            title: title.clone(),
            axis: axis.to_owned(),
            bars,
            orientation: Orientation::Horizontal,
            label_every: 1,
        };
        match self {
            Chart::TimeOnTask => horizontal(
                "minutes on task",
                per_student(&|s| s.time_on_task_secs / 60.0, &|s| {
                    duration(s.time_on_task_secs)
                }),
            ),
            Chart::Words => horizontal(
                "words",
                per_student(&|s| s.words as f64, &|s| plural(s.words, "word")),
            ),
            Chart::Activity => {
                let a = &f.activity;
                let label = |start: i64| {
                    let format = if a.period_secs >= 86_400 {
                        "%b %d"
                    } else {
                        "%b %d %H:%M"
                    };
                    jiff::Timestamp::from_second(start)
                        .map(|t| t.strftime(format).to_string())
                        .unwrap_or_default()
                };
                let n = a.periods.len();
                BarChart {
                    title,
                    axis: format!(
                        "minutes of writing per {} (times UTC)",
                        period_name(a.period_secs)
                    ),
                    bars: a
                        .periods
                        .iter()
                        .map(|(start, secs)| Bar {
                            label: label(*start),
                            value: secs / 60.0,
                            text: String::new(),
                        })
                        .collect(),
                    orientation: Orientation::Vertical,
                    label_every: n.div_ceil(8).max(1),
                }
            }
            Chart::OfficeHoursWait => {
                let bars = f.office_hours.as_ref().map_or_else(Vec::new, |o| {
                    let mut bars = Vec::new();
                    if let Some(mean) = o.mean_wait_secs {
                        bars.push(Bar {
                            label: "Mean wait".into(),
                            value: mean / 60.0,
                            text: duration(mean),
                        });
                        bars.push(Bar {
                            label: "Longest wait".into(),
                            value: o.max_wait_secs / 60.0,
                            text: duration(o.max_wait_secs),
                        });
                    }
                    bars
                });
                horizontal("minutes from joining the line to a session", bars)
            }
            Chart::OfficeHoursSessions => {
                let bars = f.office_hours.as_ref().map_or_else(Vec::new, |o| {
                    o.sessions_per_ta
                        .iter()
                        .map(|(ta, n)| Bar {
                            label: ta.clone(),
                            value: *n as f64,
                            text: plural(*n, "session"),
                        })
                        .collect()
                });
                horizontal("sessions", bars)
            }
        }
    }
}

/// `75` → `1 min 15 s`, `4000` → `1 h 6 min`.
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn period_name(secs: i64) -> String {
    match secs {
        s if s % 86_400 == 0 && s / 86_400 == 1 => "day".into(),
        s if s % 86_400 == 0 && s / 86_400 == 7 => "week".into(),
        s if s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s % 3600 == 0 && s / 3600 == 1 => "hour".into(),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s => format!("{} min", s / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_periods_read_well() {
        assert_eq!(duration(42.4), "42 s");
        assert_eq!(duration(75.0), "1 min 15 s");
        assert_eq!(duration(4000.0), "1 h 6 min");
        assert_eq!(period_name(600), "10 min");
        assert_eq!(period_name(3600), "hour");
        assert_eq!(period_name(7200), "2 hours");
        assert_eq!(period_name(86_400), "day");
        assert_eq!(period_name(7 * 86_400), "week");
        for c in Chart::ALL {
            assert_eq!(Chart::from_name(c.name()), Some(c));
        }
    }
}
