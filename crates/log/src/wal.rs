//! The write-ahead log handle: append, group-commit sync, truncation of the tail, committed
//! records, the state file, snapshot installation and purging.
//!
//! Invariants kept here:
//! - Entry indexes are contiguous: each append is `last_index + 1`, across segments, snapshots
//!   and truncations (after `truncate_after(i)` the next is `i + 1`).
//! - Appends only fill a memory buffer; `sync` writes the buffer with one positioned write and
//!   one fdatasync. Nothing is durable, and nothing may be acknowledged, before `sync` returns.
//! - Records are only ever appended. A truncation is itself an appended record, never a rewrite
//!   or zeroing of old ones, so a crash cannot leave half of an old entry under a new one.
//! - A segment is complete and fdatasynced before the next one is created, and a segment file
//!   exists under its final name only once its header, its first records and its preallocation
//!   are durable. So a torn write can only be at the end of the last segment.
//! - Every entry that survives in a segment is below the next segment's first index, so a
//!   segment's name never collides with another's and a segment is wholly covered by a snapshot
//!   exactly when the next one starts at or below the snapshot's index + 1.
//! - Appends leave room for one truncation record in their segment, so a truncation into it
//!   normally appends there. A segment holding no entry yet also keeps room for a largest
//!   entry, so an entry never needs a new segment named like the one it would leave.
//! - Segments are removed only when a snapshot on disk covers every entry in them, or when a
//!   truncation removes every entry in them.
//! - After a failed write or fdatasync the handle refuses all further work: the kernel may have
//!   dropped the unwritten pages, so only re-reading the disk (a new `open`) is trustworthy.

use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::dir;
use crate::record::{
    Format, Kind, MAX_COMMITTED_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, encode_record,
    encode_segment_header,
};
use crate::recovery::{Recovery, Reopened, open_active, read_and_scan, recover};
use crate::snapshot::write_snapshot_file;
use crate::state::write_state;
use crate::{LogError, LogOptions};

/// Above this, the append buffer's memory is given back after a sync.
const KEEP_BUFFER_BYTES: usize = 1 << 20;

/// The write-ahead log of one directory. Owns the directory's lock while it lives.
pub struct Wal {
    dir: PathBuf,
    opts: LogOptions,
    _lock: File,
    /// First indexes of the segment files on disk, oldest first; the last is `active`'s when
    /// there is an active segment.
    segments: Vec<u64>,
    /// The segment appended to. None when there are no segments, or when the last one is a
    /// version-1 segment (the next record starts a new one).
    active: Option<Active>,
    /// Index of the last appended entry (buffered or durable), or of the snapshot if the log
    /// holds nothing after it; 0 when empty.
    last_index: u64,
    /// Index of the newest snapshot this handle knows is on disk (recovered from, installed, or
    /// seen by `purge`). What it holds is committed, so no truncation goes below it.
    snapshot_index: u64,
    /// The newest committed record appended or recovered. Each new segment starts with a copy,
    /// so purging old segments does not lose it.
    committed: Option<(u64, Vec<u8>)>,
    poisoned: Option<String>,
}

/// The segment being appended to.
struct Active {
    file: File,
    path: PathBuf,
    /// The first index its name declares.
    first: u64,
    /// Bytes of the file holding the header and written records.
    written: u64,
    /// Encoded records not yet written.
    pending: Vec<u8>,
    /// Whether its first record truncates the previous segment's tail; a replacement of the
    /// file must repeat it.
    leading_truncate: bool,
}

impl Active {
    /// Bytes the segment will hold once the buffer is written.
    fn used(&self) -> u64 {
        self.written + self.pending.len() as u64
    }
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("segments", &self.segments.len())
            .field("last_index", &self.last_index)
            .field("snapshot_index", &self.snapshot_index)
            .field("committed_index", &self.committed.as_ref().map(|c| c.0))
            .field(
                "pending_bytes",
                &self.active.as_ref().map_or(0, |a| a.pending.len()),
            )
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl Wal {
    /// Opens (creating the directory if missing), recovers, truncates a torn tail, and positions
    /// for appending after the last entry. Corruption before the tail (a bad record followed by
    /// valid data, a gap in indexes, a bad snapshot that is the only one, a damaged state file)
    /// is an error naming the file and the byte offset. Leftover temporary files and segments
    /// already covered by a snapshot are removed.
    pub fn open(dir: &Path, opts: LogOptions) -> Result<(Wal, Recovery), LogError> {
        opts.validate()?;
        dir::create(dir)?;
        let lock = dir::lock(dir)?;
        let listing = dir::list(dir)?;
        for tmp in &listing.temps {
            dir::remove(tmp)?;
        }
        let (resume, recovery) = recover(dir, &opts, &listing)?;
        let active = resume.active.map(|a| Active {
            file: a.file,
            path: a.path,
            first: a.first,
            written: a.written,
            pending: Vec::new(),
            leading_truncate: a.leading_truncate,
        });
        let wal = Wal {
            dir: dir.to_path_buf(),
            opts,
            _lock: lock,
            segments: resume.segments,
            active,
            last_index: resume.last_index,
            snapshot_index: resume.snapshot_index,
            committed: recovery.committed.clone(),
            poisoned: None,
        };
        Ok((wal, recovery))
    }

    /// Buffers one entry; `index` must be `last_index() + 1`. Not durable until [`Wal::sync`].
    pub fn append(&mut self, index: u64, payload: &[u8]) -> Result<(), LogError> {
        self.check_poisoned()?;
        if payload.len() > self.opts.max_record_bytes {
            return Err(LogError::RecordTooLarge {
                index,
                len: payload.len(),
                max: self.opts.max_record_bytes,
            });
        }
        if index != self.last_index.wrapping_add(1) || index == 0 {
            return Err(LogError::OutOfOrder {
                last: self.last_index,
                got: index,
            });
        }
        let size = (RECORD_HEADER_BYTES + payload.len()) as u64;
        // Room for one truncation record stays free, so that truncating into this segment
        // later can append to it rather than start a segment of its own.
        let needs_segment = self
            .active
            .as_ref()
            .is_none_or(|a| a.used() + size + RECORD_HEADER_BYTES as u64 > self.opts.segment_bytes);
        if needs_segment {
            let rolled = self.roll(index, false);
            self.poison_on_err(rolled)?;
        }
        if let Some(a) = &mut self.active {
            encode_record(&mut a.pending, Kind::Entry, index, payload);
        }
        self.last_index = index;
        Ok(())
    }

    /// Buffers a committed record: the caller's committed log position, `index` with an opaque
    /// `payload` of at most [`crate::MAX_COMMITTED_BYTES`]. It rides the next [`Wal::sync`] (it
    /// has no fsync of its own) and comes back as [`Recovery::committed`], which may be older
    /// than the newest one saved (see there). It does not change `last_index`.
    pub fn append_committed(&mut self, index: u64, payload: &[u8]) -> Result<(), LogError> {
        self.check_poisoned()?;
        if payload.len() > MAX_COMMITTED_BYTES {
            return Err(LogError::CommittedTooLarge {
                index,
                len: payload.len(),
                max: MAX_COMMITTED_BYTES,
            });
        }
        self.committed = Some((index, payload.to_vec()));
        let size = (RECORD_HEADER_BYTES + payload.len()) as u64;
        let next = self.last_index.saturating_add(1);
        let fits = self.active.as_ref().is_some_and(|a| {
            // Room for a truncation record stays free, as for entries; a segment that holds no
            // entry yet (it is named after the next one) also keeps room for a largest entry:
            // see roll.
            let mut reserve = RECORD_HEADER_BYTES;
            if a.first == next {
                reserve += RECORD_HEADER_BYTES + self.opts.max_record_bytes;
            }
            a.used() + size + reserve as u64 <= self.opts.segment_bytes
        });
        if fits {
            if let Some(a) = &mut self.active {
                encode_record(&mut a.pending, Kind::Committed, index, payload);
            }
            Ok(())
        } else {
            // The new segment starts with a copy of the record just saved.
            let rolled = self.roll(next, false);
            self.poison_on_err(rolled)
        }
    }

    /// Removes every entry above `index` (a conflicting, uncommitted tail), by appending a
    /// truncation record: old records are never rewritten. The truncation is durable at the
    /// next [`Wal::sync`]; from now on `last_index()` is `index` and the next append is
    /// `index + 1`. A no-op when `index >= last_index()`. Refused below the newest snapshot
    /// this handle knows of: what a snapshot holds is committed.
    ///
    /// When `index` is below the active segment, the segments whose first index is above
    /// `index` are deleted first, newest first, and the directory fsynced; a crash part-way
    /// leaves a prefix of the old log, a valid older state since everything removed is above
    /// `index`. The truncation record then goes into the segment holding `index`, reopened for
    /// appending (appends keep room for it); or, if that one cannot take it (a version-1
    /// segment, or one whose spare room an earlier truncation used), into a new segment named
    /// `index + 1`, created durably with the record as its first (replacing an old segment of
    /// that name by rename). In that last case a crash between the deletions
    /// and the new segment can bring back entries of the old segment that an earlier truncation
    /// had removed: also an older state of the log, with every entry up to `index` unchanged.
    pub fn truncate_after(&mut self, index: u64) -> Result<(), LogError> {
        self.check_poisoned()?;
        if index < self.snapshot_index {
            return Err(LogError::TruncateBelowSnapshot {
                index,
                snapshot: self.snapshot_index,
            });
        }
        if index >= self.last_index {
            return Ok(());
        }
        let truncated = self.truncate_segments(index);
        self.poison_on_err(truncated)
    }

    /// Writes what is buffered and fdatasyncs: one positioned write and one fdatasync for the
    /// whole batch. Every record appended before this returns `Ok` is durable. (Records can
    /// reach the disk earlier, when a full segment is written out, but only this promises it.)
    pub fn sync(&mut self) -> Result<(), LogError> {
        self.check_poisoned()?;
        let flushed = match &mut self.active {
            Some(a) => a.flush(),
            None => Ok(()),
        };
        self.poison_on_err(flushed)
    }

    /// Index of the last appended entry (durable or not), or of the snapshot when nothing
    /// follows it; 0 when the log is empty.
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replaces the state file (the caller's Raft vote and last purged log id, at most
    /// [`crate::MAX_STATE_BYTES`]) atomically and durably: temp file, fsync, rename, fsync the
    /// directory. When this returns `Ok` the new state survives a crash; until then the old
    /// one does. It comes back as [`Recovery::state`]. An I/O failure poisons the handle, as a
    /// failed fdatasync of the log does: whether the new state is on disk is unknown, so the
    /// caller must not act on it (say, grant a vote) and must reopen.
    pub fn save_state(&mut self, bytes: &[u8]) -> Result<(), LogError> {
        self.check_poisoned()?;
        match write_state(&self.dir, bytes) {
            Err(e @ LogError::StateTooLarge { .. }) => Err(e),
            written => self.poison_on_err(written),
        }
    }

    /// Writes a snapshot taken at `index` (temp file, fsync, rename, fsync the directory), then
    /// removes segments wholly at or below `index` and keeps at most `retain` snapshots (at
    /// least one). Buffered records are synced first. If `index` is past the end of the log (a
    /// snapshot received from elsewhere), the whole log is dropped and the next append must be
    /// `index + 1`.
    pub fn install_snapshot(
        &mut self,
        index: u64,
        payload: &[u8],
        retain: usize,
    ) -> Result<(), LogError> {
        self.sync()?;
        write_snapshot_file(&self.dir, index, payload)?;
        // Past the end of the log, purge removes every segment and moves last_index to index.
        self.purge(index, retain)
    }

    /// Removes segments wholly at or below `upto_index` and all but the newest
    /// `retain_snapshots` snapshots (at least one is kept). Only what a snapshot on disk covers
    /// is removed: `upto_index` is lowered to the newest snapshot's index. If that covers the
    /// whole log (`upto >= last_index()`, a follower given a snapshot ahead of its log), every
    /// segment goes, buffered records with them, and the next append must be `upto + 1`. For
    /// use after [`crate::write_snapshot_file`].
    pub fn purge(&mut self, upto_index: u64, retain_snapshots: usize) -> Result<(), LogError> {
        self.check_poisoned()?;
        let listing = dir::list(&self.dir)?;
        let Some(&newest) = listing.snapshots.last() else {
            return Ok(());
        };
        self.snapshot_index = self.snapshot_index.max(newest);
        let upto = upto_index.min(newest);
        let mut removed_segments = 0usize;
        while let Some(&first) = self.segments.first() {
            let covered = match self.segments.get(1) {
                Some(&next) => next <= upto.saturating_add(1),
                // Buffered records of the last segment are at or below last_index, so the
                // snapshot, already durable, holds them too: dropping them loses nothing.
                None => self.last_index <= upto,
            };
            if !covered {
                break;
            }
            if self.segments.len() == 1 {
                self.active = None;
            }
            // Oldest first, so a crash part-way leaves an unbroken suffix of the log.
            dir::remove(&self.dir.join(dir::segment_name(first)))?;
            self.segments.remove(0);
            removed_segments += 1;
        }
        if self.segments.is_empty() && self.last_index < upto {
            self.last_index = upto;
        }
        let keep = retain_snapshots.max(1);
        let old_snapshots = listing.snapshots.len().saturating_sub(keep);
        for &index in &listing.snapshots[..old_snapshots] {
            dir::remove(&self.dir.join(dir::snapshot_name(index)))?;
        }
        if removed_segments + old_snapshots > 0 {
            dir::sync_dir(&self.dir)?;
            tracing::info!(
                dir = %self.dir.display(),
                upto,
                segments = removed_segments,
                snapshots = old_snapshots,
                "purged log files covered by a snapshot"
            );
        }
        Ok(())
    }

    fn check_poisoned(&self) -> Result<(), LogError> {
        match &self.poisoned {
            Some(why) => Err(LogError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    fn poison_on_err<T>(&mut self, r: Result<T, LogError>) -> Result<T, LogError> {
        if let Err(e) = &r {
            self.poisoned = Some(e.to_string());
        }
        r
    }

    /// Finishes the current segment durably and starts a new one named `first`, beginning with
    /// a truncation to `first - 1` if `leading_truncate` and with a copy of the newest
    /// committed record.
    ///
    /// If the active segment is already named `first`, it holds no entry: only, perhaps, a
    /// leading truncation and committed records. It is then replaced, by rename, with a file
    /// holding the same truncation and the newest committed record, which is all that mattered
    /// in it; a crash leaves the old file or the new one, each a valid state.
    fn roll(&mut self, first: u64, leading_truncate: bool) -> Result<(), LogError> {
        let replacing = self.active.as_ref().is_some_and(|a| a.first == first);
        let leading_truncate = leading_truncate
            || (replacing && self.active.as_ref().is_some_and(|a| a.leading_truncate));
        if !replacing && let Some(a) = &mut self.active {
            a.flush()?;
        }
        self.active = None;
        let mut initial = Vec::new();
        if leading_truncate {
            encode_record(&mut initial, Kind::Truncate, first - 1, &[]);
        }
        if let Some((index, payload)) = &self.committed {
            encode_record(&mut initial, Kind::Committed, *index, payload);
        }
        let (file, path) = create_segment(&self.dir, first, self.opts.segment_bytes, &initial)?;
        if self.segments.last() != Some(&first) {
            self.segments.push(first);
        }
        self.active = Some(Active {
            file,
            path,
            first,
            written: (SEGMENT_HEADER_BYTES + initial.len()) as u64,
            pending: Vec::new(),
            leading_truncate,
        });
        Ok(())
    }

    /// The work of `truncate_after`, for `snapshot_index <= index < last_index`.
    fn truncate_segments(&mut self, index: u64) -> Result<(), LogError> {
        let record = RECORD_HEADER_BYTES as u64;
        // Segments from `keep` on start above `index`: every entry in them goes.
        let keep = self.segments.partition_point(|&first| first <= index);
        let crosses = keep < self.segments.len();
        // The segment holding `index` (none if the log keeps nothing), its last entry after
        // its own records, whether a truncation record fits in it, and, if it must be reopened,
        // where appending resumes in it.
        let mut reopen = None;
        let (target_last, room) = if !crosses {
            match &self.active {
                Some(a) => (
                    self.last_index,
                    a.used() + record <= self.opts.segment_bytes,
                ),
                // The last segment is a version-1 one: nothing can be appended to it.
                None => (self.last_index, false),
            }
        } else if let Some(&first) = keep.checked_sub(1).and_then(|k| self.segments.get(k)) {
            // Read before anything is deleted. It was fdatasynced before its successor was
            // created, so any damage in it is corruption, not a torn tail.
            let Reopened { scan, .. } = read_and_scan(&self.dir, first, &self.opts, false)?;
            if scan.last < index {
                return Err(LogError::CorruptSegment {
                    file: self.dir.join(dir::segment_name(first)),
                    offset: scan.end as u64,
                    reason: format!(
                        "the segment ends at entry {}, but the next one starts at {}, above \
                         entry {index} that should be here",
                        scan.last,
                        self.segments.get(keep).copied().unwrap_or(0)
                    ),
                });
            }
            let room =
                scan.format == Format::V2 && scan.end as u64 + record <= self.opts.segment_bytes;
            if scan.format == Format::V2 {
                reopen = Some((first, scan.end as u64, scan.leading_truncate(first)));
            }
            (scan.last, room)
        } else {
            // Every segment starts above `index`, which is then the snapshot's: nothing stays.
            (index, false)
        };
        let needs_record = target_last > index;
        let fallback = needs_record && !room;
        if crosses {
            // The active segment is among those removed; its buffered records are all above
            // `index`, apart from committed records, whose newest the next segment copies.
            self.active = None;
            let old = self.segments.split_off(keep);
            for &first in old.iter().rev() {
                // Replaced by rename below instead, so that no moment lacks it.
                if fallback && first == index + 1 {
                    continue;
                }
                dir::remove(&self.dir.join(dir::segment_name(first)))?;
            }
            dir::sync_dir(&self.dir)?;
            tracing::info!(
                dir = %self.dir.display(),
                after = index,
                segments = old.len(),
                "removed log segments holding only truncated entries"
            );
            if !fallback && let Some((first, written, leading_truncate)) = reopen {
                let path = self.dir.join(dir::segment_name(first));
                self.active = Some(Active {
                    file: open_active(&path, self.opts.segment_bytes)?,
                    path,
                    first,
                    written,
                    pending: Vec::new(),
                    leading_truncate,
                });
            }
        }
        if fallback {
            self.roll(index + 1, true)?;
        } else if needs_record && let Some(a) = &mut self.active {
            encode_record(&mut a.pending, Kind::Truncate, index, &[]);
        }
        self.last_index = index;
        Ok(())
    }
}

impl Active {
    fn flush(&mut self) -> Result<(), LogError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        write_all_at(&self.file, &self.pending, self.written)
            .map_err(|e| LogError::io("write", &self.path, e))?;
        self.file
            .sync_data()
            .map_err(|e| LogError::io("fdatasync", &self.path, e))?;
        self.written += self.pending.len() as u64;
        self.pending.clear();
        if self.pending.capacity() > KEEP_BUFFER_BYTES {
            self.pending.shrink_to(KEEP_BUFFER_BYTES);
        }
        Ok(())
    }
}

/// Creates a preallocated segment durably, holding `initial` records after its header: it
/// appears under its final name only complete, replacing any file of that name.
fn create_segment(
    dir: &Path,
    first: u64,
    segment_bytes: u64,
    initial: &[u8],
) -> Result<(File, PathBuf), LogError> {
    let name = dir::segment_name(first);
    let path = dir.join(&name);
    let tmp = dir.join(dir::tmp_name(&name));
    let made = (|| {
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| LogError::io("create segment", &tmp, e))?;
        let mut start = encode_segment_header(first).to_vec();
        start.extend_from_slice(initial);
        write_all_at(&file, &start, 0)
            .and_then(|()| file.set_len(segment_bytes.max(start.len() as u64)))
            .map_err(|e| LogError::io("preallocate segment", &tmp, e))?;
        file.sync_all()
            .map_err(|e| LogError::io("fsync segment", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| LogError::io("rename segment into place", &tmp, e))?;
        Ok(file)
    })();
    match made {
        Ok(file) => {
            dir::sync_dir(dir)?;
            Ok((file, path))
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(unix)]
fn write_all_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(buf, offset)
}

#[cfg(not(unix))]
fn write_all_at(mut file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(buf)
}

#[cfg(test)]
#[path = "wal_tests.rs"]
mod tests;
