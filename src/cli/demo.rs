//! `classpulse serve --demo`: a live dashboard to look at within a minute of start-up.
//!
//! Roster mode `all` (every student who writes is in one course), a demo teacher account with
//! a fresh password printed on the console, and a built-in simulated class: `simulate`'s
//! students typing essays at human speed through real WebSocket connections to this server,
//! round after round, until the server stops. The same students are also spread over a few
//! courses (`demo-1`, `demo-2`, … whose teacher is the demo account), each with two TAs, and run
//! office hours there: joining with questions, giving up, accepting when called or not showing
//! up (the demo's accept window is 20 seconds, so no-shows expire within the minute).

use crate::simulate::courses::Layout;
use crate::simulate::office_hours;
use crate::simulate::{SimulateArgs, simulate};
use anyhow::Context;
use classpulse_core::auth::Method;
use classpulse_core::auth::accounts::{Account, hash_password};
use classpulse_core::config::Config;
use classpulse_core::roster::RosterMode;
use classpulse_core::runtime::Runtime;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The demo teacher's user name.
pub(crate) const DEMO_USER: &str = "demo";
/// The demo teacher's display name.
const DEMO_NAME: &str = "Demo Teacher";
/// The demo's accept window for office-hours offers, in seconds (unless the configuration sets
/// one): short, so that a no-show expires while one watches.
pub(crate) const DEMO_OFFER_WINDOW_SECS: i64 = 20;
/// Prefixes of the demo's fast and slow writers (`simulate --user-prefix`).
const TYPISTS: &str = "student-";
const WRITERS: &str = "writer-";

/// Adjusts the configuration for the demo.
pub(crate) fn configure(config: &mut Config, fresh_data_dir: bool) -> anyhow::Result<()> {
    config.roster.mode = RosterMode::All;
    if !config.auth.methods.contains(&Method::Testcase) {
        // The simulated students identify themselves the way Learning Observer's tests do.
        config.auth.methods.push(Method::Testcase);
        config.auth.allow_insecure_auth = true;
    }
    let office_hours = config.modules.entry("office_hours".into()).or_default();
    office_hours
        .entry("offer_window_secs")
        .or_insert(toml::Value::Integer(DEMO_OFFER_WINDOW_SECS));
    if fresh_data_dir {
        let dir = std::env::temp_dir().join(format!(
            "classpulse-demo-{}",
            classpulse_core::datadir::random_hex(4)
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        config.server.data_dir = dir;
    }
    Ok(())
}

/// Adds the demo teacher account (in memory only); returns its password.
pub(crate) fn add_account(runtime: &Runtime) -> anyhow::Result<String> {
    let password = classpulse_core::datadir::random_hex(6);
    runtime.accounts.add_in_memory(Account {
        user_id: DEMO_USER.into(),
        name: DEMO_NAME.into(),
        password: hash_password(&password)?,
        admin: false,
    });
    Ok(password)
}

/// The students (split into fast and slow writers as [`simulate_class`] does) spread over
/// `courses` courses `demo-1`, `demo-2`, …, two TAs each, the demo teacher teaching them all.
pub(crate) fn layout(students: usize, courses: usize) -> Layout {
    let (fast, slow) = class_sizes(students);
    let ids: Vec<String> = (0..fast)
        .map(|i| format!("{TYPISTS}{i}"))
        .chain((0..slow).map(|i| format!("{WRITERS}{i}")))
        .collect();
    let mut layout = Layout::spread(&ids, courses, 2, "demo-");
    for (k, c) in layout.courses.iter_mut().enumerate() {
        // Courses count from 1 on the dashboard.
        let id = format!("demo-{}", k + 1);
        c.tas = (0..2).map(|j| format!("{id}-ta{j}")).collect();
        c.id = id;
    }
    layout.teacher = Some((DEMO_USER.into(), DEMO_NAME.into()));
    layout
}

/// Imports the demo courses' rosters (roster events in the log, as `roster import` appends).
pub(crate) async fn add_courses(runtime: &Runtime, layout: &Layout) -> anyhow::Result<()> {
    classpulse_core::roster::import::import(
        &runtime.roster,
        &runtime.writer,
        &runtime.config.server.node_id,
        &layout.rosters(),
    )
    .await
    .context("importing the demo courses")?;
    Ok(())
}

/// Prints how to sign in.
pub(crate) fn announce(addr: SocketAddr, password: &str, runtime: &Runtime, layout: &Layout) {
    println!();
    println!("  ClassPulse demo: a simulated class is starting to type.");
    println!("  Open http://{addr}/ and sign in as  {DEMO_USER}  with password  {password}");
    let courses: Vec<&str> = layout.courses.iter().map(|c| c.id.as_str()).collect();
    if !courses.is_empty() {
        println!(
            "  Office hours run in {} (the dashboard's office-hours panel; the TA view: http://{addr}/office-hours/ta)",
            courses.join(", ")
        );
    }
    println!(
        "  (event log in {})",
        runtime.config.server.data_dir.display()
    );
    println!();
}

/// Runs simulated students against the server at `addr` until `shutdown`: a class of
/// `students` typing at about five events a second each, and a few slower writers.
pub(crate) async fn simulate_class(addr: SocketAddr, students: usize, shutdown: CancellationToken) {
    let url = format!("ws://{addr}/wsapi/in/");
    let group = |prefix: &str, students: usize, rate: f64, round: u64| SimulateArgs {
        url: url.clone(),
        students,
        chars: 1200,
        docs: 1,
        save_every: 3,
        rate,
        batch: 1,
        ack: false,
        seed: round,
        duration: None,
        user_prefix: prefix.into(),
        idle: false,
        source_ips: Vec::new(),
        threads: 1,
        json: true,
        in_process: false,
        state_probe: false,
        keystrokes: true,
        window: 0,
        courses: 0,
        tas_per_course: 0,
        course_prefix: String::new(),
        data_dir: None,
        roster_out: None,
        office_hours: false,
        pace: 0.0,
        no_show: 0.0,
        give_up: 0.0,
    };
    let (fast, slow) = class_sizes(students);
    // Give the server a moment to start serving.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for round in 1.. {
        let typists = group(TYPISTS, fast, 5.0, round);
        let readers = group(WRITERS, slow, 1.5, round + 1000);
        tokio::select! {
            () = shutdown.cancelled() => return,
            (a, b) = async { tokio::join!(simulate(&typists), simulate(&readers)) } => {
                if let Err(e) = a.and(b) {
                    tracing::warn!(error = %e, "demo class stopped");
                    return;
                }
            }
        }
    }
}

/// Fast typists and slow writers in a class of `students`.
fn class_sizes(students: usize) -> (usize, usize) {
    let slow = (students / 5).max(1);
    (students.saturating_sub(slow).max(1), slow)
}

/// Runs the demo courses' office hours against the server at `addr` until `shutdown`.
pub(crate) async fn run_office_hours(
    addr: SocketAddr,
    layout: Layout,
    shutdown: CancellationToken,
) {
    let settings = office_hours::Settings {
        url: format!("ws://{addr}/wsapi/in/"),
        seed: 1,
        pace: 3.0,
        no_show: 0.25,
        cancel: 0.15,
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Never wound down: they run until the server stops.
    office_hours::run(&settings, &layout, CancellationToken::new(), shutdown).await;
}
