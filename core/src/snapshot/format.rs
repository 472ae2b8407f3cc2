//! The snapshot file format, version 1: JSON lines, readable with `jq`.
//!
//! ```text
//! {"format":"classpulse-snapshot","version":1,"node":"local","through_seq":1200,"created_ms":…,
//!  "reducers":{"writing.reconstruct":1,…},"roster":{…}}               ← header
//! {"r":"writing.reconstruct","k":"student:tc-a|doc_id:d1","v":1,"a":[["local",1187]],"s":{…}}
//! …                                                                     ← one line per state
//! {"end":{"states":5120,"sha256":"…"}}                                  ← trailer
//! ```
//!
//! `through_seq` is a lower bound: every event of the node's log up to it is reflected in every
//! state (each state's own positions `a` may say more, and the tail replay skips what they
//! cover). `reducers` lists the reducers and state versions the states were made by, so a
//! start-up with other reducers knows the snapshot cannot stand in for their history. The
//! trailer's SHA-256 covers every byte before it: a torn or altered file is refused as a whole.

use crate::kvs::{Applied, Slot, StateKey};
use crate::roster::RosterSnapshot;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The `format` of every snapshot header.
pub const FORMAT: &str = "classpulse-snapshot";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

/// The first line of a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// The format version ([`VERSION`]).
    pub version: u32,
    /// The node whose log `through_seq` counts in.
    pub node: String,
    /// Every event of the node's log up to this sequence number is reflected.
    pub through_seq: u64,
    /// When the snapshot was made (Unix milliseconds, wall clock; informative).
    pub created_ms: i64,
    /// Reducer name → state version, of the node that made it.
    pub reducers: BTreeMap<String, u32>,
    /// The roster index at `through_seq`.
    pub roster: RosterSnapshot,
}

/// Why bytes are not a usable snapshot.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The first line is not a snapshot header.
    #[error("not a ClassPulse snapshot: {0}")]
    NotASnapshot(String),
    /// A snapshot of a format version this build does not read.
    #[error("snapshot format version {0} is not supported (this build reads version {VERSION})")]
    UnknownVersion(u32),
    /// The trailer is missing: the file was cut short.
    #[error("the snapshot is truncated (no trailer)")]
    Truncated,
    /// The checksum does not match: the file was altered or damaged.
    #[error("the snapshot's checksum does not match (damaged file)")]
    Checksum,
    /// A line in the middle does not parse.
    #[error("line {line}: {reason}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Trailer {
    end: End,
}

#[derive(Serialize, Deserialize)]
struct End {
    states: u64,
    sha256: String,
}

/// Builds a snapshot in memory.
pub struct Encoder {
    out: Vec<u8>,
    states: u64,
}

impl Encoder {
    /// Starts a snapshot with its header.
    pub fn new(header: &Header) -> Self {
        let mut out = Vec::with_capacity(1 << 20);
        serde_json::to_writer(&mut out, header).expect("a header serializes");
        out.push(b'\n');
        Encoder { out, states: 0 }
    }

    /// Adds one state.
    pub fn push(&mut self, key: &StateKey, slot: &Slot) {
        let out = &mut self.out;
        out.extend_from_slice(b"{\"r\":");
        crate::event::write_json_string(out, &key.reducer);
        out.extend_from_slice(b",\"k\":");
        crate::event::write_json_string(out, key.scope.as_str());
        out.extend_from_slice(b",\"v\":");
        out.extend_from_slice(slot.version.to_string().as_bytes());
        out.extend_from_slice(b",\"a\":");
        serde_json::to_writer(&mut *out, &slot.applied).expect("positions serialize");
        out.extend_from_slice(b",\"s\":");
        out.extend_from_slice(&slot.state.to_json_bytes());
        out.extend_from_slice(b"}\n");
        self.states += 1;
    }

    /// States added so far.
    pub fn states(&self) -> u64 {
        self.states
    }

    /// Appends the trailer and returns the file's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let sha = hex(&Sha256::digest(&self.out));
        let trailer = Trailer {
            end: End {
                states: self.states,
                sha256: sha,
            },
        };
        serde_json::to_writer(&mut self.out, &trailer).expect("a trailer serializes");
        self.out.push(b'\n');
        self.out
    }
}

/// One state line, borrowed from the snapshot's bytes.
#[derive(Debug, Deserialize)]
pub struct StateLine<'a> {
    /// The reducer's name.
    #[serde(borrow, rename = "r")]
    pub reducer: Cow<'a, str>,
    /// The scope key.
    #[serde(borrow, rename = "k")]
    pub scope: Cow<'a, str>,
    /// The reducer's state version.
    #[serde(rename = "v")]
    pub version: u32,
    /// The log positions the state reflects.
    #[serde(rename = "a")]
    pub applied: Applied,
    /// The state, as JSON.
    #[serde(borrow, rename = "s")]
    pub state: &'a RawValue,
}

/// A checked snapshot: its header and its state lines, not yet decoded.
pub struct Decoded<'a> {
    /// The header.
    pub header: Header,
    body: &'a [u8],
    states: u64,
}

/// Checks `bytes` (header, trailer, checksum) and reads the header.
///
/// # Errors
/// [`FormatError`] when the bytes are not a whole snapshot of a version this build reads.
pub fn decode(bytes: &[u8]) -> Result<Decoded<'_>, FormatError> {
    let first_end = memchr::memchr(b'\n', bytes)
        .ok_or_else(|| FormatError::NotASnapshot("no header line".into()))?;
    // Format and version first, so a newer format says so rather than "bad header".
    #[derive(Deserialize)]
    struct Probe {
        format: String,
        version: u32,
    }
    let probe: Probe = serde_json::from_slice(&bytes[..first_end])
        .map_err(|e| FormatError::NotASnapshot(e.to_string()))?;
    if probe.format != FORMAT {
        return Err(FormatError::NotASnapshot(format!(
            "format {:?}",
            probe.format
        )));
    }
    if probe.version != VERSION {
        return Err(FormatError::UnknownVersion(probe.version));
    }
    if bytes.last() != Some(&b'\n') {
        return Err(FormatError::Truncated);
    }
    let without_newline = &bytes[..bytes.len() - 1];
    let trailer_start = memchr::memrchr(b'\n', without_newline).map_or(0, |i| i + 1);
    if trailer_start <= first_end {
        return Err(FormatError::Truncated);
    }
    let trailer: Trailer = serde_json::from_slice(&without_newline[trailer_start..])
        .map_err(|_| FormatError::Truncated)?;
    if hex(&Sha256::digest(&bytes[..trailer_start])) != trailer.end.sha256 {
        return Err(FormatError::Checksum);
    }
    let header: Header =
        serde_json::from_slice(&bytes[..first_end]).map_err(|e| FormatError::BadLine {
            line: 1,
            reason: e.to_string(),
        })?;
    Ok(Decoded {
        header,
        body: &bytes[first_end + 1..trailer_start],
        states: trailer.end.states,
    })
}

impl<'a> Decoded<'a> {
    /// The number of states the trailer announces.
    pub fn states(&self) -> u64 {
        self.states
    }

    /// The state lines, in file order, each with its 1-based line number.
    pub fn lines(&self) -> impl Iterator<Item = (usize, &'a [u8])> + 'a {
        let body = self.body;
        body.split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(|(i, l)| (i + 2, l))
    }

    /// The state lines cut into about `parts` runs of whole lines (for decoding in parallel).
    pub fn chunks(&self, parts: usize) -> Vec<&'a [u8]> {
        let body = self.body;
        let parts = parts.max(1);
        let mut out = Vec::with_capacity(parts);
        let mut start = 0;
        for i in 1..parts {
            let target = body.len() * i / parts;
            if target <= start {
                continue;
            }
            match memchr::memchr(b'\n', &body[target..]) {
                Some(n) => {
                    out.push(&body[start..target + n + 1]);
                    start = target + n + 1;
                }
                None => break,
            }
        }
        if start < body.len() {
            out.push(&body[start..]);
        }
        out
    }
}

/// Parses one state line.
///
/// # Errors
/// When the line is not a state line.
pub fn state_line(line: &[u8]) -> Result<StateLine<'_>, serde_json::Error> {
    serde_json::from_slice(line)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LogPosition;
    use crate::reducer::ScopeKey;
    use std::sync::Arc;

    fn sample() -> Vec<u8> {
        let mut enc = Encoder::new(&Header {
            format: FORMAT.into(),
            version: VERSION,
            node: "n1".into(),
            through_seq: 9,
            created_ms: 1,
            reducers: BTreeMap::from([("t.count".to_owned(), 1)]),
            roster: RosterSnapshot::default(),
        });
        for (student, count) in [("a", 3u64), ("b", 5)] {
            let mut applied = Applied::default();
            applied.advance(LogPosition { node: "n1", seq: 9 });
            enc.push(
                &StateKey {
                    reducer: Arc::from("t.count"),
                    scope: ScopeKey::student(student),
                },
                &Slot {
                    version: 1,
                    applied,
                    revision: 1,
                    state: Box::new(count),
                },
            );
        }
        enc.finish()
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.header.through_seq, 9);
        assert_eq!(decoded.states(), 2);
        let lines: Vec<_> = decoded.lines().collect();
        assert_eq!(lines.len(), 2);
        let first = state_line(lines[0].1).unwrap();
        assert_eq!(first.reducer, "t.count");
        assert_eq!(first.scope, "student:a");
        assert_eq!(first.state.get(), "3");
        assert_eq!(first.applied.of("n1"), 9);
        let chunks = decoded.chunks(4);
        let joined: Vec<u8> = chunks.concat();
        assert_eq!(
            joined
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count(),
            2
        );
    }

    #[test]
    fn damage_is_detected() {
        let bytes = sample();
        // Cut short anywhere: refused.
        for cut in [10, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // One byte changed in a state: the checksum fails.
        let mut altered = bytes.clone();
        let pos = altered.windows(3).position(|w| w == b"\"s\"").unwrap() + 4;
        altered[pos] = b'7';
        assert!(matches!(decode(&altered), Err(FormatError::Checksum)));
        // Another version: named.
        let newer = String::from_utf8(bytes)
            .unwrap()
            .replacen("\"version\":1", "\"version\":2", 1);
        assert!(matches!(
            decode(newer.as_bytes()),
            Err(FormatError::UnknownVersion(2))
        ));
        assert!(matches!(
            decode(b"hello\nworld\n"),
            Err(FormatError::NotASnapshot(_))
        ));
    }
}
