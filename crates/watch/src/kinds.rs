//! Watch kinds, the small bitset of kinds one session holds on one path, and the mapping from
//! ZooKeeper's `WatcherType` (removeWatches/checkWatches) and `EventType` (triggers) to bits.
//!
//! The four kinds are independent: one session may hold any combination on one path, and each
//! is added, removed and fired on its own (ZooKeeper 3.9's `WatchStats`).

use watchkeeper_proto::{EventType, WatcherType};

/// Kind of a registered watch. `exists` and `getData` both register [`WatchKind::Data`]: ZooKeeper's
/// server keeps them in one set and treats them alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchKind {
    /// One-shot data watch (`getData`, `exists`).
    Data,
    /// One-shot child watch (`getChildren`, `getChildren2`).
    Child,
    /// `addWatch` mode 0: data and child changes of the path itself; stays after firing.
    Persistent,
    /// `addWatch` mode 1: created/deleted/data-changed of the path and every descendant; stays.
    PersistentRecursive,
}

impl WatchKind {
    /// Every kind, in bit order.
    pub const ALL: [WatchKind; 4] = [
        WatchKind::Data,
        WatchKind::Child,
        WatchKind::Persistent,
        WatchKind::PersistentRecursive,
    ];

    pub(crate) const fn bit(self) -> u8 {
        match self {
            WatchKind::Data => Kinds::DATA.0,
            WatchKind::Child => Kinds::CHILD.0,
            WatchKind::Persistent => Kinds::PERSISTENT.0,
            WatchKind::PersistentRecursive => Kinds::RECURSIVE.0,
        }
    }
}

/// A set of [`WatchKind`]s, four bits. Returned by [`crate::WatchIndex::remove`] as [`Removed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Kinds(u8);

/// What [`crate::WatchIndex::remove`] removed; empty means ZooKeeper's `NoWatcher`.
pub type Removed = Kinds;

impl Kinds {
    pub const NONE: Kinds = Kinds(0);
    pub const DATA: Kinds = Kinds(1);
    pub const CHILD: Kinds = Kinds(2);
    pub const PERSISTENT: Kinds = Kinds(4);
    pub const RECURSIVE: Kinds = Kinds(8);
    pub const ALL: Kinds = Kinds(15);

    /// The bits as stored in an index entry (low four bits).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Keeps only the four defined bits.
    pub const fn from_bits(bits: u8) -> Kinds {
        Kinds(bits & Kinds::ALL.0)
    }

    pub const fn of(kind: WatchKind) -> Kinds {
        Kinds(kind.bit())
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn contains(self, kind: WatchKind) -> bool {
        self.0 & kind.bit() != 0
    }

    pub const fn intersects(self, other: Kinds) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn union(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }

    /// Number of kinds in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The kinds in the set, in [`WatchKind::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = WatchKind> {
        WatchKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }

    /// The kinds a removeWatches/checkWatches request of this type addresses (ZooKeeper 3.9
    /// `DataTree.removeWatch`): `Any` covers all four, including persistent and recursive.
    pub const fn for_watcher_type(which: WatcherType) -> Kinds {
        match which {
            WatcherType::Children => Kinds::CHILD,
            WatcherType::Data => Kinds::DATA,
            WatcherType::Persistent => Kinds::PERSISTENT,
            WatcherType::PersistentRecursive => Kinds::RECURSIVE,
            WatcherType::Any => Kinds::ALL,
        }
    }

    /// ZooKeeper counts a (session, path) pair once in its data-watch manager when it holds a
    /// data, persistent or recursive watch, and once in its child-watch manager when it holds a
    /// child or persistent watch; `mntr`'s `zk_watch_count` is the sum of both.
    pub(crate) const fn zk_weight(bits: u8) -> usize {
        let data_side = bits & (Kinds::DATA.0 | Kinds::PERSISTENT.0 | Kinds::RECURSIVE.0) != 0;
        let child_side = bits & (Kinds::CHILD.0 | Kinds::PERSISTENT.0) != 0;
        data_side as usize + child_side as usize
    }
}

impl From<WatchKind> for Kinds {
    fn from(kind: WatchKind) -> Kinds {
        Kinds::of(kind)
    }
}

impl FromIterator<WatchKind> for Kinds {
    fn from_iter<I: IntoIterator<Item = WatchKind>>(iter: I) -> Kinds {
        iter.into_iter()
            .fold(Kinds::NONE, |acc, k| acc.union(Kinds::of(k)))
    }
}

/// What one event does: which kinds on the changed path fire, which of those are consumed
/// (one-shot), and whether recursive watches on the ancestors fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Firing {
    pub on_path: u8,
    pub consume: u8,
    pub ancestors: bool,
}

impl Firing {
    /// ZooKeeper 3.9 `DataTree`: create/delete/setData trigger the data-watch manager on the path
    /// (data, persistent and recursive watches there, recursive on ancestors); delete also triggers
    /// the child-watch manager on the path (child and persistent); a child change triggers only the
    /// child-watch manager (child and persistent, never recursive). Events that the server never
    /// raises from a change (`None`, the `*WatchRemoved` types) fire nothing.
    pub(crate) const fn of(event: EventType) -> Option<Firing> {
        const D: u8 = Kinds::DATA.0;
        const C: u8 = Kinds::CHILD.0;
        const P: u8 = Kinds::PERSISTENT.0;
        const R: u8 = Kinds::RECURSIVE.0;
        match event {
            EventType::NodeCreated | EventType::NodeDataChanged => Some(Firing {
                on_path: D | P | R,
                consume: D,
                ancestors: true,
            }),
            EventType::NodeDeleted => Some(Firing {
                on_path: D | C | P | R,
                consume: D | C,
                ancestors: true,
            }),
            EventType::NodeChildrenChanged => Some(Firing {
                on_path: C | P,
                consume: C,
                ancestors: false,
            }),
            EventType::None
            | EventType::DataWatchRemoved
            | EventType::ChildWatchRemoved
            | EventType::PersistentWatchRemoved => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watcher_types_map_to_kinds() {
        assert_eq!(Kinds::for_watcher_type(WatcherType::Children), Kinds::CHILD);
        assert_eq!(Kinds::for_watcher_type(WatcherType::Data), Kinds::DATA);
        assert_eq!(Kinds::for_watcher_type(WatcherType::Any), Kinds::ALL);
        assert_eq!(
            Kinds::for_watcher_type(WatcherType::PersistentRecursive),
            Kinds::RECURSIVE
        );
    }

    #[test]
    fn kinds_iterate_and_collect() {
        let k: Kinds = [WatchKind::Child, WatchKind::PersistentRecursive]
            .into_iter()
            .collect();
        assert_eq!(k.len(), 2);
        assert_eq!(
            k.iter().collect::<Vec<_>>(),
            vec![WatchKind::Child, WatchKind::PersistentRecursive]
        );
        assert!(k.contains(WatchKind::Child));
        assert!(!k.contains(WatchKind::Data));
        assert_eq!(Kinds::from_bits(0xff), Kinds::ALL);
    }

    #[test]
    fn zk_weight_counts_both_managers_for_persistent() {
        assert_eq!(Kinds::zk_weight(Kinds::DATA.0), 1);
        assert_eq!(Kinds::zk_weight(Kinds::CHILD.0), 1);
        assert_eq!(Kinds::zk_weight(Kinds::PERSISTENT.0), 2);
        assert_eq!(Kinds::zk_weight(Kinds::RECURSIVE.0), 1);
        assert_eq!(Kinds::zk_weight(Kinds::DATA.0 | Kinds::RECURSIVE.0), 1);
        assert_eq!(Kinds::zk_weight(0), 0);
    }

    #[test]
    fn child_changes_never_reach_recursive_watches() {
        let f = Firing::of(EventType::NodeChildrenChanged).unwrap();
        assert_eq!(f.on_path & Kinds::RECURSIVE.0, 0);
        assert!(!f.ancestors);
        assert!(Firing::of(EventType::None).is_none());
    }
}
