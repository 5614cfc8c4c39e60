//! Counts and listings of the index, for `mntr`, `wchs`, `wchc`, `wchp` and memory accounting.
//!
//! Counting is O(1); listings and [`WatchIndex::heap_bytes`] walk the whole index and are meant
//! for the occasional four-letter word, not the request path.

use crate::entries::{bits, key};
use crate::index::WatchIndex;
use crate::kinds::Kinds;
use crate::set::SetHead;

/// Heap bytes of each part of the index (container capacities).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeapBreakdown {
    /// The arena of path strings (including not yet compacted bytes of released paths).
    pub path_text: usize,
    /// Per path id: offset, length and hash of its string (and the free-id list).
    pub path_records: usize,
    /// The path lookup table.
    pub path_table: usize,
    /// Per path id: the 8-byte head of its watcher set.
    pub set_heads: usize,
    /// Watcher sets of paths with three or more watchers.
    pub big_sets: usize,
    /// Session id map and per-session slots.
    pub session_table: usize,
    /// Per-session lists of watched path ids.
    pub session_lists: usize,
}

impl HeapBreakdown {
    pub fn total(&self) -> usize {
        self.path_text
            + self.path_records
            + self.path_table
            + self.set_heads
            + self.big_sets
            + self.session_table
            + self.session_lists
    }
}

impl WatchIndex {
    /// Total registrations, each kind on each path by each session counted once.
    pub fn watch_count(&self) -> usize {
        self.watches
    }

    /// ZooKeeper's `zk_watch_count` (mntr): (session, path) pairs in its data-watch manager
    /// (data, persistent or recursive) plus pairs in its child-watch manager (child or
    /// persistent). A persistent watch counts twice there; two kinds on one side count once.
    pub fn zk_watch_count(&self) -> usize {
        self.zk_watches
    }

    /// Distinct watched paths.
    pub fn path_count(&self) -> usize {
        self.paths.len()
    }

    /// Sessions holding at least one watch.
    pub fn session_count(&self) -> usize {
        self.sessions.live
    }

    /// Registrations held by one session (for a per-session watch limit).
    pub fn session_watch_count(&self, session: i64) -> usize {
        self.sessions
            .find(session)
            .and_then(|sid| self.sessions.slot(sid))
            .map_or(0, |s| s.watches as usize)
    }

    /// wchc: every session with its watched paths (each path once). Any order.
    pub fn by_session(&self) -> Vec<(i64, Vec<String>)> {
        self.by_session_of(Kinds::ALL)
    }

    /// wchp: every watched path with its sessions (each session once). Any order.
    pub fn by_path(&self) -> Vec<(String, Vec<i64>)> {
        self.by_path_of(Kinds::ALL)
    }

    /// Like [`WatchIndex::by_session`], counting only watches of the given kinds. ZooKeeper's
    /// `wchc` lists its data-watch manager only: `Kinds::DATA | PERSISTENT | RECURSIVE`.
    pub fn by_session_of(&self, kinds: Kinds) -> Vec<(i64, Vec<String>)> {
        let mut out = Vec::new();
        for (sid, slot) in self.sessions.slots.iter().enumerate() {
            if !slot.mapped || slot.watches == 0 {
                continue;
            }
            let mut ids = slot.list.clone();
            ids.sort_unstable();
            ids.dedup();
            let names: Vec<String> = ids
                .into_iter()
                .filter(|pid| {
                    self.paths.is_live(*pid)
                        && kinds.intersects(Kinds::from_bits(
                            self.sets.get(self.head(*pid), sid as u32),
                        ))
                })
                .map(|pid| self.paths.name(pid).to_owned())
                .collect();
            if !names.is_empty() {
                out.push((self.sessions.id(sid as u32), names));
            }
        }
        out
    }

    /// Like [`WatchIndex::by_path`], counting only watches of the given kinds.
    pub fn by_path_of(&self, kinds: Kinds) -> Vec<(String, Vec<i64>)> {
        let mut out = Vec::new();
        for pid in 0..self.paths.id_bound() as u32 {
            if !self.paths.is_live(pid) {
                continue;
            }
            let mut ids = Vec::new();
            self.sets.for_each(self.head(pid), |e| {
                if kinds.intersects(Kinds::from_bits(bits(e))) {
                    ids.push(self.sessions.id(key(e)));
                }
            });
            if !ids.is_empty() {
                out.push((self.paths.name(pid).to_owned(), ids));
            }
        }
        out
    }

    /// Estimated heap bytes held by the index: the capacities of its containers (allocator
    /// overhead not included). Walks every big set and session.
    pub fn heap_bytes(&self) -> usize {
        self.heap_breakdown().total()
    }

    /// [`WatchIndex::heap_bytes`] by part, for diagnostics.
    pub fn heap_breakdown(&self) -> HeapBreakdown {
        let (path_text, path_records, path_table) = self.paths.heap_parts();
        let (session_table, session_lists) = self.sessions.heap_parts();
        HeapBreakdown {
            path_text,
            path_records,
            path_table,
            set_heads: self.heads.capacity() * size_of::<SetHead>(),
            big_sets: self.sets.heap_bytes(),
            session_table,
            session_lists,
        }
    }

    fn head(&self, pid: u32) -> SetHead {
        self.heads.get(pid as usize).copied().unwrap_or_default()
    }
}
