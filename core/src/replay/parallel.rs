//! Replaying one batch on several cores, with the result a serial replay gives.
//!
//! A state is per key and its events must be applied in log order; keys are independent. Every
//! key of a reducer scoped to the student ([`Subject::Student`]) names the student, so the
//! events of one student — and with them every student-scoped key they touch — can go to one
//! *lane* (by a hash of the safe user id), and the lanes reduce at the same time, each in log
//! order, through the same [`Router`] (sub-batches of the batch, sharing its buffer).
//!
//! Everything else is a *barrier*, applied serially where it sits in the log: an event some
//! course- or global-scoped reducer runs on (course keys mix students; course reducers consult
//! the roster, which changes in log order), a roster event, a timer event, and a line that could
//! not be split on read (the router parses it, and reports it when it does not parse). The
//! lanes finish the run of lines before a barrier before the barrier is applied, and the next
//! run starts after it. The roster's record of who has been seen (mode `all`) is written from
//! the lanes, each student's by the lane that holds the student; who counts as staff changes
//! only with roster events, which are barriers.
//!
//! Timer operations the lanes' reducers cause are held back and applied after the run, merged
//! in log order — the order a serial replay applies them in. Lanes drive the store from plain
//! threads, so this is used only for stores whose updates do not wait on I/O
//! ([`Kvs::updates_in_memory`](crate::kvs::Kvs::updates_in_memory)); other stores replay
//! serially.

use super::prepare::Preparer;
use crate::kvs::KvsError;
use crate::log::{CommittedLine, DurableBatch};
use crate::reducer::Subject;
use crate::roster::ROSTER_SOURCE;
use crate::router::{Applied, DeferredTimerOp, Mode, Registry, Router};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake};

/// Fewest lines worth spreading over the lanes: shorter runs between barriers are applied
/// serially (a lane costs a thread hand-over and a sub-batch).
const MIN_PARALLEL_RUN: usize = 2048;

/// Lanes at most, whatever the machine has.
const MAX_LANES: usize = 8;

/// A line that must be applied serially, where it sits.
const BARRIER: u32 = u32::MAX;

/// The number of lanes a replay uses by default: the cores available (at most [`MAX_LANES`]),
/// or `CLASSPULSE_REPLAY_THREADS` when set (1: serial).
pub fn default_lanes() -> usize {
    lanes_for(cores())
}

/// The lanes for a replay whose lines are read and split on a thread of their own
/// ([`super::sources::spawn`], [`super::sources::read_ahead`]): one core fewer than
/// [`default_lanes`], at least one, or `CLASSPULSE_REPLAY_THREADS` when set. That thread keeps
/// a core busy; on two cores, two lanes beside it were 10 % slower than one (BENCHMARKS.md).
pub fn lanes_beside_reader() -> usize {
    lanes_for(cores().saturating_sub(1))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn lanes_for(cores: usize) -> usize {
    std::env::var("CLASSPULSE_REPLAY_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(cores)
        .clamp(1, MAX_LANES)
}

/// The shortest run of lane lines spread over the lanes: [`MIN_PARALLEL_RUN`], or
/// `CLASSPULSE_REPLAY_MIN_RUN` when set (tests set 1, so that small logs take the parallel
/// path too).
fn default_min_run() -> usize {
    std::env::var("CLASSPULSE_REPLAY_MIN_RUN")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(MIN_PARALLEL_RUN, |n| n.max(1))
}

/// Applies replayed batches over several lanes. Keeps one line [`Preparer`] per lane, so
/// lines read without being split (the server's start-up reader) are split in parallel too.
pub struct Parallel {
    lanes: usize,
    min_run: usize,
    preparers: Vec<Preparer>,
}

impl Parallel {
    /// Replay over `lanes` lanes (1: serial, exactly [`Router::apply`]).
    pub fn new(lanes: usize) -> Self {
        let lanes = lanes.clamp(1, MAX_LANES);
        Parallel {
            lanes,
            min_run: default_min_run(),
            preparers: (0..lanes).map(|_| Preparer::default()).collect(),
        }
    }

    /// Spreads runs of at least `lines` lines between barriers over the lanes (shorter ones
    /// are applied serially).
    pub fn with_min_run(mut self, lines: usize) -> Self {
        self.min_run = lines.max(1);
        self
    }

    /// The number of lanes.
    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// Applies `batch` through `router`, spread over the lanes when the store allows it and the
    /// mode is [`Mode::Replay`] (live batches publish changes and notifications, in log order:
    /// they are applied serially); the result is the serial one.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn apply(
        &mut self,
        router: &Router,
        batch: DurableBatch,
        mode: Mode,
    ) -> Result<Applied, KvsError> {
        if self.lanes < 2
            || mode != Mode::Replay
            || batch.len() < self.min_run
            || !router.kvs().updates_in_memory()
        {
            return router.apply(&batch, mode).await;
        }
        let DurableBatch { buf, mut lines } = batch;
        let lanes = self.lanes;
        let registry = router.registry().clone();
        let preparers = &mut self.preparers;
        let lane_of = run_blocking(|| classify(&registry, preparers, &buf, &mut lines, lanes));

        let mut report = Applied::default();
        let mut serial: Vec<CommittedLine> = Vec::new();
        let mut run: Vec<(CommittedLine, u32)> = Vec::new();
        let mut lines = lines.into_iter().zip(lane_of);
        loop {
            let next = lines.next();
            let at_barrier = next.as_ref().is_none_or(|(_, lane)| *lane == BARRIER);
            if at_barrier && !run.is_empty() {
                if run.len() >= self.min_run {
                    if !serial.is_empty() {
                        let part = sub_batch(&buf, std::mem::take(&mut serial));
                        report += router.apply(&part, mode).await?;
                    }
                    let ops =
                        self.apply_run(router, &buf, std::mem::take(&mut run), mode, &mut report)?;
                    router.apply_deferred_timers(ops).await?;
                } else {
                    serial.extend(run.drain(..).map(|(line, _)| line));
                }
            }
            match next {
                None => break,
                Some((line, BARRIER)) => serial.push(line),
                Some(item) => run.push(item),
            }
        }
        if !serial.is_empty() {
            let part = sub_batch(&buf, serial);
            report += router.apply(&part, mode).await?;
        }
        Ok(report)
    }

    /// Applies a run of lane lines, one thread per lane; returns the timer operations they
    /// caused.
    fn apply_run(
        &self,
        router: &Router,
        buf: &bytes::Bytes,
        run: Vec<(CommittedLine, u32)>,
        mode: Mode,
        report: &mut Applied,
    ) -> Result<Vec<DeferredTimerOp>, KvsError> {
        let mut per_lane: Vec<Vec<CommittedLine>> = (0..self.lanes)
            .map(|_| Vec::with_capacity(run.len() / self.lanes + 64))
            .collect();
        for (line, lane) in run {
            per_lane[lane as usize].push(line);
        }
        let results = run_blocking(|| {
            std::thread::scope(|scope| {
                let mut batches = per_lane.into_iter().map(|lines| sub_batch(buf, lines));
                let first = batches.next();
                let handles: Vec<_> = batches
                    .map(|batch| scope.spawn(move || lane(router, &batch, mode)))
                    .collect();
                let mut results = Vec::with_capacity(self.lanes);
                if let Some(batch) = first {
                    results.push(lane(router, &batch, mode));
                }
                for handle in handles {
                    results.push(match handle.join() {
                        Ok(result) => result,
                        // The router catches reducer panics; anything else is a bug to surface.
                        Err(panic) => std::panic::resume_unwind(panic),
                    });
                }
                results
            })
        });
        let mut ops = Vec::new();
        for result in results {
            let (applied, lane_ops) = result?;
            *report += applied;
            ops.extend(lane_ops);
        }
        Ok(ops)
    }
}

/// One lane's sub-batch, applied with its timer operations held back.
fn lane(
    router: &Router,
    batch: &DurableBatch,
    mode: Mode,
) -> Result<(Applied, Vec<DeferredTimerOp>), KvsError> {
    let mut ops = Vec::new();
    if batch.is_empty() {
        return Ok((Applied::default(), ops));
    }
    let applied = block_on(router.apply_deferring_timers(batch, mode, &mut ops))?;
    Ok((applied, ops))
}

/// Splits the lines not split on read yet and picks each line's lane (or [`BARRIER`]), in
/// parallel over contiguous chunks.
fn classify(
    registry: &Registry,
    preparers: &mut [Preparer],
    buf: &[u8],
    lines: &mut [CommittedLine],
    lanes: usize,
) -> Vec<u32> {
    let mut lane_of = vec![BARRIER; lines.len()];
    let chunk = lines.len().div_ceil(preparers.len()).max(1);
    std::thread::scope(|scope| {
        let mut parts = lines
            .chunks_mut(chunk)
            .zip(lane_of.chunks_mut(chunk))
            .zip(preparers.iter_mut());
        let first = parts.next();
        for ((lines, out), preparer) in parts {
            scope.spawn(move || classify_chunk(registry, preparer, buf, lines, out, lanes));
        }
        if let Some(((lines, out), preparer)) = first {
            classify_chunk(registry, preparer, buf, lines, out, lanes);
        }
    });
    lane_of
}

fn classify_chunk(
    registry: &Registry,
    preparer: &mut Preparer,
    buf: &[u8],
    lines: &mut [CommittedLine],
    out: &mut [u32],
    lanes: usize,
) {
    // Whether a source's events go to student-scoped reducers only, by interned source.
    let mut sources: Vec<(Arc<str>, bool)> = Vec::with_capacity(4);
    for (line, lane) in lines.iter_mut().zip(out) {
        preparer.prepare_line(buf, line);
        let (Some(prepared), Some(_)) = (&line.prepared, line.time) else {
            continue;
        };
        let student_only = match sources
            .iter()
            .find(|(s, _)| Arc::ptr_eq(s, &prepared.source) || **s == *prepared.source)
        {
            Some((_, only)) => *only,
            None => {
                let only = *prepared.source != *ROSTER_SOURCE
                    && registry
                        .for_source(&prepared.source, false)
                        .all(|r| r.scope.subject() == Subject::Student);
                sources.push((prepared.source.clone(), only));
                only
            }
        };
        if student_only {
            *lane = (fnv1a(prepared.auth.safe_user_id.as_bytes()) % lanes as u64) as u32;
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn sub_batch(buf: &bytes::Bytes, lines: Vec<CommittedLine>) -> DurableBatch {
    DurableBatch {
        buf: buf.clone(),
        lines,
    }
}

/// Runs blocking work without stalling the async runtime's other tasks (on a multi-thread
/// runtime the worker hands its queue over for the while).
fn run_blocking<R>(work: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Drives a future on this thread. A lane's router call over an in-memory store completes
/// without waiting; anything that does wait is woken like any future.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}
