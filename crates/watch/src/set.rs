//! The set of (session, kinds) entries watching one path.
//!
//! Every path has an 8-byte [`SetHead`]. Up to two entries live inline in the head (most paths
//! have one or two watchers); beyond that the head names a [`Big`] set in a slab of the
//! [`SetStore`]. A big set keeps all entries in `main` and, in `rec`, a copy of the entries that
//! hold a recursive watch, so a change below a heavily watched ancestor only walks the ancestor's
//! recursive watchers. Invariants: inline entries are sorted by session and non-zero; a head
//! names a big set only when it has three or more entries; `rec` holds exactly the sessions of
//! `main` with the recursive bit, with only that bit.

use crate::entries::{self, EntryList, bits, entry, key};
use crate::kinds::Kinds;

const BIG: u32 = 1 << 31;
const R: u8 = Kinds::RECURSIVE.bits();

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

#[derive(Debug, Clone, Default)]
pub(crate) struct Big {
    main: EntryList,
    rec: EntryList,
}

/// Slab of big sets, with their free slots.
#[derive(Debug, Clone, Default)]
pub(crate) struct SetStore {
    bigs: Vec<Big>,
    free: Vec<u32>,
}

impl SetStore {
    /// Kind bits of `sid` in the set.
    pub(crate) fn get(&self, head: SetHead, sid: u32) -> u8 {
        match head.big() {
            Some(b) => self.bigs.get(b).map_or(0, |big| big.main.get(sid)),
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
        let (old, new) = big.main.modify(sid, f);
        if (old ^ new) & R != 0 {
            big.rec.modify(sid, |_| new & R);
        }
        if new == 0 {
            self.demote_if_small(head);
        }
        (old, new)
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
        let rec: Vec<u32> = sorted
            .iter()
            .filter(|e| bits(**e) & R != 0)
            .map(|e| entry(key(*e), R))
            .collect();
        let big = Big {
            main: EntryList::from_sorted(sorted),
            rec: EntryList::from_sorted(rec),
        };
        let idx = match self.free.pop() {
            Some(i) => {
                if let Some(slot) = self.bigs.get_mut(i as usize) {
                    *slot = big;
                }
                i
            }
            None => {
                self.bigs.push(big);
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
        if !big.main.len_at_most(2) {
            return;
        }
        let mut inline = [0u32; 2];
        for (slot, e) in inline.iter_mut().zip(big.main.iter()) {
            *slot = e;
        }
        *big = Big::default();
        self.free.push(b as u32);
        head.0 = inline;
    }

    /// Rewrites every entry with `f` (keep the session part, keep the recursive bit; an entry
    /// left with no kind bits is dropped). This is the trigger's inner loop.
    pub(crate) fn retain_map(&mut self, head: &mut SetHead, mut f: impl FnMut(u32) -> u32) {
        match head.big() {
            Some(b) => {
                if let Some(big) = self.bigs.get_mut(b) {
                    big.main.retain_map(|e| {
                        let n = f(e);
                        debug_assert!(bits(n) & R == bits(e) & R);
                        n
                    });
                }
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
                if let Some(big) = self.bigs.get(b) {
                    for blk in big.rec.blocks() {
                        for e in blk {
                            f(key(*e));
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
            Some(b) => self.bigs.get(b).is_some_and(|big| !big.rec.is_empty()),
            None => head.0.iter().any(|e| *e != 0 && bits(*e) & R != 0),
        }
    }

    /// Every entry, sorted by session.
    pub(crate) fn for_each(&self, head: SetHead, mut f: impl FnMut(u32)) {
        match head.big() {
            Some(b) => {
                if let Some(big) = self.bigs.get(b) {
                    big.main.iter().for_each(f);
                }
            }
            None => head.0.iter().filter(|e| **e != 0).for_each(|e| f(*e)),
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.bigs.capacity() * size_of::<Big>()
            + self.free.capacity() * 4
            + self
                .bigs
                .iter()
                .map(|b| b.main.heap_bytes() + b.rec.heap_bytes())
                .sum::<usize>()
    }

    /// Number of big sets in use.
    #[cfg(test)]
    pub(crate) fn bigs_in_use(&self) -> usize {
        self.bigs.len() - self.free.len()
    }

    /// Checks the invariants of one head's set; test support.
    #[cfg(test)]
    pub(crate) fn check(&self, head: SetHead) {
        match head.big() {
            Some(b) => {
                let big = &self.bigs[b];
                assert!(!big.main.len_at_most(2), "big set of two or fewer");
                let want: Vec<u32> = big
                    .main
                    .iter()
                    .filter(|e| bits(*e) & R != 0)
                    .map(|e| entry(key(e), R))
                    .collect();
                assert_eq!(big.rec.iter().collect::<Vec<_>>(), want, "rec mirrors main");
                assert!(big.main.iter().all(|e| bits(e) != 0));
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
        // Consuming data bits keeps recursive-only entries and the mirror.
        s.retain_map(&mut h, |e| entry(key(e), bits(e) & !1));
        s.check(h);
        let mut left = vec![];
        s.for_each(h, |e| left.push(key(e)));
        assert_eq!(left, rec);
    }
}
