//! [`WatchIndex`]: registration, removal and firing of watches.
//!
//! Layout: paths are interned to dense ids ([`crate::paths`]); sessions to dense slots
//! ([`crate::sessions`]); each path id has an 8-byte set head of (session slot, kind bits)
//! entries ([`crate::set`]), one entry per session however many kinds it holds there. A trigger
//! is one pass over the changed path's entries plus, only when recursive watches exist at some
//! ancestor depth, a lookup per such ancestor.
//!
//! Invariants kept by every public method: a path id is live exactly while its set is non-empty;
//! `watches` is the number of kind bits over all entries and `zk_watches` their ZooKeeper
//! weight; a session slot's `watches`/`paths` count its bits/entries and its list holds every
//! path id where it has an entry; `rec_depth[d]` counts the live paths at depth `d` (last bucket:
//! deeper) whose set holds a recursive watch.

use watchkeeper_proto::{EventType, WatcherType};

use crate::entries::{bits, entry, key};
use crate::error::CapacityError;
use crate::grow::reserve_one;
use crate::kinds::{Firing, Kinds, Removed, WatchKind};
use crate::paths::{Paths, depth, parent};
use crate::sessions::{LIST_SLACK, Sessions, lose};
use crate::set::{SetHead, SetStore};

/// Depths 0..DEEP are counted exactly; deeper paths share the last bucket.
const DEEP: usize = 64;
const R: u8 = Kinds::RECURSIVE.bits();

/// Who watches what, and what a change fires. See the crate docs.
#[derive(Debug, Clone)]
pub struct WatchIndex {
    pub(crate) paths: Paths,
    pub(crate) heads: Vec<SetHead>,
    pub(crate) sets: SetStore,
    pub(crate) sessions: Sessions,
    pub(crate) watches: usize,
    pub(crate) zk_watches: usize,
    pub(crate) rec_depth: [u32; DEEP + 1],
    pub(crate) rec_paths: usize,
}

impl Default for WatchIndex {
    fn default() -> Self {
        WatchIndex::new()
    }
}

impl WatchIndex {
    pub fn new() -> Self {
        WatchIndex {
            paths: Paths::new(),
            heads: Vec::new(),
            sets: SetStore::default(),
            sessions: Sessions::default(),
            watches: 0,
            zk_watches: 0,
            rec_depth: [0; DEEP + 1],
            rec_paths: 0,
        }
    }

    /// Registers a watch; idempotent. Returns true if it was new. Use [`WatchIndex::try_add`] to
    /// learn about the (astronomical) capacity limits; this returns false when one is hit.
    pub fn add(&mut self, path: &str, session: i64, kind: WatchKind) -> bool {
        self.try_add(path, session, kind).unwrap_or(false)
    }

    /// Registers a watch; idempotent. `Ok(true)` if it was new.
    pub fn try_add(
        &mut self,
        path: &str,
        session: i64,
        kind: WatchKind,
    ) -> Result<bool, CapacityError> {
        self.sessions.tick();
        let bit = kind.bit();
        let (sid, new_session) = self.sessions.find_or_insert(session)?;
        let pid = match self.paths.intern(path) {
            Ok((pid, _)) => pid,
            Err(e) => {
                if new_session {
                    self.sessions.remove(session);
                }
                return Err(e);
            }
        };
        if self.heads.len() < self.paths.id_bound() {
            reserve_one(&mut self.heads, 4);
            self.heads.resize(self.paths.id_bound(), SetHead::default());
        }
        let Some(head) = self.heads.get_mut(pid as usize) else {
            return Ok(false);
        };
        let had_rec = bit == R && self.sets.has_recursive(*head);
        let (old, new) = self.sets.modify(head, sid, |o| o | bit);
        if old == new {
            return Ok(false);
        }
        self.watches += 1;
        self.zk_watches += Kinds::zk_weight(new) - Kinds::zk_weight(old);
        self.sessions.gained(sid, 1);
        if old == 0 {
            self.note_path(sid, pid);
        }
        if bit == R && !had_rec {
            self.count_recursive_path(depth(path.as_bytes()), true);
        }
        Ok(true)
    }

    /// ZooKeeper's removeWatches for one session and path: `Children` removes the child watch,
    /// `Data` the data watch, `Persistent` the persistent one, `PersistentRecursive` the
    /// recursive one, `Any` all four. Returns what was removed (empty: answer `NoWatcher`).
    pub fn remove(&mut self, path: &str, session: i64, which: WatcherType) -> Removed {
        self.sessions.tick();
        let mask = Kinds::for_watcher_type(which).bits();
        let (Some(sid), Some(pid)) = (self.sessions.find(session), self.paths.find(path)) else {
            return Kinds::NONE;
        };
        let Some(head) = self.heads.get_mut(pid as usize) else {
            return Kinds::NONE;
        };
        let (old, new) = self.sets.modify(head, sid, |o| o & !mask);
        if old != new {
            self.after_drop(pid, old, new);
            if new == 0
                && let Some(s) = self.sessions.slots.get_mut(sid as usize)
            {
                s.paths -= 1;
            }
            self.sessions.lost(sid, (old & !new).count_ones());
        }
        Kinds::from_bits(old & !new)
    }

    /// checkWatches: would [`WatchIndex::remove`] with the same arguments remove anything?
    pub fn contains(&self, path: &str, session: i64, which: WatcherType) -> bool {
        self.kinds(path, session)
            .intersects(Kinds::for_watcher_type(which))
    }

    /// The kinds `session` holds on `path`.
    pub fn kinds(&self, path: &str, session: i64) -> Kinds {
        match (self.sessions.find(session), self.paths.find(path)) {
            (Some(sid), Some(pid)) => self
                .heads
                .get(pid as usize)
                .map_or(Kinds::NONE, |h| Kinds::from_bits(self.sets.get(*h, sid))),
            _ => Kinds::NONE,
        }
    }

    /// Drops every watch of a session, touching only the paths it watches.
    pub fn remove_session(&mut self, session: i64) {
        self.sessions.tick();
        let Some((sid, list)) = self.sessions.remove(session) else {
            return;
        };
        for pid in list {
            let Some(head) = self.heads.get_mut(pid as usize) else {
                continue;
            };
            // A stale or repeated id finds no entry for this session and changes nothing.
            let (old, new) = self.sets.modify(head, sid, |_| 0);
            if old != new {
                self.after_drop(pid, old, new);
            }
        }
    }

    /// Fires an event on `path`: appends each session to notify to `out`, once per call,
    /// consumes the one-shot watches that fired and keeps the persistent ones.
    ///
    /// NodeCreated and NodeDataChanged fire data and persistent watches on the path and
    /// recursive watches on the path and its ancestors; NodeDeleted also fires child watches on
    /// the path; NodeChildrenChanged fires child and persistent watches on the path only. Other
    /// event types fire nothing.
    pub fn trigger(&mut self, path: &str, event: EventType, out: &mut Vec<i64>) {
        self.sessions.tick();
        let Some(fire) = Firing::of(event) else {
            return;
        };
        let walk = fire.ancestors && self.rec_paths > 0;
        let epoch = if walk { self.sessions.next_epoch() } else { 0 };
        if let Some(pid) = self.paths.find(path) {
            self.fire_path(pid, fire, epoch, out);
        }
        if walk {
            self.fire_ancestors(path, epoch, out);
        }
    }

    /// The trigger's hot loop. First a read-only pass over the path's dense entries collects the
    /// sessions to notify; only if some entry holds a one-shot watch that fired does a second
    /// pass consume them, so persistent fan-out never writes to the set. `epoch` is 0 when no
    /// ancestor walk follows (then no dedupe marks are needed).
    fn fire_path(&mut self, pid: u32, fire: Firing, epoch: u32, out: &mut Vec<i64>) {
        let Some(head) = self.heads.get_mut(pid as usize) else {
            return;
        };
        let Sessions {
            ids,
            marks,
            slots,
            live,
            idle,
            clock,
            ..
        } = &mut self.sessions;
        let (on_path, consume) = (u32::from(fire.on_path), u32::from(fire.consume));
        let mut consumed = 0u32;
        self.sets.for_each_block(*head, |block| {
            out.reserve(block.len());
            out.extend(block.iter().filter_map(|&e| {
                if e & on_path != 0 {
                    ids.get(key(e) as usize).copied()
                } else {
                    None
                }
            }));
            consumed |= block.iter().fold(0, |acc, &e| acc | e) & consume;
            if epoch != 0 {
                for &e in block {
                    if e & on_path != 0
                        && let Some(m) = marks.get_mut(key(e) as usize)
                    {
                        *m = epoch;
                    }
                }
            }
        });
        if consumed == 0 {
            return;
        }
        let clock = *clock;
        let (mut gone_bits, mut gone_zk) = (0usize, 0usize);
        self.sets.retain_map(head, |e| {
            let b = bits(e);
            let gone = b & fire.consume;
            if gone == 0 {
                return e;
            }
            let Some(slot) = slots.get_mut(key(e) as usize) else {
                return e;
            };
            let kept = b & !gone;
            gone_bits += gone.count_ones() as usize;
            gone_zk += Kinds::zk_weight(b) - Kinds::zk_weight(kept);
            if kept == 0 {
                slot.paths -= 1;
            }
            lose(slot, gone.count_ones(), live, idle, clock);
            entry(key(e), kept)
        });
        self.watches -= gone_bits;
        self.zk_watches -= gone_zk;
        if self.heads.get(pid as usize).is_some_and(|h| h.is_empty()) {
            self.paths.release(pid);
        }
    }

    /// Recursive watches on the ancestors, skipping depths where no path has one.
    fn fire_ancestors(&mut self, path: &str, epoch: u32, out: &mut Vec<i64>) {
        let mut p = path.as_bytes();
        let mut d = depth(p);
        while let Some(q) = parent(p) {
            d = if q == b"/" { 0 } else { d.saturating_sub(1) };
            p = q;
            if self.rec_depth.get(d.min(DEEP)).is_none_or(|n| *n == 0) {
                continue;
            }
            // `q` is `path` cut before a '/', or the root: both valid str.
            let name = if q == b"/" {
                "/"
            } else {
                path.get(..q.len()).unwrap_or("")
            };
            let Some(head) = self
                .paths
                .find(name)
                .and_then(|pid| self.heads.get(pid as usize))
            else {
                continue;
            };
            let Sessions { ids, marks, .. } = &mut self.sessions;
            self.sets.for_each_recursive(*head, |sid| {
                if let (Some(m), Some(id)) = (marks.get_mut(sid as usize), ids.get(sid as usize))
                    && *m != epoch
                {
                    *m = epoch;
                    out.push(*id);
                }
            });
        }
    }

    /// Bookkeeping after an entry of path `pid` lost bits (`new` is a subset of `old`), except
    /// the session slot's own counters.
    fn after_drop(&mut self, pid: u32, old: u8, new: u8) {
        self.watches -= (old & !new).count_ones() as usize;
        self.zk_watches -= Kinds::zk_weight(old) - Kinds::zk_weight(new);
        let Some(head) = self.heads.get(pid as usize).copied() else {
            return;
        };
        if old & !new & R != 0 && !self.sets.has_recursive(head) {
            self.count_recursive_path(depth(self.paths.name(pid).as_bytes()), false);
        }
        if head.is_empty() {
            self.paths.release(pid);
        }
    }

    /// A path at `depth` gained its first or lost its last recursive watch.
    fn count_recursive_path(&mut self, depth: usize, gained: bool) {
        if let Some(n) = self.rec_depth.get_mut(depth.min(DEEP)) {
            if gained {
                *n += 1;
                self.rec_paths += 1;
            } else {
                *n -= 1;
                self.rec_paths -= 1;
            }
        }
    }

    /// Records that session `sid` has a new entry on `pid`, cleaning its path list when stale
    /// ids have piled up.
    fn note_path(&mut self, sid: u32, pid: u32) {
        let Some(slot) = self.sessions.slots.get_mut(sid as usize) else {
            return;
        };
        slot.paths += 1;
        if slot.list.len() >= 2 * slot.paths as usize + LIST_SLACK {
            let (paths, heads, sets) = (&self.paths, &self.heads, &self.sets);
            slot.list.sort_unstable();
            slot.list.dedup();
            slot.list.retain(|p| {
                paths.is_live(*p)
                    && heads
                        .get(*p as usize)
                        .is_some_and(|h| sets.get(*h, sid) != 0)
            });
            if slot.list.capacity() > 4 * slot.list.len() + 16 {
                slot.list.shrink_to(2 * slot.list.len());
            }
        }
        reserve_one(&mut slot.list, 4);
        slot.list.push(pid);
    }
}

#[cfg(test)]
impl WatchIndex {
    /// Recomputes every counter from the entries and checks the invariants.
    pub(crate) fn check(&self) {
        use std::collections::HashMap;
        self.paths.check();
        self.sessions.check();
        let (mut watches, mut zk) = (0usize, 0usize);
        let mut per_session: HashMap<u32, (u32, u32)> = HashMap::new();
        let mut rec_depth = [0u32; DEEP + 1];
        for pid in 0..self.paths.id_bound() as u32 {
            let head = self.heads.get(pid as usize).copied().unwrap_or_default();
            assert_eq!(self.paths.is_live(pid), !head.is_empty(), "path {pid}");
            self.sets.check(head);
            self.sets.for_each(head, |e| {
                watches += bits(e).count_ones() as usize;
                zk += Kinds::zk_weight(bits(e));
                let c = per_session.entry(key(e)).or_default();
                c.0 += bits(e).count_ones();
                c.1 += 1;
                let slot = &self.sessions.slots[key(e) as usize];
                assert!(slot.mapped);
                assert!(
                    slot.list.contains(&pid),
                    "list of slot {} lacks {pid}",
                    key(e)
                );
            });
            if self.sets.has_recursive(head) {
                rec_depth[depth(self.paths.name(pid).as_bytes()).min(DEEP)] += 1;
            }
        }
        assert_eq!(watches, self.watches);
        assert_eq!(zk, self.zk_watches);
        assert_eq!(rec_depth, self.rec_depth);
        assert_eq!(self.rec_paths, rec_depth.iter().sum::<u32>() as usize);
        for (sid, slot) in self.sessions.slots.iter().enumerate() {
            let (w, p) = per_session.get(&(sid as u32)).copied().unwrap_or_default();
            assert_eq!((slot.watches, slot.paths), (w, p), "slot {sid}");
        }
    }
}
