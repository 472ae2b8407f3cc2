//! Log retention: segments that are old enough and whose every event a snapshot reflects are
//! deleted, or moved to an archive directory.
//!
//! A segment holds the events from its first sequence number up to the next segment's first
//! minus one; it may go only when that last event is at or below `covered_through` — the
//! through-seq of the *oldest* snapshot kept, so that whichever kept snapshot start-up falls
//! back to still finds its tail in the log. The newest segment (the one being written) never
//! goes, so the log always knows its next sequence number.

use crate::log::segment;
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// What a retention pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionReport {
    /// Segments deleted.
    pub deleted: usize,
    /// Segments moved to the archive directory.
    pub archived: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Deletes or archives the segments of `log_dir` older than `max_age` whose events are all at
/// or below `covered_through`.
///
/// # Errors
/// When the log directory cannot be listed; a segment that cannot be moved is reported and
/// left in place.
pub fn apply(
    log_dir: &Path,
    covered_through: u64,
    max_age: Duration,
    archive: Option<&Path>,
) -> io::Result<RetentionReport> {
    let segments = segment::list(log_dir)?;
    let now = SystemTime::now();
    let mut report = RetentionReport::default();
    for pair in segments.windows(2) {
        let (seg, next) = (&pair[0], &pair[1]);
        let last_seq = next.first_seq.saturating_sub(1);
        if last_seq > covered_through {
            break;
        }
        let meta = match fs::metadata(&seg.path) {
            Ok(m) => m,
            Err(_) => continue,
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if age < max_age {
            continue;
        }
        let result = match archive {
            Some(dir) => move_to(&seg.path, dir),
            None => fs::remove_file(&seg.path),
        };
        match result {
            Ok(()) => {
                report.bytes += meta.len();
                if archive.is_some() {
                    report.archived += 1;
                } else {
                    report.deleted += 1;
                }
                tracing::info!(
                    segment = %seg.path.display(),
                    last_seq,
                    archived = archive.is_some(),
                    "log segment past retention, covered by a snapshot"
                );
            }
            Err(e) => {
                tracing::warn!(segment = %seg.path.display(), error = %e, "cannot remove an old log segment; it stays");
            }
        }
    }
    if report.deleted + report.archived > 0 {
        segment::sync_dir(log_dir)?;
    }
    Ok(report)
}

/// Moves a file into `dir`: a rename when on one file system, else a synced copy then a
/// removal.
fn move_to(path: &Path, dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let target = dir.join(path.file_name().unwrap_or_default());
    if fs::rename(path, &target).is_ok() {
        return segment::sync_dir(dir);
    }
    let temp = target.with_extension("jsonl.part");
    fs::copy(path, &temp)?;
    fs::File::open(&temp)?.sync_all()?;
    fs::rename(&temp, &target)?;
    segment::sync_dir(dir)?;
    fs::remove_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_covered_and_old_segments_go() {
        let base =
            std::env::temp_dir().join(format!("cp-retention-{}", crate::datadir::random_hex(6)));
        let log = base.join("log");
        fs::create_dir_all(&log).unwrap();
        for first in [1u64, 11, 21, 31] {
            fs::write(log.join(segment::file_name(first)), b"x\n").unwrap();
        }
        // Covered through 20: segments 1-10 and 11-20 may go; 21-30 may not.
        let report = apply(&log, 20, Duration::ZERO, Some(&base.join("archive"))).unwrap();
        assert_eq!(report.archived, 2);
        let left: Vec<u64> = segment::list(&log)
            .unwrap()
            .iter()
            .map(|s| s.first_seq)
            .collect();
        assert_eq!(left, [21, 31]);
        assert_eq!(segment::list(&base.join("archive")).unwrap().len(), 2);
        // Covered through everything, but too young: nothing goes. The newest never goes.
        let report = apply(&log, 1000, Duration::from_secs(3600), None).unwrap();
        assert_eq!(report, RetentionReport::default());
        let report = apply(&log, 1000, Duration::ZERO, None).unwrap();
        assert_eq!(report.deleted, 1);
        assert_eq!(segment::list(&log).unwrap().len(), 1);
        fs::remove_dir_all(&base).unwrap();
    }
}
