//! Watches against a real server: one-shot data/exists/child watches with ZooKeeper's trigger
//! rules, persistent and persistent-recursive watches, their coexistence, exactly one
//! notification per session per event, checkWatches/removeWatches, setWatches catch-up, the
//! zxid a notification carries, and the event-before-data ordering guarantee.
//!
//! Counting notifications needs the raw protocol (the client library merges and filters them),
//! so most tests here use [`common::raw::Raw`]; a few check the same through `zookeeper-client`.

mod common;

use common::jute::{body, err, op, watcher_type as wt, xid};
use common::raw::{
    Frame, NODE_CHILDREN_CHANGED, NODE_CREATED, NODE_DATA_CHANGED, NODE_DELETED, Raw, ev, kinds,
};
use common::{TestServer, event_within, next_within, persistent, within};
use zookeeper_client as zk;

async fn get_data_watch(r: &mut Raw, path: &str) -> i32 {
    r.call(op::GET_DATA, &body::path_watch(path, true))
        .await
        .err
}
async fn exists_watch(r: &mut Raw, path: &str) -> i32 {
    r.call(op::EXISTS, &body::path_watch(path, true)).await.err
}
async fn children_watch(r: &mut Raw, path: &str) -> i32 {
    r.call(op::GET_CHILDREN, &body::path_watch(path, true))
        .await
        .err
}
async fn add_watch(r: &mut Raw, path: &str, mode: i32) {
    let rep = r.call(op::ADD_WATCH, &body::path_type(path, mode)).await;
    assert_eq!(rep.err, 0, "addWatch {path} mode {mode}");
    assert_eq!(rep.body, vec![0; 4], "addWatch answers ErrorResponse{{0}}");
}
async fn check_watches(r: &mut Raw, path: &str, t: i32) -> i32 {
    r.call(op::CHECK_WATCHES, &body::path_type(path, t))
        .await
        .err
}
async fn remove_watches(r: &mut Raw, path: &str, t: i32) -> i32 {
    r.call(op::REMOVE_WATCHES, &body::path_type(path, t))
        .await
        .err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_watch_fires_once_on_set_data_with_the_write_zxid() {
    let s = TestServer::start().await;
    within(30, async {
        let mut w = Raw::session(s.addr).await;
        let mut m = Raw::session(s.addr).await;
        m.create("/d", b"0").await;
        assert_eq!(get_data_watch(&mut w, "/d").await, 0);
        let z1 = m.set("/d", b"1").await;
        let z2 = m.set("/d", b"2").await;
        let events = w.drain_events().await;
        assert_eq!(
            kinds(&events),
            vec![ev(NODE_DATA_CHANGED, "/d")],
            "one-shot"
        );
        assert_eq!(
            events[0].zxid, z1,
            "a notification carries the zxid of the write"
        );
        assert_eq!(events[0].state, 3, "SyncConnected");
        assert_ne!(z1, z2);
        assert_eq!(check_watches(&mut w, "/d", wt::DATA).await, err::NO_WATCHER);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exists_watch_on_missing_node_fires_node_created() {
    let s = TestServer::start().await;
    within(30, async {
        let mut w = Raw::session(s.addr).await;
        let mut m = Raw::session(s.addr).await;
        let rep = w.call(op::EXISTS, &body::path_watch("/later", true)).await;
        assert_eq!(rep.err, err::NO_NODE);
        assert!(rep.body.is_empty());
        assert_eq!(
            check_watches(&mut w, "/later", wt::DATA).await,
            0,
            "watch left"
        );
        let z = m.create("/later", b"").await;
        let events = w.drain_events().await;
        assert_eq!(kinds(&events), vec![ev(NODE_CREATED, "/later")]);
        assert_eq!(events[0].zxid, z);

        // The same through the client library.
        let c = s.client().await;
        let (stat, watcher) = c.check_and_watch_stat("/lib").await.unwrap();
        assert_eq!(stat, None);
        let (created, _) = c.create("/lib", b"", &persistent()).await.unwrap();
        let e = event_within(5, watcher).await;
        assert_eq!(e.event_type, zk::EventType::NodeCreated);
        assert_eq!(e.path, "/lib");
        assert_eq!(e.zxid, created.czxid);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_reads_leave_no_watch() {
    let s = TestServer::start().await;
    within(30, async {
        let mut w = Raw::session(s.addr).await;
        let mut m = Raw::session(s.addr).await;
        assert_eq!(get_data_watch(&mut w, "/n").await, err::NO_NODE);
        assert_eq!(children_watch(&mut w, "/n").await, err::NO_NODE);
        let rep = w
            .call(op::GET_CHILDREN2, &body::path_watch("/n", true))
            .await;
        assert_eq!(rep.err, err::NO_NODE);
        assert_eq!(check_watches(&mut w, "/n", wt::ANY).await, err::NO_WATCHER);
        m.create("/n", b"").await;
        m.create("/n/c", b"").await;
        m.set("/n", b"x").await;
        assert!(w.drain_events().await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_watch_fires_on_child_create_and_delete_only() {
    let s = TestServer::start().await;
    within(30, async {
        let mut w = Raw::session(s.addr).await;
        let mut m = Raw::session(s.addr).await;
        m.create("/p", b"").await;
        m.create("/p/a", b"").await;
        assert_eq!(children_watch(&mut w, "/p").await, 0);
        // Neither the parent's nor a child's data change is a child event.
        m.set("/p", b"x").await;
        m.set("/p/a", b"x").await;
        m.create("/p/a/grand", b"").await;
        assert!(w.drain_events().await.is_empty());

        let z = m.create("/p/b", b"").await;
        let events = w.drain_events().await;
        assert_eq!(kinds(&events), vec![ev(NODE_CHILDREN_CHANGED, "/p")]);
        assert_eq!(events[0].zxid, z);

        // getChildren2 sets a child watch too; a child delete fires it.
        let rep = w
            .call(op::GET_CHILDREN2, &body::path_watch("/p", true))
            .await;
        assert_eq!(rep.err, 0);
        let rep = m.call(op::DELETE, &body::delete("/p/b", -1)).await;
        assert_eq!(rep.err, 0);
        let events = w.drain_events().await;
        assert_eq!(kinds(&events), vec![ev(NODE_CHILDREN_CHANGED, "/p")]);
        assert_eq!(events[0].zxid, rep.zxid);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_fires_node_deleted_once_for_data_and_child_watches() {
    let s = TestServer::start().await;
    within(30, async {
        let mut w = Raw::session(s.addr).await;
        let mut other = Raw::session(s.addr).await;
        let mut m = Raw::session(s.addr).await;
        m.create("/x", b"").await;
        m.create("/x/y", b"").await;
        // Session w: data, exists and child watches on /x/y, child watch on /x.
        assert_eq!(get_data_watch(&mut w, "/x/y").await, 0);
        assert_eq!(exists_watch(&mut w, "/x/y").await, 0);
        assert_eq!(children_watch(&mut w, "/x/y").await, 0);
        assert_eq!(children_watch(&mut w, "/x").await, 0);
        // Session other: only a child watch on /x/y.
        assert_eq!(children_watch(&mut other, "/x/y").await, 0);

        let rep = m.call(op::DELETE, &body::delete("/x/y", -1)).await;
        assert_eq!(rep.err, 0);
        let mut got = kinds(&w.drain_events().await);
        got.sort();
        assert_eq!(
            got,
            vec![ev(NODE_DELETED, "/x/y"), ev(NODE_CHILDREN_CHANGED, "/x")],
            "one NodeDeleted per session however many watches, plus the parent's child event"
        );
        assert_eq!(
            kinds(&other.drain_events().await),
            vec![ev(NODE_DELETED, "/x/y")],
            "a child watch fires NodeDeleted when its node goes"
        );
        assert_eq!(
            check_watches(&mut w, "/x/y", wt::ANY).await,
            err::NO_WATCHER
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_acl_fires_nothing() {
    let s = TestServer::start().await;
    within(30, async {
        let mut w = Raw::session(s.addr).await;
        let mut m = Raw::session(s.addr).await;
        m.create("/acl", b"").await;
        assert_eq!(get_data_watch(&mut w, "/acl").await, 0);
        assert_eq!(children_watch(&mut w, "/acl").await, 0);
        let set_acl = common::jute::Enc::new()
            .str("/acl")
            .acl(&[(31, "world", "anyone")])
            .i32(-1)
            .done();
        assert_eq!(m.call(op::SET_ACL, &set_acl).await.err, 0);
        assert!(w.drain_events().await.is_empty());
        assert_eq!(check_watches(&mut w, "/acl", wt::DATA).await, 0);
        assert_eq!(check_watches(&mut w, "/acl", wt::CHILDREN).await, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_watch_stays_and_sees_data_and_child_changes() {
    let s = TestServer::start().await;
    within(30, async {
        let mut w = Raw::session(s.addr).await;
        let mut m = Raw::session(s.addr).await;
        // addWatch on a path that does not exist yet is fine (no existence check).
        add_watch(&mut w, "/p", 0).await;
        let z_create = m.create("/p", b"").await;
        m.set("/p", b"1").await;
        let z_set = m.set("/p", b"2").await;
        m.create("/p/c", b"").await;
        m.set("/p/c", b"x").await; // a child's data: not for a persistent (non-recursive) watch
        m.create("/p/c/g", b"").await; // a grandchild: not either
        m.call(op::DELETE, &body::delete("/p/c/g", -1)).await;
        m.call(op::DELETE, &body::delete("/p/c", -1)).await;
        m.call(op::DELETE, &body::delete("/p", -1)).await;
        m.create("/p", b"").await;
        let events = w.drain_events().await;
        assert_eq!(
            kinds(&events),
            vec![
                ev(NODE_CREATED, "/p"),
                ev(NODE_DATA_CHANGED, "/p"),
                ev(NODE_DATA_CHANGED, "/p"),
                ev(NODE_CHILDREN_CHANGED, "/p"),
                ev(NODE_CHILDREN_CHANGED, "/p"),
                ev(NODE_DELETED, "/p"),
                ev(NODE_CREATED, "/p"),
            ]
        );
        assert_eq!(events[0].zxid, z_create);
        assert_eq!(events[2].zxid, z_set);
        assert_eq!(check_watches(&mut w, "/p", wt::PERSISTENT).await, 0);

        // Through the client library.
        let c = s.client().await;
        let mut pw = c.watch("/lib", zk::AddWatchMode::Persistent).await.unwrap();
        c.create("/lib", b"", &persistent()).await.unwrap();
        let st = c.set_data("/lib", b"1", None).await.unwrap();
        let e = next_within(5, &mut pw).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (zk::EventType::NodeCreated, "/lib")
        );
        let e = next_within(5, &mut pw).await;
        assert_eq!(
            (e.event_type, e.path.as_str(), e.zxid),
            (zk::EventType::NodeDataChanged, "/lib", st.mzxid)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_recursive_watch_sees_the_subtree_without_child_events() {
    let s = TestServer::start().await;
    within(30, async {
        let mut w = Raw::session(s.addr).await;
        let mut m = Raw::session(s.addr).await;
        m.create("/r", b"").await;
        m.create("/rx", b"").await; // a sibling sharing the prefix is not below /r
        add_watch(&mut w, "/r", 1).await;
        m.create("/r/a", b"").await;
        m.set("/r/a", b"1").await;
        m.create("/r/a/b", b"").await;
        m.set("/r", b"top").await;
        m.set("/rx", b"no").await;
        m.create("/rx/no", b"").await;
        m.call(op::DELETE, &body::delete("/r/a/b", -1)).await;
        let events = w.drain_events().await;
        assert_eq!(
            kinds(&events),
            vec![
                ev(NODE_CREATED, "/r/a"),
                ev(NODE_DATA_CHANGED, "/r/a"),
                ev(NODE_CREATED, "/r/a/b"),
                ev(NODE_DATA_CHANGED, "/r"),
                ev(NODE_DELETED, "/r/a/b"),
            ],
            "recursive watches never fire NodeChildrenChanged"
        );
        assert_eq!(
            check_watches(&mut w, "/r", wt::PERSISTENT_RECURSIVE).await,
            0
        );
        assert_eq!(
            check_watches(&mut w, "/r", wt::PERSISTENT).await,
            err::NO_WATCHER
        );

        // A recursive watch on "/" sees everything.
        let mut all = Raw::session(s.addr).await;
        add_watch(&mut all, "/", 1).await;
        m.create("/anywhere", b"").await;
        assert_eq!(
            kinds(&all.drain_events().await),
            vec![ev(NODE_CREATED, "/anywhere")]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_modes_on_one_path_coexist_and_notify_once() {
    let s = TestServer::start().await;
    within(30, async {
        let mut w = Raw::session(s.addr).await;
        let mut m = Raw::session(s.addr).await;
        m.create("/m", b"").await;
        assert_eq!(get_data_watch(&mut w, "/m").await, 0);
        assert_eq!(exists_watch(&mut w, "/m").await, 0);
        assert_eq!(children_watch(&mut w, "/m").await, 0);
        add_watch(&mut w, "/m", 0).await;
        add_watch(&mut w, "/m", 1).await;
        for t in [
            wt::DATA,
            wt::CHILDREN,
            wt::PERSISTENT,
            wt::PERSISTENT_RECURSIVE,
            wt::ANY,
        ] {
            assert_eq!(check_watches(&mut w, "/m", t).await, 0, "type {t}");
        }

        // Data change: one event, and the one-shot data watch is used up.
        m.set("/m", b"1").await;
        assert_eq!(
            kinds(&w.drain_events().await),
            vec![ev(NODE_DATA_CHANGED, "/m")]
        );
        assert_eq!(check_watches(&mut w, "/m", wt::DATA).await, err::NO_WATCHER);
        assert_eq!(check_watches(&mut w, "/m", wt::CHILDREN).await, 0);
        assert_eq!(check_watches(&mut w, "/m", wt::PERSISTENT).await, 0);
        assert_eq!(
            check_watches(&mut w, "/m", wt::PERSISTENT_RECURSIVE).await,
            0
        );

        // Child created: NodeChildrenChanged once (one-shot child + persistent), NodeCreated
        // for the child from the recursive watch.
        m.create("/m/k", b"").await;
        let mut got = kinds(&w.drain_events().await);
        got.sort();
        assert_eq!(
            got,
            vec![ev(NODE_CREATED, "/m/k"), ev(NODE_CHILDREN_CHANGED, "/m")]
        );
        assert_eq!(
            check_watches(&mut w, "/m", wt::CHILDREN).await,
            err::NO_WATCHER
        );

        // The persistent ones stay: another data change, still exactly one event.
        m.set("/m", b"2").await;
        assert_eq!(
            kinds(&w.drain_events().await),
            vec![ev(NODE_DATA_CHANGED, "/m")]
        );

        // Removing the persistent watch leaves the recursive one working.
        assert_eq!(remove_watches(&mut w, "/m", wt::PERSISTENT).await, 0);
        m.set("/m", b"3").await;
        assert_eq!(
            kinds(&w.drain_events().await),
            vec![ev(NODE_DATA_CHANGED, "/m")]
        );
        m.create("/m/k2", b"").await;
        assert_eq!(
            kinds(&w.drain_events().await),
            vec![ev(NODE_CREATED, "/m/k2")],
            "no child event once only the recursive watch is left"
        );
        assert_eq!(
            remove_watches(&mut w, "/m", wt::PERSISTENT_RECURSIVE).await,
            0
        );
        m.set("/m", b"4").await;
        assert!(w.drain_events().await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_notification_per_session_per_event() {
    let s = TestServer::start().await;
    within(30, async {
        let mut a = Raw::session(s.addr).await;
        let mut b = Raw::session(s.addr).await;
        let mut m = Raw::session(s.addr).await;
        m.create("/o", b"").await;
        for _ in 0..3 {
            assert_eq!(get_data_watch(&mut a, "/o").await, 0);
            assert_eq!(exists_watch(&mut a, "/o").await, 0);
            assert_eq!(children_watch(&mut a, "/o").await, 0);
        }
        assert_eq!(exists_watch(&mut b, "/o").await, 0);
        add_watch(&mut b, "/o", 0).await;
        add_watch(&mut b, "/o", 0).await;
        m.set("/o", b"x").await;
        assert_eq!(
            kinds(&a.drain_events().await),
            vec![ev(NODE_DATA_CHANGED, "/o")]
        );
        assert_eq!(
            kinds(&b.drain_events().await),
            vec![ev(NODE_DATA_CHANGED, "/o")]
        );
        // a's child watch is still there, registered three times: one event.
        m.create("/o/k", b"").await;
        assert_eq!(
            kinds(&a.drain_events().await),
            vec![ev(NODE_CHILDREN_CHANGED, "/o")]
        );
        assert_eq!(
            kinds(&b.drain_events().await),
            vec![ev(NODE_CHILDREN_CHANGED, "/o")]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_remove_watches_for_each_type() {
    let s = TestServer::start().await;
    within(30, async {
        let mut w = Raw::session(s.addr).await;
        let mut m = Raw::session(s.addr).await;
        m.create("/w", b"").await;

        // Nothing registered: every type answers NoWatcher.
        for t in [
            wt::CHILDREN,
            wt::DATA,
            wt::ANY,
            wt::PERSISTENT,
            wt::PERSISTENT_RECURSIVE,
        ] {
            assert_eq!(
                check_watches(&mut w, "/w", t).await,
                err::NO_WATCHER,
                "check {t}"
            );
            assert_eq!(
                remove_watches(&mut w, "/w", t).await,
                err::NO_WATCHER,
                "remove {t}"
            );
        }

        // Children.
        assert_eq!(children_watch(&mut w, "/w").await, 0);
        assert_eq!(check_watches(&mut w, "/w", wt::DATA).await, err::NO_WATCHER);
        assert_eq!(check_watches(&mut w, "/w", wt::CHILDREN).await, 0);
        assert_eq!(remove_watches(&mut w, "/w", wt::CHILDREN).await, 0);
        assert_eq!(
            remove_watches(&mut w, "/w", wt::CHILDREN).await,
            err::NO_WATCHER
        );

        // Data (getData and exists are the same kind of watch server-side).
        assert_eq!(exists_watch(&mut w, "/w").await, 0);
        assert_eq!(
            check_watches(&mut w, "/w", wt::CHILDREN).await,
            err::NO_WATCHER
        );
        assert_eq!(check_watches(&mut w, "/w", wt::DATA).await, 0);
        assert_eq!(remove_watches(&mut w, "/w", wt::DATA).await, 0);
        assert_eq!(check_watches(&mut w, "/w", wt::DATA).await, err::NO_WATCHER);

        // Persistent and recursive.
        add_watch(&mut w, "/w", 0).await;
        assert_eq!(
            check_watches(&mut w, "/w", wt::PERSISTENT_RECURSIVE).await,
            err::NO_WATCHER
        );
        assert_eq!(check_watches(&mut w, "/w", wt::PERSISTENT).await, 0);
        assert_eq!(remove_watches(&mut w, "/w", wt::PERSISTENT).await, 0);
        assert_eq!(
            check_watches(&mut w, "/w", wt::PERSISTENT).await,
            err::NO_WATCHER
        );
        add_watch(&mut w, "/w", 1).await;
        assert_eq!(
            check_watches(&mut w, "/w", wt::PERSISTENT).await,
            err::NO_WATCHER
        );
        assert_eq!(
            remove_watches(&mut w, "/w", wt::PERSISTENT_RECURSIVE).await,
            0
        );
        assert_eq!(
            remove_watches(&mut w, "/w", wt::PERSISTENT_RECURSIVE).await,
            err::NO_WATCHER
        );

        // Any removes every kind at once.
        assert_eq!(get_data_watch(&mut w, "/w").await, 0);
        assert_eq!(children_watch(&mut w, "/w").await, 0);
        add_watch(&mut w, "/w", 0).await;
        add_watch(&mut w, "/w", 1).await;
        assert_eq!(check_watches(&mut w, "/w", wt::ANY).await, 0);
        assert_eq!(remove_watches(&mut w, "/w", wt::ANY).await, 0);
        for t in [
            wt::CHILDREN,
            wt::DATA,
            wt::ANY,
            wt::PERSISTENT,
            wt::PERSISTENT_RECURSIVE,
        ] {
            assert_eq!(
                check_watches(&mut w, "/w", t).await,
                err::NO_WATCHER,
                "after Any: {t}"
            );
        }
        // Removal sends no event, and removed watches no longer fire.
        m.set("/w", b"x").await;
        m.create("/w/k", b"").await;
        assert!(w.drain_events().await.is_empty());

        // Another session's watch is not ours to check or remove.
        assert_eq!(get_data_watch(&mut m, "/w").await, 0);
        assert_eq!(check_watches(&mut w, "/w", wt::DATA).await, err::NO_WATCHER);
        assert_eq!(
            remove_watches(&mut w, "/w", wt::DATA).await,
            err::NO_WATCHER
        );
        assert_eq!(check_watches(&mut m, "/w", wt::DATA).await, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_multi_fires_nothing() {
    let s = TestServer::start().await;
    within(30, async {
        let mut w = Raw::session(s.addr).await;
        let mut m = Raw::session(s.addr).await;
        m.create("/f", b"").await;
        assert_eq!(get_data_watch(&mut w, "/f").await, 0);
        assert_eq!(children_watch(&mut w, "/f").await, 0);
        add_watch(&mut w, "/", 1).await;
        let ops = [
            common::jute::MultiOp {
                op: op::SET_DATA,
                body: body::set_data("/f", b"new", -1),
            },
            common::jute::MultiOp {
                op: op::CREATE,
                body: body::create("/f/kid", b"", 0),
            },
            common::jute::MultiOp {
                op: op::CREATE,
                body: body::create("/missing/kid", b"", 0),
            },
        ];
        let rep = m.call(op::MULTI, &common::jute::multi(&ops)).await;
        assert_eq!(rep.err, 0);
        assert!(
            w.drain_events().await.is_empty(),
            "a failed multi fires nothing"
        );
        // The watches are still armed.
        let z = m.set("/f", b"later").await;
        let events = w.drain_events().await;
        assert_eq!(kinds(&events), vec![ev(NODE_DATA_CHANGED, "/f")]);
        assert_eq!(events[0].zxid, z);

        // A successful multi fires for each op, all with the multi's zxid.
        let ops = [
            common::jute::MultiOp {
                op: op::SET_DATA,
                body: body::set_data("/f", b"again", -1),
            },
            common::jute::MultiOp {
                op: op::CREATE,
                body: body::create("/f/kid", b"", 0),
            },
        ];
        assert_eq!(get_data_watch(&mut w, "/f").await, 0);
        let rep = m.call(op::MULTI, &common::jute::multi(&ops)).await;
        assert_eq!(rep.err, 0);
        let events = w.drain_events().await;
        let mut got = kinds(&events);
        got.sort();
        assert_eq!(
            got,
            vec![
                ev(NODE_CREATED, "/f/kid"),
                ev(NODE_DATA_CHANGED, "/f"),
                ev(NODE_CHILDREN_CHANGED, "/f"),
            ]
        );
        assert!(
            events.iter().all(|e| e.zxid == rep.zxid),
            "{events:?} vs {}",
            rep.zxid
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_arrives_before_a_later_read_that_sees_the_new_data() {
    let s = TestServer::start().await;
    within(30, async {
        let mut w = Raw::session(s.addr).await;
        let mut m = Raw::session(s.addr).await;
        m.create("/o", b"old").await;
        for round in 0..20 {
            assert_eq!(get_data_watch(&mut w, "/o").await, 0);
            let data = format!("v{round}");
            // Pipeline: the writer's setData and, right behind it, the watcher's read.
            let wx = m
                .send(op::SET_DATA, &body::set_data("/o", data.as_bytes(), -1))
                .await;
            let rx = w.send(op::GET_DATA, &body::path_watch("/o", false)).await;
            let mut saw_event = false;
            loop {
                match w.next_frame().await.expect("connection open") {
                    Frame::Event(e) => {
                        assert_eq!(ev(e.kind, &e.path), ev(NODE_DATA_CHANGED, "/o"));
                        saw_event = true;
                    }
                    Frame::Reply(r) => {
                        assert_eq!(r.xid, rx);
                        let got = r.dec().buf();
                        if got == data.as_bytes() {
                            assert!(saw_event, "round {round}: new data seen before the event");
                        } else {
                            // The read overtook the write; then the event must follow.
                            assert!(!saw_event);
                            let e = w.next_event().await;
                            assert_eq!(e.kind, NODE_DATA_CHANGED);
                        }
                        break;
                    }
                }
            }
            let wr = m.reply_for(wx).await;
            assert_eq!(wr.err, 0);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_write_event_precedes_own_write_reply() {
    let s = TestServer::start().await;
    within(30, async {
        let mut w = Raw::session(s.addr).await;
        w.create("/self", b"").await;
        assert_eq!(get_data_watch(&mut w, "/self").await, 0);
        let x = w
            .send(op::SET_DATA, &body::set_data("/self", b"1", -1))
            .await;
        let first = w.next_frame().await.expect("open");
        let Frame::Event(e) = first else {
            panic!("the watcher's own write: event must come before the reply, got {first:?}");
        };
        let reply = w.reply_for(x).await;
        assert_eq!(e.zxid, reply.zxid);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_watches_rearms_and_catches_up() {
    let s = TestServer::start().await;
    within(30, async {
        let mut m = Raw::session(s.addr).await;
        for p in [
            "/same",
            "/changed",
            "/gone",
            "/gone2",
            "/appeared_later",
            "/kids",
            "/kids_same",
        ] {
            if p != "/appeared_later" {
                m.create(p, b"").await;
            }
        }
        m.create("/kids_same/a", b"").await;
        let rel = m.create("/kids/a", b"").await;
        // Changes after the client's last seen zxid.
        m.set("/changed", b"x").await;
        m.call(op::DELETE, &body::delete("/gone", -1)).await;
        m.call(op::DELETE, &body::delete("/gone2", -1)).await;
        m.create("/appeared_later", b"").await;
        m.create("/kids/b", b"").await;

        let mut w = Raw::session(s.addr).await;
        let req = body::set_watches(
            rel,
            &["/same", "/changed", "/gone"],
            &["/appeared_later", "/never"],
            &["/kids", "/kids_same", "/gone2"],
        );
        w.send_with_xid(xid::SET_WATCHES, op::SET_WATCHES, &req)
            .await;
        let reply = w.reply_for(xid::SET_WATCHES).await;
        assert_eq!(reply.err, 0);
        assert!(reply.body.is_empty());
        // Catch-up events come before the reply, with zxid -1.
        let caught: Vec<_> = w.events.drain(..).collect();
        assert!(caught.iter().all(|e| e.zxid == -1), "{caught:?}");
        let mut got = kinds(&caught);
        got.sort();
        assert_eq!(
            got,
            vec![
                ev(NODE_CREATED, "/appeared_later"),
                ev(NODE_DELETED, "/gone"),
                ev(NODE_DELETED, "/gone2"),
                ev(NODE_DATA_CHANGED, "/changed"),
                ev(NODE_CHILDREN_CHANGED, "/kids"),
            ]
        );

        // The unchanged ones are armed now.
        m.set("/same", b"y").await;
        m.create("/never", b"").await;
        m.create("/kids_same/b", b"").await;
        // The caught-up ones are not re-armed.
        m.set("/changed", b"z").await;
        m.create("/kids/c", b"").await;
        let mut got = kinds(&w.drain_events().await);
        got.sort();
        assert_eq!(
            got,
            vec![
                ev(NODE_CREATED, "/never"),
                ev(NODE_DATA_CHANGED, "/same"),
                ev(NODE_CHILDREN_CHANGED, "/kids_same"),
            ]
        );
    })
    .await;
}

/// Beyond ZooKeeper: persistent and recursive watches re-armed by setWatches2 are caught up
/// from the event journal, in order and with each event's own zxid, before the reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_watches2_catches_persistent_watches_up_from_the_journal() {
    let s = TestServer::start().await;
    within(30, async {
        let mut m = Raw::session(s.addr).await;
        m.create("/pp", b"").await;
        let rel = m.create("/rr", b"").await;
        let z_set = m.set("/pp", b"changed while away").await;
        let z_create = m.create("/rr/x", b"").await;
        m.create("/elsewhere_not_watched", b"").await;
        m.create("/rrr", b"").await; // a sibling whose name merely starts like the watch

        let mut w = Raw::session(s.addr).await;
        let req = body::set_watches2(rel, &[], &[], &[], &["/pp"], &["/rr"]);
        let x = w.send(op::SET_WATCHES2, &req).await;
        let reply = w.reply_for(x).await;
        assert_eq!(reply.err, 0);
        let caught_up: Vec<(i64, i32, String)> = w
            .events
            .iter()
            .map(|e| (e.zxid, e.kind, e.path.clone()))
            .collect();
        assert_eq!(
            caught_up,
            vec![
                (z_set, NODE_DATA_CHANGED, "/pp".to_string()),
                (z_create, NODE_CREATED, "/rr/x".to_string()),
            ],
            "missed events replayed in order with their zxids, before the reply"
        );
        w.events.clear();
        assert_eq!(check_watches(&mut w, "/pp", wt::PERSISTENT).await, 0);

        m.set("/pp", b"1").await;
        m.create("/rr/y", b"").await;
        assert_eq!(
            kinds(&w.drain_events().await),
            vec![ev(NODE_DATA_CHANGED, "/pp"), ev(NODE_CREATED, "/rr/y")]
        );
    })
    .await;
}

/// With the journal off (or no longer reaching back), persistent watches are re-added without
/// catch-up, exactly as ZooKeeper does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_watches2_without_journal_readds_persistent_watches_without_catch_up() {
    let s = TestServer::start_with(|cfg| cfg.event_journal_size = 0).await;
    within(30, async {
        let mut m = Raw::session(s.addr).await;
        let rel = m.create("/pp", b"").await;
        m.create("/rr", b"").await;
        m.set("/pp", b"changed while away").await;

        let mut w = Raw::session(s.addr).await;
        let req = body::set_watches2(rel, &[], &[], &[], &["/pp"], &["/rr"]);
        let x = w.send(op::SET_WATCHES2, &req).await;
        let reply = w.reply_for(x).await;
        assert_eq!(
            reply.err, 0,
            "setWatches2 with an ordinary xid (as the Java client sends)"
        );
        assert!(w.events.is_empty(), "no catch-up for persistent watches");
        assert_eq!(check_watches(&mut w, "/pp", wt::PERSISTENT).await, 0);
        assert_eq!(
            check_watches(&mut w, "/rr", wt::PERSISTENT_RECURSIVE).await,
            0
        );

        m.set("/pp", b"1").await;
        m.set("/pp", b"2").await;
        m.create("/rr/x", b"").await;
        assert_eq!(
            kinds(&w.drain_events().await),
            vec![
                ev(NODE_DATA_CHANGED, "/pp"),
                ev(NODE_DATA_CHANGED, "/pp"),
                ev(NODE_CREATED, "/rr/x"),
            ]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_belong_to_the_connection() {
    let s = TestServer::start().await;
    within(30, async {
        let mut m = Raw::session(s.addr).await;
        m.create("/c", b"").await;
        let mut w = Raw::session(s.addr).await;
        assert_eq!(get_data_watch(&mut w, "/c").await, 0);
        add_watch(&mut w, "/c", 0).await;
        let (id, pw) = (w.session_id, w.passwd.clone());
        drop(w);
        // Resume the session on a new connection: its watches did not come along.
        let mut w2 = Raw::tcp(s.addr).await;
        let mut req = common::raw::ConnectReq::new_session(30_000);
        req.session_id = id;
        req.passwd = pw;
        let resp = w2.handshake(&req).await.expect("resume answered");
        assert_eq!(resp.session_id, id);
        assert_eq!(check_watches(&mut w2, "/c", wt::ANY).await, err::NO_WATCHER);
        m.set("/c", b"x").await;
        assert!(w2.drain_events().await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_library_one_shot_watches() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        c.create("/lib", b"", &persistent()).await.unwrap();
        let (_, _, data_w) = c.get_and_watch_data("/lib").await.unwrap();
        let (_, child_w) = c.list_and_watch_children("/lib").await.unwrap();
        let st = c.set_data("/lib", b"x", None).await.unwrap();
        let e = event_within(5, data_w).await;
        assert_eq!(
            (e.event_type, e.path.as_str(), e.zxid),
            (zk::EventType::NodeDataChanged, "/lib", st.mzxid)
        );
        let (kid, _) = c.create("/lib/k", b"", &persistent()).await.unwrap();
        let e = event_within(5, child_w).await;
        assert_eq!(
            (e.event_type, e.path.as_str(), e.zxid),
            (zk::EventType::NodeChildrenChanged, "/lib", kid.czxid)
        );
        let (_, _, gone_w) = c.get_and_watch_data("/lib/k").await.unwrap();
        c.delete("/lib/k", None).await.unwrap();
        let e = event_within(5, gone_w).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (zk::EventType::NodeDeleted, "/lib/k")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_reaches_every_watching_session_once() {
    let s = TestServer::start().await;
    within(60, async {
        let mut m = Raw::session(s.addr).await;
        m.create("/hot", b"").await;
        let mut watchers = Vec::new();
        for i in 0..40 {
            let mut w = Raw::session(s.addr).await;
            match i % 4 {
                0 => assert_eq!(get_data_watch(&mut w, "/hot").await, 0),
                1 => assert_eq!(exists_watch(&mut w, "/hot").await, 0),
                2 => add_watch(&mut w, "/hot", 0).await,
                _ => add_watch(&mut w, "/", 1).await,
            }
            watchers.push(w);
        }
        let z = m.set("/hot", b"x").await;
        for (i, w) in watchers.iter_mut().enumerate() {
            let events = w.drain_events().await;
            assert_eq!(
                kinds(&events),
                vec![ev(NODE_DATA_CHANGED, "/hot")],
                "watcher {i}"
            );
            assert_eq!(events[0].zxid, z, "watcher {i}");
        }
    })
    .await;
}

/// A configured per-session watch limit: the request that would exceed it fails with
/// QuotaExceeded and sets nothing; watches already held can be set again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_session_watch_limit() {
    const QUOTA_EXCEEDED: i32 = -125;
    let s = TestServer::start_with(|cfg| cfg.max_watches_per_session = Some(2)).await;
    within(30, async {
        let mut m = Raw::session(s.addr).await;
        for p in ["/l1", "/l2", "/l3"] {
            m.create(p, b"").await;
        }
        let mut w = Raw::session(s.addr).await;
        assert_eq!(get_data_watch(&mut w, "/l1").await, 0);
        assert_eq!(children_watch(&mut w, "/l2").await, 0);
        assert_eq!(get_data_watch(&mut w, "/l3").await, QUOTA_EXCEEDED);
        assert_eq!(check_watches(&mut w, "/l3", wt::ANY).await, err::NO_WATCHER);
        // The same watch again is not a new one.
        assert_eq!(get_data_watch(&mut w, "/l1").await, 0);
        // Another session has its own budget.
        let mut w2 = Raw::session(s.addr).await;
        assert_eq!(get_data_watch(&mut w2, "/l3").await, 0);
        // Once a one-shot watch fires, its place is free again.
        m.set("/l1", b"x").await;
        assert_eq!(
            kinds(&w.drain_events().await),
            vec![ev(NODE_DATA_CHANGED, "/l1")]
        );
        assert_eq!(get_data_watch(&mut w, "/l3").await, 0);
    })
    .await;
}
