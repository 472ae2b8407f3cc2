//! Imports: from a TOML timetable file or a course's iCalendar file to events in the log.
//!
//! An import never writes state directly. It reads what the log says now (the catalog state
//! of a running node, or — with no server running — the catalog rebuilt by replaying the log's
//! timetable events), builds the new timetable, checks it for conflicts, and computes the
//! events that turn one into the other ([`crate::events::diff`]). Those are appended to the
//! log — through the running node's writer ([`apply_live`]), or offline under the log's lock
//! (`classpulse_core::log::system::append_offline`) — and reduced like any other event, so the
//! timetable replays. Importing the same file twice appends nothing.

use crate::config::TimetableConfig;
use crate::conflicts::{Conflict, check};
use crate::events::{SOURCE, diff};
use crate::ical::{IcalError, import as ics_import};
use crate::model::{Course, Timetable};
use crate::reducers::{CATALOG, CatalogReducer};
use crate::toml_file::{ParseError, parse as parse_toml};
use classpulse_core::config::Config;
use classpulse_core::event::{Event, LogPosition};
use classpulse_core::kvs::{KvsError, Slot, StateKey};
use classpulse_core::log::system::{SystemAppendError, SystemEvent, append_live};
use classpulse_core::log::{LogReader, ReadError};
use classpulse_core::reducer::{Reducer, ScopeKey};
use classpulse_core::runtime::Runtime;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// An import that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML timetable is invalid (names the line and the key).
    #[error("invalid timetable file {}: {error}", .path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// Where and what.
        error: ParseError,
    },
    /// The calendar is malformed.
    #[error("invalid calendar {}: {error}", .path.display())]
    Ical {
        /// The file.
        path: PathBuf,
        /// Where and what.
        error: IcalError,
    },
    /// An `.ics` import without the course it is for.
    #[error("importing a calendar needs the course it belongs to (--course)")]
    NoCourse,
    /// The file is neither `.toml` nor `.ics`.
    #[error("{}: not a timetable file (use .toml or .ics)", .0.display())]
    UnknownFormat(PathBuf),
    /// Appending the events failed.
    #[error(transparent)]
    Append(#[from] SystemAppendError),
    /// The state store failed.
    #[error(transparent)]
    Kvs(#[from] KvsError),
    /// The log could not be read back.
    #[error(transparent)]
    Log(#[from] ReadError),
}

/// The input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The TOML timetable file: the whole timetable.
    Toml,
    /// An iCalendar file: one course's sessions and office hours.
    Ics,
}

impl Format {
    /// The format of a file, from its extension.
    pub fn of_path(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "ics" | "ical" | "ifb" | "icalendar" => Some(Format::Ics),
            _ => None,
        }
    }

    /// Parses `toml` / `ics`.
    pub fn parse(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "ics" | "ical" => Some(Format::Ics),
            _ => None,
        }
    }
}

/// What an import will do.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The timetable after the import.
    pub timetable: Timetable,
    /// The events to append (empty: nothing changes).
    pub events: Vec<SystemEvent>,
    /// Conflicts in the new timetable (the import goes ahead; they are reported).
    pub conflicts: Vec<Conflict>,
    /// Things skipped or simplified (iCalendar).
    pub warnings: Vec<String>,
}

/// Plans importing `text` in `format` over `current`. A TOML file replaces the whole
/// timetable; a calendar replaces the sessions and office hours of `course` (keeping its title,
/// term and mode, creating it when new).
///
/// # Errors
/// [`ImportError`] naming the line (and for TOML the key) at fault; `path` is for messages.
pub fn plan(
    current: &Timetable,
    text: &str,
    format: Format,
    course: Option<&str>,
    config: &TimetableConfig,
    path: &std::path::Path,
) -> Result<Plan, ImportError> {
    let mut warnings = Vec::new();
    let new = match format {
        Format::Toml => parse_toml(text, &config.time_zone).map_err(|error| ImportError::Toml {
            path: path.to_owned(),
            error,
        })?,
        Format::Ics => {
            let course_id = course.ok_or(ImportError::NoCourse)?;
            let mut new = current.clone();
            new.time_zone = config.time_zone.clone();
            let imported =
                ics_import(text, course_id, &new).map_err(|error| ImportError::Ical {
                    path: path.to_owned(),
                    error,
                })?;
            warnings = imported.warnings;
            let entry = new
                .courses
                .entry(course_id.to_owned())
                .or_insert_with(|| Course {
                    id: course_id.to_owned(),
                    title: course_id.to_owned(),
                    term: None,
                    office_hours_mode: None,
                    sections: Vec::new(),
                    office_hours: Vec::new(),
                });
            entry.sections = imported.sections;
            entry.office_hours = imported.office_hours;
            new
        }
    };
    let mut new = new;
    // Resolve each course's duty mode now, so the catalog records it and changing the
    // configured default re-sends the courses that follow it.
    for course in new.courses.values_mut() {
        course.office_hours_mode =
            Some(course.office_hours_mode.unwrap_or(config.office_hours_mode));
    }
    let events = diff(current, &new, config.office_hours_mode);
    let conflicts = check(&new);
    Ok(Plan {
        timetable: new,
        events,
        conflicts,
        warnings,
    })
}

/// The catalog as a running node holds it.
///
/// # Errors
/// When the state store fails.
pub async fn read_catalog(runtime: &Runtime) -> Result<Timetable, KvsError> {
    let Some(reducer) = runtime.registry.get(CATALOG) else {
        return Ok(Timetable::default());
    };
    let key = catalog_key();
    let mut out = Timetable::default();
    runtime
        .kvs
        .read(&key, &*reducer.reducer, &mut |slot: Option<&Slot>| {
            if let Some(t) = slot.and_then(|s| s.state.as_any().downcast_ref::<Timetable>()) {
                out = t.clone();
            }
        })
        .await?;
    Ok(out)
}

fn catalog_key() -> StateKey {
    StateKey {
        reducer: Arc::from(CATALOG),
        scope: ScopeKey::from_text("global"),
    }
}

/// The catalog rebuilt from a node's log with no server running (for offline imports and
/// `check`): the timetable events replayed through [`CatalogReducer`].
///
/// # Errors
/// When the log cannot be read.
pub fn replay_catalog(config: &Config) -> Result<Timetable, ReadError> {
    let mut reader = LogReader::open(&classpulse_core::runtime::log_dir(config), 1)?;
    let mut state = Timetable::default();
    while let Some(batch) = reader.next_batch()? {
        for (_, line) in batch.iter() {
            if !line.contains(SOURCE) {
                continue;
            }
            if let Ok(event) = Event::from_line(&line)
                && event.source() == SOURCE
            {
                let _ = CatalogReducer.reduce(&mut state, &event);
            }
        }
    }
    Ok(state)
}

/// Appends a plan's events through a running node and waits until the catalog reflects them.
/// Returns the number of events appended.
///
/// # Errors
/// When the log or the state store fails.
pub async fn apply_live(runtime: &Runtime, plan: &Plan) -> Result<usize, ImportError> {
    if plan.events.is_empty() {
        return Ok(0);
    }
    let node = runtime.config.server.node_id.clone();
    let seq = append_live(&runtime.writer, &node, "classpulse-timetable", &plan.events).await?;
    // The router reduces committed batches right after; wait for it, so the next import (and
    // the caller's next read) sees this one.
    let key = catalog_key();
    if let Some(reducer) = runtime.registry.get(CATALOG) {
        for _ in 0..500 {
            let mut done = false;
            runtime
                .kvs
                .read(&key, &*reducer.reducer, &mut |slot: Option<&Slot>| {
                    done = slot.is_some_and(|s| s.applied.covers(LogPosition { node: &node, seq }));
                })
                .await?;
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(plan.events.len())
}

/// At start-up: imports the configured timetable file when it differs from what the log
/// says. Returns the plan applied (`None` when no file is configured).
///
/// # Errors
/// When the file cannot be read or is invalid, or the log fails.
pub async fn sync_configured_file(
    runtime: &Runtime,
    config: &TimetableConfig,
) -> Result<Option<Plan>, ImportError> {
    let Some(path) = &config.file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.clone(),
        source,
    })?;
    let current = read_catalog(runtime).await?;
    let plan = plan(&current, &text, Format::Toml, None, config, path)?;
    let n = apply_live(runtime, &plan).await?;
    tracing::info!(
        file = %path.display(),
        events = n,
        conflicts = plan.conflicts.len(),
        "timetable file synced"
    );
    for c in &plan.conflicts {
        tracing::warn!(kind = ?c.kind, "timetable conflict: {}", c.message);
    }
    Ok(Some(plan))
}
