//! `classpulse snapshot`: write a snapshot of the state now.
//!
//! When a server runs on the data directory (it holds the directory's lock) the snapshot is
//! asked of it over its admin endpoint — it takes one between two batches and writes it.
//! Otherwise the state a server would start with (newest snapshot, then the log after it) is
//! built here, holding the lock, and written.

use crate::cli::{config_file, http};
use anyhow::{Context, bail};
use clap::Args;
use classpulse_core::datadir::{AdminEndpoint, DataDirLock, LockError};
use classpulse_core::kvs::MemoryKvs;
use classpulse_core::roster::RosterIndex;
use classpulse_core::snapshot::{self, Snapshotter};
use classpulse_core::timers::TimerTable;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub(crate) struct SnapshotArgs {
    /// Data directory (overrides `server.data_dir`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

pub(crate) fn run(config: Option<PathBuf>, args: SnapshotArgs) -> anyhow::Result<()> {
    let (mut config, _) = config_file::load(config)?;
    if let Some(dir) = args.data_dir {
        config.server.data_dir = dir;
    }
    if !snapshot::used(&config) {
        bail!(
            "snapshots are used with the memory state store only: with [kvs] type = \"redis\" the store persists itself and each state carries the log positions it reflects"
        );
    }
    let info: serde_json::Value = match DataDirLock::acquire(&config.server.data_dir) {
        Ok(lock) => offline(config, lock)?,
        Err(LockError::Busy(_)) => online(&config)?,
        Err(e) => return Err(e.into()),
    };
    println!(
        "snapshot written: {} (current through log seq {}, {} states, {} bytes)",
        info["path"].as_str().unwrap_or("?"),
        info["through_seq"],
        info["states"],
        info["bytes"]
    );
    Ok(())
}

/// A server runs: it takes the snapshot.
fn online(config: &classpulse_core::config::Config) -> anyhow::Result<serde_json::Value> {
    let endpoint = AdminEndpoint::read(&config.server.data_dir).with_context(|| {
        format!(
            "a server holds {} but its admin.json is unreadable",
            config.server.data_dir.display()
        )
    })?;
    let (status, text) = http::request(
        &http::Target::admin(&endpoint, config),
        "POST",
        "/api/admin/snapshot",
        &endpoint.key,
        "application/json",
        b"",
    )?;
    if status != 200 {
        bail!(
            "the server did not take a snapshot ({status}): {}",
            text.trim()
        );
    }
    eprintln!("taken by the running server at {}", endpoint.addr);
    serde_json::from_str(&text).context("malformed answer from the server")
}

/// No server runs: build the state here and write it.
fn offline(
    config: classpulse_core::config::Config,
    _lock: DataDirLock,
) -> anyhow::Result<serde_json::Value> {
    let modules = crate::modules::build(&config)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let timers = Arc::new(TimerTable::new());
            let registry = Arc::new(classpulse_core::replay::registry(&modules, &timers, None)?);
            let kvs = Arc::new(MemoryKvs::new());
            let roster = Arc::new(RosterIndex::new(config.roster.mode));
            let (through, _) = classpulse_core::replay::load_current(
                &config,
                registry.clone(),
                kvs.clone(),
                roster.clone(),
                timers,
            )
            .await?;
            let snapshotter = Arc::new(Snapshotter::new(&config, registry, roster, kvs));
            let captured = snapshotter.capture(through).await?;
            let info = tokio::task::spawn_blocking(move || snapshotter.write(captured)).await??;
            Ok(serde_json::to_value(info)?)
        })
}
