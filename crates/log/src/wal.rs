//! The write-ahead log handle: append, group-commit sync, snapshot installation and purging.
//!
//! Invariants kept here:
//! - Indexes are contiguous: each append is `last_index + 1`, across segments and snapshots.
//! - Appends only fill a memory buffer; `sync` writes the buffer with one positioned write and
//!   one fdatasync. Nothing is durable, and nothing may be acknowledged, before `sync` returns.
//! - A segment is complete and fdatasynced before the next one is created, and a segment file
//!   exists under its final name only once its header and preallocation are durable. So a torn
//!   write can only be at the end of the last segment.
//! - Segments are removed only when a snapshot on disk covers every entry in them.
//! - After a failed write or fdatasync the handle refuses all further work: the kernel may have
//!   dropped the unwritten pages, so only re-reading the disk (a new `open`) is trustworthy.

use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::dir;
use crate::record::{
    RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, encode_record, encode_segment_header,
};
use crate::recovery::{Recovery, recover};
use crate::snapshot::write_snapshot_file;
use crate::{LogError, LogOptions};

/// Above this, the append buffer's memory is given back after a sync.
const KEEP_BUFFER_BYTES: usize = 1 << 20;

/// The write-ahead log of one directory. Owns the directory's lock while it lives.
pub struct Wal {
    dir: PathBuf,
    opts: LogOptions,
    _lock: File,
    /// First indexes of the segment files on disk, oldest first; the last is `active`'s.
    segments: Vec<u64>,
    active: Option<Active>,
    /// Index of the last appended record (buffered or durable), or of the snapshot if the log
    /// holds nothing after it; 0 when empty.
    last_index: u64,
    poisoned: Option<String>,
}

/// The segment being appended to.
struct Active {
    file: File,
    path: PathBuf,
    /// Bytes of the file holding the header and written records.
    written: u64,
    /// Encoded records not yet written.
    pending: Vec<u8>,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("segments", &self.segments.len())
            .field("last_index", &self.last_index)
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
    /// for appending after the last record. Corruption before the tail (a bad record followed by
    /// valid data, a gap in indexes, a bad snapshot that is the only one) is an error naming the
    /// file and the byte offset. Leftover temporary files and segments already covered by a
    /// snapshot are removed.
    pub fn open(dir: &Path, opts: LogOptions) -> Result<(Wal, Recovery), LogError> {
        opts.validate()?;
        dir::create(dir)?;
        let lock = dir::lock(dir)?;
        let listing = dir::list(dir)?;
        for tmp in &listing.temps {
            dir::remove(tmp)?;
        }
        let (resume, recovery) = recover(dir, &opts, &listing)?;
        let active = resume.active.map(|(file, path, written)| Active {
            file,
            path,
            written,
            pending: Vec::new(),
        });
        let wal = Wal {
            dir: dir.to_path_buf(),
            opts,
            _lock: lock,
            segments: resume.segments,
            active,
            last_index: resume.last_index,
            poisoned: None,
        };
        Ok((wal, recovery))
    }

    /// Buffers one record; `index` must be `last_index() + 1`. Not durable until [`Wal::sync`].
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
        let needs_segment = match &self.active {
            None => true,
            Some(a) => {
                let used = a.written + a.pending.len() as u64;
                // validate() guarantees a record always fits in an empty segment.
                used + size > self.opts.segment_bytes && used > SEGMENT_HEADER_BYTES as u64
            }
        };
        if needs_segment {
            let rolled = self.roll(index);
            self.poison_on_err(rolled)?;
        }
        if let Some(a) = &mut self.active {
            encode_record(&mut a.pending, index, payload);
        }
        self.last_index = index;
        Ok(())
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

    /// Index of the last appended record (durable or not), or of the snapshot when nothing
    /// follows it; 0 when the log is empty.
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
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
        self.purge(index, retain)?;
        if index > self.last_index {
            // purge removed every segment: all of them ended at or below `index`.
            self.last_index = index;
        }
        Ok(())
    }

    /// Removes segments wholly at or below `upto_index` and all but the newest
    /// `retain_snapshots` snapshots (at least one is kept). Only what a snapshot on disk covers
    /// is removed: `upto_index` is lowered to the newest snapshot's index, and the segment being
    /// appended to is kept while it has records not yet synced. For use after
    /// [`crate::write_snapshot_file`].
    pub fn purge(&mut self, upto_index: u64, retain_snapshots: usize) -> Result<(), LogError> {
        self.check_poisoned()?;
        let listing = dir::list(&self.dir)?;
        let Some(&newest) = listing.snapshots.last() else {
            return Ok(());
        };
        let upto = upto_index.min(newest);
        let mut removed_segments = 0usize;
        while let Some(&first) = self.segments.first() {
            let covered = match self.segments.get(1) {
                Some(&next) => next <= upto.saturating_add(1),
                None => {
                    self.last_index <= upto
                        && self.active.as_ref().is_none_or(|a| a.pending.is_empty())
                }
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

    /// Finishes the current segment durably and starts a new one whose first record is `first`.
    fn roll(&mut self, first: u64) -> Result<(), LogError> {
        if let Some(a) = &mut self.active {
            a.flush()?;
        }
        self.active = None;
        let (file, path) = create_segment(&self.dir, first, self.opts.segment_bytes)?;
        self.segments.push(first);
        self.active = Some(Active {
            file,
            path,
            written: SEGMENT_HEADER_BYTES as u64,
            pending: Vec::new(),
        });
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

/// Creates a preallocated segment durably: it appears under its final name only complete.
fn create_segment(dir: &Path, first: u64, segment_bytes: u64) -> Result<(File, PathBuf), LogError> {
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
        write_all_at(&file, &encode_segment_header(first), 0)
            .and_then(|()| file.set_len(segment_bytes))
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
