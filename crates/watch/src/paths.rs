//! Path interning: each watched path is stored once and named by a dense `u32` id.
//!
//! Path bytes live back to back in one arena string; a record per id holds the offset and
//! length; an open-addressing table (linear probing, at most 7/8 full, backward-shift deletion so
//! there are no tombstones) finds an id by path. Beside each table slot is a one-byte tag from the
//! path's hash (0 = empty slot), so a probe only touches a record and the arena when the tag
//! matches: a lookup that misses reads one or two cache lines of tags. Ids of released paths are
//! reused. Invariants: every live id is in the table exactly once; a slot's tag is the tag of its
//! path's hash; the arena's dead bytes (of released paths) exceed neither its live bytes nor
//! [`COMPACT_MIN`] for long, because the arena is compacted when both would be exceeded; the
//! table is resized to stay between 1/8 and 7/8 full.

use crate::error::CapacityError;
use crate::grow::{reserve_one, reserve_str};
use crate::hash::{hash_bytes, random_seed};

/// Length of a released record.
const FREE: u32 = u32::MAX;
/// Largest id handed out.
const MAX_IDS: usize = (u32::MAX - 1) as usize;

#[cfg(not(test))]
const MIN_TABLE: usize = 64;
#[cfg(test)]
const MIN_TABLE: usize = 4;
/// Dead arena bytes tolerated before compaction is considered.
#[cfg(not(test))]
const COMPACT_MIN: usize = 1 << 16;
#[cfg(test)]
const COMPACT_MIN: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Rec {
    off: u32,
    len: u32,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Paths {
    /// Per-index hash seed, so that colliding paths cannot be prepared in advance.
    seed: u64,
    arena: String,
    dead: usize,
    recs: Vec<Rec>,
    free: Vec<u32>,
    /// Slot -> id; meaningful only where the tag is non-zero.
    ids: Vec<u32>,
    tags: Vec<u8>,
    live: usize,
}

#[inline]
fn tag(hash: u64) -> u8 {
    ((hash >> 56) as u8).max(1)
}

impl Paths {
    pub(crate) fn new() -> Self {
        Paths {
            seed: random_seed(),
            ..Paths::default()
        }
    }

    /// Number of live ids.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// One past the largest id ever handed out (for tables indexed by id).
    pub(crate) fn id_bound(&self) -> usize {
        self.recs.len()
    }

    pub(crate) fn is_live(&self, id: u32) -> bool {
        self.recs.get(id as usize).is_some_and(|r| r.len != FREE)
    }

    /// The path of a live id ("" for an id that is not live).
    pub(crate) fn name(&self, id: u32) -> &str {
        self.recs
            .get(id as usize)
            .filter(|r| r.len != FREE)
            .and_then(|r| {
                self.arena
                    .get(r.off as usize..r.off as usize + r.len as usize)
            })
            .unwrap_or("")
    }

    pub(crate) fn find(&self, path: &str) -> Option<u32> {
        self.find_hashed(path, hash_bytes(self.seed, path.as_bytes()))
    }

    fn find_hashed(&self, path: &str, hash: u64) -> Option<u32> {
        if self.tags.is_empty() {
            return None;
        }
        let (mask, t) = (self.tags.len() - 1, tag(hash));
        let mut i = hash as usize & mask;
        loop {
            let slot = *self.tags.get(i)?;
            if slot == 0 {
                return None;
            }
            if slot == t
                && let Some(id) = self.ids.get(i).copied()
                && self.name(id) == path
            {
                return Some(id);
            }
            i = (i + 1) & mask;
        }
    }

    /// The id of `path`, adding it if absent; `Ok((id, true))` when it was added.
    pub(crate) fn intern(&mut self, path: &str) -> Result<(u32, bool), CapacityError> {
        let hash = hash_bytes(self.seed, path.as_bytes());
        if let Some(id) = self.find_hashed(path, hash) {
            return Ok((id, false));
        }
        if self.free.is_empty() && self.recs.len() >= MAX_IDS {
            return Err(CapacityError::Paths);
        }
        if self.arena.len() + path.len() > u32::MAX as usize {
            self.compact();
            if self.arena.len() + path.len() > u32::MAX as usize {
                return Err(CapacityError::PathBytes);
            }
        }
        if (self.live + 1) * 8 > self.tags.len() * 7 {
            self.resize((self.tags.len() * 2).max(MIN_TABLE));
        }
        let rec = Rec {
            off: self.arena.len() as u32,
            len: path.len() as u32,
        };
        reserve_str(&mut self.arena, path.len(), 4);
        self.arena.push_str(path);
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(r) = self.recs.get_mut(id as usize) {
                    *r = rec;
                }
                id
            }
            None => {
                reserve_one(&mut self.recs, 4);
                self.recs.push(rec);
                (self.recs.len() - 1) as u32
            }
        };
        self.insert_slot(id, hash);
        self.live += 1;
        Ok((id, true))
    }

    /// Forgets a live id; its number is reused by a later [`Paths::intern`].
    pub(crate) fn release(&mut self, id: u32) {
        let Some(rec) = self.recs.get(id as usize).copied() else {
            return;
        };
        if rec.len == FREE || self.tags.is_empty() {
            return;
        }
        let mask = self.tags.len() - 1;
        let mut i = self.home(id);
        while self.tags.get(i).is_some_and(|t| *t != 0) && self.ids.get(i) != Some(&id) {
            i = (i + 1) & mask;
        }
        if self.tags.get(i).is_none_or(|t| *t == 0) {
            return;
        }
        self.delete_slot(i);
        if let Some(r) = self.recs.get_mut(id as usize) {
            r.len = FREE;
        }
        self.free.push(id);
        self.live -= 1;
        self.dead += rec.len as usize;
        if self.dead > COMPACT_MIN && self.dead > self.arena.len() - self.dead {
            self.compact();
        }
        if self.tags.len() > MIN_TABLE && self.live * 8 < self.tags.len() {
            self.resize((self.live * 2).next_power_of_two().max(MIN_TABLE));
        }
    }

    /// Heap bytes of (text, records, table).
    pub(crate) fn heap_parts(&self) -> (usize, usize, usize) {
        (
            self.arena.capacity(),
            self.recs.capacity() * size_of::<Rec>() + self.free.capacity() * 4,
            self.ids.capacity() * 4 + self.tags.capacity(),
        )
    }

    /// The slot where a live id's probe run starts (its hash is recomputed from its path: deletion
    /// and resizing are rare next to lookups, so the hash is not stored).
    fn home(&self, id: u32) -> usize {
        hash_bytes(self.seed, self.name(id).as_bytes()) as usize & (self.tags.len().max(1) - 1)
    }

    fn insert_slot(&mut self, id: u32, hash: u64) {
        let mask = self.tags.len() - 1;
        let mut i = hash as usize & mask;
        while self.tags.get(i).is_some_and(|t| *t != 0) {
            i = (i + 1) & mask;
        }
        if let (Some(t), Some(s)) = (self.tags.get_mut(i), self.ids.get_mut(i)) {
            *t = tag(hash);
            *s = id;
        }
    }

    /// Empties slot `hole` and shifts later members of its probe run back, so lookups never
    /// need tombstones.
    fn delete_slot(&mut self, mut hole: usize) {
        let mask = self.tags.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            if self.tags[j] == 0 {
                break;
            }
            let home = self.home(self.ids[j]);
            // Move slot j into the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.tags[hole] = self.tags[j];
                self.ids[hole] = self.ids[j];
                hole = j;
            }
        }
        self.tags[hole] = 0;
    }

    fn resize(&mut self, slots: usize) {
        self.tags = vec![0; slots];
        self.ids = vec![0; slots];
        for id in 0..self.recs.len() as u32 {
            if self.is_live(id) {
                let hash = hash_bytes(self.seed, self.name(id).as_bytes());
                self.insert_slot(id, hash);
            }
        }
    }

    /// Rewrites the arena without the bytes of released paths.
    fn compact(&mut self) {
        let mut arena = String::with_capacity(self.arena.len() - self.dead);
        for r in self.recs.iter_mut().filter(|r| r.len != FREE) {
            let s = self
                .arena
                .get(r.off as usize..r.off as usize + r.len as usize)
                .unwrap_or("");
            r.off = arena.len() as u32;
            arena.push_str(s);
        }
        self.arena = arena;
        self.dead = 0;
    }

    /// Checks the invariants; test support.
    #[cfg(test)]
    pub(crate) fn check(&self) {
        let live: Vec<u32> = (0..self.recs.len() as u32)
            .filter(|i| self.is_live(*i))
            .collect();
        assert_eq!(live.len(), self.live);
        assert_eq!(self.tags.iter().filter(|t| **t != 0).count(), self.live);
        for (slot, t) in self.tags.iter().enumerate() {
            if *t != 0 {
                let id = self.ids[slot];
                assert_eq!(*t, tag(hash_bytes(self.seed, self.name(id).as_bytes())));
            }
        }
        for id in live {
            assert_eq!(self.find(self.name(id)), Some(id));
        }
        assert!(self.dead <= COMPACT_MIN || self.dead <= self.arena.len() - self.dead);
        assert!(self.live * 8 <= self.tags.len() * 7);
    }
}

/// Depth of a path as the recursive-watch filter counts it: "/" is 0, otherwise the number of
/// '/' (so "/a" is 1 and "/a/b" is 2). Total for any string.
pub(crate) fn depth(path: &[u8]) -> usize {
    if path == b"/" {
        0
    } else {
        path.iter().filter(|b| **b == b'/').count()
    }
}

/// The parent path as ZooKeeper's `PathParentIterator` computes it ("/a/b" -> "/a" -> "/"); None
/// for "/" and for strings without a '/'.
pub(crate) fn parent(path: &[u8]) -> Option<&[u8]> {
    if path == b"/" {
        return None;
    }
    match path.iter().rposition(|b| *b == b'/')? {
        0 => Some(b"/"),
        i => path.get(..i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn parents_walk_to_root() {
        let mut p: &[u8] = b"/a/bb/c";
        let mut seen = vec![];
        while let Some(q) = parent(p) {
            seen.push(std::str::from_utf8(q).unwrap().to_owned());
            assert_eq!(depth(q), depth(p) - 1);
            p = q;
        }
        assert_eq!(seen, ["/a/bb", "/a", "/"]);
        assert_eq!(parent(b"/"), None);
        assert_eq!(parent(b"abc"), None);
        assert_eq!(parent(b""), None);
        assert_eq!(parent(b"/a/"), Some(&b"/a"[..]));
        assert_eq!(depth(b"/"), 0);
        assert_eq!(depth(b"/x"), 1);
    }

    #[test]
    fn ids_are_reused_and_arena_compacts() {
        let mut p = Paths::new();
        let ids: Vec<u32> = (0..100)
            .map(|i| p.intern(&format!("/n/{i}")).unwrap().0)
            .collect();
        assert_eq!(p.intern("/n/5").unwrap(), (ids[5], false));
        for id in &ids[..90] {
            p.release(*id);
            p.check();
        }
        assert!(p.arena.len() < 10 * 8, "arena compacted: {}", p.arena.len());
        let (again, new) = p.intern("/fresh").unwrap();
        assert!(new);
        assert!(again < 100, "released id reused");
        assert_eq!(p.name(ids[95]), "/n/95");
        assert_eq!(p.find("/n/3"), None);
        assert!(!p.is_live(ids[3]));
        assert_eq!(p.name(ids[3]), "");
    }

    proptest! {
        #[test]
        fn behaves_like_a_map(ops in prop::collection::vec((0u8..40, any::<bool>()), 0..300)) {
            let mut p = Paths::new();
            let mut m: HashMap<String, u32> = HashMap::new();
            for (n, add) in ops {
                let name = format!("/p{}", n);
                if add {
                    let (id, new) = p.intern(&name).unwrap();
                    prop_assert_eq!(new, !m.contains_key(&name));
                    if let Some(old) = m.insert(name.clone(), id) { prop_assert_eq!(old, id); }
                } else if let Some(id) = m.remove(&name) {
                    p.release(id);
                }
                p.check();
                prop_assert_eq!(p.len(), m.len());
                for (name, id) in &m {
                    prop_assert_eq!(p.find(name), Some(*id));
                    prop_assert_eq!(p.name(*id), name.as_str());
                }
            }
        }
    }
}
