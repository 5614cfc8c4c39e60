//! The event journal: the most recent watch events, kept so a reconnecting client's persistent
//! and persistent-recursive watches can be caught up exactly.
//!
//! Apache ZooKeeper re-adds persistent watches after a reconnect without catch-up: whatever
//! happened while the client was away is lost. Watchkeeper keeps the last events (bounded in
//! count) with the zxid and ACL of each; when setWatches2 re-arms a persistent watch and the
//! journal still reaches back to the client's last seen zxid, every event the watch would have
//! fired is replayed in order with its original zxid, before the setWatches reply. If the
//! journal no longer reaches back that far, the watch is re-armed as ZooKeeper does.

use std::collections::VecDeque;
use std::sync::Arc;

use watchkeeper_proto::{Acl, EventType};

/// One recorded event.
pub(crate) struct JournalEntry {
    pub zxid: i64,
    pub event: EventType,
    pub path: Arc<str>,
    /// The ACL READ is checked against before delivery, as for live events.
    pub acl: Arc<[Acl]>,
}

pub(crate) struct Journal {
    entries: VecDeque<JournalEntry>,
    capacity: usize,
    /// Every event with a zxid above this is in the journal.
    complete_after: i64,
}

impl Journal {
    /// A journal that starts complete after `last_zxid` (nothing happened since startup yet).
    pub(crate) fn new(capacity: usize, last_zxid: i64) -> Journal {
        Journal {
            entries: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            complete_after: last_zxid,
        }
    }

    pub(crate) fn record(&mut self, zxid: i64, event: EventType, path: &str, acl: &Arc<[Acl]>) {
        if self.capacity == 0 {
            self.complete_after = zxid;
            return;
        }
        if self.entries.len() == self.capacity
            && let Some(old) = self.entries.pop_front()
        {
            // Events of `old.zxid` may remain in the journal; only those after it are complete.
            self.complete_after = self.complete_after.max(old.zxid);
        }
        self.entries.push_back(JournalEntry {
            zxid,
            event,
            path: Arc::from(path),
            acl: acl.clone(),
        });
    }

    /// The events after `zxid`, oldest first, or None when some of them are no longer kept.
    pub(crate) fn since(&self, zxid: i64) -> Option<impl Iterator<Item = &JournalEntry>> {
        if zxid < self.complete_after {
            return None;
        }
        let start = self.entries.partition_point(|e| e.zxid <= zxid);
        Some(self.entries.range(start..))
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Whether a persistent watch on `watched` fires for `event` on `path`.
pub(crate) fn persistent_matches(watched: &str, event: EventType, path: &str) -> bool {
    watched == path && event != EventType::None
}

/// Whether a persistent-recursive watch on `watched` fires for `event` on `path`: creation,
/// deletion and data changes of the node and its descendants, never child-list changes.
pub(crate) fn recursive_matches(watched: &str, event: EventType, path: &str) -> bool {
    if event == EventType::NodeChildrenChanged || event == EventType::None {
        return false;
    }
    watched == "/"
        || path == watched
        || (path.starts_with(watched) && path.as_bytes().get(watched.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl() -> Arc<[Acl]> {
        Arc::from(Acl::open_unsafe())
    }

    #[test]
    fn replays_only_what_it_still_holds() {
        let mut j = Journal::new(3, 10);
        for z in 11..=14 {
            j.record(z, EventType::NodeDataChanged, "/a", &acl());
        }
        // 11 fell out: a client that last saw 10 cannot be caught up exactly.
        assert!(j.since(10).is_none());
        let z: Vec<i64> = j.since(11).unwrap().map(|e| e.zxid).collect();
        assert_eq!(z, vec![12, 13, 14]);
        let z: Vec<i64> = j.since(13).unwrap().map(|e| e.zxid).collect();
        assert_eq!(z, vec![14]);
        assert_eq!(j.since(14).unwrap().count(), 0);
    }

    #[test]
    fn one_zxid_can_hold_several_events() {
        let mut j = Journal::new(2, 0);
        j.record(1, EventType::NodeCreated, "/a", &acl());
        j.record(1, EventType::NodeChildrenChanged, "/", &acl());
        j.record(2, EventType::NodeDeleted, "/a", &acl());
        // The first event of zxid 1 is gone, so zxid 1 is no longer complete.
        assert!(j.since(0).is_none());
        assert_eq!(j.since(1).unwrap().count(), 1);
    }

    #[test]
    fn recursive_matching_respects_path_boundaries() {
        assert!(recursive_matches("/a", EventType::NodeCreated, "/a/b"));
        assert!(recursive_matches("/a", EventType::NodeDataChanged, "/a"));
        assert!(!recursive_matches("/a", EventType::NodeCreated, "/ab"));
        assert!(!recursive_matches(
            "/a",
            EventType::NodeChildrenChanged,
            "/a"
        ));
        assert!(recursive_matches("/", EventType::NodeDeleted, "/x/y"));
        assert!(persistent_matches(
            "/a",
            EventType::NodeChildrenChanged,
            "/a"
        ));
        assert!(!persistent_matches("/a", EventType::NodeCreated, "/a/b"));
    }
}
