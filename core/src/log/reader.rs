//! Reading a node's log back: for start-up replay (read ahead on a thread of its own by
//! [`crate::replay::sources::read_ahead`]) and the tools that rebuild state from it.
//!
//! Segments are read whole, into reused buffers, and cut into [`DurableBatch`]es of lines — the same type the writer
//! hands the router — so replay runs exactly the code the live path runs. A line that is not a
//! log line (a torn tail, corruption) is reported with its segment and line number and skipped.

use super::buffers::BufferPool;
use super::segment::{self, Segment};
use super::writer::{CommittedLine, DurableBatch};
use bytes::Bytes;
use std::io;
use std::path::{Path, PathBuf};

/// Reading the log failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A segment could not be read.
    #[error("cannot read log segment {path}: {source}")]
    Io {
        /// The segment.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// A line the reader skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    /// The segment.
    pub path: PathBuf,
    /// 1-based line number in the segment.
    pub line: usize,
    /// Why.
    pub reason: &'static str,
}

/// Reads a node's log from a given sequence number on, in batches.
#[derive(Debug)]
pub struct LogReader {
    segments: Vec<Segment>,
    next_segment: usize,
    from_seq: u64,
    batch_lines: usize,
    current: Option<(Bytes, usize, usize, PathBuf)>,
    buffers: BufferPool,
    skipped: Vec<SkippedLine>,
}

impl LogReader {
    /// Opens the log in `dir`, to read lines with `seq >= from_seq`.
    ///
    /// # Errors
    /// When the directory cannot be listed.
    pub fn open(dir: &Path, from_seq: u64) -> Result<Self, ReadError> {
        let mut segments = segment::list(dir).map_err(|source| ReadError::Io {
            path: dir.to_owned(),
            source,
        })?;
        // Skip whole segments that end before `from_seq`.
        let keep_from = segments
            .iter()
            .rposition(|s| s.first_seq <= from_seq)
            .unwrap_or(0);
        segments.drain(..keep_from);
        Ok(LogReader {
            segments,
            next_segment: 0,
            from_seq,
            batch_lines: 65_536,
            current: None,
            buffers: BufferPool::default(),
            skipped: Vec::new(),
        })
    }

    /// Reads single files (e.g. copied segments) instead of a directory.
    pub fn from_files(paths: Vec<PathBuf>) -> Self {
        LogReader {
            segments: paths
                .into_iter()
                .map(|path| Segment { first_seq: 0, path })
                .collect(),
            next_segment: 0,
            from_seq: 0,
            batch_lines: 65_536,
            current: None,
            buffers: BufferPool::default(),
            skipped: Vec::new(),
        }
    }

    /// Lines skipped so far.
    pub fn skipped(&self) -> &[SkippedLine] {
        &self.skipped
    }

    /// The next batch, or `None` at the end of the log.
    ///
    /// # Errors
    /// When a segment cannot be read.
    pub fn next_batch(&mut self) -> Result<Option<DurableBatch>, ReadError> {
        loop {
            if self.current.is_none() {
                let Some(seg) = self.segments.get(self.next_segment) else {
                    return Ok(None);
                };
                self.next_segment += 1;
                let data =
                    read_into(&mut self.buffers, &seg.path).map_err(|source| ReadError::Io {
                        path: seg.path.clone(),
                        source,
                    })?;
                self.current = Some((data, 0, 0, seg.path.clone()));
            }
            let (buf, pos, line_no, path) = self.current.as_mut().expect("set above");
            let mut lines = Vec::new();
            while lines.len() < self.batch_lines && *pos < buf.len() {
                let start = *pos;
                *line_no += 1;
                match memchr::memchr(b'\n', &buf[start..]) {
                    Some(n) => {
                        let end = start + n;
                        *pos = end + 1;
                        match segment::seq_of(&buf[start..end]) {
                            Some(seq) if seq >= self.from_seq => lines.push(CommittedLine {
                                seq,
                                time: None,
                                range: (start, end),
                                body_start: start,
                                prepared: None,
                                body: None,
                            }),
                            Some(_) => {}
                            None => {
                                if end > start {
                                    tracing::warn!(segment = %path.display(), line = *line_no,
                                        "skipping a log line that is not a ClassPulse envelope");
                                    self.skipped.push(SkippedLine {
                                        path: path.clone(),
                                        line: *line_no,
                                        reason: "not a log line",
                                    });
                                }
                            }
                        }
                    }
                    None => {
                        *pos = buf.len();
                        tracing::warn!(segment = %path.display(), line = *line_no,
                            "skipping a torn last line (a crash during a write; never acknowledged)");
                        self.skipped.push(SkippedLine {
                            path: path.clone(),
                            line: *line_no,
                            reason: "torn last line",
                        });
                    }
                }
            }
            let batch = DurableBatch {
                buf: buf.clone(),
                lines,
            };
            if *pos >= buf.len() {
                self.current = None;
            }
            if !batch.is_empty() {
                return Ok(Some(batch));
            }
        }
    }
}

/// Reads a whole segment into a reclaimed buffer when one is free (room to spare, so that the
/// next segment, a little longer, still fits).
fn read_into(buffers: &mut BufferPool, path: &Path) -> io::Result<Bytes> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata().map_or(0, |m| m.len() as usize);
    let mut data = buffers.take(size + size / 8 + 1);
    file.read_to_end(&mut data)?;
    Ok(buffers.freeze(data))
}
