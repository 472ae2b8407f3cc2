//! `classpulse timetable import|check`: bring a timetable file or a course calendar into the
//! log, and report conflicts.
//!
//! `import` never writes a running server's log: when the log is locked (a server runs on
//! it), the file goes to that server's `POST /api/timetable/import` with a short-lived admin
//! token signed from the token secret, and the server appends the events; otherwise the events
//! are appended offline under the log's lock and take effect when the server next starts.

use crate::cli::config_file;
use anyhow::{Context, bail};
use clap::Subcommand;
use classpulse_core::clock::{SharedClock, SystemClock};
use classpulse_core::config::Config;
use classpulse_core::log::system::{append_offline, data_dir_in_use};
use classpulse_timetable::conflicts::{Conflict, check};
use classpulse_timetable::import::{Format, plan, replay_catalog};
use classpulse_timetable::{TimetableConfig, TimetableModule};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub(crate) enum TimetableCommand {
    /// Import a timetable: a TOML file replaces the whole timetable; an iCalendar file (.ics)
    /// replaces one course's sessions and office hours (--course). Without FILE: the file named
    /// by [modules.timetable] file.
    Import {
        /// The .toml or .ics file.
        file: Option<PathBuf>,
        /// The course an .ics file is for.
        #[arg(long)]
        course: Option<String>,
        /// Show what would change, and the conflicts, without importing.
        #[arg(long)]
        dry_run: bool,
        /// The running server to send the import to (default: server.bind of the config).
        #[arg(long, value_name = "HOST:PORT")]
        server: Option<String>,
    },
    /// Check for conflicts: a file (a .toml timetable, or an .ics with --course over the
    /// current timetable), or without FILE the timetable in the log. Exits 1 when there are
    /// conflicts.
    Check {
        /// The .toml or .ics file.
        file: Option<PathBuf>,
        /// The course an .ics file is for; with no file, only this course's conflicts.
        #[arg(long)]
        course: Option<String>,
        /// Print the conflicts as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(config: Option<PathBuf>, command: TimetableCommand) -> anyhow::Result<()> {
    let (config, _) = config_file::load(config)?;
    let tt: TimetableConfig = config.module(TimetableModule::NAME)?;
    tt.validate()?;
    match command {
        TimetableCommand::Import {
            file,
            course,
            dry_run,
            server,
        } => {
            let file = file
                .or(tt.file.clone())
                .context("no file given, and [modules.timetable] file is not set")?;
            import(&config, &tt, &file, course.as_deref(), dry_run, server)
        }
        TimetableCommand::Check { file, course, json } => {
            check_command(&config, &tt, file.as_deref(), course.as_deref(), json)
        }
    }
}

fn format_of(file: &Path) -> anyhow::Result<Format> {
    Format::of_path(file).with_context(|| format!("{}: use a .toml or .ics file", file.display()))
}

fn read(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

fn print_conflicts(conflicts: &[Conflict]) {
    if conflicts.is_empty() {
        println!("no conflicts");
        return;
    }
    println!("{} conflict(s):", conflicts.len());
    for c in conflicts {
        println!("  - {}", c.message);
    }
}

fn import(
    config: &Config,
    tt: &TimetableConfig,
    file: &Path,
    course: Option<&str>,
    dry_run: bool,
    server: Option<String>,
) -> anyhow::Result<()> {
    let format = format_of(file)?;
    let text = read(file)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if server.is_some() || data_dir_in_use(&config.server.data_dir) {
        let addr = server.unwrap_or_else(|| config.server.bind.replace("0.0.0.0", "127.0.0.1"));
        return import_remote(config, &addr, &text, format, course, dry_run);
    }
    let current = replay_catalog(config)?;
    let plan = plan(&current, &text, format, course, tt, file)?;
    for w in &plan.warnings {
        println!("warning: {w}");
    }
    print_conflicts(&plan.conflicts);
    if dry_run {
        println!("dry run: {} event(s) would be appended", plan.events.len());
        return Ok(());
    }
    if plan.events.is_empty() {
        println!(
            "the timetable in the log already matches {}",
            file.display()
        );
        return Ok(());
    }
    let clock: SharedClock = Arc::new(SystemClock);
    let seq = runtime.block_on(append_offline(
        config,
        clock,
        "classpulse-timetable",
        &plan.events,
    ))?;
    println!(
        "appended {} event(s) to the log (up to seq {seq}); they take effect when the server starts",
        plan.events.len()
    );
    Ok(())
}

fn import_remote(
    config: &Config,
    addr: &str,
    text: &str,
    format: Format,
    course: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let secret = std::env::var("CLASSPULSE_TOKEN_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .or(config.auth.token_secret.clone())
        .context(
            "a server is running on this log; importing through it needs the token secret \
             (auth.token_secret or CLASSPULSE_TOKEN_SECRET) — or stop the server and import offline",
        )?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let token = classpulse_timetable::http::admin_token(secret.as_bytes(), now, 300);
    let mut path = format!(
        "/api/timetable/import?format={}&dry_run={dry_run}",
        match format {
            Format::Toml => "toml",
            Format::Ics => "ics",
        }
    );
    if let Some(c) = course {
        path.push_str("&course=");
        path.push_str(&url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>());
    }
    let target = crate::cli::http::Target {
        addr: addr.to_owned(),
        tls_cert: config.server.tls.as_ref().map(|t| t.cert.clone()),
    };
    let (status, body) = crate::cli::http::request(
        &target,
        "POST",
        &path,
        &token,
        "text/plain; charset=utf-8",
        text.as_bytes(),
    )
    .with_context(|| {
        format!("the log is in use, but no server answers on {addr} (use --server)")
    })?;
    if status != 200 {
        bail!("the server refused the import ({status}): {}", body.trim());
    }
    let reply: serde_json::Value = serde_json::from_str(&body).context("the server's reply")?;
    for w in reply["warnings"].as_array().into_iter().flatten() {
        println!("warning: {}", w.as_str().unwrap_or_default());
    }
    let conflicts: Vec<Conflict> =
        serde_json::from_value(reply["conflicts"].clone()).unwrap_or_default();
    print_conflicts(&conflicts);
    if dry_run {
        println!("dry run: {} event(s) would be appended", reply["events"]);
    } else {
        println!("the server appended {} event(s)", reply["appended"]);
    }
    Ok(())
}

fn check_command(
    config: &Config,
    tt: &TimetableConfig,
    file: Option<&Path>,
    course: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let file = file.map(Path::to_owned).or(tt.file.clone());
    let mut conflicts = match &file {
        Some(file) => {
            let format = format_of(file)?;
            let current = match format {
                Format::Toml => Default::default(),
                Format::Ics => replay_catalog(config)?,
            };
            let plan = plan(&current, &read(file)?, format, course, tt, file)?;
            if !json {
                for w in &plan.warnings {
                    println!("warning: {w}");
                }
            }
            plan.conflicts
        }
        None => {
            let mut all = check(&replay_catalog(config)?);
            if let Some(c) = course {
                all.retain(|x| x.involves(c));
            }
            all
        }
    };
    conflicts.sort_by(|a, b| a.message.cmp(&b.message).then(a.kind.cmp(&b.kind)));
    if json {
        println!("{}", serde_json::to_string_pretty(&conflicts)?);
    } else {
        print_conflicts(&conflicts);
    }
    if conflicts.is_empty() {
        Ok(())
    } else {
        bail!("{} conflict(s) in the timetable", conflicts.len())
    }
}
