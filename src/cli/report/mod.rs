//! `classpulse report`: charts of every course, from a data directory's log.
//!
//! The log is replayed in memory through the modules this binary ships — the reducers a server
//! runs — so the charts show exactly the states a server on this log would hold
//! ([`classpulse_core::offline`]). Nothing is written to the data directory. When no server
//! runs, the directory's lock is held while reading (no server starts meanwhile); when one
//! runs, its log is read as it stands (a line being written is skipped, as any reader does).
//!
//! Out: `<out>/index.html` linking every chart, and `<out>/<course>/<chart>.svg` (and `.png`
//! with `--png`). The charts are those the educator page shows ([`classpulse_dashboards::charts`]).

mod html;

use crate::cli::config_file;
use anyhow::Context;
use clap::Args;
use classpulse_core::datadir::{DataDirLock, LockError};
use classpulse_dashboards::charts::{Chart, CourseFigures};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Directory of the event log (overrides `server.data_dir`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where to write the report (created; files in it are replaced).
    #[arg(long, value_name = "DIR", default_value = "report")]
    out: PathBuf,
    /// Only these courses (repeat the flag); default: every course.
    #[arg(long = "course", value_name = "ID")]
    courses: Vec<String>,
    /// Also write each chart as PNG.
    #[arg(long)]
    png: bool,
}

/// One course's part of the report.
pub(crate) struct CourseReport {
    /// The figures drawn.
    pub(crate) figures: CourseFigures,
    /// The directory under `out` (a file-name-safe form of the id).
    pub(crate) dir: String,
    /// The charts written.
    pub(crate) charts: Vec<Chart>,
}

pub(crate) fn run(config: Option<PathBuf>, args: ReportArgs) -> anyhow::Result<()> {
    let (mut config, _) = config_file::load(config)?;
    if let Some(dir) = &args.data_dir {
        config.server.data_dir = dir.clone();
    }
    let data_dir = config.server.data_dir.clone();
    if !data_dir.join("log").is_dir() {
        anyhow::bail!(
            "{} has no event log (no {}); point --data-dir at a server's data directory",
            data_dir.display(),
            data_dir.join("log").display()
        );
    }
    let lock = match DataDirLock::acquire(&data_dir) {
        Ok(lock) => Some(lock),
        Err(LockError::Busy(_)) => {
            eprintln!(
                "a server is running on {}: reporting its log as it stands",
                data_dir.display()
            );
            None
        }
        Err(e) => return Err(e.into()),
    };
    let modules = crate::modules::build(&config)?;
    let bin_secs = config
        .module::<classpulse_writing::WritingConfig>("writing")?
        .binned_time_on_task_bin_secs;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("starting the async runtime")?;
    let (replayed, reports) = runtime.block_on(async {
        let replayed = classpulse_core::offline::replay(
            &classpulse_core::runtime::log_dir(&config),
            &modules,
            config.roster.mode,
        )
        .await?;
        let now = replayed
            .last_time
            .unwrap_or(classpulse_core::event::Timestamp::ZERO);
        let mut ids = replayed.roster.course_ids();
        ids.sort();
        let mut reports = Vec::new();
        let mut dirs = BTreeSet::new();
        for id in ids {
            if !args.courses.is_empty() && !args.courses.contains(&id) {
                continue;
            }
            let Some(course) = replayed.roster.course(&id) else {
                continue;
            };
            let figures =
                CourseFigures::gather(&course, &*replayed.kvs, &replayed.registry, now, bin_secs)
                    .await?;
            let charts = Chart::for_course(&figures);
            reports.push(CourseReport {
                dir: unique_dir(&id, &mut dirs),
                figures,
                charts,
            });
        }
        anyhow::Ok((replayed, reports))
    })?;
    drop(lock);
    for wanted in &args.courses {
        if !reports.iter().any(|r| &r.figures.course_id == wanted) {
            anyhow::bail!("no course {wanted:?} in the log");
        }
    }

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    write(&args.out, &reports, args.png)?;
    let index = args.out.join("index.html");
    std::fs::write(
        &index,
        html::index(&reports, &replayed, &data_dir, args.png),
    )
    .with_context(|| format!("cannot write {}", index.display()))?;
    if replayed.skipped_lines > 0 {
        eprintln!(
            "{} line(s) of the log are not log lines and were skipped (a line being written, or damage)",
            replayed.skipped_lines
        );
    }
    let charts: usize = reports.iter().map(|r| r.charts.len()).sum();
    println!(
        "{} course(s), {charts} chart(s) from {} event(s): {}",
        reports.len(),
        replayed.events,
        index.display()
    );
    Ok(())
}

/// Writes every chart of every course under `out`.
fn write(out: &Path, reports: &[CourseReport], png: bool) -> anyhow::Result<()> {
    for report in reports {
        let dir = out.join(&report.dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        for chart in &report.charts {
            let drawn = chart.draw(&report.figures);
            let path = dir.join(format!("{}.svg", chart.name()));
            std::fs::write(&path, drawn.svg()?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if png {
                let path = dir.join(format!("{}.png", chart.name()));
                std::fs::write(&path, drawn.png()?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// A directory name for course `id`: its letters, digits, `-` and `_` (others become `_`),
/// made unique among `taken`.
fn unique_dir(id: &str, taken: &mut BTreeSet<String>) -> String {
    let base: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_directories_are_safe_and_distinct() {
        let mut taken = BTreeSet::new();
        assert_eq!(unique_dir("eng9-p2", &mut taken), "eng9-p2");
        assert_eq!(unique_dir("..", &mut taken), "__");
        assert_eq!(unique_dir("a.b", &mut taken), "a_b");
        assert_eq!(unique_dir("a+b", &mut taken), "a_b-2");
    }
}
