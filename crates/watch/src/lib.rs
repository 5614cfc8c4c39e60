//! The watch index of Watchkeeper: which session watches which path in which mode, and which
//! sessions a change notifies. Pure data structure: no I/O, no clock, no locking (the server owns
//! it behind its own lock and applies changes in zxid order).
//!
//! Semantics are ZooKeeper 3.9's (`WatchManager`, `DataTree`): one-shot data and child watches,
//! persistent and persistent-recursive watches, all four independent on the same path for the
//! same session; a trigger notifies each session at most once per event however many of its
//! watches match; recursive watches fire for creation, deletion and data changes of the path and
//! every descendant but never for child-list changes; removeWatches with `Any` removes all four.
//!
//! Compactness is the point (ZooKeeper spends ~100-150 bytes a watch): paths are interned once
//! and named by `u32` ids, sessions by dense `u32` slots, and a (session, path) pair is a single
//! `u32` entry — slot and kind bits — in the path's sorted set, stored inline for one or two
//! watchers. There is no heap object per watch. Measure with
//! `cargo run --release -p watchkeeper-watch --example memory` (bytes per watch at 1M and 10M
//! watches, fan-out times) and `cargo bench -p watchkeeper-watch`.
//!
//! Counting differs from ZooKeeper's in one documented way: [`WatchIndex::watch_count`] counts
//! each kind a session holds on a path, while ZooKeeper's `mntr` counts (session, path) pairs in
//! its two managers ([`WatchIndex::zk_watch_count`]), and its `wchs`/`wchc`/`wchp` show only the
//! data-watch manager ([`WatchIndex::by_session_of`] with `DATA | PERSISTENT | RECURSIVE`).
//!
//! ```
//! use watchkeeper_proto::{EventType, WatcherType};
//! use watchkeeper_watch::{WatchIndex, WatchKind};
//!
//! let mut idx = WatchIndex::new();
//! idx.add("/app/config", 7, WatchKind::Data);
//! idx.add("/app", 8, WatchKind::PersistentRecursive);
//! let mut out = Vec::new();
//! idx.trigger("/app/config", EventType::NodeDataChanged, &mut out);
//! out.sort();
//! assert_eq!(out, [7, 8]);
//! // The one-shot watch was consumed; the recursive one stays.
//! assert!(!idx.contains("/app/config", 7, WatcherType::Data));
//! assert!(idx.contains("/app", 8, WatcherType::PersistentRecursive));
//! ```

mod entries;
mod error;
mod grow;
mod hash;
mod index;
mod kinds;
mod paths;
mod report;
mod sessions;
mod set;

#[cfg(test)]
mod tests;

pub use error::CapacityError;
pub use index::WatchIndex;
pub use kinds::{Kinds, Removed, WatchKind};
pub use report::HeapBreakdown;

/// Most sessions that may hold watches at the same time (slot indexes share a `u32` with the
/// kind bits and a marker bit).
pub const MAX_SESSIONS: usize = set::MAX_SID as usize + 1;
