//! `classpulse roster import course.csv --course C`: bring a course's roster to a CSV file.
//!
//! The roster is changed only through roster events in the log. When a server runs on the
//! data directory (it holds the directory's lock), the import is sent to it over its admin
//! endpoint; otherwise the events are appended to the log here, under the same lock, and the
//! next server start reduces them.

use crate::cli::config_file;
use crate::cli::http;
use anyhow::{Context, bail};
use clap::Subcommand;
use classpulse_core::clock::SystemClock;
use classpulse_core::config::Config;
use classpulse_core::datadir::{AdminEndpoint, DataDirLock, LockError};
use classpulse_core::log::{LogHealth, LogWriter, WriterConfig};
use classpulse_core::roster::config::DesiredCourse;
use classpulse_core::roster::import;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub(crate) enum RosterCommand {
    /// Make a course's roster exactly the members of a CSV file (columns
    /// user_id,name,email,role; role student, ta or teacher). Members missing from the file
    /// leave the course. Running it twice changes nothing the second time.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// The course id.
        #[arg(long)]
        course: String,
        /// The course's display name (default: unchanged, or the id for a new course).
        #[arg(long)]
        name: Option<String>,
        /// Directory of the event log (overrides `server.data_dir`).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

pub(crate) fn run(config: Option<PathBuf>, command: RosterCommand) -> anyhow::Result<()> {
    let RosterCommand::Import {
        file,
        course,
        name,
        data_dir,
    } = command;
    let (mut config, _) = config_file::load(config)?;
    if let Some(dir) = data_dir {
        config.server.data_dir = dir;
    }
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let members = classpulse_core::roster::csv::parse_members(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let desired = DesiredCourse {
        id: course,
        name,
        members,
    };
    desired.validate().map_err(|e| anyhow::anyhow!(e))?;
    let report = match DataDirLock::acquire(&config.server.data_dir) {
        Ok(lock) => import_offline(&config, &desired, &lock)?,
        Err(LockError::Busy(_)) => import_online(&config, &desired)?,
        Err(e) => return Err(e.into()),
    };
    println!(
        "course {}: {} member(s); {} roster event(s) appended",
        desired.id,
        desired.members.len(),
        report.events
    );
    Ok(())
}

/// A server runs: send the import to its admin endpoint.
fn import_online(config: &Config, desired: &DesiredCourse) -> anyhow::Result<import::ImportReport> {
    let endpoint = AdminEndpoint::read(&config.server.data_dir).with_context(|| {
        format!(
            "a server holds {} but its admin.json is unreadable",
            config.server.data_dir.display()
        )
    })?;
    let report = post_courses(config, &endpoint, std::slice::from_ref(desired))?;
    eprintln!("sent to the running server at {}", endpoint.addr);
    Ok(report)
}

/// Brings `courses` to exactly the members given on the running server behind `endpoint`
/// (`POST /api/admin/roster`, which appends the roster events), answering what it appended.
pub(crate) fn post_courses(
    config: &Config,
    endpoint: &AdminEndpoint,
    courses: &[DesiredCourse],
) -> anyhow::Result<import::ImportReport> {
    let body = serde_json::to_vec(&serde_json::json!({ "courses": courses }))?;
    let (status, text) = http::request(
        &http::Target::admin(endpoint, config),
        "POST",
        "/api/admin/roster",
        &endpoint.key,
        "application/json",
        &body,
    )?;
    if status != 200 {
        bail!(
            "the server refused the roster import ({status}): {}",
            text.trim()
        );
    }
    Ok(serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .map(|v| import::ImportReport {
            courses: v["courses"].as_u64().unwrap_or(0) as usize,
            events: v["events"].as_u64().unwrap_or(0) as usize,
            last_seq: v["last_seq"].as_u64().unwrap_or(0),
        })
        .unwrap_or_default())
}

/// No server runs: append to the log here, holding the data directory's lock.
fn import_offline(
    config: &Config,
    desired: &DesiredCourse,
    _lock: &DataDirLock,
) -> anyhow::Result<import::ImportReport> {
    let log_dir = classpulse_core::runtime::log_dir(config);
    let index = import::index_from_log(&config.server.data_dir, &log_dir)
        .with_context(|| format!("reading the roster from {}", log_dir.display()))?;
    let events = import::plan(index.course(&desired.id).as_ref(), desired)
        .map_err(|e| anyhow::anyhow!(e))?;
    if events.is_empty() {
        return Ok(import::ImportReport {
            courses: 1,
            ..Default::default()
        });
    }
    let node = config.server.node_id.clone();
    let writer_config = WriterConfig {
        dir: log_dir,
        segment_bytes: config.log.segment_mib * 1024 * 1024,
        commit_interval: Duration::from_millis(config.log.commit_interval_ms),
        fsync: config.log.fsync,
        queue: config.log.queue,
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            // Nobody reduces here: the next server start replays these events.
            let (committed_tx, committed_rx) = tokio::sync::mpsc::channel(4);
            drop(committed_rx);
            let (writer, thread) = LogWriter::open(
                writer_config,
                Arc::new(SystemClock),
                Arc::new(LogHealth::default()),
                committed_tx,
            )
            .context("opening the event log")?;
            let last_seq = import::append(&writer, &node, &events).await?;
            writer.close().await;
            drop(writer);
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            Ok(import::ImportReport {
                courses: 1,
                events: events.len(),
                last_seq,
            })
        })
}
