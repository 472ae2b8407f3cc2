//! `classpulse serve --demo`: a live dashboard to look at within a minute of start-up.
//!
//! Roster mode `all` (every student who writes is in one course), a demo teacher account with
//! a fresh password printed on the console, and a built-in simulated class: `simulate`'s
//! students typing essays at human speed through real WebSocket connections to this server,
//! round after round, until the server stops.

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

/// Adjusts the configuration for the demo.
pub(crate) fn configure(config: &mut Config, fresh_data_dir: bool) -> anyhow::Result<()> {
    config.roster.mode = RosterMode::All;
    if !config.auth.methods.contains(&Method::Testcase) {
        // The simulated students identify themselves the way Learning Observer's tests do.
        config.auth.methods.push(Method::Testcase);
        config.auth.allow_insecure_auth = true;
    }
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
        name: "Demo Teacher".into(),
        password: hash_password(&password)?,
        admin: false,
    });
    Ok(password)
}

/// Prints how to sign in.
pub(crate) fn announce(addr: SocketAddr, password: &str, runtime: &Runtime) {
    println!();
    println!("  ClassPulse demo: a simulated class is starting to type.");
    println!("  Open http://{addr}/ and sign in as  {DEMO_USER}  with password  {password}");
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
    };
    let slow = (students / 5).max(1);
    let fast = students.saturating_sub(slow).max(1);
    // Give the server a moment to start serving.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for round in 1.. {
        let typists = group("student-", fast, 5.0, round);
        let readers = group("writer-", slow, 1.5, round + 1000);
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
