//! A sorted list of watch entries for one path, used once the path has more watchers than fit
//! inline in its set head.
//!
//! An entry is one `u32`: the session's dense index shifted left by [`SHIFT`], and the kind bits
//! in the low bits. Invariants: entries are sorted by session index and unique per session; no
//! entry has zero kind bits; in the blocked form every block is non-empty and holds at most
//! [`BLOCK_MAX`] entries. Small lists are one flat `Vec`; larger ones are a list of sorted blocks
//! so that inserting among 100,000 watchers moves at most one block's worth of memory.

use crate::grow::reserve_one;

/// Bits of an entry that hold the kinds.
pub(crate) const SHIFT: u32 = 4;
const BITS_MASK: u32 = (1 << SHIFT) - 1;

/// Largest block (and largest flat list). Tests use tiny blocks to exercise splits and merges.
#[cfg(not(test))]
pub(crate) const BLOCK_MAX: usize = 1024;
#[cfg(test)]
pub(crate) const BLOCK_MAX: usize = 8;
/// A block shorter than this is merged with a neighbour when the two fit in 3/4 of a block.
const BLOCK_MIN: usize = BLOCK_MAX / 4;

#[inline]
pub(crate) const fn key(entry: u32) -> u32 {
    entry >> SHIFT
}

#[inline]
pub(crate) const fn bits(entry: u32) -> u8 {
    (entry & BITS_MASK) as u8
}

#[inline]
pub(crate) const fn entry(sid: u32, bits: u8) -> u32 {
    (sid << SHIFT) | bits as u32
}

#[derive(Debug, Clone)]
pub(crate) enum EntryList {
    Flat(Vec<u32>),
    Blocks(Vec<Vec<u32>>),
}

impl Default for EntryList {
    fn default() -> Self {
        EntryList::Flat(Vec::new())
    }
}

impl EntryList {
    /// From entries already sorted and unique by session (at most [`BLOCK_MAX`] of them).
    pub(crate) fn from_sorted(entries: Vec<u32>) -> Self {
        debug_assert!(entries.windows(2).all(|w| key(w[0]) < key(w[1])));
        debug_assert!(entries.len() <= BLOCK_MAX);
        EntryList::Flat(entries)
    }

    /// From entries already sorted and unique by session, any number of them.
    pub(crate) fn from_sorted_any(entries: Vec<u32>) -> Self {
        if entries.len() <= BLOCK_MAX {
            return EntryList::Flat(entries);
        }
        EntryList::Blocks(entries.chunks(BLOCK_MAX).map(<[u32]>::to_vec).collect())
    }

    /// The list as sorted blocks (the flat form is a single block).
    pub(crate) fn blocks(&self) -> &[Vec<u32>] {
        match self {
            EntryList::Flat(v) => std::slice::from_ref(v),
            EntryList::Blocks(b) => b,
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.blocks().iter().flatten().copied()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            EntryList::Flat(v) => v.is_empty(),
            EntryList::Blocks(b) => b.is_empty(),
        }
    }

    /// Number of entries; O(number of blocks).
    pub(crate) fn len(&self) -> usize {
        self.blocks().iter().map(Vec::len).sum()
    }

    /// `len() <= n`, stopping early: O(1) for big lists.
    pub(crate) fn len_at_most(&self, n: usize) -> bool {
        let mut total = 0;
        for b in self.blocks() {
            total += b.len();
            if total > n {
                return false;
            }
        }
        true
    }

    /// Kind bits of session `sid`, 0 when absent.
    pub(crate) fn get(&self, sid: u32) -> u8 {
        let block = match self {
            EntryList::Flat(v) => v.as_slice(),
            EntryList::Blocks(blocks) => match blocks.get(block_for(blocks, sid)) {
                Some(b) => b.as_slice(),
                None => return 0,
            },
        };
        match block.binary_search_by_key(&sid, |e| key(*e)) {
            Ok(i) => bits(block[i]),
            Err(_) => 0,
        }
    }

    /// Replaces the bits of `sid` by `f(old)` (0 = absent); returns `(old, new)`.
    pub(crate) fn modify(&mut self, sid: u32, f: impl FnOnce(u8) -> u8) -> (u8, u8) {
        if let EntryList::Flat(v) = self {
            match v.binary_search_by_key(&sid, |e| key(*e)) {
                Ok(i) => {
                    let old = bits(v[i]);
                    let new = f(old) & BITS_MASK as u8;
                    if new == 0 {
                        v.remove(i);
                        shrink_if_sparse(v);
                    } else {
                        v[i] = entry(sid, new);
                    }
                    return (old, new);
                }
                Err(i) => {
                    let new = f(0) & BITS_MASK as u8;
                    if new != 0 && v.len() < BLOCK_MAX {
                        reserve_one(v, 4);
                        v.insert(i, entry(sid, new));
                    } else if new != 0 {
                        let full = std::mem::take(v);
                        *self = EntryList::Blocks(vec![full]);
                        self.insert_blocked(sid, new);
                    }
                    return (0, new);
                }
            }
        }
        let EntryList::Blocks(blocks) = self else {
            return (0, 0);
        };
        let bi = block_for(blocks, sid);
        let Some(block) = blocks.get_mut(bi) else {
            let new = f(0) & BITS_MASK as u8;
            if new != 0 {
                blocks.push(vec![entry(sid, new)]);
            }
            return (0, new);
        };
        match block.binary_search_by_key(&sid, |e| key(*e)) {
            Ok(i) => {
                let old = bits(block[i]);
                let new = f(old) & BITS_MASK as u8;
                if new == 0 {
                    block.remove(i);
                    self.after_removal(bi);
                } else {
                    block[i] = entry(sid, new);
                }
                (old, new)
            }
            Err(_) => {
                let new = f(0) & BITS_MASK as u8;
                if new != 0 {
                    self.insert_blocked(sid, new);
                }
                (0, new)
            }
        }
    }

    /// Rewrites every entry with `f` (which must keep the session part), dropping those left
    /// with no kind bits, in one pass over dense memory.
    pub(crate) fn retain_map(&mut self, mut f: impl FnMut(u32) -> u32) {
        match self {
            EntryList::Flat(v) => {
                compact(v, &mut f);
                shrink_if_sparse(v);
            }
            EntryList::Blocks(blocks) => {
                for b in blocks.iter_mut() {
                    compact(b, &mut f);
                }
                blocks.retain(|b| !b.is_empty());
                let mut i = 0;
                while i + 1 < blocks.len() {
                    if !merge_pair(blocks, i) {
                        i += 1;
                    }
                }
                self.flatten_if_small();
            }
        }
    }

    /// Heap bytes held (capacities).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            EntryList::Flat(v) => v.capacity() * 4,
            EntryList::Blocks(b) => {
                b.capacity() * size_of::<Vec<u32>>()
                    + b.iter().map(|v| v.capacity() * 4).sum::<usize>()
            }
        }
    }

    fn insert_blocked(&mut self, sid: u32, new: u8) {
        let EntryList::Blocks(blocks) = self else {
            return;
        };
        let bi = block_for(blocks, sid);
        let last = blocks.len().saturating_sub(1);
        let Some(block) = blocks.get_mut(bi) else {
            blocks.push(vec![entry(sid, new)]);
            return;
        };
        let i = block.partition_point(|e| key(*e) < sid);
        let e = entry(sid, new);
        if block.len() < BLOCK_MAX {
            reserve_one(block, 4);
            block.insert(i, e);
        } else if bi == last && i == block.len() {
            // Appending past the last full block: start a new one and leave this one full, so
            // sessions registering in id order fill blocks completely.
            blocks.push(vec![e]);
        } else {
            let mid = block.len() / 2;
            let mut right = block[mid..].to_vec();
            block.truncate(mid);
            if i <= mid {
                block.insert(i, e);
            } else {
                right.insert(i - mid, e);
            }
            blocks.insert(bi + 1, right);
        }
    }

    fn after_removal(&mut self, bi: usize) {
        let EntryList::Blocks(blocks) = self else {
            return;
        };
        let len = blocks.get(bi).map_or(usize::MAX, Vec::len);
        if len == 0 {
            blocks.remove(bi);
        } else if len < BLOCK_MIN && !merge_pair(blocks, bi) && bi > 0 {
            merge_pair(blocks, bi - 1);
        }
        self.flatten_if_small();
    }

    fn flatten_if_small(&mut self) {
        if let EntryList::Blocks(blocks) = self
            && blocks.iter().map(Vec::len).sum::<usize>() <= BLOCK_MAX / 2
        {
            let flat: Vec<u32> = blocks.iter().flatten().copied().collect();
            *self = EntryList::Flat(flat);
        }
    }
}

/// Index of the block that holds, or should receive, session `sid` (may be `blocks.len()` only
/// when there are no blocks).
fn block_for(blocks: &[Vec<u32>], sid: u32) -> usize {
    let i = blocks.partition_point(|b| b.last().is_some_and(|e| key(*e) < sid));
    i.min(blocks.len().saturating_sub(1))
}

/// Merges blocks `i` and `i + 1` when one of them is small and the result fits in 3/4 of a block.
fn merge_pair(blocks: &mut Vec<Vec<u32>>, i: usize) -> bool {
    let (Some(a), Some(b)) = (blocks.get(i), blocks.get(i + 1)) else {
        return false;
    };
    if (a.len() >= BLOCK_MIN && b.len() >= BLOCK_MIN) || a.len() + b.len() > BLOCK_MAX * 3 / 4 {
        return false;
    }
    let right = blocks.remove(i + 1);
    if let Some(left) = blocks.get_mut(i) {
        left.extend_from_slice(&right);
    }
    true
}

#[inline]
fn compact(v: &mut Vec<u32>, f: &mut impl FnMut(u32) -> u32) {
    v.retain_mut(|e| {
        let n = f(*e);
        debug_assert!(bits(n) == 0 || key(n) == key(*e));
        *e = n;
        bits(n) != 0
    });
}

/// Gives memory back after a list shrank to a quarter of its capacity.
fn shrink_if_sparse(v: &mut Vec<u32>) {
    if v.capacity() >= 16 && v.len() * 4 < v.capacity() {
        v.shrink_to(v.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn check(list: &EntryList) {
        let all: Vec<u32> = list.iter().collect();
        assert!(all.windows(2).all(|w| key(w[0]) < key(w[1])), "sorted");
        assert!(all.iter().all(|e| bits(*e) != 0), "no empty entries");
        if let EntryList::Blocks(b) = list {
            assert!(!b.is_empty());
            assert!(b.iter().all(|v| !v.is_empty() && v.len() <= BLOCK_MAX));
        } else {
            assert!(all.len() <= BLOCK_MAX);
        }
    }

    #[test]
    fn ascending_inserts_fill_blocks() {
        let mut l = EntryList::default();
        for sid in 0..(BLOCK_MAX as u32 * 5) {
            l.modify(sid, |_| 1);
        }
        check(&l);
        let EntryList::Blocks(b) = &l else {
            panic!("expected blocks")
        };
        assert_eq!(b.len(), 5);
        assert!(b.iter().all(|v| v.len() == BLOCK_MAX));
    }

    #[test]
    fn removing_everything_flattens() {
        let mut l = EntryList::default();
        for sid in (0..200u32).rev() {
            l.modify(sid * 3, |_| 2);
        }
        check(&l);
        for sid in 0..200u32 {
            assert_eq!(l.modify(sid * 3, |_| 0), (2, 0));
            check(&l);
        }
        assert!(l.is_empty());
        assert!(matches!(l, EntryList::Flat(_)));
    }

    proptest! {
        #[test]
        fn behaves_like_a_map(ops in prop::collection::vec((0u32..64, 0u8..16, any::<bool>()), 0..400)) {
            let mut l = EntryList::default();
            let mut m: BTreeMap<u32, u8> = BTreeMap::new();
            for (sid, b, scan) in ops {
                if scan {
                    // Clear bit `b & 3` everywhere, as a trigger consumes one-shot bits.
                    let clear = 1u8 << (b & 3);
                    l.retain_map(|e| entry(key(e), bits(e) & !clear));
                    m.retain(|_, v| { *v &= !clear; *v != 0 });
                } else {
                    let old = m.get(&sid).copied().unwrap_or(0);
                    prop_assert_eq!(l.modify(sid, |o| { assert_eq!(o, old); b }), (old, b));
                    if b == 0 { m.remove(&sid); } else { m.insert(sid, b); }
                }
                check(&l);
                prop_assert_eq!(l.len(), m.len());
                prop_assert!(l.len_at_most(m.len()));
                prop_assert!(m.is_empty() || !l.len_at_most(m.len() - 1));
                for s in 0..64 {
                    prop_assert_eq!(l.get(s), m.get(&s).copied().unwrap_or(0));
                }
            }
        }
    }
}
