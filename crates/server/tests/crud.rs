//! Znode CRUD against a real server: every create mode, versions, stats, listing, counting,
//! ephemerals, sync, and the error codes ZooKeeper 3.9 answers.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::jute::{body, err, op};
use common::raw::Raw;
use common::{TestServer, ephemeral, eventually, persistent, within};
use zookeeper_client as zk;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_persistent_and_read_back_with_fresh_stat() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        let before = now_ms();
        let (stat, seq) = c.create("/a", b"hello", &persistent()).await.unwrap();
        assert_eq!(seq.into_i64(), -1, "non-sequential create has no sequence");
        assert_eq!(stat.version, 0);
        assert_eq!(stat.cversion, 0);
        assert_eq!(stat.aversion, 0);
        assert_eq!(stat.data_length, 5);
        assert_eq!(stat.num_children, 0);
        assert_eq!(stat.ephemeral_owner, 0);
        assert!(stat.czxid > 0);
        assert_eq!(stat.mzxid, stat.czxid);
        assert_eq!(stat.pzxid, stat.czxid, "a new node's pzxid is its czxid");
        assert_eq!(stat.ctime, stat.mtime);
        assert!(
            (before - 5_000..=now_ms() + 5_000).contains(&stat.ctime),
            "ctime {} is not wall-clock milliseconds",
            stat.ctime
        );

        let (data, got) = c.get_data("/a").await.unwrap();
        assert_eq!(data, b"hello");
        assert_eq!(got, stat);
        assert_eq!(c.check_stat("/a").await.unwrap(), Some(stat));
        assert_eq!(c.check_stat("/nope").await.unwrap(), None);

        // Empty data is kept as empty, not as "missing".
        let (stat, _) = c.create("/empty", b"", &persistent()).await.unwrap();
        assert_eq!(stat.data_length, 0);
        assert_eq!(c.get_data("/empty").await.unwrap().0, Vec::<u8>::new());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_suffix_is_parent_cversion() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        c.create("/q", b"", &persistent()).await.unwrap();
        let pseq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
        let eseq = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());

        let (_, s0) = c.create("/q/n-", b"", &pseq).await.unwrap();
        assert_eq!(s0.into_i64(), 0);
        c.create("/q/plain", b"", &persistent()).await.unwrap(); // cversion 2
        let (_, s2) = c.create("/q/n-", b"", &pseq).await.unwrap();
        assert_eq!(s2.into_i64(), 2, "a plain child also advances the counter");
        // ZooKeeper numbers from the parent's internal create count, which a delete does not
        // advance (the cversion clients see is derived: 2 * creates - children).
        c.delete("/q/plain", None).await.unwrap();
        let (_, s3) = c.create("/q/n-", b"", &eseq).await.unwrap();
        assert_eq!(s3.into_i64(), 3, "a delete does not advance the sequence");
        let (stat, s4) = c.create("/q/", b"", &pseq).await.unwrap();
        assert_eq!(s4.into_i64(), 4, "an empty prefix is allowed");
        assert_eq!(stat.version, 0);

        let mut kids = c.list_children("/q").await.unwrap();
        kids.sort();
        assert_eq!(
            kids,
            vec!["0000000004", "n-0000000000", "n-0000000002", "n-0000000003"]
        );
        let (_, parent) = c.get_data("/q").await.unwrap();
        assert_eq!(
            parent.cversion, 6,
            "six child changes: five creates and a delete"
        );
        assert_eq!(parent.num_children, 4);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_is_owned_by_the_session_and_cannot_have_children() {
    let s = TestServer::start().await;
    within(30, async {
        let a = s.client().await;
        let b = s.client().await;
        let (stat, _) = a.create("/e", b"x", &ephemeral()).await.unwrap();
        assert_eq!(stat.ephemeral_owner, a.session_id().0);
        assert_eq!(
            b.get_data("/e").await.unwrap().1.ephemeral_owner,
            a.session_id().0
        );

        assert_eq!(
            a.create("/e/child", b"", &persistent()).await.unwrap_err(),
            zk::Error::NoChildrenForEphemerals
        );
        assert_eq!(
            b.create("/e/child", b"", &ephemeral()).await.unwrap_err(),
            zk::Error::NoChildrenForEphemerals
        );
        let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
        assert_eq!(
            a.create("/e/s", b"", &seq).await.unwrap_err(),
            zk::Error::NoChildrenForEphemerals
        );
        assert_eq!(a.get_data("/e").await.unwrap().1.num_children, 0);

        // Another session may delete it (ephemerals are not ACL-protected by ownership).
        b.delete("/e", None).await.unwrap();
        assert!(a.list_ephemerals("/").await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_ephemerals_lists_own_by_plain_string_prefix() {
    let s = TestServer::start().await;
    within(30, async {
        let a = s.client().await;
        let b = s.client().await;
        a.create("/e1", b"", &ephemeral()).await.unwrap();
        a.create("/e10", b"", &ephemeral()).await.unwrap();
        a.create("/d", b"", &persistent()).await.unwrap();
        a.create("/d/x", b"", &ephemeral()).await.unwrap();
        b.create("/e1b", b"", &ephemeral()).await.unwrap();

        let mut all = a.list_ephemerals("/").await.unwrap();
        all.sort();
        assert_eq!(all, vec!["/d/x", "/e1", "/e10"]);
        let mut e1 = a.list_ephemerals("/e1").await.unwrap();
        e1.sort();
        assert_eq!(e1, vec!["/e1", "/e10"], "prefix is a string prefix");
        assert_eq!(a.list_ephemerals("/d").await.unwrap(), vec!["/d/x"]);
        assert!(a.list_ephemerals("/zzz").await.unwrap().is_empty());
        assert_eq!(b.list_ephemerals("/").await.unwrap(), vec!["/e1b"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_is_reaped_once_its_last_child_goes() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        let container = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
        let (stat, _) = c.create("/box", b"", &container).await.unwrap();
        // ZooKeeper stores containers with owner 0x8000000000000000 but shows clients 0.
        assert_eq!(stat.ephemeral_owner, 0);
        let (never_used, _) = c.create("/never", b"", &container).await.unwrap();
        assert_eq!(never_used.ephemeral_owner, 0);
        assert!(
            c.list_ephemerals("/").await.unwrap().is_empty(),
            "not an ephemeral"
        );

        c.create("/box/item", b"", &persistent()).await.unwrap();
        // Several check intervals pass: a container with a child stays.
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(c.check_stat("/box").await.unwrap().is_some());

        c.delete("/box/item", None).await.unwrap();
        eventually(Duration::from_secs(5), "empty container reaped", || async {
            c.check_stat("/box").await.unwrap().is_none()
        })
        .await;
        // A container that never had a child is not reaped.
        assert!(c.check_stat("/never").await.unwrap().is_some());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_node_expires_when_unmodified_and_childless() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        let ttl = zk::CreateMode::Persistent
            .with_acls(zk::Acls::anyone_all())
            .with_ttl(Duration::from_millis(500));
        let (stat, _) = c.create("/t", b"", &ttl).await.unwrap();
        // Stored as owner 0xFF00000000000000 | ttl, shown to clients as 0.
        assert_eq!(stat.ephemeral_owner, 0);
        assert_eq!(stat.version, 0);
        let (with_child, _) = c.create("/tc", b"", &ttl).await.unwrap();
        assert_eq!(with_child.version, 0);
        c.create("/tc/kid", b"", &persistent()).await.unwrap();

        let seq_ttl = zk::CreateMode::PersistentSequential
            .with_acls(zk::Acls::anyone_all())
            .with_ttl(Duration::from_millis(500));
        let (_, n) = c.create("/ts-", b"", &seq_ttl).await.unwrap();
        let seq_path = format!("/ts-{n}");

        let took = eventually(Duration::from_secs(5), "TTL node removed", || async {
            c.check_stat("/t").await.unwrap().is_none()
        })
        .await;
        assert!(
            took >= Duration::from_millis(300),
            "removed too early ({took:?})"
        );
        eventually(
            Duration::from_secs(5),
            "sequential TTL node removed",
            || async { c.check_stat(&seq_path).await.unwrap().is_none() },
        )
        .await;
        assert!(
            c.check_stat("/tc").await.unwrap().is_some(),
            "a TTL node with children stays"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_needs_extended_types_and_a_valid_ttl() {
    let s = TestServer::start_with(|c| c.extended_types_enabled = false).await;
    within(30, async {
        let c = s.client().await;
        let ttl = zk::CreateMode::Persistent
            .with_acls(zk::Acls::anyone_all())
            .with_ttl(Duration::from_secs(5));
        assert_eq!(
            c.create("/t", b"", &ttl).await.unwrap_err(),
            zk::Error::Unimplemented
        );
        assert_eq!(c.check_stat("/t").await.unwrap(), None);
    })
    .await;

    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        let ttl_body = |flags: i32, ttl: i64| {
            common::jute::Enc::new()
                .str("/t")
                .buf(b"")
                .acl(common::jute::OPEN_ACL)
                .i32(flags)
                .i64(ttl)
                .done()
        };
        // TTL 0, or one past the 40-bit limit, is BadArguments.
        assert_eq!(
            r.call(op::CREATE_TTL, &ttl_body(5, 0)).await.err,
            err::BAD_ARGUMENTS
        );
        assert_eq!(
            r.call(op::CREATE_TTL, &ttl_body(5, 1 << 40)).await.err,
            err::BAD_ARGUMENTS
        );
        // Only persistent modes can carry a TTL.
        assert_eq!(
            r.call(op::CREATE_TTL, &ttl_body(1, 1000)).await.err,
            err::BAD_ARGUMENTS
        );
        let ok = r.call(op::CREATE_TTL, &ttl_body(5, 1000)).await;
        assert_eq!(ok.err, 0);
        let mut d = ok.dec();
        assert_eq!(d.str(), "/t");
        let st = d.stat();
        assert_eq!((st.ephemeral_owner, st.czxid), (0, ok.zxid));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_data_checks_versions_and_updates_stat() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        let (created, _) = c.create("/v", b"one", &persistent()).await.unwrap();
        let st1 = c.set_data("/v", b"two!", Some(0)).await.unwrap();
        assert_eq!(st1.version, 1);
        assert_eq!(st1.data_length, 4);
        assert_eq!(st1.czxid, created.czxid);
        assert!(st1.mzxid > created.mzxid);
        assert_eq!(st1.ctime, created.ctime);
        assert!(st1.mtime >= created.mtime);
        assert_eq!(st1.pzxid, created.pzxid, "setData does not touch pzxid");
        assert_eq!(st1.cversion, 0);

        assert_eq!(
            c.set_data("/v", b"x", Some(0)).await.unwrap_err(),
            zk::Error::BadVersion
        );
        assert_eq!(
            c.set_data("/v", b"x", Some(7)).await.unwrap_err(),
            zk::Error::BadVersion
        );
        assert_eq!(c.get_data("/v").await.unwrap().0, b"two!");

        let st2 = c.set_data("/v", b"", None).await.unwrap();
        assert_eq!(st2.version, 2);
        assert_eq!(st2.data_length, 0);
        assert_eq!(
            c.set_data("/missing", b"", None).await.unwrap_err(),
            zk::Error::NoNode
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_checks_version_children_and_existence() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        c.create("/d", b"", &persistent()).await.unwrap();
        c.create("/d/kid", b"", &persistent()).await.unwrap();
        assert_eq!(c.delete("/d", None).await.unwrap_err(), zk::Error::NotEmpty);
        assert_eq!(
            c.delete("/d/kid", Some(3)).await.unwrap_err(),
            zk::Error::BadVersion
        );
        c.set_data("/d/kid", b"1", None).await.unwrap();
        assert_eq!(
            c.delete("/d/kid", Some(0)).await.unwrap_err(),
            zk::Error::BadVersion
        );
        c.delete("/d/kid", Some(1)).await.unwrap();
        assert_eq!(
            c.delete("/d/kid", None).await.unwrap_err(),
            zk::Error::NoNode
        );
        c.delete("/d", Some(0)).await.unwrap();
        assert_eq!(c.check_stat("/d").await.unwrap(), None);
        assert_eq!(c.delete("/x/y", None).await.unwrap_err(), zk::Error::NoNode);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_changes_move_cversion_pzxid_and_num_children() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        let (p0, _) = c.create("/p", b"", &persistent()).await.unwrap();
        let (k1, _) = c.create("/p/k1", b"", &persistent()).await.unwrap();
        let (_, p1) = c.get_data("/p").await.unwrap();
        assert_eq!(p1.cversion, 1);
        assert_eq!(p1.num_children, 1);
        assert_eq!(p1.pzxid, k1.czxid);
        assert_eq!(
            p1.version, 0,
            "child changes do not change the data version"
        );
        assert_eq!(p1.mzxid, p0.mzxid);

        let (k2, _) = c.create("/p/k2", b"", &persistent()).await.unwrap();
        c.set_data("/p/k2", b"data", None).await.unwrap();
        let (_, p2) = c.get_data("/p").await.unwrap();
        assert_eq!(p2.cversion, 2);
        assert_eq!(p2.num_children, 2);
        assert_eq!(
            p2.pzxid, k2.czxid,
            "a child's setData leaves the parent alone"
        );

        c.delete("/p/k1", None).await.unwrap();
        let (_, p3) = c.get_data("/p").await.unwrap();
        assert_eq!(p3.cversion, 3);
        assert_eq!(p3.num_children, 1);
        assert!(p3.pzxid > p2.pzxid, "delete of a child moves pzxid");
        // The delete's zxid is the last one: a following write gets the next.
        let (after, _) = c.create("/after", b"", &persistent()).await.unwrap();
        assert_eq!(after.czxid, p3.pzxid + 1);

        // Grandchildren do not count.
        c.create("/p/k2/g", b"", &persistent()).await.unwrap();
        let (_, p4) = c.get_data("/p").await.unwrap();
        assert_eq!((p4.cversion, p4.num_children, p4.pzxid), (3, 1, p3.pzxid));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_children_and_children2() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        c.create("/g", b"abc", &persistent()).await.unwrap();
        for k in ["b", "a", "c"] {
            c.create(&format!("/g/{k}"), b"", &persistent())
                .await
                .unwrap();
        }
        c.create("/g/a/deep", b"", &persistent()).await.unwrap();
        let mut kids = c.list_children("/g").await.unwrap();
        kids.sort();
        assert_eq!(kids, vec!["a", "b", "c"], "names only, one level");
        let (mut kids2, stat) = c.get_children("/g").await.unwrap();
        kids2.sort();
        assert_eq!(kids2, kids);
        assert_eq!(
            stat,
            c.get_data("/g").await.unwrap().1,
            "getChildren2 returns the parent's stat"
        );
        assert_eq!(stat.num_children, 3);
        assert!(c.list_children("/g/b").await.unwrap().is_empty());
        assert_eq!(
            c.list_children("/none").await.unwrap_err(),
            zk::Error::NoNode
        );
        assert_eq!(
            c.get_children("/none").await.unwrap_err(),
            zk::Error::NoNode
        );

        let mut root = c.list_children("/").await.unwrap();
        root.sort();
        assert_eq!(root, vec!["g", "zookeeper"]);
        let mut zkdir = c.list_children("/zookeeper").await.unwrap();
        zkdir.sort();
        assert_eq!(zkdir, vec!["config", "quota"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_children_number_counts_descendants() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        // A fresh tree: /zookeeper, /zookeeper/quota, /zookeeper/config.
        assert_eq!(c.count_descendants_number("/").await.unwrap(), 3);
        for p in ["/x", "/x/a", "/x/a/b", "/x/c", "/xy"] {
            c.create(p, b"", &persistent()).await.unwrap();
        }
        assert_eq!(c.count_descendants_number("/x").await.unwrap(), 3);
        assert_eq!(c.count_descendants_number("/x/a").await.unwrap(), 1);
        assert_eq!(c.count_descendants_number("/x/c").await.unwrap(), 0);
        assert_eq!(c.count_descendants_number("/").await.unwrap(), 8);
        assert_eq!(
            c.count_descendants_number("/nope").await.unwrap_err(),
            zk::Error::NoNode
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_nodes_exist_and_are_protected() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        for p in ["/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            assert!(c.check_stat(p).await.unwrap().is_some(), "{p} must exist");
        }
        let mut r = Raw::session(s.addr).await;
        for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            let rep = r.call(op::DELETE, &body::delete(p, -1)).await;
            assert_eq!(rep.err, err::BAD_ARGUMENTS, "delete {p}");
        }
        assert!(c.check_stat("/zookeeper").await.unwrap().is_some());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paths_are_bad_arguments() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        r.create("/ok", b"").await;
        // Each of these has an existing parent (or none at all), so ZooKeeper's check order
        // (no '/' or NUL -> parent exists -> full validation) ends in BadArguments.
        let bad = [
            "",
            "noslash",
            "/ok/",
            "//",
            "/.",
            "/ok/.",
            "/ok/..",
            "/ctl\u{1}char",
            "/nul\u{0}byte",
            "/del\u{7f}",
        ];
        for p in bad {
            let rep = r.call(op::CREATE, &body::create(p, b"", 0)).await;
            assert_eq!(rep.err, err::BAD_ARGUMENTS, "create {p:?}: {rep:?}");
            let rep = r.call(op::CREATE2, &body::create(p, b"", 0)).await;
            assert_eq!(rep.err, err::BAD_ARGUMENTS, "create2 {p:?}: {rep:?}");
            assert!(rep.body.is_empty(), "an error reply carries no body");
        }
        // A sequential create validates the path with its suffix: "/ok/" + seq is fine.
        let rep = r.call(op::CREATE, &body::create("/ok/", b"", 2)).await;
        assert_eq!(rep.err, 0);
        assert_eq!(rep.dec().str(), "/ok/0000000000");
        // setData validates the whole path; delete rejects a path without '/' or with NUL.
        let rep = r.call(op::SET_DATA, &body::set_data("/ok/", b"", -1)).await;
        assert_eq!(rep.err, err::BAD_ARGUMENTS);
        let rep = r.call(op::DELETE, &body::delete("noslash", -1)).await;
        assert_eq!(rep.err, err::BAD_ARGUMENTS);
        let rep = r.call(op::DELETE, &body::delete("/ok\u{0}", -1)).await;
        assert_eq!(rep.err, err::BAD_ARGUMENTS);
        // Unknown create flags.
        let rep = r.call(op::CREATE, &body::create("/f", b"", 7)).await;
        assert_eq!(rep.err, err::BAD_ARGUMENTS);
        let rep = r.call(op::CREATE, &body::create("/f", b"", -1)).await;
        assert_eq!(rep.err, err::BAD_ARGUMENTS);
        // Reads do no path validation (only exists rejects NUL): a bad path is just missing.
        let rep = r
            .call(op::GET_DATA, &body::path_watch("noslash", false))
            .await;
        assert_eq!(rep.err, err::NO_NODE);
        let rep = r
            .call(op::GET_CHILDREN, &body::path_watch("/ok/", false))
            .await;
        assert_eq!(rep.err, err::NO_NODE);
        let rep = r
            .call(op::EXISTS, &body::path_watch("/a\u{0}b", false))
            .await;
        assert_eq!(rep.err, err::BAD_ARGUMENTS);
        // Nothing was created by any of that.
        let rep = r
            .call(op::GET_CHILDREN, &body::path_watch("/", false))
            .await;
        let mut kids = rep.dec().strs();
        kids.sort();
        assert_eq!(kids, vec!["ok", "zookeeper"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_node_and_node_exists() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        assert_eq!(
            c.create("/no/parent", b"", &persistent())
                .await
                .unwrap_err(),
            zk::Error::NoNode
        );
        c.create("/dup", b"1", &persistent()).await.unwrap();
        assert_eq!(
            c.create("/dup", b"2", &persistent()).await.unwrap_err(),
            zk::Error::NodeExists
        );
        assert_eq!(
            c.create("/dup", b"2", &ephemeral()).await.unwrap_err(),
            zk::Error::NodeExists
        );
        assert_eq!(c.get_data("/dup").await.unwrap().0, b"1");
        assert_eq!(c.get_data("/none").await.unwrap_err(), zk::Error::NoNode);
        assert_eq!(c.get_acl("/none").await.unwrap_err(), zk::Error::NoNode);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_create2_replies_and_zxids() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        // create (1) answers with the path only.
        let a = r.call(op::CREATE, &body::create("/a", b"xy", 0)).await;
        assert_eq!(a.err, 0);
        let mut d = a.dec();
        assert_eq!(d.str(), "/a");
        assert_eq!(
            d.remaining(),
            0,
            "create (opcode 1) answers with the path only"
        );

        // create2 (15) adds the stat; its czxid is the reply's zxid.
        let b = r.call(op::CREATE2, &body::create("/b", b"xyz", 0)).await;
        assert_eq!(b.err, 0);
        let mut d = b.dec();
        assert_eq!(d.str(), "/b");
        let st = d.stat();
        assert_eq!(st.czxid, b.zxid);
        assert_eq!(b.zxid, a.zxid + 1);
        assert_eq!(st.data_length, 3);

        // A failed write still consumes a zxid (ZooKeeper logs an error txn).
        let dup = r.call(op::CREATE, &body::create("/a", b"", 0)).await;
        assert_eq!(dup.err, err::NODE_EXISTS);
        assert_eq!(dup.zxid, b.zxid + 1);
        let c = r.call(op::CREATE, &body::create("/c", b"", 0)).await;
        assert_eq!(c.zxid, dup.zxid + 1);

        // A read's reply carries the last zxid.
        let g = r.call(op::GET_DATA, &body::path_watch("/a", false)).await;
        assert_eq!(g.zxid, c.zxid);
        let mut d = g.dec();
        assert_eq!(d.buf(), b"xy");
        assert_eq!(d.stat().czxid, a.zxid);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_echoes_the_path() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        c.create("/s", b"", &persistent()).await.unwrap();
        c.sync("/s").await.unwrap();
        c.sync("/missing").await.unwrap(); // no existence check
        let mut r = Raw::session(s.addr).await;
        let rep = r.call(op::SYNC, &body::path("/missing/x")).await;
        assert_eq!(rep.err, 0);
        assert_eq!(rep.dec().str(), "/missing/x");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_data_round_trips() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let (stat, _) = c.create("/big", &data, &persistent()).await.unwrap();
        assert_eq!(stat.data_length, 1_000_000);
        assert_eq!(c.get_data("/big").await.unwrap().0, data);
    })
    .await;
}
