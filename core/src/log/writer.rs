//! The log writer: one thread that appends, group-commits and acknowledges.
//!
//! Ingest tasks hand it prepared envelope bodies ([`PendingEvent`]). The thread stamps each
//! with the next sequence number and the server time (a head of its own, in front of the body
//! ingest built: the body is not copied), writes everything that arrived since the last commit
//! in one gathering write (`writev`), has it `fdatasync`ed once, and only then (1) advances each
//! connection's [`AckTracker`] and (2) passes the batch to the router. So an acknowledged event
//! is on disk, and no reducer sees an event that is not. The sync runs on a thread of its own
//! (`syncer.rs`) while this one stamps the next batch.
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
use super::syncer::Syncer;
use crate::clock::SharedClock;
use crate::event::Timestamp;
use crate::event::envelope::{finish_line, write_head};
use bytes::Bytes;
use std::borrow::Cow;
use std::fs::File;
use std::io::{self, IoSlice, Write};
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
    pub body: String,
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
    /// Line range in the batch buffer, excluding the newline; only the line's head
    /// (`{"seq":…,"time":…,`) when its body is kept apart ([`CommittedLine::body`]).
    pub range: (usize, usize),
    /// Where the envelope body starts in the buffer (the end of the head, when the body is
    /// kept apart).
    pub body_start: usize,
    /// What ingest knew about the event.
    pub prepared: Option<Prepared>,
    /// The envelope body, when it is not in the batch buffer: the writer writes a live event's
    /// body from ingest's own buffer (`writev`) instead of copying it after its head. Only
    /// lines with `prepared` are kept this way, since the router builds their events from the
    /// body alone.
    pub body: Option<String>,
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
    /// Iterates `(seq, line)` pairs: each line as written, without its newline (put together
    /// for a line whose body is kept apart).
    pub fn iter(&self) -> impl Iterator<Item = (u64, Cow<'_, str>)> {
        self.lines.iter().map(|l| (l.seq, self.line_text(l)))
    }

    /// The text of a range of the buffer.
    pub fn text(&self, (start, end): (usize, usize)) -> &str {
        std::str::from_utf8(&self.buf[start..end]).unwrap_or_default()
    }

    /// A line's envelope body (everything after `seq` and `time`).
    pub fn body<'s>(&'s self, line: &'s CommittedLine) -> &'s str {
        match &line.body {
            Some(body) => body,
            None => self.text((line.body_start, line.range.1)),
        }
    }

    /// A line's whole text, without its newline: borrowed from the buffer unless its body is
    /// kept apart.
    pub fn line_text(&self, line: &CommittedLine) -> Cow<'_, str> {
        match &line.body {
            None => Cow::Borrowed(self.text(line.range)),
            Some(_) => Cow::Owned([self.text(line.range), self.body(line)].concat()),
        }
    }

    /// The bytes the batch's lines take in the log.
    pub fn log_bytes(&self) -> usize {
        log_bytes(&self.buf, &self.lines)
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
        let syncer = if config.fsync {
            Some(Syncer::start()?)
        } else {
            None
        };
        let thread = Thread {
            config,
            clock,
            health,
            committed,
            rx,
            file: Some(Arc::new(file)),
            path: current.path.clone(),
            segment_len: len,
            next_seq: next_seq.clone(),
            stamp_seq: next,
            last_time: Timestamp::ZERO,
            syncer,
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
    file: Option<Arc<File>>,
    path: PathBuf,
    /// The segment's durable length: everything before the batch being written.
    segment_len: u64,
    /// The next sequence number committed (what [`LogWriter::next_seq`] reads).
    next_seq: Arc<AtomicU64>,
    /// The next sequence number to stamp: past `next_seq` while a batch is in flight.
    stamp_seq: u64,
    last_time: Timestamp,
    /// Where `fdatasync` runs (`None` when `fsync` is off).
    syncer: Option<Syncer>,
}

/// Upper bound on one commit's size, so one batch cannot hold the router up for long.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// A batch stamped with its sequence numbers and times, as it goes to disk: `buf` holds each
/// line's head and newline (and the whole of a line without `prepared`), the lines hold the
/// rest — their bodies, as ingest made them.
struct Stamped {
    buf: Vec<u8>,
    lines: Vec<CommittedLine>,
    acks: Vec<(u64, Arc<AckTracker>)>,
    /// When its write began.
    started: Instant,
}

/// Hand-offs taken from the queue, not yet stamped.
#[derive(Default)]
struct Queued {
    requests: Vec<Vec<PendingEvent>>,
    /// The size of the batch they make (an estimate: bodies and line framing; with what is
    /// already stamped, when they join a batch).
    bytes: usize,
}

impl Queued {
    /// Adds a request; returns whether it was the close.
    fn add(&mut self, request: Request) -> bool {
        match request {
            Request::Events(events) => {
                self.bytes += events.iter().map(|e| e.body.len() + 48).sum::<usize>();
                self.requests.push(events);
                false
            }
            Request::Close => true,
        }
    }
}

impl Stamped {
    /// An empty batch.
    fn new() -> Self {
        Stamped {
            buf: Vec::new(),
            lines: Vec::new(),
            acks: Vec::new(),
            started: Instant::now(),
        }
    }

    /// The sequence number after its last line (it has one when it is written).
    fn end_seq(&self) -> u64 {
        self.lines.last().map_or(0, |line| line.seq + 1)
    }

    /// Its bytes in the log.
    fn log_bytes(&self) -> usize {
        log_bytes(&self.buf, &self.lines)
    }

    /// The pieces of the batch in log order, for one vectored write: the buffer between the
    /// bodies kept apart, and those bodies.
    fn pieces(&self) -> Vec<IoSlice<'_>> {
        let mut pieces = Vec::with_capacity(2 * self.lines.len() + 1);
        let mut from = 0;
        for line in &self.lines {
            if let Some(body) = &line.body {
                pieces.push(IoSlice::new(&self.buf[from..line.body_start]));
                pieces.push(IoSlice::new(body.as_bytes()));
                from = line.body_start;
            }
        }
        pieces.push(IoSlice::new(&self.buf[from..]));
        pieces
    }
}

impl Thread {
    /// Takes what ingest hands over, one batch per commit. With `fsync` on, the disk syncs a
    /// batch while this thread stamps the next (see [`Syncer`]): the batch is acknowledged and
    /// passed on only once its sync succeeds, and the next is written only after that, so one
    /// sync covers exactly one batch, as if this thread synced it itself.
    fn run(mut self) {
        let mut last_commit = Instant::now() - self.config.commit_interval;
        let mut closing = false;
        let mut in_flight: Option<Stamped> = None;
        loop {
            let mut queued = Queued::default();
            // With a batch in flight, take only what is already queued: its sync is waiting
            // to be collected.
            if !closing && in_flight.is_none() {
                match self.rx.blocking_recv() {
                    Some(first) => closing = queued.add(first),
                    None => closing = true,
                }
                let since = last_commit.elapsed();
                if !closing && since < self.config.commit_interval {
                    std::thread::sleep(self.config.commit_interval - since);
                }
            }
            closing = self.take_queued(&mut queued, closing);
            let mut next = Stamped::new();
            self.stamp(queued, &mut next);
            if let Some(batch) = in_flight.take() {
                let synced = self.syncer.as_ref().map_or(Ok(()), Syncer::finished);
                self.settle(batch, synced);
                // Commits stay `commit_interval` apart, as without the overlap: a light load
                // is not given a sync per handful of events. What arrives meanwhile joins.
                let since = last_commit.elapsed();
                if !closing && !next.lines.is_empty() && since < self.config.commit_interval {
                    std::thread::sleep(self.config.commit_interval - since);
                    let mut more = Queued {
                        bytes: next.log_bytes(),
                        ..Queued::default()
                    };
                    closing = self.take_queued(&mut more, false);
                    self.stamp(more, &mut next);
                }
            }
            if !next.lines.is_empty() {
                in_flight = self.write(next);
                last_commit = Instant::now();
            }
            if closing && in_flight.is_none() {
                break;
            }
        }
        if let Some(file) = &self.file
            && let Err(e) = file.sync_data()
        {
            tracing::error!(error = %e, "final sync of the event log failed");
        }
        tracing::debug!("log writer stopped");
    }

    /// Takes what is queued into `queued`, up to [`MAX_BATCH_BYTES`] — everything, once the log
    /// is `closing` or a close arrives, since whatever was queued before the close still gets
    /// committed. Returns whether the log is closing.
    fn take_queued(&mut self, queued: &mut Queued, closing: bool) -> bool {
        if !closing {
            while queued.bytes < MAX_BATCH_BYTES {
                match self.rx.try_recv() {
                    Ok(request) => {
                        if queued.add(request) {
                            break;
                        }
                    }
                    Err(mpsc::error::TryRecvError::Empty) => return false,
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            }
            if queued.bytes >= MAX_BATCH_BYTES && !self.rx.is_closed() {
                return false;
            }
        }
        self.rx.close();
        while let Some(request) = self.rx.blocking_recv() {
            queued.add(request);
        }
        true
    }

    /// Stamps each event with the next sequence number and the server time: its head (and
    /// newline) into the batch's buffer, its body kept as ingest made it — the write takes it
    /// from there, so the body is not copied here. An event the router must parse (no
    /// `prepared`) is copied whole, so its line is one text.
    fn stamp(&mut self, queued: Queued, batch: &mut Stamped) {
        let events: usize = queued.requests.iter().map(Vec::len).sum();
        batch.buf.reserve(events * HEAD_BYTES);
        batch
            .lines
            .reserve(queued.requests.iter().map(Vec::len).sum());
        let mut seq = self.stamp_seq;
        for event in queued.requests.into_iter().flatten() {
            // Server time never goes backwards within a log, so replays see the same order.
            let now = self.clock.now().max(self.last_time);
            self.last_time = now;
            let start = batch.buf.len();
            let (range, body_start, body) = if event.prepared.is_some() {
                write_head(&mut batch.buf, seq, now);
                let head_end = batch.buf.len();
                // The newline that ends the body: the write puts the body before it.
                batch.buf.push(b'\n');
                ((start, head_end), head_end, Some(event.body))
            } else {
                let body_start = finish_line(&mut batch.buf, seq, now, event.body.as_bytes());
                ((start, batch.buf.len() - 1), body_start, None)
            };
            batch.lines.push(CommittedLine {
                seq,
                time: Some(now),
                range,
                body_start,
                prepared: event.prepared,
                body,
            });
            if let Some(ack) = event.ack {
                batch.acks.push((seq, ack));
            }
            seq += 1;
        }
        self.stamp_seq = seq;
    }

    /// Writes a batch and starts its sync; returns it while the sync runs. Without `fsync`,
    /// or after a failed write, the batch is settled here and nothing is in flight.
    fn write(&mut self, mut batch: Stamped) -> Option<Stamped> {
        batch.started = Instant::now();
        match self.write_only(&batch) {
            Ok(file) => match &self.syncer {
                Some(syncer) => {
                    syncer.begin(file);
                    Some(batch)
                }
                None => {
                    self.settle(batch, Ok(()));
                    None
                }
            },
            Err(e) => {
                self.settle(batch, Err(e));
                None
            }
        }
    }

    /// Finishes a written batch once `outcome` says whether it reached the disk: on failure,
    /// writes and syncs it again until it does; then acknowledges it and hands it to the
    /// router.
    fn settle(&mut self, batch: Stamped, outcome: io::Result<()>) {
        if let Err(e) = outcome
            && !self.retry(&batch, e)
        {
            return;
        }
        crate::telemetry::metrics::log_committed(batch.started.elapsed());
        self.segment_len += batch.log_bytes() as u64;
        let end_seq = batch.end_seq();
        self.next_seq.store(end_seq, Ordering::Release);
        let mut last: Option<&Arc<AckTracker>> = None;
        for (seq, tracker) in &batch.acks {
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
        let durable = DurableBatch {
            buf: Bytes::from(batch.buf),
            lines: batch.lines,
        };
        if self.committed.blocking_send(durable).is_err() {
            tracing::debug!("router gone; committed batch not reduced");
        }
        if self.segment_len >= self.config.segment_bytes {
            self.rotate(end_seq);
        }
    }

    /// After `error`, writes and syncs `batch` again, with backoff, until it succeeds (true)
    /// or the log is closing and it keeps failing (false: nothing in it is acknowledged).
    fn retry(&mut self, batch: &Stamped, error: io::Error) -> bool {
        let mut error = error;
        let mut backoff = Duration::from_millis(50);
        let mut failures = 0u32;
        loop {
            crate::telemetry::metrics::log_write_failed();
            failures += 1;
            if failures == 1 {
                tracing::error!(error = %error, dir = %self.config.dir.display(),
                    "event log write failed; not acknowledging, retrying");
            }
            self.health.fail(format!("event log not writable: {error}"));
            // Cut off whatever part was written, now (a full disk still lets a file shrink),
            // and again when the next attempt reopens the segment; closed meanwhile.
            if let Some(file) = self.file.take()
                && let Err(e) = file.set_len(self.segment_len)
            {
                tracing::debug!(error = %e, "could not cut the failed write back yet");
            }
            if self.rx.is_closed() && failures > 20 {
                tracing::error!(
                    events = batch.lines.len(),
                    "giving up on unacknowledged events at shutdown: the log is not writable"
                );
                return false;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(2));
            match self.write_only(batch).and_then(|file| {
                if self.config.fsync {
                    file.sync_data()?;
                }
                Ok(())
            }) {
                Ok(()) => break,
                Err(e) => error = e,
            }
        }
        tracing::info!(failures, "event log writable again");
        self.health.recover();
        true
    }

    /// Appends `batch` to the current segment (reopening it, cut back to its durable length,
    /// after a failure); returns the file, for the sync.
    fn write_only(&mut self, batch: &Stamped) -> io::Result<Arc<File>> {
        let file = match &self.file {
            Some(file) => file.clone(),
            None => {
                let file = segment::open_append(&self.path)?;
                // A failed attempt may have written part of its batch: cut it off.
                file.set_len(self.segment_len)?;
                self.file.insert(Arc::new(file)).clone()
            }
        };
        write_all_vectored(&file, &mut batch.pieces())?;
        Ok(file)
    }

    fn rotate(&mut self, next_seq: u64) {
        let path = self.config.dir.join(segment::file_name(next_seq));
        match segment::open_append(&path).and_then(|f| {
            segment::sync_dir(&self.config.dir)?;
            Ok(f)
        }) {
            Ok(file) => {
                tracing::debug!(segment = %path.display(), "new log segment");
                self.file = Some(Arc::new(file));
                self.path = path;
                self.segment_len = 0;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not start a new log segment; continuing in the current one")
            }
        }
    }
}

/// The bytes of a batch's buffer and of the bodies its lines keep apart.
fn log_bytes(buf: &[u8], lines: &[CommittedLine]) -> usize {
    buf.len()
        + lines
            .iter()
            .filter_map(|l| l.body.as_ref())
            .map(String::len)
            .sum::<usize>()
}

/// Room reserved per event for its head and newline (`{"seq":…,"time":…,` is at most ~50).
const HEAD_BYTES: usize = 64;

/// Writes every piece, in order, in as few `writev` calls as the kernel allows.
fn write_all_vectored(mut file: &File, mut pieces: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !pieces.is_empty() {
        match file.write_vectored(pieces) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut pieces, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::event::{Auth, Event};
    use crate::log::FieldSpan;

    /// Events as ingest hands them over: every other one with what ingest knows about it
    /// (written from its own buffer), the rest without (copied whole into the batch).
    fn pending(n: usize, ack: &Arc<AckTracker>) -> Vec<PendingEvent> {
        let auth = Arc::new(Auth {
            providence: "tc".into(),
            safe_user_id: "tc-testcase-a".into(),
            sec: crate::event::Security::Unauthenticated,
            user_id: "testcase-a".into(),
        });
        (0..n)
            .map(|i| {
                let body = format!(
                    r#""node":"t","conn":7,"ip":"","agent":"","auth":{{"providence":"tc","safe_user_id":"tc-testcase-a","sec":"unauthenticated","user_id":"testcase-a"}},"source":"s","client":{{"i":{i}}}}}"#
                );
                let key = body.find(r#"{"i":"#).unwrap() as u32 + 2;
                let prepared = (i % 2 == 0).then(|| Prepared {
                    node: "t".into(),
                    auth: auth.clone(),
                    source: "s".into(),
                    conn: 7,
                    fields: vec![FieldSpan {
                        key: (key, key + 1),
                        value: (key + 3, body.len() as u32 - 2),
                        key_escaped: false,
                    }],
                });
                PendingEvent {
                    body,
                    ack: Some(ack.clone()),
                    prepared,
                }
            })
            .collect()
    }

    /// Many hand-offs in quick succession, with fdatasync on: batches are written while the
    /// one before is syncing, and still every event is acknowledged once, in order, the
    /// router gets every batch in log order, and the segments hold exactly those lines —
    /// lines written from ingest's buffers (heads and bodies apart) and lines copied whole,
    /// mixed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_written_while_the_last_syncs_arrive_whole_and_in_order() {
        let dir = std::env::temp_dir().join(format!("cp-writer-{}", crate::datadir::random_hex(6)));
        let (committed_tx, mut committed_rx) = mpsc::channel(1024);
        let (writer, thread) = LogWriter::open(
            WriterConfig {
                dir: dir.clone(),
                // Small segments: rotation happens between batches in flight.
                segment_bytes: 4 * 1024,
                commit_interval: Duration::ZERO,
                fsync: true,
                queue: 4,
            },
            Arc::new(SystemClock),
            Arc::new(LogHealth::default()),
            committed_tx,
        )
        .unwrap();
        let senders: Vec<_> = (0..4)
            .map(|_| {
                let writer = writer.clone();
                let ack = AckTracker::new();
                tokio::spawn(async move {
                    for _ in 0..50 {
                        writer.append(pending(40, &ack)).await.unwrap();
                    }
                    ack
                })
            })
            .collect();
        let mut acks = Vec::new();
        for sender in senders {
            acks.push(sender.await.unwrap());
        }
        writer.close().await;
        drop(writer);
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();

        for ack in &acks {
            assert_eq!(ack.position().0, 50 * 40, "every event acknowledged once");
        }
        let mut from_router = Vec::new();
        let mut kept_apart = 0;
        while let Ok(batch) = committed_rx.try_recv() {
            from_router.extend(batch.iter().map(|(seq, line)| (seq, line.into_owned())));
            // The router builds the event of a line whose body was kept apart from that body:
            // it is the event the line on disk parses to.
            for line in &batch.lines {
                let Some(prepared) = &line.prepared else {
                    assert!(
                        line.body.is_none(),
                        "a line without `prepared` is one piece"
                    );
                    continue;
                };
                assert!(
                    line.body.is_some(),
                    "a prepared line is written from its body"
                );
                kept_apart += 1;
                let text = batch.line_text(line);
                let parsed = Event::from_line(&text).unwrap();
                let built = prepared
                    .event(batch.body(line), line.seq, line.time.unwrap())
                    .unwrap();
                assert_eq!(built.position, parsed.position);
                assert_eq!(built.time, parsed.time);
                assert_eq!(built.auth, parsed.auth);
                assert_eq!(built.fields.raw("i"), parsed.fields.raw("i"));
            }
        }
        assert_eq!(kept_apart, 4 * 50 * 20);
        let total = 4 * 50 * 40;
        assert_eq!(from_router.len(), total);
        assert!(
            from_router
                .iter()
                .enumerate()
                .all(|(i, (seq, _))| *seq == i as u64 + 1),
            "the router sees every sequence number once, in order"
        );
        let segments = segment::list(&dir).unwrap();
        assert!(
            segments.len() > 1,
            "the log rotated ({} segments)",
            segments.len()
        );
        let on_disk: Vec<String> = segments
            .iter()
            .flat_map(|s| {
                std::fs::read_to_string(&s.path)
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let routed: Vec<String> = from_router.into_iter().map(|(_, line)| line).collect();
        assert_eq!(
            on_disk, routed,
            "the segments hold exactly what was acknowledged"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
