//! setWatches and setWatches2: re-arming a reconnected client's watches, with catch-up events
//! for what changed while it was away.
//!
//! For each watch the client still holds, compared with the zxid it last saw: a data watch on a
//! node that is gone fires NodeDeleted, on one modified since fires NodeDataChanged; an exist
//! watch on a node that now exists fires NodeCreated; a child watch on a node gone fires
//! NodeDeleted, on one whose children changed since fires NodeChildrenChanged. Anything that did
//! not fire is registered again. Catch-up events carry zxid -1 and leave before the setWatches
//! reply. Persistent and recursive watches are re-added and, beyond ZooKeeper, caught up exactly
//! from the event journal (see `journal`): every event they missed, in order, with its zxid.

use bytes::Bytes;
use watchkeeper_proto::watches::{SetWatches, SetWatches2};
use watchkeeper_proto::{EventType, KeeperState, perms};
use watchkeeper_watch::WatchKind;

use super::reply::{empty_frame, notification_frame};
use super::{ConnId, Core, journal};

/// Both setWatches forms, as one.
pub(crate) struct Rearm {
    pub relative_zxid: i64,
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    pub persistent: Vec<String>,
    pub recursive: Vec<String>,
}

impl From<SetWatches> for Rearm {
    fn from(s: SetWatches) -> Self {
        Rearm {
            relative_zxid: s.relative_zxid,
            data: s.data_watches,
            exist: s.exist_watches,
            child: s.child_watches,
            persistent: Vec::new(),
            recursive: Vec::new(),
        }
    }
}

impl From<SetWatches2> for Rearm {
    fn from(s: SetWatches2) -> Self {
        Rearm {
            relative_zxid: s.relative_zxid,
            data: s.data_watches,
            exist: s.exist_watches,
            child: s.child_watches,
            persistent: s.persistent_watches,
            recursive: s.persistent_recursive_watches,
        }
    }
}

impl Core {
    /// Re-arms one watch; setWatches has no per-path answer, so one over the session's limit
    /// is logged and left out.
    fn rearm(&mut self, conn: ConnId, path: &str, kind: WatchKind) {
        if self.watch(conn, path, kind).is_err() {
            tracing::info!(
                conn,
                path,
                ?kind,
                "watch not re-armed: the session's watch limit is reached"
            );
        }
    }

    /// Replays, in order and with their own zxids, the events the client's persistent and
    /// recursive watches missed since `relative_zxid`, when the journal still holds them all.
    fn replay_persistent(&mut self, conn: ConnId, r: &Rearm) {
        if (r.persistent.is_empty() && r.recursive.is_empty()) || r.relative_zxid <= 0 {
            return;
        }
        let Some(auth) = self.conns.get(&conn).map(|c| c.auth.clone()) else {
            return;
        };
        let Some(events) = self.journal.since(r.relative_zxid) else {
            tracing::debug!(
                conn,
                since = r.relative_zxid,
                "event journal no longer reaches back; persistent watches re-armed without catch-up"
            );
            return;
        };
        let frames: Vec<Bytes> = events
            .filter(|e| {
                r.persistent
                    .iter()
                    .any(|w| journal::persistent_matches(w, e.event, &e.path))
                    || r.recursive
                        .iter()
                        .any(|w| journal::recursive_matches(w, e.event, &e.path))
            })
            .filter(|e| watchkeeper_tree::acl::check(&e.acl, perms::READ, &auth))
            .map(|e| notification_frame(e.zxid, e.event, KeeperState::SyncConnected, &e.path))
            .collect();
        for frame in frames {
            self.stats.notifications_sent += 1;
            self.send_frame(conn, frame);
        }
    }
}

/// Catch-up events carry no zxid.
const NO_ZXID: i64 = -1;

impl Core {
    pub(super) fn set_watches(&mut self, conn: ConnId, xid: i32, r: Rearm) -> Bytes {
        let rel = r.relative_zxid;
        let fire = |core: &mut Core, event: EventType, path: &str| {
            let frame = notification_frame(NO_ZXID, event, KeeperState::SyncConnected, path);
            core.stats.notifications_sent += 1;
            core.send_frame(conn, frame);
        };
        for path in &r.data {
            match self.tree.node(path).map(|n| n.stat()) {
                None => fire(self, EventType::NodeDeleted, path),
                Some(s) if s.mzxid > rel => fire(self, EventType::NodeDataChanged, path),
                Some(_) => self.rearm(conn, path, WatchKind::Data),
            }
        }
        for path in &r.exist {
            if self.tree.node(path).is_some() {
                fire(self, EventType::NodeCreated, path);
            } else {
                self.rearm(conn, path, WatchKind::Data);
            }
        }
        for path in &r.child {
            match self.tree.node(path).map(|n| n.stat()) {
                None => fire(self, EventType::NodeDeleted, path),
                Some(s) if s.pzxid > rel => fire(self, EventType::NodeChildrenChanged, path),
                Some(_) => self.rearm(conn, path, WatchKind::Child),
            }
        }
        for path in &r.persistent {
            self.rearm(conn, path, WatchKind::Persistent);
        }
        for path in &r.recursive {
            self.rearm(conn, path, WatchKind::PersistentRecursive);
        }
        self.replay_persistent(conn, &r);
        // Echo the request's xid: the C client sends -8, the Java client a normal xid.
        empty_frame(xid, self.tree.last_zxid())
    }
}
