//! Merging several nodes' logs into one replay, in an order the order journals allow.
//!
//! Each node's log orders its own events; what orders one node's events against another's on
//! a shared key is the hand-over its Redis store recorded in the order journal
//! ([`Handover`]: "node A's events on this key after its seq `after_own` were applied on top
//! of node B through seq 17"). The [`Merger`] reads every node's log at once and hands the
//! router one sequence of batches in which, for every hand-over, the other nodes' events on
//! that key up to `after` come before the node's first event on that key past `after_own`.
//!
//! It is a topological order built as the logs are read: an event waits for the node's
//! earlier events on the same keys (a node's events on one key stay in log order; on other
//! keys they may overtake each other, as they did live, where each key is stored on its own),
//! and for what its hand-overs name. Of the events free to go, the earliest by server time
//! goes first, so whatever the journals do not say (a lost line, the timer table) follows the
//! clocks. Roster events wait for, and are waited for by, all of their node's events: they
//! decide who belongs where for everything after them.
//!
//! Which keys an event touches is asked of the registry (each reducer's scope key for it), as
//! the router does. A hand-over no later event of the node matches (the timer table, which
//! effects change) constrains nothing and is counted. When nothing can go although events are
//! left — a cycle (an event updating two keys, stored in different orders on each by two
//! nodes at once) or a journal naming a position the log never reached — the earliest of the
//! events waiting only on other nodes goes anyway: a *fallback*, counted in the
//! [`MergeReport`] (the result then differs from the live state only where those keys' order
//! mattered).
//!
//! Nothing here is applied twice or lost: every line read is emitted exactly once, and the
//! states' log positions still skip what a state already reflects.

use super::sources::{Item, Source};
use crate::event::{LogLine, Timestamp};
use crate::kvs::redis::Handover;
use crate::log::{CommittedLine, DurableBatch};
use crate::roster::ROSTER_SOURCE;
use crate::router::Registry;
use bytes::Bytes;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;

/// Lines per merged batch.
const BATCH_LINES: usize = 16_384;

/// Events read but not yet emitted, per node, before the merger stops reading that node ahead.
const WINDOW: usize = 262_144;

/// Fallbacks named one by one in the report; past this only counted.
const EXAMPLES: usize = 5;

/// One node's log, as the merger reads it.
pub struct NodeInput {
    /// The node id (as its log lines and the journals name it).
    pub node: String,
    /// Whether it is the replaying node's own log (for [`MergeReport::own_through`]).
    pub own: bool,
    /// Its lines in sequence order, as [`super::sources::spawn`] reads them.
    pub items: Box<dyn Iterator<Item = Item> + Send>,
}

/// What the merge did, for the replay's summary.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct MergeReport {
    /// Nodes merged.
    pub nodes: usize,
    /// Hand-overs read from the journals.
    pub handovers: u64,
    /// Hand-overs matched to an event and kept.
    pub handovers_used: u64,
    /// Hand-overs no later event of their node touches (e.g. the timer table's).
    pub handovers_unmatched: u64,
    /// Positions named by hand-overs on nodes whose logs were not given (not waited for).
    pub handovers_foreign: u64,
    /// Events emitted against what the journals say, to break a cycle or a wait that could
    /// never end.
    pub fallbacks: u64,
    /// The first few of them, `node seq N`.
    pub fallback_examples: Vec<String>,
    /// Lines skipped because their node's log had them already (overlapping copies).
    pub duplicates: u64,
    /// The highest sequence number of the own log through which every event was emitted
    /// (before the first one after `to`, as [`super::Engine::own_through`] counts).
    pub own_through: u64,
}

/// Merges several nodes' logs; see the module documentation.
pub struct Merger {
    registry: Arc<Registry>,
    nodes: Vec<NodeState>,
    arena: VecDeque<Pending>,
    /// Id of `arena[0]`.
    base: u64,
    ready: BinaryHeap<Reverse<(Timestamp, usize, u64, u64)>>,
    out: Vec<u8>,
    out_lines: Vec<CommittedLine>,
    notes: VecDeque<Item>,
    to: Option<Timestamp>,
    report: MergeReport,
    key_text: String,
    scope_text: String,
    batch_lines: usize,
    window: usize,
}

struct NodeState {
    name: String,
    own: bool,
    frozen: bool,
    input: Box<dyn Iterator<Item = Item> + Send>,
    batch: Option<(Bytes, std::vec::IntoIter<CommittedLine>)>,
    exhausted: bool,
    last_seq: u64,
    last_time: Option<Timestamp>,
    /// Unemitted events per key, in sequence order (roster events are in `alls`).
    on_key: HashMap<u64, VecDeque<u64>>,
    alls: VecDeque<u64>,
    /// Unemitted events in sequence order (emitted ones are dropped from the front lazily).
    unemitted: VecDeque<u64>,
    pending: usize,
    /// This node's hand-overs per key, by `after_own`.
    rules: HashMap<u64, VecDeque<Rule>>,
    /// Waits on this node reaching a seq: `(seq, waiting event, key)`.
    waits: BinaryHeap<Reverse<(u64, u64, u64)>>,
}

struct Rule {
    after_own: u64,
    after: Vec<(Option<usize>, u64)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Ready,
    Emitted,
}

struct Pending {
    node: usize,
    seq: u64,
    time: Timestamp,
    line: Option<(Bytes, CommittedLine)>,
    keys: Vec<u64>,
    all: bool,
    state: State,
    blockers: u32,
    dependents: Vec<u64>,
}

/// The hash a state key `<reducer>/<scope>` is known by here (as the journal spells it).
fn key_hash(text: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(text)
}

impl Merger {
    /// A merger of `inputs` under the hand-overs of their journals. `registry` is every
    /// reducer the nodes ran (it says which keys an event touches); `to` is the replay's
    /// `--to`, for [`MergeReport::own_through`].
    pub fn new(
        registry: Arc<Registry>,
        inputs: Vec<NodeInput>,
        handovers: Vec<Handover>,
        to: Option<Timestamp>,
    ) -> Self {
        let index: HashMap<String, usize> = inputs
            .iter()
            .enumerate()
            .map(|(i, n)| (n.node.clone(), i))
            .collect();
        let mut nodes: Vec<NodeState> = inputs
            .into_iter()
            .map(|n| NodeState {
                name: n.node,
                own: n.own,
                frozen: false,
                input: n.items,
                batch: None,
                exhausted: false,
                last_seq: 0,
                last_time: None,
                on_key: HashMap::new(),
                alls: VecDeque::new(),
                unemitted: VecDeque::new(),
                pending: 0,
                rules: HashMap::new(),
                waits: BinaryHeap::new(),
            })
            .collect();
        let mut report = MergeReport {
            nodes: nodes.len(),
            ..MergeReport::default()
        };
        let mut handovers = handovers;
        handovers.sort_by_key(|h| (h.after_own, h.rev));
        for h in handovers {
            report.handovers += 1;
            let Some(&n) = index.get(&h.node) else {
                // A journal of a node whose log is not replayed.
                report.handovers_unmatched += 1;
                continue;
            };
            let after = h
                .after
                .iter()
                .filter(|(node, _)| *node != h.node)
                .map(|(node, seq)| (index.get(node).copied(), *seq))
                .collect();
            nodes[n]
                .rules
                .entry(key_hash(&h.key))
                .or_default()
                .push_back(Rule {
                    after_own: h.after_own,
                    after,
                });
        }
        Merger {
            registry,
            nodes,
            arena: VecDeque::new(),
            base: 0,
            ready: BinaryHeap::new(),
            out: Vec::new(),
            out_lines: Vec::new(),
            notes: VecDeque::new(),
            to,
            report,
            key_text: String::new(),
            scope_text: String::new(),
            batch_lines: BATCH_LINES,
            window: WINDOW,
        }
    }

    /// Sets the lines per merged batch and the read-ahead window (tests use small ones).
    pub fn with_limits(mut self, batch_lines: usize, window: usize) -> Self {
        self.batch_lines = batch_lines.max(1);
        self.window = window.max(1);
        self
    }

    /// What the merge did so far (complete once [`Merger::next_item`] returned `None`).
    pub fn report(&self) -> &MergeReport {
        &self.report
    }

    /// The next merged batch (`own: false`: see [`MergeReport::own_through`]), or a skipped
    /// line or unreadable file passed on from a node's reader; `None` at the end.
    pub fn next_item(&mut self) -> Option<Item> {
        loop {
            if let Some(note) = self.notes.pop_front() {
                return Some(note);
            }
            if self.out_lines.len() >= self.batch_lines {
                return self.flush();
            }
            match self.step() {
                Step::Progress => {}
                Step::Done => {
                    return if self.out_lines.is_empty() {
                        self.finish();
                        None
                    } else {
                        self.flush()
                    };
                }
            }
        }
    }

    fn flush(&mut self) -> Option<Item> {
        let batch = DurableBatch {
            buf: Bytes::from(std::mem::take(&mut self.out)),
            lines: std::mem::take(&mut self.out_lines),
        };
        Some(Item::Batch { batch, own: false })
    }

    fn finish(&mut self) {
        for node in &mut self.nodes {
            for rules in node.rules.values() {
                self.report.handovers_unmatched += rules.len() as u64;
            }
            node.rules.clear();
        }
    }

    /// One step: emit the earliest free event once every node is read up to its time, else
    /// read on, else break a deadlock.
    fn step(&mut self) -> Step {
        if let Some(&Reverse((time, _, _, id))) = self.ready.peek() {
            // An unread line of another node could be earlier: read nodes behind this time.
            if let Some(n) = (0..self.nodes.len()).find(|&n| {
                let node = &self.nodes[n];
                !node.exhausted
                    && node.pending < self.window
                    && node.last_time.is_none_or(|t| t < time)
            }) {
                return self.read(n);
            }
            self.ready.pop();
            self.emit(id);
            return Step::Progress;
        }
        // Nothing free: read a node others wait for, else any node that can be read.
        let readable = |node: &NodeState| !node.exhausted && node.pending < self.window;
        let next = (0..self.nodes.len())
            .find(|&n| readable(&self.nodes[n]) && !self.nodes[n].waits.is_empty())
            .or_else(|| {
                (0..self.nodes.len())
                    .filter(|&n| readable(&self.nodes[n]))
                    .min_by_key(|&n| self.nodes[n].last_time)
            });
        if let Some(n) = next {
            return self.read(n);
        }
        // Every log is read, or those left are at their window: what waits now can only wait
        // for other waiting events (a cycle) or for more than may be read ahead.
        if self.fallback() {
            return Step::Progress;
        }
        Step::Done
    }

    /// Reads one line (or note) of node `n`.
    fn read(&mut self, n: usize) -> Step {
        loop {
            let node = &mut self.nodes[n];
            if let Some((buf, lines)) = &mut node.batch {
                if let Some(line) = lines.next() {
                    let buf = buf.clone();
                    self.add_line(n, buf, line);
                    return Step::Progress;
                }
                node.batch = None;
            }
            match node.input.next() {
                Some(Item::Batch { batch, .. }) => {
                    node.batch = Some((batch.buf, batch.lines.into_iter()));
                }
                Some(note) => {
                    self.notes.push_back(note);
                    return Step::Progress;
                }
                None => {
                    node.exhausted = true;
                    // Whatever was waited for on this node is as far as it will ever get.
                    let waits = std::mem::take(&mut node.waits);
                    for Reverse((seq, waiter, key)) in waits.into_sorted_vec().into_iter().rev() {
                        self.resolve_wait(waiter, n, key, seq);
                    }
                    return Step::Progress;
                }
            }
        }
    }

    fn add_line(&mut self, n: usize, buf: Bytes, line: CommittedLine) {
        let seq = line.seq;
        if seq <= self.nodes[n].last_seq {
            self.report.duplicates += 1;
            return;
        }
        // Waits for this node through a seq before this line are met by what is read.
        while let Some(&Reverse((through, waiter, key))) = self.nodes[n].waits.peek() {
            if through >= seq {
                break;
            }
            self.nodes[n].waits.pop();
            self.resolve_wait(waiter, n, key, through);
        }
        let (time, keys, roster) = self.describe(&buf, &line);
        let time = time.or(self.nodes[n].last_time).unwrap_or_default();
        let node = &mut self.nodes[n];
        node.last_seq = seq;
        node.last_time = Some(node.last_time.map_or(time, |t| t.max(time)));
        if node.own && !node.frozen {
            if !roster && self.to.is_some_and(|to| time > to) {
                node.frozen = true;
            } else {
                self.report.own_through = self.report.own_through.max(seq);
            }
        }
        let id = self.base + self.arena.len() as u64;
        self.arena.push_back(Pending {
            node: n,
            seq,
            time,
            line: Some((buf, line)),
            keys,
            all: roster,
            state: State::Waiting,
            blockers: 0,
            dependents: Vec::new(),
        });
        let node = &mut self.nodes[n];
        node.pending += 1;
        node.unemitted.push_back(id);
        // The node's earlier events on the same keys (all of them, for a roster event).
        let mut deps: Vec<u64> = Vec::new();
        if roster {
            deps.extend(node.on_key.values().filter_map(|q| q.back().copied()));
        } else {
            let keys = &self.arena[(id - self.base) as usize].keys;
            deps.extend(
                keys.iter()
                    .filter_map(|k| node.on_key.get(k).and_then(|q| q.back().copied())),
            );
        }
        deps.extend(node.alls.back().copied());
        // Hand-overs whose first event past `after_own` this is.
        let mut waits: Vec<(usize, u64, u64)> = Vec::new();
        let keys = self.arena[(id - self.base) as usize].keys.clone();
        for &key in &keys {
            if let Some(rules) = node.rules.get_mut(&key) {
                while rules.front().is_some_and(|r| r.after_own < seq) {
                    let rule = rules.pop_front().expect("a front rule");
                    self.report.handovers_used += 1;
                    for (other, through) in rule.after {
                        match other {
                            Some(m) => waits.push((m, through, key)),
                            None => self.report.handovers_foreign += 1,
                        }
                    }
                }
                if rules.is_empty() {
                    node.rules.remove(&key);
                }
            }
        }
        if roster {
            node.alls.push_back(id);
        } else {
            for &key in &keys {
                node.on_key.entry(key).or_default().push_back(id);
            }
        }
        deps.sort_unstable();
        deps.dedup();
        for dep in deps {
            self.depend(id, dep);
        }
        for (m, through, key) in waits {
            let other = &mut self.nodes[m];
            if other.exhausted || other.last_seq >= through {
                self.depend_on_key(id, m, key, through);
            } else {
                other.waits.push(Reverse((through, id, key)));
                self.slot(id).blockers += 1;
            }
        }
        self.release_if_free(id);
    }

    /// The line's time, the keys its event touches and whether it is a roster event.
    fn describe(
        &mut self,
        buf: &Bytes,
        line: &CommittedLine,
    ) -> (Option<Timestamp>, Vec<u64>, bool) {
        let text = |range: (usize, usize)| std::str::from_utf8(&buf[range.0..range.1]).ok();
        let prepared = match (
            &line.prepared,
            line.time,
            text((line.body_start, line.range.1)),
        ) {
            (Some(p), Some(time), Some(body)) => p.event(body, line.seq, time),
            _ => None,
        };
        let event = match prepared {
            Some(e) => e,
            None => match text(line.range).map(LogLine::parse) {
                Some(Ok(parsed)) => {
                    let time = parsed.timestamp().ok();
                    match parsed.into_event() {
                        Ok(e) => e,
                        // The router reports it; it touches nothing.
                        Err(_) => return (time, Vec::new(), false),
                    }
                }
                _ => return (None, Vec::new(), false),
            },
        };
        let mut keys = Vec::new();
        for reducer in self
            .registry
            .for_source(&event.source, event.timer.is_some())
        {
            if reducer
                .scope
                .write_key(&event, &mut self.scope_text)
                .is_none()
            {
                continue;
            }
            self.key_text.clear();
            self.key_text.push_str(&reducer.name);
            self.key_text.push('/');
            self.key_text.push_str(&self.scope_text);
            keys.push(key_hash(&self.key_text));
        }
        keys.sort_unstable();
        keys.dedup();
        (Some(event.time), keys, event.source == ROSTER_SOURCE)
    }

    fn slot(&mut self, id: u64) -> &mut Pending {
        let i = (id - self.base) as usize;
        &mut self.arena[i]
    }

    fn emitted(&self, id: u64) -> bool {
        id < self.base || self.arena[(id - self.base) as usize].state == State::Emitted
    }

    /// `id` waits for `dep` (when `dep` is not out yet).
    fn depend(&mut self, id: u64, dep: u64) {
        if dep == id || self.emitted(dep) {
            return;
        }
        self.slot(dep).dependents.push(id);
        self.slot(id).blockers += 1;
    }

    /// `id` waits for node `m`'s events on `key` through seq `through` (all read by now).
    fn depend_on_key(&mut self, id: u64, m: usize, key: u64, through: u64) {
        let node = &self.nodes[m];
        let on_key = node.on_key.get(&key).and_then(|q| {
            q.iter()
                .rev()
                .copied()
                .find(|&d| self.arena[(d - self.base) as usize].seq <= through)
        });
        let roster = node
            .alls
            .iter()
            .rev()
            .copied()
            .find(|&d| self.arena[(d - self.base) as usize].seq <= through);
        for dep in on_key.into_iter().chain(roster) {
            self.depend(id, dep);
        }
    }

    /// A wait registered on node `m` is met (its log reached `through`, or ended).
    fn resolve_wait(&mut self, waiter: u64, m: usize, key: u64, through: u64) {
        if self.emitted(waiter) || self.slot(waiter).state != State::Waiting {
            return;
        }
        self.slot(waiter).blockers -= 1;
        self.depend_on_key(waiter, m, key, through);
        self.release_if_free(waiter);
    }

    fn release_if_free(&mut self, id: u64) {
        let p = self.slot(id);
        if p.state == State::Waiting && p.blockers == 0 {
            p.state = State::Ready;
            let entry = Reverse((p.time, p.node, p.seq, id));
            self.ready.push(entry);
        }
    }

    fn emit(&mut self, id: u64) {
        let p = self.slot(id);
        if p.state == State::Emitted {
            return;
        }
        p.state = State::Emitted;
        let (buf, line) = p.line.take().expect("an unemitted event holds its line");
        let (n, all) = (p.node, p.all);
        let keys = std::mem::take(&mut p.keys);
        let dependents = std::mem::take(&mut p.dependents);
        // The line, copied into the merged batch (its prepared spans are relative to the body).
        let start = self.out.len();
        self.out.extend_from_slice(&buf[line.range.0..line.range.1]);
        let end = self.out.len();
        self.out.push(b'\n');
        self.out_lines.push(CommittedLine {
            seq: line.seq,
            time: line.time,
            range: (start, end),
            body_start: start + (line.body_start - line.range.0),
            prepared: line.prepared,
            body: None,
        });
        let node = &mut self.nodes[n];
        node.pending -= 1;
        // A node's events on a key go out in order, so this one leads its queues.
        let remove = |q: &mut VecDeque<u64>| {
            if q.front() == Some(&id) {
                q.pop_front();
            } else {
                q.retain(|&d| d != id);
            }
        };
        if all {
            remove(&mut node.alls);
        } else {
            for key in keys {
                if let Some(q) = node.on_key.get_mut(&key) {
                    remove(q);
                    if q.is_empty() {
                        node.on_key.remove(&key);
                    }
                }
            }
        }
        while let Some(&first) = self.nodes[n].unemitted.front() {
            if first != id && !self.emitted(first) {
                break;
            }
            self.nodes[n].unemitted.pop_front();
        }
        for d in dependents {
            if !self.emitted(d) && self.slot(d).state == State::Waiting {
                self.slot(d).blockers -= 1;
                self.release_if_free(d);
            }
        }
        while self
            .arena
            .front()
            .is_some_and(|p| p.state == State::Emitted)
        {
            self.arena.pop_front();
            self.base += 1;
        }
    }

    /// Nothing can go: the earliest of the events that wait only on other nodes goes anyway.
    fn fallback(&mut self) -> bool {
        let mut best: Option<(Timestamp, u64)> = None;
        for n in 0..self.nodes.len() {
            while let Some(&id) = self.nodes[n].unemitted.front() {
                if self.emitted(id) {
                    self.nodes[n].unemitted.pop_front();
                } else {
                    break;
                }
            }
            if let Some(&id) = self.nodes[n].unemitted.front() {
                let time = self.arena[(id - self.base) as usize].time;
                if best.is_none_or(|(t, _)| time < t) {
                    best = Some((time, id));
                }
            }
        }
        let Some((_, id)) = best else {
            return false;
        };
        let (node, seq) = {
            let p = self.slot(id);
            (p.node, p.seq)
        };
        self.report.fallbacks += 1;
        if self.report.fallback_examples.len() < EXAMPLES {
            self.report
                .fallback_examples
                .push(format!("{} seq {seq}", self.nodes[node].name));
        }
        self.emit(id);
        true
    }
}

enum Step {
    /// Something was read or emitted.
    Progress,
    /// Every log is read and every event emitted.
    Done,
}

/// Runs `merger` on a thread of its own; merged batches arrive on the returned channel (at
/// most a few ahead of the consumer), and the thread returns the report.
pub fn spawn(mut merger: Merger) -> (mpsc::Receiver<Item>, std::thread::JoinHandle<MergeReport>) {
    let (tx, rx) = mpsc::sync_channel(4);
    let handle = std::thread::Builder::new()
        .name("classpulse-replay-merge".into())
        .spawn(move || {
            while let Some(item) = merger.next_item() {
                if tx.send(item).is_err() {
                    break;
                }
            }
            merger.report().clone()
        })
        .expect("a thread starts");
    (rx, handle)
}

/// The node whose log a ClassPulse segment belongs to: the `node` of its first line that
/// names one (`None`: no line does, e.g. an empty segment).
///
/// # Errors
/// When the file cannot be read.
pub fn node_of(path: &Path) -> io::Result<Option<String>> {
    let file = io::BufReader::new(std::fs::File::open(path)?);
    for line in file.split(b'\n').take(16) {
        let line = line?;
        if let Ok(text) = std::str::from_utf8(&line)
            && let Ok(parsed) = LogLine::parse(text)
        {
            return Ok(Some(parsed.node.into_owned()));
        }
    }
    Ok(None)
}

/// ClassPulse segments grouped by node, each node's in sequence order. A directory's segments
/// are one node's log (the node its first readable line names); a segment no line of which
/// names a node (or that cannot be read: its reader reports that) goes with its directory's,
/// else with `fallback` (the own node's id).
pub fn by_node(segments: Vec<Source>, fallback: &str) -> Vec<(String, Vec<Source>)> {
    let mut dir_node: HashMap<PathBuf, String> = HashMap::new();
    let mut named: Vec<(Option<String>, Source)> = Vec::with_capacity(segments.len());
    for source in segments {
        let node = node_of(&source.path).ok().flatten();
        let dir = source
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if let Some(node) = &node {
            dir_node.entry(dir).or_insert_with(|| node.clone());
        }
        named.push((node, source));
    }
    let mut groups: Vec<(String, Vec<Source>)> = Vec::new();
    for (node, source) in named {
        let dir = source
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let node = dir_node
            .get(&dir)
            .cloned()
            .or(node)
            .unwrap_or_else(|| fallback.to_owned());
        match groups.iter_mut().find(|(n, _)| *n == node) {
            Some((_, sources)) => sources.push(source),
            None => groups.push((node, vec![source])),
        }
    }
    for (_, sources) in &mut groups {
        sources.sort_by_key(|s| (first_seq(&s.path), s.path.clone()));
    }
    groups
}

fn first_seq(path: &Path) -> u64 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Where the order journals of the logs given are: each data directory's `order/` — the
/// `order` beside a `log` directory given (or beside the `log` directory a segment is in), and
/// the `order` inside a directory given — plus `extra`. Only directories that exist, each
/// once.
pub fn journal_dirs(logs: &[PathBuf], extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = extra.to_vec();
    for path in logs {
        candidates.push(path.join("order"));
        let dir = if path.is_dir() {
            Some(path.as_path())
        } else {
            path.parent()
        };
        if let Some(dir) = dir
            && dir.file_name().is_some_and(|n| n == "log")
            && let Some(data) = dir.parent()
        {
            candidates.push(data.join("order"));
        }
    }
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for dir in candidates {
        if !dir.is_dir() {
            continue;
        }
        let key = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if !seen.contains(&key) {
            seen.push(key);
            out.push(dir);
        }
    }
    out
}

/// Every hand-over in `dirs` (see [`crate::kvs::redis::read_journals`]).
///
/// # Errors
/// When a directory or a journal cannot be read.
pub fn read_journals(dirs: &[PathBuf]) -> io::Result<Vec<Handover>> {
    let mut out = Vec::new();
    for dir in dirs {
        out.extend(
            crate::kvs::redis::read_journals(dir)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::reducer::{Outcome, Reducer, Scope, erase};
    use crate::replay::prepare::Preparer;

    /// Appends each event's `s` to the student's text: the result depends on the order.
    struct Text;

    impl Reducer for Text {
        type State = String;
        fn name(&self) -> &str {
            "test.text"
        }
        fn sources(&self) -> &[&str] {
            &["org.test"]
        }
        fn scope(&self) -> Scope {
            Scope::student()
        }
        fn reduce(&self, text: &mut String, event: &Event<'_>) -> Outcome {
            text.push_str(event.fields.str("s").as_deref().unwrap_or("?"));
            Outcome::changed()
        }
    }

    fn registry() -> Arc<Registry> {
        Arc::new(Registry::new([("test".to_owned(), erase(Text))]).unwrap())
    }

    /// `(seq, server time, student, s)`.
    type Line = (u64, f64, &'static str, &'static str);

    fn text_line(node: &str, (seq, time, student, s): Line) -> String {
        let client = format!(r#"{{"event":"e","s":"{s}"}}"#);
        let time = Timestamp::from_secs_f64(time);
        crate::testing::log_line(node, seq, time, student, "org.test", &client)
    }

    /// A node's log, in batches of two lines; every other batch prepared as a reader
    /// prepares segment lines, the others left to be parsed.
    fn input(node: &str, lines: &[Line]) -> NodeInput {
        let mut items = Vec::new();
        for (i, chunk) in lines.chunks(2).enumerate() {
            let mut batch =
                crate::testing::batch_of(chunk.iter().map(|&l| (l.0, text_line(node, l))));
            if i % 2 == 0 {
                let mut preparer = Preparer::default();
                for line in &mut batch.lines {
                    preparer.prepare_line(&batch.buf, line);
                }
            }
            items.push(Item::Batch { batch, own: false });
        }
        NodeInput {
            node: node.to_owned(),
            own: node == "a",
            items: Box::new(items.into_iter()),
        }
    }

    fn handover(node: &str, student: &str, after_own: u64, after: &[(&str, u64)]) -> Handover {
        Handover {
            key: format!("test.text/student:tc-{student}"),
            rev: after_own + 1,
            node: node.to_owned(),
            after_own,
            after: after.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect(),
        }
    }

    /// Runs the merge; returns each student's text as the events come out, and the report.
    fn merge(
        inputs: Vec<NodeInput>,
        handovers: Vec<Handover>,
        window: usize,
    ) -> (Vec<String>, HashMap<String, String>, MergeReport) {
        let mut merger = Merger::new(registry(), inputs, handovers, None).with_limits(3, window);
        let mut order = Vec::new();
        let mut texts: HashMap<String, String> = HashMap::new();
        while let Some(item) = merger.next_item() {
            let Item::Batch { batch, .. } = item else {
                panic!("only batches here");
            };
            assert!(batch.len() <= 3);
            for line in &batch.lines {
                let parsed = Event::from_line(batch.text(line.range)).unwrap();
                // A prepared line still reads as its text does after the copy.
                if let (Some(p), Some(time)) = (&line.prepared, line.time) {
                    let body = batch.text((line.body_start, line.range.1));
                    let prepared = p.event(body, line.seq, time).unwrap();
                    assert_eq!(prepared.fields.str("s"), parsed.fields.str("s"));
                    assert_eq!(prepared.position, parsed.position);
                }
                let s = parsed.fields.str("s").unwrap().into_owned();
                texts
                    .entry(parsed.safe_user_id().to_owned())
                    .or_default()
                    .push_str(&s);
                order.push(s);
            }
        }
        (order, texts, merger.report().clone())
    }

    /// Live, on one Redis: x's text was written a1, b1, a2, b2 (a hand-over each time), while
    /// node b's clock ran 100 s ahead; y wrote on node a only.
    fn alternating() -> (Vec<Line>, Vec<Line>, Vec<Handover>) {
        let a = vec![
            (1, 1.0, "x", "a1"),
            (2, 2.0, "y", "y1"),
            (3, 3.0, "x", "a2"),
            (4, 4.0, "y", "y2"),
        ];
        let b = vec![(1, 101.5, "x", "b1"), (2, 103.5, "x", "b2")];
        let journal = vec![
            handover("b", "x", 0, &[("a", 1)]),
            handover("a", "x", 1, &[("b", 1)]),
            handover("b", "x", 1, &[("a", 3)]),
        ];
        (a, b, journal)
    }

    #[test]
    fn hand_overs_order_a_key_across_nodes_whatever_the_clocks_say() {
        let (a, b, journal) = alternating();
        let (order, texts, report) = merge(vec![input("a", &a), input("b", &b)], journal, 1000);
        assert_eq!(texts["tc-x"], "a1b1a2b2");
        assert_eq!(texts["tc-y"], "y1y2");
        // y's events, free of any hand-over, go by time: y2 overtakes a2, which waits for b1.
        assert_eq!(order, ["a1", "y1", "y2", "b1", "a2", "b2"]);
        assert_eq!(report.handovers, 3);
        assert_eq!(report.handovers_used, 3);
        assert_eq!(report.fallbacks, 0);
        assert_eq!(report.own_through, 4);

        // Without the journals the clocks decide, and b's runs ahead: another text.
        let (_, texts, report) = merge(vec![input("a", &a), input("b", &b)], Vec::new(), 1000);
        assert_eq!(texts["tc-x"], "a1a2b1b2");
        assert_eq!(report.handovers_used, 0);
    }

    #[test]
    fn the_own_log_counts_as_replayed_up_to_its_first_event_after_to() {
        let (a, b, journal) = alternating();
        let to = Some(Timestamp::from_secs_f64(2.5));
        let mut merger = Merger::new(
            registry(),
            vec![input("a", &a), input("b", &b)],
            journal,
            to,
        );
        let mut lines = 0;
        while let Some(item) = merger.next_item() {
            if let Item::Batch { batch, own } = item {
                assert!(!own, "merged batches mix nodes");
                lines += batch.len();
            }
        }
        // Every line goes to the engine (its filter leaves out what is after `to`); the own
        // log (a's) is current through seq 2, the last before its first event after `to`.
        assert_eq!(lines, 6);
        assert_eq!(merger.report().own_through, 2);
    }

    #[test]
    fn a_lost_journal_line_leaves_that_hand_over_to_the_clocks() {
        let (a, b, mut journal) = alternating();
        // a's hand-over was lost (a crash before the journal reached the disk): a2 no longer
        // waits for b1 and goes by its time; b2 still follows a2. No event is lost.
        journal.remove(1);
        let (_, texts, report) = merge(vec![input("a", &a), input("b", &b)], journal, 1000);
        assert_eq!(texts["tc-x"], "a1a2b1b2");
        assert_eq!((report.handovers_used, report.fallbacks), (2, 0));
    }

    #[test]
    fn a_cycle_falls_back_to_server_time_and_is_counted() {
        let a = vec![(1, 1.0, "x", "a1"), (2, 2.0, "x", "a2")];
        let b = vec![(1, 1.5, "x", "b1"), (2, 2.5, "x", "b2")];
        // Each claims to have come after the other: no order satisfies both.
        let journal = vec![
            handover("a", "x", 0, &[("b", 1)]),
            handover("b", "x", 0, &[("a", 1)]),
        ];
        let (order, texts, report) = merge(vec![input("a", &a), input("b", &b)], journal, 1000);
        assert_eq!(report.fallbacks, 1, "{report:?}");
        assert_eq!(report.fallback_examples, ["a seq 1"]);
        // Every event exactly once; past the cycle, by time.
        assert_eq!(order, ["a1", "b1", "a2", "b2"]);
        assert_eq!(texts["tc-x"], "a1b1a2b2");
    }

    #[test]
    fn positions_never_logged_nodes_not_given_and_copies_cost_no_event() {
        let a = vec![
            (1, 1.0, "x", "a1"),
            (2, 2.0, "x", "a2"),
            (2, 2.0, "x", "a2"),
        ];
        let b = vec![(1, 0.5, "x", "b1")];
        let journal = vec![
            // b claims a through 9, which a's log never reached: b1 waits for all of a's x.
            handover("b", "x", 0, &[("a", 9), ("c", 4)]),
            // A hand-over of a key no event of a touches later.
            handover("a", "z", 0, &[("b", 1)]),
        ];
        let (order, _, report) = merge(vec![input("a", &a), input("b", &b)], journal, 1000);
        assert_eq!(order, ["a1", "a2", "b1"]);
        assert_eq!(report.duplicates, 1);
        assert_eq!(report.handovers_foreign, 1);
        assert_eq!(report.handovers_unmatched, 1);
        assert_eq!(report.fallbacks, 0);
    }

    #[test]
    fn a_wait_longer_than_the_window_falls_back_instead_of_reading_without_bound() {
        // b1 waits for a through 4, but a2..a4 wait for b1 too (a cycle seen only after
        // reading on): with a window of two events per node the merge cannot read that far.
        let a: Vec<Line> = vec![
            (1, 1.0, "x", "a1"),
            (2, 2.0, "x", "a2"),
            (3, 3.0, "x", "a3"),
            (4, 4.0, "x", "a4"),
        ];
        let b = vec![(1, 0.5, "x", "b1")];
        let journal = vec![
            handover("b", "x", 0, &[("a", 4)]),
            handover("a", "x", 1, &[("b", 1)]),
        ];
        let (order, _, report) = merge(vec![input("a", &a), input("b", &b)], journal, 2);
        assert!(report.fallbacks >= 1, "{report:?}");
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            ["a1", "a2", "a3", "a4", "b1"],
            "each once: {order:?}"
        );
    }
}
