//! `classpulse`: the composition root. Parses the command line, loads `config.toml`, lists the
//! modules this binary ships, and hands them to the core runtime. No logic of its own lives
//! here; each subcommand is one file under `cli/`.

mod cli;
mod modules;
mod simulate;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the event path allocates and frees many small buffers,
/// and glibc's free lists cost more than the JSON work (see BENCHMARKS.md, "Where the time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// ClassPulse: real-time learning analytics, compatible with Learning Observer's clients.
#[derive(Debug, Parser)]
#[command(name = "classpulse", version, about, propagate_version = true)]
struct Cli {
    /// Configuration file. Default: ./config.toml when it exists, else built-in defaults
    /// (which equal the shipped config.toml).
    #[arg(long, global = true, env = "CLASSPULSE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(cli::serve::ServeArgs),
    /// Issue signed student tokens (for the `token` auth method and student page links).
    #[command(subcommand)]
    Token(cli::token::TokenCommand),
    /// Manage staff accounts (password sign-in).
    #[command(subcommand)]
    User(cli::user::UserCommand),
    /// Manage course rosters (as roster events in the log).
    #[command(subcommand)]
    Roster(cli::roster::RosterCommand),
    /// Stream simulated students typing, over real WebSockets, to a running server; with
    /// --courses and --office-hours, also spread over courses with TAs, running office hours.
    Simulate(simulate::SimulateArgs),
    /// Rebuild state from logs (this node's, archived segments, Learning Observer's study
    /// logs) into the configured store; with the memory store, into a snapshot `serve` loads.
    Replay(cli::replay::ReplayArgs),
    /// Write a snapshot of the state now (through a running server, or offline).
    Snapshot(cli::snapshot::SnapshotArgs),
    /// Validate a configuration and print the effective one, defaults included.
    CheckConfig,
    /// Charts of every course (time on task, words, activity, office hours) from a data
    /// directory's log, as SVG (and PNG) with an index.html.
    Report(cli::report::ReportArgs),
    /// Import a timetable (TOML) or a course calendar (.ics); check it for conflicts.
    #[command(subcommand)]
    Timetable(cli::timetable::TimetableCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cli::serve::run(cli.config, args),
        Command::Token(cmd) => cli::token::run(cli.config, cmd),
        Command::User(cmd) => cli::user::run(cli.config, cmd),
        Command::Roster(cmd) => cli::roster::run(cli.config, cmd),
        Command::Simulate(args) => simulate::run(cli.config, args),
        Command::Replay(args) => cli::replay::run(cli.config, args),
        Command::Snapshot(args) => cli::snapshot::run(cli.config, args),
        Command::CheckConfig => cli::check_config::run(cli.config),
        Command::Report(args) => cli::report::run(cli.config, args),
        Command::Timetable(cmd) => cli::timetable::run(cli.config, cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
