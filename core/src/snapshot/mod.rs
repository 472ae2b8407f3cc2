//! Snapshots of the state, and the log retention they make possible.
//!
//! With the memory state store every start would otherwise replay the whole log. A snapshot is
//! the store's every state (with the log positions each reflects), the roster index, and the
//! log sequence number through which all of it is current ([`format`]). The server writes one
//! periodically (`snapshot.interval_secs`, when events arrived since the last), at shutdown,
//! and on demand (`classpulse snapshot`, `POST /api/admin/snapshot`); start-up loads the newest
//! snapshot that checks out and replays only the log after it. A snapshot that is damaged, of
//! an unknown format version, or ahead of the log is reported and skipped — the next older one
//! is tried, then the whole log — never fatal.
//!
//! A snapshot is taken by the applier between two batches (the only writer of the store), so
//! it is a consistent cut at the last applied sequence number: the timer table (a state like
//! any other) and the roster index come back exactly as they were. Serializing happens on the
//! applier's task (ingest goes on; reduction pauses for that long); writing the file happens on
//! a blocking thread, crash-safely ([`files`]).
//!
//! With the Redis store snapshots are not used: Redis persists states itself, each state
//! carries the log positions it reflects, and a node re-applies its log when Redis lost
//! updates — which is also why retention never deletes a Redis node's log.

pub mod files;
pub mod format;
pub mod retention;

use crate::config::{Config, KvsConfig};
use crate::kvs::{Kvs, KvsError, MemoryKvs, Slot, StateKey};
use crate::reducer::ScopeKey;
use crate::roster::RosterIndex;
use crate::router::Registry;
use format::{Encoder, FormatError, Header};
use retention::RetentionReport;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `[snapshot]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// Seconds between periodic snapshots, taken only when events arrived since the last one.
    /// 0: none periodically (still at shutdown and on demand).
    pub interval_secs: u64,
    /// Take a snapshot when the server stops.
    pub on_shutdown: bool,
    /// Snapshots kept; older ones are deleted. Retention keeps every segment the oldest kept
    /// snapshot still needs.
    pub keep: usize,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            interval_secs: 300,
            on_shutdown: true,
            keep: 2,
        }
    }
}

impl SnapshotConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// `(key, message)` for the first bad value.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if self.keep == 0 {
            return Err(("snapshot.keep", "must be at least 1"));
        }
        Ok(())
    }
}

/// Taking or writing a snapshot failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The state store could not be read.
    #[error("cannot read the state store: {0}")]
    Kvs(#[from] KvsError),
    /// The file could not be written.
    #[error("cannot write the snapshot in {dir}: {source}")]
    Io {
        /// The snapshot directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// This node's state store does not use snapshots.
    #[error(
        "snapshots are used with the memory state store only (with Redis the store persists itself)"
    )]
    NotUsed,
    /// The node is stopping.
    #[error("the server is shutting down")]
    Stopping,
}

/// A snapshot serialized in memory, not yet written.
pub struct Captured {
    /// The sequence number it is current through.
    pub through_seq: u64,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// States in it.
    pub states: u64,
    /// Time spent serializing.
    pub capture: Duration,
}

/// What taking a snapshot did.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotInfo {
    /// The file.
    pub path: PathBuf,
    /// The log sequence number it is current through.
    pub through_seq: u64,
    /// States in it.
    pub states: u64,
    /// Its size.
    pub bytes: u64,
    /// Milliseconds spent serializing (reduction paused meanwhile).
    pub capture_ms: u64,
    /// Milliseconds spent writing and syncing.
    pub write_ms: u64,
    /// Log segments retention removed afterwards.
    pub retention: RetentionReport,
}

/// Takes and writes snapshots of one node's state.
pub struct Snapshotter {
    dir: PathBuf,
    log_dir: PathBuf,
    node: String,
    registry: Arc<Registry>,
    roster: Arc<RosterIndex>,
    kvs: Arc<dyn Kvs>,
    keep: usize,
    retention: Option<Duration>,
    archive: Option<PathBuf>,
    write_lock: Mutex<()>,
    last: AtomicU64,
}

impl Snapshotter {
    /// A snapshotter for the node `config` describes, over its store and roster index.
    pub fn new(
        config: &Config,
        registry: Arc<Registry>,
        roster: Arc<RosterIndex>,
        kvs: Arc<dyn Kvs>,
    ) -> Self {
        Snapshotter {
            dir: files::dir(&config.server.data_dir),
            log_dir: crate::runtime::log_dir(config),
            node: config.server.node_id.clone(),
            registry,
            roster,
            kvs,
            keep: config.snapshot.keep,
            retention: (config.log.retention_hours > 0)
                .then(|| Duration::from_secs(config.log.retention_hours * 3600)),
            archive: config.archive_dir(),
            write_lock: Mutex::new(()),
            last: AtomicU64::new(0),
        }
    }

    /// The directory snapshots are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sequence number of the newest snapshot written or loaded (0: none).
    pub fn last_through(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    /// Notes that the state already has a snapshot through `seq` (loaded at start-up).
    pub fn loaded(&self, seq: u64) {
        self.last.fetch_max(seq, Ordering::AcqRel);
    }

    /// Serializes the store and the roster index, current through `through_seq`. The caller
    /// guarantees nothing writes to the store meanwhile (the applier calls it between batches).
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn capture(&self, through_seq: u64) -> Result<Captured, SnapshotError> {
        let started = Instant::now();
        let header = Header {
            format: format::FORMAT.into(),
            version: format::VERSION,
            node: self.node.clone(),
            through_seq,
            created_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            reducers: reducer_versions(&self.registry),
            roster: self.roster.export(),
        };
        let mut encoder = Encoder::new(&header);
        self.kvs
            .scan(&mut |key: &StateKey, slot: &Slot| encoder.push(key, slot))
            .await?;
        let states = encoder.states();
        Ok(Captured {
            through_seq,
            bytes: encoder.finish(),
            states,
            capture: started.elapsed(),
        })
    }

    /// Writes a captured snapshot crash-safely, drops snapshots beyond `snapshot.keep`, and
    /// applies log retention. Blocking.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write(&self, captured: Captured) -> Result<SnapshotInfo, SnapshotError> {
        let _one_at_a_time = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let io = |source| SnapshotError::Io {
            dir: self.dir.clone(),
            source,
        };
        let path = files::write(&self.dir, captured.through_seq, &captured.bytes).map_err(io)?;
        self.last.fetch_max(captured.through_seq, Ordering::AcqRel);
        let kept = files::prune(&self.dir, self.keep).map_err(io)?;
        let write = started.elapsed();
        let mut retention = RetentionReport::default();
        if let (Some(max_age), Some(oldest)) = (self.retention, kept.first()) {
            match retention::apply(
                &self.log_dir,
                oldest.through_seq,
                max_age,
                self.archive.as_deref(),
            ) {
                Ok(r) => retention = r,
                Err(e) => tracing::warn!(error = %e, "log retention failed; segments stay"),
            }
        }
        let info = SnapshotInfo {
            path,
            through_seq: captured.through_seq,
            states: captured.states,
            bytes: captured.bytes.len() as u64,
            capture_ms: captured.capture.as_millis() as u64,
            write_ms: write.as_millis() as u64,
            retention,
        };
        tracing::info!(
            snapshot = %info.path.display(),
            through_seq = info.through_seq,
            states = info.states,
            bytes = info.bytes,
            capture_ms = info.capture_ms,
            write_ms = info.write_ms,
            "snapshot written"
        );
        Ok(info)
    }
}

/// Whether a node with this configuration keeps snapshots (the memory store does).
pub fn used(config: &Config) -> bool {
    matches!(config.kvs, KvsConfig::Memory {})
}

/// Reducer name → state version.
pub fn reducer_versions(registry: &Registry) -> BTreeMap<String, u32> {
    registry
        .all()
        .iter()
        .map(|r| (r.name.to_string(), r.reducer.version()))
        .collect()
}

/// What start-up took from a snapshot.
#[derive(Clone, Debug)]
pub struct Restored {
    /// The file.
    pub path: PathBuf,
    /// Its through-seq.
    pub through_seq: u64,
    /// States loaded.
    pub states: usize,
    /// Where replaying the log must start: after the snapshot, or — when some reducers changed
    /// since it was made — at the start of what the log still holds.
    pub replay_from: u64,
    /// Reducers the snapshot could not stand in for (new, or of another state version).
    pub changed: Vec<String>,
    /// Time spent reading and decoding.
    pub took: Duration,
}

/// Where the log of a data directory stands, for choosing a snapshot.
#[derive(Clone, Copy, Debug)]
pub struct LogExtent {
    /// The first sequence number the log still holds (1 unless retention removed segments).
    pub first_seq: u64,
    /// The last sequence number written (0: empty).
    pub last_seq: u64,
}

/// Loads the newest usable snapshot of `data_dir` into `kvs` and `roster`, which must be
/// empty. Snapshots that cannot be used are reported (logged) and skipped. `None`: no snapshot
/// applies; replay the whole log.
pub fn restore_latest(
    data_dir: &Path,
    registry: &Registry,
    log: LogExtent,
    kvs: &MemoryKvs,
    roster: &RosterIndex,
) -> Option<Restored> {
    let dir = files::dir(data_dir);
    let snapshots = match files::list(&dir) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "cannot list snapshots; replaying the whole log");
            return None;
        }
    };
    for file in snapshots.iter().rev() {
        match restore_file(&file.path, registry, log, kvs, roster) {
            Ok(Some(restored)) => return Some(restored),
            Ok(None) => return None,
            Err(reason) => tracing::error!(
                snapshot = %file.path.display(),
                %reason,
                "snapshot not usable; ignored (an older snapshot or the whole log is used instead)"
            ),
        }
    }
    None
}

/// Why one snapshot file was not used.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Unreadable file.
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
    /// Damaged or unknown format.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// It reflects more of the log than the log holds: the log is not the one it was made from.
    #[error(
        "it is current through log seq {through} but the log ends at {last}: it belongs to another log"
    )]
    AheadOfLog {
        /// The snapshot's through-seq.
        through: u64,
        /// The log's last seq.
        last: u64,
    },
    /// A state does not decode although its reducer's version matches.
    #[error("state {key} does not decode: {reason}")]
    State {
        /// `<reducer>/<scope>`.
        key: String,
        /// The decoder's message.
        reason: String,
    },
}

/// Reads and checks one snapshot file: its header and trailer, no states decoded.
///
/// # Errors
/// [`RestoreError`] when it cannot be used.
pub fn read_header(path: &Path) -> Result<Header, RestoreError> {
    let bytes = std::fs::read(path)?;
    Ok(format::decode(&bytes)?.header)
}

fn restore_file(
    path: &Path,
    registry: &Registry,
    log: LogExtent,
    kvs: &MemoryKvs,
    roster: &RosterIndex,
) -> Result<Option<Restored>, RestoreError> {
    let started = Instant::now();
    let bytes = std::fs::read(path)?;
    let decoded = format::decode(&bytes)?;
    let header = &decoded.header;
    if header.through_seq > log.last_seq {
        return Err(RestoreError::AheadOfLog {
            through: header.through_seq,
            last: log.last_seq,
        });
    }
    let changed: Vec<String> = registry
        .all()
        .iter()
        .filter(|r| header.reducers.get(&*r.name) != Some(&r.reducer.version()))
        .map(|r| r.name.to_string())
        .collect();
    if !changed.is_empty() && log.first_seq <= 1 {
        tracing::warn!(
            snapshot = %path.display(),
            reducers = changed.join(", "),
            "reducers are new or changed their state version since this snapshot; replaying the whole log instead"
        );
        return Ok(None);
    }
    let states = decode_states(&decoded, registry, &changed)?;
    let count = states.len();
    for (key, slot) in states {
        kvs.insert(key, slot);
    }
    roster.restore(header.roster.clone());
    let replay_from = if changed.is_empty() {
        header.through_seq + 1
    } else {
        tracing::error!(
            snapshot = %path.display(),
            reducers = changed.join(", "),
            first_seq = log.first_seq,
            "reducers are new or changed since this snapshot, and the log no longer holds its start \
             (retention): they are rebuilt from what the log holds; replay the archived segments \
             (`classpulse replay`) to give them their whole history"
        );
        log.first_seq
    };
    Ok(Some(Restored {
        path: path.to_owned(),
        through_seq: header.through_seq,
        states: count,
        replay_from,
        changed,
        took: started.elapsed(),
    }))
}

/// Decodes every state of a snapshot for the current reducers (two threads: decoding is most
/// of a start-up's time). States of reducers that no longer exist, or in `skip`, are dropped.
fn decode_states(
    decoded: &format::Decoded<'_>,
    registry: &Registry,
    skip: &[String],
) -> Result<Vec<(StateKey, Slot)>, RestoreError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let chunks = decoded.chunks(threads);
    let results: Vec<Result<Vec<(StateKey, Slot)>, RestoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| s.spawn(move || decode_chunk(chunk, registry, skip)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Ok(Vec::new())))
            .collect()
    });
    let mut out = Vec::with_capacity(decoded.states() as usize);
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

fn decode_chunk(
    chunk: &[u8],
    registry: &Registry,
    skip: &[String],
) -> Result<Vec<(StateKey, Slot)>, RestoreError> {
    let mut out = Vec::new();
    for line in chunk.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let line = format::state_line(line).map_err(|e| RestoreError::State {
            key: "?".into(),
            reason: e.to_string(),
        })?;
        let Some(reducer) = registry.get(&line.reducer) else {
            continue;
        };
        if skip.iter().any(|s| *s == *line.reducer) || line.version != reducer.reducer.version() {
            continue;
        }
        let state = reducer
            .reducer
            .decode(line.state.get().as_bytes())
            .map_err(|e| RestoreError::State {
                key: format!("{}/{}", line.reducer, line.scope),
                reason: e.to_string(),
            })?;
        out.push((
            StateKey {
                reducer: reducer.name.clone(),
                scope: ScopeKey::from_text(&line.scope),
            },
            Slot {
                version: line.version,
                applied: line.applied,
                revision: 1,
                state,
            },
        ));
    }
    Ok(out)
}
