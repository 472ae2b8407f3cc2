//! `simulate --in-process`: the same students, fed through the real ingest state machine over
//! in-memory channels instead of sockets, into a runtime started in this process. It measures
//! the pipeline itself (ingest → log → router → reducers → KVS) without the network stack or
//! the WebSocket framing, and reports CPU time per event — steadier than throughput on a
//! shared machine.

use super::SimulateArgs;
use super::client::{Plan, Totals};
use super::frames;
use anyhow::Context;
use axum::extract::ws::Message;
use classpulse_core::config::Config;
use classpulse_core::ingest::{ConnInfo, connection};
use classpulse_core::runtime::{Runtime, RuntimeOptions};
use std::convert::Infallible;
use std::time::Instant;

/// Runs the students through an in-process runtime built from `config` (its data directory is
/// replaced by a fresh temporary one). Returns the totals and the process CPU seconds used.
pub(crate) async fn run(args: &SimulateArgs, mut config: Config) -> anyhow::Result<(Totals, f64)> {
    let dir = std::env::temp_dir().join(format!("classpulse-inprocess-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    config.server.data_dir = dir.clone();
    let modules = crate::modules::build(&config)?;
    let runtime = Runtime::start(RuntimeOptions::new(config, modules))
        .await
        .context("starting the in-process runtime")?;
    let plans: Vec<Plan> = (0..args.students).map(|i| Plan::new(args, i)).collect();
    let inputs: Vec<Vec<Message>> = plans
        .iter()
        .map(|plan| {
            let mut frames = vec![Message::Text(
                frames::lock_fields(&plan.user_id, true).into(),
            )];
            frames.extend(
                plan.frames
                    .iter()
                    .filter_map(|m| m.to_text().ok())
                    .map(|t| Message::Text(t.to_owned().into())),
            );
            frames
        })
        .collect();
    let sent: u64 = inputs.iter().map(|f| f.len() as u64 - 1).sum();
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, frames) in inputs.into_iter().enumerate() {
        let ingest = runtime.ingest.clone();
        let shutdown = runtime.shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let stream = futures_util::stream::iter(frames.into_iter().map(Ok::<_, Infallible>));
            let sink = futures_util::sink::drain::<Message>();
            let info = ConnInfo {
                ip: format!("in-process-{i}"),
                ..ConnInfo::default()
            };
            connection::serve(ingest, Box::pin(sink), stream, info, shutdown).await;
        }));
    }
    for task in tasks {
        task.await?;
    }
    // Shutdown waits for the router to reduce the last committed batch.
    runtime.shutdown().await;
    let elapsed = started.elapsed();
    let cpu = process_cpu_seconds() - cpu_before;
    let _ = std::fs::remove_dir_all(&dir);
    let totals = Totals::finished(sent, elapsed);
    Ok((totals, cpu))
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`).
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
