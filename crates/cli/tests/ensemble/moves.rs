//! Sessions and watches moving between members: a session resumed elsewhere keeps its
//! ephemerals and leaves its old connection behind; a persistent watch's events survive the
//! loss of the member that held it, each exactly once and in order.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use watchkeeper_client as wk;
use zookeeper_client as zk;

use crate::cluster::{Cluster, four_letter};
use crate::load::{SESSION_TIMEOUT, connect, persistent};
use crate::runtime;

#[test]
fn a_session_resumed_on_another_member_keeps_its_ephemerals() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_for_leader();
    // The session starts on a follower, which then stops answering (as a lost machine does).
    let old = (leader + 1) % 3;
    let new = (leader + 2) % 3;
    let rt = runtime();
    let session = rt.block_on(async {
        let first = connect(&c.members[old].addr().to_string()).await;
        first
            .create(
                "/owned",
                b"e",
                &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all()),
            )
            .await
            .expect("an ephemeral through the first member");
        let session = first.session().clone();
        std::mem::forget(first);
        session
    });
    c.pause(old);
    let moved = rt.block_on(async {
        let moved = zk::Client::connector()
            .with_session_timeout(SESSION_TIMEOUT)
            .with_session(session.clone())
            .connect(&c.members[new].addr().to_string())
            .await
            .expect("the session resumes on another member");
        assert_eq!(moved.session_id(), session.id());
        moved
            .set_data("/owned", b"moved", None)
            .await
            .expect("a write of the moved session");
        let (data, stat) = moved.get_data("/owned").await.expect("read");
        assert_eq!(data, b"moved");
        assert_eq!(stat.ephemeral_owner, session.id().0);
        moved
    });
    // The old member never gets the client back.
    c.kill(old);
    rt.block_on(async {
        let other = connect(&c.members[leader].addr().to_string()).await;
        other.sync("/").await.expect("sync");
        let (data, _) = other
            .get_data("/owned")
            .await
            .expect("the ephemeral lives on");
        assert_eq!(data, b"moved");
        // Closing the session where it lives now ends it, ephemeral and all.
        drop(moved);
        let deadline = Instant::now() + Duration::from_secs(30);
        while other.check_stat("/owned").await.expect("stat").is_some() {
            assert!(
                Instant::now() < deadline,
                "the moved session's close did not apply"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

/// The index of the member holding session `id`'s connection, from `cons`.
fn member_holding(c: &Cluster, id: i64) -> Option<usize> {
    let needle = format!("sid=0x{id:x}");
    (0..c.members.len()).find(|&i| {
        c.members[i].is_running()
            && four_letter(c.members[i].addr(), "cons").is_some_and(|t| t.contains(&needle))
    })
}

#[test]
fn persistent_watch_events_survive_the_loss_of_the_member_holding_them() {
    let mut c = Cluster::start(3, &[]);
    c.wait_for_leader();
    const NODES: usize = 150;
    let rt = runtime();
    rt.block_on(async {
        let writer = connect(&c.members[2].addr().to_string()).await;
        writer
            .create("/w", b"", &persistent())
            .await
            .expect("parent");
        let hosts = format!("{},{}", c.members[0].addr(), c.members[1].addr());
        let watcher = wk::Client::builder(&hosts)
            .session_timeout(SESSION_TIMEOUT)
            .connect()
            .await
            .expect("watcher connects");
        let mut watch = watcher
            .add_watch("/w", wk::AddWatchMode::PersistentRecursive)
            .await
            .expect("a persistent recursive watch");
        let holder = member_holding(&c, watcher.session_id()).expect("a member holds the watcher");
        let mut seen = Vec::new();
        for i in 0..NODES {
            // The member killed may be the leader: a write in flight then ends with
            // ConnectionLoss (it may or may not have happened) and is retried.
            let path = format!("/w/n{i:03}");
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                match writer.create(&path, b"", &persistent()).await {
                    Ok(_) | Err(zk::Error::NodeExists) => break,
                    Err(e) if Instant::now() < deadline => {
                        eprintln!("create {path}: {e}; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("create {path} through member 3: {e}\n{}", c.logs_tail()),
                }
            }
            if i == NODES / 3 {
                eprintln!("killing member {}, which holds the watcher", holder + 1);
                c.kill(holder);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.len() < NODES {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, watch.next_event()).await {
                Ok(Some(ev)) if ev.event_type == wk::EventType::NodeCreated => seen.push(ev),
                Ok(Some(_)) => {}
                Ok(None) => panic!("the watch ended after {} events", seen.len()),
                Err(_) => panic!(
                    "only {} of {NODES} creations were heard within 60 s\n{}",
                    seen.len(),
                    c.logs_tail()
                ),
            }
        }
        let paths: Vec<&str> = seen.iter().map(|e| e.path.as_str()).collect();
        let unique: HashSet<&str> = paths.iter().copied().collect();
        assert_eq!(
            unique.len(),
            NODES,
            "every creation heard exactly once: {paths:?}"
        );
        let expected: Vec<String> = (0..NODES).map(|i| format!("/w/n{i:03}")).collect();
        assert_eq!(paths, expected, "in the order they happened");
        let zxids: Vec<i64> = seen.iter().map(|e| e.zxid).filter(|z| *z >= 0).collect();
        assert!(
            zxids.windows(2).all(|w| w[0] < w[1]),
            "zxids increase: {zxids:?}"
        );
        assert!(member_holding(&c, watcher.session_id()).is_some_and(|m| m != holder));
    });
}

/// Queues sequential creates of `/moves/w-` whose data is `letter` and the index (the tag).
fn queue_creates(
    conn: &mut watchkeeper_bench::conn::Connection,
    letter: char,
    range: std::ops::Range<usize>,
) {
    for i in range {
        let req = watchkeeper_bench::pipeline::create_req(
            "/moves/w-",
            format!("{letter}{i}").as_bytes(),
            watchkeeper_proto::CreateMode::PersistentSequential,
        );
        conn.send(&req, i as u64).expect("queue");
    }
}

/// Session move with writes in flight (scenario 8): a client pipelines sequential creates
/// through follower A; A stops reading (SIGSTOP) with some of them still in its socket; the
/// client's connection drops and it resumes on follower B, where it creates more. When A runs
/// again it reads the late ones. The client's order must hold: A's writes that landed are a
/// prefix of what it sent, B's all land after them, and none of A's lands after B's (each
/// late one fails with SessionMoved, or A drops it with the stale connection).
#[test]
fn a_session_moved_with_writes_in_flight_keeps_its_order() {
    use watchkeeper_bench::conn::{ConnectOptions, Connection, Incoming, SessionCredentials};

    let seed = crate::seed();
    let c = Cluster::start(3, &[]);
    let leader = c.wait_for_leader();
    let a = (leader + 1) % 3;
    let b = (leader + 2) % 3;
    // How many go before the pause (landing, some of them answered) and after it (late).
    let early = 50 + (seed % 200) as usize;
    let late = 50 + (seed / 200 % 200) as usize;
    const THROUGH_B: usize = 100;
    eprintln!("{early} creates before A pauses, {late} sent to it paused, {THROUGH_B} through B");
    let rt = runtime();
    rt.block_on(async {
        let setup = connect(&c.members[leader].addr().to_string()).await;
        setup
            .create("/moves", b"", &persistent())
            .await
            .expect("parent");
        let opts = ConnectOptions {
            session_timeout: SESSION_TIMEOUT,
            ..ConnectOptions::default()
        };
        let mut first = Connection::connect(c.members[a].addr(), &opts)
            .await
            .expect("a session on A");
        queue_creates(&mut first, 'a', 0..early);
        first.flush().await.expect("send the early creates");
        // Some answers arrive, so some of A's writes are certainly in the log.
        let answered = loop {
            match first.recv().await.expect("replies from A") {
                Incoming::Reply(r) => {
                    assert!(r.is_ok(), "create {} through A: error {}", r.tag, r.err);
                    break r.tag as usize + 1;
                }
                Incoming::Event(_) => {}
            }
        };
        c.pause(a);
        queue_creates(&mut first, 'a', early..early + late);
        first
            .flush()
            .await
            .expect("the late creates sit in A's socket");
        let gone = first.detach();
        eprintln!("{answered} creates through A answered before the move");

        let resume = ConnectOptions {
            session_timeout: SESSION_TIMEOUT,
            resume: Some(SessionCredentials {
                id: gone.credentials.id,
                passwd: gone.credentials.passwd.clone(),
            }),
            last_zxid_seen: gone.last_zxid,
            ..ConnectOptions::default()
        };
        // B may not have applied the last zxid the client saw yet: it refuses until it has.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut second = loop {
            match Connection::connect(c.members[b].addr(), &resume).await {
                Ok(conn) => break conn,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("resume on B: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("the session does not resume on B: {e}\n{}", c.logs_tail()),
            }
        };
        assert_eq!(second.session_id(), gone.credentials.id);
        queue_creates(&mut second, 'b', 0..THROUGH_B);
        second.flush().await.expect("send through B");
        let mut acked = 0;
        while acked < THROUGH_B {
            if let Incoming::Reply(r) = second.recv().await.expect("replies from B") {
                assert!(r.is_ok(), "create b{} through B: error {}", r.tag, r.err);
                assert_eq!(r.tag as usize, acked, "B answers in order");
                acked += 1;
            }
        }
        c.resume(a);
        // A reads its late creates and either drops them or proposes them (SessionMoved); wait
        // until A has caught up, then read the log of creates from every member.
        let marker = connect(&c.members[a].addr().to_string()).await;
        marker.sync("/").await.expect("sync on A");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut views = Vec::new();
        for m in [leader, a, b] {
            let client = connect(&c.members[m].addr().to_string()).await;
            client.sync("/").await.expect("sync");
            let mut names = client.list_children("/moves").await.expect("children");
            names.sort();
            let mut datas = Vec::with_capacity(names.len());
            for n in &names {
                let (data, _) = client
                    .get_data(&format!("/moves/{n}"))
                    .await
                    .expect("read a create");
                datas.push(String::from_utf8(data).expect("utf-8"));
            }
            views.push(datas);
        }
        assert!(views.iter().all(|v| *v == views[0]), "members disagree");
        let order = &views[0];
        let from_a = order.iter().take_while(|d| d.starts_with('a')).count();
        let expected: Vec<String> = (0..from_a)
            .map(|i| format!("a{i}"))
            .chain((0..THROUGH_B).map(|j| format!("b{j}")))
            .collect();
        assert_eq!(
            order, &expected,
            "A's creates that landed are a prefix of what was sent, then all of B's"
        );
        assert!(from_a >= answered, "an answered create is missing");
        eprintln!(
            "{from_a} of A's {} creates landed ({} late ones did not)",
            early + late,
            early + late - from_a
        );
    });
}
