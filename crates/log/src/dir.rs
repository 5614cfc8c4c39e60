//! The log directory: file names, listing, the exclusive lock, and durable directory changes.
//!
//! Files: `log-<first index:020>.wal` segments, `snapshot-<index:020>.snap` snapshots, the
//! `raft-state` file, `LOCK`, and `*.tmp` files that exist only while a segment, snapshot or
//! state file is being written (a file under its final name is always complete and fsynced).
//! Other files are left alone.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};

use crate::LogError;

const SEGMENT_PREFIX: &str = "log-";
const SEGMENT_SUFFIX: &str = ".wal";
const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".snap";
const TMP_SUFFIX: &str = ".tmp";
const LOCK_FILE: &str = "LOCK";
pub(crate) const STATE_FILE: &str = "raft-state";

pub(crate) fn segment_name(first: u64) -> String {
    format!("{SEGMENT_PREFIX}{first:020}{SEGMENT_SUFFIX}")
}

pub(crate) fn snapshot_name(index: u64) -> String {
    format!("{SNAPSHOT_PREFIX}{index:020}{SNAPSHOT_SUFFIX}")
}

/// A temporary name for a file that becomes `final_name`; unique within the process so that two
/// threads writing the same snapshot do not share a temp file.
pub(crate) fn tmp_name(final_name: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{final_name}.{}-{n}{TMP_SUFFIX}", std::process::id())
}

fn parse_index(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What the directory holds, each list sorted by index.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub segments: Vec<u64>,
    pub snapshots: Vec<u64>,
    pub temps: Vec<PathBuf>,
}

pub(crate) fn list(dir: &Path) -> Result<Listing, LogError> {
    let mut out = Listing::default();
    let entries = fs::read_dir(dir).map_err(|e| LogError::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(i) = parse_index(name, SEGMENT_PREFIX, SEGMENT_SUFFIX) {
            out.segments.push(i);
        } else if let Some(i) = parse_index(name, SNAPSHOT_PREFIX, SNAPSHOT_SUFFIX) {
            out.snapshots.push(i);
        } else if name.ends_with(TMP_SUFFIX)
            && (name.starts_with(SEGMENT_PREFIX)
                || name.starts_with(SNAPSHOT_PREFIX)
                || name.starts_with(STATE_FILE))
        {
            out.temps.push(entry.path());
        }
    }
    out.segments.sort_unstable();
    out.snapshots.sort_unstable();
    Ok(out)
}

/// Makes renames, creations and removals in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| LogError::io("fsync directory", dir, e))
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened for fsync here; renames are durable once their files are.
        let _ = dir;
        Ok(())
    }
}

/// Creates `dir` (and its parents) if missing, making the new entry durable.
pub(crate) fn create(dir: &Path) -> Result<(), LogError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| LogError::io("create directory", dir, e))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Takes the directory's exclusive lock; it is released when the returned file is closed, also
/// when the process dies.
pub(crate) fn lock(dir: &Path) -> Result<File, LogError> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LogError::io("open lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(LogError::Locked {
            dir: dir.to_path_buf(),
            lock_file: path,
        }),
        Err(TryLockError::Error(e)) => Err(LogError::io("lock", path, e)),
    }
}

/// Removes a file, treating "already gone" as done.
pub(crate) fn remove(path: &Path) -> Result<(), LogError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io("remove", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        let d = tempfile::tempdir().unwrap();
        for n in [
            segment_name(1),
            segment_name(u64::MAX),
            snapshot_name(7),
            tmp_name(&snapshot_name(9)),
            tmp_name(STATE_FILE),
            STATE_FILE.into(),
            "log-12.wal".into(),
            "log-0000000000000000000x.wal".into(),
            "notes.txt".into(),
        ] {
            fs::write(d.path().join(n), b"").unwrap();
        }
        let l = list(d.path()).unwrap();
        assert_eq!(l.segments, vec![1, u64::MAX]);
        assert_eq!(l.snapshots, vec![7]);
        assert_eq!(l.temps.len(), 2);
    }

    #[test]
    fn second_lock_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let _held = lock(d.path()).unwrap();
        let err = lock(d.path()).unwrap_err();
        assert!(matches!(err, LogError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("in use by another process"));
    }
}
