//! Apply: every op's success and error paths, ZooKeeper's error precedence, stat arithmetic,
//! sequential names, sessions, containers, TTL nodes and multi atomicity.

use watchkeeper_proto::perms::{ADMIN, ALL, CREATE, DELETE, READ, WRITE};
use watchkeeper_proto::{Acl, CreateMode, ErrorCode, Id, Stat};

use crate::acl::digest_id;
use crate::{Applied, Change, DataTree, Entry, MAX_TTL_MS, NO_TTL, Op, OpResult};

use CreateMode::*;

const S1: i64 = 0x0100_0000_0000_0001;
const S2: i64 = 0x0100_0000_0000_0002;

/// A tree with sessions S1 and S2, applying entries at consecutive zxids; time = 1000 * zxid.
struct H {
    t: DataTree,
    zxid: i64,
    auth: Vec<Id>,
}

impl H {
    fn new() -> H {
        let mut h = H {
            t: DataTree::new(),
            zxid: 0,
            auth: vec![Id::new("ip", "127.0.0.1")],
        };
        for s in [S1, S2] {
            let r = h.run_as(
                s,
                Op::CreateSession {
                    timeout_ms: 30_000,
                    password: vec![7; 16],
                    owner: 0,
                },
            );
            assert_eq!(r.result, Ok(OpResult::SessionCreated));
        }
        h
    }

    fn run_as(&mut self, session: i64, op: Op) -> Applied {
        self.run_full(session, self.auth.clone(), op)
    }

    fn run_full(&mut self, session: i64, auth: Vec<Id>, op: Op) -> Applied {
        self.zxid += 1;
        let e = Entry {
            session,
            time: self.zxid * 1000,
            auth,
            op,
        };
        let before = self.t.clone();
        let a = self.t.apply(self.zxid, &e);
        assert_eq!(a.changes.len(), a.acls.len());
        assert_eq!(self.t.last_zxid(), self.zxid);
        let failed = matches!(a.result, Err(_) | Ok(OpResult::MultiFailed(_)));
        if failed {
            assert!(a.changes.is_empty(), "a failed op reported changes");
            let mut expect = before;
            expect.last_zxid = self.zxid;
            expect.last_time = expect.last_time.max(e.time);
            assert_eq!(expect, self.t, "a failed op changed the tree");
        }
        self.t.check_invariants();
        a
    }

    fn run(&mut self, op: Op) -> Applied {
        self.run_as(S1, op)
    }

    fn err(&mut self, op: Op) -> ErrorCode {
        match self.run(op).result {
            Err(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn create(&mut self, path: &str, mode: CreateMode) -> (String, Stat) {
        self.create_acl(path, mode, Acl::open_unsafe())
    }

    fn create_acl(&mut self, path: &str, mode: CreateMode, acl: Vec<Acl>) -> (String, Stat) {
        match self
            .run(Op::create(path, Some(b"data".to_vec()), acl, mode))
            .result
        {
            Ok(OpResult::Created { path, stat }) => (path, stat),
            other => panic!("create {path}: {other:?}"),
        }
    }

    fn stat(&self, path: &str) -> Stat {
        self.t.node(path).unwrap_or_else(|| panic!("{path}")).stat()
    }
}

fn create_op(path: &str, mode: CreateMode) -> Op {
    Op::create(path, Some(vec![]), Acl::open_unsafe(), mode)
}

fn ttl_op(path: &str, mode: CreateMode, ttl_ms: i64) -> Op {
    Op::Create {
        path: path.into(),
        data: Some(vec![]),
        acl: Acl::open_unsafe(),
        mode,
        ttl_ms,
    }
}

fn acl(perms: i32, scheme: &str, id: &str) -> Vec<Acl> {
    vec![Acl::new(perms, Id::new(scheme, id))]
}

// ---------------------------------------------------------------- create

#[test]
fn create_sets_stats_and_reports_changes() {
    let mut h = H::new();
    let root_before = h.stat("/");
    let a = h.run(Op::create(
        "/a",
        Some(b"hello".to_vec()),
        Acl::open_unsafe(),
        Persistent,
    ));
    let z = h.zxid;
    let Ok(OpResult::Created { path, stat }) = a.result else {
        panic!("{a:?}")
    };
    assert_eq!(path, "/a");
    assert_eq!(
        stat,
        Stat {
            czxid: z,
            mzxid: z,
            ctime: z * 1000,
            mtime: z * 1000,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 5,
            num_children: 0,
            pzxid: z,
        }
    );
    assert_eq!(h.stat("/a"), stat);
    assert_eq!(
        a.changes,
        vec![
            Change::Created("/a".into()),
            Change::ChildrenChanged("/".into())
        ]
    );
    let root = h.stat("/");
    assert_eq!(root.cversion, root_before.cversion + 1);
    assert_eq!(root.num_children, 2);
    assert_eq!(root.pzxid, z);
    assert_eq!(root.mzxid, root_before.mzxid);
    assert_eq!(h.t.node("/a").unwrap().data(), Some(&b"hello"[..]));
    assert_eq!(h.t.approximate_data_size(), 44 + 2 + 5);
    assert_eq!(h.t.node_count(), 5);
}

#[test]
fn create_ephemeral_records_owner() {
    let mut h = H::new();
    let (_, stat) = h.create("/e", Ephemeral);
    assert_eq!(stat.ephemeral_owner, S1);
    assert_eq!(h.t.ephemerals(S1).collect::<Vec<_>>(), vec!["/e"]);
    assert_eq!(h.t.ephemeral_count(), 1);
    assert_eq!(h.t.node("/e").unwrap().ephemeral_session(), Some(S1));
}

#[test]
fn create_errors() {
    let mut h = H::new();
    h.create("/a", Persistent);
    h.create("/e", Ephemeral);
    assert_eq!(
        h.err(create_op("/missing/x", Persistent)),
        ErrorCode::NoNode
    );
    assert_eq!(h.err(create_op("/a", Persistent)), ErrorCode::NodeExists);
    assert_eq!(h.err(create_op("/", Persistent)), ErrorCode::NodeExists);
    assert_eq!(
        h.err(create_op("/e/x", Persistent)),
        ErrorCode::NoChildrenForEphemerals
    );
    assert_eq!(
        h.err(create_op("/e/x", EphemeralSequential)),
        ErrorCode::NoChildrenForEphemerals
    );
    assert_eq!(
        h.err(Op::create("/b", Some(vec![]), vec![], Persistent)),
        ErrorCode::InvalidAcl
    );
    for bad in ["abc", "", "/a\0b"] {
        assert_eq!(
            h.err(create_op(bad, Persistent)),
            ErrorCode::BadArguments,
            "{bad:?}"
        );
    }
    // With the parent present, the full path check comes after the parent lookup.
    assert_eq!(h.err(create_op("/a/", Persistent)), ErrorCode::BadArguments);
    assert_eq!(
        h.err(create_op("/a/.", Persistent)),
        ErrorCode::BadArguments
    );
    assert_eq!(h.err(create_op("//", Persistent)), ErrorCode::BadArguments);
}

#[test]
fn create_error_precedence_follows_zookeeper() {
    let mut h = H::new();
    h.create_acl("/locked", Persistent, Acl::read_unsafe());
    h.create("/locked2", Persistent);
    h.run(Op::SetAcl {
        path: "/locked2".into(),
        acl: acl(ALL & !CREATE, "world", "anyone"),
        version: -1,
    });
    h.create("/e", Ephemeral);
    h.run(Op::SetAcl {
        path: "/e".into(),
        acl: Acl::read_unsafe(),
        version: -1,
    });
    // TTL validation first, even before the session and the path.
    assert_eq!(
        h.run_as(999, ttl_op("bad", Persistent, 5)).result,
        Err(ErrorCode::BadArguments)
    );
    // Then the session.
    assert_eq!(
        h.run_as(999, create_op("/missing/x", Persistent)).result,
        Err(ErrorCode::SessionExpired)
    );
    // NUL / no slash before the ACL.
    assert_eq!(
        h.err(Op::create("/a\0", Some(vec![]), vec![], Persistent)),
        ErrorCode::BadArguments
    );
    // InvalidACL before NoNode.
    assert_eq!(
        h.err(Op::create("/missing/x", Some(vec![]), vec![], Persistent)),
        ErrorCode::InvalidAcl
    );
    // A missing parent before the path check: "/a//b" has parent "/a/", which does not exist.
    assert_eq!(
        h.err(create_op("/missing//x", Persistent)),
        ErrorCode::NoNode
    );
    assert_eq!(h.err(create_op("/missing/", Persistent)), ErrorCode::NoNode);
    // NoAuth before the path check, NodeExists and NoChildrenForEphemerals.
    assert_eq!(h.err(create_op("/locked/", Persistent)), ErrorCode::NoAuth);
    h.run_full(
        S1,
        vec![Id::new("super", "")],
        create_op("/locked/child", Persistent),
    );
    assert_eq!(
        h.err(create_op("/locked/child", Persistent)),
        ErrorCode::NoAuth
    );
    assert_eq!(
        h.err(create_op("/locked2/x", Persistent)),
        ErrorCode::NoAuth
    );
    assert_eq!(h.err(create_op("/e/x", Persistent)), ErrorCode::NoAuth);
    assert_eq!(h.err(create_op("/locked2/", Persistent)), ErrorCode::NoAuth);
}

#[test]
fn create_checks_sessions() {
    let mut h = H::new();
    // Session 0 is server-internal: fine for persistent nodes, never owns ephemerals.
    assert!(h.run_as(0, create_op("/p", Persistent)).result.is_ok());
    assert_eq!(
        h.run_as(0, create_op("/e", Ephemeral)).result,
        Err(ErrorCode::SessionExpired)
    );
    assert_eq!(
        h.run_as(12345, create_op("/q", Persistent)).result,
        Err(ErrorCode::SessionExpired)
    );
    h.run_as(S2, Op::CloseSession);
    assert_eq!(
        h.run_as(S2, create_op("/e", Ephemeral)).result,
        Err(ErrorCode::SessionExpired)
    );
}

#[test]
fn ttl_validation() {
    let mut h = H::new();
    for ttl in [0, -1, MAX_TTL_MS + 1, i64::MAX] {
        for mode in [PersistentWithTtl, PersistentSequentialWithTtl] {
            assert_eq!(
                h.err(ttl_op("/t", mode, ttl)),
                ErrorCode::BadArguments,
                "{ttl}"
            );
        }
    }
    for mode in [
        Persistent,
        Ephemeral,
        PersistentSequential,
        EphemeralSequential,
        Container,
    ] {
        assert_eq!(h.err(ttl_op("/t", mode, 0)), ErrorCode::BadArguments);
        assert_eq!(h.err(ttl_op("/t", mode, 100)), ErrorCode::BadArguments);
        assert!(
            h.run(ttl_op(&format!("/ok{}", mode.as_i32()), mode, -5))
                .result
                .is_ok()
        );
    }
    assert!(h.run(ttl_op("/t1", PersistentWithTtl, 1)).result.is_ok());
    assert!(
        h.run(ttl_op("/t2", PersistentWithTtl, MAX_TTL_MS))
            .result
            .is_ok()
    );
    assert_eq!(h.t.node("/t2").unwrap().ttl_ms(), Some(MAX_TTL_MS));
}

#[test]
fn containers_and_ttl_nodes_show_no_owner_and_may_have_children() {
    let mut h = H::new();
    let (_, c) = h.create("/c", Container);
    assert_eq!(c.ephemeral_owner, 0);
    assert!(h.t.node("/c").unwrap().is_container());
    let Ok(OpResult::Created { stat, .. }) = h.run(ttl_op("/t", PersistentWithTtl, 500)).result
    else {
        panic!()
    };
    assert_eq!(stat.ephemeral_owner, 0);
    h.create("/c/x", Ephemeral);
    h.create("/t/x", Persistent);
}

// ---------------------------------------------------------------- sequential names

#[test]
fn sequential_names_come_from_the_parent_cversion() {
    let mut h = H::new();
    h.create("/s", Persistent);
    assert_eq!(h.create("/s/n-", PersistentSequential).0, "/s/n-0000000000");
    assert_eq!(h.create("/s/n-", EphemeralSequential).0, "/s/n-0000000001");
    h.create("/s/plain", Persistent);
    // A delete does not give a number back.
    h.run(Op::Delete {
        path: "/s/n-0000000000".into(),
        version: -1,
    });
    assert_eq!(h.create("/s/", PersistentSequential).0, "/s/0000000003");
    assert_eq!(h.create("/s/m", Container).0, "/s/m");
    // "/" + suffix: a sequential create of "/" itself is a top-level node.
    assert_eq!(h.create("/", PersistentSequential).0, "/0000000001");
    let Ok(OpResult::Created { path, .. }) = h
        .run(ttl_op("/s/t", PersistentSequentialWithTtl, 10))
        .result
    else {
        panic!()
    };
    assert_eq!(path, "/s/t0000000005");
}

#[test]
fn sequential_counter_wraps_like_a_java_int() {
    let mut h = H::new();
    h.create("/s", Persistent);
    h.t.nodes.get_mut("/s").unwrap().stat.cversion = i32::MAX;
    assert_eq!(h.create("/s/x", PersistentSequential).0, "/s/x2147483647");
    assert_eq!(h.create("/s/x", PersistentSequential).0, "/s/x-2147483648");
    assert_eq!(h.create("/s/x", PersistentSequential).0, "/s/x-2147483647");
}

#[test]
fn sequential_name_that_exists_is_node_exists() {
    let mut h = H::new();
    h.create("/s", Persistent);
    h.create("/s/x0000000001", Persistent);
    assert_eq!(
        h.err(create_op("/s/x", PersistentSequential)),
        ErrorCode::NodeExists
    );
}

// ---------------------------------------------------------------- delete

#[test]
fn delete_updates_parent_and_reports_changes() {
    let mut h = H::new();
    h.create("/a", Persistent);
    h.create("/a/b", Persistent);
    let before = h.stat("/a");
    let a = h.run(Op::Delete {
        path: "/a/b".into(),
        version: 0,
    });
    assert_eq!(a.result, Ok(OpResult::Deleted));
    assert_eq!(
        a.changes,
        vec![
            Change::Deleted("/a/b".into()),
            Change::ChildrenChanged("/a".into())
        ]
    );
    let after = h.stat("/a");
    // Clients see the deletion as one more child change.
    assert_eq!(after.cversion, before.cversion + 1);
    assert_eq!(after.num_children, 0);
    assert_eq!(after.pzxid, h.zxid);
    assert_eq!(after.mzxid, before.mzxid);
    assert!(h.t.node("/a/b").is_none());
    assert_eq!(h.t.approximate_data_size(), 44 + 2 + 4);
}

#[test]
fn delete_errors_and_precedence() {
    let mut h = H::new();
    h.create("/a", Persistent);
    h.create("/a/b", Persistent);
    h.create_acl(
        "/nodelete",
        Persistent,
        acl(ALL & !DELETE, "world", "anyone"),
    );
    h.run_full(
        S1,
        vec![Id::new("super", "")],
        create_op("/nodelete/x", Persistent),
    );
    for special in [
        "/",
        "/zookeeper",
        "/zookeeper/quota",
        "/zookeeper/config",
        "",
        "a",
        "/a\0",
    ] {
        assert_eq!(
            h.err(Op::Delete {
                path: special.into(),
                version: -1
            }),
            ErrorCode::BadArguments,
            "{special:?}"
        );
    }
    let del = |p: &str, v: i32| Op::Delete {
        path: p.into(),
        version: v,
    };
    assert_eq!(h.err(del("/missing", -1)), ErrorCode::NoNode);
    assert_eq!(h.err(del("/missing/x", -1)), ErrorCode::NoNode);
    assert_eq!(h.err(del("/a/", -1)), ErrorCode::NoNode);
    assert_eq!(h.err(del("/a", 5)), ErrorCode::BadVersion);
    assert_eq!(h.err(del("/a", -1)), ErrorCode::NotEmpty);
    // BadVersion wins over NotEmpty; NoAuth (on the parent) wins over NoNode.
    assert_eq!(h.err(del("/a", 7)), ErrorCode::BadVersion);
    assert_eq!(h.err(del("/nodelete/x", -1)), ErrorCode::NoAuth);
    assert_eq!(h.err(del("/nodelete/missing", -1)), ErrorCode::NoAuth);
    assert_eq!(
        h.run_as(999, del("/missing", -1)).result,
        Err(ErrorCode::SessionExpired)
    );
    // The node's own ACL does not matter for its deletion, the parent's does.
    h.create_acl("/a/locked", Persistent, Acl::read_unsafe());
    assert_eq!(h.run(del("/a/locked", 0)).result, Ok(OpResult::Deleted));
}

// ---------------------------------------------------------------- setData

#[test]
fn set_data_bumps_version_and_times() {
    let mut h = H::new();
    h.create("/a", Persistent);
    let created = h.stat("/a");
    let a = h.run(Op::SetData {
        path: "/a".into(),
        data: Some(b"longer data".to_vec()),
        version: 0,
    });
    let Ok(OpResult::DataSet { stat }) = a.result else {
        panic!("{a:?}")
    };
    assert_eq!(stat.version, 1);
    assert_eq!(stat.mzxid, h.zxid);
    assert_eq!(stat.mtime, h.zxid * 1000);
    assert_eq!(stat.czxid, created.czxid);
    assert_eq!(stat.ctime, created.ctime);
    assert_eq!(stat.data_length, 11);
    assert_eq!(a.changes, vec![Change::DataChanged("/a".into())]);
    assert_eq!(h.t.approximate_data_size(), 44 + 2 + 11);
    // -1 matches any version.
    let a = h.run(Op::SetData {
        path: "/a".into(),
        data: Some(vec![]),
        version: -1,
    });
    assert!(matches!(a.result, Ok(OpResult::DataSet { stat }) if stat.version == 2));
}

#[test]
fn set_data_errors_and_precedence() {
    let mut h = H::new();
    h.create("/a", Persistent);
    h.create_acl("/ro", Persistent, Acl::read_unsafe());
    let set = |p: &str, v: i32| Op::SetData {
        path: p.into(),
        data: Some(vec![1]),
        version: v,
    };
    assert_eq!(h.err(set("/a", 3)), ErrorCode::BadVersion);
    assert_eq!(h.err(set("/missing", -1)), ErrorCode::NoNode);
    assert_eq!(h.err(set("/a/", -1)), ErrorCode::BadArguments);
    assert_eq!(h.err(set("relative", -1)), ErrorCode::BadArguments);
    assert_eq!(h.err(set("/ro", 3)), ErrorCode::NoAuth);
    assert_eq!(h.err(set("/zookeeper/config", -1)), ErrorCode::NoAuth);
    assert_eq!(
        h.run_as(999, set("/a/", -1)).result,
        Err(ErrorCode::SessionExpired)
    );
    assert!(
        h.run_full(S1, vec![Id::new("super", "")], set("/ro", -1))
            .result
            .is_ok()
    );
}

/// ZooKeeper keeps a null `byte[]` apart from an empty one: getData answers null, while
/// dataLength and the approximate data size count it as 0.
#[test]
fn null_data_stays_null_and_counts_zero() {
    let mut h = H::new();
    let a = h.run(Op::create("/n", None, Acl::open_unsafe(), Persistent));
    let Ok(OpResult::Created { stat, .. }) = a.result else {
        panic!("{a:?}")
    };
    assert_eq!(stat.data_length, 0);
    assert_eq!(h.t.node("/n").unwrap().data(), None);
    assert_eq!(h.t.approximate_data_size(), 44 + 2);
    let set = |data| Op::SetData {
        path: "/n".into(),
        data,
        version: -1,
    };
    h.run(set(Some(b"abc".to_vec())));
    assert_eq!(h.t.approximate_data_size(), 44 + 2 + 3);
    let a = h.run(set(None));
    assert!(matches!(a.result, Ok(OpResult::DataSet { stat }) if stat.data_length == 0));
    assert_eq!(a.changes, vec![Change::DataChanged("/n".into())]);
    assert_eq!(h.t.node("/n").unwrap().data(), None);
    assert_eq!(h.t.approximate_data_size(), 44 + 2);
    h.run(set(Some(vec![])));
    assert_eq!(h.t.node("/n").unwrap().data(), Some(&[][..]));
    assert_eq!(h.stat("/n").version, 3);
}

/// A failed multi restores null data as null, not as empty.
#[test]
fn multi_undo_restores_null_data() {
    let mut h = H::new();
    h.run(Op::create("/n", None, Acl::open_unsafe(), Persistent));
    let a = h.run(Op::Multi(vec![
        Op::SetData {
            path: "/n".into(),
            data: Some(b"xyz".to_vec()),
            version: -1,
        },
        create_op("/missing/child", Persistent),
    ]));
    assert!(matches!(a.result, Ok(OpResult::MultiFailed(_))));
    assert_eq!(h.t.node("/n").unwrap().data(), None);
    assert_eq!(h.t.approximate_data_size(), 44 + 2);
}

#[test]
fn data_version_wraps() {
    let mut h = H::new();
    h.create("/a", Persistent);
    h.t.nodes.get_mut("/a").unwrap().stat.version = i32::MAX;
    let a = h.run(Op::SetData {
        path: "/a".into(),
        data: Some(vec![]),
        version: i32::MAX,
    });
    assert!(matches!(a.result, Ok(OpResult::DataSet { stat }) if stat.version == i32::MIN));
}

// ---------------------------------------------------------------- setACL

#[test]
fn set_acl_bumps_aversion_only() {
    let mut h = H::new();
    h.create("/a", Persistent);
    let before = h.stat("/a");
    let a = h.run(Op::SetAcl {
        path: "/a".into(),
        acl: Acl::read_unsafe(),
        version: 0,
    });
    let Ok(OpResult::AclSet { stat }) = a.result else {
        panic!("{a:?}")
    };
    assert!(a.changes.is_empty());
    assert_eq!(stat.aversion, 1);
    assert_eq!(stat.version, before.version);
    assert_eq!(stat.mzxid, before.mzxid);
    assert_eq!(h.t.node("/a").unwrap().acl(), Acl::read_unsafe());
    // Now without ADMIN.
    assert_eq!(
        h.err(Op::SetAcl {
            path: "/a".into(),
            acl: Acl::open_unsafe(),
            version: 1
        }),
        ErrorCode::NoAuth
    );
}

#[test]
fn set_acl_errors_and_precedence() {
    let mut h = H::new();
    h.create("/a", Persistent);
    let set = |p: &str, acl: Vec<Acl>, v: i32| Op::SetAcl {
        path: p.into(),
        acl,
        version: v,
    };
    assert_eq!(
        h.err(set("/a", Acl::open_unsafe(), 4)),
        ErrorCode::BadVersion
    );
    assert_eq!(
        h.err(set("/missing", Acl::open_unsafe(), -1)),
        ErrorCode::NoNode
    );
    // InvalidACL before NoNode; BadArguments before InvalidACL.
    assert_eq!(h.err(set("/missing", vec![], -1)), ErrorCode::InvalidAcl);
    assert_eq!(h.err(set("/a/", vec![], -1)), ErrorCode::BadArguments);
    // The "auth" scheme needs an authenticated (digest) identity.
    assert_eq!(
        h.err(set("/a", acl(ALL, "auth", ""), -1)),
        ErrorCode::InvalidAcl
    );
    let me = Id::new("digest", digest_id("bob:secret"));
    let a = h.run_full(S1, vec![me.clone()], set("/a", acl(ALL, "auth", ""), -1));
    assert!(a.result.is_ok(), "{a:?}");
    assert_eq!(h.t.node("/a").unwrap().acl(), &[Acl::new(ALL, me.clone())]);
    // Only bob (or super) may touch it now.
    assert_eq!(h.err(set("/a", Acl::open_unsafe(), -1)), ErrorCode::NoAuth);
    let read = h.run(Op::Check {
        path: "/a".into(),
        version: -1,
    });
    assert_eq!(read.result, Err(ErrorCode::NoAuth));
    assert!(
        h.run_full(S1, vec![me], set("/a", Acl::open_unsafe(), -1))
            .result
            .is_ok()
    );
}

#[test]
fn ip_acls_match_by_range() {
    let mut h = H::new();
    h.create_acl("/net", Persistent, acl(READ | WRITE, "ip", "10.0.0.0/8"));
    let set = Op::SetData {
        path: "/net".into(),
        data: Some(vec![]),
        version: -1,
    };
    let inside = vec![Id::new("ip", "10.20.30.40")];
    let outside = vec![Id::new("ip", "192.168.0.1")];
    assert!(h.run_full(S1, inside, set.clone()).result.is_ok());
    assert_eq!(h.run_full(S1, outside, set).result, Err(ErrorCode::NoAuth));
}

// ---------------------------------------------------------------- check

#[test]
fn check_op() {
    let mut h = H::new();
    h.create("/a", Persistent);
    h.create_acl("/w", Persistent, acl(WRITE | ADMIN, "world", "anyone"));
    let check = |p: &str, v: i32| Op::Check {
        path: p.into(),
        version: v,
    };
    let a = h.run(check("/a", 0));
    assert_eq!(a.result, Ok(OpResult::Checked));
    assert!(a.changes.is_empty());
    assert_eq!(h.run(check("/a", -1)).result, Ok(OpResult::Checked));
    assert_eq!(h.err(check("/a", 1)), ErrorCode::BadVersion);
    assert_eq!(h.err(check("/missing", 0)), ErrorCode::NoNode);
    assert_eq!(h.err(check("/a/", 0)), ErrorCode::BadArguments);
    assert_eq!(h.err(check("/w", 9)), ErrorCode::NoAuth);
}

// ---------------------------------------------------------------- multi

#[test]
fn multi_success_applies_everything_in_order() {
    let mut h = H::new();
    h.create("/a", Persistent);
    let a = h.run(Op::Multi(vec![
        create_op("/m", Persistent),
        create_op("/m/c-", PersistentSequential),
        create_op("/m/c-", PersistentSequential),
        Op::SetData {
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            version: 0,
        },
        Op::Check {
            path: "/a".into(),
            version: 1,
        },
        Op::Delete {
            path: "/a".into(),
            version: 1,
        },
    ]));
    let z = h.zxid;
    let Ok(OpResult::Multi(results)) = a.result else {
        panic!("{a:?}")
    };
    assert_eq!(results.len(), 6);
    assert!(
        matches!(&results[1], OpResult::Created { path, stat } if path == "/m/c-0000000000" && stat.czxid == z)
    );
    assert!(matches!(&results[2], OpResult::Created { path, .. } if path == "/m/c-0000000001"));
    assert!(
        matches!(&results[3], OpResult::DataSet { stat } if stat.version == 1 && stat.mzxid == z)
    );
    assert_eq!(results[4], OpResult::Checked);
    assert_eq!(results[5], OpResult::Deleted);
    assert_eq!(
        a.changes,
        vec![
            Change::Created("/m".into()),
            Change::ChildrenChanged("/".into()),
            Change::Created("/m/c-0000000000".into()),
            Change::ChildrenChanged("/m".into()),
            Change::Created("/m/c-0000000001".into()),
            Change::ChildrenChanged("/m".into()),
            Change::DataChanged("/a".into()),
            Change::Deleted("/a".into()),
            Change::ChildrenChanged("/".into()),
        ]
    );
    assert_eq!(h.stat("/m").num_children, 2);
    assert_eq!(h.stat("/m").pzxid, z);
}

#[test]
fn multi_failure_reports_codes_and_changes_nothing() {
    let mut h = H::new();
    h.create("/a", Persistent);
    h.create("/a/child", Persistent);
    h.create("/e", Ephemeral);
    h.create("/d", Persistent);
    let a = h.run(Op::Multi(vec![
        create_op("/new", Persistent),
        create_op("/new/deeper", Ephemeral),
        Op::Delete {
            path: "/e".into(),
            version: -1,
        },
        Op::SetData {
            path: "/d".into(),
            data: Some(b"changed".to_vec()),
            version: -1,
        },
        Op::Delete {
            path: "/a/child".into(),
            version: -1,
        },
        create_op("/a/", PersistentSequential),
        Op::Delete {
            path: "/a".into(),
            version: 42,
        },
        create_op("/never", Persistent),
    ]));
    use ErrorCode::{BadVersion, Ok as K, RuntimeInconsistency as RI};
    assert_eq!(
        a.result,
        Ok(OpResult::MultiFailed(vec![
            K, K, K, K, K, K, BadVersion, RI
        ]))
    );
    // H::run_full checked the tree is unchanged but for the zxid; spot-check indexes too.
    assert_eq!(h.t.ephemerals(S1).collect::<Vec<_>>(), vec!["/e"]);
    assert!(h.t.node("/new").is_none());
    assert_eq!(h.t.node("/d").unwrap().data(), Some(&b"data"[..]));
    // The sequential counter was not consumed.
    assert_eq!(h.create("/a/", PersistentSequential).0, "/a/0000000001");
}

#[test]
fn multi_first_op_failing() {
    let mut h = H::new();
    let a = h.run(Op::Multi(vec![
        create_op("/x/y", Persistent),
        create_op("/ok", Persistent),
    ]));
    assert_eq!(
        a.result,
        Ok(OpResult::MultiFailed(vec![
            ErrorCode::NoNode,
            ErrorCode::RuntimeInconsistency
        ]))
    );
    let a = h.run_as(
        999,
        Op::Multi(vec![Op::Check {
            path: "/".into(),
            version: -1,
        }]),
    );
    assert_eq!(
        a.result,
        Ok(OpResult::MultiFailed(vec![ErrorCode::SessionExpired]))
    );
}

#[test]
fn multi_shapes() {
    let mut h = H::new();
    assert_eq!(h.run(Op::Multi(vec![])).result, Ok(OpResult::Multi(vec![])));
    for bad in [
        Op::SetAcl {
            path: "/".into(),
            acl: Acl::open_unsafe(),
            version: -1,
        },
        Op::Multi(vec![]),
        Op::CloseSession,
        Op::ReapNode { path: "/x".into() },
    ] {
        assert_eq!(
            h.err(Op::Multi(vec![create_op("/a", Persistent), bad])),
            ErrorCode::MarshallingError
        );
    }
    assert!(h.t.node("/a").is_none());
}

#[test]
fn multi_rollback_restores_deleted_containers_and_ttls() {
    let mut h = H::new();
    h.create("/c", Container);
    h.run(ttl_op("/t", PersistentWithTtl, 10));
    let a = h.run(Op::Multi(vec![
        Op::Delete {
            path: "/c".into(),
            version: -1,
        },
        Op::Delete {
            path: "/t".into(),
            version: -1,
        },
        Op::Check {
            path: "/c".into(),
            version: -1,
        },
    ]));
    assert!(matches!(a.result, Ok(OpResult::MultiFailed(_))));
    assert!(h.t.containers.contains("/c") && h.t.ttls.contains("/t"));
}

// ---------------------------------------------------------------- sessions

#[test]
fn close_session_deletes_ephemerals_in_order() {
    let mut h = H::new();
    h.create("/p", Persistent);
    h.create("/p/z", Ephemeral);
    h.create("/a", Ephemeral);
    h.create("/p/b", Ephemeral);
    h.run_as(S2, create_op("/other", Ephemeral));
    let a = h.run(Op::CloseSession);
    assert_eq!(a.result, Ok(OpResult::SessionClosed));
    assert_eq!(
        a.changes,
        vec![
            Change::Deleted("/a".into()),
            Change::ChildrenChanged("/".into()),
            Change::Deleted("/p/b".into()),
            Change::ChildrenChanged("/p".into()),
            Change::Deleted("/p/z".into()),
            Change::ChildrenChanged("/p".into()),
        ]
    );
    assert!(h.t.session(S1).is_none());
    assert_eq!(h.t.ephemerals(S1).count(), 0);
    assert_eq!(h.t.ephemerals(S2).collect::<Vec<_>>(), vec!["/other"]);
    assert_eq!(h.stat("/p").pzxid, h.zxid);
    assert_eq!(h.stat("/p").num_children, 0);
    // Closing again, or an unknown session, is a no-op success.
    let a = h.run(Op::CloseSession);
    assert_eq!(a.result, Ok(OpResult::SessionClosed));
    assert!(a.changes.is_empty());
    assert_eq!(
        h.run_as(0, Op::CloseSession).result,
        Ok(OpResult::SessionClosed)
    );
    // The closed session can do nothing more.
    assert_eq!(
        h.err(Op::SetData {
            path: "/p".into(),
            data: Some(vec![]),
            version: -1
        }),
        ErrorCode::SessionExpired
    );
}

#[test]
fn sessions_table() {
    let mut h = H::new();
    assert_eq!(
        h.t.sessions().map(|(id, _)| id).collect::<Vec<_>>(),
        vec![S1, S2]
    );
    assert_eq!(h.t.session(S1).unwrap().timeout_ms, 30_000);
    // A known id keeps its session.
    let a = h.run_as(
        S1,
        Op::CreateSession {
            timeout_ms: 1,
            password: vec![],
            owner: 0,
        },
    );
    assert_eq!(a.result, Ok(OpResult::SessionCreated));
    assert_eq!(h.t.session(S1).unwrap().timeout_ms, 30_000);
    // Ids that would read as another kind of node owner are refused.
    for id in [0, i64::MIN, 0xff00_0000_0000_0001u64 as i64] {
        let r = h.run_as(
            id,
            Op::CreateSession {
                timeout_ms: 1,
                password: vec![],
                owner: 0,
            },
        );
        assert_eq!(r.result, Err(ErrorCode::BadArguments));
    }
}

// ---------------------------------------------------------------- containers and TTL

#[test]
fn containers_are_reaped_once_used_and_empty() {
    let mut h = H::new();
    h.create("/c", Container);
    h.create("/fresh", Container);
    assert!(h.t.reap_candidates(i64::MAX, 10).is_empty());
    let reap = |p: &str| Op::ReapNode { path: p.into() };
    assert_eq!(
        h.run_as(0, reap("/fresh")).result,
        Err(ErrorCode::BadVersion)
    );
    h.create("/c/x", Persistent);
    assert!(h.t.reap_candidates(0, 10).is_empty());
    assert_eq!(h.run_as(0, reap("/c")).result, Err(ErrorCode::NotEmpty));
    h.run(Op::Delete {
        path: "/c/x".into(),
        version: -1,
    });
    assert_eq!(h.t.reap_candidates(0, 10), vec!["/c"]);
    let a = h.run_as(0, reap("/c"));
    assert_eq!(a.result, Ok(OpResult::Reaped));
    assert_eq!(
        a.changes,
        vec![
            Change::Deleted("/c".into()),
            Change::ChildrenChanged("/".into())
        ]
    );
    assert!(h.t.reap_candidates(0, 10).is_empty());
    assert_eq!(h.run_as(0, reap("/c")).result, Err(ErrorCode::NoNode));
    assert_eq!(
        h.run_as(0, reap("/zookeeper")).result,
        Err(ErrorCode::BadArguments)
    );
    h.create("/plain", Persistent);
    assert_eq!(
        h.run_as(0, reap("/plain")).result,
        Err(ErrorCode::BadVersion)
    );
}

#[test]
fn ttl_nodes_expire_after_ttl_since_last_modification() {
    let mut h = H::new();
    h.run(ttl_op("/t", PersistentWithTtl, 5000));
    let mtime = h.stat("/t").mtime;
    assert!(h.t.reap_candidates(mtime + 5000, 10).is_empty());
    assert_eq!(h.t.reap_candidates(mtime + 5001, 10), vec!["/t"]);
    // A child keeps it alive.
    h.create("/t/c", Persistent);
    assert!(h.t.reap_candidates(i64::MAX, 10).is_empty());
    h.run(Op::Delete {
        path: "/t/c".into(),
        version: -1,
    });
    // setData moves mtime forward; ReapNode re-checks against the entry's time.
    h.run(Op::SetData {
        path: "/t".into(),
        data: Some(vec![]),
        version: -1,
    });
    let mtime = h.stat("/t").mtime;
    assert!(h.t.reap_candidates(mtime + 5000, 10).is_empty());
    // The next entry's time is mtime + 1000: too early.
    assert_eq!(
        h.run_as(0, Op::ReapNode { path: "/t".into() }).result,
        Err(ErrorCode::BadVersion)
    );
    h.zxid += 10;
    assert_eq!(
        h.run_as(0, Op::ReapNode { path: "/t".into() }).result,
        Ok(OpResult::Reaped)
    );
    assert!(h.t.node("/t").is_none());
}

#[test]
fn reap_candidates_are_sorted_and_limited() {
    let mut h = H::new();
    for p in ["/t3", "/t1", "/t2"] {
        h.run(ttl_op(p, PersistentWithTtl, 1));
    }
    for p in ["/c2", "/c1"] {
        h.create(p, Container);
        h.create(&format!("{p}/x"), Persistent);
        h.run(Op::Delete {
            path: format!("{p}/x"),
            version: -1,
        });
    }
    assert_eq!(
        h.t.reap_candidates(i64::MAX, 10),
        vec!["/c1", "/c2", "/t1", "/t2", "/t3"]
    );
    assert_eq!(h.t.reap_candidates(i64::MAX, 2), vec!["/c1", "/c2"]);
    assert!(h.t.reap_candidates(i64::MAX, 0).is_empty());
}

// ---------------------------------------------------------------- bookkeeping

#[test]
fn failed_ops_still_advance_the_zxid() {
    let mut h = H::new();
    h.err(create_op("/x/y", Persistent));
    assert_eq!(h.t.last_zxid(), h.zxid);
}

#[test]
fn change_acls_are_the_nodes_and_parents() {
    let mut h = H::new();
    h.create_acl("/p", Persistent, acl(ALL, "digest", "u:h"));
    let a = h.run_full(
        S1,
        vec![Id::new("digest", "u:h")],
        Op::create("/p/c", Some(vec![]), Acl::read_unsafe(), Persistent),
    );
    assert_eq!(&*a.acls[0], Acl::read_unsafe().as_slice());
    assert_eq!(&*a.acls[1], acl(ALL, "digest", "u:h").as_slice());
    let a = h.run_full(
        S1,
        vec![Id::new("digest", "u:h")],
        Op::Delete {
            path: "/p/c".into(),
            version: -1,
        },
    );
    assert_eq!(&*a.acls[0], Acl::read_unsafe().as_slice());
    assert_eq!(&*a.acls[1], acl(ALL, "digest", "u:h").as_slice());
}

#[test]
fn all_children_number_counts_descendants() {
    let mut h = H::new();
    h.create("/a", Persistent);
    h.create("/a/b", Persistent);
    h.create("/a/b/c", Persistent);
    h.create("/ab", Persistent);
    assert_eq!(h.t.all_children_number("/a"), Some(2));
    assert_eq!(h.t.all_children_number("/a/b/c"), Some(0));
    assert_eq!(h.t.all_children_number("/"), Some(7));
    assert_eq!(
        h.t.children_sorted("/").unwrap(),
        vec!["a", "ab", "zookeeper"]
    );
}

#[test]
fn equal_acls_are_shared() {
    let mut h = H::new();
    for p in ["/a", "/b", "/c"] {
        h.create(p, Persistent);
    }
    let a = h.t.node("/a").unwrap().acl_shared();
    let c = h.t.node("/c").unwrap().acl_shared();
    assert!(std::sync::Arc::ptr_eq(&a, &c));
    assert_eq!(NO_TTL, -1);
}

#[test]
fn writes_of_a_session_proposed_by_a_server_it_left_fail_with_session_moved() {
    let mut h = H::new();
    let entry = |session: i64, op: Op| Entry {
        session,
        time: 0,
        auth: vec![Id::new("ip", "127.0.0.1")],
        op,
    };
    let mut zxid = 10;
    let mut apply = |h: &mut H, proposer: u64, e: Entry| {
        zxid += 1;
        h.t.apply_proposed(zxid, &e, proposer)
    };
    // S1 has no owner yet (0): any server's writes apply. Attaching it to server process 7...
    let r = apply(&mut h, 7, entry(S1, Op::AttachSession { owner: 7 }));
    assert!(r.result.is_ok());
    assert_eq!(h.t.session(S1).map(|s| s.owner), Some(7));
    let create = create_op("/a", CreateMode::Persistent);
    // ...makes writes that still arrive through process 5 fail, changing nothing.
    let r = apply(&mut h, 5, entry(S1, create.clone()));
    assert_eq!(r.result, Err(ErrorCode::SessionMoved));
    assert!(r.changes.is_empty());
    assert!(h.t.node("/a").is_none());
    assert_eq!(h.t.last_zxid(), 12);
    // A client close from the old server fails too; the owner's writes apply.
    let r = apply(&mut h, 5, entry(S1, Op::CloseSession));
    assert_eq!(r.result, Err(ErrorCode::SessionMoved));
    assert!(h.t.session(S1).is_some());
    assert!(apply(&mut h, 7, entry(S1, create)).result.is_ok());
    // The leader's expiry applies whoever proposes it.
    assert!(
        apply(&mut h, 5, entry(S1, Op::ExpireSession))
            .result
            .is_ok()
    );
    assert!(h.t.session(S1).is_none());
    // Attaching a session that is gone fails.
    let r = apply(&mut h, 7, entry(S1, Op::AttachSession { owner: 7 }));
    assert_eq!(r.result, Err(ErrorCode::SessionExpired));
}
