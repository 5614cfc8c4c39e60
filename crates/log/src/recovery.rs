//! Reading a log directory back at open: the newest usable snapshot, then every record after it
//! in file order, replaying entries and truncations into one unbroken sequence, cutting off a
//! torn tail and refusing anything else that is damaged.
//!
//! Between segments: a segment's first index is one past the last entry of the segment before
//! it (after that segment's own truncations), or lower if and only if the segment begins with a
//! truncation to just below its first index, which removes the previous segment's tail (see
//! `Wal::truncate_after`). So every entry that survives in a segment is below the next
//! segment's first index, which is what the purge rule relies on.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::dir::{self, Listing};
use crate::options::MAX_SEGMENT_BYTES;
use crate::record::{Format, Kind};
use crate::segment::{self, Torn};
use crate::snapshot::read_snapshot;
use crate::state::read_state;
use crate::{LogError, LogOptions};

/// What [`crate::Wal::open`] found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The newest valid snapshot: its index and payload.
    pub snapshot: Option<(u64, Vec<u8>)>,
    /// Every durable entry with an index above the snapshot's that no durable truncation
    /// removed, in order and contiguous.
    pub entries: Vec<(u64, Vec<u8>)>,
    /// The torn final write that was cut off, if there was one.
    pub repaired_tail: Option<TailRepair>,
    /// The last committed record in the log's files (index and payload, as given to
    /// [`crate::Wal::append_committed`]). It can be older than the newest one saved, or
    /// missing, after a crash before a sync, a truncation that removed segments, or a purge.
    pub committed: Option<(u64, Vec<u8>)>,
    /// The contents of the state file (see [`crate::Wal::save_state`]), if there is one.
    pub state: Option<Vec<u8>>,
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

/// The last segment, reopened for appending.
pub(crate) struct ResumeActive {
    pub file: File,
    pub path: PathBuf,
    pub first: u64,
    /// The offset just after its last record.
    pub written: u64,
    /// Whether it begins with a truncation of the previous segment's tail.
    pub leading_truncate: bool,
}

/// Where appending resumes after recovery.
pub(crate) struct Resume {
    /// First indexes of the segment files that remain, oldest first.
    pub segments: Vec<u64>,
    /// The last segment if appending can continue in it: not when it is a version-1 segment,
    /// since one file never mixes record layouts.
    pub active: Option<ResumeActive>,
    pub last_index: u64,
    /// Index of the snapshot recovered from, 0 if none.
    pub snapshot_index: u64,
}

/// The outcome of reading one segment that the caller keeps.
pub(crate) struct Reopened {
    pub scan: segment::Scan,
    pub buf: Vec<u8>,
}

/// Reads and scans the segment starting at `first`. `is_last` allows a torn tail.
pub(crate) fn read_and_scan(
    dir: &Path,
    first: u64,
    opts: &LogOptions,
    is_last: bool,
) -> Result<Reopened, LogError> {
    let path = dir.join(dir::segment_name(first));
    let buf = read_segment(&path)?;
    let scan = segment::scan(&buf, first, opts.max_record_bytes, is_last).map_err(|d| {
        LogError::CorruptSegment {
            file: path.clone(),
            offset: d.offset as u64,
            reason: d.reason,
        }
    })?;
    Ok(Reopened { scan, buf })
}

pub(crate) fn recover(
    dir: &Path,
    opts: &LogOptions,
    listing: &Listing,
) -> Result<(Resume, Recovery), LogError> {
    let state = read_state(dir)?;
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

    let mut entries: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut committed = None;
    let mut repaired_tail = None;
    // The last entry index after the segments read so far.
    let mut last: Option<u64> = None;
    let mut resume: Option<(u64, Format, bool)> = None;
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
        if let Some(expected) = last.map(|l| l.saturating_add(1))
            && first > expected
        {
            let gap = LogError::Gap {
                file: path,
                offset: 0,
                expected,
                found: first,
            };
            return Err(damaged_newer.map_or(gap, |(_, e)| e));
        }
        let is_last = k + 1 == kept.len();
        let Reopened { scan, buf } = read_and_scan(dir, first, opts, is_last)?;
        if let Some(prev_last) = last
            && first <= prev_last
            && !scan.leading_truncate(first)
        {
            return Err(LogError::CorruptSegment {
                file: path,
                offset: 0,
                reason: format!(
                    "the segment starts at entry {first}, but the previous segment already \
                     holds entries up to {prev_last} and this one does not begin by truncating \
                     them"
                ),
            });
        }
        for r in &scan.records {
            let payload = &buf[r.payload_start..r.payload_start + r.payload_len];
            match r.kind {
                Kind::Entry => {
                    if r.index > snap_index {
                        entries.push((r.index, payload.to_vec()));
                    }
                }
                Kind::Truncate => {
                    // Entries are ascending, so the survivors are a prefix.
                    let keep = entries.partition_point(|(i, _)| *i <= r.index);
                    entries.truncate(keep);
                }
                Kind::Committed => committed = Some((r.index, payload.to_vec())),
            }
        }
        last = Some(scan.last);
        if is_last {
            resume = Some((scan.end as u64, scan.format, scan.leading_truncate(first)));
            if let Some(torn) = &scan.torn {
                repaired_tail = Some(repair_tail(&path, torn, opts.segment_bytes)?);
            }
        }
    }

    let log_end = last.unwrap_or(0);
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
            snapshot_index: snap_index,
        }
    } else {
        let active = match (kept.last(), resume) {
            (Some(&first), Some((written, Format::V2, leading_truncate))) => {
                let path = dir.join(dir::segment_name(first));
                Some(ResumeActive {
                    file: open_active(&path, opts.segment_bytes)?,
                    path,
                    first,
                    written,
                    leading_truncate,
                })
            }
            // A version-1 segment is left as it is; the next record starts a new segment.
            _ => None,
        };
        Resume {
            segments: kept.to_vec(),
            active,
            last_index: log_end.max(snap_index),
            snapshot_index: snap_index,
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
            committed,
            state,
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

pub(crate) fn open_active(path: &Path, segment_bytes: u64) -> Result<File, LogError> {
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
