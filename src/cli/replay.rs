//! `classpulse replay [LOG…]`: rebuild state from logs into the configured store.
//!
//! Replay rebuilds the selected states — all of them, or one student's (`--student`), or one
//! module's (`--module`) — from the logs given plus the node's own log, through the router the
//! server runs. With the memory store the result is written as the newest snapshot of the data
//! directory (or to `--out`), which `classpulse serve` loads; with Redis it goes to the store
//! (events a state already reflects are skipped, so nothing is applied twice). It holds the
//! data directory's lock: it refuses to run while a server runs there.
//!
//! Logs of several nodes (each node's `data_dir/log`, found by the `node` its lines name) are
//! merged in an order their order journals allow (`core::replay::merge`): each node's
//! `data_dir/order/` is found beside the logs given, in the data directory, or named with
//! `--order`.

use crate::cli::config_file;
use anyhow::{Context, bail};
use clap::Args;
use classpulse_core::config::{Config, KvsConfig};
use classpulse_core::datadir::{DataDirLock, LockError};
use classpulse_core::event::Timestamp;
use classpulse_core::kvs::{MemoryKvs, RedisKvs, SharedKvs, StateKey};
use classpulse_core::replay::merge::{self, MergeReport, Merger, NodeInput};
use classpulse_core::replay::sources::{self, Item, Kind, ReadProgress, Source};
use classpulse_core::replay::{Engine, Filter, Totals, parallel};
use classpulse_core::roster::RosterIndex;
use classpulse_core::snapshot::{self, Snapshotter};
use classpulse_core::timers::TimerTable;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Skipped lines printed one by one; past this only counted.
const SHOW_SKIPPED: u64 = 100;

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// Logs to replay besides the node's own: ClassPulse log segments or directories of them
    /// (e.g. archived segments), Learning Observer study logs (`*.study.log`, `*.study.log.gz`)
    /// or directories of them. Without any: the node's own log only. Logs of several nodes
    /// (e.g. each node's `data_dir/log`) are merged in the order their order journals allow
    /// (see --order).
    #[arg(value_name = "LOG")]
    logs: Vec<PathBuf>,
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-24T08:00:00Z, or Unix seconds).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    from: Option<Timestamp>,
    /// Only events at or before this time (RFC 3339 or Unix seconds).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    to: Option<Timestamp>,
    /// Rebuild only this student's states, from their events (safe user id, e.g.
    /// tc-testcase-alice); every other state is kept as it is.
    #[arg(long, value_name = "ID")]
    student: Option<String>,
    /// Rebuild only this module's states (e.g. writing); every other state is kept as it is.
    #[arg(long, value_name = "NAME")]
    module: Option<String>,
    /// Data directory (overrides `server.data_dir`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Memory store: write the resulting snapshot to this file instead of into the data
    /// directory (which is then left as it was).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Rebuild even when the node's log no longer starts at its first event (retention
    /// removed segments) and no archived segments are given: states then lack that history.
    #[arg(long)]
    allow_partial: bool,
    /// A directory of order journals (`<node>.jsonl`, a node's `data_dir/order`) for merging
    /// several nodes' logs; repeatable. Besides these, the `order` directory beside each log
    /// directory given and the data directory's own are read.
    #[arg(long, value_name = "DIR")]
    order: Vec<PathBuf>,
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Ok(secs) = text.parse::<f64>() {
        return Ok(Timestamp::from_secs_f64(secs));
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| Timestamp::from_micros(t.as_microsecond()))
        .map_err(|e| format!("{text:?} is neither RFC 3339 nor Unix seconds: {e}"))
}

pub(crate) fn run(config: Option<PathBuf>, args: ReplayArgs) -> anyhow::Result<()> {
    let (mut config, _) = config_file::load(config)?;
    if let Some(dir) = &args.data_dir {
        config.server.data_dir = dir.clone();
    }
    let _lock = match DataDirLock::acquire(&config.server.data_dir) {
        Ok(lock) => lock,
        Err(LockError::Busy(dir)) => bail!(
            "a classpulse server is running on {} (it holds the data directory's lock): stop it \
             before replaying — replay rebuilds the state that server holds. To save the running \
             server's state use `classpulse snapshot`.",
            dir.display()
        ),
        Err(e) => return Err(e.into()),
    };
    if args.out.is_some() && !snapshot::used(&config) {
        bail!("--out writes a snapshot, which only the memory store uses");
    }
    let modules = crate::modules::build(&config)?;
    if let Some(module) = &args.module
        && !modules.iter().any(|m| m.name() == module)
    {
        let names: Vec<&str> = modules.iter().map(|m| m.name()).collect();
        bail!("no module {module:?} (known: {})", names.join(", "));
    }
    let log_dir = classpulse_core::runtime::log_dir(&config);
    let mut own = sources::own_log(&log_dir)
        .with_context(|| format!("reading the log directory {}", log_dir.display()))?;
    let given = sources::discover(&args.logs)?;
    if !args.logs.is_empty() && given.is_empty() {
        bail!(
            "no ClassPulse log segments or Learning Observer study logs found in the paths given"
        );
    }
    // The node's own segments given again (its log directory named explicitly) count once.
    let own_paths: Vec<PathBuf> = own
        .iter()
        .filter_map(|s| s.path.canonicalize().ok())
        .collect();
    let mut inputs: Vec<Source> = given
        .into_iter()
        .filter(|s| {
            s.path
                .canonicalize()
                .map_or(true, |p| !own_paths.contains(&p))
        })
        .collect();
    check_complete(&own, &inputs, args.allow_partial)?;
    // Older history first: Learning Observer's logs, then ClassPulse segments in sequence order.
    inputs.append(&mut own);
    inputs.sort_by_key(|s| {
        (
            s.kind == Kind::ClassPulse,
            if s.kind == Kind::ClassPulse {
                s.path.file_name().map(|n| n.to_os_string())
            } else {
                None
            },
        )
    });

    let filter = Filter {
        from: args.from,
        to: args.to,
        student: args.student.clone(),
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(replay(config, args, modules, inputs, filter))
}

/// Refuses a rebuild that would lose the history retention removed from the node's log.
fn check_complete(own: &[Source], given: &[Source], allow_partial: bool) -> anyhow::Result<()> {
    let Some(first) = own.first() else {
        return Ok(());
    };
    let first_seq = first_seq_of(&first.path);
    let starts_given = given
        .iter()
        .any(|s| s.kind == Kind::ClassPulse && first_seq_of(&s.path) == 1);
    if first_seq > 1 && !starts_given && !allow_partial {
        bail!(
            "the node's log starts at seq {first_seq}: retention removed the segments before it, so \
             a rebuild from the log alone would lose that history. Give the archived segments too \
             (`classpulse replay ARCHIVE_DIR`), or pass --allow-partial"
        );
    }
    Ok(())
}

fn first_seq_of(path: &Path) -> u64 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn replay(
    config: Config,
    args: ReplayArgs,
    modules: Vec<Arc<dyn classpulse_core::module::Module>>,
    inputs: Vec<Source>,
    filter: Filter,
) -> anyhow::Result<()> {
    let timers = Arc::new(TimerTable::new());
    let full = Arc::new(classpulse_core::replay::registry(&modules, &timers, None)?);
    let selected = match &args.module {
        Some(m) => Arc::new(classpulse_core::replay::registry(
            &modules,
            &timers,
            Some(m),
        )?),
        None => full.clone(),
    };
    let rebuild_all = args.student.is_none() && args.module.is_none();
    // Routing always follows the roster as the logs make it, from their start.
    let roster = Arc::new(RosterIndex::new(config.roster.mode));
    let memory = snapshot::used(&config).then(|| Arc::new(MemoryKvs::new()));
    let kvs: SharedKvs = match (&memory, &config.kvs) {
        (Some(m), _) => m.clone(),
        (None, KvsConfig::Redis(redis)) => {
            if !rebuild_all {
                eprintln!(
                    "note: with Redis, replay applies the events the stored states do not reflect yet; \
                     it does not recompute states Redis already has"
                );
            }
            // No order journal: a replay re-applies logged events in an order already decided
            // (by the logs and their journals); the hand-overs it makes are not the live ones, and
            // written beside a node's own they would constrain the next merged replay falsely.
            RedisKvs::connect(redis, &config.server.node_id, None).await?
        }
        (None, KvsConfig::Memory {}) => unreachable!("memory is handled above"),
    };
    let mut base_roster = None;
    if let (Some(memory), false) = (&memory, rebuild_all) {
        // Keep every state but the selected ones: start from the current state.
        let current_roster = Arc::new(RosterIndex::new(config.roster.mode));
        let (through, _) = classpulse_core::replay::load_current(
            &config,
            full.clone(),
            memory.clone(),
            current_roster.clone(),
            timers.clone(),
        )
        .await?;
        let subject = args.student.as_deref().map(|s| {
            classpulse_core::reducer::ScopeKey::student(s)
                .subject()
                .to_owned()
        });
        let dropped = memory.remove_where(|key: &StateKey| {
            subject.as_deref().is_none_or(|s| key.scope.subject() == s)
                && (args.module.is_none() || selected.get(&key.reducer).is_some())
        });
        eprintln!(
            "current state loaded (through log seq {through}); {dropped} state(s) to rebuild dropped"
        );
        base_roster = Some(current_roster);
    }

    let total: u64 = inputs.iter().map(|s| s.bytes).sum();
    let complete = inputs
        .iter()
        .filter(|s| s.kind == Kind::ClassPulse)
        .map(|s| first_seq_of(&s.path))
        .min()
        .is_none_or(|first| first <= 1);
    let files = inputs.len();
    // Logs of several nodes are merged under their order journals; one node's are read as
    // they are.
    let (first, nodes) = split_by_node(inputs, &config.server.node_id);
    let progress = Arc::new(ReadProgress::default());
    let mut engine = Engine::new(
        selected,
        kvs.clone(),
        roster.clone(),
        timers.clone(),
        filter,
    )
    .with_lanes(parallel::lanes_beside_reader());
    let mut report = Progress::new(total);
    let started = Instant::now();
    let mut counts = (0u64, 0u64);
    let (rx, reader) = sources::spawn(first, progress.clone());
    drain(rx, &mut engine, &mut report, &progress, &mut counts).await?;
    let _ = reader.join();
    let mut merged = None;
    if !nodes.is_empty() {
        let mut extra = args.order.clone();
        extra.push(config.server.data_dir.join("order"));
        let dirs = merge::journal_dirs(&args.logs, &extra);
        let handovers = merge::read_journals(&dirs).context("reading the order journals")?;
        if dirs.is_empty() {
            report.println(
                "note: no order journals found (each node's data_dir/order, beside the logs \
                 given or named with --order): the nodes' events are merged by server time",
            );
        }
        let mut readers = Vec::new();
        let inputs = nodes
            .into_iter()
            .map(|(node, sources)| {
                let own = sources.iter().any(|s| s.own);
                let (rx, reader) = sources::spawn(sources, progress.clone());
                readers.push(reader);
                NodeInput {
                    node,
                    own,
                    items: Box::new(rx.into_iter()),
                }
            })
            .collect();
        let merger = Merger::new(full.clone(), inputs, handovers, args.to);
        let (rx, merging) = merge::spawn(merger);
        drain(rx, &mut engine, &mut report, &progress, &mut counts).await?;
        let result = merging
            .join()
            .map_err(|_| anyhow::anyhow!("the merge of the nodes' logs failed"))?;
        for reader in readers {
            let _ = reader.join();
        }
        merged = Some(result);
    }
    let (skipped, failed) = counts;
    report.finish();
    let elapsed = started.elapsed();
    let totals = engine.totals.clone();
    // Merged batches mix nodes, so the merge counts how far the own log went.
    let through = engine
        .own_through()
        .max(merged.as_ref().map_or(0, |m| m.own_through));

    let mut destination = String::new();
    if let Some(memory) = memory {
        // The roster written is the one the logs made, unless their start is missing.
        let roster_out = match base_roster {
            Some(base) if !complete => base,
            _ => roster,
        };
        let snapshotter = Arc::new(Snapshotter::new(&config, full, roster_out, memory));
        let captured = snapshotter.capture(through).await?;
        let states = captured.states;
        destination = match &args.out {
            Some(out) => {
                write_file(out, &captured.bytes)?;
                format!(
                    "snapshot {} ({states} states, current through log seq {through})",
                    out.display()
                )
            }
            None => {
                let dir = snapshotter.dir().to_owned();
                let info =
                    tokio::task::spawn_blocking(move || snapshotter.write(captured)).await??;
                // The replay's result supersedes every other snapshot: start-up must load it.
                for other in snapshot::files::list(&dir)? {
                    if other.path != info.path {
                        std::fs::remove_file(&other.path).with_context(|| {
                            format!("removing the superseded snapshot {}", other.path.display())
                        })?;
                    }
                }
                format!(
                    "snapshot {} ({states} states, current through log seq {through}); `classpulse serve` starts from it",
                    info.path.display()
                )
            }
        };
    }
    print_summary(&totals, elapsed, files, skipped, failed, &destination);
    if let Some(m) = &merged {
        print_merge(m);
    }
    Ok(())
}

/// Learning Observer's logs and a single node's segments (read in order, first), and — when
/// the segments are of several nodes — each node's, to merge.
fn split_by_node(inputs: Vec<Source>, own_node: &str) -> (Vec<Source>, Vec<(String, Vec<Source>)>) {
    let (segments, mut first): (Vec<Source>, Vec<Source>) =
        inputs.into_iter().partition(|s| s.kind == Kind::ClassPulse);
    let nodes = merge::by_node(segments, own_node);
    if nodes.len() > 1 {
        return (first, nodes);
    }
    for (_, segments) in nodes {
        first.extend(segments);
    }
    (first, Vec::new())
}

/// Applies what a reader or the merge hands over.
async fn drain(
    rx: std::sync::mpsc::Receiver<Item>,
    engine: &mut Engine,
    report: &mut Progress,
    progress: &ReadProgress,
    (skipped, failed): &mut (u64, u64),
) -> anyhow::Result<()> {
    // Receiving blocks a thread; the engine's store calls are async (Redis).
    let mut rx = Some(rx);
    loop {
        let (item, back) = tokio::task::spawn_blocking(move || {
            let rx = rx.take().expect("the receiver is handed back each time");
            (rx.recv().ok(), rx)
        })
        .await?;
        rx = Some(back);
        let Some(item) = item else { break };
        match item {
            Item::Batch { batch, own } => {
                engine.apply(batch, own).await?;
                report.tick(progress.bytes(), &engine.totals);
            }
            Item::Skipped(s) => {
                *skipped += 1;
                if *skipped <= SHOW_SKIPPED {
                    report.println(&format!(
                        "skipped {} line {}: {}",
                        s.path.display(),
                        s.line,
                        s.reason
                    ));
                }
            }
            Item::Failed(path, e) => {
                *failed += 1;
                report.println(&format!("cannot read {}: {e}", path.display()));
            }
        }
    }
    Ok(())
}

fn print_merge(m: &MergeReport) {
    println!(
        "  merged {} nodes' logs: {} hand-overs in the order journals, {} kept, {} matching no \
         later event, {} positions on nodes not given, {} duplicate lines; fallbacks {}",
        m.nodes,
        m.handovers,
        m.handovers_used,
        m.handovers_unmatched,
        m.handovers_foreign,
        m.duplicates,
        m.fallbacks
    );
    if m.fallbacks > 0 {
        println!(
            "  {} event(s) went against the journals to break a cycle or an endless wait (e.g. {}): \
             those keys' order is by server time there, and may differ from the live state",
            m.fallbacks,
            m.fallback_examples.join(", ")
        );
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let temp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temp)
        .with_context(|| format!("cannot create {}", temp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temp, path)?;
    Ok(())
}

fn print_summary(
    t: &Totals,
    elapsed: Duration,
    files: usize,
    skipped: u64,
    failed: u64,
    destination: &str,
) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!(
        "replayed {} events from {files} file(s) in {secs:.2} s: {:.0} events/s",
        t.events,
        t.events as f64 / secs
    );
    println!(
        "  lines read {}, left out by filters {}, already reflected (skipped) {} of {} applications, \
         reducer failures {}, unreadable lines {}{}",
        t.lines,
        t.filtered_out,
        t.already_applied,
        t.applications + t.already_applied,
        t.reducer_failures,
        skipped + t.corrupt_lines,
        if failed > 0 {
            format!(", unreadable files {failed}")
        } else {
            String::new()
        }
    );
    if !destination.is_empty() {
        println!("  wrote {destination}");
    }
}

/// Progress on a terminal (a bar with rate and ETA), else a plain line every few seconds.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:32.cyan/blue} {percent:>3}% {bytes}/{total_bytes} {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            total,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    fn tick(&mut self, bytes: u64, totals: &Totals) {
        let rate = totals.events as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        match &self.bar {
            Some(bar) => {
                bar.set_position(bytes);
                bar.set_message(format!("{} events, {rate:.0}/s", totals.events));
            }
            None => {
                if self.last_line.elapsed() >= Duration::from_secs(5) {
                    self.last_line = Instant::now();
                    let fraction = bytes as f64 / self.total.max(1) as f64;
                    let elapsed = self.started.elapsed().as_secs_f64();
                    let eta = if fraction > 0.0 {
                        elapsed / fraction - elapsed
                    } else {
                        0.0
                    };
                    eprintln!(
                        "replay: {:.0}% ({} events, {rate:.0} events/s, ETA {eta:.0} s)",
                        fraction * 100.0,
                        totals.events
                    );
                }
            }
        }
    }

    fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
