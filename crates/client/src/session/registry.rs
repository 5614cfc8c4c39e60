//! The client's side of every watch: which callers wait for which events, how a notification
//! is routed to them, and how the whole set is re-sent to a new server after a reconnect.
//!
//! Paths here are the server's (chroot included); events are turned into the caller's view at
//! delivery. Routing follows ZooKeeper's client: NodeCreated and NodeDataChanged fire data and
//! exist watches, NodeChildrenChanged fires child watches, NodeDeleted fires all three; a
//! persistent watch sees every event on its path, a recursive one every event but
//! NodeChildrenChanged on its path and below. One-shot watches are consumed when they fire.
//!
//! Invariant: a persistent watch is in the server's table iff it is in `persistent` or
//! `recursive` here, or an addWatch for it is in flight (`pending_adds`); removeWatches is sent
//! only when the last local watch of a path and mode goes and no add is in flight.

use std::collections::HashMap;

use watchkeeper_proto::{
    ErrorCode, EventType, KeeperState, Request, SetWatches, SetWatches2, WatcherEvent,
};

use crate::path::Chroot;
use crate::types::WatchedEvent;
use crate::watch::{Delivery, OneshotSender, PersistentSink};

/// Largest sum of path lengths in one setWatches request: under jute.maxbuffer with a wide
/// margin, as ZooKeeper's client does.
pub(crate) const SET_WATCHES_MAX_BYTES: usize = 128 * 1024;

/// Which one-shot table a request registers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OneshotKind {
    /// getData: a data watch if the node exists.
    Data,
    /// exists: a data watch if the node exists, an exist watch if it does not.
    Exists,
    /// getChildren: a child watch if the node exists.
    Child,
}

/// A watch a request asks for, registered when (and if) its reply says so.
#[derive(Debug)]
pub(crate) enum WatchRequest {
    Oneshot {
        kind: OneshotKind,
        path: String,
        tx: OneshotSender,
    },
    Persistent {
        id: u64,
        path: String,
        recursive: bool,
        sink: PersistentSink,
    },
}

/// A (server path, recursive?) pair whose server-side persistent watch must be removed.
pub(crate) type Removal = (String, bool);

#[derive(Debug, Default)]
pub(crate) struct Registry {
    data: HashMap<String, Vec<OneshotSender>>,
    exist: HashMap<String, Vec<OneshotSender>>,
    child: HashMap<String, Vec<OneshotSender>>,
    persistent: HashMap<String, Vec<(u64, PersistentSink)>>,
    recursive: HashMap<String, Vec<(u64, PersistentSink)>>,
    pending_adds: HashMap<Removal, usize>,
}

impl Registry {
    /// An addWatch for this watch is being sent.
    pub(crate) fn add_sent(&mut self, watch: &WatchRequest) {
        if let WatchRequest::Persistent {
            path, recursive, ..
        } = watch
        {
            *self
                .pending_adds
                .entry((path.clone(), *recursive))
                .or_default() += 1;
        }
    }

    /// The reply (`err`, 0 for success; ConnectionLoss when the connection broke first) to a
    /// request that asked for `watch`. Returns a removal when a persistent watch turned out to
    /// be unwanted (its stream was dropped while the add was in flight).
    pub(crate) fn on_reply(&mut self, watch: WatchRequest, err: i32) -> Option<Removal> {
        match watch {
            WatchRequest::Oneshot { kind, path, tx } => {
                let table = match (kind, err) {
                    (OneshotKind::Data | OneshotKind::Exists, 0) => &mut self.data,
                    (OneshotKind::Exists, e) if e == ErrorCode::NoNode.as_i32() => &mut self.exist,
                    (OneshotKind::Child, 0) => &mut self.child,
                    _ => return None,
                };
                let list = table.entry(path).or_default();
                list.retain(|t| !t.is_closed());
                list.push(tx);
                None
            }
            WatchRequest::Persistent {
                id,
                path,
                recursive,
                sink,
            } => {
                let key = (path, recursive);
                if let Some(n) = self.pending_adds.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        self.pending_adds.remove(&key);
                    }
                }
                if err != 0 {
                    return None;
                }
                if sink.is_closed() {
                    return self.removal_if_unwatched(key);
                }
                let table = if recursive {
                    &mut self.recursive
                } else {
                    &mut self.persistent
                };
                table.entry(key.0).or_default().push((id, sink));
                None
            }
        }
    }

    /// The caller dropped persistent watch `id`.
    pub(crate) fn remove_persistent(&mut self, id: u64) -> Option<Removal> {
        for recursive in [false, true] {
            let table = if recursive {
                &mut self.recursive
            } else {
                &mut self.persistent
            };
            let found = table.iter_mut().find_map(|(path, list)| {
                let i = list.iter().position(|(i, _)| *i == id)?;
                list.swap_remove(i);
                Some(path.clone())
            });
            if let Some(path) = found {
                return self.removal_if_unwatched((path, recursive));
            }
        }
        None
    }

    fn removal_if_unwatched(&mut self, key: Removal) -> Option<Removal> {
        let table = if key.1 {
            &mut self.recursive
        } else {
            &mut self.persistent
        };
        if table.get(&key.0).is_some_and(|l| !l.is_empty()) {
            return None;
        }
        table.remove(&key.0);
        (!self.pending_adds.contains_key(&key)).then_some(key)
    }

    /// Routes a notification. Returns the persistent watches ended because their consumer
    /// lagged, whose server-side registration must now be removed.
    pub(crate) fn dispatch(
        &mut self,
        event: &WatcherEvent,
        zxid: i64,
        chroot: &Chroot,
    ) -> Vec<Removal> {
        let Some(event_type) = event.event_type() else {
            tracing::warn!(
                event.event_type,
                "notification of an unknown event type ignored"
            );
            return Vec::new();
        };
        let state = event.keeper_state().unwrap_or(KeeperState::SyncConnected);
        if event_type == EventType::None {
            self.session_event(state);
            return Vec::new();
        }
        let delivered = WatchedEvent {
            event_type,
            state,
            path: chroot.strip(&event.path),
            zxid,
        };
        let path = event.path.as_str();
        let mut fired = Vec::new();
        match event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                fired.extend(self.data.remove(path).into_iter().flatten());
                fired.extend(self.exist.remove(path).into_iter().flatten());
            }
            EventType::NodeDeleted => {
                fired.extend(self.data.remove(path).into_iter().flatten());
                fired.extend(self.exist.remove(path).into_iter().flatten());
                fired.extend(self.child.remove(path).into_iter().flatten());
            }
            EventType::NodeChildrenChanged => {
                fired.extend(self.child.remove(path).into_iter().flatten());
            }
            // Raised by clients, never sent by a server.
            _ => return Vec::new(),
        }
        for tx in fired {
            let _ = tx.send(delivered.clone());
        }
        let mut removals = Vec::new();
        deliver_persistent(&mut self.persistent, path, false, &delivered, &mut removals);
        if event_type != EventType::NodeChildrenChanged && !self.recursive.is_empty() {
            for p in ancestors_and_self(path) {
                deliver_persistent(&mut self.recursive, p, true, &delivered, &mut removals);
            }
        }
        removals.retain(|key| !self.pending_adds.contains_key(key));
        removals
    }

    /// A connection state change every persistent watch hears about; called between
    /// connections (before [`Registry::set_watches`] on a new one). Terminal states also
    /// resolve every one-shot watch and end every persistent one.
    pub(crate) fn session_event(&mut self, state: KeeperState) {
        let event = WatchedEvent::session(state);
        let terminal = matches!(
            state,
            KeeperState::Expired | KeeperState::Closed | KeeperState::AuthFailed
        );
        for table in [&mut self.persistent, &mut self.recursive] {
            // A consumer too far behind is ended here too. No removeWatches is needed: this
            // runs between connections, before the watches are re-sent.
            table.retain(|_, list| {
                list.retain(|(_, sink)| sink.send(event.clone()) != Delivery::Lagged);
                !list.is_empty()
            });
        }
        if terminal {
            for (_, list) in self
                .data
                .drain()
                .chain(self.exist.drain())
                .chain(self.child.drain())
            {
                for tx in list {
                    let _ = tx.send(event.clone());
                }
            }
            self.persistent.clear();
            self.recursive.clear();
            self.pending_adds.clear();
        }
    }

    /// The setWatches/setWatches2 requests that restore every live watch on a new connection,
    /// each under [`SET_WATCHES_MAX_BYTES`] of paths. Dead one-shot registrations (the caller
    /// dropped its future) are forgotten here rather than re-sent.
    pub(crate) fn set_watches(&mut self, relative_zxid: i64) -> Vec<Request> {
        for table in [&mut self.data, &mut self.exist, &mut self.child] {
            table.retain(|_, list| {
                list.retain(|t| !t.is_closed());
                !list.is_empty()
            });
        }
        for table in [&mut self.persistent, &mut self.recursive] {
            table.retain(|_, list| !list.is_empty());
        }
        let mut batches = Vec::new();
        let mut batch = Batch::default();
        let lists: [(usize, Vec<&String>); 5] = [
            (0, self.data.keys().collect()),
            (1, self.exist.keys().collect()),
            (2, self.child.keys().collect()),
            (3, self.persistent.keys().collect()),
            (4, self.recursive.keys().collect()),
        ];
        for (which, paths) in lists {
            for path in paths {
                if batch.bytes > 0 && batch.bytes + path.len() >= SET_WATCHES_MAX_BYTES {
                    batches.push(std::mem::take(&mut batch).into_request(relative_zxid));
                }
                batch.bytes += path.len();
                batch.lists[which].push(path.clone());
            }
        }
        if batch.lists.iter().any(|l| !l.is_empty()) {
            batches.push(batch.into_request(relative_zxid));
        }
        batches
    }

    /// True if any watch of this session, of any kind, is on `path` or being added there.
    pub(crate) fn watches_path(&self, path: &str) -> bool {
        let live = |t: &HashMap<String, Vec<OneshotSender>>| {
            t.get(path)
                .is_some_and(|l| l.iter().any(|s| !s.is_closed()))
        };
        live(&self.data)
            || live(&self.exist)
            || live(&self.child)
            || self.persistent.get(path).is_some_and(|l| !l.is_empty())
            || self.recursive.get(path).is_some_and(|l| !l.is_empty())
            || self.pending_adds.keys().any(|(p, _)| p == path)
    }

    /// How many one-shot and persistent registrations are held (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let oneshot: usize = [&self.data, &self.exist, &self.child]
            .iter()
            .map(|t| t.values().map(Vec::len).sum::<usize>())
            .sum();
        let persistent: usize = [&self.persistent, &self.recursive]
            .iter()
            .map(|t| t.values().map(Vec::len).sum::<usize>())
            .sum();
        oneshot + persistent
    }
}

fn deliver_persistent(
    table: &mut HashMap<String, Vec<(u64, PersistentSink)>>,
    path: &str,
    recursive: bool,
    event: &WatchedEvent,
    removals: &mut Vec<Removal>,
) {
    let Some(list) = table.get_mut(path) else {
        return;
    };
    // A dropped stream is removed by its RemovePersistent command, which is on its way.
    list.retain(|(_, sink)| sink.send(event.clone()) != Delivery::Lagged);
    if list.is_empty() {
        table.remove(path);
        removals.push((path.to_owned(), recursive));
    }
}

/// `/a/b/c`, `/a/b`, `/a`, `/`.
fn ancestors_and_self(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current.rfind('/') {
            _ if current == "/" => None,
            Some(0) => Some("/"),
            Some(i) => Some(&current[..i]),
            None => None,
        };
        Some(current)
    })
}

#[derive(Default)]
struct Batch {
    bytes: usize,
    /// data, exist, child, persistent, persistent-recursive.
    lists: [Vec<String>; 5],
}

impl Batch {
    fn into_request(self, relative_zxid: i64) -> Request {
        let [data, exist, child, persistent, recursive] = self.lists;
        if persistent.is_empty() && recursive.is_empty() {
            Request::SetWatches(SetWatches {
                relative_zxid,
                data_watches: data,
                exist_watches: exist,
                child_watches: child,
            })
        } else {
            Request::SetWatches2(SetWatches2 {
                relative_zxid,
                data_watches: data,
                exist_watches: exist,
                child_watches: child,
                persistent_watches: persistent,
                persistent_recursive_watches: recursive,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;
    use watchkeeper_proto::AddWatchMode;

    use super::*;
    use crate::watch::{OneshotWatch, PersistentWatch};

    fn notify(t: EventType, path: &str) -> WatcherEvent {
        WatcherEvent::new(t, KeeperState::SyncConnected, path)
    }

    fn oneshot(reg: &mut Registry, kind: OneshotKind, path: &str, err: i32) -> OneshotWatch {
        let (tx, w) = OneshotWatch::channel();
        let req = WatchRequest::Oneshot {
            kind,
            path: path.into(),
            tx,
        };
        assert!(reg.on_reply(req, err).is_none());
        w
    }

    fn persistent(reg: &mut Registry, id: u64, path: &str, recursive: bool) -> PersistentWatch {
        let (cmd, _) = mpsc::unbounded_channel();
        let mode = if recursive {
            AddWatchMode::PersistentRecursive
        } else {
            AddWatchMode::Persistent
        };
        let (sink, w) = PersistentWatch::channel(id, path.into(), mode, cmd);
        let req = WatchRequest::Persistent {
            id,
            path: path.into(),
            recursive,
            sink,
        };
        reg.add_sent(&req);
        assert!(reg.on_reply(req, 0).is_none());
        w
    }

    fn ready<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        match std::pin::Pin::new(f).poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }

    #[test]
    fn routing_follows_zookeeper() {
        let mut reg = Registry::default();
        let chroot = Chroot::new("/r").unwrap();
        let mut data = oneshot(&mut reg, OneshotKind::Data, "/r/a", 0);
        let mut exist = oneshot(
            &mut reg,
            OneshotKind::Exists,
            "/r/b",
            ErrorCode::NoNode.as_i32(),
        );
        let mut child = oneshot(&mut reg, OneshotKind::Child, "/r/a", 0);
        // Failed reads leave no watch.
        let _none = oneshot(
            &mut reg,
            OneshotKind::Data,
            "/r/x",
            ErrorCode::NoNode.as_i32(),
        );
        assert_eq!(reg.len(), 3);

        reg.dispatch(&notify(EventType::NodeChildrenChanged, "/r/a"), 9, &chroot);
        assert!(ready(&mut data).is_none());
        let ev = ready(&mut child).unwrap();
        assert_eq!(
            (ev.event_type, ev.path.as_str(), ev.zxid),
            (EventType::NodeChildrenChanged, "/a", 9)
        );

        reg.dispatch(&notify(EventType::NodeCreated, "/r/b"), 10, &chroot);
        assert_eq!(
            ready(&mut exist).unwrap().event_type,
            EventType::NodeCreated
        );
        reg.dispatch(&notify(EventType::NodeDeleted, "/r/a"), 11, &chroot);
        assert_eq!(ready(&mut data).unwrap().event_type, EventType::NodeDeleted);
        assert_eq!(reg.len(), 0, "one-shot watches are consumed");
    }

    #[tokio::test]
    async fn persistent_and_recursive_routing() {
        let mut reg = Registry::default();
        let chroot = Chroot::default();
        let mut p = persistent(&mut reg, 1, "/a", false);
        let mut r = persistent(&mut reg, 2, "/", true);
        reg.dispatch(&notify(EventType::NodeChildrenChanged, "/a"), 3, &chroot);
        reg.dispatch(&notify(EventType::NodeDataChanged, "/a/b/c"), 4, &chroot);
        reg.dispatch(&notify(EventType::NodeDataChanged, "/a"), 5, &chroot);
        assert_eq!(p.next_event().await.unwrap().zxid, 3);
        assert_eq!(p.next_event().await.unwrap().zxid, 5);
        // The recursive watch skipped the child event and saw the descendant's.
        assert_eq!(r.next_event().await.unwrap().path, "/a/b/c");
        assert_eq!(r.next_event().await.unwrap().zxid, 5);
        assert_eq!(reg.len(), 2, "persistent watches stay");

        reg.session_event(KeeperState::Disconnected);
        assert_eq!(
            p.next_event().await.unwrap().state,
            KeeperState::Disconnected
        );
        reg.session_event(KeeperState::Expired);
        assert_eq!(p.next_event().await.unwrap().state, KeeperState::Expired);
        assert!(
            p.next_event().await.is_none(),
            "terminal state ends the stream"
        );
        assert_eq!(
            r.next_event().await.unwrap().state,
            KeeperState::Disconnected
        );
        assert_eq!(r.next_event().await.unwrap().state, KeeperState::Expired);
        assert!(r.next_event().await.is_none());
    }

    #[test]
    fn removal_only_when_the_last_watch_of_a_path_goes() {
        let mut reg = Registry::default();
        let _a = persistent(&mut reg, 1, "/a", false);
        let _b = persistent(&mut reg, 2, "/a", false);
        let _c = persistent(&mut reg, 3, "/a", true);
        assert_eq!(reg.remove_persistent(1), None);
        assert_eq!(reg.remove_persistent(2), Some(("/a".into(), false)));
        assert_eq!(reg.remove_persistent(2), None, "unknown ids are ignored");
        assert_eq!(reg.remove_persistent(3), Some(("/a".into(), true)));
    }

    #[test]
    fn no_removal_while_an_add_is_in_flight() {
        let mut reg = Registry::default();
        let _a = persistent(&mut reg, 1, "/a", false);
        let (cmd, _) = mpsc::unbounded_channel();
        let (sink, w) = PersistentWatch::channel(2, "/a".into(), AddWatchMode::Persistent, cmd);
        let second = WatchRequest::Persistent {
            id: 2,
            path: "/a".into(),
            recursive: false,
            sink,
        };
        reg.add_sent(&second);
        assert_eq!(reg.remove_persistent(1), None, "the second add keeps it");
        // The second stream is dropped before its reply: the reply then removes it.
        drop(w);
        assert_eq!(reg.on_reply(second, 0), Some(("/a".into(), false)));
    }

    #[test]
    fn set_watches_lists_every_live_path_once_in_bounded_batches() {
        let mut reg = Registry::default();
        let mut kept = Vec::new();
        let long = "x".repeat(1000);
        for i in 0..300 {
            let path = format!("/{long}/{i}");
            kept.push(oneshot(&mut reg, OneshotKind::Data, &path, 0));
            kept.push(oneshot(&mut reg, OneshotKind::Child, &path, 0));
        }
        let dropped = oneshot(
            &mut reg,
            OneshotKind::Exists,
            "/gone",
            ErrorCode::NoNode.as_i32(),
        );
        drop(dropped);
        let _p = persistent(&mut reg, 1, "/p", false);
        let batches = reg.set_watches(77);
        assert!(batches.len() >= 5, "{} batches", batches.len());
        let mut seen = Vec::new();
        let mut v2 = 0;
        for b in &batches {
            let (zxid, lists) = match b {
                Request::SetWatches(s) => (
                    s.relative_zxid,
                    vec![&s.data_watches, &s.exist_watches, &s.child_watches],
                ),
                Request::SetWatches2(s) => {
                    v2 += 1;
                    (
                        s.relative_zxid,
                        vec![
                            &s.data_watches,
                            &s.exist_watches,
                            &s.child_watches,
                            &s.persistent_watches,
                            &s.persistent_recursive_watches,
                        ],
                    )
                }
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(zxid, 77);
            let bytes: usize = lists.iter().flat_map(|l| l.iter()).map(String::len).sum();
            assert!(bytes < SET_WATCHES_MAX_BYTES);
            for (i, l) in lists.iter().enumerate() {
                seen.extend(l.iter().map(|p| (i, p.clone())));
            }
        }
        assert_eq!(
            v2, 1,
            "only the batch holding the persistent watch uses setWatches2"
        );
        assert_eq!(seen.len(), 601);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 601, "no path twice");
        assert!(!seen.iter().any(|(_, p)| p == "/gone"));
        assert!(Registry::default().set_watches(0).is_empty());
    }

    #[test]
    fn a_lagging_persistent_watch_is_ended_and_removed_from_the_server() {
        use crate::watch::PERSISTENT_LAG_LIMIT;
        let mut reg = Registry::default();
        let chroot = Chroot::default();
        let mut slow = persistent(&mut reg, 1, "/a", false);
        let mut fine = persistent(&mut reg, 2, "/b", false);
        let change = |p: &str| notify(EventType::NodeDataChanged, p);
        for i in 0..PERSISTENT_LAG_LIMIT as i64 {
            assert!(reg.dispatch(&change("/a"), i, &chroot).is_empty());
        }
        // One more than the limit: the watch ends and its server registration must go.
        assert_eq!(
            reg.dispatch(&change("/a"), -7, &chroot),
            vec![("/a".to_owned(), false)]
        );
        assert_eq!(reg.len(), 1);
        assert!(
            reg.dispatch(&change("/a"), 0, &chroot).is_empty(),
            "nobody left to tell"
        );
        assert!(slow.lagged());
        let mut n = 0;
        let mut last = None;
        while let Some(e) = ready(&mut Box::pin(slow.next_event())).flatten() {
            n += 1;
            last = Some(e);
        }
        assert_eq!(n, PERSISTENT_LAG_LIMIT + 1);
        assert_eq!(
            last.map(|e| e.event_type),
            Some(EventType::PersistentWatchRemoved)
        );
        // Other watches are untouched.
        reg.dispatch(&change("/b"), 5, &chroot);
        assert_eq!(
            ready(&mut Box::pin(fine.next_event()))
                .flatten()
                .map(|e| e.zxid),
            Some(5)
        );
        assert!(!fine.lagged());
    }

    #[test]
    fn ancestors() {
        assert_eq!(
            ancestors_and_self("/a/b").collect::<Vec<_>>(),
            ["/a/b", "/a", "/"]
        );
        assert_eq!(ancestors_and_self("/").collect::<Vec<_>>(), ["/"]);
    }
}
