//! The applier: the task between the log writer and the router. It hands committed batches to
//! the router, and keeps the node accepting events when the state store fails.
//!
//! Live, it applies each committed batch (merging batches that queued up while it was busy, so
//! a slow store gets fewer, larger updates). When the store fails — Redis restarting, a network
//! blip — it does not retry the batch in place (that would stall the log writer and with it
//! ingest): it notes the first sequence number not applied, logs the incident once, and keeps
//! draining committed batches, which are durable in the log. Every second or so it tries again:
//! it reads the log from that point and applies it (events the store already reflects are
//! skipped by their positions), until it has caught up with the writer; then it goes live again.
//!
//! When the store reports that it lost updates ([`crate::kvs::Kvs::take_rewind`]: a Redis that
//! came back empty, or from an older persistence file), the applier applies the log again from
//! the point the store names — from the start when it came back empty: events that had been
//! applied before are replayed (no notifications), the rest are applied live.
//!
//! While it is behind, [`ApplierStatus::problem`] says so: `/healthz` reports `degraded` and
//! `/readyz` 503.

use crate::kvs::SharedKvs;
use crate::log::segment;
use crate::log::{CommittedLine, DurableBatch};
use crate::router::{Mode, Router};
use crate::snapshot::{SnapshotError, SnapshotInfo, Snapshotter};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Largest merge of queued batches.
const MERGE_BYTES: usize = 8 * 1024 * 1024;
/// Lines per batch read back from the log while catching up.
const CATCH_UP_LINES: usize = 4096;

/// What the applier tells the health checks.
#[derive(Debug, Default)]
pub struct ApplierStatus {
    /// First sequence number not applied yet, 0 when live.
    behind_from: AtomicU64,
    /// Highest sequence number committed by the writer.
    seen: AtomicU64,
}

impl ApplierStatus {
    /// Why the state is not current, if it is not.
    pub fn problem(&self) -> Option<String> {
        let from = self.behind_from.load(Ordering::Acquire);
        (from > 0).then(|| {
            let seen = self.seen.load(Ordering::Acquire);
            format!(
                "state store catching up from the event log ({} events behind)",
                (seen + 1).saturating_sub(from)
            )
        })
    }

    /// Whether every committed event is applied.
    pub fn is_live(&self) -> bool {
        self.behind_from.load(Ordering::Acquire) == 0
    }
}

/// A request for a snapshot, answered when the file is written.
pub type SnapshotRequest = tokio::sync::oneshot::Sender<Result<SnapshotInfo, SnapshotError>>;

/// The task that applies committed batches.
pub struct Applier {
    router: Arc<Router>,
    kvs: SharedKvs,
    log_dir: PathBuf,
    status: Arc<ApplierStatus>,
    /// Every event at or below this has been applied.
    applied_through: u64,
    /// Highest sequence number received from the writer (or on disk at start).
    seen: u64,
    /// `Some(from)`: events from `from` to `seen` still need applying.
    behind: Option<u64>,
    /// Events at or below this were applied once before: applying them again is a replay.
    replay_through: u64,
    /// When the current incident started (for the log line that closes it).
    incident: Option<Instant>,
    backoff: Duration,
    /// Takes snapshots between batches, on request.
    snapshotter: Option<Arc<Snapshotter>>,
    snapshot_requests: Option<mpsc::Receiver<SnapshotRequest>>,
}

impl Applier {
    /// An applier whose store reflects the log up to `applied_through`, the log ending at
    /// `last_seq`. When the two differ, it starts by catching up.
    pub fn new(
        router: Arc<Router>,
        kvs: SharedKvs,
        log_dir: PathBuf,
        applied_through: u64,
        last_seq: u64,
    ) -> Self {
        let status = Arc::new(ApplierStatus::default());
        status.seen.store(last_seq, Ordering::Release);
        let behind = (applied_through < last_seq).then_some(applied_through + 1);
        if let Some(from) = behind {
            status.behind_from.store(from, Ordering::Release);
        }
        Applier {
            router,
            kvs,
            log_dir,
            status,
            applied_through,
            seen: last_seq,
            behind,
            replay_through: last_seq,
            incident: behind.map(|_| Instant::now()),
            backoff: Duration::from_millis(200),
            snapshotter: None,
            snapshot_requests: None,
        }
    }

    /// Takes snapshots with `snapshotter` when asked on `requests`: between two batches, so a
    /// snapshot is a consistent cut at the last applied event.
    pub fn with_snapshots(
        mut self,
        snapshotter: Arc<Snapshotter>,
        requests: mpsc::Receiver<SnapshotRequest>,
    ) -> Self {
        self.snapshotter = Some(snapshotter);
        self.snapshot_requests = Some(requests);
        self
    }

    /// The status the health checks read.
    pub fn status(&self) -> Arc<ApplierStatus> {
        self.status.clone()
    }

    /// Runs until the writer closes the channel (shutdown), then makes a last attempt to catch
    /// up (what is still not applied then is applied at the next start). Returns the sequence
    /// number through which every event is applied.
    pub async fn run(mut self, mut committed: mpsc::Receiver<DurableBatch>) -> u64 {
        let mut open = true;
        let mut requests = self.snapshot_requests.take();
        while open {
            if self.behind.is_none() {
                let request = async {
                    match requests.as_mut() {
                        Some(requests) => requests.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    batch = committed.recv() => match batch {
                        Some(batch) => {
                            let batch = merge_queued(batch, &mut committed);
                            self.live(&batch).await;
                        }
                        None => open = false,
                    },
                    Some(reply) = request => self.snapshot(reply).await,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {
                        if let Some(from) = self.kvs.take_rewind() {
                            self.fall_behind(from, "the state store lost updates");
                        }
                    }
                }
            } else {
                let pause = tokio::time::sleep(self.backoff);
                tokio::pin!(pause);
                loop {
                    tokio::select! {
                        batch = committed.recv() => match batch {
                            Some(batch) => self.saw(&batch),
                            None => { open = false; break }
                        },
                        () = &mut pause => break,
                    }
                }
                self.catch_up(&mut committed).await;
            }
        }
        if self.behind.is_some() {
            self.catch_up(&mut committed).await;
        }
        if let Some(requests) = requests.as_mut() {
            requests.close();
            while let Ok(reply) = requests.try_recv() {
                let _ = reply.send(Err(SnapshotError::Stopping));
            }
        }
        self.applied_through
    }

    /// Serializes the state here, between batches; writes the file on a blocking thread.
    async fn snapshot(&mut self, reply: SnapshotRequest) {
        let Some(snapshotter) = self.snapshotter.clone() else {
            return;
        };
        match snapshotter.capture(self.applied_through).await {
            Ok(captured) => {
                tokio::task::spawn_blocking(move || {
                    let result = snapshotter.write(captured);
                    if let Err(e) = &result {
                        tracing::error!(error = %e, "snapshot not written");
                    }
                    let _ = reply.send(result);
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "snapshot not taken");
                let _ = reply.send(Err(e));
            }
        }
    }

    fn saw(&mut self, batch: &DurableBatch) {
        if let Some(last) = batch.lines.last() {
            self.seen = self.seen.max(last.seq);
            self.status.seen.store(self.seen, Ordering::Release);
        }
    }

    async fn live(&mut self, batch: &DurableBatch) {
        self.saw(batch);
        let Some(first) = batch.lines.first().map(|l| l.seq) else {
            return;
        };
        if let Some(from) = self.kvs.take_rewind() {
            self.fall_behind(from.min(first), "the state store lost updates");
            return;
        }
        match self.router.apply(batch, Mode::Live).await {
            Ok(_) => self.applied_through = self.seen,
            Err(e) => {
                let from = self.kvs.take_rewind().map_or(first, |f| f.min(first));
                self.fall_behind(from, &e.to_string());
            }
        }
    }

    fn fall_behind(&mut self, from: u64, why: &str) {
        let from = self.behind.map_or(from, |b| b.min(from)).max(1);
        if from <= self.applied_through {
            // Applied once already: applying it again is a replay, without notifications.
            self.replay_through = self.replay_through.max(self.applied_through);
            self.applied_through = from - 1;
        }
        if self.incident.is_none() {
            self.incident = Some(Instant::now());
            tracing::error!(
                reason = why,
                from_seq = from,
                "cannot apply events to the state store; still accepting and logging them, catching up when it is back"
            );
        }
        self.behind = Some(from);
        self.status.behind_from.store(from, Ordering::Release);
    }

    /// Applies the log from where the applier fell behind up to what the writer committed.
    async fn catch_up(&mut self, committed: &mut mpsc::Receiver<DurableBatch>) {
        let Some(mut from) = self.behind else { return };
        let mut applied = 0u64;
        loop {
            let to = self.seen;
            if from > to {
                break;
            }
            let batches = match read_range(&self.log_dir, from, to) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the event log back to catch up");
                    self.backoff_more();
                    return;
                }
            };
            if batches.is_empty() {
                // Nothing on disk in range (lines never written): nothing to apply.
                from = to + 1;
                continue;
            }
            for batch in batches {
                for part in split_at(batch, self.replay_through) {
                    let mode = if part.lines[0].seq <= self.replay_through {
                        Mode::Replay
                    } else {
                        Mode::Live
                    };
                    let first = part.lines[0].seq;
                    if let Err(e) = self.router.apply(&part, mode).await {
                        tracing::debug!(error = %e, "catching up failed; retrying later");
                        self.behind = Some(first);
                        if let Some(from) = self.kvs.take_rewind() {
                            self.fall_behind(from, "the state store lost updates");
                        }
                        self.status
                            .behind_from
                            .store(self.behind.unwrap_or(first), Ordering::Release);
                        self.backoff_more();
                        return;
                    }
                    applied += part.len() as u64;
                    let last = part.lines[part.len() - 1].seq;
                    self.applied_through = last;
                    from = last + 1;
                    self.behind = Some(from);
                    self.status.behind_from.store(from, Ordering::Release);
                }
                if let Some(from) = self.kvs.take_rewind() {
                    self.fall_behind(from, "the state store lost updates");
                    return;
                }
                while let Ok(batch) = committed.try_recv() {
                    self.saw(&batch);
                }
            }
            while let Ok(batch) = committed.try_recv() {
                self.saw(&batch);
            }
        }
        self.applied_through = self.seen;
        self.behind = None;
        self.status.behind_from.store(0, Ordering::Release);
        self.backoff = Duration::from_millis(200);
        let took = self.incident.take().map(|t| t.elapsed().as_secs_f64());
        tracing::info!(
            events = applied,
            incident_seconds = took.map(|s| format!("{s:.1}")),
            "state store caught up with the event log"
        );
    }

    fn backoff_more(&mut self) {
        self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
    }
}

/// Merges batches that queued up behind `first` (up to [`MERGE_BYTES`]) into one.
fn merge_queued(first: DurableBatch, rx: &mut mpsc::Receiver<DurableBatch>) -> DurableBatch {
    let mut batches = vec![first];
    let mut bytes = batches[0].log_bytes();
    while bytes < MERGE_BYTES {
        match rx.try_recv() {
            Ok(b) => {
                bytes += b.log_bytes();
                batches.push(b);
            }
            Err(_) => break,
        }
    }
    if batches.len() == 1 {
        return batches.pop().expect("one batch");
    }
    // Live lines keep their bodies apart: only the buffers (heads, mostly) are copied.
    let mut buf = Vec::with_capacity(batches.iter().map(|b| b.buf.len()).sum());
    let mut lines = Vec::with_capacity(batches.iter().map(DurableBatch::len).sum());
    for batch in batches {
        let offset = buf.len();
        buf.extend_from_slice(&batch.buf);
        lines.extend(batch.lines.into_iter().map(|mut line| {
            line.range = (line.range.0 + offset, line.range.1 + offset);
            line.body_start += offset;
            line
        }));
    }
    DurableBatch {
        buf: Bytes::from(buf),
        lines,
    }
}

/// Splits a batch into the lines at or below `seq` and those above (empty parts dropped).
fn split_at(batch: DurableBatch, seq: u64) -> Vec<DurableBatch> {
    let cut = batch.lines.partition_point(|l| l.seq <= seq);
    if cut == 0 || cut == batch.lines.len() {
        return vec![batch];
    }
    let DurableBatch { buf, mut lines } = batch;
    let rest = lines.split_off(cut);
    vec![
        DurableBatch {
            buf: buf.clone(),
            lines,
        },
        DurableBatch { buf, lines: rest },
    ]
}

/// Reads committed lines with `from <= seq <= to` back from the log, in batches, from the first
/// segment that has any (call again from after the last line for the rest). Only whole
/// lines are read: every line up to `to` was synced before the writer handed it over, and a
/// line the writer is writing now lies beyond it.
pub fn read_range(dir: &Path, from: u64, to: u64) -> std::io::Result<Vec<DurableBatch>> {
    let segments = segment::list(dir)?;
    let mut out = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        if seg.first_seq > to {
            break;
        }
        if segments
            .get(i + 1)
            .is_some_and(|next| next.first_seq <= from)
        {
            continue;
        }
        let buf = Bytes::from(std::fs::read(&seg.path)?);
        let mut lines = Vec::new();
        let mut pos = 0;
        while let Some(n) = memchr::memchr(b'\n', &buf[pos..]) {
            let (start, end) = (pos, pos + n);
            pos = end + 1;
            let Some(seq) = segment::seq_of(&buf[start..end]) else {
                continue;
            };
            if seq > to {
                break;
            }
            if seq >= from {
                lines.push(CommittedLine {
                    seq,
                    time: None,
                    range: (start, end),
                    body_start: start,
                    prepared: None,
                    body: None,
                });
                if lines.len() == CATCH_UP_LINES {
                    out.push(DurableBatch {
                        buf: buf.clone(),
                        lines: std::mem::take(&mut lines),
                    });
                }
            }
        }
        if !lines.is_empty() {
            out.push(DurableBatch { buf, lines });
        }
        if !out.is_empty() {
            // One segment at a time: the caller comes back for the rest.
            break;
        }
    }
    Ok(out)
}
