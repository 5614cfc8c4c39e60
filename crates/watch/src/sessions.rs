//! Sessions that hold watches, mapped to dense `u32` indexes (slots).
//!
//! Per slot, in separate dense arrays so that a fan-out to 100,000 sessions streams through
//! memory: the session id (read for every notification), the dedupe mark (written only when a
//! trigger walks ancestors) and the rest ([`Slot`]: counters and the list of path ids, which lets
//! the index drop a session's watches without looking at any other session).
//!
//! The path list is cleaned lazily: an entry that fired or was removed leaves its path id behind,
//! and a path id may repeat; the list is cleaned when it grows past twice the session's live path
//! count (plus a constant), so it holds at most about twice the ids it needs.
//!
//! A session whose last watch fired stays mapped ("idle"), so the usual fire-then-re-register
//! cycle does not churn the map. While idle slots outnumber live ones, every operation advances a
//! sweep cursor over [`SWEEP_STEP`] slots and frees those idle for at least `W` operations (`W` =
//! the number of slots, at least [`SWEEP_MIN`]): sweeping costs O(1) per operation, never a
//! burst, and a slot idle that long is freed within about `W + slots / SWEEP_STEP` operations.
//!
//! Invariants: `live` counts mapped slots with watches, `idle` mapped slots without; an idle
//! slot's list is empty and its `paths` is 0; a free slot is unmapped, has no watches and an
//! empty list; `ids`, `marks` and `slots` have the same length.

use std::collections::HashMap;

use crate::error::CapacityError;
use crate::hash::FxBuild;
use crate::set::MAX_SID;

#[cfg(not(test))]
const SWEEP_MIN: u32 = 4096;
#[cfg(test)]
const SWEEP_MIN: u32 = 2;
/// Slots examined per operation while sweeping.
const SWEEP_STEP: usize = 4;
/// Slack allowed in a path list before it is cleaned.
#[cfg(not(test))]
pub(crate) const LIST_SLACK: usize = 16;
#[cfg(test)]
pub(crate) const LIST_SLACK: usize = 2;

#[derive(Debug, Clone, Default)]
pub(crate) struct Slot {
    /// Path ids this session has (or had) entries on; see the module docs.
    pub(crate) list: Vec<u32>,
    /// Registrations (kinds) held.
    pub(crate) watches: u32,
    /// Paths with an entry for this session.
    pub(crate) paths: u32,
    /// Operation clock when the slot last turned idle.
    idle_since: u32,
    pub(crate) mapped: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Sessions {
    map: HashMap<i64, u32, FxBuild>,
    /// Session id per slot.
    pub(crate) ids: Vec<i64>,
    /// Epoch of the last trigger that notified the slot (dedupe across ancestors).
    pub(crate) marks: Vec<u32>,
    pub(crate) slots: Vec<Slot>,
    free: Vec<u32>,
    pub(crate) live: usize,
    pub(crate) idle: usize,
    epoch: u32,
    /// Counts operations, for the sweep.
    pub(crate) clock: u32,
    cursor: usize,
}

impl Sessions {
    pub(crate) fn find(&self, id: i64) -> Option<u32> {
        self.map.get(&id).copied()
    }

    pub(crate) fn slot(&self, sid: u32) -> Option<&Slot> {
        self.slots.get(sid as usize)
    }

    /// The session id of a slot (0 for an unknown slot).
    pub(crate) fn id(&self, sid: u32) -> i64 {
        self.ids.get(sid as usize).copied().unwrap_or(0)
    }

    /// Advances the operation clock and the idle sweep; called once per public operation.
    pub(crate) fn tick(&mut self) {
        self.clock = self.clock.wrapping_add(1);
        self.sweep_step();
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
                self.ids.push(0);
                self.marks.push(0);
                (self.slots.len() - 1) as u32
            }
        };
        if let (Some(s), Some(i), Some(m)) = (
            self.slots.get_mut(sid as usize),
            self.ids.get_mut(sid as usize),
            self.marks.get_mut(sid as usize),
        ) {
            *s = Slot {
                mapped: true,
                idle_since: self.clock,
                ..Slot::default()
            };
            *i = id;
            *m = 0;
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
            lose(s, n, &mut self.live, &mut self.idle, self.clock);
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

    /// One step of the idle sweep (see the module docs); called once per operation.
    pub(crate) fn sweep_step(&mut self) {
        if self.idle <= (SWEEP_MIN as usize).max(self.live) || self.slots.is_empty() {
            return;
        }
        let window = SWEEP_MIN.max(self.slots.len().min(u32::MAX as usize) as u32);
        for _ in 0..SWEEP_STEP {
            self.cursor = (self.cursor + 1) % self.slots.len();
            let sid = self.cursor;
            let Some(s) = self.slots.get_mut(sid) else {
                continue;
            };
            if s.mapped && s.watches == 0 && self.clock.wrapping_sub(s.idle_since) >= window {
                if let Some(id) = self.ids.get(sid) {
                    self.map.remove(id);
                }
                *s = Slot::default();
                self.free.push(sid as u32);
                self.idle -= 1;
            }
        }
        if self.cursor == 0 && self.map.capacity() > 4 * self.map.len() + 64 {
            self.map.shrink_to(self.map.len() * 2);
        }
    }

    /// A fresh dedupe epoch: no slot's mark equals it.
    pub(crate) fn next_epoch(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
        self.epoch
    }

    /// Heap bytes of (map and per-slot arrays, path lists).
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
                + self.ids.capacity() * 8
                + self.marks.capacity() * 4
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
        assert_eq!(self.ids.len(), self.slots.len());
        assert_eq!(self.marks.len(), self.slots.len());
        for (id, sid) in &self.map {
            let s = &self.slots[*sid as usize];
            assert!(s.mapped);
            assert_eq!(self.ids[*sid as usize], *id);
            assert!(s.watches > 0 || (s.list.is_empty() && s.paths == 0));
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
pub(crate) fn lose(s: &mut Slot, n: u32, live: &mut usize, idle: &mut usize, clock: u32) {
    if n == 0 || s.watches == 0 {
        return;
    }
    s.watches = s.watches.saturating_sub(n);
    if s.watches == 0 {
        s.list.clear();
        s.paths = 0;
        s.idle_since = clock;
        *live -= 1;
        *idle += 1;
    }
}
