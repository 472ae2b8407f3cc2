//! What a replay reads: ClassPulse log segments and Learning Observer study logs, found from
//! the paths given, read on a thread of their own and handed over as [`DurableBatch`]es — the
//! type the log writer hands the router — so reading overlaps reducing.

use super::learning_observer;
use super::prepare::Preparer;
use crate::log::buffers::BufferPool;
use crate::log::segment;
use crate::log::{CommittedLine, DurableBatch, LogReader, ReadError};
use bytes::Bytes;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

/// Lines per batch of a study log.
const BATCH_LINES: usize = 65_536;

/// Bytes per batch of a ClassPulse segment (about 4,000 writing events): enough lines for the
/// replay lanes to share, few enough that the buffers in flight stay small.
const BATCH_BYTES: usize = 4 << 20;

/// Bytes read from a segment at a time.
const READ_BYTES: usize = 256 << 10;

/// Batches read ahead of the consumer at most.
const CHANNEL: usize = 2;

/// What kind of log a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A ClassPulse log segment (`<first seq>.jsonl`).
    ClassPulse,
    /// A Learning Observer study log (`*.study.log`, optionally gzipped).
    LearningObserver,
}

/// One file to replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The file.
    pub path: PathBuf,
    /// Its kind.
    pub kind: Kind,
    /// Its size on disk (compressed size for `.gz`).
    pub bytes: u64,
    /// Whether it belongs to the node's own log (`<data_dir>/log`).
    pub own: bool,
}

/// Finds the files to replay under `paths`: a directory is searched (recursively) for
/// ClassPulse segments and `*.study.log[.gz]` files; a file is taken as it is (by its name,
/// else by its first bytes). Learning Observer's logs come first (older history, in path
/// order), then ClassPulse segments (each directory in sequence order).
///
/// # Errors
/// When a path does not exist or cannot be read.
pub fn discover(paths: &[PathBuf]) -> io::Result<Vec<Source>> {
    let mut lo = Vec::new();
    let mut cp = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort();
            for file in found {
                let name = file_name(&file);
                if is_study_log(&name) {
                    lo.push(source(file, Kind::LearningObserver)?);
                } else if is_segment(&name) {
                    cp.push(source(file, Kind::ClassPulse)?);
                }
            }
        } else {
            let name = file_name(path);
            let kind = if is_segment(&name) {
                Kind::ClassPulse
            } else if name.ends_with(".gz") || name.ends_with(".log") {
                Kind::LearningObserver
            } else {
                sniff(path)?
            };
            let s = source(path.clone(), kind)?;
            match kind {
                Kind::ClassPulse => cp.push(s),
                Kind::LearningObserver => lo.push(s),
            }
        }
    }
    lo.sort_by(|a, b| a.path.cmp(&b.path));
    lo.dedup();
    cp.dedup();
    lo.extend(cp);
    Ok(lo)
}

/// The segments of a node's own log directory.
///
/// # Errors
/// When the directory cannot be read.
pub fn own_log(dir: &Path) -> io::Result<Vec<Source>> {
    segment::list(dir)?
        .into_iter()
        .map(|s| {
            let mut s = source(s.path, Kind::ClassPulse)?;
            s.own = true;
            Ok(s)
        })
        .collect()
}

fn source(path: PathBuf, kind: Kind) -> io::Result<Source> {
    let bytes = std::fs::metadata(&path)?.len();
    Ok(Source {
        path,
        kind,
        bytes,
        own: false,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_study_log(name: &str) -> bool {
    name.ends_with(".study.log") || name.ends_with(".study.log.gz")
}

fn is_segment(name: &str) -> bool {
    name.strip_suffix(".jsonl")
        .is_some_and(|stem| stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
}

/// A `.jsonl` file of another name: a ClassPulse log starts with `{"seq":`.
fn sniff(path: &Path) -> io::Result<Kind> {
    let mut head = [0u8; 7];
    let n = std::fs::File::open(path)?.read(&mut head)?;
    Ok(if &head[..n] == b"{\"seq\":" {
        Kind::ClassPulse
    } else {
        Kind::LearningObserver
    })
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// A line that was not replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// What the reading thread hands over.
pub enum Item {
    /// A batch of lines.
    Batch {
        /// The lines.
        batch: DurableBatch,
        /// Whether they come from the node's own log.
        own: bool,
    },
    /// A line that could not be read.
    Skipped(Skipped),
    /// A file that could not be read at all.
    Failed(PathBuf, io::Error),
}

/// Bytes read so far (of [`Source::bytes`]), for progress reports.
#[derive(Debug, Default)]
pub struct ReadProgress {
    bytes: AtomicU64,
}

impl ReadProgress {
    /// Bytes read.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Reads `sources` in order on a new thread; batches arrive on the returned channel (at most
/// [`CHANNEL`] ahead of the consumer).
pub fn spawn(
    sources: Vec<Source>,
    progress: Arc<ReadProgress>,
) -> (mpsc::Receiver<Item>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::sync_channel(CHANNEL);
    let handle = std::thread::Builder::new()
        .name("classpulse-replay-read".into())
        .spawn(move || {
            let mut buffers = BufferPool::default();
            for source in sources {
                let ok = match source.kind {
                    Kind::ClassPulse => read_segment(&source, &tx, &progress, &mut buffers),
                    Kind::LearningObserver => read_study_log(&source, &tx, &progress),
                };
                if !ok {
                    return;
                }
            }
        })
        .expect("a thread starts");
    (rx, handle)
}

/// Runs `reader` (a node's own log, from a sequence number on) on a thread of its own, and
/// splits each line there as [`spawn`] does, so that reading and splitting overlap reducing:
/// the server's start-up replay. Batches, or the error that ended the reading, arrive on the
/// returned channel.
pub fn read_ahead(
    mut reader: LogReader,
) -> (
    tokio::sync::mpsc::Receiver<Result<DurableBatch, ReadError>>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL);
    let handle = std::thread::Builder::new()
        .name("classpulse-log-read".into())
        .spawn(move || {
            let mut preparer = Preparer::default();
            loop {
                let next = match reader.next_batch() {
                    Ok(Some(mut batch)) => {
                        for line in &mut batch.lines {
                            preparer.prepare_line(&batch.buf, line);
                        }
                        Ok(batch)
                    }
                    Ok(None) => return,
                    Err(e) => Err(e),
                };
                let failed = next.is_err();
                if tx.blocking_send(next).is_err() || failed {
                    return;
                }
            }
        })
        .expect("a thread starts");
    (rx, handle)
}

/// Sends a ClassPulse segment in batches of at most [`BATCH_BYTES`] (a longer line gets a batch
/// of its own); `false` when the consumer is gone.
///
/// The segment is read [`READ_BYTES`] at a time into batch-sized buffers and each piece is
/// split into lines and prepared at once: memory stays at a few batch buffers whatever the
/// segment size (a whole segment used to be read into one buffer first).
fn read_segment(
    source: &Source,
    tx: &mpsc::SyncSender<Item>,
    progress: &ReadProgress,
    buffers: &mut BufferPool,
) -> bool {
    let fail = |e: io::Error| tx.send(Item::Failed(source.path.clone(), e)).is_ok();
    let mut file = match std::fs::File::open(&source.path) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let send = |buffers: &mut BufferPool, buf: Vec<u8>, lines: Vec<CommittedLine>| -> bool {
        progress
            .bytes
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        if lines.is_empty() {
            return true;
        }
        let batch = DurableBatch {
            buf: buffers.freeze(buf),
            lines,
        };
        tx.send(Item::Batch {
            batch,
            own: source.own,
        })
        .is_ok()
    };
    let skip = |line: u64, reason: &str| {
        tx.send(Item::Skipped(Skipped {
            path: source.path.clone(),
            line,
            reason: reason.into(),
        }))
        .is_ok()
    };
    let mut buf = buffers.take(BATCH_BYTES);
    let mut lines = Vec::new();
    // Bytes of `buf` split into lines so far; the rest is the start of a line still being read.
    let mut split = 0usize;
    let mut line_no = 0u64;
    let mut preparer = Preparer::default();
    loop {
        if buf.capacity() - buf.len() < READ_BYTES {
            // Full: the complete lines go, the partial one moves to the next buffer (which
            // grows with it when a single line outgrows a batch).
            let partial = buf.len() - split;
            let mut next = buffers.take(BATCH_BYTES.max(2 * partial + READ_BYTES));
            next.extend_from_slice(&buf[split..]);
            buf.truncate(split);
            if !send(buffers, buf, std::mem::take(&mut lines)) {
                return false;
            }
            (buf, split) = (next, 0);
        }
        match (&mut file).take(READ_BYTES as u64).read_to_end(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return send(buffers, buf, lines) && fail(e),
        }
        while let Some(n) = memchr::memchr(b'\n', &buf[split..]) {
            let (start, end) = (split, split + n);
            split = end + 1;
            line_no += 1;
            if end == start {
                continue;
            }
            let Some(seq) = segment::seq_of(&buf[start..end]) else {
                if !skip(line_no, "not a ClassPulse log line") {
                    return false;
                }
                continue;
            };
            let mut line = CommittedLine {
                seq,
                time: None,
                range: (start, end),
                body_start: start,
                prepared: None,
                body: None,
            };
            preparer.prepare_line(&buf, &mut line);
            lines.push(line);
        }
    }
    if split < buf.len()
        && !skip(
            line_no + 1,
            "torn last line (no newline: a crash during a write, never acknowledged)",
        )
    {
        return false;
    }
    send(buffers, buf, lines)
}

/// Sends a Learning Observer study log, converted, in batches; `false` when the consumer is
/// gone.
fn read_study_log(source: &Source, tx: &mpsc::SyncSender<Item>, progress: &ReadProgress) -> bool {
    let data = match read_maybe_gzipped(&source.path) {
        Ok(d) => d,
        Err(e) => {
            progress.bytes.fetch_add(source.bytes, Ordering::Relaxed);
            return tx.send(Item::Failed(source.path.clone(), e)).is_ok();
        }
    };
    let node = learning_observer::node_for(&file_name(&source.path));
    // Progress in the file's own (possibly compressed) bytes.
    let scale = source.bytes as f64 / data.len().max(1) as f64;
    let mut reported = 0u64;
    let mut out = Vec::with_capacity(1 << 20);
    let mut lines = Vec::with_capacity(BATCH_LINES);
    let mut line_no = 0u64;
    let mut pos = 0usize;
    let mut flush = |out: &mut Vec<u8>, lines: &mut Vec<CommittedLine>, pos: usize| -> bool {
        let done = (pos as f64 * scale) as u64;
        progress
            .bytes
            .fetch_add(done.saturating_sub(reported), Ordering::Relaxed);
        reported = reported.max(done);
        if lines.is_empty() {
            return true;
        }
        let batch = DurableBatch {
            buf: Bytes::from(std::mem::take(out)),
            lines: std::mem::take(lines),
        };
        tx.send(Item::Batch { batch, own: false }).is_ok()
    };
    while pos < data.len() {
        line_no += 1;
        let start = pos;
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |n| start + n);
        pos = end + 1;
        let line = &data[start..end];
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_start = out.len();
        match learning_observer::convert(line, line_no, &node, &mut out) {
            Ok(()) => lines.push(CommittedLine {
                seq: line_no,
                time: None,
                range: (line_start, out.len() - 1),
                body_start: line_start,
                prepared: None,
                body: None,
            }),
            Err(reason) => {
                out.truncate(line_start);
                let skipped = Skipped {
                    path: source.path.clone(),
                    line: line_no,
                    reason,
                };
                if tx.send(Item::Skipped(skipped)).is_err() {
                    return false;
                }
            }
        }
        if lines.len() == BATCH_LINES && !flush(&mut out, &mut lines, pos) {
            return false;
        }
    }
    flush(&mut out, &mut lines, data.len())
}

fn read_maybe_gzipped(path: &Path) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut data = Vec::new();
    if path.extension().is_some_and(|e| e == "gz") {
        // A torn gzip stream still yields what it holds before the tear; what follows is lost
        // and said so.
        let mut decoder = flate2::read::MultiGzDecoder::new(io::BufReader::new(file));
        if let Err(e) = decoder.read_to_end(&mut data) {
            if data.is_empty() {
                return Err(e);
            }
            tracing::warn!(file = %path.display(), error = %e, "compressed log ends early; replaying what it holds");
        }
    } else {
        io::BufReader::new(file).read_to_end(&mut data)?;
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of every length around the read and batch sizes, a long one, an empty one and a
    /// torn tail: every line arrives once, whole, in order, numbered as in the file.
    #[test]
    fn a_segment_read_in_pieces_gives_every_line_once() {
        let dir = std::env::temp_dir().join(format!("cp-pieces-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(segment::file_name(1));
        let mut text = String::new();
        let mut want = Vec::new();
        let lengths = [
            10,
            READ_BYTES - 40,
            READ_BYTES + 7,
            3 * BATCH_BYTES / 2,
            100,
        ];
        let mut seq = 0;
        for round in 0..6 {
            for len in lengths {
                seq += 1;
                let pad = "x".repeat(len.saturating_sub(40) / (round % 3 + 1));
                let line = format!(r#"{{"seq":{seq},"pad":"{pad}"}}"#);
                text.push_str(&line);
                text.push('\n');
                want.push(line);
            }
            if round == 3 {
                text.push('\n');
            }
        }
        text.push_str(r#"{"seq":999999,"torn"#);
        std::fs::write(&path, &text).unwrap();
        let source = own_log(&dir).unwrap().remove(0);
        let (tx, rx) = mpsc::sync_channel(1000);
        let progress = ReadProgress::default();
        assert!(read_segment(
            &source,
            &tx,
            &progress,
            &mut BufferPool::default()
        ));
        drop(tx);
        let (mut got, mut skipped) = (Vec::new(), Vec::new());
        for item in rx {
            match item {
                Item::Batch { batch, own } => {
                    assert!(own);
                    assert!(
                        batch.buf.len() <= BATCH_BYTES.max(2 * 3 * BATCH_BYTES / 2 + READ_BYTES)
                    );
                    got.extend(batch.iter().map(|(seq, line)| (seq, line.into_owned())));
                }
                Item::Skipped(s) => skipped.push(s.line),
                Item::Failed(..) => panic!("read failed"),
            }
        }
        let lines: Vec<&String> = got.iter().map(|(_, l)| l).collect();
        assert_eq!(lines, want.iter().collect::<Vec<_>>());
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, (seq, _))| *seq == i as u64 + 1)
        );
        // The lines, one empty line after round 3, then the torn one.
        assert_eq!(skipped, vec![want.len() as u64 + 2]);
        assert_eq!(progress.bytes(), text.len() as u64);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The start-up reader hands over the lines of the log from the position asked for, split
    /// on its own thread (the router then builds their events without parsing them).
    #[tokio::test]
    async fn reading_ahead_splits_the_lines_from_the_position_asked_for() {
        let dir = std::env::temp_dir().join(format!("cp-ahead-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let line = |seq: u64| {
            format!(
                r#"{{"seq":{seq},"time":1795504071.{seq:06},"node":"n","conn":3,"ip":"","agent":"","auth":{{"providence":"tc","safe_user_id":"tc-testcase-a","sec":"unauthenticated","user_id":"testcase-a"}},"source":"org.mitros.writing_analytics","client":{{"event":"keystroke","n":{seq}}}}}"#
            )
        };
        let text: String = (1..=5).map(|seq| line(seq) + "\n").collect();
        std::fs::write(dir.join(segment::file_name(1)), text).unwrap();
        let (mut rx, reading) = read_ahead(LogReader::open(&dir, 3).unwrap());
        let mut seen = Vec::new();
        while let Some(batch) = rx.recv().await {
            let batch = batch.unwrap();
            for l in &batch.lines {
                assert!(
                    l.prepared.is_some() && l.time.is_some(),
                    "line {} split",
                    l.seq
                );
            }
            seen.extend(batch.iter().map(|(seq, text)| (seq, text.into_owned())));
        }
        reading.join().unwrap();
        assert_eq!(
            seen,
            (3..=5).map(|seq| (seq, line(seq))).collect::<Vec<_>>()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_and_kinds() {
        assert!(is_segment("00000000000000000001.jsonl"));
        assert!(!is_segment("alice.study.jsonl"));
        assert!(is_study_log("alice.study.log"));
        assert!(is_study_log("x.study.log.gz"));
        assert!(!is_study_log("alice.study.jsonl"));
    }
}
