//! Parallel replay gives exactly the serial replay's state, with the real binary: a log of
//! students typing in two courses (rosters imported through the server, so roster events sit
//! between the writing events) is replayed serially and over three lanes — with every run of
//! lines, however short, spread over the lanes — and a server started on the log without a
//! snapshot (start-up replay, also over three lanes) holds the same states.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Runs the binary with extra environment variables.
fn run_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A snapshot file's states, one JSON line each, sorted (the store's order is arbitrary), and
/// its roster; the header's creation time is left out.
fn snapshot_states(path: &Path) -> (Vec<String>, Value) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let mut states: Vec<String> = lines
        .filter(|l| !l.starts_with("{\"end\""))
        .map(str::to_owned)
        .collect();
    states.sort();
    (states, header["roster"].clone())
}

const SERIAL: [(&str, &str); 1] = [("CLASSPULSE_REPLAY_THREADS", "1")];
const PARALLEL: [(&str, &str); 2] = [
    ("CLASSPULSE_REPLAY_THREADS", "3"),
    ("CLASSPULSE_REPLAY_MIN_RUN", "1"),
];

#[tokio::test]
async fn parallel_replay_equals_serial_replay_byte_for_byte() {
    let dir = TempDir::new("replay-parallel");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[ingest]\nmax_events_per_second = 0\n\n[snapshot]\ninterval_secs = 0\non_shutdown = false\n",
    )
    .unwrap();
    let cfg = config.to_str().unwrap().to_owned();
    let server = Server::start(dir.path(), &["--config", &cfg]);
    let url = server.ws_url();
    let data = server.data_dir.clone();
    let data_arg = data.to_str().unwrap().to_owned();
    let args = [
        "simulate",
        "--url",
        &url,
        "--data-dir",
        &data_arg,
        "--students",
        "24",
        "--chars",
        "120",
        "--docs",
        "2",
        "--rate",
        "0",
        "--batch",
        "8",
        "--courses",
        "2",
    ];
    let (ok, out, err) = run_cli_async(dir.path(), &args).await;
    assert!(ok, "simulate: {out}{err}");
    server.stop();
    let log = std::fs::read_dir(data.join("log"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect::<String>();
    assert!(
        log.contains("org.classpulse.roster"),
        "rosters are in the log"
    );

    let mut results = Vec::new();
    for (name, env) in [("serial", &SERIAL[..]), ("parallel", &PARALLEL[..])] {
        let out_file = dir.path().join(format!("{name}.snapshot"));
        let (ok, out, err) = run_with_env(
            dir.path(),
            &[
                "--config",
                &cfg,
                "replay",
                "--data-dir",
                &data_arg,
                "--out",
                out_file.to_str().unwrap(),
            ],
            env,
        );
        assert!(ok, "{name} replay: {out}{err}");
        assert!(out.contains("reducer failures 0"), "{out}");
        results.push(snapshot_states(&out_file));
    }
    let (serial, parallel) = (&results[0], &results[1]);
    assert!(serial.0.len() > 24 * 5, "states: {}", serial.0.len());
    assert_eq!(serial.0, parallel.0, "states differ");
    assert_eq!(serial.1, parallel.1, "rosters differ");

    // Start-up replay (no snapshot in the data directory) over three lanes, then a snapshot
    // taken through the running server: the same states again.
    let server = Server::start_with_env(dir.path(), &["--config", &cfg], &PARALLEL);
    let (ok, out, err) = run_cli(
        dir.path(),
        &["--config", &cfg, "snapshot", "--data-dir", &data_arg],
    );
    assert!(ok, "snapshot: {out}{err}");
    server.stop();
    let taken = std::fs::read_dir(data.join("snapshots"))
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a snapshot was written");
    let started = snapshot_states(&taken);
    assert_eq!(started.0, serial.0, "start-up states differ");
    assert_eq!(started.1, serial.1, "start-up rosters differ");
}
