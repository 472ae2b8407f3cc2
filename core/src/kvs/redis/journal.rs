//! The order journal: where one node's updates of a key followed another node's.
//!
//! Each node logs only what it accepted, and several nodes may update the same key (a student
//! whose sockets land on two nodes). A key's revision orders its updates, and within one node the
//! log's sequence numbers already do; so what a replay of several logs needs is the hand-over
//! points: "node A applied its events on this key after its seq `after_own`, on top of a state
//! that reflected node B up to seq 17". The Redis KVS writes one such line whenever it stores a
//! key whose previous writer was another node (with sticky routing: rarely), to
//! `<data_dir>/order/<node>.jsonl`:
//!
//! ```text
//! {"key":"test.count/student:s1","rev":42,"node":"a","after_own":118,"after":[["b",17]]}
//! ```
//!
//! With the journals of all nodes ([`read_dir`]), a replay of several nodes' logs can apply each
//! key's events in their original order: a node's events on a key after `after_own` wait until
//! the other nodes' events up to `after` are applied (see `ARCHITECTURE.md`, "Scaling out"). The
//! journal is written after the store and not synced: a crash can lose its last lines, and then
//! only the order of those hand-overs is unknown; no event is lost, since the logs hold all.

use crate::kvs::Applied;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// One hand-over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    /// The state key, `<reducer>/<scope>`.
    pub key: String,
    /// The revision this update stored.
    pub rev: u64,
    /// The node that stored it.
    pub node: String,
    /// That node's events on this key after this seq came after `after`.
    pub after_own: u64,
    /// The other nodes' positions the state reflected when this node took over.
    pub after: Vec<(String, u64)>,
}

impl Handover {
    /// The hand-over for a store by `node` of a state that reflected `loaded`.
    pub fn new(key: String, rev: u64, node: &str, loaded: &Applied) -> Self {
        Handover {
            key,
            rev,
            node: node.to_owned(),
            after_own: loaded.of(node),
            after: loaded
                .iter()
                .filter(|(n, _)| *n != node)
                .map(|(n, s)| (n.to_owned(), s))
                .collect(),
        }
    }
}

/// Appends hand-overs to a node's journal file.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    out: BufWriter<File>,
    failed: bool,
}

impl Journal {
    /// Opens (creating) `<dir>/<node>.jsonl`.
    pub(crate) fn open(dir: &Path, node: &str) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{node}.jsonl"));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Journal {
            path,
            out: BufWriter::new(file),
            failed: false,
        })
    }

    /// Appends one hand-over (buffered; see [`Journal::flush`]).
    pub(crate) fn record(&mut self, handover: &Handover) {
        let result = serde_json::to_writer(&mut self.out, handover)
            .map_err(io::Error::other)
            .and_then(|()| self.out.write_all(b"\n"));
        self.check(result);
    }

    /// Writes buffered lines to the file.
    pub(crate) fn flush(&mut self) {
        let result = self.out.flush();
        self.check(result);
    }

    fn check(&mut self, result: io::Result<()>) {
        match result {
            Err(e) if !self.failed => {
                self.failed = true;
                tracing::error!(path = %self.path.display(), error = %e,
                    "cannot write the order journal; a merged replay of several nodes' logs will order these keys by time");
            }
            Ok(()) if self.failed => {
                self.failed = false;
                tracing::info!(path = %self.path.display(), "order journal writable again");
            }
            _ => {}
        }
    }
}

/// Reads every hand-over in `dir` (all nodes' journals copied side by side).
///
/// # Errors
/// When the directory or a file cannot be read.
pub fn read_dir(dir: &Path) -> io::Result<Vec<Handover>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            for line in std::fs::read_to_string(&path)?.lines() {
                // A torn last line (crash) is skipped: only that hand-over's order is lost.
                if let Ok(h) = serde_json::from_str(line) {
                    out.push(h);
                }
            }
        }
    }
    Ok(out)
}
