//! Segment files: `<dir>/<first seq, 20 digits>.jsonl`, in sequence order.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One segment on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Sequence number of its first line.
    pub first_seq: u64,
    /// Its path.
    pub path: PathBuf,
}

/// The file name of the segment starting at `first_seq`.
pub fn file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.jsonl")
}

/// Lists the segments in `dir`, oldest first. A missing directory has none.
///
/// # Errors
/// When the directory cannot be read.
pub fn list(dir: &Path) -> io::Result<Vec<Segment>> {
    let mut segments = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(segments),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".jsonl") else {
            continue;
        };
        if stem.len() == 20
            && let Ok(first_seq) = stem.parse::<u64>()
        {
            segments.push(Segment {
                first_seq,
                path: entry.path(),
            });
        }
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}

/// What recovering the last segment found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The sequence number of the last whole line (0 when none).
    pub last_seq: u64,
    /// Bytes of a torn last line that were cut off.
    pub torn_bytes: u64,
    /// The segment's length after recovery.
    pub len: u64,
}

/// Cuts a torn last line (bytes after the final newline) off `path`, and finds the sequence
/// number of the last whole line.
///
/// # Errors
/// When the file cannot be read or truncated.
pub fn recover_tail(path: &Path) -> io::Result<Recovered> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    // Read backwards in chunks until we hold the last two newlines.
    let mut tail: Vec<u8> = Vec::new();
    let mut pos = len;
    let chunk = 64 * 1024u64;
    loop {
        let start = pos.saturating_sub(chunk);
        let mut buf = vec![0u8; (pos - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf)?;
        buf.extend_from_slice(&tail);
        tail = buf;
        pos = start;
        let newlines = tail.iter().filter(|&&b| b == b'\n').count();
        if newlines >= 2 || pos == 0 {
            break;
        }
    }
    let end_of_whole = tail.iter().rposition(|&b| b == b'\n').map(|i| i + 1);
    let (keep, torn) = match end_of_whole {
        Some(end) => (pos + end as u64, (tail.len() - end) as u64),
        None => (pos, tail.len() as u64),
    };
    if torn > 0 {
        file.set_len(keep)?;
        file.sync_data()?;
    }
    let mut last_seq = 0;
    if let Some(end) = end_of_whole {
        let body = &tail[..end - 1];
        let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        last_seq = seq_of(&body[start..]).unwrap_or(0);
    }
    Ok(Recovered {
        last_seq,
        torn_bytes: torn,
        len: keep,
    })
}

/// The `seq` of a line, read from its fixed prefix `{"seq":N,`.
pub fn seq_of(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// Opens (creating) a segment for appending.
///
/// # Errors
/// When the file cannot be opened.
pub fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Fsyncs a directory so a new file's entry is durable.
///
/// # Errors
/// When the directory cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn torn_tail_is_cut_and_last_seq_found() {
        let dir = std::env::temp_dir().join(format!("cp-seg-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file_name(1));
        let mut f = File::create(&path).unwrap();
        f.write_all(b"{\"seq\":1,\"x\":1}\n{\"seq\":2,\"x\":2}\n{\"seq\":3,\"x")
            .unwrap();
        drop(f);
        let r = recover_tail(&path).unwrap();
        assert_eq!(r.last_seq, 2);
        assert_eq!(r.torn_bytes, 11);
        assert_eq!(fs::read(&path).unwrap().len() as u64, r.len);
        let again = recover_tail(&path).unwrap();
        assert_eq!(again.torn_bytes, 0);
        assert_eq!(again.last_seq, 2);
        assert_eq!(list(&dir).unwrap().len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
