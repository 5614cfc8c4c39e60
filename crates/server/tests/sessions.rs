//! Sessions against a real server: timeout negotiation, expiry (ephemerals removed, watches
//! fired), resuming on a new connection, the "expired" answer to a bad resume, closeSession,
//! and a restart on the same data directory that keeps data, sessions and ephemerals.

mod common;

use std::time::{Duration, Instant};

use common::jute::{body, op};
use common::raw::{ConnectReq, NODE_CHILDREN_CHANGED, NODE_DELETED, Raw, ev, kinds};
use common::{TestServer, connector, ephemeral, eventually, persistent, within};
use zookeeper_client as zk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_are_clamped_to_two_and_twenty_ticks() {
    let s = TestServer::start().await;
    within(30, async {
        for (asked, got) in [
            (1, 400),
            (100, 400),
            (1000, 1000),
            (4000, 4000),
            (100_000, 4000),
        ] {
            let mut r = Raw::tcp(s.addr).await;
            let resp = r
                .handshake(&ConnectReq::new_session(asked))
                .await
                .expect("answered");
            assert_eq!(resp.timeout_ms, got, "asked {asked}");
            assert_eq!(resp.protocol_version, 0);
            assert_eq!(resp.passwd.len(), 16);
            assert_eq!(resp.read_only, Some(false));
            assert_ne!(resp.session_id, 0);
        }
        let c = s
            .connect(zk::Client::connector().with_session_timeout(Duration::from_secs(60)))
            .await;
        assert_eq!(c.session_timeout(), Duration::from_millis(4000));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_ids_are_distinct_and_passwords_differ() {
    let s = TestServer::start().await;
    within(30, async {
        let a = Raw::session(s.addr).await;
        let b = Raw::session(s.addr).await;
        assert_ne!(a.session_id, b.session_id);
        assert_ne!(a.passwd, b.passwd);
        assert_ne!(a.passwd, vec![0u8; 16]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_removes_ephemerals_and_fires_their_watches() {
    let s = TestServer::start().await;
    within(30, async {
        let short = connector()
            .with_session_timeout(Duration::from_millis(1000))
            .with_detached();
        let doomed = s.connect(short).await;
        assert_eq!(doomed.session_timeout(), Duration::from_millis(1000));
        doomed.create("/dir", b"", &persistent()).await.unwrap();
        doomed.create("/dir/eph", b"", &ephemeral()).await.unwrap();
        doomed.create("/eph2", b"", &ephemeral()).await.unwrap();
        let session = doomed.session().clone();

        let mut w = Raw::session(s.addr).await;
        let rep = w
            .call(op::EXISTS, &body::path_watch("/dir/eph", true))
            .await;
        assert_eq!(rep.err, 0);
        let rep = w
            .call(op::GET_CHILDREN, &body::path_watch("/dir", true))
            .await;
        assert_eq!(rep.err, 0);

        // A live client that pings keeps its session well past the timeout.
        let alive = s
            .connect(connector().with_session_timeout(Duration::from_millis(1000)))
            .await;
        alive.create("/alive", b"", &ephemeral()).await.unwrap();

        // Drop the detached client: its connection goes, no closeSession is sent.
        let gone_at = Instant::now();
        drop(doomed);
        // Events for both watches, from one closeSession entry.
        let first = w.next_event().await;
        let second = w.next_event().await;
        let took = gone_at.elapsed();
        let mut got = kinds(&[first.clone(), second.clone()]);
        got.sort();
        assert_eq!(
            got,
            vec![
                ev(NODE_DELETED, "/dir/eph"),
                ev(NODE_CHILDREN_CHANGED, "/dir")
            ]
        );
        assert_eq!(
            first.zxid, second.zxid,
            "one entry deletes all the ephemerals"
        );
        assert!(
            took >= Duration::from_millis(700),
            "expired after {took:?}: sooner than the 1000 ms timeout"
        );
        assert!(
            took < Duration::from_millis(3000),
            "expired only after {took:?}"
        );

        let c = s.client().await;
        assert!(c.check_stat("/dir/eph").await.unwrap().is_none());
        assert!(c.check_stat("/eph2").await.unwrap().is_none());
        assert!(c.check_stat("/dir").await.unwrap().is_some());
        assert!(c.list_ephemerals("/").await.unwrap().is_empty());

        // Resuming the expired session is refused as expired.
        let err = resume(&s, session)
            .await
            .expect_err("an expired session cannot be resumed");
        assert_eq!(err, zk::Error::SessionExpired);

        // Meanwhile the pinging client kept its session and its ephemeral.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(alive.check_stat("/alive").await.unwrap().is_some());
        assert_eq!(alive.state(), zk::SessionState::SyncConnected);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_on_a_new_connection_keeps_the_session() {
    let s = TestServer::start().await;
    within(30, async {
        let first = s.connect(connector().with_detached()).await;
        first.create("/mine", b"", &ephemeral()).await.unwrap();
        let id = first.session_id();
        let info = first.into_session();

        let again = resume(&s, info).await.expect("resume");
        assert_eq!(again.session_id(), id);
        let (_, stat) = again.get_data("/mine").await.unwrap();
        assert_eq!(stat.ephemeral_owner, id.0);
        assert_eq!(again.list_ephemerals("/").await.unwrap(), vec!["/mine"]);
        // Writes on the resumed session are its own.
        let (st, _) = again.create("/mine2", b"", &ephemeral()).await.unwrap();
        assert_eq!(st.ephemeral_owner, id.0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_moves_the_session_off_the_old_connection() {
    let s = TestServer::start().await;
    within(30, async {
        let mut old = Raw::session(s.addr).await;
        old.create("/x", b"").await;
        let mut new = Raw::tcp(s.addr).await;
        let mut req = ConnectReq::new_session(30_000);
        req.session_id = old.session_id;
        req.passwd = old.passwd.clone();
        let resp = new.handshake(&req).await.expect("answered");
        assert_eq!(resp.session_id, old.session_id);
        assert_eq!(resp.passwd, old.passwd);
        // The server closes the session's previous connection.
        old.expect_closed().await;
        let rep = new.call(op::GET_DATA, &body::path_watch("/x", false)).await;
        assert_eq!(rep.err, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_a_wrong_password_or_unknown_id_is_answered_as_expired() {
    let s = TestServer::start().await;
    within(30, async {
        let live = Raw::session(s.addr).await;
        let mut wrong = live.passwd.clone();
        wrong[0] ^= 0xff;
        let expired = |resp: &common::raw::ConnectResp| {
            resp.timeout_ms == 0 && resp.session_id == 0 && resp.passwd == vec![0u8; 16]
        };

        for (id, passwd, read_only) in [
            (live.session_id, wrong.clone(), Some(false)),
            (live.session_id, wrong.clone(), None),
            (0x0123_4567_89ab_cdef, vec![7u8; 16], Some(false)),
        ] {
            let mut r = Raw::tcp(s.addr).await;
            let req = ConnectReq {
                last_zxid: 0,
                timeout_ms: 4000,
                session_id: id,
                passwd,
                read_only,
            };
            let resp = r
                .handshake(&req)
                .await
                .expect("the server answers before closing");
            assert!(expired(&resp), "expected the expired answer, got {resp:?}");
            assert_eq!(
                resp.read_only.is_some(),
                read_only.is_some(),
                "answered in the form the client used: {resp:?}"
            );
            assert!(
                r.expect_closed().await.is_empty(),
                "closed after the answer"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_with_a_zxid_from_the_future_is_refused_without_answer() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::tcp(s.addr).await;
        let mut req = ConnectReq::new_session(4000);
        req.last_zxid = i64::MAX;
        assert_eq!(r.handshake(&req).await, None);

        // A client that has seen exactly the last zxid is fine.
        let mut w = Raw::session(s.addr).await;
        let z = w.create("/z", b"").await;
        let mut ok = Raw::tcp(s.addr).await;
        let mut req = ConnectReq::new_session(4000);
        req.last_zxid = z;
        assert!(ok.handshake(&req).await.expect("answered").timeout_ms > 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_session_deletes_ephemerals_and_closes_the_connection() {
    let s = TestServer::start().await;
    within(30, async {
        let mut owner = Raw::session(s.addr).await;
        owner.create("/p", b"").await;
        let rep = owner.call(op::CREATE, &body::create("/p/e", b"", 1)).await;
        assert_eq!(rep.err, 0);
        let mut w = Raw::session(s.addr).await;
        let rep = w.call(op::GET_DATA, &body::path_watch("/p/e", true)).await;
        assert_eq!(rep.err, 0);

        let x = owner.send(op::CLOSE_SESSION, &[]).await;
        let reply = owner.reply_for(x).await;
        assert_eq!(reply.err, 0);
        assert!(reply.body.is_empty());
        owner.expect_closed().await;

        let e = w.next_event().await;
        assert_eq!(ev(e.kind, &e.path), ev(NODE_DELETED, "/p/e"));
        assert_eq!(e.zxid, reply.zxid, "the closeSession entry deleted it");
        let rep = w.call(op::EXISTS, &body::path_watch("/p/e", false)).await;
        assert_eq!(rep.err, common::jute::err::NO_NODE);

        // The closed session cannot be resumed.
        let mut again = Raw::tcp(s.addr).await;
        let mut req = ConnectReq::new_session(4000);
        req.session_id = owner.session_id;
        req.passwd = owner.passwd.clone();
        let resp = again.handshake(&req).await.expect("answered");
        assert_eq!((resp.timeout_ms, resp.session_id), (0, 0));

        // Through the library: dropping a (non-detached) client closes its session.
        let c = s.client().await;
        c.create("/lib", b"", &ephemeral()).await.unwrap();
        let watcher = s.client().await;
        let (_, wch) = watcher.check_and_watch_stat("/lib").await.unwrap();
        drop(c);
        let e = common::event_within(3, wch).await;
        assert_eq!(e.event_type, zk::EventType::NodeDeleted);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data_sessions_and_ephemerals() {
    let mut s = TestServer::start().await;
    within(60, async {
        let c = s.connect(connector().with_detached()).await;
        let (p_stat, _) = c.create("/p", b"persisted", &persistent()).await.unwrap();
        c.set_data("/p", b"persisted v1", None).await.unwrap();
        let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
        c.create("/p/s-", b"", &seq).await.unwrap();
        c.create("/p/s-", b"", &seq).await.unwrap();
        let locked = [zk::Acl::new(
            zk::Permission::ALL,
            zk::AuthId::new("digest", common::ALICE_DIGEST),
        )];
        c.create(
            "/acl",
            b"",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&locked)),
        )
        .await
        .unwrap();
        let (e_stat, _) = c.create("/e", b"eph", &ephemeral()).await.unwrap();
        let (_, p_before) = c.get_data("/p").await.unwrap();
        let keeper = c.into_session();
        let keeper_id = keeper.id();

        // A second session that nobody resumes after the restart.
        let other = s
            .connect(
                connector()
                    .with_session_timeout(Duration::from_millis(1000))
                    .with_detached(),
            )
            .await;
        other.create("/other", b"", &ephemeral()).await.unwrap();
        let (last, _) = other.create("/last", b"", &persistent()).await.unwrap();
        drop(other);

        s.restart().await;

        let c2 = s.client().await;
        let (data, p_after) = c2.get_data("/p").await.unwrap();
        assert_eq!(data, b"persisted v1");
        assert_eq!(p_after, p_before, "stat survives unchanged");
        assert_eq!(p_after.czxid, p_stat.czxid);
        let mut kids = c2.list_children("/p").await.unwrap();
        kids.sort();
        assert_eq!(kids, vec!["s-0000000000", "s-0000000001"]);
        assert_eq!(c2.get_data("/acl").await.unwrap_err(), zk::Error::NoAuth);
        let (_, e_after) = c2.get_data("/e").await.unwrap();
        assert_eq!(e_after, e_stat);
        assert_eq!(e_after.ephemeral_owner, keeper_id.0);

        // zxids continue from where they were.
        let (fresh, _) = c2.create("/fresh", b"", &persistent()).await.unwrap();
        assert!(
            fresh.czxid > last.czxid,
            "{} <= {}",
            fresh.czxid,
            last.czxid
        );
        // The sequential counter lives in the parent's cversion, which survived.
        let (_, n) = c2.create("/p/s-", b"", &seq).await.unwrap();
        assert_eq!(n.into_i64(), 2);

        // The old session can be resumed and still owns its ephemeral.
        let resumed = resume(&s, keeper).await.expect("resume after restart");
        assert_eq!(resumed.session_id(), keeper_id);
        assert_eq!(resumed.list_ephemerals("/").await.unwrap(), vec!["/e"]);
        resumed.delete("/e", None).await.unwrap();

        // The session nobody came back for expires, its timer restarted at recovery.
        eventually(
            Duration::from_secs(6),
            "unresumed session expires",
            || async { c2.check_stat("/other").await.unwrap().is_none() },
        )
        .await;
    })
    .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_twice_and_after_many_writes() {
    let mut s = TestServer::start_with(|c| c.snap_count = 50).await;
    within(60, async {
        let c = s.client().await;
        c.create("/n", b"", &persistent()).await.unwrap();
        for i in 0..200 {
            c.set_data("/n", format!("{i}").as_bytes(), None)
                .await
                .unwrap();
        }
        drop(c);
        s.restart().await;
        let c = s.client().await;
        let (data, stat) = c.get_data("/n").await.unwrap();
        assert_eq!(data, b"199");
        assert_eq!(stat.version, 200);
        c.set_data("/n", b"after", None).await.unwrap();
        drop(c);
        s.restart().await;
        let c = s.client().await;
        let (data, stat) = c.get_data("/n").await.unwrap();
        assert_eq!(data, b"after");
        assert_eq!(stat.version, 201);
    })
    .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_watches_survive_a_restart_through_set_watches() {
    let mut s = TestServer::start().await;
    within(60, async {
        let c = s.client().await;
        c.create("/w", b"", &persistent()).await.unwrap();
        let (_, _, data_w) = c.get_and_watch_data("/w").await.unwrap();
        let (_, missing_w) = c.check_and_watch_stat("/later").await.unwrap();
        let mut states = c.state_watcher();

        s.restart().await;
        // The client notices, reconnects to the same address, resumes its session and re-sends
        // its watches with setWatches. (Persistent watches are not tested here: zookeeper-client
        // 0.11.2 never sends setWatches2 — `index.max(index)` in resend_watches — so it drops
        // them on reconnect; tests/watches.rs covers setWatches2 on the wire.)
        loop {
            let st = tokio::time::timeout(Duration::from_secs(10), states.changed())
                .await
                .expect("client reconnects");
            assert!(!st.is_terminated(), "session lost over the restart: {st:?}");
            if st == zk::SessionState::SyncConnected {
                break;
            }
        }

        let other = s.client().await;
        let st = other.set_data("/w", b"after", None).await.unwrap();
        let e = common::event_within(5, data_w).await;
        assert_eq!(
            (e.event_type, e.path.as_str(), e.zxid),
            (zk::EventType::NodeDataChanged, "/w", st.mzxid)
        );
        let (created, _) = other.create("/later", b"", &persistent()).await.unwrap();
        let e = common::event_within(5, missing_w).await;
        assert_eq!(
            (e.event_type, e.path.as_str(), e.zxid),
            (zk::EventType::NodeCreated, "/later", created.czxid)
        );
    })
    .await;
    s.stop().await;
}

/// Connects with an existing session (fails fast instead of retrying forever).
async fn resume(s: &TestServer, info: zk::SessionInfo) -> Result<zk::Client, zk::Error> {
    connector()
        .with_session(info)
        .with_fail_eagerly()
        .connect(&s.connect_string())
        .await
}
