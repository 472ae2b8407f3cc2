//! Snapshot files on disk: `<data_dir>/snapshots/snapshot-<through seq, 20 digits>.json`,
//! written crash-safely (temporary file, fsync, rename, fsync of the directory), so a crash
//! leaves either the old set of snapshots or the new one, never a half-written file under a
//! snapshot's name.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".json";
const TEMP_PREFIX: &str = ".snapshot-";

/// One snapshot file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotFile {
    /// The log sequence number it reflects, from its name.
    pub through_seq: u64,
    /// Its path.
    pub path: PathBuf,
}

/// The snapshot directory of a data directory.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("snapshots")
}

/// The file name of a snapshot through `seq`.
pub fn file_name(seq: u64) -> String {
    format!("{PREFIX}{seq:020}{SUFFIX}")
}

/// The snapshots in `dir`, oldest first (none when the directory is missing).
///
/// # Errors
/// When the directory cannot be read.
pub fn list(dir: &Path) -> io::Result<Vec<SnapshotFile>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = name
            .strip_prefix(PREFIX)
            .and_then(|n| n.strip_suffix(SUFFIX))
            .filter(|n| n.len() == 20)
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push(SnapshotFile {
                through_seq: seq,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|s| s.through_seq);
    Ok(out)
}

/// Writes `bytes` as the snapshot through `seq`, crash-safely; returns its path.
///
/// # Errors
/// When the directory or file cannot be written.
pub fn write(dir: &Path, seq: u64, bytes: &[u8]) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let path = dir.join(file_name(seq));
    let temp = dir.join(format!("{TEMP_PREFIX}{seq:020}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, &path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|()| path)
}

/// Deletes all but the newest `keep` snapshots (at least one is always kept) and temporary
/// files a crash left behind. Returns the snapshots kept, oldest first.
///
/// # Errors
/// When the directory cannot be read.
pub fn prune(dir: &Path, keep: usize) -> io::Result<Vec<SnapshotFile>> {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name
                .to_str()
                .is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(".tmp"))
                && !name
                    .to_str()
                    .is_some_and(|n| n.contains(&format!(".{}.", std::process::id())))
            {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    let mut all = list(dir)?;
    let drop_count = all.len().saturating_sub(keep.max(1));
    for old in all.drain(..drop_count) {
        match fs::remove_file(&old.path) {
            Ok(()) => tracing::info!(snapshot = %old.path.display(), "old snapshot removed"),
            Err(e) => {
                tracing::warn!(snapshot = %old.path.display(), error = %e, "cannot remove an old snapshot")
            }
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_list_prune() {
        let dir =
            std::env::temp_dir().join(format!("cp-snapfiles-{}", crate::datadir::random_hex(6)));
        for seq in [5, 50, 7] {
            write(&dir, seq, format!("{seq}").as_bytes()).unwrap();
        }
        std::fs::write(dir.join(".snapshot-00000000000000000099.1.tmp"), b"torn").unwrap();
        let seqs: Vec<u64> = list(&dir).unwrap().iter().map(|s| s.through_seq).collect();
        assert_eq!(seqs, [5, 7, 50]);
        let kept = prune(&dir, 2).unwrap();
        assert_eq!(
            kept.iter().map(|s| s.through_seq).collect::<Vec<_>>(),
            [7, 50]
        );
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(std::fs::read(&kept[1].path).unwrap(), b"50");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
