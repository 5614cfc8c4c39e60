//! The one error type of this crate. Every message names the file (and byte offset where there is
//! one) and says what a person can do about it, because these errors end up in an operator's log
//! when a server refuses to start.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while writing, recovering or trimming the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An operating-system call failed on a file or directory.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "fdatasync".
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Another process (or another `Wal` in this one) holds the directory.
    #[error(
        "log directory {} is in use by another process (it holds the lock on {}); stop that \
         process or point this one at a different data directory",
        dir.display(),
        lock_file.display()
    )]
    Locked { dir: PathBuf, lock_file: PathBuf },

    /// The options cannot work together.
    #[error("invalid log options: {0}")]
    InvalidOptions(String),

    /// `append` was given more than `max_record_bytes`.
    #[error(
        "entry {index} is {len} bytes, over the {max}-byte record limit; make the entry smaller \
         or raise LogOptions::max_record_bytes"
    )]
    RecordTooLarge { index: u64, len: usize, max: usize },

    /// `append` was given an index that does not follow the last one.
    #[error(
        "append of entry {got} refused: the log ends at {last}, so the next entry must be {}; \
         this is a bug in the caller",
        last.saturating_add(1)
    )]
    OutOfOrder { last: u64, got: u64 },

    /// `truncate_after` was asked to remove entries that a snapshot already holds.
    #[error(
        "truncation after entry {index} refused: entries up to {snapshot} are in a snapshot, so \
         they are committed and cannot be removed; this is a bug in the caller"
    )]
    TruncateBelowSnapshot { index: u64, snapshot: u64 },

    /// `append_committed` was given more than [`crate::MAX_COMMITTED_BYTES`].
    #[error(
        "committed record for entry {index} is {len} bytes, over the {max}-byte limit; it is \
         meant for a log id, not data"
    )]
    CommittedTooLarge { index: u64, len: usize, max: usize },

    /// `save_state` was given more than [`crate::MAX_STATE_BYTES`].
    #[error(
        "state for {} is {len} bytes, over the {max}-byte limit; it is meant for a vote and a \
         log id, not data",
        file.display()
    )]
    StateTooLarge {
        file: PathBuf,
        len: usize,
        max: usize,
    },

    /// The state file fails its checks. It holds what this server promised (its vote), so it
    /// is neither repaired nor ignored.
    #[error(
        "corrupt state file {} at byte offset {offset}: {reason}. It holds this server's vote; \
         deleting it could let the server vote twice in one term. Restore the data directory \
         from a backup, or remove this server from the cluster and add it back as a new member",
        file.display()
    )]
    CorruptState {
        file: PathBuf,
        offset: u64,
        reason: String,
    },

    /// A snapshot payload over [`crate::MAX_SNAPSHOT_BYTES`], when writing or when reading.
    #[error(
        "snapshot {} is {len} bytes, over the {max}-byte limit of this build; the data tree is \
         too large to snapshot",
        file.display()
    )]
    SnapshotTooLarge { file: PathBuf, len: u64, max: u64 },

    /// Damage in a segment that is not a torn tail: acknowledged entries could be lost if it
    /// were repaired automatically.
    #[error(
        "corrupt write-ahead log {} at byte offset {offset}: {reason}. Refusing to open so that \
         acknowledged writes are not silently dropped. Restore the data directory from a backup \
         or a replica; or, accepting the loss of every entry from this point on, {}",
        file.display(),
        repair_hint(*offset)
    )]
    CorruptSegment {
        file: PathBuf,
        offset: u64,
        reason: String,
    },

    /// A snapshot file that fails its checks, with no usable older one to fall back to.
    #[error(
        "corrupt snapshot {} at byte offset {offset}: {reason}. Restore it from a backup or a \
         replica, or move it out of the directory if the log still reaches back far enough \
         without it",
        file.display()
    )]
    CorruptSnapshot {
        file: PathBuf,
        offset: u64,
        reason: String,
    },

    /// The entries on disk do not form one unbroken sequence after the snapshot.
    #[error(
        "the log is missing entries {expected} to {}: the next entry after them is in {} at \
         byte offset {offset}. A log file was probably deleted or a snapshot lost; restore the \
         data directory from a backup or a replica",
        found - 1,
        file.display()
    )]
    Gap {
        file: PathBuf,
        offset: u64,
        expected: u64,
        found: u64,
    },

    /// An earlier write or fdatasync failed. After a failed fsync the kernel may have dropped the
    /// dirty pages, so nothing about the file can be trusted until it is read back from disk.
    #[error(
        "the log stopped accepting writes after an earlier failure ({0}); restart the process \
         so that it recovers from what is really on disk"
    )]
    Poisoned(String),
}

fn repair_hint(offset: u64) -> String {
    if offset == 0 {
        "move this file and every later log-*.wal file out of the directory".to_string()
    } else {
        format!(
            "truncate this file to {offset} bytes and move every later log-*.wal file out of \
             the directory"
        )
    }
}

impl LogError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        LogError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
