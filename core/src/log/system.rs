//! Events the installation makes itself: imports and admin commands (a timetable import, a
//! roster import), as opposed to events clients send over `/wsapi/in/`.
//!
//! They take the same path as every other event: an envelope with the [`Auth::system`]
//! identity (providence `system`, which no client auth method can produce) is appended to the
//! log, and the router reduces it once it is durable. [`append_live`] hands them to a running
//! node's log writer; [`append_offline`] appends to a node's log while no server runs, holding
//! the data directory's lock ([`DataDirLock`]) so that a server cannot start (and write) meanwhile.

use super::LogHealth;
use super::writer::{AckTracker, LogClosed, LogWriter, PendingEvent, WriterConfig};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::datadir::{DataDirLock, LockError};
use crate::event::envelope::EnvelopeBody;
use crate::event::{Auth, Fields};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One event to append: its source and the client event (a JSON object with `event`).
#[derive(Debug, Clone, PartialEq)]
pub struct SystemEvent {
    /// The canonical source (`org.classpulse.timetable`).
    pub source: String,
    /// The client event, a JSON object.
    pub client: serde_json::Value,
}

/// Appending system events failed.
#[derive(Debug, thiserror::Error)]
pub enum SystemAppendError {
    /// An event is not a JSON object with an `event` field.
    #[error("system event {index} is not a JSON object with an \"event\" field")]
    NotAnEvent {
        /// Its index in the batch.
        index: usize,
    },
    /// The log writer has shut down.
    #[error(transparent)]
    Closed(#[from] LogClosed),
    /// The log is in use by a running server (offline appends only).
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The log could not be opened.
    #[error("cannot open the event log in {}: {source}", .dir.display())]
    Open {
        /// The log directory.
        dir: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn envelopes(
    node: &str,
    agent: &str,
    events: &[SystemEvent],
    ack: &Arc<AckTracker>,
) -> Result<Vec<PendingEvent>, SystemAppendError> {
    let auth = Auth::system();
    let mut out = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        let client = serde_json::to_string(&event.client)
            .map_err(|_| SystemAppendError::NotAnEvent { index })?;
        let fields = Fields::parse(&client).map_err(|_| SystemAppendError::NotAnEvent { index })?;
        if fields.str("event").is_none() {
            return Err(SystemAppendError::NotAnEvent { index });
        }
        let mut body = String::with_capacity(client.len() + 200);
        EnvelopeBody {
            node,
            conn: 0,
            ip: "",
            agent,
            auth: &auth,
            source: &event.source,
            timer: None,
        }
        .write(&mut body, |o| o.push_str(&client));
        out.push(PendingEvent {
            body,
            ack: Some(ack.clone()),
            prepared: None,
        });
    }
    Ok(out)
}

/// Appends `events` through a running node's log writer, in order, and waits until they are
/// durable. Returns the log sequence number of the last one (0 when `events` is empty).
///
/// # Errors
/// When an event is not an object with `event`, or the log has shut down.
pub async fn append_live(
    writer: &LogWriter,
    node: &str,
    agent: &str,
    events: &[SystemEvent],
) -> Result<u64, SystemAppendError> {
    if events.is_empty() {
        return Ok(0);
    }
    let ack = AckTracker::new();
    let pending = envelopes(node, agent, events, &ack)?;
    let want = pending.len() as u64;
    writer.append(pending).await?;
    loop {
        let changed = ack.changed();
        let (durable, seq) = ack.position();
        if durable >= want {
            return Ok(seq);
        }
        // The writer notifies after every commit; the timeout only guards against a writer
        // that stopped without committing (then `append` on a closed log fails next time).
        if tokio::time::timeout(Duration::from_secs(30), changed)
            .await
            .is_err()
        {
            return Err(SystemAppendError::Closed(LogClosed));
        }
    }
}

/// Appends `events` to the log of `config`'s node while no server runs: takes the data
/// directory's lock (failing with [`LockError::Busy`] when a server holds it), opens the writer, appends,
/// commits and syncs, and lets go. The events are reduced when a server next starts and
/// replays the log. Returns the sequence number of the last one.
///
/// # Errors
/// When the log is locked or cannot be opened, or an event is malformed.
pub async fn append_offline(
    config: &Config,
    clock: SharedClock,
    agent: &str,
    events: &[SystemEvent],
) -> Result<u64, SystemAppendError> {
    let dir = crate::runtime::log_dir(config);
    let lock = DataDirLock::acquire(&config.server.data_dir)?;
    let (committed_tx, committed_rx) = tokio::sync::mpsc::channel(1);
    drop(committed_rx); // nobody reduces here; the next server start replays these events
    let open_error = |source| SystemAppendError::Open {
        dir: dir.clone(),
        source,
    };
    let (writer, thread) = LogWriter::open(
        WriterConfig {
            dir: dir.clone(),
            segment_bytes: config.log.segment_mib * 1024 * 1024,
            commit_interval: Duration::ZERO,
            fsync: true,
            queue: config.log.queue,
        },
        clock,
        Arc::new(LogHealth::default()),
        committed_tx,
    )
    .map_err(open_error)?;
    let result = append_live(&writer, &config.server.node_id, agent, events).await;
    writer.close().await;
    drop(writer);
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    drop(lock);
    result
}

/// Whether the data directory `dir` is locked by another process right now (a server runs on
/// it).
pub fn data_dir_in_use(dir: &Path) -> bool {
    matches!(DataDirLock::acquire(dir), Err(LockError::Busy(_)))
}
