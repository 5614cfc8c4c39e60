//! Sessions that hold watches, mapped to dense `u32` indexes (slots).
//!
//! A slot keeps the session's counters and its list of path ids, which lets the index drop a
//! session's watches without looking at any other session. The list is cleaned lazily: an entry
//! that fired or was removed leaves its path id behind, and a path id may repeat; the list is
//! cleaned when it grows past twice the session's live path count (plus a constant), so it never
//! holds more than about twice the ids it needs.
//!
//! A session whose last watch fired stays mapped ("idle") so that the usual fire-then-re-register
//! cycle does not churn the map; idle slots are swept once they outnumber the live ones.
//! Invariants: `live` counts mapped slots with watches, `idle` mapped slots without; an idle
//! slot's list is empty; a free slot is unmapped, has no watches and an empty list.

use std::collections::HashMap;

use crate::error::CapacityError;
use crate::hash::FxBuild;
use crate::set::MAX_SID;

#[cfg(not(test))]
const SWEEP_MIN: usize = 4096;
#[cfg(test)]
const SWEEP_MIN: usize = 2;
/// Slack allowed in a path list before it is cleaned.
#[cfg(not(test))]
pub(crate) const LIST_SLACK: usize = 16;
#[cfg(test)]
pub(crate) const LIST_SLACK: usize = 2;

#[derive(Debug, Clone, Default)]
pub(crate) struct Slot {
    pub(crate) id: i64,
    /// Path ids this session has (or had) entries on; see the module docs.
    pub(crate) list: Vec<u32>,
    /// Registrations (kinds) held.
    pub(crate) watches: u32,
    /// Paths with an entry for this session.
    pub(crate) paths: u32,
    /// Epoch of the last trigger that notified this session (dedupe).
    pub(crate) mark: u32,
    pub(crate) mapped: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Sessions {
    map: HashMap<i64, u32, FxBuild>,
    pub(crate) slots: Vec<Slot>,
    free: Vec<u32>,
    pub(crate) live: usize,
    pub(crate) idle: usize,
    epoch: u32,
}

impl Sessions {
    pub(crate) fn find(&self, id: i64) -> Option<u32> {
        self.map.get(&id).copied()
    }

    pub(crate) fn slot(&self, sid: u32) -> Option<&Slot> {
        self.slots.get(sid as usize)
    }

    /// The slot of `id`, mapping a new (idle) one if needed; `Ok((sid, true))` when new.
    pub(crate) fn find_or_insert(&mut self, id: i64) -> Result<(u32, bool), CapacityError> {
        if let Some(sid) = self.find(id) {
            return Ok((sid, false));
        }
        let sid = match self.free.pop() {
            Some(sid) => sid,
            None => {
                if self.slots.len() > MAX_SID as usize {
                    return Err(CapacityError::Sessions);
                }
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        if let Some(s) = self.slots.get_mut(sid as usize) {
            *s = Slot {
                id,
                mapped: true,
                ..Slot::default()
            };
        }
        self.map.insert(id, sid);
        self.idle += 1;
        Ok((sid, true))
    }

    /// Records `n` registrations added to a slot.
    pub(crate) fn gained(&mut self, sid: u32, n: u32) {
        if let Some(s) = self.slots.get_mut(sid as usize) {
            if s.watches == 0 && n > 0 {
                self.idle -= 1;
                self.live += 1;
            }
            s.watches += n;
        }
    }

    /// Records `n` registrations dropped from a slot; an emptied slot turns idle.
    pub(crate) fn lost(&mut self, sid: u32, n: u32) {
        if let Some(s) = self.slots.get_mut(sid as usize) {
            lose(s, n, &mut self.live, &mut self.idle);
        }
    }

    /// Unmaps a session; returns its slot index and path list.
    pub(crate) fn remove(&mut self, id: i64) -> Option<(u32, Vec<u32>)> {
        let sid = self.map.remove(&id)?;
        let s = self.slots.get_mut(sid as usize)?;
        let list = std::mem::take(&mut s.list);
        if s.watches > 0 {
            self.live -= 1;
        } else {
            self.idle -= 1;
        }
        *s = Slot::default();
        self.free.push(sid);
        Some((sid, list))
    }

    /// Frees idle slots once they outnumber live ones.
    pub(crate) fn sweep_if_needed(&mut self) {
        if self.idle <= SWEEP_MIN.max(self.live) {
            return;
        }
        for (sid, s) in self.slots.iter_mut().enumerate() {
            if s.mapped && s.watches == 0 {
                self.map.remove(&s.id);
                *s = Slot::default();
                self.free.push(sid as u32);
            }
        }
        self.idle = 0;
        if self.map.capacity() > 4 * self.map.len() + 64 {
            self.map.shrink_to(self.map.len() * 2);
        }
    }

    /// A fresh dedupe epoch: no slot's mark equals it.
    pub(crate) fn next_epoch(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            for s in &mut self.slots {
                s.mark = 0;
            }
            self.epoch = 1;
        }
        self.epoch
    }

    /// Heap bytes of (map and slots, path lists).
    pub(crate) fn heap_parts(&self) -> (usize, usize) {
        // A std HashMap holds capacity * 8/7 buckets (rounded to a power of two) of the entry
        // plus one control byte each.
        let buckets = if self.map.capacity() == 0 {
            0
        } else {
            (self.map.capacity() * 8 / 7).next_power_of_two()
        };
        (
            buckets * (size_of::<(i64, u32)>() + 1)
                + self.slots.capacity() * size_of::<Slot>()
                + self.free.capacity() * 4,
            self.slots
                .iter()
                .map(|s| s.list.capacity() * 4)
                .sum::<usize>(),
        )
    }

    /// Checks the invariants; test support.
    #[cfg(test)]
    pub(crate) fn check(&self) {
        assert_eq!(self.map.len(), self.live + self.idle);
        for (id, sid) in &self.map {
            let s = &self.slots[*sid as usize];
            assert!(s.mapped);
            assert_eq!(s.id, *id);
            assert!(s.watches > 0 || s.list.is_empty());
            assert!(s.paths <= s.watches);
        }
        assert_eq!(
            self.slots
                .iter()
                .filter(|s| s.mapped && s.watches > 0)
                .count(),
            self.live
        );
        for sid in &self.free {
            let s = &self.slots[*sid as usize];
            assert!(!s.mapped && s.list.is_empty() && s.watches == 0);
        }
    }
}

/// [`Sessions::lost`] on a borrowed slot, for loops that already hold the slot table.
#[inline]
pub(crate) fn lose(s: &mut Slot, n: u32, live: &mut usize, idle: &mut usize) {
    if n == 0 || s.watches == 0 {
        return;
    }
    s.watches = s.watches.saturating_sub(n);
    if s.watches == 0 {
        s.list.clear();
        s.paths = 0;
        *live -= 1;
        *idle += 1;
    }
}
