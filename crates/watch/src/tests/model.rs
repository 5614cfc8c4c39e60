//! Property: random sequences of add/remove/contains/trigger/remove_session give the same
//! answers, notified sets and counts as a naive model, a map from (path, session) to kinds
//! with ZooKeeper's rules written out directly.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use watchkeeper_proto::{EventType, WatcherType};

use crate::{Kinds, WatchIndex, WatchKind};

const PATHS: &[&str] = &[
    "/", "/a", "/a/b", "/a/b/c", "/a/bc", "/ab", "/x/y", "/x/y/z/w",
];
/// Enough sessions that sets outgrow the inline form and (with tests' 8-entry blocks) span
/// several blocks.
const SESSIONS: usize = 40;
const D: u8 = Kinds::DATA.bits();
const C: u8 = Kinds::CHILD.bits();
const P: u8 = Kinds::PERSISTENT.bits();
const R: u8 = Kinds::RECURSIVE.bits();

fn session(i: usize) -> i64 {
    // Spread over the i64 range, negatives included.
    (i as i64 - 7).wrapping_mul(0x0123_4567_89ab_cdef)
}

#[derive(Debug, Clone)]
enum Op {
    Add(usize, usize, WatchKind),
    Remove(usize, usize, WatcherType),
    Contains(usize, usize, WatcherType),
    Trigger(usize, EventType),
    RemoveSession(usize),
}

/// `paths`: how many of [`PATHS`] to use; `rec_weight`: weight of recursive watches among adds
/// (data, child and persistent weigh 10 each).
fn op(paths: usize, rec_weight: u32) -> impl Strategy<Value = Op> {
    let path = 0..paths;
    let sess = 0..SESSIONS;
    let kind = prop_oneof![
        10 => Just(WatchKind::Data),
        10 => Just(WatchKind::Child),
        10 => Just(WatchKind::Persistent),
        rec_weight => Just(WatchKind::PersistentRecursive),
    ];
    let which = prop::sample::select(WatcherType::ALL.to_vec());
    let event = prop::sample::select(vec![
        EventType::NodeCreated,
        EventType::NodeDeleted,
        EventType::NodeDataChanged,
        EventType::NodeChildrenChanged,
        EventType::None,
    ]);
    prop_oneof![
        8 => (path.clone(), sess.clone(), kind).prop_map(|(p, s, k)| Op::Add(p, s, k)),
        2 => (path.clone(), sess.clone(), which.clone()).prop_map(|(p, s, w)| Op::Remove(p, s, w)),
        1 => (path.clone(), sess.clone(), which).prop_map(|(p, s, w)| Op::Contains(p, s, w)),
        3 => (path, event).prop_map(|(p, e)| Op::Trigger(p, e)),
        1 => sess.prop_map(Op::RemoveSession),
    ]
}

#[derive(Default)]
struct Model {
    w: BTreeMap<(&'static str, i64), u8>,
}

fn kind_bit(k: WatchKind) -> u8 {
    match k {
        WatchKind::Data => D,
        WatchKind::Child => C,
        WatchKind::Persistent => P,
        WatchKind::PersistentRecursive => R,
    }
}

fn type_mask(w: WatcherType) -> u8 {
    match w {
        WatcherType::Children => C,
        WatcherType::Data => D,
        WatcherType::Persistent => P,
        WatcherType::PersistentRecursive => R,
        WatcherType::Any => D | C | P | R,
    }
}

fn is_proper_ancestor(a: &str, p: &str) -> bool {
    a != p && (a == "/" || p.starts_with(&format!("{a}/")))
}

impl Model {
    fn add(&mut self, p: &'static str, s: i64, k: WatchKind) -> bool {
        let e = self.w.entry((p, s)).or_default();
        let new = *e & kind_bit(k) == 0;
        *e |= kind_bit(k);
        new
    }

    fn remove(&mut self, p: &'static str, s: i64, w: WatcherType) -> u8 {
        let Some(e) = self.w.get_mut(&(p, s)) else {
            return 0;
        };
        let removed = *e & type_mask(w);
        *e &= !type_mask(w);
        if *e == 0 {
            self.w.remove(&(p, s));
        }
        removed
    }

    fn trigger(&mut self, path: &str, ev: EventType) -> BTreeSet<i64> {
        let (on_path, consume, up) = match ev {
            EventType::NodeCreated | EventType::NodeDataChanged => (D | P | R, D, true),
            EventType::NodeDeleted => (D | C | P | R, D | C, true),
            EventType::NodeChildrenChanged => (C | P, C, false),
            _ => return BTreeSet::new(),
        };
        let mut out = BTreeSet::new();
        for ((p, s), bits) in self.w.iter_mut() {
            if *p == path && *bits & on_path != 0 {
                out.insert(*s);
                *bits &= !consume;
            } else if up && *bits & R != 0 && is_proper_ancestor(p, path) {
                out.insert(*s);
            }
        }
        self.w.retain(|_, b| *b != 0);
        out
    }

    fn counts(&self) -> (usize, usize, usize, usize) {
        let watches = self.w.values().map(|b| b.count_ones() as usize).sum();
        let paths: BTreeSet<_> = self.w.keys().map(|k| k.0).collect();
        let sessions: BTreeSet<_> = self.w.keys().map(|k| k.1).collect();
        let zk = self
            .w
            .values()
            .map(|b| (b & (D | P | R) != 0) as usize + (b & (C | P) != 0) as usize)
            .sum();
        (watches, paths.len(), sessions.len(), zk)
    }
}

fn counts(idx: &WatchIndex) -> (usize, usize, usize, usize) {
    (
        idx.watch_count(),
        idx.path_count(),
        idx.session_count(),
        idx.zk_watch_count(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn index_matches_naive_model(ops in prop::collection::vec(op(PATHS.len(), 10), 1..300)) {
        run(ops)?;
    }

    /// Few paths, rare recursive watches: big sets switch between keeping a separate list of
    /// their recursive watchers and not.
    #[test]
    fn index_matches_naive_model_with_rare_recursive_watches(
        ops in prop::collection::vec(op(3, 1), 1..400)
    ) {
        run(ops)?;
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut idx = WatchIndex::new();
    let mut m = Model::default();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Add(p, s, k) => {
                prop_assert_eq!(
                    idx.add(PATHS[p], session(s), k),
                    m.add(PATHS[p], session(s), k)
                );
            }
            Op::Remove(p, s, w) => {
                prop_assert_eq!(
                    idx.remove(PATHS[p], session(s), w).bits(),
                    m.remove(PATHS[p], session(s), w)
                );
            }
            Op::Contains(p, s, w) => {
                let want =
                    m.w.get(&(PATHS[p], session(s)))
                        .is_some_and(|b| b & type_mask(w) != 0);
                prop_assert_eq!(idx.contains(PATHS[p], session(s), w), want);
            }
            Op::Trigger(p, e) => {
                let mut out = vec![];
                idx.trigger(PATHS[p], e, &mut out);
                let got: BTreeSet<i64> = out.iter().copied().collect();
                prop_assert_eq!(got.len(), out.len(), "duplicate notification");
                prop_assert_eq!(got, m.trigger(PATHS[p], e));
            }
            Op::RemoveSession(s) => {
                idx.remove_session(session(s));
                m.w.retain(|k, _| k.1 != session(s));
            }
        }
        idx.check();
        prop_assert_eq!(counts(&idx), m.counts());
        for s in 0..SESSIONS {
            let want: usize =
                m.w.iter()
                    .filter(|(k, _)| k.1 == session(s))
                    .map(|(_, b)| b.count_ones() as usize)
                    .sum();
            prop_assert_eq!(idx.session_watch_count(session(s)), want);
        }
        if step % 16 == 0 {
            let mut by_path: Vec<(String, Vec<i64>)> = idx.by_path();
            by_path.iter_mut().for_each(|(_, s)| s.sort());
            by_path.sort();
            let mut want: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            for (p, s) in m.w.keys() {
                want.entry(p.to_string()).or_default().push(*s);
            }
            want.values_mut().for_each(|v| v.sort());
            prop_assert_eq!(by_path, want.into_iter().collect::<Vec<_>>());
            let mut by_s: Vec<(i64, Vec<String>)> = idx.by_session();
            by_s.iter_mut().for_each(|(_, p)| p.sort());
            by_s.sort();
            let mut want: BTreeMap<i64, Vec<String>> = BTreeMap::new();
            for (p, s) in m.w.keys() {
                want.entry(*s).or_default().push(p.to_string());
            }
            want.values_mut().for_each(|v| v.sort());
            prop_assert_eq!(by_s, want.into_iter().collect::<Vec<_>>());
        }
    }
    Ok(())
}
