//! `classpulse simulate`: students typing, over real WebSockets, in the writing extension's
//! shape — keystrokes, and a `google_docs_save` every few characters whose `is` commands
//! rebuild exactly the typed text. With `--courses`, the students are spread over courses
//! (rosters imported into the running server) with TAs; with `--office-hours`, students and TAs
//! also run each course's office hours ([`office_hours`]). Seeded, so runs repeat. It is the load
//! generator of the benchmarks and the simulated class of `serve --demo`.

mod client;
pub(crate) mod courses;
mod frames;
mod in_process;
pub(crate) mod office_hours;
mod probe;
mod text;

use anyhow::Context;
use clap::Args;
use client::{Plan, Totals};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// What to simulate.
#[derive(Debug, Clone, Args)]
pub(crate) struct SimulateArgs {
    /// Ingest URL of the server.
    #[arg(long, default_value = "ws://127.0.0.1:8888/wsapi/in/")]
    pub(crate) url: String,
    /// Number of students (one connection each).
    #[arg(long, default_value_t = 10)]
    pub(crate) students: usize,
    /// Characters each student types per document.
    #[arg(long, default_value_t = 400)]
    pub(crate) chars: usize,
    /// Documents each student writes, one after the other.
    #[arg(long, default_value_t = 1)]
    pub(crate) docs: usize,
    /// A `google_docs_save` every this many characters.
    #[arg(long, default_value_t = 4)]
    pub(crate) save_every: usize,
    /// Send a `keystroke` event per character (off: only the saves).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) keystrokes: bool,
    /// Events per second per student (human typing is about 5); 0 sends as fast as possible.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) rate: f64,
    /// Frames written per flush (a browser sends 1; batching clients more).
    #[arg(long, default_value_t = 1)]
    pub(crate) batch: usize,
    /// At most this many unacknowledged events per connection (0: no limit). A window
    /// measures latency at the rate the server sustains instead of queueing in socket buffers.
    #[arg(long, default_value_t = 0)]
    pub(crate) window: u64,
    /// Ask for acks and report send→ack latency.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) ack: bool,
    /// Seed for the students' texts and the office-hours actors' choices (docs/simulate.md).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Stop after this many seconds even if not done.
    #[arg(long)]
    pub(crate) duration: Option<f64>,
    /// Prefix of the students' user ids (`<prefix><n>`, testcase auth).
    #[arg(long, default_value = "sim-")]
    pub(crate) user_prefix: String,
    /// Only open the connections, authenticate, and hold them (memory measurements).
    #[arg(long)]
    pub(crate) idle: bool,
    /// Local source addresses to spread connections over (one address has ~28,000 ports).
    #[arg(long, value_delimiter = ',')]
    pub(crate) source_ips: Vec<IpAddr>,
    /// Worker threads of the generator.
    #[arg(long, default_value_t = 2)]
    pub(crate) threads: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Skip the network: start a runtime in this process (from the configuration, in a
    /// temporary data directory) and feed the students through the ingest protocol over
    /// in-memory channels. Reports CPU time per event.
    #[arg(long)]
    pub(crate) in_process: bool,
    /// Also measure event→state latency: one more student sends an event every 50 ms and
    /// polls the read API until it shows.
    #[arg(long)]
    pub(crate) state_probe: bool,
    /// Spread the students over this many courses (`<course-prefix><k>`, round-robin), each
    /// with --tas-per-course TAs, and import their rosters into the running server (through
    /// its admin endpoint, found in its data directory: --data-dir) before they start. 0: no
    /// rosters.
    #[arg(long, default_value_t = 0)]
    pub(crate) courses: usize,
    /// TAs per course (with --courses).
    #[arg(long, default_value_t = 1)]
    pub(crate) tas_per_course: usize,
    /// Prefix of the course ids (with --courses).
    #[arg(long, default_value = "sim-course-")]
    pub(crate) course_prefix: String,
    /// The running server's data directory, where its admin endpoint is published (overrides
    /// `server.data_dir`); the rosters are imported through it.
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<std::path::PathBuf>,
    /// Write the rosters to this roster file instead of importing them (for a server on
    /// another machine: list it in its `[roster] files`), then simulate.
    #[arg(long, value_name = "PATH")]
    pub(crate) roster_out: Option<std::path::PathBuf>,
    /// Also run office hours in every course (needs --courses): each student, over a second
    /// socket, comes by with questions — joins the line, sometimes gives up (cancels), accepts
    /// when called or does not show up; each TA goes on duty, calls the next student and ends
    /// sessions. They run until the students finish typing (with --duration, for that long),
    /// then wind down: the line empties and the TAs go off duty. Timing follows the wall clock;
    /// each actor's choices follow --seed.
    #[arg(long)]
    pub(crate) office_hours: bool,
    /// Office hours' pace in seconds: a student thinks about two of these before joining, a TA
    /// pauses half of one before calling the next, a session lasts about two.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) pace: f64,
    /// Chance that a called student does not show up (the offer expires after the course's
    /// accept window, `offer_window_secs`).
    #[arg(long, default_value_t = 0.2)]
    pub(crate) no_show: f64,
    /// Chance that a waiting student gives up after a while (cancels).
    #[arg(long, default_value_t = 0.2)]
    pub(crate) give_up: f64,
}

pub(crate) fn run(config: Option<std::path::PathBuf>, args: SimulateArgs) -> anyhow::Result<()> {
    if args.in_process && (args.courses > 0 || args.office_hours) {
        anyhow::bail!("--in-process simulates typing only (no --courses, no --office-hours)");
    }
    let layout = prepare_courses(config.clone(), &args)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(async move {
            if args.in_process {
                let (config, _) = crate::cli::config_file::load(config)?;
                let (totals, cpu) = in_process::run(&args, config).await?;
                let secs = totals.elapsed.as_secs_f64().max(1e-9);
                println!(
                    "in-process: {} events in {:.2} s: {:.0} events/s; {:.2} µs CPU per event ({:.2} s CPU)",
                    totals.sent,
                    secs,
                    totals.sent as f64 / secs,
                    cpu * 1e6 / totals.sent.max(1) as f64,
                    cpu
                );
                return Ok(());
            }
            let wind_down = tokio_util::sync::CancellationToken::new();
            let office_hours = args.office_hours.then(|| {
                let settings = office_hours::Settings {
                    url: args.url.clone(),
                    seed: args.seed,
                    pace: args.pace,
                    no_show: args.no_show,
                    cancel: args.give_up,
                };
                let (layout, wind_down) = (layout.clone(), wind_down.clone());
                tokio::spawn(async move {
                    let stop = tokio_util::sync::CancellationToken::new();
                    office_hours::run(&settings, &layout, wind_down, stop).await
                })
            });
            let stop = std::sync::Arc::new(tokio::sync::Notify::new());
            let probe = args.state_probe.then(|| {
                tokio::spawn(probe::run(
                    args.url.clone(),
                    format!("{}probe", args.user_prefix),
                    stop.clone(),
                ))
            });
            let started = Instant::now();
            let totals = simulate(&args).await?;
            stop.notify_waiters();
            let tally = match office_hours {
                Some(task) => {
                    // Office hours last as long as the typing, or --duration.
                    if let Some(d) = args.duration {
                        let end = started + Duration::from_secs_f64(d);
                        tokio::time::sleep_until(end.into()).await;
                    }
                    wind_down.cancel();
                    Some(task.await.context("the office-hours actors")?)
                }
                None => None,
            };
            if let Some(probe) = probe {
                let mut us = probe.await.unwrap_or_default();
                us.sort_unstable();
                let pick = |p: f64| {
                    us.get(((p / 100.0) * us.len().saturating_sub(1) as f64).round() as usize)
                        .map(|v| f64::from(*v) / 1000.0)
                };
                let (p50, p99) = (pick(50.0), pick(99.0));
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"event_to_state_ms": {"p50": p50, "p99": p99, "samples": us.len()}})
                    );
                } else {
                    println!(
                        "event→state latency ({} samples): p50 {} p99 {}",
                        us.len(),
                        p50.map_or("-".into(), |v| format!("{v:.1} ms")),
                        p99.map_or("-".into(), |v| format!("{v:.1} ms"))
                    );
                }
            }
            print_summary(&args, &totals, tally.as_ref());
            if totals.connect_errors > 0 && totals.sent == 0 {
                anyhow::bail!("could not connect to {}", args.url);
            }
            Ok(())
        })
}

/// Runs a simulation and returns its totals (also used by `serve --demo` and the tests).
pub(crate) async fn simulate(args: &SimulateArgs) -> anyhow::Result<Totals> {
    let prepared = Instant::now();
    let plans: Vec<Plan> = (0..args.students).map(|i| Plan::new(args, i)).collect();
    let frames: usize = plans.iter().map(|p| p.frames.len()).sum();
    if !args.json {
        eprintln!(
            "simulate: {} students, {} events prepared in {:.2} s; sending to {}",
            args.students,
            frames,
            prepared.elapsed().as_secs_f64(),
            args.url
        );
    }
    let deadline = args
        .duration
        .map(|d| Instant::now() + Duration::from_secs_f64(d));
    client::run_all(args, plans, deadline).await
}

/// The courses of a run (none without --courses), their rosters imported into the running
/// server or written to --roster-out.
fn prepare_courses(
    config: Option<std::path::PathBuf>,
    args: &SimulateArgs,
) -> anyhow::Result<courses::Layout> {
    if args.office_hours && args.courses == 0 {
        anyhow::bail!("--office-hours needs courses: add --courses N");
    }
    if args.courses == 0 {
        return Ok(courses::Layout::default());
    }
    if !(0.0..=1.0).contains(&args.no_show) || !(0.0..=1.0).contains(&args.give_up) {
        anyhow::bail!("--no-show and --give-up are chances between 0 and 1");
    }
    if !(args.pace.is_finite() && args.pace > 0.0) {
        anyhow::bail!("--pace must be a positive number of seconds");
    }
    let students: Vec<String> = (0..args.students)
        .map(|i| format!("{}{i}", args.user_prefix))
        .collect();
    let layout = courses::Layout::spread(
        &students,
        args.courses,
        args.tas_per_course,
        &args.course_prefix,
    );
    if let Some(path) = &args.roster_out {
        layout.write_roster_file(path)?;
        eprintln!(
            "simulate: {} courses' rosters written to {}",
            args.courses,
            path.display()
        );
        return Ok(layout);
    }
    let (mut config, _) = crate::cli::config_file::load(config)?;
    if let Some(dir) = &args.data_dir {
        config.server.data_dir = dir.clone();
    }
    let events = layout.import(&config)?;
    if !args.json {
        eprintln!(
            "simulate: {} courses' rosters imported ({events} roster events)",
            args.courses
        );
    }
    Ok(layout)
}

fn print_summary(args: &SimulateArgs, t: &Totals, tally: Option<&office_hours::Tally>) {
    let secs = t.elapsed.as_secs_f64().max(1e-9);
    let rate = t.sent as f64 / secs;
    let (p50, p99) = (t.latency_percentile(50.0), t.latency_percentile(99.0));
    if args.json {
        let mut out = serde_json::json!({
            "students": args.students, "batch": args.batch, "sent": t.sent, "acked": t.acked,
            "seconds": secs, "events_per_second": rate,
            "ack_latency_ms": {"p50": p50, "p99": p99},
            "errors": t.errors, "connect_errors": t.connect_errors,
        });
        if let Some(tally) = tally {
            out["office_hours"] = serde_json::json!({
                "courses": tally,
                "total": office_hours::total(tally),
            });
        }
        println!("{out}");
        return;
    }
    if let Some(tally) = tally {
        for (course, c) in tally {
            print_course(course, c);
        }
        print_course("all courses", &office_hours::total(tally));
    }
    if args.idle {
        println!(
            "{} idle connections held for {:.1} s ({} failed to connect)",
            t.connected, secs, t.connect_errors
        );
    } else {
        println!(
            "sent {} events in {:.2} s: {:.0} events/s; acked {}; ack latency p50 {} p99 {}; {} error replies, {} failed connections",
            t.sent,
            secs,
            rate,
            t.acked,
            p50.map_or("-".into(), |v| format!("{v:.1} ms")),
            p99.map_or("-".into(), |v| format!("{v:.1} ms")),
            t.errors,
            t.connect_errors
        );
    }
}

fn print_course(course: &str, c: &office_hours::CourseTally) {
    let sent: Vec<String> = c
        .sent
        .iter()
        .map(|(k, v)| {
            let refused = c.refused.get(k).copied().unwrap_or(0);
            if refused > 0 {
                format!("{k} {v} ({refused} refused)")
            } else {
                format!("{k} {v}")
            }
        })
        .collect();
    println!(
        "office hours, {course}: {}; {} offers ({} let lapse), {} expired, {} sessions ended; {} of {} commands acked{}{}",
        sent.join(", "),
        c.offers,
        c.ignored_offers,
        c.expired,
        c.sessions_ended,
        c.acked,
        c.events,
        if c.unanswered > 0 {
            format!("; {} unanswered", c.unanswered)
        } else {
            String::new()
        },
        if c.resyncs > 0 {
            format!("; {} resyncs", c.resyncs)
        } else {
            String::new()
        },
    );
}
