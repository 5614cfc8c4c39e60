//! Watchkeeper's write-ahead log, snapshot files and state file: the storage of a Raft log.
//!
//! A [`Wal`] owns one directory holding preallocated segment files of checksummed records
//! (`log-<first index>.wal`), snapshot files (`snapshot-<index>.snap`) and a small state file
//! (`raft-state`). The server's log thread does group commit with it: [`Wal::append`] every
//! waiting entry, [`Wal::sync`] once (one write, one fdatasync), then acknowledge them all.
//! Nothing is durable before `sync`.
//!
//! Raft needs more than appends, and gets it without ever rewriting a record:
//! - [`Wal::truncate_after`] removes a conflicting uncommitted tail by appending a truncation
//!   record (and deleting segments that hold only removed entries), durable at the next sync;
//! - [`Wal::append_committed`] records the committed log position, riding the next sync;
//! - [`Wal::save_state`] replaces the state file (vote, last purged log id) atomically and
//!   durably;
//! - [`Wal::purge`] past the end of the log (a snapshot received from the leader) empties it
//!   and continues after the snapshot.
//!
//! Entries are not read back from a running `Wal`: the caller keeps the unpurged ones in
//! memory, from [`Recovery::entries`] on.
//!
//! [`Wal::open`] recovers: the newest valid snapshot, then every record after it in file order,
//! truncations applied. A torn final write (a partial or garbled last record followed only by
//! zeros, in the last segment) is cut off with a warning; any other damage, a gap in the
//! indexes, or a damaged state file refuses to open with an error naming the file and byte
//! offset, because repairing it could drop acknowledged writes or forget a vote. Segments of
//! format version 1 (before record kinds) are still read; new records always go to version-2
//! segments.
//!
//! Snapshots are written to a temporary file, fsynced, renamed and the directory fsynced; then
//! segments wholly covered by them are removed. Every size read from disk is checked against a
//! limit before anything is allocated for it.
//!
//! Synchronous std I/O: run it on a thread of its own.

mod dir;
mod error;
mod options;
mod record;
mod recovery;
mod segment;
mod snapshot;
mod state;
mod wal;

pub use error::LogError;
pub use options::{LogOptions, MAX_SEGMENT_BYTES, MAX_SNAPSHOT_BYTES};
pub use record::MAX_COMMITTED_BYTES;
pub use recovery::{Recovery, TailRepair};
pub use snapshot::{remove_old_snapshots, write_snapshot_file};
pub use state::MAX_STATE_BYTES;
pub use wal::Wal;
