//! The set of (session, kinds) entries watching one path.
//!
//! Every path has an 8-byte [`SetHead`]. Up to two entries live inline in the head (most paths
//! have one or two watchers); beyond that the head names a big set, an [`EntryList`] in a slab of
//! the [`SetStore`].
//!
//! For the ancestor walk, each big set counts its entries with the recursive bit
//! (`rec_counts`), and only while they are a small minority of the set ("sparse") keeps a
//! separate list of them in a side map, so that a change below a heavily watched ancestor walks
//! only its few recursive watchers; otherwise ("dense") the walk filters the set itself and no
//! memory is spent on a copy. Hysteresis between the two modes keeps the cost of switching
//! amortized O(1) per change.
//!
//! Invariants: inline entries are sorted by session and non-zero; a head names a big set only
//! when it has three or more entries; `rec_counts[b]` is the number of entries of big set `b`
//! with the recursive bit; `sparse[b]`, when present, holds exactly those sessions with only that
//! bit, and is present only while `count * DENSE < len`, and always once `count * SPARSE < len`
//! (0 < count).

use std::collections::HashMap;

use crate::entries::{self, EntryList, bits, entry, key};
use crate::grow::reserve_one;
use crate::hash::FxBuild;
use crate::kinds::Kinds;

const BIG: u32 = 1 << 31;
const R: u8 = Kinds::RECURSIVE.bits();
/// Build a separate recursive list once recursive entries are fewer than 1/SPARSE of the set...
const SPARSE: usize = 16;
/// ...and drop it once they are at least 1/DENSE of it.
const DENSE: usize = 4;

/// Inline storage or a slab reference; all zero when empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SetHead([u32; 2]);

impl SetHead {
    pub(crate) fn is_empty(self) -> bool {
        self.0 == [0, 0]
    }

    fn big(self) -> Option<usize> {
        (self.0[0] & BIG != 0).then_some((self.0[0] & !BIG) as usize)
    }
}

/// Slab of big sets, with their free slots and recursive-watcher bookkeeping.
#[derive(Debug, Clone, Default)]
pub(crate) struct SetStore {
    bigs: Vec<EntryList>,
    rec_counts: Vec<u32>,
    sparse: HashMap<u32, EntryList, FxBuild>,
    free: Vec<u32>,
}

impl SetStore {
    /// Kind bits of `sid` in the set.
    pub(crate) fn get(&self, head: SetHead, sid: u32) -> u8 {
        match head.big() {
            Some(b) => self.bigs.get(b).map_or(0, |big| big.get(sid)),
            None => head
                .0
                .iter()
                .find(|e| **e != 0 && key(**e) == sid)
                .map_or(0, |e| bits(*e)),
        }
    }

    /// Sets the bits of `sid` to `f(old)`; returns `(old, new)`.
    pub(crate) fn modify(
        &mut self,
        head: &mut SetHead,
        sid: u32,
        f: impl FnOnce(u8) -> u8,
    ) -> (u8, u8) {
        let Some(b) = head.big() else {
            return self.modify_inline(head, sid, f);
        };
        let Some(big) = self.bigs.get_mut(b) else {
            return (0, 0);
        };
        let (old, new) = big.modify(sid, f);
        let rec_changed = (old ^ new) & R != 0;
        if rec_changed {
            if let Some(c) = self.rec_counts.get_mut(b) {
                if new & R != 0 {
                    *c += 1;
                } else {
                    *c -= 1;
                }
            }
            if let Some(list) = self.sparse.get_mut(&(b as u32)) {
                list.modify(sid, |_| new & R);
            }
        }
        if rec_changed || (old == 0) != (new == 0) {
            self.rebalance(b);
        }
        if new == 0 {
            self.demote_if_small(head);
        }
        (old, new)
    }

    /// Restores the side invariants of big set `b` after its size or recursive count changed.
    fn rebalance(&mut self, b: usize) {
        let count = self.rec_counts.get(b).copied().unwrap_or(0) as usize;
        if count == 0 {
            if !self.sparse.is_empty() {
                self.sparse.remove(&(b as u32));
            }
            return;
        }
        let Some(big) = self.bigs.get(b) else { return };
        let len = big.len();
        let is_sparse = self.sparse.contains_key(&(b as u32));
        if is_sparse && count * DENSE >= len {
            self.sparse.remove(&(b as u32));
        } else if !is_sparse && count * SPARSE < len {
            let list: Vec<u32> = big
                .iter()
                .filter(|e| bits(*e) & R != 0)
                .map(|e| entry(key(e), R))
                .collect();
            self.sparse
                .insert(b as u32, EntryList::from_sorted_any(list));
        }
    }

    fn modify_inline(
        &mut self,
        head: &mut SetHead,
        sid: u32,
        f: impl FnOnce(u8) -> u8,
    ) -> (u8, u8) {
        let [a, b] = head.0;
        let slot = if a != 0 && key(a) == sid {
            Some(0)
        } else if b != 0 && key(b) == sid {
            Some(1)
        } else {
            None
        };
        let old = slot.map_or(0, |i| bits(head.0[i]));
        let new = f(old) & Kinds::ALL.bits();
        match (slot, new) {
            (Some(0), 0) => head.0 = [b, 0],
            (Some(_), 0) => head.0 = [a, 0],
            (Some(i), n) => head.0[i] = entry(sid, n),
            (None, 0) => {}
            (None, n) => {
                let e = entry(sid, n);
                if a == 0 {
                    head.0 = [e, 0];
                } else if b == 0 {
                    head.0 = if key(a) < sid { [a, e] } else { [e, a] };
                } else {
                    let mut three = vec![a, b, e];
                    three.sort_unstable_by_key(|e| key(*e));
                    self.promote(head, three);
                }
            }
        }
        (old, new)
    }

    fn promote(&mut self, head: &mut SetHead, sorted: Vec<u32>) {
        let count = sorted.iter().filter(|e| bits(**e) & R != 0).count() as u32;
        let big = EntryList::from_sorted(sorted);
        // Three entries: dense whatever the count, so no sparse list to build.
        let idx = match self.free.pop() {
            Some(i) => {
                if let (Some(slot), Some(c)) = (
                    self.bigs.get_mut(i as usize),
                    self.rec_counts.get_mut(i as usize),
                ) {
                    *slot = big;
                    *c = count;
                }
                i
            }
            None => {
                reserve_one(&mut self.bigs, 4);
                reserve_one(&mut self.rec_counts, 4);
                self.bigs.push(big);
                self.rec_counts.push(count);
                (self.bigs.len() - 1) as u32
            }
        };
        head.0 = [BIG | idx, 0];
    }

    /// Moves a big set of two or fewer entries back inline and frees its slot.
    fn demote_if_small(&mut self, head: &mut SetHead) {
        let Some(b) = head.big() else { return };
        let Some(big) = self.bigs.get_mut(b) else {
            return;
        };
        if !big.len_at_most(2) {
            return;
        }
        let mut inline = [0u32; 2];
        for (slot, e) in inline.iter_mut().zip(big.iter()) {
            *slot = e;
        }
        *big = EntryList::default();
        if let Some(c) = self.rec_counts.get_mut(b) {
            *c = 0;
        }
        if !self.sparse.is_empty() {
            self.sparse.remove(&(b as u32));
        }
        self.free.push(b as u32);
        head.0 = inline;
    }

    /// Rewrites every entry with `f` (keep the session part, keep the recursive bit; an entry
    /// left with no kind bits is dropped). This is the trigger's inner loop.
    pub(crate) fn retain_map(&mut self, head: &mut SetHead, mut f: impl FnMut(u32) -> u32) {
        match head.big() {
            Some(b) => {
                if let Some(big) = self.bigs.get_mut(b) {
                    big.retain_map(|e| {
                        let n = f(e);
                        debug_assert!(bits(n) & R == bits(e) & R);
                        n
                    });
                }
                self.rebalance(b);
                self.demote_if_small(head);
            }
            None => {
                let [a, b] = head.0;
                let a = if a != 0 { f(a) } else { 0 };
                let b = if b != 0 { f(b) } else { 0 };
                let (a, b) = (a * (bits(a) != 0) as u32, b * (bits(b) != 0) as u32);
                head.0 = if a == 0 { [b, 0] } else { [a, b] };
            }
        }
    }

    /// Calls `f` with the session of every entry holding a recursive watch.
    pub(crate) fn for_each_recursive(&self, head: SetHead, mut f: impl FnMut(u32)) {
        match head.big() {
            Some(b) => {
                if self.rec_counts.get(b).is_none_or(|c| *c == 0) {
                    return;
                }
                if let Some(list) = self.sparse.get(&(b as u32)) {
                    for blk in list.blocks() {
                        for e in blk {
                            f(key(*e));
                        }
                    }
                } else if let Some(big) = self.bigs.get(b) {
                    for blk in big.blocks() {
                        for e in blk {
                            if bits(*e) & R != 0 {
                                f(key(*e));
                            }
                        }
                    }
                }
            }
            None => {
                for e in head.0 {
                    if e != 0 && bits(e) & R != 0 {
                        f(key(e));
                    }
                }
            }
        }
    }

    pub(crate) fn has_recursive(&self, head: SetHead) -> bool {
        match head.big() {
            Some(b) => self.rec_counts.get(b).is_some_and(|c| *c > 0),
            None => head.0.iter().any(|e| *e != 0 && bits(*e) & R != 0),
        }
    }

    /// Every entry, sorted by session, a block of dense memory at a time.
    #[inline]
    pub(crate) fn for_each_block(&self, head: SetHead, mut f: impl FnMut(&[u32])) {
        match head.big() {
            Some(b) => {
                if let Some(big) = self.bigs.get(b) {
                    for blk in big.blocks() {
                        f(blk);
                    }
                }
            }
            None => {
                let n = head.0.iter().take_while(|e| **e != 0).count();
                f(head.0.get(..n).unwrap_or(&[]));
            }
        }
    }

    /// Every entry, sorted by session.
    pub(crate) fn for_each(&self, head: SetHead, mut f: impl FnMut(u32)) {
        match head.big() {
            Some(b) => {
                if let Some(big) = self.bigs.get(b) {
                    big.iter().for_each(f);
                }
            }
            None => head.0.iter().filter(|e| **e != 0).for_each(|e| f(*e)),
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let sparse_buckets = if self.sparse.capacity() == 0 {
            0
        } else {
            (self.sparse.capacity() * 8 / 7).next_power_of_two()
        };
        self.bigs.capacity() * size_of::<EntryList>()
            + self.rec_counts.capacity() * 4
            + self.free.capacity() * 4
            + self.bigs.iter().map(EntryList::heap_bytes).sum::<usize>()
            + sparse_buckets * (size_of::<(u32, EntryList)>() + 1)
            + self
                .sparse
                .values()
                .map(EntryList::heap_bytes)
                .sum::<usize>()
    }

    /// Number of big sets in use.
    #[cfg(test)]
    pub(crate) fn bigs_in_use(&self) -> usize {
        self.bigs.len() - self.free.len()
    }

    /// Whether big set of `head` keeps a separate recursive list; test support.
    #[cfg(test)]
    pub(crate) fn is_sparse(&self, head: SetHead) -> bool {
        head.big()
            .is_some_and(|b| self.sparse.contains_key(&(b as u32)))
    }

    /// Checks the invariants of one head's set; test support.
    #[cfg(test)]
    pub(crate) fn check(&self, head: SetHead) {
        match head.big() {
            Some(b) => {
                let big = &self.bigs[b];
                assert!(!big.len_at_most(2), "big set of two or fewer");
                let want: Vec<u32> = big
                    .iter()
                    .filter(|e| bits(*e) & R != 0)
                    .map(|e| entry(key(e), R))
                    .collect();
                assert_eq!(self.rec_counts[b] as usize, want.len());
                let len = big.len();
                match self.sparse.get(&(b as u32)) {
                    Some(list) => {
                        assert_eq!(list.iter().collect::<Vec<_>>(), want, "list mirrors set");
                        assert!(want.len() * DENSE < len, "sparse list kept too long");
                    }
                    None => assert!(
                        want.is_empty() || want.len() * SPARSE >= len,
                        "sparse list missing"
                    ),
                }
                assert!(big.iter().all(|e| bits(e) != 0));
            }
            None => {
                let [a, b] = head.0;
                assert!(a != 0 || b == 0, "inline gap");
                assert!(b == 0 || key(a) < key(b), "inline order");
                assert_eq!(a & BIG, 0);
            }
        }
    }
}

/// Largest session index an entry can carry: the top bit of an entry marks a big-set reference.
pub(crate) const MAX_SID: u32 = (BIG >> entries::SHIFT) - 1;

#[cfg(test)]
mod tests {
    use super::*;

    fn add(store: &mut SetStore, head: &mut SetHead, sid: u32, bit: u8) -> (u8, u8) {
        store.modify(head, sid, |o| o | bit)
    }

    #[test]
    fn grows_from_inline_to_big_and_back() {
        let mut s = SetStore::default();
        let mut h = SetHead::default();
        assert!(h.is_empty());
        add(&mut s, &mut h, 5, 1);
        add(&mut s, &mut h, 2, 8);
        s.check(h);
        assert_eq!(s.bigs_in_use(), 0);
        add(&mut s, &mut h, 9, 2);
        s.check(h);
        assert_eq!(s.bigs_in_use(), 1);
        assert!(s.has_recursive(h));
        let mut rec = vec![];
        s.for_each_recursive(h, |sid| rec.push(sid));
        assert_eq!(rec, vec![2]);
        assert_eq!(s.modify(&mut h, 2, |_| 0), (8, 0));
        s.check(h);
        assert_eq!(s.bigs_in_use(), 0);
        assert!(!s.has_recursive(h));
        assert_eq!(s.get(h, 5), 1);
        assert_eq!(s.get(h, 9), 2);
        assert_eq!(s.get(h, 2), 0);
    }

    #[test]
    fn freed_big_slots_are_reused() {
        let mut s = SetStore::default();
        let mut heads = [SetHead::default(); 2];
        for h in heads.iter_mut() {
            for sid in 0..3 {
                add(&mut s, h, sid, 1);
            }
        }
        assert_eq!(s.bigs_in_use(), 2);
        s.retain_map(&mut heads[0], |_| 0);
        assert!(heads[0].is_empty());
        assert_eq!(s.bigs_in_use(), 1);
        for sid in 0..3 {
            add(&mut s, &mut heads[0], sid, 4);
        }
        assert_eq!(s.bigs.len(), 2, "slot reused, slab did not grow");
    }

    #[test]
    fn recursive_bit_changes_update_the_mirror() {
        let mut s = SetStore::default();
        let mut h = SetHead::default();
        for sid in 0..20 {
            add(&mut s, &mut h, sid, if sid % 3 == 0 { 9 } else { 1 });
        }
        s.check(h);
        s.modify(&mut h, 3, |o| o & !R);
        add(&mut s, &mut h, 4, R);
        s.check(h);
        let mut rec = vec![];
        s.for_each_recursive(h, |sid| rec.push(sid));
        assert_eq!(rec, vec![0, 4, 6, 9, 12, 15, 18]);
        assert!(!s.is_sparse(h), "7 of 20 recursive: dense");
        // Consuming data bits keeps recursive-only entries and the mirror.
        s.retain_map(&mut h, |e| entry(key(e), bits(e) & !1));
        s.check(h);
        let mut left = vec![];
        s.for_each(h, |e| left.push(key(e)));
        assert_eq!(left, rec);
    }
}

#[cfg(test)]
mod sparse_tests {
    use super::*;

    #[test]
    fn few_recursive_watchers_among_many_get_their_own_list_and_lose_it() {
        let mut s = SetStore::default();
        let mut h = SetHead::default();
        s.modify(&mut h, 0, |_| R);
        for sid in 1..100 {
            s.modify(&mut h, sid, |_| 1);
            s.check(h);
        }
        assert!(s.is_sparse(h), "1 of 100: sparse");
        let mut rec = vec![];
        s.for_each_recursive(h, |sid| rec.push(sid));
        assert_eq!(rec, [0]);
        // A trigger consumes the one-shot entries: the set shrinks, the list goes.
        s.retain_map(&mut h, |e| entry(key(e), bits(e) & !1));
        s.check(h);
        assert!(!s.is_sparse(h));
        let mut rec = vec![];
        s.for_each_recursive(h, |sid| rec.push(sid));
        assert_eq!(rec, [0]);
    }
}
