//! Dynamic reconfig (`reconfigEnabled=true`): observers and voters join and leave through
//! Raft, `/zookeeper/config` follows on every member, and ZooKeeper's errors come in its order.

use std::time::{Duration, Instant};

use watchkeeper_bench::conn::{ConnectOptions, Connection, Incoming, Reply};
use watchkeeper_proto::requests::{AuthPacket, GetDataRequest, ReconfigRequest};
use watchkeeper_proto::responses::GetDataResponse;
use watchkeeper_proto::{ErrorCode, JuteReader, Record, Request};

use crate::cluster::Cluster;
use crate::runtime;

/// ZooKeeper's super digest for `super:test`, as kazoo's reconfig tests use it.
const SUPER: &str =
    "zookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

async fn call(conn: &mut Connection, xid: Option<i32>, req: &Request) -> Reply {
    match xid {
        Some(x) => conn.send_with_xid(x, req, 0),
        None => conn.send(req, 0),
    }
    .expect("queue");
    conn.flush().await.expect("send");
    loop {
        if let Incoming::Reply(r) = conn.recv().await.expect("a reply") {
            return r;
        }
    }
}

async fn session(c: &Cluster, i: usize, as_super: bool) -> Connection {
    let mut conn = Connection::connect(c.members[i].addr(), &ConnectOptions::default())
        .await
        .expect("a session");
    if as_super {
        let auth = Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: b"super:test".to_vec(),
        });
        assert!(call(&mut conn, Some(-4), &auth).await.is_ok(), "super auth");
    }
    conn
}

fn reconfig(joining: &str, leaving: &str, from: i64) -> Request {
    Request::Reconfig(ReconfigRequest {
        joining_servers: joining.into(),
        leaving_servers: leaving.into(),
        new_members: String::new(),
        cur_config_id: from,
    })
}

fn expect_ok(c: &Cluster, r: &Reply, what: &str) {
    assert!(r.is_ok(), "{what}: error {}\n{}", r.err, c.logs_tail());
}

/// A reconfig's (or getData's) data as text.
fn text_of(r: &Reply) -> String {
    let resp = GetDataResponse::decode(&mut JuteReader::new(&r.body)).expect("GetDataResponse");
    String::from_utf8(resp.data.unwrap_or_default()).expect("utf-8")
}

fn version_of(config: &str) -> i64 {
    let hex = config
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("version="))
        .expect("a version line");
    i64::from_str_radix(hex, 16).expect("hex version")
}

/// `/zookeeper/config` as member `i` has it.
async fn config_on(c: &Cluster, i: usize) -> String {
    let mut conn = session(c, i, false).await;
    let get = Request::GetData(GetDataRequest {
        path: "/zookeeper/config".into(),
        watch: false,
    });
    let r = call(&mut conn, None, &get).await;
    assert!(r.is_ok());
    text_of(&r)
}

/// Waits until every running member's `/zookeeper/config` is `expected`.
async fn wait_config_everywhere(c: &Cluster, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0..c.members.len() {
        if !c.members[i].is_running() {
            continue;
        }
        loop {
            let seen = config_on(c, i).await;
            if seen == expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "member {} has config\n{seen}\nnot\n{expected}",
                i + 1
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[test]
fn reconfig_adds_and_removes_observers_and_voters_with_zookeepers_errors() {
    let mut c = Cluster::start(3, &["reconfigEnabled=true", SUPER]);
    let leader = c.wait_for_leader();
    let follower = (leader + 1) % 3;
    let rt = runtime();
    // Writes go on throughout; every acknowledged one must survive every change.
    let writers = rt.block_on(crate::load::Writers::start(&c.connect_string(), "/rw", 3));
    rt.block_on(async {
        // The initial configuration is there, on every member.
        let initial = config_on(&c, follower).await;
        for m in &c.members[..3] {
            assert!(initial.contains(&m.server_line(false)), "{initial}");
        }
        let version = version_of(&initial);

        let mut plain = session(&c, follower, false).await;
        let mut admin = session(&c, follower, true).await;
        // An observer whose ports nobody listens on can still be added.
        let joining = "server.100=0.0.0.0:21001:21002:observer;0.0.0.0:21003";
        let r = call(&mut plain, None, &reconfig(joining, "", -1)).await;
        assert_eq!(r.err, ErrorCode::NoAuth.as_i32(), "without super");
        let r = call(&mut admin, None, &reconfig(joining, "", version + 1)).await;
        assert_eq!(r.err, ErrorCode::BadVersion.as_i32(), "a wrong fromConfig");
        let r = call(&mut admin, None, &reconfig("some thing", "", -1)).await;
        assert_eq!(r.err, ErrorCode::BadArguments.as_i32());
        let r = call(&mut admin, None, &reconfig("", "1,2", -1)).await;
        assert_eq!(r.err, ErrorCode::BadArguments.as_i32(), "one voter left");

        let r = call(&mut admin, None, &reconfig(joining, "", version)).await;
        expect_ok(&c, &r, "add an observer");
        let added = text_of(&r);
        assert!(added.contains(joining), "{added}");
        assert!(version_of(&added) > version);
        wait_config_everywhere(&c, &added).await;

        let r = call(&mut admin, None, &reconfig("", "100", -1)).await;
        expect_ok(&c, &r, "remove the observer");
        let removed = text_of(&r);
        assert!(!removed.contains("server.100="), "{removed}");
        wait_config_everywhere(&c, &removed).await;
    });

    // A new process joins as an observer, catches up, and is then made a voter.
    let newcomer = c.add_observer_process();
    rt.block_on(async {
        let mut admin = session(&c, leader, true).await;
        let line = c.members[newcomer].server_line(true);
        let r = call(&mut admin, None, &reconfig(&line, "", -1)).await;
        expect_ok(&c, &r, "add the new observer");
        let line = c.members[newcomer].server_line(false);
        let r = call(&mut admin, None, &reconfig(&line, "", -1)).await;
        expect_ok(&c, &r, "promote it to a voter");
        assert!(text_of(&r).contains(&line));
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(c.mode(newcomer).as_deref(), Some("follower" | "leader")) {
        assert!(
            Instant::now() < deadline,
            "the new voter does not follow\n{}",
            c.logs_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Removing the leader: it hands over first, and the others go on.
    let leader = c.wait_for_leader();
    let id = c.members[leader].id;
    rt.block_on(async {
        let other = (0..c.members.len())
            .find(|&i| i != leader)
            .expect("another member");
        let mut admin = session(&c, other, true).await;
        let r = call(&mut admin, None, &reconfig("", &id.to_string(), -1)).await;
        expect_ok(&c, &r, "remove the leader");
        let after = text_of(&r);
        assert!(!after.contains(&format!("server.{id}=")), "{after}");
    });
    c.kill(leader);
    let next = c.wait_for_leader();
    assert_ne!(next, leader);
    rt.block_on(async {
        let mut conn = session(&c, next, false).await;
        let create = watchkeeper_bench::pipeline::create_req(
            "/after-reconfig",
            b"",
            watchkeeper_proto::CreateMode::Persistent,
        );
        assert!(
            call(&mut conn, None, &create).await.is_ok(),
            "the ensemble writes on"
        );
        let ledger = writers.stop().await;
        crate::verify_everywhere(&c, &ledger).await;
    });
}
