//! The log writer: one thread that appends, group-commits and acknowledges.
//!
//! Ingest tasks hand it prepared envelope bodies ([`PendingEvent`]). The thread stamps each
//! with the next sequence number and the server time, writes everything that arrived since the
//! last commit in one `write`, calls `fdatasync` once, and only then (1) advances each
//! connection's [`AckTracker`] and (2) passes the batch to the router. So an acknowledged event
//! is on disk, and no reducer sees an event that is not.
//!
//! When a write or sync fails (disk full, read-only), the failure is reported through
//! [`LogHealth`] (ingest then refuses new events and tells the client; `/readyz` says why),
//! nothing in the batch is acknowledged, the segment is closed, and the same batch is retried
//! with backoff until it succeeds: each retry reopens the segment and cuts it back to its last
//! durable length first, so nothing half-written stays. Holding no file open while failing is
//! what lets an operator remount a read-only file system read-write again.

use super::LogHealth;
use super::prepared::Prepared;
use super::segment::{self, Segment};
use crate::clock::SharedClock;
use crate::event::Timestamp;
use crate::event::envelope::finish_line;
use bytes::Bytes;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

/// Settings of the log writer.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Directory of the segments.
    pub dir: PathBuf,
    /// Start a new segment once the current one reaches this size.
    pub segment_bytes: u64,
    /// Minimum spacing between two commits: events arriving meanwhile share one `fdatasync`.
    pub commit_interval: Duration,
    /// Whether to `fdatasync` at all (off: acks mean "handed to the OS").
    pub fsync: bool,
    /// Capacity of the writer's queue, in requests; ingest waits when it is full.
    pub queue: usize,
}

/// One event on its way to the log: the envelope body (everything after `seq` and `time`).
#[derive(Debug)]
pub struct PendingEvent {
    /// The envelope body ([`crate::event::envelope::EnvelopeBody`]).
    pub body: Vec<u8>,
    /// Where to report durability, for connections that asked for acks.
    pub ack: Option<Arc<AckTracker>>,
    /// What ingest knows about the event (spares the router a parse), if anything.
    pub prepared: Option<Prepared>,
}

/// Counts a connection's durable events; the connection waits on it to send acks.
#[derive(Debug, Default)]
pub struct AckTracker {
    durable: AtomicU64,
    last_seq: AtomicU64,
    changed: Notify,
}

impl AckTracker {
    /// A tracker at zero.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// (durable events so far, log sequence of the last of them).
    pub fn position(&self) -> (u64, u64) {
        (
            self.durable.load(Ordering::Acquire),
            self.last_seq.load(Ordering::Acquire),
        )
    }

    /// Waits until more events become durable.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    fn record(&self, seq: u64) {
        self.last_seq.store(seq, Ordering::Release);
        self.durable.fetch_add(1, Ordering::AcqRel);
    }
}

/// One line of a committed batch.
#[derive(Debug, Clone)]
pub struct CommittedLine {
    /// Sequence number.
    pub seq: u64,
    /// Server time (known when the writer stamped it; `None` when read back from disk).
    pub time: Option<Timestamp>,
    /// Line range in the batch buffer, excluding the newline.
    pub range: (usize, usize),
    /// Where the envelope body starts in the buffer.
    pub body_start: usize,
    /// What ingest knew about the event.
    pub prepared: Option<Prepared>,
}

/// A committed batch: the lines exactly as written, for the router.
#[derive(Debug, Clone)]
pub struct DurableBatch {
    /// The bytes written (lines, each ending in `\n`).
    pub buf: Bytes,
    /// The lines.
    pub lines: Vec<CommittedLine>,
}

impl DurableBatch {
    /// Iterates `(seq, line)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &str)> {
        self.lines.iter().map(|l| (l.seq, self.text(l.range)))
    }

    /// The text of a range of the buffer.
    pub fn text(&self, (start, end): (usize, usize)) -> &str {
        std::str::from_utf8(&self.buf[start..end]).unwrap_or_default()
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// The sending side of the log writer. Cheap to clone; the thread exits (after a final
/// commit) when every clone is dropped.
#[derive(Clone)]
pub struct LogWriter {
    tx: mpsc::Sender<Request>,
    next_seq: Arc<AtomicU64>,
}

enum Request {
    Events(Vec<PendingEvent>),
    Close,
}

/// Why events were not queued for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The writer has shut down.
    #[error("the event log is closed")]
    Closed,
    /// The log cannot take writes now (the reason, e.g. the disk is full).
    #[error("{0}")]
    Unavailable(String),
}

/// The writer thread is gone (shut down).
#[derive(Debug, thiserror::Error)]
#[error("the event log is closed")]
pub struct LogClosed;

impl LogWriter {
    /// Opens the log in `config.dir` (recovering a torn tail), starts the writer thread, and
    /// returns the handle and the thread. Committed batches go to `committed`.
    ///
    /// # Errors
    /// When the directory or the last segment cannot be opened or recovered.
    pub fn open(
        config: WriterConfig,
        clock: SharedClock,
        health: Arc<LogHealth>,
        committed: mpsc::Sender<DurableBatch>,
    ) -> io::Result<(LogWriter, std::thread::JoinHandle<()>)> {
        std::fs::create_dir_all(&config.dir)?;
        let segments = segment::list(&config.dir)?;
        let (current, len, last_seq) = match segments.last() {
            Some(last) => {
                let r = segment::recover_tail(&last.path)?;
                if r.torn_bytes > 0 {
                    tracing::warn!(
                        segment = %last.path.display(),
                        bytes = r.torn_bytes,
                        "cut a torn last line off the event log (a crash during a write; it was never acknowledged)"
                    );
                }
                let last_seq = if r.last_seq == 0 {
                    last.first_seq.saturating_sub(1)
                } else {
                    r.last_seq
                };
                (last.clone(), r.len, last_seq)
            }
            None => {
                let seg = Segment {
                    first_seq: 1,
                    path: config.dir.join(segment::file_name(1)),
                };
                (seg, 0, 0)
            }
        };
        // Only a damaged last line can claim the very last sequence number (found by fuzzing:
        // it used to overflow here). Say so rather than wrap around to 0.
        let Some(next) = last_seq.checked_add(1) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the last line of {} claims sequence number {last_seq}, so the log cannot go on; \
                     the line is damaged: move it (or the segment) aside",
                    current.path.display()
                ),
            ));
        };
        let file = segment::open_append(&current.path)?;
        segment::sync_dir(&config.dir)?;
        let next_seq = Arc::new(AtomicU64::new(next));
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let thread = Thread {
            config,
            clock,
            health,
            committed,
            rx,
            file: Some(file),
            path: current.path.clone(),
            segment_len: len,
            next_seq: next_seq.clone(),
            last_time: Timestamp::ZERO,
        };
        let handle = std::thread::Builder::new()
            .name("classpulse-log".into())
            .spawn(move || thread.run())?;
        Ok((LogWriter { tx, next_seq }, handle))
    }

    /// Queues events for appending, waiting while the queue is full.
    ///
    /// # Errors
    /// [`LogClosed`] once the writer has shut down.
    pub async fn append(&self, events: Vec<PendingEvent>) -> Result<(), LogClosed> {
        if events.is_empty() {
            return Ok(());
        }
        self.tx
            .send(Request::Events(events))
            .await
            .map_err(|_| LogClosed)
    }

    /// Queues events unless the log is failing: while `health` reports a problem (or starts to
    /// while this waits for room in the queue), the events are handed back with the reason,
    /// so the caller can refuse them instead of waiting behind a disk that is full.
    ///
    /// # Errors
    /// [`Refused::Closed`] once the writer has shut down; [`Refused::Unavailable`] while the log
    /// cannot take writes.
    pub async fn append_unless_failing(
        &self,
        events: Vec<PendingEvent>,
        health: &LogHealth,
    ) -> Result<(), Refused> {
        if events.is_empty() {
            return Ok(());
        }
        let failed = health.failed();
        tokio::pin!(failed);
        failed.as_mut().enable();
        if let Some(reason) = health.problem() {
            return Err(Refused::Unavailable(reason));
        }
        tokio::select! {
            permit = self.tx.reserve() => match permit {
                Ok(permit) => {
                    permit.send(Request::Events(events));
                    Ok(())
                }
                Err(_) => Err(Refused::Closed),
            },
            () = failed => Err(Refused::Unavailable(health.problem().unwrap_or_default())),
        }
    }

    /// Asks the writer to commit what it has been given and stop. Later appends fail with
    /// [`LogClosed`]; join the thread to wait for the final commit.
    pub async fn close(&self) {
        let _ = self.tx.send(Request::Close).await;
    }

    /// Hand-offs queued for the writer thread, not yet taken.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// The sequence number the next appended event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq.load(Ordering::Acquire)
    }
}

struct Thread {
    config: WriterConfig,
    clock: SharedClock,
    health: Arc<LogHealth>,
    committed: mpsc::Sender<DurableBatch>,
    rx: mpsc::Receiver<Request>,
    /// The current segment, open for appending; `None` after a failed write (reopened, and cut
    /// back to `segment_len`, by the next attempt).
    file: Option<File>,
    path: PathBuf,
    segment_len: u64,
    next_seq: Arc<AtomicU64>,
    last_time: Timestamp,
}

/// Upper bound on one commit's size, so one batch cannot hold the router up for long.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

impl Thread {
    fn run(mut self) {
        let mut last_commit = Instant::now() - self.config.commit_interval;
        let mut closing = false;
        while !closing {
            let Some(first) = self.rx.blocking_recv() else {
                break;
            };
            let mut requests = Vec::new();
            let mut bytes = 0usize;
            let take = |request: Request,
                        requests: &mut Vec<Vec<PendingEvent>>,
                        bytes: &mut usize| match request {
                Request::Events(events) => {
                    *bytes += events.iter().map(|e| e.body.len() + 48).sum::<usize>();
                    requests.push(events);
                    false
                }
                Request::Close => true,
            };
            closing = take(first, &mut requests, &mut bytes);
            if !closing {
                let since = last_commit.elapsed();
                if since < self.config.commit_interval {
                    std::thread::sleep(self.config.commit_interval - since);
                }
            }
            while !closing && bytes < MAX_BATCH_BYTES {
                match self.rx.try_recv() {
                    Ok(request) => closing = take(request, &mut requests, &mut bytes),
                    Err(_) => break,
                }
            }
            if closing {
                // Whatever was queued before the close still gets committed.
                self.rx.close();
                while let Some(request) = self.rx.blocking_recv() {
                    take(request, &mut requests, &mut bytes);
                }
            }
            if !requests.is_empty() {
                self.commit(requests, bytes);
            }
            last_commit = Instant::now();
        }
        if let Some(file) = &self.file
            && let Err(e) = file.sync_data()
        {
            tracing::error!(error = %e, "final sync of the event log failed");
        }
        tracing::debug!("log writer stopped");
    }

    fn commit(&mut self, requests: Vec<Vec<PendingEvent>>, bytes: usize) {
        let mut buf = Vec::with_capacity(bytes);
        let mut lines = Vec::with_capacity(requests.iter().map(Vec::len).sum());
        let mut acks: Vec<(u64, Arc<AckTracker>)> = Vec::new();
        let mut seq = self.next_seq.load(Ordering::Acquire);
        for event in requests.into_iter().flatten() {
            // Server time never goes backwards within a log, so replays see the same order.
            let now = self.clock.now().max(self.last_time);
            self.last_time = now;
            let start = buf.len();
            let body_start = finish_line(&mut buf, seq, now, &event.body);
            lines.push(CommittedLine {
                seq,
                time: Some(now),
                range: (start, buf.len() - 1),
                body_start,
                prepared: event.prepared,
            });
            if let Some(ack) = event.ack {
                acks.push((seq, ack));
            }
            seq += 1;
        }
        let mut backoff = Duration::from_millis(50);
        let mut failures = 0u32;
        loop {
            let started = Instant::now();
            match self.write_and_sync(&buf) {
                Ok(()) => {
                    crate::telemetry::metrics::log_committed(started.elapsed());
                    break;
                }
                Err(e) => {
                    crate::telemetry::metrics::log_write_failed();
                    failures += 1;
                    if failures == 1 {
                        tracing::error!(error = %e, dir = %self.config.dir.display(),
                            "event log write failed; not acknowledging, retrying");
                    }
                    self.health.fail(format!("event log not writable: {e}"));
                    // Cut off whatever part was written, now (a full disk still lets a file
                    // shrink), and again when the next attempt reopens the segment; closed
                    // meanwhile.
                    if let Some(file) = self.file.take()
                        && let Err(e) = file.set_len(self.segment_len)
                    {
                        tracing::debug!(error = %e, "could not cut the failed write back yet");
                    }
                    if self.rx.is_closed() && failures > 20 {
                        tracing::error!(
                            events = lines.len(),
                            "giving up on unacknowledged events at shutdown: the log is not writable"
                        );
                        return;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        if failures > 0 {
            tracing::info!(failures, "event log writable again");
            self.health.recover();
        }
        self.segment_len += buf.len() as u64;
        self.next_seq.store(seq, Ordering::Release);
        let mut last: Option<&Arc<AckTracker>> = None;
        for (seq, tracker) in &acks {
            tracker.record(*seq);
            if let Some(prev) = last
                && !Arc::ptr_eq(prev, tracker)
            {
                prev.changed.notify_one();
            }
            last = Some(tracker);
        }
        if let Some(last) = last {
            last.changed.notify_one();
        }
        let batch = DurableBatch {
            buf: Bytes::from(buf),
            lines,
        };
        if self.committed.blocking_send(batch).is_err() {
            tracing::debug!("router gone; committed batch not reduced");
        }
        if self.segment_len >= self.config.segment_bytes {
            self.rotate(seq);
        }
    }

    fn write_and_sync(&mut self, buf: &[u8]) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let file = segment::open_append(&self.path)?;
                // A failed attempt may have written part of its batch: cut it off.
                file.set_len(self.segment_len)?;
                self.file.insert(file)
            }
        };
        file.write_all(buf)?;
        if self.config.fsync {
            file.sync_data()?;
        }
        Ok(())
    }

    fn rotate(&mut self, next_seq: u64) {
        let path = self.config.dir.join(segment::file_name(next_seq));
        match segment::open_append(&path).and_then(|f| {
            segment::sync_dir(&self.config.dir)?;
            Ok(f)
        }) {
            Ok(file) => {
                tracing::debug!(segment = %path.display(), "new log segment");
                self.file = Some(file);
                self.path = path;
                self.segment_len = 0;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not start a new log segment; continuing in the current one")
            }
        }
    }
}
