//! Reading a log directory back at open: the newest usable snapshot, then every record after it,
//! checking that they form one unbroken sequence, cutting off a torn tail and refusing anything
//! else that is damaged.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::dir::{self, Listing};
use crate::options::MAX_SEGMENT_BYTES;
use crate::segment::{self, Torn};
use crate::snapshot::read_snapshot;
use crate::{LogError, LogOptions};

/// What [`crate::Wal::open`] found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The newest valid snapshot: its index and payload.
    pub snapshot: Option<(u64, Vec<u8>)>,
    /// Every durable record with an index above the snapshot's, in order and contiguous.
    pub entries: Vec<(u64, Vec<u8>)>,
    /// The torn final write that was cut off, if there was one.
    pub repaired_tail: Option<TailRepair>,
}

/// A torn final write found at open and zeroed: the bytes from `offset` on in `file` were never
/// completely written, so no caller can have been told they were durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailRepair {
    pub file: PathBuf,
    pub offset: u64,
    /// How many bytes (from `offset` to the last nonzero byte) were discarded.
    pub bytes: u64,
}

/// Where appending resumes after recovery.
pub(crate) struct Resume {
    /// First indexes of the segment files that remain, oldest first.
    pub segments: Vec<u64>,
    /// The last segment, open for writing, its path, and the offset just after its last record.
    pub active: Option<(File, PathBuf, u64)>,
    pub last_index: u64,
}

pub(crate) fn recover(
    dir: &Path,
    opts: &LogOptions,
    listing: &Listing,
) -> Result<(Resume, Recovery), LogError> {
    let (snapshot, damaged_newer) = newest_snapshot(dir, &listing.snapshots)?;
    let snap_index = snapshot.as_ref().map_or(0, |s| s.0);
    // If the newest snapshot was damaged and the log does not reach back to the older one we
    // fell back to, the damaged snapshot is the real problem: a gap reports that instead.

    // Segments whose successor starts at or below snap_index + 1 hold only entries the
    // snapshot covers (an interrupted purge left them); they are not read.
    let after_snap = snap_index.saturating_add(1);
    let segs = &listing.segments;
    let keep_from = (0..segs.len())
        .find(|&i| segs.get(i + 1).is_none_or(|&next| next > after_snap))
        .unwrap_or(segs.len());
    let (stale, kept) = segs.split_at(keep_from);

    let mut entries = Vec::new();
    let mut repaired_tail = None;
    let mut next: Option<u64> = None;
    let mut resume_at = 0u64;
    if let Some(&first) = kept.first()
        && first > after_snap
    {
        let gap = LogError::Gap {
            file: dir.join(dir::segment_name(first)),
            offset: 0,
            expected: after_snap,
            found: first,
        };
        return Err(damaged_newer.map_or(gap, |(_, e)| e));
    }
    for (k, &first) in kept.iter().enumerate() {
        let path = dir.join(dir::segment_name(first));
        if let Some(expected) = next {
            if first > expected {
                let gap = LogError::Gap {
                    file: path,
                    offset: 0,
                    expected,
                    found: first,
                };
                return Err(damaged_newer.map_or(gap, |(_, e)| e));
            }
            if first < expected {
                return Err(LogError::CorruptSegment {
                    file: path,
                    offset: 0,
                    reason: format!(
                        "the segment starts at entry {first}, but the previous segment already \
                         holds entries up to {}",
                        expected - 1
                    ),
                });
            }
        }
        let buf = read_segment(&path)?;
        let is_last = k + 1 == kept.len();
        let scan = segment::scan(&buf, first, opts.max_record_bytes, is_last).map_err(|d| {
            LogError::CorruptSegment {
                file: path.clone(),
                offset: d.offset as u64,
                reason: d.reason,
            }
        })?;
        for r in &scan.records {
            if r.index > snap_index {
                let payload = &buf[r.payload_start..r.payload_start + r.payload_len];
                entries.push((r.index, payload.to_vec()));
            }
        }
        next = Some(first.saturating_add(scan.records.len() as u64));
        if is_last {
            resume_at = scan.end as u64;
            if let Some(torn) = scan.torn {
                repaired_tail = Some(repair_tail(&path, &torn, opts.segment_bytes)?);
            }
        }
    }

    let log_end = next.map_or(0, |n| n - 1);
    if let Some((index, e)) = damaged_newer
        && index > log_end.max(snap_index)
    {
        // The damaged snapshot held entries that neither the older one nor the log has.
        return Err(e);
    }
    let mut remove: Vec<u64> = stale.to_vec();
    let resume = if log_end < snap_index {
        // The whole log is older than the snapshot (a snapshot installed past the log's end,
        // then a crash before the purge): start a fresh segment after the snapshot.
        remove.extend_from_slice(kept);
        Resume {
            segments: Vec::new(),
            active: None,
            last_index: snap_index,
        }
    } else {
        let active = match kept.last() {
            Some(&first) => {
                let path = dir.join(dir::segment_name(first));
                Some((open_active(&path, opts.segment_bytes)?, path, resume_at))
            }
            None => None,
        };
        Resume {
            segments: kept.to_vec(),
            active,
            last_index: log_end.max(snap_index),
        }
    };
    for first in &remove {
        dir::remove(&dir.join(dir::segment_name(*first)))?;
    }
    if !remove.is_empty() {
        dir::sync_dir(dir)?;
        tracing::info!(
            dir = %dir.display(),
            segments = remove.len(),
            snapshot = snap_index,
            "removed log segments covered by the snapshot"
        );
    }
    Ok((
        resume,
        Recovery {
            snapshot,
            entries,
            repaired_tail,
        },
    ))
}

/// The newest snapshot that passes its checks, and the index and error of the newest damaged
/// one above it if any. Fails if there are snapshots and none is usable.
#[allow(clippy::type_complexity)]
fn newest_snapshot(
    dir: &Path,
    indexes: &[u64],
) -> Result<(Option<(u64, Vec<u8>)>, Option<(u64, LogError)>), LogError> {
    let mut damaged: Option<(u64, LogError)> = None;
    for &index in indexes.iter().rev() {
        match read_snapshot(dir, index) {
            Ok(payload) => {
                if let Some((_, e)) = &damaged {
                    tracing::warn!(error = %e, fallback = index, "newest snapshot is damaged; recovering from an older one");
                }
                return Ok((Some((index, payload)), damaged));
            }
            Err(e @ (LogError::CorruptSnapshot { .. } | LogError::SnapshotTooLarge { .. })) => {
                damaged.get_or_insert((index, e));
            }
            Err(e) => return Err(e),
        }
    }
    match damaged {
        Some((_, e)) => Err(e),
        None => Ok((None, None)),
    }
}

fn read_segment(path: &Path) -> Result<Vec<u8>, LogError> {
    let len = fs::metadata(path)
        .map_err(|e| LogError::io("stat", path, e))?
        .len();
    if len > MAX_SEGMENT_BYTES {
        return Err(LogError::CorruptSegment {
            file: path.to_path_buf(),
            offset: MAX_SEGMENT_BYTES,
            reason: format!(
                "the file is {len} bytes, larger than any segment this build writes ({MAX_SEGMENT_BYTES})"
            ),
        });
    }
    fs::read(path).map_err(|e| LogError::io("read", path, e))
}

/// Zeroes a torn tail durably, so that the next records written there are followed by zeros
/// and the stretch cannot be mistaken for corruption later.
fn repair_tail(path: &Path, torn: &Torn, segment_bytes: u64) -> Result<TailRepair, LogError> {
    let file = File::options()
        .write(true)
        .open(path)
        .map_err(|e| LogError::io("open for repair", path, e))?;
    let old_len = file
        .metadata()
        .map_err(|e| LogError::io("stat", path, e))?
        .len();
    file.set_len(torn.offset as u64)
        .and_then(|()| file.set_len(old_len.max(segment_bytes)))
        .map_err(|e| LogError::io("truncate torn tail of", path, e))?;
    file.sync_all()
        .map_err(|e| LogError::io("fsync", path, e))?;
    let repair = TailRepair {
        file: path.to_path_buf(),
        offset: torn.offset as u64,
        bytes: torn.bytes as u64,
    };
    tracing::warn!(
        file = %path.display(),
        offset = repair.offset,
        bytes = repair.bytes,
        "cut off a torn write at the end of the log (it was never acknowledged)"
    );
    Ok(repair)
}

fn open_active(path: &Path, segment_bytes: u64) -> Result<File, LogError> {
    let file = File::options()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| LogError::io("open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| LogError::io("stat", path, e))?
        .len();
    if len < segment_bytes {
        // Restores the preallocation of a file that was shortened by hand.
        file.set_len(segment_bytes)
            .map_err(|e| LogError::io("extend", path, e))?;
    }
    Ok(file)
}
