//! multi and multiRead against a real server: result shapes on success, the per-op codes on
//! failure (Ok before, the code at, RuntimeInconsistency after), atomicity, ops seeing earlier
//! ops of the same multi, and independent multiRead results.

mod common;

use common::jute::{Dec, MultiOp, body, err, multi, op, parse_multi};
use common::raw::Raw;
use common::{TestServer, persistent, within};
use zookeeper_client as zk;

fn check(path: &str, version: i32) -> MultiOp {
    MultiOp {
        op: op::CHECK,
        body: body::delete(path, version), // same shape: {path, version}
    }
}
fn create(path: &str, flags: i32) -> MultiOp {
    MultiOp {
        op: op::CREATE,
        body: body::create(path, b"", flags),
    }
}
fn create2(path: &str) -> MultiOp {
    MultiOp {
        op: op::CREATE2,
        body: body::create(path, b"c2", 0),
    }
}
fn set(path: &str, data: &[u8], version: i32) -> MultiOp {
    MultiOp {
        op: op::SET_DATA,
        body: body::set_data(path, data, version),
    }
}
fn delete(path: &str, version: i32) -> MultiOp {
    MultiOp {
        op: op::DELETE,
        body: body::delete(path, version),
    }
}

async fn exists(r: &mut Raw, path: &str) -> bool {
    let rep = r.call(op::EXISTS, &body::path_watch(path, false)).await;
    match rep.err {
        0 => true,
        err::NO_NODE => false,
        e => panic!("exists {path}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_multi_result_shapes() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        r.create("/base", b"v0").await;
        let ops = [
            create("/base/a", 0),
            create2("/base/b"),
            set("/base", b"v1", 0),
            check("/base", 1),
            create("/base/seq-", 2),
            delete("/base/a", 0),
        ];
        let rep = r.call(op::MULTI, &multi(&ops)).await;
        assert_eq!(rep.err, 0);
        let res = parse_multi(&rep.body);
        let types: Vec<(i32, i32)> = res.iter().map(|x| (x.op, x.err)).collect();
        assert_eq!(
            types,
            vec![
                (op::CREATE, 0),
                (op::CREATE2, 0),
                (op::SET_DATA, 0),
                (op::CHECK, 0),
                (op::CREATE, 0),
                (op::DELETE, 0),
            ],
            "success results carry the sub-op's type (create2 answers as 15) and err 0"
        );
        // A plain create answers with its path only.
        assert_eq!(Dec::new(&res[0].body).str(), "/base/a");
        let mut d = Dec::new(&res[1].body);
        assert_eq!(d.str(), "/base/b");
        let st_b = d.stat();
        assert_eq!(
            st_b.czxid, rep.zxid,
            "every op of a multi has the multi's zxid"
        );
        assert_eq!(st_b.data_length, 2);
        let st_base = Dec::new(&res[2].body).stat();
        assert_eq!(st_base.version, 1);
        assert_eq!(st_base.mzxid, rep.zxid);
        // The sequence number counts the children created earlier in the same multi.
        assert_eq!(Dec::new(&res[4].body).str(), "/base/seq-0000000002");
        assert!(res[3].body.is_empty() && res[5].body.is_empty());

        assert!(!exists(&mut r, "/base/a").await);
        assert!(exists(&mut r, "/base/b").await);
        let g = r
            .call(op::GET_DATA, &body::path_watch("/base", false))
            .await;
        let mut d = g.dec();
        assert_eq!(d.buf(), b"v1");
        let st = d.stat();
        assert_eq!((st.cversion, st.num_children, st.pzxid), (4, 2, rep.zxid));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_multi_reports_ok_code_runtime_inconsistency_and_applies_nothing() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        let before = r.create("/x", b"orig").await;
        let ops = [
            create("/x/new", 0),
            set("/x", b"changed", -1),
            set("/x", b"again", 5), // BadVersion (version is 1 by now inside the multi)
            delete("/x/new", -1),
            create("/y", 0),
        ];
        let rep = r.call(op::MULTI, &multi(&ops)).await;
        assert_eq!(rep.err, 0, "the multi header's err is 0 even on failure");
        assert_eq!(rep.zxid, before + 1, "a failed multi still consumes a zxid");
        let res = parse_multi(&rep.body);
        let got: Vec<(i32, i32, i32)> = res
            .iter()
            .map(|x| (x.op, x.err, Dec::new(&x.body).i32()))
            .collect();
        assert_eq!(
            got,
            vec![
                (-1, err::OK, err::OK),
                (-1, err::OK, err::OK),
                (-1, err::BAD_VERSION, err::BAD_VERSION),
                (-1, err::RUNTIME_INCONSISTENCY, err::RUNTIME_INCONSISTENCY),
                (-1, err::RUNTIME_INCONSISTENCY, err::RUNTIME_INCONSISTENCY),
            ]
        );
        assert!(!exists(&mut r, "/x/new").await);
        assert!(!exists(&mut r, "/y").await);
        let g = r.call(op::GET_DATA, &body::path_watch("/x", false)).await;
        let mut d = g.dec();
        assert_eq!(d.buf(), b"orig");
        let st = d.stat();
        assert_eq!((st.version, st.cversion), (0, 0));

        // Failing at the first op: everything after is RuntimeInconsistency.
        let ops = [create("/nope/deep", 0), create("/z", 0)];
        let res = parse_multi(&r.call(op::MULTI, &multi(&ops)).await.body);
        let got: Vec<(i32, i32)> = res.iter().map(|x| (x.op, x.err)).collect();
        assert_eq!(
            got,
            vec![(-1, err::NO_NODE), (-1, err::RUNTIME_INCONSISTENCY)]
        );

        // Other failure kinds surface their own code.
        r.create("/full", b"").await;
        r.create("/full/kid", b"").await;
        let cases: [(MultiOp, i32); 5] = [
            (create("/full", 0), err::NODE_EXISTS),
            (delete("/full", -1), err::NOT_EMPTY),
            (check("/full", 3), err::BAD_VERSION),
            (check("/ghost", -1), err::NO_NODE),
            (create("/full/", 0), err::BAD_ARGUMENTS),
        ];
        for (o, want) in cases {
            let res = parse_multi(&r.call(op::MULTI, &multi(&[create("/w", 0), o])).await.body);
            let got: Vec<(i32, i32)> = res.iter().map(|x| (x.op, x.err)).collect();
            assert_eq!(got, vec![(-1, 0), (-1, want)]);
        }
        assert!(!exists(&mut r, "/w").await);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_in_a_multi_see_the_earlier_ops() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        // Create a parent and its child, then delete the child: all in one.
        let ops = [
            create("/p", 0),
            create("/p/c", 0),
            set("/p/c", b"1", 0),
            check("/p/c", 1),
            delete("/p/c", 1),
        ];
        let res = parse_multi(&r.call(op::MULTI, &multi(&ops)).await.body);
        assert!(res.iter().all(|x| x.op != -1), "{res:?}");
        assert!(exists(&mut r, "/p").await);
        assert!(!exists(&mut r, "/p/c").await);

        // An ephemeral created earlier in the multi cannot get children later in it.
        let ops = [create("/eph", 1), create("/eph/kid", 0)];
        let res = parse_multi(&r.call(op::MULTI, &multi(&ops)).await.body);
        let got: Vec<(i32, i32)> = res.iter().map(|x| (x.op, x.err)).collect();
        assert_eq!(got, vec![(-1, 0), (-1, err::NO_CHILDREN_FOR_EPHEMERALS)]);
        assert!(!exists(&mut r, "/eph").await);

        // Creating the same path twice in one multi fails on the second.
        let ops = [create("/twice", 0), create("/twice", 0)];
        let res = parse_multi(&r.call(op::MULTI, &multi(&ops)).await.body);
        let got: Vec<(i32, i32)> = res.iter().map(|x| (x.op, x.err)).collect();
        assert_eq!(got, vec![(-1, 0), (-1, err::NODE_EXISTS)]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_multi_is_valid() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        let rep = r.call(op::MULTI, &multi(&[])).await;
        assert_eq!(rep.err, 0);
        assert!(parse_multi(&rep.body).is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_library_multi_writer_and_check_writer() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        c.create("/m", b"", &persistent()).await.unwrap();
        let mut w = c.new_multi_writer();
        w.add_create("/m/a", b"A", &persistent()).unwrap();
        w.add_set_data("/m", b"top", Some(0)).unwrap();
        w.add_check_version("/m", 1).unwrap();
        w.add_delete("/m/a", Some(0)).unwrap();
        let results = w.commit().await.unwrap();
        assert_eq!(results.len(), 4);
        let zk::MultiWriteResult::Create { path, stat } = &results[0] else {
            panic!("{results:?}")
        };
        assert_eq!(path, "/m/a");
        assert_eq!(stat.data_length, 1);
        let zk::MultiWriteResult::SetData { stat } = &results[1] else {
            panic!("{results:?}")
        };
        assert_eq!(stat.version, 1);
        assert_eq!(results[2], zk::MultiWriteResult::Check);
        assert_eq!(results[3], zk::MultiWriteResult::Delete);

        // Atomicity: a failing check at the end undoes the creates before it.
        let mut w = c.new_multi_writer();
        w.add_create("/m/b", b"", &persistent()).unwrap();
        w.add_set_data("/m", b"nope", None).unwrap();
        w.add_check_version("/m", 99).unwrap();
        let e = w.commit().await.unwrap_err();
        assert_eq!(
            e,
            zk::MultiWriteError::OperationFailed {
                index: 2,
                source: zk::Error::BadVersion
            }
        );
        assert!(c.check_stat("/m/b").await.unwrap().is_none());
        assert_eq!(c.get_data("/m").await.unwrap().0, b"top");

        let mut cw = c.new_check_writer("/m", Some(1)).unwrap();
        cw.add_create("/m/c", b"", &persistent()).unwrap();
        assert_eq!(cw.commit().await.unwrap().len(), 1);
        let mut cw = c.new_check_writer("/m", Some(0)).unwrap();
        cw.add_create("/m/d", b"", &persistent()).unwrap();
        assert_eq!(
            cw.commit().await.unwrap_err(),
            zk::CheckWriteError::CheckFailed {
                source: zk::Error::BadVersion
            }
        );
        assert!(c.check_stat("/m/d").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_read_results_are_independent() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        c.create("/r", b"root", &persistent()).await.unwrap();
        c.create("/r/k1", b"", &persistent()).await.unwrap();
        c.create("/r/k2", b"", &persistent()).await.unwrap();
        let locked = [zk::Acl::new(
            zk::Permission::ALL,
            zk::AuthId::new("digest", common::ALICE_DIGEST),
        )];
        c.create(
            "/r/locked",
            b"",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&locked)),
        )
        .await
        .unwrap();

        let mut reader = c.new_multi_reader();
        reader.add_get_data("/r").unwrap();
        reader.add_get_data("/missing").unwrap();
        reader.add_get_children("/r").unwrap();
        reader.add_get_data("/r/locked").unwrap();
        reader.add_get_children("/missing").unwrap();
        reader.add_get_data("/r/k1").unwrap();
        let mut res = reader.commit().await.unwrap();
        assert_eq!(res.len(), 6);
        let zk::MultiReadResult::Data { data, stat } = res.remove(0) else {
            panic!()
        };
        assert_eq!(data, b"root");
        assert_eq!(stat.num_children, 3);
        assert!(matches!(
            res.remove(0),
            zk::MultiReadResult::Error {
                err: zk::Error::NoNode
            }
        ));
        let zk::MultiReadResult::Children { mut children } = res.remove(0) else {
            panic!()
        };
        children.sort();
        assert_eq!(children, vec!["k1", "k2", "locked"]);
        assert!(matches!(
            res.remove(0),
            zk::MultiReadResult::Error {
                err: zk::Error::NoAuth
            }
        ));
        assert!(matches!(
            res.remove(0),
            zk::MultiReadResult::Error {
                err: zk::Error::NoNode
            }
        ));
        assert!(matches!(res.remove(0), zk::MultiReadResult::Data { .. }));

        // Raw: result types and the error body, and no watches are set.
        let mut r = Raw::session(s.addr).await;
        let ops = [
            MultiOp {
                op: op::GET_DATA,
                body: body::path_watch("/r", true),
            },
            MultiOp {
                op: op::GET_CHILDREN,
                body: body::path_watch("/nope", true),
            },
        ];
        let rep = r.call(op::MULTI_READ, &multi(&ops)).await;
        assert_eq!(rep.err, 0);
        let res = parse_multi(&rep.body);
        assert_eq!((res[0].op, res[0].err), (op::GET_DATA, 0));
        assert_eq!((res[1].op, res[1].err), (-1, err::NO_NODE));
        assert_eq!(Dec::new(&res[1].body).i32(), err::NO_NODE);
        let chk = r.call(op::CHECK_WATCHES, &body::path_type("/r", 3)).await;
        assert_eq!(chk.err, err::NO_WATCHER, "multiRead sets no watches");
    })
    .await;
}
