//! The trigger, removal and counting rules, case by case, as ZooKeeper 3.9 behaves.

use watchkeeper_proto::{EventType, WatcherType};

use crate::{Kinds, WatchIndex, WatchKind};

use EventType::{NodeChildrenChanged, NodeCreated, NodeDataChanged, NodeDeleted};
use WatchKind::{Child, Data, Persistent, PersistentRecursive};

fn fire(idx: &mut WatchIndex, path: &str, event: EventType) -> Vec<i64> {
    let mut out = Vec::new();
    idx.trigger(path, event, &mut out);
    idx.check();
    let n = out.len();
    out.sort_unstable();
    out.dedup();
    assert_eq!(out.len(), n, "a session was notified twice");
    out
}

/// Session 1: data, 2: child, 3: persistent on /a/b; 4: recursive on /a/b, 5: recursive on /a,
/// 6: recursive on /, 7: persistent on /a (must not see /a/b's events), 8: data on /a.
fn scene() -> WatchIndex {
    let mut idx = WatchIndex::new();
    for (p, s, k) in [
        ("/a/b", 1, Data),
        ("/a/b", 2, Child),
        ("/a/b", 3, Persistent),
        ("/a/b", 4, PersistentRecursive),
        ("/a", 5, PersistentRecursive),
        ("/", 6, PersistentRecursive),
        ("/a", 7, Persistent),
        ("/a", 8, Data),
    ] {
        assert!(idx.add(p, s, k));
    }
    idx.check();
    idx
}

#[test]
fn node_created_fires_data_persistent_and_recursive_up_the_tree() {
    let mut idx = scene();
    assert_eq!(fire(&mut idx, "/a/b", NodeCreated), [1, 3, 4, 5, 6]);
    assert!(
        !idx.contains("/a/b", 1, WatcherType::Data),
        "one-shot consumed"
    );
    assert!(
        idx.contains("/a/b", 2, WatcherType::Children),
        "child watch untouched"
    );
    assert_eq!(fire(&mut idx, "/a/b", NodeCreated), [3, 4, 5, 6]);
}

#[test]
fn node_deleted_fires_data_and_child_watches() {
    let mut idx = scene();
    assert_eq!(fire(&mut idx, "/a/b", NodeDeleted), [1, 2, 3, 4, 5, 6]);
    assert_eq!(idx.kinds("/a/b", 1), Kinds::NONE);
    assert_eq!(idx.kinds("/a/b", 2), Kinds::NONE);
    assert_eq!(idx.kinds("/a/b", 3), Kinds::PERSISTENT);
    assert_eq!(idx.kinds("/a/b", 4), Kinds::RECURSIVE);
}

#[test]
fn data_change_does_not_fire_child_or_ancestor_non_recursive_watches() {
    let mut idx = scene();
    assert_eq!(fire(&mut idx, "/a/b", NodeDataChanged), [1, 3, 4, 5, 6]);
    assert_eq!(fire(&mut idx, "/a/b/c/d", NodeDataChanged), [4, 5, 6]);
    assert_eq!(fire(&mut idx, "/a", NodeDataChanged), [5, 6, 7, 8]);
}

#[test]
fn child_change_never_fires_recursive_watches() {
    let mut idx = scene();
    assert_eq!(fire(&mut idx, "/a/b", NodeChildrenChanged), [2, 3]);
    assert_eq!(fire(&mut idx, "/a/b", NodeChildrenChanged), [3]);
    assert_eq!(fire(&mut idx, "/", NodeChildrenChanged), Vec::<i64>::new());
}

#[test]
fn one_notification_per_session_however_many_watches_match() {
    let mut idx = WatchIndex::new();
    for k in WatchKind::ALL {
        assert!(idx.add("/x/y", 9, k));
    }
    idx.add("/x", 9, PersistentRecursive);
    idx.add("/", 9, PersistentRecursive);
    assert_eq!(idx.watch_count(), 6);
    assert_eq!(idx.path_count(), 3);
    assert_eq!(fire(&mut idx, "/x/y", NodeDeleted), [9]);
    assert_eq!(
        idx.kinds("/x/y", 9),
        Kinds::PERSISTENT.union(Kinds::RECURSIVE)
    );
    assert_eq!(idx.watch_count(), 4);
    assert_eq!(idx.session_watch_count(9), 4);
}

#[test]
fn other_events_fire_nothing() {
    let mut idx = scene();
    for e in [
        EventType::None,
        EventType::DataWatchRemoved,
        EventType::ChildWatchRemoved,
        EventType::PersistentWatchRemoved,
    ] {
        assert!(fire(&mut idx, "/a/b", e).is_empty());
    }
    assert_eq!(idx.watch_count(), 8);
}

#[test]
fn add_is_idempotent_per_kind() {
    let mut idx = WatchIndex::new();
    assert!(idx.add("/p", 1, Data));
    assert!(!idx.add("/p", 1, Data));
    assert!(idx.add("/p", 1, Child));
    assert_eq!(idx.watch_count(), 2);
    assert_eq!(idx.session_count(), 1);
    assert_eq!(idx.path_count(), 1);
    idx.check();
}

#[test]
fn remove_by_watcher_type() {
    let mut idx = WatchIndex::new();
    for k in WatchKind::ALL {
        idx.add("/p", 1, k);
    }
    // ZOOKEEPER-4471: Data and Children leave a persistent watch alone.
    assert_eq!(idx.remove("/p", 1, WatcherType::Data), Kinds::DATA);
    assert_eq!(idx.remove("/p", 1, WatcherType::Data), Kinds::NONE);
    assert_eq!(idx.remove("/p", 1, WatcherType::Children), Kinds::CHILD);
    assert!(idx.contains("/p", 1, WatcherType::Persistent));
    assert!(!idx.contains("/p", 1, WatcherType::Children));
    assert_eq!(
        idx.remove("/p", 1, WatcherType::PersistentRecursive),
        Kinds::RECURSIVE
    );
    assert_eq!(
        idx.remove("/p", 1, WatcherType::Persistent),
        Kinds::PERSISTENT
    );
    assert_eq!(idx.path_count(), 0);
    assert_eq!(idx.session_count(), 0);
    idx.check();
}

#[test]
fn remove_any_takes_persistent_and_recursive_too() {
    let mut idx = WatchIndex::new();
    idx.add("/p", 1, Persistent);
    idx.add("/p", 1, PersistentRecursive);
    idx.add("/p", 2, Data);
    assert!(idx.contains("/p", 1, WatcherType::Any));
    assert_eq!(
        idx.remove("/p", 1, WatcherType::Any),
        Kinds::PERSISTENT.union(Kinds::RECURSIVE)
    );
    assert!(!idx.contains("/p", 1, WatcherType::Any));
    assert_eq!(idx.remove("/p", 1, WatcherType::Any), Kinds::NONE);
    assert_eq!(idx.remove("/nope", 2, WatcherType::Any), Kinds::NONE);
    assert_eq!(idx.remove("/p", 99, WatcherType::Any), Kinds::NONE);
    // The recursive watch is gone from the ancestor walk as well.
    assert_eq!(fire(&mut idx, "/p/q", NodeCreated), Vec::<i64>::new());
    assert_eq!(fire(&mut idx, "/p", NodeCreated), [2]);
}

#[test]
fn remove_session_drops_only_that_session() {
    let mut idx = scene();
    idx.add("/a/b", 5, Data);
    idx.remove_session(5);
    idx.check();
    assert_eq!(idx.session_watch_count(5), 0);
    assert_eq!(idx.session_count(), 7);
    assert_eq!(fire(&mut idx, "/a/b", NodeDataChanged), [1, 3, 4, 6]);
    idx.remove_session(5);
    idx.remove_session(12345);
    for s in 1..=8 {
        idx.remove_session(s);
        idx.check();
    }
    assert_eq!(
        (idx.watch_count(), idx.path_count(), idx.session_count()),
        (0, 0, 0)
    );
    assert_eq!(idx.zk_watch_count(), 0);
}

#[test]
fn recursive_watch_at_root_sees_everything_including_deep_paths() {
    let mut idx = WatchIndex::new();
    idx.add("/", 1, PersistentRecursive);
    let deep: String = (0..100).map(|i| format!("/n{i}")).collect();
    idx.add(&deep, 2, PersistentRecursive);
    assert_eq!(fire(&mut idx, "/", NodeDataChanged), [1]);
    assert_eq!(fire(&mut idx, "/x", NodeCreated), [1]);
    assert_eq!(fire(&mut idx, &format!("{deep}/leaf"), NodeDeleted), [1, 2]);
    assert_eq!(fire(&mut idx, &deep, NodeDataChanged), [1, 2]);
    assert_eq!(
        fire(&mut idx, &deep[..deep.len() - 4], NodeDataChanged),
        [1]
    );
}

#[test]
fn malformed_paths_do_not_panic() {
    let mut idx = WatchIndex::new();
    for p in ["", "abc", "a/b", "//", "/a/", "/é/ü", "/a//b"] {
        idx.add(p, 1, PersistentRecursive);
        idx.add(p, 2, Data);
    }
    for p in ["", "abc", "a/b/c", "//x", "/a/", "/é/ü/ß", "/a//b/c", "/"] {
        for e in [
            NodeCreated,
            NodeDeleted,
            NodeDataChanged,
            NodeChildrenChanged,
        ] {
            fire(&mut idx, p, e);
        }
    }
    assert_eq!(fire(&mut idx, "a/b/c", NodeDataChanged), [1]);
    assert_eq!(fire(&mut idx, "/é/ü/ß", NodeDataChanged), [1]);
}

#[test]
fn thousands_of_sessions_on_one_path() {
    let mut idx = WatchIndex::new();
    let n = 3000i64;
    for s in (0..n).rev() {
        assert!(idx.add(
            "/hot",
            s * 1_000_003,
            if s % 2 == 0 { Data } else { Persistent }
        ));
    }
    idx.add("/", 77, PersistentRecursive);
    idx.check();
    let got = fire(&mut idx, "/hot", NodeDataChanged);
    assert_eq!(got.len(), n as usize + 1);
    assert_eq!(idx.watch_count(), n as usize / 2 + 1);
    let got = fire(&mut idx, "/hot", NodeDataChanged);
    assert_eq!(got.len(), n as usize / 2 + 1);
    // Remove persistent watchers one by one; the set shrinks back inline.
    for s in (1..n).step_by(2) {
        assert_eq!(
            idx.remove("/hot", s * 1_000_003, WatcherType::Any),
            Kinds::PERSISTENT
        );
    }
    idx.check();
    assert_eq!(idx.path_count(), 1);
    assert_eq!(fire(&mut idx, "/hot", NodeDataChanged), [77]);
}

#[test]
fn session_path_lists_stay_bounded_under_fire_and_rearm() {
    let mut idx = WatchIndex::new();
    idx.add("/keep", 1, Persistent);
    for round in 0..1000 {
        let p = format!("/n{}", round % 7);
        idx.add(&p, 1, Data);
        fire(&mut idx, &p, NodeDataChanged);
    }
    let sid = idx.sessions.find(1).unwrap();
    let len = idx.sessions.slots[sid as usize].list.len();
    assert!(
        len <= 2 + crate::sessions::LIST_SLACK + 1,
        "list length {len}"
    );
    assert_eq!(idx.session_watch_count(1), 1);
}

#[test]
fn sessions_whose_watches_all_fired_stop_counting_and_are_swept_later() {
    let mut idx = WatchIndex::new();
    for s in 0..50 {
        idx.add(&format!("/s{s}"), s, Data);
    }
    assert_eq!(idx.session_count(), 50);
    let slot_of_7 = idx.sessions.find(7);
    for s in 0..50 {
        fire(&mut idx, &format!("/s{s}"), NodeDeleted);
    }
    assert_eq!(idx.session_count(), 0);
    // Re-registering right after firing reuses the session's slot: no churn.
    assert!(idx.add("/s7", 7, Child));
    assert_eq!(idx.sessions.find(7), slot_of_7);
    assert_eq!(idx.session_count(), 1);
    // Sessions that stay idle are freed once enough operations have passed.
    for _ in 0..200 {
        fire(&mut idx, "/unwatched", NodeDataChanged);
    }
    assert_eq!(idx.sessions.idle, 0, "idle slots swept");
    assert_eq!(idx.sessions.find(8), None);
    assert_eq!(idx.sessions.find(7), slot_of_7);
    assert_eq!(fire(&mut idx, "/s7", NodeChildrenChanged), [7]);
}

#[test]
fn reports_list_watches_by_session_and_by_path() {
    let mut idx = scene();
    idx.add("/a/b", 1, Child);
    let mut by_s = idx.by_session();
    by_s.sort();
    assert_eq!(by_s.len(), 8);
    assert_eq!(by_s[0], (1, vec!["/a/b".to_owned()]));
    let mut by_p = idx.by_path();
    by_p.sort();
    for (_, s) in by_p.iter_mut() {
        s.sort();
    }
    assert_eq!(
        by_p,
        vec![
            ("/".to_owned(), vec![6]),
            ("/a".to_owned(), vec![5, 7, 8]),
            ("/a/b".to_owned(), vec![1, 2, 3, 4]),
        ]
    );
    // ZooKeeper's wchc/wchp show its data-watch manager: child-only watchers are absent.
    let data_side = Kinds::DATA.union(Kinds::PERSISTENT).union(Kinds::RECURSIVE);
    let mut zk: Vec<i64> = idx
        .by_session_of(data_side)
        .into_iter()
        .map(|x| x.0)
        .collect();
    zk.sort();
    assert_eq!(zk, [1, 3, 4, 5, 6, 7, 8]);
    assert!(
        idx.by_path_of(Kinds::CHILD)
            .iter()
            .all(|(p, s)| p == "/a/b" && s.len() == 2)
    );
}

#[test]
fn zk_watch_count_follows_zookeepers_two_managers() {
    let mut idx = WatchIndex::new();
    idx.add("/p", 1, Data);
    idx.add("/p", 1, PersistentRecursive);
    assert_eq!(idx.zk_watch_count(), 1);
    idx.add("/p", 1, Persistent);
    assert_eq!(idx.zk_watch_count(), 2);
    idx.add("/p", 2, Child);
    assert_eq!(idx.zk_watch_count(), 3);
    assert_eq!(idx.watch_count(), 4);
}

#[test]
fn heap_shrinks_after_everything_is_removed() {
    let mut idx = WatchIndex::new();
    let empty = idx.heap_bytes();
    for s in 0..200 {
        for p in 0..20 {
            idx.add(
                &format!("/some/longer/path/{p}"),
                s,
                WatchKind::ALL[(s % 4) as usize],
            );
        }
    }
    let full = idx.heap_bytes();
    assert!(full > empty + 200 * 20 * 4);
    for s in 0..200 {
        idx.remove_session(s);
    }
    idx.check();
    assert!(
        idx.heap_bytes() < full / 2,
        "{} vs {full}",
        idx.heap_bytes()
    );
}

#[test]
fn default_is_new() {
    let mut idx = WatchIndex::default();
    idx.add("/r", 1, PersistentRecursive);
    assert_eq!(fire(&mut idx, "/r/child", NodeCreated), [1]);
}
