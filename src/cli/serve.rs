//! `classpulse serve`: run a node until Ctrl-C or SIGTERM, then drain and sync the log.

use crate::cli::config_file;
use anyhow::Context;
use clap::Args;
use classpulse_core::runtime::{Runtime, RuntimeOptions};
use classpulse_core::server;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (overrides `server.bind`), e.g. 0.0.0.0:8888; port 0 picks one.
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// Directory for the event log (overrides `server.data_dir`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Demo: a simulated class of students typing at human speed, every student in one
    /// course (roster mode `all`) and also spread over the demo courses (--demo-courses), where
    /// simulated TAs and students run office hours (20-second accept window unless the config
    /// sets `offer_window_secs`); a demo teacher account, teaching them all, printed here. Uses
    /// a fresh temporary data directory unless --data-dir is given.
    #[arg(long)]
    demo: bool,
    /// Students in the demo's simulated class.
    #[arg(long, default_value_t = 30, requires = "demo")]
    demo_students: usize,
    /// Courses the demo's students are spread over, each with two TAs running office hours
    /// (0: none).
    #[arg(long, default_value_t = 2, requires = "demo")]
    demo_courses: usize,
}

pub(crate) fn run(config: Option<PathBuf>, args: ServeArgs) -> anyhow::Result<()> {
    let (mut config, from) = config_file::load(config)?;
    if let Some(bind) = args.bind {
        config.server.bind = bind;
    }
    if let Some(dir) = args.data_dir.clone() {
        config.server.data_dir = dir;
    }
    if args.demo {
        crate::cli::demo::configure(&mut config, args.data_dir.is_none())?;
    }
    config.validate()?;
    init_tracing();
    tracing::info!(config = %from, "starting classpulse {}", env!("CARGO_PKG_VERSION"));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(async move {
            let modules = crate::modules::build(&config)?;
            let bind = config.server.bind.clone();
            let insecure: Vec<String> = config
                .auth
                .methods
                .iter()
                .filter(|m| m.is_insecure())
                .map(|m| format!("{m:?}").to_lowercase())
                .collect();
            let timetable: classpulse_timetable::TimetableConfig =
                config.module(classpulse_timetable::TimetableModule::NAME)?;
            let runtime = Runtime::start(RuntimeOptions::new(config, modules)).await?;
            // The configured timetable file, when it changed since its last import, becomes
            // events in the log. A broken file is reported, not fatal: ingest keeps running on
            // the timetable the log already has.
            if let Err(e) =
                classpulse_timetable::import::sync_configured_file(&runtime, &timetable).await
            {
                tracing::error!(error = %e, "timetable file not imported");
            }
            let demo = if args.demo {
                let layout = crate::cli::demo::layout(args.demo_students, args.demo_courses);
                crate::cli::demo::add_courses(&runtime, &layout).await?;
                Some((crate::cli::demo::add_account(&runtime)?, layout))
            } else {
                None
            };
            let listener = tokio::net::TcpListener::bind(&bind)
                .await
                .with_context(|| format!("cannot listen on {bind}"))?;
            let addr = listener.local_addr()?;
            if !insecure.is_empty() && !addr.ip().is_loopback() {
                tracing::warn!(
                    methods = insecure.join(", "),
                    %addr,
                    "insecure event auth methods are enabled on a non-loopback address: anyone \
                     who can reach this port can send events as any student; use the `token` method"
                );
            }
            tracing::info!(
                events = runtime.replayed,
                "state restored from the event log"
            );
            runtime.publish_admin_endpoint(addr);
            let (http, ws) = if runtime.tls.is_some() {
                ("https", "wss")
            } else {
                ("http", "ws")
            };
            println!(
                "classpulse listening on {http}://{addr} (dashboards: {http}://{addr}/, ingest: {ws}://{addr}/wsapi/in/)"
            );
            if let Some((password, layout)) = demo {
                crate::cli::demo::announce(addr, &password, &runtime, &layout);
                tokio::spawn(crate::cli::demo::simulate_class(
                    addr,
                    args.demo_students,
                    runtime.shutdown.clone(),
                ));
                tokio::spawn(crate::cli::demo::run_office_hours(
                    addr,
                    layout,
                    runtime.shutdown.clone(),
                ));
            }
            let hub = classpulse_dashboards::Hub::start(runtime.clone()).await;
            let app = server::routes(runtime.clone())
                .merge(classpulse_dashboards::routes(hub))
                .merge(classpulse_timetable::http::routes(runtime.clone(), timetable))
                .merge(classpulse_office_hours::http::routes(runtime.clone()));
            server::serve(runtime, listener, app, shutdown_signal()).await?;
            tracing::info!("stopped; the event log is synced");
            Ok(())
        })
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`); `CLASSPULSE_LOG_FORMAT=json` makes
/// one JSON object per line, with the fields and spans (connection, user, course ids) as keys.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let json = std::env::var("CLASSPULSE_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("interrupted; shutting down"),
        () = term => tracing::info!("terminated; shutting down"),
    }
}
