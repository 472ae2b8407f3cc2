//! What a replay reads: ClassPulse log segments and Learning Observer study logs, found from
//! the paths given, read on a thread of their own and handed over as [`DurableBatch`]es — the
//! type the log writer hands the router — so reading overlaps reducing.

use super::learning_observer;
use super::prepare::Preparer;
use crate::log::segment;
use crate::log::{CommittedLine, DurableBatch};
use bytes::Bytes;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

/// Lines per batch.
const BATCH_LINES: usize = 65_536;

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
            let mut buffers = Buffers::default();
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

/// Segment buffers handed out earlier, reused once every batch made from them is dropped: a
/// fresh 64 MiB buffer per segment costs the kernel zeroing every page of it (a tenth of a
/// replay's CPU time before this).
#[derive(Default)]
struct Buffers {
    out: Vec<Bytes>,
}

impl Buffers {
    /// Most buffers kept: as many as can be in use at once — the batches in the channel
    /// ([`CHANNEL`]), the one being applied, the one being read.
    const KEEP: usize = 5;

    /// Reads `path` into a reclaimed buffer when one is free, else a new one.
    fn read(&mut self, path: &Path) -> io::Result<Bytes> {
        let mut data = self
            .out
            .iter()
            .position(Bytes::is_unique)
            .and_then(|i| self.out.swap_remove(i).try_into_mut().ok())
            .map(|mut free| {
                free.clear();
                Vec::from(free)
            })
            .unwrap_or_default();
        let mut file = std::fs::File::open(path)?;
        let size = file.metadata().map_or(0, |m| m.len() as usize);
        if data.capacity() <= size {
            // Not `reserve`: growing a reclaimed buffer reallocates it, copying every stale
            // byte (64 MiB) to the new place first. Room to spare, so that the next segment,
            // a little longer than this one, still fits.
            data = Vec::with_capacity(size + size / 8 + 1);
        }
        file.read_to_end(&mut data)?;
        let data = Bytes::from(data);
        if self.out.len() >= Self::KEEP {
            self.out.remove(0);
        }
        self.out.push(data.clone());
        Ok(data)
    }
}

/// Sends a ClassPulse segment in batches; `false` when the consumer is gone.
fn read_segment(
    source: &Source,
    tx: &mpsc::SyncSender<Item>,
    progress: &ReadProgress,
    buffers: &mut Buffers,
) -> bool {
    let data = match buffers.read(&source.path) {
        Ok(d) => d,
        Err(e) => return tx.send(Item::Failed(source.path.clone(), e)).is_ok(),
    };
    let mut pos = 0usize;
    let mut line_no = 0u64;
    let mut lines = Vec::with_capacity(BATCH_LINES);
    let mut reported = 0usize;
    let mut preparer = Preparer::default();
    while pos < data.len() {
        line_no += 1;
        let start = pos;
        let end = match memchr::memchr(b'\n', &data[start..]) {
            Some(n) => start + n,
            None => {
                pos = data.len();
                let skipped = Skipped {
                    path: source.path.clone(),
                    line: line_no,
                    reason:
                        "torn last line (no newline: a crash during a write, never acknowledged)"
                            .into(),
                };
                if tx.send(Item::Skipped(skipped)).is_err() {
                    return false;
                }
                continue;
            }
        };
        pos = end + 1;
        if end == start {
            continue;
        }
        match segment::seq_of(&data[start..end]) {
            Some(seq) => {
                let (time, prepared) = std::str::from_utf8(&data[start..end])
                    .ok()
                    .and_then(|text| preparer.prepare(text))
                    .map_or((None, None), |(t, p)| (Some(t), Some(p)));
                lines.push(CommittedLine {
                    seq,
                    time,
                    range: (start, end),
                    body_start: start,
                    prepared,
                })
            }
            None => {
                let skipped = Skipped {
                    path: source.path.clone(),
                    line: line_no,
                    reason: "not a ClassPulse log line".into(),
                };
                if tx.send(Item::Skipped(skipped)).is_err() {
                    return false;
                }
            }
        }
        if lines.len() == BATCH_LINES {
            progress
                .bytes
                .fetch_add((pos - reported) as u64, Ordering::Relaxed);
            reported = pos;
            let batch = DurableBatch {
                buf: data.clone(),
                lines: std::mem::replace(&mut lines, Vec::with_capacity(BATCH_LINES)),
            };
            if tx
                .send(Item::Batch {
                    batch,
                    own: source.own,
                })
                .is_err()
            {
                return false;
            }
        }
    }
    progress
        .bytes
        .fetch_add((data.len() - reported) as u64, Ordering::Relaxed);
    lines.is_empty()
        || tx
            .send(Item::Batch {
                batch: DurableBatch { buf: data, lines },
                own: source.own,
            })
            .is_ok()
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

    #[test]
    fn segment_buffers_are_reused_once_free() {
        let dir = std::env::temp_dir().join(format!("cp-buffers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, vec![b'a'; 100_000]).unwrap();
        std::fs::write(&b, b"bb").unwrap();
        let mut buffers = Buffers::default();
        let first = buffers.read(&a).unwrap();
        let at = first.as_ptr();
        let held = buffers.read(&b).unwrap();
        assert_ne!(held.as_ptr(), at, "a buffer still in use is not reused");
        drop(first);
        let again = buffers.read(&b).unwrap();
        assert_eq!((again.as_ptr(), &again[..]), (at, &b"bb"[..]));
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
